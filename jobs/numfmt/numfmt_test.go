package numfmt

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestPair(t *testing.T) {
	for _, tc := range []struct {
		name         string
		v, t         float64
		value, limit string
	}{
		{"just above", 0.1004, 0.1, "0.1004", "0.1"},
		{"just below", 0.0996, 0.1, "0.0996", "0.1"},
		{"rounds up to the threshold", 0.09999, 0.1, "0.09999", "0.1"},
		{"rounds down to the threshold", 0.100001, 0.1, "0.100001", "0.1"},
		{"equal", 0.25, 0.25, "0.25", "0.25"},
		{"far apart keeps 3 digits", 0.123456, 0.5, "0.123", "0.5"},
		{"far above", 3.14159, 0.25, "3.14", "0.25"},
		{"threshold with many digits", 0.12345678, 0.1234567, "0.1235", "0.1234567"},
		{"one ulp above", math.Nextafter(0.1, 1), 0.1, "0.10000000000000002", "0.1"},
		{"negative", -0.5000001, -0.5, "-0.5000001", "-0.5"},
		{"large", 1000.4, 1000, "1000.4", "1000"},
		{"tiny", 1.0004e-6, 1e-6, "1.0004e-06", "1e-06"},
		{"zero against a threshold", 0, 0.01, "0", "0.01"},
		{"NaN", math.NaN(), 0.1, "NaN", "0.1"},
		{"infinite", math.Inf(1), 50, "+Inf", "50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, l := Pair(tc.v, tc.t)
			if v != tc.value || l != tc.limit {
				t.Errorf("Pair(%v, %v) = %q, %q; want %q, %q", tc.v, tc.t, v, l, tc.value, tc.limit)
			}
		})
	}
}

func TestPctPair(t *testing.T) {
	for _, tc := range []struct {
		name         string
		v, t         float64
		value, limit string
	}{
		{"just above", 0.010004, 0.01, "1.0004%", "1%"},
		{"far below", 0.0015, 0.01, "0.15%", "1%"},
		{"threshold free of float noise", 0.0701, 0.07, "7.01%", "7%"},
		{"equal", 0.07, 0.07, "7%", "7%"},
		{"zero", 0, 0.01, "0%", "1%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, l := PctPair(tc.v, tc.t)
			if v != tc.value || l != tc.limit {
				t.Errorf("PctPair(%v, %v) = %q, %q; want %q, %q", tc.v, tc.t, v, l, tc.value, tc.limit)
			}
		})
	}
}

// Whatever the pair, the printed numbers compare as the numbers do.
func TestValueKeepsOrder(t *testing.T) {
	thresholds := []float64{0.1, 0.25, 0.01, 1e-4, 50, 1, 0.333}
	for _, th := range thresholds {
		for _, d := range []float64{-1e-3, -1e-6, -1e-9, -1e-12, 0, 1e-12, 1e-9, 1e-6, 1e-3} {
			v := th * (1 + d)
			s, ts := Pair(v, th)
			got, _ := strconv.ParseFloat(s, 64)
			want, _ := strconv.ParseFloat(ts, 64)
			if cmp(got, want) != cmp(v, th) {
				t.Errorf("Pair(%v, %v) = %q, %q: order lost", v, th, s, ts)
			}
			if d != 0 && s == ts {
				t.Errorf("Pair(%v, %v) prints both as %q", v, th, s)
			}
		}
	}
	// Several thresholds at once: a PSI between the band edges.
	if s := Value(0.2500001, 0.1, 0.25); !strings.HasPrefix(s, "0.2500001") {
		t.Errorf("Value(0.2500001, 0.1, 0.25) = %q", s)
	}
}
