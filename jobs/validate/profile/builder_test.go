package profile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func dataset(name string, n int) []float64 {
	r := rand.New(rand.NewPCG(7, uint64(len(name))))
	vals := make([]float64, n)
	for i := range vals {
		switch name {
		case "uniform":
			vals[i] = r.Float64() * 100
		case "normal":
			vals[i] = r.NormFloat64()*15 + 50
		case "exponential":
			vals[i] = r.ExpFloat64() * 3
		case "discrete":
			vals[i] = float64(r.IntN(6) + 1)
		case "sorted":
			vals[i] = float64(i)
		}
	}
	return vals
}

func TestQuantileAccuracy(t *testing.T) {
	const n = 1_000_000
	for _, name := range []string{"uniform", "normal", "exponential", "discrete", "sorted"} {
		t.Run(name, func(t *testing.T) {
			vals := dataset(name, n)
			p := profileFloats(t, vals, 65536, nil).Profile()
			sorted := slices.Sorted(slices.Values(vals))
			c := p.Columns[0]
			if len(c.Quantiles) != len(QuantileProbs) {
				t.Fatalf("%d quantiles", len(c.Quantiles))
			}
			for _, q := range c.Quantiles {
				if e := rankError(sorted, q.P, q.Value); e > 0.01 {
					t.Errorf("p%v = %v: rank error %.4f", q.P, q.Value, e)
				}
			}
		})
	}
}

func TestMergeMatchesSingle(t *testing.T) {
	vals := dataset("normal", 400_000)
	vals[17] = math.NaN()
	vals[99] = math.Inf(-1)
	single := profileFloats(t, vals, 10_000, nil)
	parts := make([]*Builder, 4)
	for i := range parts {
		parts[i] = profileFloats(t, vals[i*100_000:(i+1)*100_000], 10_000, nil)
	}
	for _, p := range parts[1:] {
		if err := parts[0].Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	a, b := single.Profile().Columns[0], parts[0].Profile().Columns[0]
	if a.Count != b.Count || a.NaN != b.NaN || a.Inf != b.Inf || a.Nulls != b.Nulls || *a.Min != *b.Min || *a.Max != *b.Max {
		t.Fatalf("counts differ: %+v vs %+v", a, b)
	}
	if relDiff(*a.Mean, *b.Mean) > 1e-9 || relDiff(*a.Std, *b.Std) > 1e-9 {
		t.Errorf("moments differ: mean %v vs %v, std %v vs %v", *a.Mean, *b.Mean, *a.Std, *b.Std)
	}
	finite := slices.DeleteFunc(slices.Clone(vals), func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
	slices.Sort(finite)
	for i, q := range b.Quantiles {
		if e := rankError(finite, q.P, q.Value); e > 0.01 {
			t.Errorf("merged p%v: rank error %.4f", q.P, e)
		}
		if e := rankError(finite, q.P, a.Quantiles[i].Value); e > 0.01 {
			t.Errorf("single p%v: rank error %.4f", q.P, e)
		}
	}
	// exact moments against a direct computation
	var sum float64
	for _, v := range finite {
		sum += v
	}
	if relDiff(sum/float64(len(finite)), *b.Mean) > 1e-9 {
		t.Errorf("mean %v, direct %v", *b.Mean, sum/float64(len(finite)))
	}
}

func TestCounts(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name                   string
		vals                   []float64
		nulls                  []bool
		count, nul, nans, infs int64
		min, max, mean         float64
	}{
		{name: "plain", vals: []float64{1, 2, 3}, count: 3, min: 1, max: 3, mean: 2},
		{name: "nan and inf", vals: []float64{1, nan, inf, -inf, 3}, count: 5, nans: 1, infs: 2, min: 1, max: 3, mean: 2},
		{name: "nulls", vals: []float64{1, 0, 5, 0}, nulls: []bool{false, true, false, true}, count: 2, nul: 2, min: 1, max: 5, mean: 3},
		{name: "nulls and nan", vals: []float64{nan, 0, 4}, nulls: []bool{false, true, false}, count: 2, nul: 1, nans: 1, min: 4, max: 4, mean: 4},
		{name: "all null", vals: []float64{0, 0}, nulls: []bool{true, true}, count: 0, nul: 2},
		{name: "all nan", vals: []float64{nan, nan}, count: 2, nans: 2},
		{name: "empty", vals: []float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := floatRecord(t, memory.DefaultAllocator, [][]float64{tc.vals}, [][]bool{tc.nulls})
			defer rec.Release()
			b := NewBuilder(rec.Schema(), nil, nil)
			if err := b.Add(rec); err != nil {
				t.Fatal(err)
			}
			p := b.Profile()
			c := p.Columns[0]
			if p.Rows != int64(len(tc.vals)) || c.Count != tc.count || c.Nulls != tc.nul || c.NaN != tc.nans || c.Inf != tc.infs {
				t.Fatalf("rows %d count %d nulls %d nan %d inf %d", p.Rows, c.Count, c.Nulls, c.NaN, c.Inf)
			}
			finite := tc.count - tc.nans - tc.infs
			if finite == 0 {
				if c.Min != nil || c.Mean != nil || c.Quantiles != nil {
					t.Errorf("moments without finite values: %+v", c)
				}
				return
			}
			if *c.Min != tc.min || *c.Max != tc.max || *c.Mean != tc.mean {
				t.Errorf("min %v max %v mean %v", *c.Min, *c.Max, *c.Mean)
			}
			var hist int64
			for _, n := range c.Histogram.Counts {
				hist += n
			}
			if hist != finite {
				t.Errorf("histogram holds %d values, want %d", hist, finite)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
		{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
		{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		{Name: "bin", Type: arrow.BinaryTypes.Binary},
	}, nil)
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	rb.Field(0).(*array.Int32Builder).AppendValues([]int32{1, 2, 0, 4}, []bool{true, true, false, true})
	rb.Field(1).(*array.Uint8Builder).AppendValues([]uint8{1, 2, 3, 200}, nil)
	rb.Field(2).(*array.Float32Builder).AppendValues([]float32{1.5, float32(math.NaN()), 2.5, 3.5}, nil)
	rb.Field(3).(*array.Date32Builder).AppendValues([]arrow.Date32{20000, 20001, 20002, 20003}, nil)
	rb.Field(4).(*array.TimestampBuilder).AppendValues([]arrow.Timestamp{0, 86_400_000, 43_200_000, 0}, nil)
	rb.Field(5).(*array.BooleanBuilder).AppendValues([]bool{true, true, false, false}, []bool{true, true, true, false})
	rb.Field(6).(*array.StringBuilder).AppendValues([]string{"a", "b", "a", ""}, []bool{true, true, true, false})
	rb.Field(7).(*array.BinaryBuilder).AppendValues([][]byte{{1}, {2}, {3}, {4}}, nil)
	rec := rb.NewRecord()
	defer rec.Release()

	b := NewBuilder(schema, nil, nil)
	if err := b.Add(rec); err != nil {
		t.Fatal(err)
	}
	p := b.Profile()
	if len(p.Columns) != 7 || p.Column("bin") != nil {
		t.Fatalf("binary should be skipped: %d columns", len(p.Columns))
	}
	tests := []struct {
		col, typ     string
		count, nulls int64
		nan          int64
		mean         float64
		top          []Category
		other        int64
	}{
		{col: "i32", typ: "int", count: 3, nulls: 1, mean: 7.0 / 3},
		{col: "u8", typ: "int", count: 4, mean: 206.0 / 4},
		{col: "f32", typ: "float", count: 4, nan: 1, mean: 2.5},
		{col: "d", typ: "date", count: 4, mean: 20001.5},
		{col: "ts", typ: "timestamp", count: 4, mean: 0.375},
		{col: "b", typ: "bool", count: 3, nulls: 1, top: []Category{{"true", 2}, {"false", 1}}},
		{col: "s", typ: "string", count: 3, nulls: 1, top: []Category{{"a", 2}, {"b", 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.col, func(t *testing.T) {
			c := p.Column(tc.col)
			if c.Type != tc.typ || c.Count != tc.count || c.Nulls != tc.nulls || c.NaN != tc.nan {
				t.Fatalf("%+v", c)
			}
			if tc.top != nil {
				if !reflect.DeepEqual(c.Top, tc.top) || c.Other != tc.other {
					t.Errorf("top %v other %d", c.Top, c.Other)
				}
				return
			}
			if math.Abs(*c.Mean-tc.mean) > 1e-12 {
				t.Errorf("mean %v, want %v", *c.Mean, tc.mean)
			}
		})
	}
	if m, ok := p.Mode("s"); !ok || m != "a" {
		t.Errorf("mode %q %v", m, ok)
	}
	if _, ok := p.Mode("d"); ok {
		t.Error("mode of a date")
	}
	if m, ok := p.Median("d"); !ok || m < 20000 || m > 20003 {
		t.Errorf("median %v %v", m, ok)
	}
	if _, ok := p.Median("s"); ok {
		t.Error("median of a string")
	}
	if _, ok := p.Median("nope"); ok {
		t.Error("median of a missing column")
	}
}

func TestCategoriesOtherAndCap(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	// value i appears i+1 times for i < 30; then MaxDistinct singletons
	var total int64
	for i := range 30 {
		for range i + 1 {
			sb.Append(string(rune('A' + i)))
			total++
		}
	}
	for i := range MaxDistinct {
		sb.Append("u" + string(rune(0x4e00+i)))
		total++
	}
	arr := sb.NewArray()
	sb.Release()
	rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
	arr.Release()
	defer rec.Release()
	b := NewBuilder(schema, nil, nil)
	if err := b.Add(rec); err != nil {
		t.Fatal(err)
	}
	c := b.Profile().Columns[0]
	if len(c.Top) != MaxTop || c.Top[0].Value != string(rune('A'+29)) || c.Top[0].Count != 30 {
		t.Fatalf("top %v", c.Top[:3])
	}
	var inTop int64
	for _, x := range c.Top {
		inTop += x.Count
	}
	if inTop+c.Other != total || !c.TopCapped || c.Distinct != 0 || c.DistinctAtLeast != MaxDistinct {
		t.Errorf("top %d + other %d != %d; capped %v distinct %d, at least %d", inTop, c.Other, total, c.TopCapped, c.Distinct, c.DistinctAtLeast)
	}
}

func TestSaveLoad(t *testing.T) {
	vals := dataset("exponential", 100_000)
	p := profileFloats(t, vals, 8192, nil).Profile()
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip differs:\n%s\n%s", p.Columns[0].Sketch[:80], q.Columns[0].Sketch[:80])
	}
	if m, ok := q.Median("x0"); !ok || math.Abs(m-3*math.Ln2) > 0.05 {
		t.Errorf("median %v %v, want about %v", m, ok, 3*math.Ln2)
	}
	// a sketch survives the trip: merging from it gives the same quantiles
	var sk kll
	if err := sk.UnmarshalJSON(q.Columns[0].Sketch); err != nil || sk.n != 100_000 {
		t.Fatalf("sketch: %v, weight %d", err, sk.n)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("loading a missing file")
	}
}

func TestBuilderErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x0", Type: arrow.PrimitiveTypes.Float64}}, nil)
	rec := floatRecord(t, memory.DefaultAllocator, [][]float64{{1}}, nil)
	defer rec.Release()
	tests := []struct {
		name string
		b    *Builder
	}{
		{"missing column", NewBuilder(schema, []string{"nope"}, nil)},
		{"twice", NewBuilder(schema, []string{"x0", "x0"}, nil)},
		{"bad bins", NewBuilder(schema, nil, nil, WithFixedBins("x0", 1, 0, 10))},
		{"wrong type", NewBuilder(arrow.NewSchema([]arrow.Field{{Name: "x0", Type: arrow.PrimitiveTypes.Int64}}, nil), nil, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.b.Add(rec); err == nil {
				t.Error("no error")
			}
		})
	}
	a := NewBuilder(schema, nil, nil)
	b := NewBuilder(schema, nil, nil, WithFixedBins("x0", 0, 1, 20))
	if err := a.Merge(b); err == nil {
		t.Error("merged builders with different bins")
	}
}

// TestCategoriesInterleaved: twelve categories in random order with nulls,
// over two chunks, are counted exactly (the first eight met in a chunk
// take the fast path, the rest the map).
func TestCategoriesInterleaved(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	r := rand.New(rand.NewPCG(8, 9))
	want := map[string]int64{}
	b := NewBuilder(schema, nil, nil)
	for range 2 {
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		for range 5000 {
			if r.IntN(10) == 0 {
				sb.AppendNull()
				continue
			}
			v := fmt.Sprintf("cat-%d", r.IntN(12))
			want[v]++
			sb.Append(v)
		}
		arr := sb.NewArray()
		sb.Release()
		rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
		arr.Release()
		if err := b.Add(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	c := b.Profile().Columns[0]
	got := map[string]int64{}
	for _, x := range c.Top {
		got[x.Value] = x.Count
	}
	if !reflect.DeepEqual(got, want) || c.Other != 0 || c.Distinct != 12 {
		t.Errorf("counts %v other %d distinct %d, want %v", got, c.Other, c.Distinct, want)
	}
}
