package jobs

import (
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

// outputBuilder assembles result rows: the key columns as read (no copy),
// the score and label, and three columns that are constant for a run,
// built once and sliced per chunk.
type outputBuilder struct {
	schema    *arrow.Schema
	keys      []string
	hasLabel  bool
	hasFlags  bool
	constants []arrow.Array // score_date, run_id, model_version
}

func newOutputBuilder(src *arrow.Schema, keys []string, b *scoring.Binding, flags bool, date, runID, modelVersion string, chunkRows int, mem memory.Allocator) (*outputBuilder, error) {
	var fields []arrow.Field
	for _, k := range keys {
		idx := src.FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("key column %q is not in the snapshot", k)
		}
		f := src.Field(idx[0])
		fields = append(fields, arrow.Field{Name: f.Name, Type: f.Type, Nullable: f.Nullable})
	}
	fields = append(fields, arrow.Field{Name: "score", Type: arrow.PrimitiveTypes.Float64})
	if b.Label != nil {
		fields = append(fields, arrow.Field{Name: "label", Type: b.LabelType()})
	}
	if flags {
		fields = append(fields, arrow.Field{Name: "flags", Type: arrow.BinaryTypes.String})
	}
	fields = append(fields,
		arrow.Field{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
		arrow.Field{Name: "run_id", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "model_version", Type: arrow.BinaryTypes.String},
	)
	d, err := time.Parse(spec.DateLayout, date)
	if err != nil {
		return nil, err
	}
	dates := array.NewDate32Builder(mem)
	defer dates.Release()
	runs := array.NewStringBuilder(mem)
	defer runs.Release()
	versions := array.NewStringBuilder(mem)
	defer versions.Release()
	for range chunkRows {
		dates.Append(arrow.Date32FromTime(d))
		runs.Append(runID)
		versions.Append(modelVersion)
	}
	return &outputBuilder{
		schema:    arrow.NewSchema(fields, nil),
		keys:      keys,
		hasLabel:  b.Label != nil,
		hasFlags:  flags,
		constants: []arrow.Array{dates.NewArray(), runs.NewArray(), versions.NewArray()},
	}, nil
}

// build returns a new record; the caller releases it and s.
func (o *outputBuilder) build(s scoring.Scored) (arrow.Record, error) {
	n := s.Record.NumRows()
	cols := make([]arrow.Array, 0, len(o.schema.Fields()))
	for _, k := range o.keys {
		idx := s.Record.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: key column %q is missing", s.File, k)
		}
		cols = append(cols, s.Record.Column(idx[0]))
	}
	cols = append(cols, s.Score)
	if o.hasLabel {
		cols = append(cols, s.Label)
	}
	if o.hasFlags {
		idx := s.Record.Schema().FieldIndices(flagsColumn)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: the checks' marks are missing", s.File)
		}
		cols = append(cols, s.Record.Column(idx[0]))
	}
	var slices []arrow.Array
	for _, c := range o.constants {
		sl := array.NewSlice(c, 0, n)
		slices = append(slices, sl)
		cols = append(cols, sl)
	}
	rec := array.NewRecord(o.schema, cols, n)
	for _, sl := range slices {
		sl.Release()
	}
	return rec, nil
}

// Release frees the constant columns.
func (o *outputBuilder) Release() {
	for _, c := range o.constants {
		c.Release()
	}
}
