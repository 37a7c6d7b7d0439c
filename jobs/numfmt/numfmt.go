// Package numfmt formats the numbers of messages and reports that compare
// a value with a threshold, so that the two never look equal when one
// exceeds the other: "PSI is 0.1004, above the warning level 0.1", not
// "is 0.1, above the warning level 0.1".
package numfmt

import (
	"math"
	"strconv"
	"strings"
)

// MinDigits is the fewest significant digits a value is printed with.
const MinDigits = 3

// thresholdDigits prints a threshold as the user wrote it, without the
// float noise of a scaled value (0.07*100 is 7.000000000000001).
const thresholdDigits = 15

// Threshold formats a threshold as written in the job file.
func Threshold(t float64) string { return strconv.FormatFloat(t, 'g', thresholdDigits, 64) }

// Value formats v with the fewest significant digits (at least MinDigits)
// that keep its order against every threshold as printed: a value above,
// below or equal to a threshold reads above, below or equal to it.
func Value(v float64, thresholds ...float64) string {
	return against(v, 1, thresholds)
}

// against formats v*scale so that it compares with each threshold*scale,
// as printed by Threshold, as v compares with the threshold. The order is
// taken before scaling: 0.07*100 must still read equal to 7.
func against(v, scale float64, thresholds []float64) string {
	x := v * scale
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	want := make([]int, len(thresholds))
	shown := make([]float64, len(thresholds))
	for i, t := range thresholds {
		want[i] = cmp(v, t)
		shown[i], _ = strconv.ParseFloat(Threshold(t*scale), 64)
	}
	for k := MinDigits; k <= 17; k++ {
		s := strconv.FormatFloat(x, 'g', k, 64)
		r, _ := strconv.ParseFloat(s, 64)
		if sameOrder(r, want, shown) {
			return s
		}
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// sameOrder reports whether the printed value r compares with every
// printed threshold as the value did with the threshold.
func sameOrder(r float64, want []int, shown []float64) bool {
	for i, t := range shown {
		if cmp(r, t) != want[i] {
			return false
		}
	}
	return true
}

func cmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Pair formats a value and the threshold it is compared with.
func Pair(v, t float64) (value, threshold string) { return Value(v, t), Threshold(t) }

// Pct formats a share (0–1) as a percentage with the fewest digits (at
// least MinDigits significant) that keep its order against the
// thresholds, also shares; 0 is "0%".
func Pct(v float64, thresholds ...float64) string {
	if v == 0 {
		return "0%"
	}
	return against(v, 100, thresholds) + "%"
}

// PctThreshold formats a share threshold (0–1) as a percentage.
func PctThreshold(t float64) string { return Threshold(t*100) + "%" }

// PctPair formats a share and the share threshold it is compared with, as
// percentages.
func PctPair(v, t float64) (value, threshold string) { return Pct(v, t), PctThreshold(t) }

// Thousands writes n with comma separators: 1,234,567.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
