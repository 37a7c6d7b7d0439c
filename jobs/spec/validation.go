package spec

import (
	"fmt"
	"regexp"
	"slices"
)

// Validation is the job file's validation section: per-column rules,
// table-level rules, the quality gate, and drift against a baseline.
type Validation struct {
	// MaxInvalidFraction is the quality gate over all rows: above it the
	// run fails with exit 3 and nothing is published.
	MaxInvalidFraction float64                 `yaml:"max_invalid_fraction" range:"0,1"`
	ExtraColumns       string                  `yaml:"extra_columns" kind:"enum"` // ignore or reject
	Columns            map[string]ColumnSchema `yaml:"columns" keys:"column"`
	Rules              []Rule                  `yaml:"rules"`
	Table              TableRules              `yaml:"table"`
	Baseline           string                  `yaml:"baseline" kind:"path"` // profile JSON from `batchscore profile`
	Drift              Drift                   `yaml:"drift"`
	// SampleRows caps the offending rows shown per rule in the report.
	SampleRows int `yaml:"sample_rows" range:"0,10000"`
}

// ColumnSchema declares what a column must be.
type ColumnSchema struct {
	Type     string `yaml:"type" kind:"enum"` // int, float, bool, string, date, timestamp; empty: any
	Required *bool  `yaml:"required"`         // default true for declared columns
	PII      bool   `yaml:"pii"`              // masked in reports and samples
}

// Rule is one per-row check on one column, with what to do about a row
// that fails it.
type Rule struct {
	Name   string `yaml:"name" kind:"text"` // the reason code; default <check>:<column>
	Column string `yaml:"column" kind:"column"`
	Check  string `yaml:"check" kind:"enum"` // not_null, range, finite, allowed, length, pattern, date_range
	// range: bounds, inclusive. NaN is in no range: it fails, unless
	// AllowNaN lets it pass (for a finite rule to decide about).
	Min      *float64 `yaml:"min" range:","`
	Max      *float64 `yaml:"max" range:","`
	AllowNaN bool     `yaml:"allow_nan"`
	// allowed: the set of values, written as text.
	Values []string `yaml:"values" kind:"text"`
	// length: bounds on a string's length in characters.
	MinLength *int `yaml:"min_length" range:"0,"`
	MaxLength *int `yaml:"max_length" range:"0,"`
	// pattern: a regular expression the whole string must match.
	Pattern string `yaml:"pattern" kind:"text"`
	// date_range: bounds relative to the logical date, in days.
	MaxDaysAfter  *int `yaml:"max_days_after" range:"0,1000000"`  // 0: not after the logical date
	MaxDaysBefore *int `yaml:"max_days_before" range:"0,1000000"` // e.g. 36500: not older than a century
	// Action: reject (default), impute, clip, warn or fail.
	Action string  `yaml:"action" kind:"enum"`
	Impute *Impute `yaml:"impute"`
	// MaxInvalidFraction gates this rule on its own.
	MaxInvalidFraction *float64 `yaml:"max_invalid_fraction" range:"0,1"`
}

// Impute says what replaces a value that fails an impute rule.
type Impute struct {
	Value *string `yaml:"value" kind:"text"` // a constant, written as text
	From  string  `yaml:"from" kind:"enum"`  // median or mode of the baseline
}

// TableRules are checked over the whole snapshot.
type TableRules struct {
	MinRows *int64 `yaml:"min_rows" range:"0,"`
	MaxRows *int64 `yaml:"max_rows" range:"0,"`
	// MaxRowChangePct bounds the change against the previous successful run.
	MaxRowChangePct *float64   `yaml:"max_row_change_pct" range:"0,"`
	Unique          []string   `yaml:"unique" kind:"column"`
	Freshness       *Freshness `yaml:"freshness"`
}

// Freshness bounds the age of the newest value of a date column, over
// the rows that pass the rules.
type Freshness struct {
	Column     string `yaml:"column" kind:"column"`
	MaxAgeDays int    `yaml:"max_age_days" range:"0,1000000"`
	// MaxDaysAhead, when set, fails the gate on a newest value more than
	// this many days after the logical date; unset, such a date is a
	// warning.
	MaxDaysAhead *int `yaml:"max_days_ahead" range:"0,1000000"`
}

// Drift sets thresholds; 0 means "never" for a gate.
type Drift struct {
	FeaturePSI Threshold `yaml:"feature_psi"`
	OutOfRange Threshold `yaml:"out_of_range"` // share of values outside the training range
	ScorePSI   Threshold `yaml:"score_psi"`    // against the previous successful run
}

// Threshold warns above Warn and fails the run (exit 3) above Gate.
type Threshold struct {
	Warn float64 `yaml:"warn" range:"0,"`
	Gate float64 `yaml:"gate" range:"0,"`
}

// Checks and actions.
var (
	RuleChecks  = []string{"not_null", "range", "finite", "allowed", "length", "pattern", "date_range"}
	RuleActions = []string{"reject", "impute", "clip", "warn", "fail"}
	ColumnTypes = []string{"", "int", "float", "bool", "string", "date", "timestamp"}
)

// Validation defaults.
const (
	DefaultMaxInvalidFraction = 0.01
	DefaultSampleRows         = 20
)

func defaultValidation() Validation {
	return Validation{
		MaxInvalidFraction: DefaultMaxInvalidFraction,
		ExtraColumns:       "ignore",
		SampleRows:         DefaultSampleRows,
		Drift: Drift{
			FeaturePSI: Threshold{Warn: 0.1, Gate: 0.25},
			OutOfRange: Threshold{Warn: 0.01},
			ScorePSI:   Threshold{Warn: 0.1},
		},
	}
}

// imputeFromMismatch says why impute.from cannot fill a column of the
// declared type ("" when it can or the type is not declared): the
// baseline keeps a mode of string and bool columns only, and a median of
// numeric ones.
func imputeFromMismatch(from, declared string) string {
	numeric := declared == "int" || declared == "float" || declared == "date" || declared == "timestamp"
	switch {
	case from == "mode" && numeric:
		return "impute.from: mode takes the baseline's most frequent value, which it keeps for string and bool columns only; use impute.from: median (the baseline's p50) or impute.value"
	case from == "median" && (declared == "string" || declared == "bool"):
		return "impute.from: median applies to numeric columns; use impute.from: mode or impute.value"
	}
	return ""
}

// RuleName is a rule's reason code.
func (r Rule) RuleName() string {
	if r.Name != "" {
		return r.Name
	}
	return r.Check + ":" + r.Column
}

func (v *Validation) check(bad func(string, ...any) func(...string) error) error {
	at := func(path ...string) []string { return append([]string{"validation"}, path...) }
	if v.ExtraColumns != "ignore" && v.ExtraColumns != "reject" {
		return bad("%q is not ignore or reject", v.ExtraColumns)(at("extra_columns")...)
	}
	for name, c := range v.Columns {
		if !slices.Contains(ColumnTypes, c.Type) {
			return bad("type %q is not one of %v", c.Type, ColumnTypes[1:])(at("columns", name, "type")...)
		}
	}
	seen := map[string]bool{}
	for i, r := range v.Rules {
		key := at("rules", fmt.Sprintf("[%d]", i+1))
		if err := r.check(i, bad, key); err != nil {
			return err
		}
		if seen[r.RuleName()] {
			return bad("rule %d: reason code %q is used twice: give one a name", i+1, r.RuleName())(key...)
		}
		seen[r.RuleName()] = true
	}
	if f := v.Table.Freshness; f != nil && f.Column == "" {
		return bad("needs a column")(at("table", "freshness")...)
	}
	for i, r := range v.Rules {
		if r.Impute == nil || r.Impute.From == "" {
			continue
		}
		key := at("rules", fmt.Sprintf("[%d]", i+1), "impute", "from")
		if v.Baseline == "" {
			return bad("rule %s imputes from the baseline: set validation.baseline", r.RuleName())(key...)
		}
		if msg := imputeFromMismatch(r.Impute.From, v.Columns[r.Column].Type); msg != "" {
			return bad("rule %d (%s): column %q is declared %s in validation.columns: %s", i+1, r.RuleName(), r.Column, v.Columns[r.Column].Type, msg)(key...)
		}
	}
	return nil
}

func (r Rule) check(i int, bad func(string, ...any) func(...string) error, key []string) error {
	// failAt names the rule's key field, so that the line is the field's.
	failAt := func(field []string, format string, args ...any) error {
		return bad("rule %d (%s): %s", i+1, r.RuleName(), fmt.Sprintf(format, args...))(append(slices.Clone(key), field...)...)
	}
	fail := func(format string, args ...any) error { return failAt(nil, format, args...) }
	switch {
	case r.Column == "":
		return fail("column is required")
	case !slices.Contains(RuleChecks, r.Check):
		return failAt([]string{"check"}, "check %q is not one of %v", r.Check, RuleChecks)
	case r.Action != "" && !slices.Contains(RuleActions, r.Action):
		return failAt([]string{"action"}, "action %q is not one of %v", r.Action, RuleActions)
	}
	switch r.Check {
	case "range":
		if r.Min == nil && r.Max == nil {
			return fail("range needs min, max or both")
		}
		if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
			return failAt([]string{"min"}, "min %v is above max %v", *r.Min, *r.Max)
		}
	case "allowed":
		if len(r.Values) == 0 {
			return fail("allowed needs values")
		}
	case "length":
		if r.MinLength == nil && r.MaxLength == nil {
			return fail("length needs min_length, max_length or both")
		}
		if r.MinLength != nil && r.MaxLength != nil && *r.MinLength > *r.MaxLength {
			return failAt([]string{"min_length"}, "min_length %d is above max_length %d", *r.MinLength, *r.MaxLength)
		}
	case "pattern":
		if _, err := regexp.Compile(r.Pattern); err != nil || r.Pattern == "" {
			return failAt([]string{"pattern"}, "pattern %q is not a regular expression", r.Pattern)
		}
	case "date_range":
		if r.MaxDaysAfter == nil && r.MaxDaysBefore == nil {
			return fail("date_range needs max_days_after, max_days_before or both")
		}
	}
	if r.AllowNaN && r.Check != "range" {
		return failAt([]string{"allow_nan"}, "allow_nan applies to range checks only")
	}
	switch r.Action {
	case "clip":
		if r.Check != "range" {
			return fail("clip works only with a range check")
		}
	case "impute":
		if r.Impute == nil || (r.Impute.Value == nil) == (r.Impute.From == "") {
			return fail("impute needs exactly one of impute.value or impute.from")
		}
		if r.Impute.From != "" && r.Impute.From != "median" && r.Impute.From != "mode" {
			return failAt([]string{"impute", "from"}, "impute.from %q is not median or mode", r.Impute.From)
		}
	}
	return nil
}
