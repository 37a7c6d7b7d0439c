package profile

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func TestPSI(t *testing.T) {
	tests := []struct {
		name             string
		expected, actual []float64
		want             float64
	}{
		{"identical", []float64{0.1, 0.2, 0.3, 0.4}, []float64{0.1, 0.2, 0.3, 0.4}, 0},
		{"shift", []float64{0.5, 0.5}, []float64{0.6, 0.4}, 0.1*math.Log(1.2) - 0.1*math.Log(0.8)},
		{"empty bin clamped", []float64{1, 0}, []float64{0.5, 0.5}, -0.5*math.Log(0.5) + (0.5-1e-4)*math.Log(0.5/1e-4)},
		{"both empty", []float64{1, 0}, []float64{1, 0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PSI(tc.expected, tc.actual); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("PSI = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBand(t *testing.T) {
	tests := []struct {
		psi  float64
		want string
	}{{0, BandStable}, {0.0999, BandStable}, {0.1, BandModerate}, {0.2499, BandModerate}, {0.25, BandMajor}, {3, BandMajor}}
	for _, tc := range tests {
		if got := Band(tc.psi); got != tc.want {
			t.Errorf("Band(%v) = %s, want %s", tc.psi, got, tc.want)
		}
	}
}

func uniform(seed uint64, n int, lo, hi float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	v := make([]float64, n)
	for i := range v {
		v[i] = lo + r.Float64()*(hi-lo)
	}
	return v
}

func TestCompareNumeric(t *testing.T) {
	baseline := profileFloats(t, uniform(1, 200_000, 0, 100), 65536, nil).Profile()
	tests := []struct {
		name      string
		today     []float64
		withBins  bool
		band      string
		oor       float64
		estimated bool
		maxPSI    float64
		minPSI    float64
	}{
		{name: "same, baseline bins", today: uniform(2, 100_000, 0, 100), withBins: true, band: BandStable, maxPSI: 0.01},
		{name: "same, own sketch", today: uniform(2, 100_000, 0, 100), band: BandStable, estimated: true, maxPSI: 0.01},
		{name: "shift, baseline bins", today: uniform(3, 100_000, 10, 110), withBins: true, band: BandMajor, oor: 0.1, minPSI: 0.25},
		{name: "shift, own sketch", today: uniform(3, 100_000, 10, 110), band: BandMajor, oor: 0.1, estimated: true, minPSI: 0.25},
		{name: "narrower", today: uniform(4, 100_000, 40, 60), withBins: true, band: BandMajor, minPSI: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var bins *Profile
			if tc.withBins {
				bins = baseline
			}
			today := profileFloats(t, tc.today, 65536, bins).Profile()
			ds := Compare(baseline, today)
			if len(ds) != 1 {
				t.Fatalf("%d drifts", len(ds))
			}
			d := ds[0]
			if d.Band != tc.band || d.Estimated != tc.estimated || math.Abs(d.OutOfRange-tc.oor) > 0.005 {
				t.Errorf("band %s estimated %v out of range %v (psi %v)", d.Band, d.Estimated, d.OutOfRange, d.PSI)
			}
			if (tc.maxPSI > 0 && d.PSI > tc.maxPSI) || d.PSI < tc.minPSI {
				t.Errorf("PSI %v", d.PSI)
			}
			var b, a float64
			for _, s := range d.Bins {
				b += s.Baseline
				a += s.Today
			}
			if math.Abs(b-1) > 1e-9 || math.Abs(a-1) > 1e-9 || len(d.Bins) != len(baseline.Columns[0].Histogram.Counts) {
				t.Errorf("shares sum to %v and %v over %d bins", b, a, len(d.Bins))
			}
		})
	}
}

func TestOutOfRangeWithInf(t *testing.T) {
	baseline := profileFloats(t, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10, nil).Profile()
	today := profileFloats(t, []float64{-1, 1, 2, 3, 4, 5, 6, 7, math.Inf(1), math.NaN()}, 10, baseline).Profile()
	d := Compare(baseline, today)[0]
	// -1 and +Inf are outside; NaN is not counted
	if want := 2.0 / 9; math.Abs(d.OutOfRange-want) > 1e-12 || d.Estimated {
		t.Errorf("out of range %v, want %v (estimated %v)", d.OutOfRange, want, d.Estimated)
	}
}

func stringProfile(t *testing.T, counts map[string]int, bins *Profile) *Profile {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	defer sb.Release()
	for v, n := range counts {
		for range n {
			sb.Append(v)
		}
	}
	arr := sb.NewArray()
	defer arr.Release()
	rec := array.NewRecord(schema, []arrow.Array{arr}, int64(arr.Len()))
	defer rec.Release()
	b := NewBuilder(schema, nil, bins)
	if err := b.Add(rec); err != nil {
		t.Fatal(err)
	}
	return b.Profile()
}

func TestCompareCategories(t *testing.T) {
	base := map[string]int{"a": 500, "b": 300, "c": 200}
	baseline := stringProfile(t, base, nil)
	tests := []struct {
		name  string
		today map[string]int
		want  float64
		other float64
	}{
		{"identical", base, 0, 0},
		{"same shares", map[string]int{"a": 50, "b": 30, "c": 20}, 0, 0},
		{"new value", map[string]int{"a": 400, "b": 300, "c": 200, "d": 100}, PSI([]float64{0.5, 0.3, 0.2, 0}, []float64{0.4, 0.3, 0.2, 0.1}), 0.1},
		{"value gone", map[string]int{"a": 600, "b": 400}, PSI([]float64{0.5, 0.3, 0.2, 0}, []float64{0.6, 0.4, 0, 0}), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := Compare(baseline, stringProfile(t, tc.today, baseline))
			if len(ds) != 1 {
				t.Fatalf("%d drifts", len(ds))
			}
			d := ds[0]
			if math.Abs(d.PSI-tc.want) > 1e-12 || d.Band != Band(tc.want) {
				t.Errorf("PSI %v band %s, want %v", d.PSI, d.Band, tc.want)
			}
			last := d.Bins[len(d.Bins)-1]
			if last.Label != "other" || math.Abs(last.Today-tc.other) > 1e-12 || len(d.Bins) != 4 {
				t.Errorf("bins %+v", d.Bins)
			}
		})
	}
}

func TestScoreDrift(t *testing.T) {
	bins := WithFixedBins("x0", 0, 1, 20)
	previous := profileFloats(t, uniform(5, 100_000, 0, 1), 65536, nil, bins).Profile()
	same := profileFloats(t, uniform(6, 100_000, 0, 1), 65536, nil, bins).Profile()
	skewed := uniform(7, 100_000, 0, 1)
	for i, v := range skewed {
		skewed[i] = v * v
	}
	shifted := profileFloats(t, skewed, 65536, nil, bins).Profile()

	d, ok := ScoreDrift(previous, same, "x0")
	if !ok || d.Band != BandStable || d.Estimated || len(d.Bins) != 20 || d.OutOfRange > 1e-4 { // today's extremes may pass the previous run's
		t.Errorf("same: %v %+v", ok, d)
	}
	if d.Bins[0].Label != "[0, 0.05)" || d.Bins[19].Label != "[0.95, 1]" {
		t.Errorf("labels %q %q", d.Bins[0].Label, d.Bins[19].Label)
	}
	d, ok = ScoreDrift(previous, shifted, "x0")
	if !ok || d.Band != BandMajor {
		t.Errorf("skewed: %v %+v", ok, d)
	}
	if _, ok := ScoreDrift(previous, same, "nope"); ok {
		t.Error("drift of a missing column")
	}
}
