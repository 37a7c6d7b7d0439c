package validate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/jobs/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var logical = time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func checkedMem(t testing.TB) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

var dictStrings = &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}

// build makes an array of type dt; nil is a null.
func build(t testing.TB, mem memory.Allocator, dt arrow.DataType, vals ...any) arrow.Array {
	t.Helper()
	b := array.NewBuilder(mem, dt)
	defer b.Release()
	for _, v := range vals {
		if v == nil {
			b.AppendNull()
			continue
		}
		switch b := b.(type) {
		case *array.Float64Builder:
			b.Append(v.(float64))
		case *array.Float32Builder:
			b.Append(v.(float32))
		case *array.Int64Builder:
			b.Append(int64(v.(int)))
		case *array.Int32Builder:
			b.Append(int32(v.(int)))
		case *array.Int8Builder:
			b.Append(int8(v.(int)))
		case *array.Uint8Builder:
			b.Append(uint8(v.(int)))
		case *array.Uint64Builder:
			b.Append(uint64(v.(int)))
		case *array.BooleanBuilder:
			b.Append(v.(bool))
		case *array.StringBuilder:
			b.Append(v.(string))
		case *array.LargeStringBuilder:
			b.Append(v.(string))
		case *array.BinaryDictionaryBuilder:
			if err := b.AppendString(v.(string)); err != nil {
				t.Fatal(err)
			}
		case *array.Date32Builder:
			d, err := time.Parse(time.DateOnly, v.(string))
			if err != nil {
				t.Fatal(err)
			}
			b.Append(arrow.Date32FromTime(d))
		case *array.Date64Builder:
			d, err := time.Parse(time.DateOnly, v.(string))
			if err != nil {
				t.Fatal(err)
			}
			b.Append(arrow.Date64FromTime(d))
		case *array.TimestampBuilder:
			ts, err := time.Parse(time.RFC3339, v.(string))
			if err != nil {
				t.Fatal(err)
			}
			tt, _ := arrow.TimestampFromTime(ts, dt.(*arrow.TimestampType).Unit)
			b.Append(tt)
		default:
			t.Fatalf("build: no case for %T", b)
		}
	}
	return b.NewArray()
}

type col struct {
	name string
	arr  arrow.Array
}

// record makes a record of the columns and releases them.
func record(cols ...col) arrow.Record {
	fields := make([]arrow.Field, len(cols))
	arrs := make([]arrow.Array, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.name, Type: c.arr.DataType(), Nullable: true}
		arrs[i] = c.arr
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), arrs, int64(arrs[0].Len()))
	for _, a := range arrs {
		a.Release()
	}
	return rec
}

func newEngine(t testing.TB, v spec.Validation, schema *arrow.Schema, base Baseline, mem memory.Allocator) *Engine {
	t.Helper()
	if v.ExtraColumns == "" {
		v.ExtraColumns = "ignore"
	}
	if v.MaxInvalidFraction == 0 {
		v.MaxInvalidFraction = 1
	}
	e, err := New(v, schema, logical, base, mem)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// values formats a column's values as text ("null" for nulls).
func values(a arrow.Array) []string {
	out := make([]string, a.Len())
	for i := range out {
		if a.IsNull(i) {
			out[i] = "null"
		} else {
			out[i] = a.ValueStr(i)
		}
	}
	return out
}

func column(rec arrow.Record, name string) arrow.Array {
	if rec == nil {
		return nil
	}
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		panic(fmt.Sprintf("no column %s", name))
	}
	return rec.Column(idx[0])
}

type fakeBaseline struct {
	medians map[string]float64
	modes   map[string]string
}

func (f fakeBaseline) Median(c string) (float64, bool) { v, ok := f.medians[c]; return v, ok }
func (f fakeBaseline) Mode(c string) (string, bool)    { v, ok := f.modes[c]; return v, ok }

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
