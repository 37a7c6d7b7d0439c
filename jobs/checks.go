package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/zeebo/xxh3"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// QuarantineDir is the folder of a version that holds its rejected rows.
const QuarantineDir = output.QuarantineDir

// checks is one run's data checks: the rules and their summary, the
// profiles of the snapshot and of the scores, and the quarantine files.
// apply runs in the reader goroutine and addScores in the writer's; the
// rest runs before or after the pipeline.
type checks struct {
	job      *spec.Job
	engine   *validate.Engine
	summary  *validate.Summary
	snapshot *profile.Builder
	scores   *profile.Builder
	baseline *profile.Profile
	warnings []string    // the baseline's, for the verdict
	previous *runProfile // the previous successful run's profiles, if any
	mem      memory.Allocator
	keysDir  string
	profiled []string

	quarantineDir string // "" in a dry run: rejected rows are counted, not written
	quarantine    *parquetio.Writer
	quarantined   []parquetio.WrittenFile
	rejected      int64
	scoreSchema   *arrow.Schema
}

// runProfile is what a run keeps for the next one to compare against: its
// scores' profile. The snapshot's profile stays out, since its extremes
// and categories may be people's data; drift compares with the baseline.
type runProfile struct {
	Scores *profile.Profile `json:"scores,omitempty"`
}

func (e *execution) openChecks(schema *arrow.Schema, where string, previous *runProfile) (*checks, error) {
	cp, err := e.planChecks(schema, where)
	if err != nil {
		return nil, err
	}
	c := &checks{job: e.req.Job, mem: e.mem(), previous: previous, engine: cp.engine,
		baseline: cp.baseline, warnings: cp.warnings, profiled: cp.profiled}
	c.keysDir = filepath.Join(e.table.Root, "_staging", e.m.Version+"-keys")
	if err := os.MkdirAll(c.keysDir, table.DirMode); err != nil {
		return nil, err
	}
	c.summary = cp.engine.NewSummary(c.keysDir)
	c.snapshot = profile.NewBuilder(schema, cp.profiled, c.baseline, e.driftSample())
	c.scoreSchema = arrow.NewSchema([]arrow.Field{{Name: "score", Type: arrow.PrimitiveTypes.Float64}}, nil)
	var prevScores *profile.Profile
	if previous != nil {
		prevScores = previous.Scores
	}
	c.scores = profile.NewBuilder(c.scoreSchema, []string{"score"}, prevScores, profile.WithFineCounts("score"))
	return c, nil
}

// checkPlan is what the checks read, known from the job, the baseline and
// the snapshot's schema before anything is opened or written.
type checkPlan struct {
	engine   *validate.Engine
	baseline *profile.Profile
	warnings []string // the baseline's
	profiled []string
}

// planChecks compiles the job's rules against the snapshot's schema and
// lists the columns profiled; a dry run needs no more (its fingerprint
// covers these columns, as the run's does).
func (e *execution) planChecks(schema *arrow.Schema, where string) (*checkPlan, error) {
	job := e.req.Job
	b, err := e.openBaseline()
	if err != nil {
		return nil, err
	}
	cp := &checkPlan{}
	var baseline validate.Baseline
	if b.profile != nil {
		cp.baseline, baseline = b.profile, b.profile
		cp.warnings = b.warnings
	}
	if err := checkBaselineTypes(job, cp.baseline, schema); err != nil {
		return nil, err
	}
	cp.profiled = profiledColumns(job, schema, cp.baseline)
	used := append(usedColumns(job), partitionColumns(e.m.Source.Files)...)
	if cp.engine, err = validate.New(job.Validation, schema, e.req.Date, baseline, e.mem(), validate.UsedColumns(used...)); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return cp, nil
}

func (cp *checkPlan) columns() []string { return append(cp.engine.Columns(), cp.profiled...) }

// sampleDrift starts the snapshot's profile again, before any row, on the
// row sample of opt: a Parquet snapshot's sample is seeded by its
// fingerprint, which needs the columns the checks read, so it is known
// only after openChecks.
func (c *checks) sampleDrift(schema *arrow.Schema, opt profile.Option) {
	c.snapshot = profile.NewBuilder(schema, c.profiled, c.baseline, opt)
}

// driftSample is the row sample that counts the snapshot's drift
// histograms: about profile.DriftSampleRows rows of a Parquet snapshot
// larger than that, seeded by its fingerprint, so that a rerun, a shard
// and a resumed run all count the same rows; every row of a smaller
// snapshot or of a query.
func (e *execution) driftSample() profile.Option {
	src := e.m.Source
	if src.Kind != "parquet" || src.Fingerprint == "" {
		return profile.WithRowSample(1, 0)
	}
	return profile.WithRowSample(profile.SampleRate(src.Rows), xxh3.HashString(src.Fingerprint))
}

// partitionColumns are the snapshot's key=value folders. The job's own
// source.parquet names them, so extra_columns: reject lets them be.
func partitionColumns(files []report.SourceFile) []string {
	var cols []string
	for _, f := range files {
		for name := range f.Partition {
			cols = append(cols, name)
		}
	}
	slices.Sort(cols)
	return dedupe(cols)
}

// usedColumns are the snapshot columns the job uses outside its rules:
// every model's inputs, the output keys (copied into each result row) and
// a query's shard key. validation.extra_columns: reject lets them be.
func usedColumns(job *spec.Job) []string {
	cols := append(slices.Clone(job.Output.Keys), modelColumns(job)...)
	if c := job.Challenger; c != nil {
		cols = append(cols, inputColumns(c.Model)...)
	}
	if a := job.Arms; a != nil {
		for _, m := range a.Models {
			cols = append(cols, inputColumns(m.Model)...)
		}
	}
	if f := job.Fallback; f != nil && f.Model != nil {
		cols = append(cols, inputColumns(*f.Model)...)
	}
	if q := job.Source.SQL; q != nil && q.ShardKey != "" {
		cols = append(cols, q.ShardKey)
	}
	return dedupe(cols)
}

func inputColumns(m spec.Model) []string {
	var cols []string
	for _, name := range m.InputNames() {
		cols = append(cols, m.Inputs[name]...)
	}
	return cols
}

// columns are the snapshot columns the checks read.
func (c *checks) columns() []string { return append(c.engine.Columns(), c.profiled...) }

// apply checks one chunk: rejected rows go to the quarantine files, the
// chunk is profiled, and the rows to score are returned (nil: none). It
// does not take ownership of rec.
func (c *checks) apply(rec arrow.Record, file string, offset int64) (arrow.Record, error) {
	checked, err := c.engine.Apply(rec, file, offset)
	if errors.Is(err, validate.ErrFailRule) {
		// The run stops on this chunk, which was read and checked: its
		// counts go into what the stopped run reports.
		c.rejected += checked.Stats.Rejected
		return nil, errors.Join(err, c.snapshot.AddAt(rec, file, offset), c.summary.Add(checked.Stats))
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if checked.Quarantine != nil {
			checked.Quarantine.Release()
		}
		if checked.Marks != nil {
			checked.Marks.Release()
		}
	}()
	err = errors.Join(c.snapshot.AddAt(rec, file, offset), c.summary.Add(checked.Stats))
	c.rejected += checked.Stats.Rejected
	if err == nil && checked.Quarantine != nil && c.quarantineDir != "" {
		err = c.writeQuarantine(checked.Quarantine)
	}
	if err != nil {
		if checked.Valid != nil {
			checked.Valid.Release()
		}
		return nil, err
	}
	if checked.Marks == nil {
		return checked.Valid, nil
	}
	return withColumn(checked.Valid, output.FlagsColumn, checked.Marks), nil
}

// applySpans is apply over a chunk whose rows may come from several files
// (source.Joiner): each file's rows are checked under its own name and
// row numbers, and the rows kept are joined again. locate, for a chunk of
// several files, names the file of each kept row and its row there
// (exact where no row before it in its file was dropped, as for one file).
func (c *checks) applySpans(rec arrow.Record, spans []source.Span) (kept arrow.Record, locate func(int64) (string, int64), err error) {
	if len(spans) == 1 {
		kept, err = c.apply(rec, spans[0].Where, spans[0].Offset)
		return kept, nil, err
	}
	parts := make([]arrow.Record, 0, len(spans))
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	var at int64
	var starts []int64 // the first kept row of each span, in the joined record
	var from []source.Span
	var n int64
	for _, s := range spans {
		part := rec.NewSlice(at, at+s.Rows)
		ok, err := c.apply(part, s.Where, s.Offset)
		part.Release()
		if err != nil {
			return nil, nil, err
		}
		at += s.Rows
		if ok == nil {
			continue
		}
		parts = append(parts, ok)
		starts, from = append(starts, n), append(from, s)
		n += ok.NumRows()
	}
	if len(parts) == 0 {
		return nil, nil, nil
	}
	if kept, err = joinRecords(parts, c.mem); err != nil {
		return nil, nil, err
	}
	locate = func(i int64) (string, int64) {
		j, _ := slices.BinarySearch(starts, i+1)
		j--
		return from[j].Where, from[j].Offset + i - starts[j]
	}
	return kept, locate, nil
}

// joinRecords is recs, which share a schema, as one record.
func joinRecords(recs []arrow.Record, mem memory.Allocator) (arrow.Record, error) {
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, recs[0].NumCols())
	defer func() {
		for _, a := range cols {
			if a != nil {
				a.Release()
			}
		}
	}()
	parts := make([]arrow.Array, len(recs))
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	for i := range cols {
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		var err error
		if cols[i], err = array.Concatenate(parts, mem); err != nil {
			return nil, fmt.Errorf("joining the checked rows of several files, column %q: %w", recs[0].Schema().Field(i).Name, err)
		}
	}
	return array.NewRecord(recs[0].Schema(), cols, rows), nil
}

// withColumn returns rec with one more column, releasing rec.
func withColumn(rec arrow.Record, name string, col arrow.Array) arrow.Record {
	defer rec.Release()
	fields := append(append([]arrow.Field(nil), rec.Schema().Fields()...), arrow.Field{Name: name, Type: col.DataType()})
	cols := append(append([]arrow.Array(nil), rec.Columns()...), col)
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

func (c *checks) writeQuarantine(rec arrow.Record) error {
	if c.quarantine == nil {
		if err := os.MkdirAll(c.quarantineDir, table.DirMode); err != nil {
			return err
		}
		w, err := parquetio.NewWriter(c.quarantineDir, rec.Schema(), c.job.Output.Compression, c.job.Output.FileRows, c.mem,
			parquetio.CompressionLevel(c.job.Output.CompressionLevel))
		if err != nil {
			return err
		}
		c.quarantine = w
	}
	if err := c.quarantine.Write(rec); err != nil {
		return fmt.Errorf("writing quarantined rows: %w", err)
	}
	return nil
}

// addScores profiles a chunk's scores.
func (c *checks) addScores(score *array.Float64) error {
	rec := array.NewRecord(c.scoreSchema, []arrow.Array{score}, int64(score.Len()))
	defer rec.Release()
	return c.scores.Add(rec)
}

// closeQuarantine finishes the quarantine files.
func (c *checks) closeQuarantine() error {
	if c.quarantine == nil {
		return nil
	}
	files, err := c.quarantine.Close()
	c.quarantine = nil
	c.quarantined = files
	if err != nil {
		return err
	}
	d, err := os.Open(c.quarantineDir) // the folder's entries must be durable too
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// quarantinedRows counts the rows in the quarantine files.
func (c *checks) quarantinedRows() int64 {
	var n int64
	for _, f := range c.quarantined {
		n += f.Rows
	}
	return n
}

// close frees what a failed run leaves: open files, spilled keys.
func (c *checks) close() {
	if c.quarantine != nil {
		c.quarantine.Abort()
	}
	c.summary.Close()
	os.RemoveAll(c.keysDir)
}
