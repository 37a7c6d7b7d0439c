package profile

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// A Builder fed half the rows, merged with the JSON state of one fed the
// other half, profiles like one Builder fed every row.
func TestStateMerge(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "c", Type: arrow.BinaryTypes.String},
	}, nil)
	chunk := func(start, n int) arrow.Record {
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		defer b.Release()
		for i := start; i < start+n; i++ {
			switch {
			case i%97 == 0:
				b.Field(0).AppendNull()
			case i%89 == 0:
				b.Field(0).(*array.Float64Builder).Append(math.Inf(1))
			default:
				b.Field(0).(*array.Float64Builder).Append(math.Sin(float64(i)) * 10)
			}
			b.Field(1).(*array.StringBuilder).Append([]string{"a", "b", "c", "d"}[i*i%4])
		}
		return b.NewRecord()
	}
	whole, first, second := NewBuilder(schema, nil, nil), NewBuilder(schema, nil, nil), NewBuilder(schema, nil, nil)
	for i := 0; i < 10; i++ {
		rec := chunk(i*20000, 20000)
		whole.Add(rec)
		if i < 5 {
			first.Add(rec)
		} else {
			second.Add(rec)
		}
		rec.Release()
	}
	st, err := second.State()
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := first.MergeState(&back); err != nil {
		t.Fatal(err)
	}
	want, got := whole.Profile(), first.Profile()
	if got.Rows != want.Rows {
		t.Fatalf("rows %d, want %d", got.Rows, want.Rows)
	}
	for i, w := range want.Columns {
		g := got.Columns[i]
		if g.Count != w.Count || g.Nulls != w.Nulls || g.NaN != w.NaN || g.Inf != w.Inf {
			t.Errorf("%s: counts %+v, want %+v", w.Name, g, w)
		}
		if w.Mean != nil && (math.Abs(*g.Mean-*w.Mean) > 1e-9 || *g.Min != *w.Min || *g.Max != *w.Max) {
			t.Errorf("%s: mean/min/max %v %v %v, want %v %v %v", w.Name, *g.Mean, *g.Min, *g.Max, *w.Mean, *w.Min, *w.Max)
		}
		for q := range w.Quantiles {
			if d := math.Abs(g.Quantiles[q].Value - w.Quantiles[q].Value); d > 0.5 { // 20 apart on [-10, 10]: within 2.5% of rank
				t.Errorf("%s: quantile %v is %v, want about %v", w.Name, w.Quantiles[q].P, g.Quantiles[q].Value, w.Quantiles[q].Value)
			}
		}
		if len(g.Top) != len(w.Top) {
			t.Errorf("%s: %d top values, want %d", w.Name, len(g.Top), len(w.Top))
		}
		for k := range w.Top {
			if g.Top[k] != w.Top[k] {
				t.Errorf("%s: top %v, want %v", w.Name, g.Top[k], w.Top[k])
			}
		}
	}
	if err := first.MergeState(&State{Columns: back.Columns[:1]}); err == nil {
		t.Error("a state of other columns merged")
	}
}
