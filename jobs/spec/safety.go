package spec

// Challenger is a second model scored on the same valid rows in the same
// pass. Its scores go to a shadow table, never into the published scores.
type Challenger struct {
	Model `yaml:",inline"`
	// Threshold is where a score becomes a decision; the report counts
	// the rows whose decision the challenger would flip. Default 0.5.
	Threshold *float64 `yaml:"threshold" range:","`
	// Rollout publishes the challenger's scores for a stable share of
	// the keys (a canary); nil publishes the champion's only.
	Rollout *Rollout `yaml:"rollout"`
}

// Rollout is a canary: the keys whose salted hash falls below Share get
// the challenger's score (see route.InCanary for the exact rule).
type Rollout struct {
	Share *float64 `yaml:"share" range:"0,1"`
	// Salt seeds the assignment: the same salt keeps the same keys.
	Salt string `yaml:"salt" kind:"text"`
}

// DefaultThreshold is a challenger's decision threshold when unset.
const DefaultThreshold = 0.5

// DecisionThreshold is the configured threshold or the default.
func (c *Challenger) DecisionThreshold() float64 {
	if c.Threshold == nil {
		return DefaultThreshold
	}
	return *c.Threshold
}

// Fallback kinds.
const (
	FallbackCarryForward = "carry_forward"
	FallbackConstant     = "constant"
	FallbackModel        = "model"
)

// Fallback says what a row gets when the model cannot score it: the model
// failed to load, a chunk's inference failed, or its score is NaN.
type Fallback struct {
	Kind string `yaml:"kind" kind:"enum"`
	// Value is the constant; for carry_forward, what a key with no
	// earlier score gets (unset: such a row fails the run).
	Value *float64 `yaml:"value" range:","`
	Model *Model   `yaml:"model"`
	// MaxFraction gates the run: more fallback rows than this share of
	// the valid rows and nothing is published (exit 3).
	MaxFraction *float64 `yaml:"max_fallback_fraction" range:"0,1"`
}

// DefaultMaxFallbackFraction gates a run when max_fallback_fraction is unset.
const DefaultMaxFallbackFraction = 0.1

// Limit is the configured max_fallback_fraction or the default.
func (f *Fallback) Limit() float64 {
	if f.MaxFraction == nil {
		return DefaultMaxFallbackFraction
	}
	return *f.MaxFraction
}

// Source is what score_source says for a row this fallback scored.
func (f *Fallback) Source() string { return "fallback:" + f.Kind }

// Review routes uncertain rows to a review table; they are still scored
// and published.
type Review struct {
	// Band is an uncertainty band [low, high], edges included.
	Band []float64 `yaml:"band" range:","`
	// MinConfidence sends rows whose top-class probability is under it.
	MinConfidence float64 `yaml:"min_confidence" range:"0,1"`
	// OutOfRange sends rows with a feature outside the baseline's range.
	OutOfRange bool `yaml:"out_of_range"`
}

func (j *Job) checkSafety(bad func(string, ...any) func(...string) error) error {
	if c := j.Challenger; c != nil {
		if err := checkModel(bad, c.Model, "challenger"); err != nil {
			return err
		}
		if err := checkRollout(bad, j.Model, c); err != nil {
			return err
		}
	}
	if f := j.Fallback; f != nil {
		switch f.Kind {
		case FallbackConstant:
			if f.Value == nil {
				return bad("a constant fallback needs value")("fallback", "value")
			}
		case FallbackCarryForward:
		case FallbackModel:
			if f.Model == nil {
				return bad("a model fallback needs model: {path, inputs, score}")("fallback", "model")
			}
			if err := checkModel(bad, *f.Model, "fallback", "model"); err != nil {
				return err
			}
			if f.Model.Label != nil {
				return bad("a fallback model gives scores only")("fallback", "model", "label")
			}
		default:
			return bad("%q is not carry_forward, constant or model", f.Kind)("fallback", "kind")
		}
		if f.Kind != FallbackModel && f.Model != nil {
			return bad("only kind: model takes a model")("fallback", "model")
		}
	}
	if r := j.Review; r != nil {
		if r.Band != nil && (len(r.Band) != 2 || r.Band[0] > r.Band[1]) {
			return bad("give [low, high] with low <= high, e.g. [0.45, 0.55]")("review", "band")
		}
		if r.OutOfRange && j.Validation.Baseline == "" {
			return bad("needs validation.baseline: the training range comes from it")("review", "out_of_range")
		}
		if r.Band == nil && r.MinConfidence == 0 && !r.OutOfRange {
			return bad("set band, min_confidence or out_of_range")("review")
		}
	}
	return nil
}

// checkRollout: a canary needs its share and salt, and publishes a label
// exactly when the champion does; a shadow-only challenger writes scores.
func checkRollout(bad func(string, ...any) func(...string) error, champion Model, c *Challenger) error {
	r := c.Rollout
	if r == nil {
		if c.Label != nil {
			return bad("a challenger writes scores only (a label only with rollout)")("challenger", "label")
		}
		return nil
	}
	if r.Share == nil {
		return bad("give share, from 0 to 1, e.g. 0.05")("challenger", "rollout", "share")
	}
	if r.Salt == "" {
		return bad("give a salt, e.g. churn-2026-12: it keeps the same keys in the canary")("challenger", "rollout", "salt")
	}
	switch {
	case champion.Label != nil && c.Label == nil:
		return bad("model.label is set: canary rows publish the challenger's label, give challenger.label")("challenger", "label")
	case champion.Label == nil && c.Label != nil:
		return bad("model has no label: the canary publishes none")("challenger", "label")
	}
	return nil
}
