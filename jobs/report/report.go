package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Drift bands of the population stability index (PSI < 0.1 stable,
// 0.1–0.25 moderate, above 0.25 major).
const (
	BandStable   = "stable"
	BandModerate = "moderate"
	BandMajor    = "major"
)

// Masked replaces the value of a PII column wherever a report would show it.
const Masked = "***"

// Report is everything a person needs about one run's data: the books, the
// quality gate, every rule's result with sample offending rows, the
// per-column profiles and their drift against the baseline, and the score
// distribution against the previous run. It holds aggregates and capped
// samples only; it knows nothing of the packages that compute them.
//
// JSON and WriteHTML mask PII columns in place first (see Mask). Neither
// may run concurrently with the other, or with a change to the Report, until
// the Report has been masked once; after that both only read it.
type Report struct {
	Job         string    `json:"job"`
	LogicalDate string    `json:"logical_date"`
	Version     string    `json:"version"`
	RunID       string    `json:"run_id"`
	Status      string    `json:"status"`
	ExitCode    int       `json:"exit_code"`
	Error       string    `json:"error,omitempty"`
	GeneratedAt time.Time `json:"generated_at"`

	Books   Books          `json:"books"`
	Gate    Gate           `json:"gate"`
	Rules   []RuleResult   `json:"rules"`
	Table   []TableResult  `json:"table"`
	Columns []ColumnReport `json:"columns"`
	// Scores is nil when nothing was scored (batchscore validate).
	Scores *ScoreReport `json:"scores"`
	// Set when the job has a challenger, a fallback, a review queue.
	Challenger *Challenger `json:"challenger,omitempty"`
	Fallback   *Fallback   `json:"fallback,omitempty"`
	Review     *Review     `json:"review,omitempty"`
	// Rollout is the canary's or the A/B test's assignment, per arm.
	Rollout *RolloutView `json:"rollout,omitempty"`
	// Explain is the explanations' section (explain: in the job).
	Explain *Explanation `json:"explain,omitempty"`
	// NonFinite lists the model input columns that held NaN or infinite
	// values, which were scored as they were.
	NonFinite []NonFiniteInput `json:"non_finite_inputs,omitempty"`
	// PII names the columns whose values are masked.
	PII   []string `json:"pii"`
	Notes []string `json:"notes"`
}

// Books are the run's row counts: Read = Valid + Quarantined; imputed and
// clipped rows are valid rows that a rule changed.
type Books struct {
	Read        int64 `json:"read"`
	Valid       int64 `json:"valid"`
	Quarantined int64 `json:"quarantined"`
	Imputed     int64 `json:"imputed"`
	Clipped     int64 `json:"clipped"`
	Scored      int64 `json:"scored"`
	Fallback    int64 `json:"fallback"`
	Written     int64 `json:"written"`
}

// NonFiniteInput counts one column's non-finite model inputs.
type NonFiniteInput struct {
	Column        string `json:"column"`
	NaN           int64  `json:"nan"`
	PosInf        int64  `json:"pos_inf"`
	NegInf        int64  `json:"neg_inf"`
	BeyondFloat32 int64  `json:"beyond_float32"`
}

// Balanced reports whether read = valid + quarantined.
func (b Books) Balanced() bool { return b.Read == b.Valid+b.Quarantined }

// Gate is the quality gate's verdict.
type Gate struct {
	Passed             bool     `json:"passed"`
	MaxInvalidFraction float64  `json:"max_invalid_fraction"`
	InvalidFraction    float64  `json:"invalid_fraction"`
	Breaches           []string `json:"breaches"`
}

// RuleResult is one per-row rule over the whole snapshot.
type RuleResult struct {
	Name               string   `json:"name"` // the reason code
	Column             string   `json:"column"`
	Check              string   `json:"check"`
	Action             string   `json:"action"`
	Failed             int64    `json:"failed"`
	Fraction           float64  `json:"fraction"`
	MaxInvalidFraction *float64 `json:"max_invalid_fraction"`
	Passed             bool     `json:"passed"`
	Samples            []Sample `json:"samples"`
}

// Sample is one offending row: where it came from and its values as text.
type Sample struct {
	File   string            `json:"file"`
	Row    int64             `json:"row"`
	Values map[string]string `json:"values"`
}

// TableResult is one table-level rule (row count, uniqueness, freshness…).
type TableResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
	// NullKeys, for uniqueness, counts the rows with a null key, which
	// are not compared.
	NullKeys *int64 `json:"null_keys,omitempty"`
}

// ColumnReport is one column's profile of today's snapshot and its drift.
type ColumnReport struct {
	Name      string     `json:"name"`
	Type      string     `json:"type"`
	Count     int64      `json:"count"`
	Nulls     int64      `json:"nulls"`
	NaN       int64      `json:"nan"`
	Min       *float64   `json:"min"`
	Max       *float64   `json:"max"`
	Mean      *float64   `json:"mean"`
	Std       *float64   `json:"std"`
	Quantiles []Quantile `json:"quantiles"`
	Top       []Category `json:"top"`
	// Drift is nil without a baseline.
	Drift *Drift `json:"drift"`
}

// Quantile is the value at probability P (0–1).
type Quantile struct {
	P     float64 `json:"p"`
	Value float64 `json:"value"`
}

// Category is one of a column's most frequent values.
type Category struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Drift compares a column with the baseline.
type Drift struct {
	PSI        float64 `json:"psi"`
	Band       string  `json:"band"`         // BandStable, BandModerate or BandMajor
	OutOfRange float64 `json:"out_of_range"` // share of values outside the training range
	Bins       []Bin   `json:"bins"`
	// Binning says how the baseline binned the column: how many bins, and
	// which tied values have bins of their own.
	Binning string `json:"binning,omitempty"`
}

// Bin is one histogram bin: the share (0–1) of rows that fall in it in the
// reference (the baseline, or the previous run for scores) and today.
type Bin struct {
	Label    string  `json:"label"`
	Baseline float64 `json:"baseline"`
	Today    float64 `json:"today"`
}

// ScoreReport is the distribution of today's scores against the previous
// successful run's.
type ScoreReport struct {
	Count     int64      `json:"count"`
	Mean      *float64   `json:"mean"`
	Std       *float64   `json:"std"`
	Quantiles []Quantile `json:"quantiles"`
	// Previous is the version compared against; empty on a first run.
	Previous string `json:"previous,omitempty"`
	Bins     []Bin  `json:"bins"` // Baseline holds the previous run's shares
	// PSI is nil when there is no previous run.
	PSI  *float64 `json:"psi"`
	Band string   `json:"band,omitempty"`
	// Estimated is set when a side of the PSI is an estimate, not exact
	// counts: a previous run of an older version kept only a histogram
	// estimated from its sketch.
	Estimated bool `json:"estimated,omitempty"`
	// Comparison says what was compared: exact counts on both sides, or
	// the previous run's estimated histogram.
	Comparison string `json:"comparison,omitempty"`
	// Edges are the bins' edges: bin i is [Edges[i], Edges[i+1]), the
	// last closed, values outside in the first or last.
	Edges []float64 `json:"edges,omitempty"`
}

// JSON renders the report, masked, fields in declaration order and
// sample values in key order, so equal reports give equal bytes. A
// non-finite number (which JSON cannot hold) becomes null or 0 and a note.
// It is compact, one line: kept for every execution, the report is read
// by programs (jq), and indenting it doubled its size.
func (r *Report) JSON() ([]byte, error) {
	r.Mask()
	r.dropNonFinite()
	c := *r // nil lists become [] without touching r
	c.Rules = orEmpty(c.Rules)
	c.Table = orEmpty(c.Table)
	c.Columns = orEmpty(c.Columns)
	c.PII = orEmpty(c.PII)
	c.Notes = orEmpty(c.Notes)
	c.Gate.Breaches = orEmpty(c.Gate.Breaches)
	b, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encoding the report: %w", err)
	}
	return append(b, '\n'), nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Mask replaces, in place, every value of a PII column that the report
// holds: in samples, in top categories and in histogram bin labels. Before
// that, any of those raw values (of 4 characters or more) that appears in
// the free text (the error, notes, breaches, table-rule details) is masked
// there too. Mask is idempotent, and once a report is masked it no longer
// writes to it.
func (r *Report) Mask() {
	if len(r.PII) == 0 {
		return
	}
	pii := make(map[string]bool, len(r.PII))
	for _, c := range r.PII {
		pii[c] = true
	}
	var raw []string
	for i := range r.Rules {
		for _, s := range r.Rules[i].Samples {
			for col, v := range s.Values {
				if pii[col] && v != Masked {
					raw = append(raw, v)
					s.Values[col] = Masked
				}
			}
		}
	}
	for i := range r.Columns {
		c := &r.Columns[i]
		if !pii[c.Name] {
			continue
		}
		// Extremes and quantiles are single people's values. (Only write
		// when there is something to drop: a masked report is read-only.)
		if c.Min != nil || c.Max != nil || c.Mean != nil || c.Std != nil || c.Quantiles != nil {
			c.Min, c.Max, c.Mean, c.Std, c.Quantiles = nil, nil, nil, nil, nil
		}
		for j := range c.Top {
			if c.Top[j].Value != Masked {
				raw = append(raw, c.Top[j].Value)
				c.Top[j].Value = Masked
			}
		}
		if c.Drift != nil {
			if c.Drift.Binning != "" { // names tied values
				c.Drift.Binning = ""
			}
			for j := range c.Drift.Bins {
				if l := maskedBin(j); c.Drift.Bins[j].Label != l {
					raw = append(raw, c.Drift.Bins[j].Label)
					c.Drift.Bins[j].Label = l
				}
			}
		}
	}
	if len(raw) == 0 {
		return
	}
	var pairs []string
	for _, v := range raw {
		if len([]rune(v)) >= 4 {
			pairs = append(pairs, v, Masked)
		}
	}
	if len(pairs) == 0 {
		return
	}
	rep := strings.NewReplacer(pairs...)
	scrub := func(s *string) {
		if t := rep.Replace(*s); t != *s {
			*s = t
		}
	}
	scrub(&r.Error)
	for i := range r.Notes {
		scrub(&r.Notes[i])
	}
	for i := range r.Gate.Breaches {
		scrub(&r.Gate.Breaches[i])
	}
	for i := range r.Table {
		scrub(&r.Table[i].Detail)
	}
}

func maskedBin(i int) string { return fmt.Sprintf("%s %d", Masked, i+1) }

// dropNonFinite replaces NaN and ±Inf, which JSON cannot hold: optional
// numbers become nil, others 0, and a note says where.
func (r *Report) dropNonFinite() {
	var where []string
	f := func(name string, v *float64) {
		if math.IsNaN(*v) || math.IsInf(*v, 0) {
			where = append(where, name)
			*v = 0
		}
	}
	p := func(name string, v **float64) {
		if *v != nil && (math.IsNaN(**v) || math.IsInf(**v, 0)) {
			where = append(where, name)
			*v = nil
		}
	}
	qs := func(name string, q []Quantile) {
		for i := range q {
			f(name+".quantiles", &q[i].Value)
		}
	}
	bins := func(name string, b []Bin) {
		for i := range b {
			f(name+".bins", &b[i].Baseline)
			f(name+".bins", &b[i].Today)
		}
	}
	f("gate.max_invalid_fraction", &r.Gate.MaxInvalidFraction)
	f("gate.invalid_fraction", &r.Gate.InvalidFraction)
	for i := range r.Rules {
		x := &r.Rules[i]
		f("rule "+x.Name+" fraction", &x.Fraction)
		p("rule "+x.Name+" max_invalid_fraction", &x.MaxInvalidFraction)
	}
	for i := range r.Columns {
		c := &r.Columns[i]
		n := "column " + c.Name
		p(n+".min", &c.Min)
		p(n+".max", &c.Max)
		p(n+".mean", &c.Mean)
		p(n+".std", &c.Std)
		qs(n, c.Quantiles)
		if c.Drift != nil {
			f(n+".drift.psi", &c.Drift.PSI)
			f(n+".drift.out_of_range", &c.Drift.OutOfRange)
			bins(n+".drift", c.Drift.Bins)
		}
	}
	if s := r.Scores; s != nil {
		p("scores.mean", &s.Mean)
		p("scores.std", &s.Std)
		p("scores.psi", &s.PSI)
		qs("scores", s.Quantiles)
		bins("scores", s.Bins)
	}
	if len(where) > 0 {
		where = slices.Compact(where)
		const most = 20
		if len(where) > most {
			where = append(where[:most], fmt.Sprintf("and %d more", len(where)-most))
		}
		r.Notes = append(r.Notes, "report: non-finite numbers were dropped (NaN/Inf cannot be written as JSON): "+strings.Join(where, ", "))
	}
}
