package outcomes

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/sqlio"
	"github.com/batchscore/batchscore/jobs/spec"
)

// openLabels opens the labels of a score date: the glob (the --labels
// flag's, else outcomes.labels.parquet, templated with the date) or the
// query with :date bound. It returns the source and how the evaluation
// names it (never a DSN).
func openLabels(ctx context.Context, job *spec.Job, date time.Time, glob string) (source.Source, string, error) {
	o := job.Outcomes
	if glob == "" && o.Labels.SQL != nil {
		q := o.Labels.SQL
		cfg := sqlio.Config{Driver: q.Driver, DSNEnv: q.DSNEnv, DSNFile: q.DSNFile, Query: q.Query,
			Timeout: time.Duration(q.Timeout), Decimal: q.Decimal}
		src, err := sqlio.Open(ctx, cfg, map[string]any{"date": date.Format(spec.DateLayout)})
		if err != nil {
			return nil, "", fmt.Errorf("outcomes.labels.sql: %w", err)
		}
		return src, "sql (" + q.Driver + "): " + q.Query, nil
	}
	pattern := glob
	if pattern == "" {
		var err error
		if pattern, err = job.LabelsPattern(date); err != nil {
			return nil, "", fmt.Errorf("%w: outcomes.labels.parquet: %v", spec.ErrInvalid, err)
		}
	}
	src, err := parquetio.Open(pattern)
	if err != nil {
		return nil, "", fmt.Errorf("labels: %w", err)
	}
	return src, pattern, nil
}

// labelDecoder turns one label column's values into 0/1, refusing what is
// neither of the declared classes.
type labelDecoder struct {
	column, positive, negative string
	other                      string // the one non-positive string seen, without negative
	otherAt                    string
}

// decode writes 0/1 per row of col into out; where and offset name the
// file (or query) and the row of a bad value.
func (d *labelDecoder) decode(col arrow.Array, where string, offset int64, out []byte) error {
	bad := func(i int, why string) error {
		return fmt.Errorf("%w: labels %s row %d, column %q: %s", ErrData, where, offset+int64(i), d.column, why)
	}
	for i := range col.Len() {
		if col.IsNull(i) {
			return bad(i, "the label is null")
		}
	}
	if d.positive != "" {
		return d.decodeStrings(col, bad, where, offset, out)
	}
	switch a := col.(type) {
	case *array.Boolean:
		for i := range out {
			out[i] = 0
			if a.Value(i) {
				out[i] = 1
			}
		}
		return nil
	case *array.String, *array.LargeString, *array.Dictionary:
		return bad(0, fmt.Sprintf("a string label needs outcomes.positive (the value that means 1); this one is %q", valueString(col, 0)))
	}
	for i := range out {
		v, ok := numberAt(col, i)
		switch {
		case !ok:
			return bad(i, fmt.Sprintf("type %s is not 0/1, boolean or a string with positive:", col.DataType()))
		case v == 0:
			out[i] = 0
		case v == 1:
			out[i] = 1
		default:
			return bad(i, fmt.Sprintf("%s is not 0 or 1", col.ValueStr(i)))
		}
	}
	return nil
}

func (d *labelDecoder) decodeStrings(col arrow.Array, bad func(int, string) error, where string, offset int64, out []byte) error {
	switch col.(type) {
	case *array.String, *array.LargeString, *array.Dictionary:
	default:
		return bad(0, fmt.Sprintf("outcomes.positive is set but the column holds %s, not strings", col.DataType()))
	}
	for i := range out {
		v := valueString(col, i)
		switch {
		case v == d.positive:
			out[i] = 1
		case d.negative != "" && v == d.negative:
			out[i] = 0
		case d.negative != "":
			return bad(i, fmt.Sprintf("%q is neither positive %q nor negative %q", v, d.positive, d.negative))
		case d.other == "":
			d.other, d.otherAt = v, fmt.Sprintf("%s row %d", where, offset+int64(i))
			out[i] = 0
		case v == d.other:
			out[i] = 0
		default:
			return bad(i, fmt.Sprintf("%q is a third class (positive %q; %q at %s); set outcomes.negative to name the negative class", v, d.positive, d.other, d.otherAt))
		}
	}
	return nil
}

func numberAt(col arrow.Array, i int) (float64, bool) {
	switch a := col.(type) {
	case *array.Int64:
		return float64(a.Value(i)), true
	case *array.Int32:
		return float64(a.Value(i)), true
	case *array.Int16:
		return float64(a.Value(i)), true
	case *array.Int8:
		return float64(a.Value(i)), true
	case *array.Uint64:
		return float64(a.Value(i)), true
	case *array.Uint32:
		return float64(a.Value(i)), true
	case *array.Uint16:
		return float64(a.Value(i)), true
	case *array.Uint8:
		return float64(a.Value(i)), true
	case *array.Float64:
		return a.Value(i), true
	case *array.Float32:
		return float64(a.Value(i)), true
	}
	return math.NaN(), false
}

// segCol is a column whose values get metrics of their own.
type segCol struct {
	name      string
	labelSide bool
	snapshot  bool // a snapshot column: counts come from the join
	hidden    bool // read for the arms, not in outcomes.segments
	ids       map[string]uint32
	values    []string
	counted   []int64 // rows per value on the column's own side
}

// MaxSegmentValues caps the distinct values of one segment column.
const MaxSegmentValues = 1000

func (c *segCol) id(v string) (uint32, error) {
	if id, ok := c.ids[v]; ok {
		c.counted[id]++
		return id, nil
	}
	if len(c.values) >= MaxSegmentValues {
		return 0, fmt.Errorf("%w: outcomes.segments: column %q has more than %d values; segment by a column with fewer", spec.ErrInvalid, c.name, MaxSegmentValues)
	}
	id := uint32(len(c.values))
	c.ids[v] = id
	c.values = append(c.values, v)
	c.counted = append(c.counted, 1)
	return id, nil
}

// reader streams one source into one side of the join.
type reader struct {
	keys      []string
	segs      []*segCol
	chunkRows int
	mem       memory.Allocator
}

// readSide reads src's chunks; each makes records through fill, which
// writes row i's fixed part after the hash and returns false to skip it.
func (r *reader) readSide(ctx context.Context, src source.Source, cols []string, s *side, what string,
	fill func(rec arrow.Record, where string, offset int64) (func(i int, dst []byte) bool, error)) error {
	return src.Read(ctx, cols, r.chunkRows, r.mem, func(rec arrow.Record, where string, offset int64) error {
		defer rec.Release()
		n := int(rec.NumRows())
		h := make([]uint64, n)
		null, err := hashKeys(rec, r.keys, h)
		if err != nil {
			return fmt.Errorf("%w: %s %s: %v", ErrData, what, where, err)
		}
		row, err := fill(rec, where, offset)
		if err != nil {
			return err
		}
		segCols := make([]arrow.Array, len(r.segs))
		for k, c := range r.segs {
			segCols[k] = rec.Column(rec.Schema().FieldIndices(c.name)[0])
		}
		buf := make([]byte, s.width)
		fixed := s.width - 4*len(r.segs)
		for i := range n {
			if null != nil && null[i] {
				return fmt.Errorf("%w: %s %s row %d: a key column is null", ErrData, what, where, offset+int64(i))
			}
			binary.LittleEndian.PutUint64(buf, h[i])
			if !row(i, buf) {
				continue
			}
			for k, c := range r.segs {
				id, err := c.id(valueString(segCols[k], i))
				if err != nil {
					return err
				}
				binary.LittleEndian.PutUint32(buf[fixed+4*k:], id)
			}
			if err := s.add(buf); err != nil {
				return err
			}
		}
		return nil
	})
}
