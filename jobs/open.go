package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// openSource opens the snapshot (Parquet files or a SQL query) and checks
// its schema against the job before any row is read. Parquet files are
// fingerprinted once the checks say which columns the run reads
// (fingerprintParquet); a query's fingerprint (its values' checksum) is
// known once it has been read.
func (e *execution) openSource(ctx context.Context, p *route.Plan) (snapshot, error) {
	job := e.req.Job
	var src snapshot
	if q := job.Source.SQL; q != nil {
		s, err := e.openSQL(ctx, q)
		if err != nil {
			return nil, err
		}
		src = s
	} else {
		p, err := e.openParquet(ctx)
		if err != nil {
			return nil, err
		}
		src = p
	}
	if err := e.checkSnapshot(src, p); err != nil {
		src.Close()
		return nil, err
	}
	return src, nil
}

func (e *execution) openParquet(ctx context.Context) (*parquetio.Source, error) {
	job := e.req.Job
	pattern, err := job.SourcePattern(e.req.Date)
	if err != nil {
		return nil, spec.ErrorAt("source.parquet", "%v", err)
	}
	e.m.Source = report.Source{Kind: "parquet", Pattern: pattern}
	opts := append(partitionOptions(job), parquetio.WithHashWorkers(e.workers(job)))
	src, err := parquetio.Open(pattern, opts...)
	if err != nil {
		return nil, err
	}
	e.m.Source.Files = sourceFiles(src.Files())
	e.m.Source.Rows = src.Rows()
	if err := src.CheckColumns(append(append([]string(nil), job.Output.Keys...), modelColumns(job)...)); err != nil {
		return nil, err
	}
	if src.Rows() == 0 {
		return nil, fmt.Errorf("%w: %d files match %s but hold no rows", ErrEmpty, len(src.Files()), pattern)
	}
	if s := e.req.Shard; s != nil {
		// The fingerprint covers the whole snapshot whatever the shard:
		// every shard has the same run id.
		parts, err := src.Shard(s.Index, s.Count)
		if err != nil {
			return nil, err
		}
		e.m.Shard.Parts = shardParts(parts)
		e.m.Shard.Rows = src.Rows()
		e.log.Info("shard selected", "row_groups", len(e.m.Shard.Parts), "rows", e.m.Shard.Rows)
	}
	return src, nil
}

// fingerprintParquet fingerprints the Parquet files by their footers and
// the chunks of cols, the columns the run reads (see
// parquetio.Source.Fingerprint); a SQL source is fingerprinted once read.
func (e *execution) fingerprintParquet(ctx context.Context, src snapshot, cols []string) error {
	ps, ok := src.(*parquetio.Source)
	if !ok {
		return nil
	}
	ps.FingerprintColumns(cols)
	var err error
	if e.m.Source.Fingerprint, err = ps.Fingerprint(ctx); err != nil {
		return err
	}
	e.m.Source.Files = sourceFiles(ps.Files())
	e.log.Info("snapshot opened", "files", len(ps.Files()), "rows", ps.Rows(), "fingerprint", e.m.Source.Fingerprint)
	return nil
}

// partitionOptions say how the snapshot's key=value folders become
// columns: the folders from the source's first {{ action on count (the
// date's folder is a column, a fixed folder above it is not), typed as
// validation.columns declares.
func partitionOptions(job *spec.Job) []parquetio.Option {
	var opts []parquetio.Option
	if root, _, ok := strings.Cut(job.Source.Parquet, "{{"); ok {
		opts = append(opts, parquetio.WithPartitionRoot(root))
	}
	types := map[string]arrow.DataType{}
	for name, c := range job.Validation.Columns {
		if t := partitionType(c.Type); t != nil {
			types[name] = t
		}
	}
	return append(opts, parquetio.WithPartitionTypes(types))
}

// partitionType is the Arrow type a declared column type reads a folder's
// value as; nil for none declared.
func partitionType(declared string) arrow.DataType {
	switch declared {
	case "int":
		return arrow.PrimitiveTypes.Int64
	case "float":
		return arrow.PrimitiveTypes.Float64
	case "bool":
		return arrow.FixedWidthTypes.Boolean
	case "string":
		return arrow.BinaryTypes.String
	case "date":
		return arrow.FixedWidthTypes.Date32
	case "timestamp":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return nil
}

// checkSnapshot holds the snapshot's columns to the job: keys present and
// flat, model inputs present with types their inputs take.
func (e *execution) checkSnapshot(src snapshot, p *route.Plan) error {
	job := e.req.Job
	schema := src.Schema()
	for _, c := range append(append([]string(nil), job.Output.Keys...), modelColumns(job)...) {
		if len(schema.FieldIndices(c)) == 0 {
			return fmt.Errorf("%w: %s: column %q is missing", parquetio.ErrSchema, src.Where(), c)
		}
	}
	if err := checkKeyTypes(schema, job.Output.Keys, src.Where()); err != nil {
		return err
	}
	if p != nil {
		return p.CheckSchema(schema, src.Where())
	}
	return nil
}

// modelColumns are the columns the job file feeds the model, known
// without loading it.
func modelColumns(job *spec.Job) []string {
	var cols []string
	for _, name := range job.Model.InputNames() {
		cols = append(cols, job.Model.Inputs[name]...)
	}
	return dedupe(cols)
}

// profiledColumns are profiled on every run: the model's inputs and the
// baseline's columns, where the snapshot has them.
func profiledColumns(job *spec.Job, schema *arrow.Schema, baseline *profile.Profile) []string {
	cols := modelColumns(job)
	if baseline != nil {
		for _, c := range baseline.Columns {
			cols = append(cols, c.Name)
		}
	}
	var out []string
	for _, c := range dedupe(cols) {
		if len(schema.FieldIndices(c)) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// checkKeyTypes refuses nested key columns: result rows copy keys as flat
// columns, and the reader projects leaf columns only.
func checkKeyTypes(schema *arrow.Schema, keys []string, file string) error {
	for _, k := range keys {
		idx := schema.FieldIndices(k)
		if len(idx) == 0 {
			continue // CheckColumns names it
		}
		if _, nested := schema.Field(idx[0]).Type.(arrow.NestedType); nested {
			return fmt.Errorf("%w: %s: key column %q is %s; keys must be flat columns (numbers, strings, dates)",
				parquetio.ErrSchema, file, k, schema.Field(idx[0]).Type)
		}
	}
	return nil
}

// runID identifies what a version was computed from: the same job file,
// date, snapshot and model always give the same run id, which is what makes
// rerun output byte-identical.
func runID(job *spec.Job, date, fingerprint, modelSHA string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s", job.Name, date, fingerprint, modelSHA, job.Hash)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// sourceFiles are fs in the manifest's own type.
func sourceFiles(fs []parquetio.File) []report.SourceFile {
	if fs == nil {
		return nil
	}
	out := make([]report.SourceFile, len(fs))
	for i, f := range fs {
		out[i] = report.SourceFile{Name: f.Name, Size: f.Size, Rows: f.Rows, SHA256: f.SHA256, Partition: f.Partition}
	}
	return out
}

// shardParts are ps in the manifest's own type.
func shardParts(ps []parquetio.ShardPart) []report.ShardPart {
	if ps == nil {
		return nil
	}
	out := make([]report.ShardPart, len(ps))
	for i, p := range ps {
		out[i] = report.ShardPart{File: p.File, RowGroups: p.RowGroups, Rows: p.Rows}
	}
	return out
}
