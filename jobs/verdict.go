package jobs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// verdict is what the checks concluded about a snapshot.
type verdict struct {
	result     validate.Result
	today      *profile.Profile
	scores     *profile.Profile
	drift      []profile.ColumnDrift
	scoreDrift *profile.ColumnDrift
	breaches   []string // of the gate: rules, table rules, drift
	warnings   []string
	partial    bool // the run stopped before the checks saw every row
}

// conclude runs the table rules, the quality gate and the drift checks.
// It always returns the verdict; the error wraps validate.ErrGate and
// lists every breach.
func (c *checks) conclude(prevRows int64, scored bool) (*verdict, error) {
	v := &verdict{today: c.snapshot.Profile(), warnings: slices.Clone(c.warnings)}
	res, gateErr := c.summary.Finish(prevRows)
	v.result = res
	v.warnings = append(v.warnings, res.Warnings...)
	if gateErr != nil && !errors.Is(gateErr, validate.ErrGate) {
		return v, gateErr // could not check: a failure to retry, not bad data
	}
	breaches := append([]string(nil), res.Breaches...)
	thresholds := c.job.Validation.Drift
	// Drift of no rows is no measurement: an empty snapshot (or one whose
	// every row was quarantined) fails on its row count, not on a PSI.
	if c.baseline != nil && v.today.Rows > 0 {
		v.drift = profile.Compare(c.baseline, v.today)
		for _, d := range v.drift {
			v.check(&breaches, thresholds.FeaturePSI, d.PSI, "PSI of "+d.Column)
			v.check(&breaches, thresholds.OutOfRange, d.OutOfRange, "share of "+d.Column+" outside the training range")
		}
	}
	if scored {
		v.scores = c.scores.Profile()
		if c.previous != nil && c.previous.Scores != nil && v.scores.Rows > 0 {
			if d, ok := profile.ScoreDrift(c.previous.Scores, v.scores, "score"); ok {
				v.scoreDrift = &d
				v.check(&breaches, thresholds.ScorePSI, d.PSI, "PSI of the scores against the previous run")
			}
		}
	}
	v.breaches = breaches
	if len(breaches) > 0 {
		return v, fmt.Errorf("%w: %s", validate.ErrGate, strings.Join(breaches, "; "))
	}
	return v, nil
}

// stopped is the verdict of a run that failed while the checks streamed:
// what they counted so far, for the report and manifest to say. The table
// rules and the gate judge whole snapshots and are not run: a row count
// of the rows read before the stop is not the snapshot's.
func (c *checks) stopped() *verdict {
	res := c.summary.Partial()
	return &verdict{today: c.snapshot.Profile(), result: res, warnings: slices.Clone(c.warnings), partial: true}
}

// nullKeys is the unique rule's count of rows with a null key, nil
// without a unique rule.
func (v *verdict) nullKeys() *int64 {
	for _, t := range v.result.Table {
		if t.NullKeys != nil {
			return t.NullKeys
		}
	}
	return nil
}

// check records a warning above t.Warn and a breach above t.Gate (a gate
// of 0 never fires).
func (v *verdict) check(breaches *[]string, t spec.Threshold, value float64, what string) {
	switch {
	case t.Gate > 0 && value > t.Gate:
		got, gate := numfmt.Pair(value, t.Gate)
		*breaches = append(*breaches, fmt.Sprintf("%s is %s, above the gate %s", what, got, gate))
	case t.Warn > 0 && value > t.Warn:
		got, warn := numfmt.Pair(value, t.Warn)
		v.warnings = append(v.warnings, fmt.Sprintf("%s is %s, above the warning level %s", what, got, warn))
	}
}
