package jobs

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// jobBaseline is the job's baseline profile (nil without one) and the
// warnings its columns gave: model inputs whose drift is only warned about
// and that it does not cover.
type jobBaseline struct {
	profile  *profile.Profile
	warnings []string
}

// openBaseline reads the job's baseline, once, and holds it to what the
// job takes from it, before the snapshot is opened: a drift gate, an
// impute rule or review.out_of_range that would find nothing there is a
// job-file error (exit 2), not a gate that silently never fires.
func (e *execution) openBaseline() (*jobBaseline, error) {
	if e.baseline != nil {
		return e.baseline, nil
	}
	job := e.req.Job
	b := &jobBaseline{}
	if path := job.Validation.Baseline; path != "" {
		p, err := profile.Load(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: validation.baseline: %v", spec.ErrInvalid, job.File, err)
		}
		warnings, err := checkBaseline(job, p)
		if err != nil {
			return nil, err
		}
		for _, w := range warnings {
			e.log.Warn("baseline", "warning", w)
		}
		b.profile, b.warnings = p, warnings
	}
	e.baseline = b
	return b, nil
}

// checkBaseline says what the job needs from the baseline p and does not
// find: an error naming the job file, the baseline and every missing
// column, or warnings for the model inputs whose drift is warned about
// only. Baseline columns the job does not use (a training label) are fine.
func checkBaseline(job *spec.Job, p *profile.Profile) (warnings []string, err error) {
	v := job.Validation
	inputs := modelColumns(job)
	var missing []string // model inputs drift cannot compare
	for _, c := range inputs {
		if !comparable(p.Column(c)) {
			missing = append(missing, c)
		}
	}
	var problems []string
	gates := driftGates(v.Drift)
	imputes := false
	switch {
	case len(missing) > 0 && len(gates) > 0:
		problems = append(problems, fmt.Sprintf("the drift gates (%s) need every model input, and it has no profile of %s: profile them, or set the gates to 0",
			strings.Join(gates, ", "), quoteList(missing)))
	case len(missing) > 0:
		warnings = append(warnings, fmt.Sprintf("baseline %s has no profile of the model inputs %s: their drift is not measured", v.Baseline, quoteList(missing)))
	}
	for i, r := range v.Rules {
		if r.Impute == nil || r.Impute.From == "" {
			continue
		}
		imputes = true
		ok := false
		if r.Impute.From == "median" {
			_, ok = p.Median(r.Column)
		} else {
			_, ok = p.Mode(r.Column)
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("validation.rules[%d] (%s) imputes the %s of %q, and it has no %s of that column%s",
				i, r.RuleName(), r.Impute.From, r.Column, r.Impute.From, absentNote(p, r.Column)))
		}
	}
	if rv := job.Review; rv != nil && rv.OutOfRange {
		var noRange []string
		for _, c := range inputs {
			if col := p.Column(c); col == nil || (numericProfile(col) && (col.Min == nil || col.Max == nil)) {
				noRange = append(noRange, c)
			}
		}
		if len(noRange) > 0 {
			problems = append(problems, fmt.Sprintf("review.out_of_range needs the training range of every model input, and it has none for %s", quoteList(noRange)))
		}
	}
	if len(problems) == 0 && len(inputs) > 0 && len(missing) == len(inputs) && !imputes {
		problems = append(problems, fmt.Sprintf("it shares no column with the model inputs (%s), so drift would compare nothing: profile the training data of this model",
			quoteList(inputs)))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s: validation.baseline %s: %s", spec.ErrInvalid, job.File, v.Baseline, strings.Join(problems, "; "))
	}
	return warnings, nil
}

// driftGates lists the drift gates that compare columns with the
// baseline (the score's is against the previous run).
func driftGates(d spec.Drift) []string {
	var out []string
	if d.FeaturePSI.Gate > 0 {
		out = append(out, "feature_psi.gate "+numfmt.Threshold(d.FeaturePSI.Gate))
	}
	if d.OutOfRange.Gate > 0 {
		out = append(out, "out_of_range.gate "+numfmt.Threshold(d.OutOfRange.Gate))
	}
	return out
}

// comparable reports whether drift can be measured on a baseline column:
// a numeric one needs its histogram, a categorical one values.
func comparable(c *profile.Column) bool {
	switch {
	case c == nil:
		return false
	case numericProfile(c):
		h := c.Histogram
		return h != nil && len(h.Edges) >= 2 && len(h.Counts) == len(h.Edges)-1
	}
	return c.Count > 0
}

func numericProfile(c *profile.Column) bool {
	switch c.Type {
	case profile.TypeInt, profile.TypeFloat, profile.TypeDate, profile.TypeTimestamp:
		return true
	}
	return false
}

// numericArrow is what the profile counts as numeric, for an Arrow type.
func numericArrow(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64, arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

// checkBaselineTypes holds the model inputs the baseline profiles to the
// snapshot's types, once its schema is known (before any row is read): a
// numeric column profiled as text, or the other way round, cannot be
// compared and would drop out of drift without a word.
func checkBaselineTypes(job *spec.Job, p *profile.Profile, schema *arrow.Schema) error {
	if p == nil {
		return nil
	}
	var bad []string
	for _, c := range modelColumns(job) {
		col, idx := p.Column(c), schema.FieldIndices(c)
		if col == nil || len(idx) == 0 {
			continue
		}
		if t := schema.Field(idx[0]).Type; numericProfile(col) != numericArrow(t) {
			bad = append(bad, fmt.Sprintf("%q is %s in the baseline and %s in the snapshot", c, col.Type, t))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s: validation.baseline %s does not describe this data: %s", spec.ErrInvalid, job.File, job.Validation.Baseline, strings.Join(bad, "; "))
	}
	return nil
}

func absentNote(p *profile.Profile, column string) string {
	if p.Column(column) == nil {
		return " (no such column)"
	}
	return ""
}

// quoteList quotes names and joins them: "a", "b", "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
