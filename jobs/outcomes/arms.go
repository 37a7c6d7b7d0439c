package outcomes

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Arm is one arm's metrics: the matched rows whose result row names the
// arm in its arm column (a canary's champion and challenger, or the
// arms of an A/B test). Its JSON is {"arm", then the metrics' keys, then
// the AUC's interval and the comparison with the reference arm}.
type Arm struct {
	Arm string `json:"arm"`
	Metrics
	// AUCStdError is DeLong's standard error of the arm's AUC, and
	// AUCLower, AUCUpper its 95 % interval (null where undefined: one
	// class, or fewer than two rows of a class).
	AUCStdError *float64 `json:"auc_std_error"`
	AUCLower    *float64 `json:"auc_ci95_lower"`
	AUCUpper    *float64 `json:"auc_ci95_upper"`
	// Reference marks the arm the others are compared with (ReferenceArm).
	Reference bool `json:"reference,omitempty"`
	// VsReference is AUC(arm) − AUC(reference) with its interval; nil
	// on the reference arm.
	VsReference *AUCDifference `json:"auc_vs_reference,omitempty"`
	// Scores is the arm's score distribution and its PSI against the
	// same arm's scores of the previous published date (armdrift.go).
	Scores *ArmScores `json:"scores,omitempty"`

	variance float64 // of the AUC
}

// ChampionArm is the arm name a canary gives the champion's rows.
const ChampionArm = "champion"

// ReferenceArm picks the arm the others are compared with: the arm named
// "champion" when there is one; else the arm whose model version is the
// manifest's model (the job's default model); else the first by name.
// arms are sorted by name.
func ReferenceArm(arms []Arm, defaultModel string) int {
	for i, a := range arms {
		if a.Arm == ChampionArm {
			return i
		}
	}
	for i, a := range arms {
		if a.ModelVersion == defaultModel {
			return i
		}
	}
	return 0
}

// measureArms measures every arm of the version's arm column and compares
// each with the reference arm; nil without an arm column.
func (e *evaluation) measureArms(j *joined) []Arm {
	if e.armSeg < 0 {
		return nil
	}
	c := e.segs[e.armSeg]
	groups := make([][]int, len(c.values))
	for i, id := range j.seg[e.armSeg] {
		groups[id] = append(groups[id], i)
	}
	arms := make([]Arm, len(c.values))
	for id, name := range c.values {
		arms[id] = e.armMetrics(j, groups[id], name, c.counted[id])
	}
	slices.SortFunc(arms, func(a, b Arm) int { return cmp.Compare(a.Arm, b.Arm) })
	ref := ReferenceArm(arms, modelName(e.m.Model, ChampionArm))
	arms[0], arms[ref] = arms[ref], arms[0]
	slices.SortFunc(arms[1:], func(a, b Arm) int { return cmp.Compare(a.Arm, b.Arm) })
	r := &arms[0]
	r.Reference = true
	for i := 1; i < len(arms); i++ {
		a := &arms[i]
		a.VsReference = CompareAUC(r.Arm, deref(a.AUC), a.variance, deref(r.AUC), r.variance, e.job.Outcomes.ArmMargin)
	}
	return arms
}

// armMetrics measures one arm's matched rows (idx); scored is the arm's
// rows in the version.
func (e *evaluation) armMetrics(j *joined, idx []int, name string, scored int64) Arm {
	rows := Rows{Score: make([]float64, len(idx)), Label: make([]bool, len(idx))}
	for k, i := range idx {
		rows.Score[k], rows.Label[k] = j.score[i], j.label[i]
	}
	a := Arm{Arm: name, Metrics: Metrics{RowsScored: scored, Labelled: int64(len(idx)), Matched: int64(len(idx))}}
	Compute(&a.Metrics, rows, e.job.OutcomeThreshold())
	a.ModelVersion = e.armModel(j, idx, name)
	_, a.variance = AUCDeLong(rows)
	if a.AUC != nil {
		se := math.Sqrt(a.variance)
		if a.AUCStdError = num(se); a.AUCStdError != nil {
			a.AUCLower, a.AUCUpper = num(*a.AUC-z95*se), num(*a.AUC+z95*se)
		}
	}
	return a
}

// armModel is the model version of most of the arm's matched rows (their
// model_version column); without one, the manifest's champion or
// challenger for the canary's arms, else "".
func (e *evaluation) armModel(j *joined, idx []int, name string) string {
	if e.mvSeg >= 0 && len(idx) > 0 {
		c := e.segs[e.mvSeg]
		n := make([]int, len(c.values))
		for _, i := range idx {
			n[j.seg[e.mvSeg][i]]++
		}
		best := 0
		for id := range n {
			if n[id] > n[best] {
				best = id
			}
		}
		return c.values[best]
	}
	switch {
	case name == ChampionArm:
		return modelName(e.m.Model, ChampionArm)
	case name == "challenger" && e.m.Challenger != nil:
		return modelName(e.m.Challenger.Model, "challenger")
	}
	return ""
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// armGate is the gate's reasons about the arms: each arm worse than the
// reference by more than outcomes.arm_margin.
func armGate(arms []Arm) []string {
	var out []string
	for _, a := range arms {
		d := a.VsReference
		if d == nil || d.Worse == nil || !*d.Worse {
			continue
		}
		out = append(out, fmt.Sprintf("arm %q (%s): AUC %.4f is %.4f below arm %q's (95 %% interval %.4f to %.4f, wholly below −arm_margin %g)",
			a.Arm, a.ModelVersion, *a.AUC, -*d.Difference, d.Reference, *d.Lower, *d.Upper, *d.Margin))
	}
	return out
}
