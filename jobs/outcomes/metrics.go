package outcomes

import (
	"math"
	"slices"
	"sort"
)

// LogLossEps clips probabilities into [eps, 1-eps] before the log loss
// takes their logarithm, as scikit-learn's log_loss(eps=1e-15) does: a
// score of exactly 0 or 1 that is wrong costs -log(1e-15) ≈ 34.5, not
// infinity.
const LogLossEps = 1e-15

// Deciles is how many calibration bins Compute makes.
const Deciles = 10

// Metrics is one model's quality on one set of joined rows. Pointers are
// JSON null where the metric is undefined (AUC with one class, precision
// with no predicted positive, a Brier score of scores outside [0, 1]).
type Metrics struct {
	ModelVersion       string    `json:"model_version"`
	RowsScored         int64     `json:"rows_scored"`
	Labelled           int64     `json:"labelled"`
	Matched            int64     `json:"matched"`
	LabelsWithoutScore int64     `json:"labels_without_score"`
	Positives          int64     `json:"positives"`
	BaseRate           *float64  `json:"base_rate"`
	AUC                *float64  `json:"auc"`
	Gini               *float64  `json:"gini"`
	KS                 *float64  `json:"ks"`
	Brier              *float64  `json:"brier"`
	LogLoss            *float64  `json:"log_loss"`
	ECE                *float64  `json:"ece"`
	Calibration        []Bin     `json:"calibration"`
	Confusion          Confusion `json:"confusion"`
	Precision          *float64  `json:"precision"`
	Recall             *float64  `json:"recall"`
}

// Bin is one calibration decile: rows in score order, cut into ten
// groups of (nearly) equal size; rows with equal scores stay in one bin.
type Bin struct {
	Decile       int     `json:"decile"`
	MeanScore    float64 `json:"mean_score"`
	ObservedRate float64 `json:"observed_rate"`
	Rows         int64   `json:"rows"`
}

// Confusion counts the rows at the threshold: a score at or above it is a
// predicted positive.
type Confusion struct {
	TP int64 `json:"tp"`
	FP int64 `json:"fp"`
	TN int64 `json:"tn"`
	FN int64 `json:"fn"`
}

// num is v, or nil (JSON null) when v is not a finite number.
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Rows are the joined rows one Metrics is computed on: scores and their
// labels, index for index.
type Rows struct {
	Score []float64
	Label []bool
}

// Compute fills the quality metrics of m from rows (the counts are the
// caller's). rows.Score is sorted in place, with the labels alongside.
func Compute(m *Metrics, rows Rows, threshold float64) {
	n := len(rows.Score)
	m.Calibration = []Bin{}
	if n == 0 {
		return
	}
	sortRows(rows)
	var pos int64
	for _, y := range rows.Label {
		if y {
			pos++
		}
	}
	m.Positives = pos
	m.BaseRate = num(float64(pos) / float64(n))
	m.AUC = num(AUC(rows))
	if m.AUC != nil {
		m.Gini = num(2**m.AUC - 1)
	}
	m.KS = num(KS(rows))
	if probabilities(rows.Score) {
		m.Brier = num(Brier(rows))
		m.LogLoss = num(LogLoss(rows))
		m.Calibration = Calibration(rows)
		m.ECE = num(ECE(m.Calibration, int64(n)))
	}
	m.Confusion = ConfusionAt(rows, threshold)
	c := m.Confusion
	if c.TP+c.FP > 0 {
		m.Precision = num(float64(c.TP) / float64(c.TP+c.FP))
	}
	if c.TP+c.FN > 0 {
		m.Recall = num(float64(c.TP) / float64(c.TP+c.FN))
	}
}

// probabilities says whether every score is in [0, 1]: the Brier score,
// the log loss and calibration need probabilities.
func probabilities(s []float64) bool {
	for _, v := range s {
		if !(v >= 0 && v <= 1) {
			return false
		}
	}
	return true
}

// sortRows sorts the rows by score, ascending; equal scores keep no
// particular order (every metric below treats a run of ties as one).
func sortRows(rows Rows) {
	if sort.Float64sAreSorted(rows.Score) {
		return
	}
	idx := make([]int32, len(rows.Score))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		sa, sb := rows.Score[a], rows.Score[b]
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	s := make([]float64, len(idx))
	l := make([]bool, len(idx))
	for i, j := range idx {
		s[i], l[i] = rows.Score[j], rows.Label[j]
	}
	copy(rows.Score, s)
	copy(rows.Label, l)
}

// ties calls f for each run of equal scores of sorted rows: [i, j).
func ties(score []float64, f func(i, j int)) {
	for i := 0; i < len(score); {
		j := i + 1
		for j < len(score) && score[j] == score[i] {
			j++
		}
		f(i, j)
		i = j
	}
}

// AUC is the area under the ROC curve of sorted rows: the Mann-Whitney U
// of the positives' ranks, tied scores sharing their average rank (as
// scikit-learn's roc_auc_score counts a tie as half a correct ordering).
// NaN with one class only.
func AUC(rows Rows) float64 {
	var pos, neg float64
	var rankSum float64 // of the positives, ranks from 1
	ties(rows.Score, func(i, j int) {
		avg := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if rows.Label[k] {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
	})
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// KS is the two-sample Kolmogorov-Smirnov statistic between the scores of
// the positives and of the negatives (SciPy's ks_2samp statistic): the
// largest gap between their empirical distribution functions, measured
// after each run of ties. NaN with one class only.
func KS(rows Rows) float64 {
	var pos, neg float64
	for _, y := range rows.Label {
		if y {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	var cp, cn, best float64
	ties(rows.Score, func(i, j int) {
		for k := i; k < j; k++ {
			if rows.Label[k] {
				cp++
			} else {
				cn++
			}
		}
		best = max(best, math.Abs(cp/pos-cn/neg))
	})
	return best
}

// Brier is the mean squared difference between score and outcome.
func Brier(rows Rows) float64 {
	var sum float64
	for i, s := range rows.Score {
		d := s - b2f(rows.Label[i])
		sum += d * d
	}
	return sum / float64(len(rows.Score))
}

// LogLoss is the mean negative log-likelihood of the outcomes, scores
// clipped into [LogLossEps, 1-LogLossEps].
func LogLoss(rows Rows) float64 {
	var sum float64
	for i, s := range rows.Score {
		p := min(max(s, LogLossEps), 1-LogLossEps)
		if rows.Label[i] {
			sum -= math.Log(p)
		} else {
			sum -= math.Log(1 - p)
		}
	}
	return sum / float64(len(rows.Score))
}

// Calibration cuts sorted rows into Deciles bins of nearly equal size (a
// run of ties goes whole into the bin of its first row) and gives each
// bin's mean score and observed positive rate. Empty bins are left out.
func Calibration(rows Rows) []Bin {
	n := len(rows.Score)
	bins := make([]Bin, Deciles)
	sums := make([]float64, Deciles)
	posN := make([]int64, Deciles)
	ties(rows.Score, func(i, j int) {
		b := i * Deciles / n
		for k := i; k < j; k++ {
			bins[b].Rows++
			sums[b] += rows.Score[k]
			if rows.Label[k] {
				posN[b]++
			}
		}
	})
	out := []Bin{}
	for b := range bins {
		if bins[b].Rows == 0 {
			continue
		}
		bins[b].Decile = b + 1
		bins[b].MeanScore = sums[b] / float64(bins[b].Rows)
		bins[b].ObservedRate = float64(posN[b]) / float64(bins[b].Rows)
		out = append(out, bins[b])
	}
	return out
}

// ECE is the expected calibration error: the bins' gaps between mean
// score and observed rate, weighted by their rows.
func ECE(bins []Bin, n int64) float64 {
	if n == 0 {
		return math.NaN()
	}
	var sum float64
	for _, b := range bins {
		sum += float64(b.Rows) * math.Abs(b.MeanScore-b.ObservedRate)
	}
	return sum / float64(n)
}

// ConfusionAt counts the rows on each side of threshold.
func ConfusionAt(rows Rows, threshold float64) Confusion {
	var c Confusion
	for i, s := range rows.Score {
		switch p, y := s >= threshold, rows.Label[i]; {
		case p && y:
			c.TP++
		case p:
			c.FP++
		case y:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
