package spec

import (
	"math"
	"regexp"
	"strconv"
)

// Arms is an A/B test: two or more models, each publishing its scores
// for a stable share of the keys (the same salted key hash as a canary's,
// mapped to the arms by their cumulative shares in the order listed). The
// default arm is the champion: its model is the job's model (arms:
// replaces model:), the one a failing arm's rows fall back to.
type Arms struct {
	// Salt seeds the assignment: the same salt, arms and shares keep the
	// same keys in each arm.
	Salt string `yaml:"salt" kind:"text"`
	// Default names the champion's arm; empty: the first.
	Default string `yaml:"default" kind:"text"`
	Models  []Arm  `yaml:"models"`
}

// Arm is one model of an A/B test and its share of the keys.
type Arm struct {
	// Arm is the arm's name, the value of the result rows' arm column.
	Arm   string   `yaml:"arm" kind:"text"`
	Share *float64 `yaml:"share" range:"0,1"`
	Model `yaml:",inline"`
}

// shareSumTolerance is how far the arms' shares may sum from 1.
const shareSumTolerance = 1e-9

var armName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$`)

// DefaultArm is the index of the champion's arm in Models.
func (a *Arms) DefaultArm() int {
	for i, m := range a.Models {
		if m.Arm == a.Default {
			return i
		}
	}
	return 0
}

// ModelKey is the job-file key of the champion's section: model, or the
// default arm's item under arms.models.
func (j *Job) ModelKey() string {
	if j.Arms == nil {
		return "model"
	}
	return "arms.models.[" + strconv.Itoa(j.Arms.DefaultArm()+1) + "]"
}

// checkArms holds an A/B test to its rules and makes the default arm's
// model the job's model. arms: refuses what it cannot honour: model:
// beside it (which model would be the champion?), a challenger (a canary
// and arms would both decide which model a key gets), explanations (they
// explain model: only, not the score another arm published).
func (j *Job) checkArms(bad func(string, ...any) func(...string) error, hasModel bool) error {
	a := j.Arms
	if a == nil {
		return nil
	}
	switch {
	case hasModel:
		return bad("arms: replaces model: (the default arm is the champion); remove model:")("model")
	case j.Challenger != nil:
		return bad("arms: and challenger: both decide which model publishes a key's score; use one (a canary is challenger.rollout)")("challenger")
	case j.Explain != nil:
		return bad("explain: explains the champion's scores, and with arms: other arms publish theirs; remove explain:")("explain")
	case a.Salt == "":
		return bad("give a salt, e.g. churn-ab-2026-12: it keeps the same keys in each arm")("arms", "salt")
	case len(a.Models) < 2:
		return bad("list two or more models, each with arm, share and path or registry")("arms", "models")
	}
	seen := map[string]bool{}
	sum := 0.0
	for i, m := range a.Models {
		at := []string{"arms", "models", "[" + strconv.Itoa(i+1) + "]"}
		key := func(k string) []string { return append(append([]string(nil), at...), k) }
		switch {
		case !armName.MatchString(m.Arm):
			return bad("arm %q: name each arm with letters, digits, '_', '.' and '-' (it is the arm column's value)", m.Arm)(key("arm")...)
		case seen[m.Arm]:
			return bad("arm %q is listed twice", m.Arm)(key("arm")...)
		case m.Share == nil:
			return bad("give the arm's share of the keys, from 0 to 1; the shares sum to 1")(key("share")...)
		}
		seen[m.Arm] = true
		sum += *m.Share
		if err := checkModel(bad, m.Model, at...); err != nil {
			return err
		}
		if (m.Label == nil) != (a.Models[0].Label == nil) {
			return bad("every arm publishes a label, or none does: give label to all arms or to none")(key("label")...)
		}
	}
	if math.Abs(sum-1) > shareSumTolerance {
		return bad("the arms' shares sum to %s, not 1", strconv.FormatFloat(sum, 'g', -1, 64))("arms", "models")
	}
	if a.Default != "" && !seen[a.Default] {
		return bad("%q is not one of the arms", a.Default)("arms", "default")
	}
	j.Model = a.Models[a.DefaultArm()].Model
	return nil
}
