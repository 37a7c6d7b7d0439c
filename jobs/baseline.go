package jobs

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"gopkg.in/yaml.v3"

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
		var err error
		b, err = e.Reuse.baseline(job, path, func() (*jobBaseline, error) {
			p, err := profile.Load(path)
			if err != nil {
				return nil, baselineError(job, "%v", err)
			}
			warnings, err := checkBaseline(job, p)
			if err != nil {
				return nil, err
			}
			return &jobBaseline{profile: p, warnings: warnings}, nil
		})
		if err != nil {
			return nil, err
		}
		for _, w := range b.warnings {
			e.log.Warn("baseline", "warning", w)
		}
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
		problems = append(problems, fmt.Sprintf("the drift gates (%s) compare every model input with it, and it has no profile of %s: profile the training data of these columns, or set the gates to 0",
			strings.Join(gates, ", "), quoteList(missing)))
	case len(missing) > 0:
		warnings = append(warnings, fmt.Sprintf("baseline %s has no profile of the model inputs %s: their drift is not measured", v.Baseline, quoteList(missing)))
	}
	if v.Drift.FeaturePSI.Gate > 0 {
		// A gate on bins that cannot move is a gate that never fires.
		for _, c := range inputs {
			for _, w := range p.Column(c).BlindSpots() {
				warnings = append(warnings, fmt.Sprintf("baseline %s: %s (feature_psi.gate %s)", v.Baseline, w, numfmt.Threshold(v.Drift.FeaturePSI.Gate)))
			}
		}
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
			problems = append(problems, fmt.Sprintf("rule %d (%s) of validation.rules imputes the %s of %q, %s",
				i+1, r.RuleName(), r.Impute.From, r.Column, lacking(p, r.Column, r.Impute.From)))
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
		problems = append(problems, fmt.Sprintf("it shares no column with the model inputs (%s): drift would compare nothing; profile the training data of this model",
			quoteList(inputs)))
	}
	if len(problems) > 0 {
		return nil, baselineError(job, "%s does not serve this job: %s", v.Baseline, strings.Join(problems, "; "))
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
	cols := modelColumns(job)
	for _, r := range job.Validation.Rules {
		if r.Impute != nil && r.Impute.From != "" && !slices.Contains(cols, r.Column) {
			cols = append(cols, r.Column) // the imputed value comes from the baseline's profile of it
		}
	}
	for _, c := range cols {
		col, idx := p.Column(c), schema.FieldIndices(c)
		if col == nil || len(idx) == 0 {
			continue
		}
		if t := schema.Field(idx[0]).Type; numericProfile(col) != numericArrow(t) {
			bad = append(bad, fmt.Sprintf("%q is %s in the baseline and %s in the snapshot", c, col.Type, t))
		}
	}
	if len(bad) > 0 {
		return baselineError(job, "%s does not describe this snapshot: %s", job.Validation.Baseline, strings.Join(bad, "; "))
	}
	return nil
}

// baselineError is a job-file error about validation.baseline, naming
// the file and the key's line.
func baselineError(job *spec.Job, format string, args ...any) error {
	where := "validation.baseline"
	if line := keyLine(job.File, "validation", "baseline"); line > 0 {
		where = fmt.Sprintf("line %d: %s", line, where)
	}
	return fmt.Errorf("%w: %s: %s: %s", spec.ErrInvalid, job.File, where, fmt.Sprintf(format, args...))
}

// keyLine finds the line of a key path in a YAML file, 0 when it cannot.
func keyLine(file string, path ...string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return 0
	}
	n, line := root.Content[0], 0
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, n, found = n.Content[i].Line, n.Content[i+1], true
				break
			}
		}
		if !found {
			return 0
		}
	}
	return line
}

// lacking says why the baseline has no median or mode of a column.
func lacking(p *profile.Profile, column, what string) string {
	c := p.Column(column)
	switch {
	case c == nil:
		return "and it has no such column"
	case what == "median" && !numericProfile(c):
		return fmt.Sprintf("and it profiles that column as %s, which has no median", c.Type)
	case what == "mode" && numericProfile(c):
		return fmt.Sprintf("and it profiles that column as %s, which keeps no mode (impute.from: median does)", c.Type)
	}
	return fmt.Sprintf("and it has no %s of that column (no values)", what)
}

// quoteList quotes names and joins them: "a", "b", "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
