// Package output lays out the rows a run writes: the result table's
// records (keys, score, label, score_source, flags and the run's
// constants) and the side tables published inside a version's folder
// (the challenger's shadow scores, the review queue).
//
// A Builder or SideTable is used by one goroutine, the pipeline's writer;
// its Arrow buffers come from the allocator passed in and go back on
// Release (Close or Abort for a side table).
package output

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/scoring"
)

// Builder assembles result rows: the key columns as read (no copy),
// the score and label, and three columns that are constant for a run,
// built once and sliced per chunk.
type Builder struct {
	Schema    *arrow.Schema // the files'
	recSchema *arrow.Schema // the records': constants dictionary-encoded
	keys      []string
	label     arrow.DataType // nil: no label column
	hasSource bool
	hasFlags  bool
	mem       memory.Allocator
	constants []arrow.Array // score_date, run_id, model_version
	// With a canary or arms: the arm column's values and model_version's
	// (a canary's: the champion's, then the challenger's); each row picks
	// one by its arm's index.
	arms, versions arrow.Array
}

// ArmColumn names the arm whose model's score a row publishes, with a
// canary or arms.
const ArmColumn = "arm"

// FlagsColumn carries a row's marks from the checks to the result writer,
// which publishes them as the flags column.
const FlagsColumn = "_flags"

// NewBuilder prepares the result rows of a run: the key columns of src,
// the score, the label when label is not nil, score_source when source is
// set, flags when flags is set, arm when arms names the arms, then
// score_date, run_id and model_version (modelVersion, or with arms the
// version of the row's arm: versions[i] for arms[i]).
func NewBuilder(src *arrow.Schema, keys []string, label arrow.DataType, source, flags bool, date, runID, modelVersion string, arms, versions []string, chunkRows int, mem memory.Allocator) (*Builder, error) {
	if len(arms) != len(versions) {
		return nil, fmt.Errorf("%d arms with %d model versions", len(arms), len(versions))
	}
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
	if label != nil {
		fields = append(fields, arrow.Field{Name: "label", Type: label, Nullable: source}) // nulls only where a fallback scored
	}
	if source {
		fields = append(fields, arrow.Field{Name: "score_source", Type: arrow.BinaryTypes.String})
	}
	if flags {
		fields = append(fields, arrow.Field{Name: "flags", Type: arrow.BinaryTypes.String})
	}
	if arms != nil {
		fields = append(fields, arrow.Field{Name: ArmColumn, Type: arrow.BinaryTypes.String})
	}
	fields = append(fields,
		arrow.Field{Name: "score_date", Type: arrow.FixedWidthTypes.Date32},
		arrow.Field{Name: "run_id", Type: arrow.BinaryTypes.String},
		arrow.Field{Name: "model_version", Type: arrow.BinaryTypes.String},
	)
	constants, err := runConstants(date, runID, modelVersion, chunkRows, mem)
	if err != nil {
		return nil, err
	}
	schema := arrow.NewSchema(fields, nil)
	recSchema := recordSchema(schema, constants)
	var armValues, versionValues arrow.Array
	if arms != nil {
		armValues = stringValues(mem, arms...)
		versionValues = stringValues(mem, versions...)
		rf := recSchema.Fields()
		rf[len(rf)-4].Type = dictType
		recSchema = arrow.NewSchema(rf, nil)
	}
	return &Builder{
		Schema:    schema,
		recSchema: recSchema,
		arms:      armValues,
		versions:  versionValues,
		keys:      keys,
		label:     label,
		hasSource: source,
		hasFlags:  flags,
		mem:       mem,
		constants: constants,
	}, nil
}

var dictType = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}

func stringValues(mem memory.Allocator, vs ...string) arrow.Array {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	b.AppendValues(vs, nil)
	return b.NewArray()
}

// Build returns a new record; the caller releases it and s. arms gives
// each row's arm, an index into NewBuilder's arms (nil: the first).
func (o *Builder) Build(s scoring.Scored, arms []int32) (arrow.Record, error) {
	n := s.Record.NumRows()
	cols := make([]arrow.Array, 0, len(o.Schema.Fields()))
	for _, k := range o.keys {
		idx := s.Record.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: key column %q is missing", s.File, k)
		}
		cols = append(cols, s.Record.Column(idx[0]))
	}
	cols = append(cols, s.Score)
	var slices []arrow.Array // made here: released once the record holds them
	defer func() {
		for _, sl := range slices {
			sl.Release()
		}
	}()
	if o.label != nil {
		label := s.Label
		if label == nil { // the model failed on this chunk: a fallback scored it
			label = array.MakeArrayOfNull(o.mem, o.label, int(n))
			slices = append(slices, label)
		}
		cols = append(cols, label)
	}
	if o.hasSource {
		if s.Source == nil {
			return nil, fmt.Errorf("%s: rows from %d say nothing of what scored them", s.File, s.Offset)
		}
		cols = append(cols, s.Source)
	}
	if o.hasFlags {
		idx := s.Record.Schema().FieldIndices(FlagsColumn)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: the checks' marks are missing", s.File)
		}
		cols = append(cols, s.Record.Column(idx[0]))
	}
	var idx *array.Int32
	if o.arms != nil {
		ib := array.NewInt32Builder(o.mem)
		ib.Reserve(int(n))
		for i := range int(n) {
			if arms != nil {
				ib.UnsafeAppend(arms[i])
			} else {
				ib.UnsafeAppend(0)
			}
		}
		idx = ib.NewInt32Array()
		ib.Release()
		slices = append(slices, idx)
		arm := array.NewDictionaryArray(dictType, idx, o.arms)
		slices = append(slices, arm)
		cols = append(cols, arm)
	}
	for i, c := range o.constants {
		if i == len(o.constants)-1 && o.versions != nil {
			v := array.NewDictionaryArray(dictType, idx, o.versions)
			slices = append(slices, v)
			cols = append(cols, v)
			continue
		}
		sl := array.NewSlice(c, 0, n)
		slices = append(slices, sl)
		cols = append(cols, sl)
	}
	return array.NewRecord(o.recSchema, cols, n), nil
}

// Release frees the constant columns.
func (o *Builder) Release() {
	for _, c := range o.constants {
		c.Release()
	}
	if o.arms != nil {
		o.arms.Release()
		o.versions.Release()
	}
}
