package output

import (
	"fmt"
	"os"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Folders of a version that hold tables besides the scores: the rejected
// rows, the challenger's shadow scores, the review queue. The leading
// underscore keeps them out of Spark's, Hive's and pyarrow's reads of the
// version.
const (
	QuarantineDir = "_quarantine"
	ShadowDir     = "_shadow"
	ReviewDir     = "_review"
	// ExplanationsDir holds the rows' explanations (explain: in the job).
	ExplanationsDir = "_explanations"
)

// SideTable is a table published inside a version's folder, next to the
// scores: the challenger's shadow scores, the review queue. Its files are
// staged with the scores and published with them.
type SideTable struct {
	Dir         string
	schema      *arrow.Schema
	compression string
	level       int
	fileRows    int64
	mem         memory.Allocator
	w           *parquetio.Writer
	constants   []arrow.Array // score_date, run_id, model_version
	recSchema   *arrow.Schema // the records': constants dictionary-encoded
}

// NewSideTable's schema is the key columns, then cols, then score_date,
// run_id and model_version.
func NewSideTable(dir string, src *arrow.Schema, job *spec.Job, cols []arrow.Field, date, runID, modelVersion string, mem memory.Allocator) (*SideTable, error) {
	var fields []arrow.Field
	for _, k := range job.Output.Keys {
		idx := src.FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("key column %q is not in the snapshot", k)
		}
		f := src.Field(idx[0])
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable})
	}
	fields = append(fields, cols...)
	fields = append(fields,
		arrow.Field{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
		arrow.Field{Name: "run_id", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "model_version", Type: arrow.BinaryTypes.String},
	)
	constants, err := runConstants(date, runID, modelVersion, job.Scoring.ChunkRows, mem)
	if err != nil {
		return nil, err
	}
	schema := arrow.NewSchema(fields, nil)
	return &SideTable{
		Dir: dir, schema: schema, compression: job.Output.Compression, level: job.Output.CompressionLevel,
		fileRows: job.Output.FileRows, mem: mem, constants: constants, recSchema: recordSchema(schema, constants),
	}, nil
}

// runConstants are score_date, run_id and model_version for chunkRows
// rows, built once and sliced per chunk. The strings are
// dictionary-encoded: the writer puts their indices in as they are.
func runConstants(date, runID, modelVersion string, chunkRows int, mem memory.Allocator) ([]arrow.Array, error) {
	d, err := time.Parse(spec.DateLayout, date)
	if err != nil {
		return nil, err
	}
	dates := array.NewDate32Builder(mem)
	defer dates.Release()
	for range chunkRows {
		dates.Append(arrow.Date32FromTime(d))
	}
	return []arrow.Array{dates.NewArray(), constantString(runID, chunkRows, mem), constantString(modelVersion, chunkRows, mem)}, nil
}

// constantString is n rows of s as a one-entry dictionary.
func constantString(s string, n int, mem memory.Allocator) arrow.Array {
	values := array.NewStringBuilder(mem)
	defer values.Release()
	values.Append(s)
	dict := values.NewArray()
	defer dict.Release()
	indices := array.NewInt32Builder(mem)
	defer indices.Release()
	indices.AppendValues(make([]int32, n), nil)
	idx := indices.NewArray()
	defer idx.Release()
	typ := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	return array.NewDictionaryArray(typ, idx, dict)
}

// recordSchema is a file schema whose last columns are typed as the
// constants: the shape of the records written to it.
func recordSchema(file *arrow.Schema, constants []arrow.Array) *arrow.Schema {
	fields := file.Fields()
	for i, c := range constants {
		fields[len(fields)-len(constants)+i].Type = c.DataType()
	}
	return arrow.NewSchema(fields, nil)
}

// Schema is the table's file schema.
func (t *SideTable) Schema() *arrow.Schema { return t.schema }

// Write appends rows: keys taken from rec, then cols (n rows each).
func (t *SideTable) Write(rec arrow.Record, cols []arrow.Array) error {
	n := int64(cols[0].Len())
	var all []arrow.Array
	for _, f := range t.schema.Fields()[:len(t.schema.Fields())-len(cols)-3] {
		idx := rec.Schema().FieldIndices(f.Name)
		if len(idx) == 0 {
			return fmt.Errorf("key column %q is missing", f.Name)
		}
		all = append(all, rec.Column(idx[0]))
	}
	all = append(all, cols...)
	for _, c := range t.constants {
		sl := array.NewSlice(c, 0, n)
		defer sl.Release()
		all = append(all, sl)
	}
	out := array.NewRecord(t.recSchema, all, n)
	defer out.Release()
	if t.w == nil {
		if err := os.MkdirAll(t.Dir, table.DirMode); err != nil {
			return err
		}
		w, err := parquetio.NewWriter(t.Dir, t.schema, t.compression, t.fileRows, t.mem, parquetio.CompressionLevel(t.level))
		if err != nil {
			return err
		}
		t.w = w
	}
	return t.w.Write(out)
}

// Close finishes the files; a table nothing was written to has none.
func (t *SideTable) Close() ([]parquetio.WrittenFile, error) {
	t.release()
	if t.w == nil {
		return nil, nil
	}
	w := t.w
	t.w = nil
	return w.Close()
}

// Abort removes what was written.
func (t *SideTable) Abort() {
	t.release()
	if t.w != nil {
		t.w.Abort()
		t.w = nil
	}
}

func (t *SideTable) release() {
	for _, c := range t.constants {
		c.Release()
	}
	t.constants = nil
}
