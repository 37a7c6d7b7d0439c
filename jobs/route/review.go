package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/jobs/validate/profile"
	"github.com/batchscore/batchscore/scoring"
)

// Reasons a row is sent to review.
const (
	reasonBand          = "band"
	reasonLowConfidence = "low_confidence"
	reasonOutOfRange    = "out_of_range:" // + the column
)

// reviewer routes uncertain rows to the review table. The rows are still
// scored and published; the table says which ones a person should see.
type reviewer struct {
	spec   *spec.Review
	keys   []string
	ranges []featureRange
	mem    memory.Allocator
	// Written in input order by the pipeline's writing stage only.
	table  *output.SideTable
	files  []parquetio.WrittenFile
	rows   int64
	counts map[string]int64
}

// featureRange is a column's range in the training data (the baseline).
type featureRange struct {
	column   string
	min, max float64
}

// trainingRanges are the model input columns' ranges in the baseline.
func trainingRanges(baseline *profile.Profile, columns []string) []featureRange {
	if baseline == nil {
		return nil
	}
	var out []featureRange
	for _, name := range columns {
		for _, c := range baseline.Columns {
			if c.Name == name && c.Min != nil && c.Max != nil {
				out = append(out, featureRange{column: name, min: *c.Min, max: *c.Max})
			}
		}
	}
	return out
}

// route writes a chunk's rows that need review, with their reasons.
func (r *reviewer) route(s scoring.Scored) error {
	n := int(s.Record.NumRows())
	reasons := make([][]string, n)
	score := s.Score.Float64Values()
	if b := r.spec.Band; b != nil {
		for i, v := range score {
			if v >= b[0] && v <= b[1] {
				reasons[i] = append(reasons[i], reasonBand)
			}
		}
	}
	if r.spec.MinConfidence > 0 && s.Confidence != nil {
		for i, v := range s.Confidence.Float64Values() {
			if v < r.spec.MinConfidence && (s.Source == nil || s.Source.Value(i) == sourceModel) {
				reasons[i] = append(reasons[i], reasonLowConfidence)
			}
		}
	}
	for _, fr := range r.ranges {
		idx := s.Record.Schema().FieldIndices(fr.column)
		if len(idx) == 0 {
			return fmt.Errorf("review: %s: column %q is missing", s.File, fr.column)
		}
		col := s.Record.Column(idx[0])
		for i := 0; i < n; i++ {
			if v, ok := numberAt(col, i); ok && (v < fr.min || v > fr.max) {
				reasons[i] = append(reasons[i], reasonOutOfRange+fr.column)
			}
		}
	}
	keep := array.NewBooleanBuilder(r.mem)
	defer keep.Release()
	text := array.NewStringBuilder(r.mem)
	defer text.Release()
	routed := 0
	for _, why := range reasons {
		keep.Append(len(why) > 0)
		text.Append(strings.Join(why, ","))
		if len(why) > 0 {
			routed++
			for _, w := range why {
				r.counts[w]++
			}
		}
	}
	if routed == 0 {
		return nil
	}
	r.rows += int64(routed)
	mask, reasonCol := keep.NewArray(), text.NewArray()
	defer mask.Release()
	defer reasonCol.Release()
	return r.writeRows(s, mask, reasonCol)
}

// writeRows writes the masked rows: keys, score, reasons.
func (r *reviewer) writeRows(s scoring.Scored, mask, reasons arrow.Array) error {
	ctx := compute.WithAllocator(context.Background(), r.mem)
	var fields []arrow.Field
	var cols []arrow.Array
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	keys, err := keyColumns(s.Record, r.keys)
	if err != nil {
		return err
	}
	for i, c := range append(keys, s.Score, reasons) {
		kept, err := validate.FilterArray(ctx, c, mask)
		if err != nil {
			return fmt.Errorf("review: %w", err)
		}
		cols = append(cols, kept)
		if i < len(keys) {
			fields = append(fields, arrow.Field{Name: r.keys[i], Type: c.DataType(), Nullable: true})
		}
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols[:len(keys)], int64(cols[0].Len()))
	defer rec.Release()
	if err := r.table.Write(rec, cols[len(keys):]); err != nil {
		return fmt.Errorf("writing the review table: %w", err)
	}
	return nil
}

// numberAt reads a numeric cell as float64; false for a null or a
// column that is not numeric.
func numberAt(col arrow.Array, i int) (float64, bool) {
	if col.IsNull(i) {
		return 0, false
	}
	switch c := col.(type) {
	case *array.Float64:
		return c.Value(i), true
	case *array.Float32:
		return float64(c.Value(i)), true
	case *array.Int64:
		return float64(c.Value(i)), true
	case *array.Int32:
		return float64(c.Value(i)), true
	case *array.Int16:
		return float64(c.Value(i)), true
	case *array.Int8:
		return float64(c.Value(i)), true
	case *array.Uint64:
		return float64(c.Value(i)), true
	case *array.Uint32:
		return float64(c.Value(i)), true
	case *array.Uint16:
		return float64(c.Value(i)), true
	case *array.Uint8:
		return float64(c.Value(i)), true
	}
	return 0, false
}

func (r *reviewer) summary() *report.Review {
	return &report.Review{Rows: r.rows, Reasons: r.counts, Files: output.Files(r.files)}
}
