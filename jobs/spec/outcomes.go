package spec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Outcomes says where the truth for a date's scores arrives and how
// `batchscore outcomes` measures the scores against it (jobs/outcomes).
type Outcomes struct {
	Labels LabelSource `yaml:"labels"`
	// Label is the outcome column: 0/1, boolean, or strings with Positive.
	Label string `yaml:"label" kind:"column"`
	// Positive is the string that means 1; Negative, when set, the one
	// that means 0 (any other value is refused). Without Negative, a
	// string column may hold Positive and one other value.
	Positive string `yaml:"positive" kind:"text"`
	Negative string `yaml:"negative" kind:"text"`
	// Keys join the labels to the scored rows; default output.keys.
	Keys []string `yaml:"keys" kind:"column"`
	// Horizon is how long after a score date its labels are complete:
	// "30d", "12h". serve evaluates a date once it has passed.
	Horizon string `yaml:"horizon" kind:"text"`
	// Threshold makes a score a predicted positive (score >= threshold)
	// for the confusion counts; default the review band's low edge, or 0.5.
	Threshold *float64 `yaml:"threshold" range:","`
	// Segments are label or result-table columns whose values get
	// metrics of their own.
	Segments []string      `yaml:"segments" kind:"column"`
	Gate     *OutcomesGate `yaml:"gate"`
	// ArmMargin: an arm whose AUC is worse than the reference arm's by
	// more than this (the 95 % interval's upper bound of the difference
	// below -ArmMargin) is reported worse, and fails a configured gate.
	ArmMargin *float64 `yaml:"arm_margin" range:"0,1"`
}

// LabelSource is a Parquet glob ({{ .Date }} is the score date) or a SQL
// query whose :date is the score date.
type LabelSource struct {
	Parquet string    `yaml:"parquet" kind:"path"`
	SQL     *LabelSQL `yaml:"sql"`
}

// LabelSQL is a query for the labels; the DSN comes from the environment
// or a file, as the snapshot's.
type LabelSQL struct {
	Driver  string   `yaml:"driver" kind:"enum"`
	DSNEnv  string   `yaml:"dsn_env" kind:"text"`
	DSNFile string   `yaml:"dsn_file" kind:"path"`
	Query   string   `yaml:"query" kind:"text"`
	Timeout Duration `yaml:"timeout" kind:"duration"`
	Decimal string   `yaml:"decimal" kind:"enum"`
}

// OutcomesGate fails an evaluation (exit 3) whose AUC is under AUCMin, or
// more than AUCDrop under the AUC of the first date evaluated.
type OutcomesGate struct {
	AUCMin  *float64 `yaml:"auc_min" range:"0,1"`
	AUCDrop *float64 `yaml:"auc_drop" range:"0,1"`
}

// DefaultOutcomeThreshold is the confusion threshold without a review band.
const DefaultOutcomeThreshold = 0.5

// OutcomeThreshold is outcomes.threshold, else the review band's low
// edge, else 0.5.
func (j *Job) OutcomeThreshold() float64 {
	if o := j.Outcomes; o != nil && o.Threshold != nil {
		return *o.Threshold
	}
	if r := j.Review; r != nil && len(r.Band) == 2 {
		return r.Band[0]
	}
	return DefaultOutcomeThreshold
}

// OutcomeKeys is outcomes.keys or output.keys.
func (j *Job) OutcomeKeys() []string {
	if o := j.Outcomes; o != nil && len(o.Keys) > 0 {
		return o.Keys
	}
	return j.Output.Keys
}

// LabelsPattern fills the labels glob's template for a score date.
func (j *Job) LabelsPattern(date time.Time) (string, error) {
	return expandDate(j.Outcomes.Labels.Parquet, date)
}

var horizonText = regexp.MustCompile(`^([0-9]+)d$`)

// ParseHorizon reads "30d" (days) or a Go duration such as "12h".
func ParseHorizon(s string) (time.Duration, error) {
	if m := horizonText.FindStringSubmatch(s); m != nil {
		days, err := strconv.Atoi(m[1])
		if err != nil || days > 100*366 {
			return 0, fmt.Errorf("%q: too many days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a horizon such as 30d or 12h", s)
	}
	return d, nil
}

// HorizonDuration is outcomes.horizon, checked by Load.
func (o *Outcomes) HorizonDuration() time.Duration {
	d, _ := ParseHorizon(o.Horizon)
	return d
}

func (j *Job) checkOutcomes(bad func(string, ...any) func(...string) error) error {
	o := j.Outcomes
	if o == nil {
		return nil
	}
	switch l := o.Labels; {
	case l.Parquet == "" && l.SQL == nil:
		return bad("set parquet (a file glob such as labels/date={{ .Date }}/*.parquet) or sql")("outcomes", "labels")
	case l.Parquet != "" && l.SQL != nil:
		return bad("set parquet or sql, not both")("outcomes", "labels")
	case l.SQL != nil:
		q := l.SQL
		if err := checkDSN(bad, q.Driver, q.DSNEnv, q.DSNFile, "outcomes", "labels", "sql"); err != nil {
			return err
		}
		if strings.TrimSpace(q.Query) == "" {
			return bad("is required")("outcomes", "labels", "sql", "query")
		}
		if q.Decimal != "" && q.Decimal != "float64" && q.Decimal != "decimal" {
			return bad("%q is not float64 or decimal", q.Decimal)("outcomes", "labels", "sql", "decimal")
		}
	default:
		if _, err := expandDate(l.Parquet, time.Date(2000, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
			return bad("%v", err)("outcomes", "labels", "parquet")
		}
	}
	if o.Label == "" {
		return bad("is required: the column holding the outcome")("outcomes", "label")
	}
	if o.Negative != "" && o.Positive == "" {
		return bad("needs positive: the value that means 1")("outcomes", "negative")
	}
	if o.Negative != "" && o.Negative == o.Positive {
		return bad("%q is also positive", o.Negative)("outcomes", "negative")
	}
	if len(o.Keys) == 0 && len(j.Output.Keys) == 0 {
		return bad("the labels are joined by key: set outcomes.keys or output.keys")("outcomes", "keys")
	}
	if err := checkDistinct(bad, o.Keys, "outcomes", "keys"); err != nil {
		return err
	}
	if err := checkDistinct(bad, o.Segments, "outcomes", "segments"); err != nil {
		return err
	}
	if o.Horizon == "" {
		return bad("is required: how long after a score date its labels are complete, e.g. 30d")("outcomes", "horizon")
	}
	if _, err := ParseHorizon(o.Horizon); err != nil {
		return bad("%v", err)("outcomes", "horizon")
	}
	if g := o.Gate; g != nil && g.AUCMin == nil && g.AUCDrop == nil && o.ArmMargin == nil {
		return bad("set auc_min, auc_drop or both (or outcomes.arm_margin to gate on the arms alone)")("outcomes", "gate")
	}
	return nil
}

func checkDistinct(bad func(string, ...any) func(...string) error, cols []string, at ...string) error {
	seen := map[string]bool{}
	for i, c := range cols {
		if seen[c] {
			return bad("%q is listed twice", c)(append(at, fmt.Sprintf("[%d]", i+1))...)
		}
		seen[c] = true
	}
	return nil
}
