package profile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// sampledRows is a snapshot just large enough to be sampled at a rate
// well below 1.
const sampledRows = 1 << 20

// normals draws n values of N(mu, sigma), with a few NaN and nulls.
func normals(seed uint64, n int, mu, sigma float64) ([]float64, []bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	vals, nulls := make([]float64, n), make([]bool, n)
	for i := range vals {
		switch r.IntN(1000) {
		case 0:
			vals[i] = math.NaN()
		case 1:
			nulls[i] = true
		default:
			vals[i] = r.NormFloat64()*sigma + mu
		}
	}
	return vals, nulls
}

// addAt profiles vals as rows of file "part-0.parquet", in chunks of chunk
// rows, into b.
func addAt(t *testing.T, b *Builder, vals []float64, nulls []bool, from, to, chunk int) {
	t.Helper()
	for lo := from; lo < to; lo += chunk {
		hi := min(lo+chunk, to)
		rec := floatRecord(t, memory.DefaultAllocator, [][]float64{vals[lo:hi]}, [][]bool{nulls[lo:hi]})
		if err := b.AddAt(rec, "s3://bucket/snap/part-0.parquet", int64(lo)); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
}

func floatSchema() *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: "x0", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
}

// TestSampledPSI: on a snapshot of 2^20 rows, the drift measured from the
// sampled histograms is within 0.01 of the exact one (what the README
// promises) for drifts from none to major, its values outside the
// training range are exact, and the sample holds about DriftSampleRows
// rows: a sample that silently grew to every row would fail here.
func TestSampledPSI(t *testing.T) {
	train, trainNulls := normals(1, 20000, 0, 1)
	tb := NewBuilder(floatSchema(), nil, nil)
	addAt(t, tb, train, trainNulls, 0, len(train), 4096)
	base := tb.Profile()
	rate := SampleRate(sampledRows)
	if want := float64(DriftSampleRows) / sampledRows; rate != want {
		t.Fatalf("SampleRate(%d) = %v, want %v", sampledRows, rate, want)
	}
	for i, shift := range []float64{0, 0.1, 0.3, 0.6, 1.2} {
		vals, nulls := normals(uint64(10+i), sampledRows, shift, 1+shift/3)
		exact := NewBuilder(floatSchema(), nil, base)
		sampled := NewBuilder(floatSchema(), nil, base, WithRowSample(rate, 42))
		addAt(t, exact, vals, nulls, 0, len(vals), 65536)
		addAt(t, sampled, vals, nulls, 0, len(vals), 65536)
		e, s := Compare(base, exact.Profile())[0], Compare(base, sampled.Profile())[0]
		if d := math.Abs(e.PSI - s.PSI); d > 0.01 {
			t.Errorf("shift %v: sampled PSI %.5f, exact %.5f: off by %.5f > 0.01", shift, s.PSI, e.PSI, d)
		}
		if e.OutOfRange != s.OutOfRange {
			t.Errorf("shift %v: out_of_range %v sampled, %v exact: it must stay exact", shift, s.OutOfRange, e.OutOfRange)
		}
		ec, sc := exact.Profile().Columns[0], sampled.Profile().Columns[0]
		eh, sh := ec.Histogram, sc.Histogram
		if eh.Below != sh.Below || eh.Above != sh.Above || eh.Sampled != 0 {
			t.Errorf("shift %v: below/above %d/%d sampled, %d/%d exact (exact Sampled %d)", shift, sh.Below, sh.Above, eh.Below, eh.Above, eh.Sampled)
		}
		if sum(sh.Counts) != sum(eh.Counts) {
			t.Errorf("shift %v: sampled counts add up to %d, exact to %d", shift, sum(sh.Counts), sum(eh.Counts))
		}
		t.Logf("shift %v: PSI exact %.5f, sampled %.5f", shift, e.PSI, s.PSI)
		// Between the edges (at shift 0 about all of them), with nulls and NaN left out.
		if n := float64(sh.Sampled); shift == 0 && (n < 0.95*DriftSampleRows || n > 1.05*DriftSampleRows) {
			t.Errorf("shift %v: the sample binned %v values, want about %d", shift, n, DriftSampleRows)
		}
		ec.Histogram, sc.Histogram, ec.Sketch, sc.Sketch = nil, nil, nil, nil
		if !reflect.DeepEqual(ec, sc) {
			t.Errorf("shift %v: sampling changed more than the histogram:\nexact   %+v\nsampled %+v", shift, ec, sc)
		}
	}
}

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// TestSampleIndependentOfChunks: the sample is a function of the seed and
// each row's file and row, not of chunking or of how the rows are split
// between builders (shards, merged), and another seed picks other rows.
func TestSampleIndependentOfChunks(t *testing.T) {
	vals, nulls := normals(3, 300000, 0.2, 1)
	base := profileFloats(t, vals[:5000], 1000, nil).Profile()
	hist := func(b *Builder) *Histogram { return b.Profile().Columns[0].Histogram }
	one := NewBuilder(floatSchema(), nil, base, WithRowSample(0.1, 9))
	addAt(t, one, vals, nulls, 0, len(vals), 65536)
	other := NewBuilder(floatSchema(), nil, base, WithRowSample(0.1, 9))
	addAt(t, other, vals, nulls, 0, len(vals), 7777)
	if !reflect.DeepEqual(hist(one), hist(other)) {
		t.Errorf("chunks of 65536 and of 7777 rows sampled differently:\n%+v\n%+v", hist(one), hist(other))
	}
	a := NewBuilder(floatSchema(), nil, base, WithRowSample(0.1, 9))
	b := NewBuilder(floatSchema(), nil, base, WithRowSample(0.1, 9))
	addAt(t, a, vals, nulls, 0, 100000, 4096)
	addAt(t, b, vals, nulls, 100000, len(vals), 4096)
	st, err := b.State()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.MergeState(st); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hist(one), hist(a)) {
		t.Errorf("two merged builders sampled differently from one:\n%+v\n%+v", hist(one), hist(a))
	}
	reseeded := NewBuilder(floatSchema(), nil, base, WithRowSample(0.1, 10))
	addAt(t, reseeded, vals, nulls, 0, len(vals), 65536)
	if reflect.DeepEqual(hist(one).Counts, hist(reseeded).Counts) {
		t.Errorf("seeds 9 and 10 sampled the same rows")
	}
	every := NewBuilder(floatSchema(), nil, base, WithRowSample(1, 9))
	addAt(t, every, vals, nulls, 0, len(vals), 65536)
	if h := hist(every); h.Sampled != 0 || !reflect.DeepEqual(h, hist(newExact(t, base, vals, nulls))) {
		t.Errorf("a rate of 1 must count every row exactly: %+v", h)
	}
}

// newExact profiles vals without a sample.
func newExact(t *testing.T, base *Profile, vals []float64, nulls []bool) *Builder {
	b := NewBuilder(floatSchema(), nil, base)
	addAt(t, b, vals, nulls, 0, len(vals), 65536)
	return b
}

// TestSampledTypes: integer, date and timestamp columns sample as their
// values in days, as the exact histograms count them.
func TestSampledTypes(t *testing.T) {
	mem := memory.DefaultAllocator
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: arrow.PrimitiveTypes.Int32},
		{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Millisecond}},
	}, nil)
	const n = 200000
	build := func() arrow.Record {
		b := array.NewRecordBuilder(mem, schema)
		defer b.Release()
		r := rand.New(rand.NewPCG(5, 5))
		for range n {
			b.Field(0).(*array.Int32Builder).Append(int32(r.IntN(100)))
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(1_700_000_000_000 + r.Int64N(30*86_400_000)))
		}
		return b.NewRecord()
	}
	rec := build()
	defer rec.Release()
	tb := NewBuilder(schema, nil, nil)
	if err := tb.Add(rec); err != nil {
		t.Fatal(err)
	}
	base := tb.Profile()
	exact, sampled := NewBuilder(schema, nil, base), NewBuilder(schema, nil, base, WithRowSample(0.25, 1))
	for _, b := range []*Builder{exact, sampled} {
		if err := b.AddAt(rec, "f", 0); err != nil {
			t.Fatal(err)
		}
	}
	ed, sd := Compare(base, exact.Profile()), Compare(base, sampled.Profile())
	for i := range ed {
		if d := math.Abs(ed[i].PSI - sd[i].PSI); d > 0.01 {
			t.Errorf("%s: sampled PSI %.5f, exact %.5f", ed[i].Column, sd[i].PSI, ed[i].PSI)
		}
		if h := sampled.Profile().Columns[i].Histogram; h.Sampled < n/5 || h.Sampled > n*3/10 {
			t.Errorf("%s: %d values sampled of %d at 0.25", ed[i].Column, h.Sampled, n)
		}
	}
}

// TestStringsCounted: the string counts (the first values met compared
// before the map is asked) tell apart values that share a prefix, a
// suffix or all but a byte, and empty ones, on a sliced column too, as a
// map of the values does.
func TestStringsCounted(t *testing.T) {
	values := []string{"", "a", "a\x00", "abcdefgh", "abcdefghi", "abcdefgX", "Xbcdefgh",
		"abcdefghijklmnop", "abcdefghijklmnoq", "bbcdefghijklmnop", "abcdefghijklmnopq", "abcdefghijklmnopr",
		"month_to_month", "one_year", "two_year"}
	r := rand.New(rand.NewPCG(4, 4))
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	var all []string
	for range 5000 {
		if r.IntN(50) == 0 {
			sb.AppendNull()
			all = append(all, "\xffnull")
			continue
		}
		v := values[r.IntN(len(values))]
		sb.Append(v)
		all = append(all, v)
	}
	arr := sb.NewArray()
	sb.Release()
	defer arr.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	for _, cut := range [][2]int{{0, 5000}, {7, 4993}, {4990, 5000}} {
		part := array.NewSlice(arr, int64(cut[0]), int64(cut[1]))
		rec := array.NewRecord(schema, []arrow.Array{part}, int64(part.Len()))
		b := NewBuilder(schema, nil, nil)
		if err := b.Add(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		part.Release()
		want := map[string]int64{}
		for _, v := range all[cut[0]:cut[1]] {
			if v != "\xffnull" {
				want[v]++
			}
		}
		got := map[string]int64{}
		for _, c := range b.Profile().Columns[0].Top {
			got[c.Value] = c.Count
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("rows %v: counted %v, want %v", cut, got, want)
		}
	}
}

// TestStringsCountedMany: a chunk of more values than a chunk is coded
// for, then chunks of few, counted as the rows say.
func TestStringsCountedMany(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	b := NewBuilder(schema, nil, nil)
	want := map[string]int64{}
	r := rand.New(rand.NewPCG(5, 5))
	for _, distinct := range []int{3, 60, 4} {
		sb := array.NewStringBuilder(memory.DefaultAllocator)
		for range 3000 {
			// the lower values more often, so that the top is not a tie
			v := fmt.Sprintf("value-%02d", min(r.IntN(distinct), r.IntN(distinct)))
			sb.Append(v)
			want[v]++
		}
		arr := sb.NewArray()
		sb.Release()
		rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
		if err := b.Add(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
		arr.Release()
	}
	col := b.Profile().Columns[0]
	if col.Distinct != len(want) {
		t.Errorf("distinct %d, want %d", col.Distinct, len(want))
	}
	var inTop int64
	for _, c := range col.Top {
		if c.Count != want[c.Value] {
			t.Errorf("%s counted %d, want %d", c.Value, c.Count, want[c.Value])
		}
		inTop += c.Count
	}
	if col.Other != 9000-inTop || len(col.Top) != MaxTop {
		t.Errorf("%d values in the top, other %d; want %d and %d", len(col.Top), col.Other, MaxTop, 9000-inTop)
	}
}
