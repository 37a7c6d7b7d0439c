package outcomes

import "math"

// z95 is the standard normal quantile of 0.975: a 95 % two-sided interval.
const z95 = 1.959963984540054

// AUCDeLong returns the AUC of rows and DeLong's estimate of its variance
// (DeLong, DeLong & Clarke-Pearson 1988, "Comparing the areas under two
// or more correlated receiver operating characteristic curves: a
// nonparametric approach", Biometrics 44(3):837-845).
//
// With m positives X and n negatives Y and ψ(x, y) = 1 when x > y, 1/2
// when x = y, 0 otherwise, the structural components are
// V10(x_i) = (1/n) Σ_j ψ(x_i, y_j) and V01(y_j) = (1/m) Σ_i ψ(x_i, y_j);
// the AUC is their mean and its variance S10/m + S01/n, S10 and S01 the
// sample variances (divisor m−1, n−1) of V10 and V01. They are computed
// in O(N log N), as Sun & Xu (2014, "Fast implementation of DeLong's
// algorithm for comparing the areas under correlated receiver operating
// characteristic curves", IEEE Signal Processing Letters 21(11):1389-1393)
// do from midranks: V10(x_i) = (T_Z(x_i) − T_X(x_i))/n, the midrank among
// all scores less the midrank among the positives, which over rows sorted
// by score is the negatives below x_i plus half those tied with it, over
// n (and V01 the same with the classes swapped).
//
// rows are sorted in place (as Compute does). The AUC is NaN with one
// class; the variance is NaN unless each class has two rows or more.
func AUCDeLong(rows Rows) (auc, variance float64) {
	sortRows(rows)
	var m, n float64
	for _, y := range rows.Label {
		if y {
			m++
		} else {
			n++
		}
	}
	if m == 0 || n == 0 {
		return math.NaN(), math.NaN()
	}
	// Every positive of a run of ties has the same V10, every negative
	// the same V01: runs are visited twice, for the means, then the
	// squared deviations (values in [0, 1], so two passes lose nothing).
	type run struct{ pos, neg, v10, v01 float64 }
	var runs []run
	var negBelow, posBelow float64
	ties(rows.Score, func(i, j int) {
		var p, q float64
		for k := i; k < j; k++ {
			if rows.Label[k] {
				p++
			} else {
				q++
			}
		}
		r := run{pos: p, neg: q}
		r.v10 = (negBelow + q/2) / n
		r.v01 = (m - posBelow - p + p/2) / m
		runs = append(runs, r)
		negBelow += q
		posBelow += p
	})
	var sum10 float64
	for _, r := range runs {
		sum10 += r.pos * r.v10
	}
	auc = sum10 / m
	if m < 2 || n < 2 {
		return auc, math.NaN()
	}
	var s10, s01 float64
	for _, r := range runs {
		d10, d01 := r.v10-auc, r.v01-auc
		s10 += r.pos * d10 * d10
		s01 += r.neg * d01 * d01
	}
	s10 /= m - 1
	s01 /= n - 1
	return auc, s10/m + s01/n
}

// AUCDifference compares an arm's AUC with the reference arm's: the
// arms hold disjoint rows, so the two AUCs are independent and the
// variance of their difference is the sum of their DeLong variances.
type AUCDifference struct {
	// Reference is the arm compared against.
	Reference string `json:"reference"`
	// Difference is AUC(arm) − AUC(reference); StdError its standard
	// error; Lower and Upper the 95 % interval, Difference ∓ 1.96 StdError.
	// Null where either AUC or either variance is undefined.
	Difference *float64 `json:"difference"`
	StdError   *float64 `json:"std_error"`
	Lower      *float64 `json:"ci95_lower"`
	Upper      *float64 `json:"ci95_upper"`
	Method     string   `json:"method"`
	// Margin is outcomes.arm_margin; Worse (only with a margin) says the
	// interval lies wholly below −Margin: the arm is worse than the
	// reference by more than the margin.
	Margin *float64 `json:"margin,omitempty"`
	Worse  *bool    `json:"worse,omitempty"`
}

// DeLongIndependent names the interval's method in the outcomes file.
const DeLongIndependent = "DeLong, independent samples"

// CompareAUC is the difference of two independent AUCs with their DeLong
// variances, and its 95 % interval; margin (nil: none) decides Worse.
func CompareAUC(reference string, auc, variance, refAUC, refVariance float64, margin *float64) *AUCDifference {
	d := &AUCDifference{Reference: reference, Method: DeLongIndependent, Margin: margin}
	d.Difference = num(auc - refAUC)
	se := math.Sqrt(variance + refVariance)
	if d.StdError = num(se); d.StdError == nil || d.Difference == nil {
		d.StdError = nil
		return d
	}
	d.Lower, d.Upper = num(*d.Difference-z95*se), num(*d.Difference+z95*se)
	if margin != nil {
		worse := *d.Upper < -*margin
		d.Worse = &worse
	}
	return d
}
