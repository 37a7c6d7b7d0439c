package spec

// Explain asks for per-row explanations published with the scores (see
// the README's "Reason codes"): the top reason codes of each explained
// row, and with Values every input's contribution.
type Explain struct {
	// Top is the number of reason codes per row (default 4).
	Top int `yaml:"top" range:"1,100"`
	// Direction is increase (the inputs that raise the score most) or
	// decrease (those that lower it most).
	Direction string `yaml:"direction" kind:"enum"`
	// Where explains only the rows whose score is in a range; nil: every
	// row the model scored.
	Where *ExplainWhere `yaml:"where"`
	// Covers is a tree model's node covers file (JSON).
	Covers string `yaml:"covers" kind:"path"`
	// Reasons is a CSV of column,code,text; a column without a line is
	// its own code.
	Reasons string `yaml:"reasons" kind:"path"`
	// Values also writes every input's contribution (shap_<column>).
	Values bool `yaml:"values"`
}

// ExplainWhere selects the explained rows by score, edges included.
type ExplainWhere struct {
	ScoreMin *float64 `yaml:"score_min" range:","`
	ScoreMax *float64 `yaml:"score_max" range:","`
}

// Directions of reason codes.
const (
	DirectionIncrease = "increase"
	DirectionDecrease = "decrease"
)

// Selects says whether a row of this score is explained.
func (w *ExplainWhere) Selects(score float64) bool {
	if w == nil {
		return true
	}
	return (w.ScoreMin == nil || score >= *w.ScoreMin) && (w.ScoreMax == nil || score <= *w.ScoreMax)
}

// checkExplain sets the explain section's defaults and checks it.
func (j *Job) checkExplain(bad func(string, ...any) func(...string) error) error {
	x := j.Explain
	if x == nil {
		return nil
	}
	if x.Top == 0 {
		x.Top = 4
	}
	switch x.Direction {
	case "":
		x.Direction = DirectionIncrease
	case DirectionIncrease, DirectionDecrease:
	default:
		return bad("%q is not increase or decrease", x.Direction)("explain", "direction")
	}
	if w := x.Where; w != nil {
		switch {
		case w.ScoreMin == nil && w.ScoreMax == nil:
			return bad("set score_min, score_max or both (or leave where out to explain every row)")("explain", "where")
		case w.ScoreMin != nil && w.ScoreMax != nil && *w.ScoreMin > *w.ScoreMax:
			return bad("score_min %v is above score_max %v", *w.ScoreMin, *w.ScoreMax)("explain", "where")
		}
	}
	return nil
}
