package report

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func ptr(v float64) *float64 { return &v }

// fixture is a churn run of 2,000 rows with a few bad ones: a reject rule
// that quarantined rows, a warn rule, a PII column in the samples, one
// drifted column, one categorical column and the scores.
func fixture() *Report {
	return &Report{
		Job:         "churn_nightly",
		LogicalDate: "2026-11-20",
		Version:     "20261121T020001.123Z-2aa4c9",
		RunID:       "5dfbbc66b1318b65",
		Status:      StatusSucceeded,
		ExitCode:    0,
		GeneratedAt: time.Date(2026, 11, 21, 2, 0, 7, 0, time.UTC),
		Books:       Books{Read: 2000, Valid: 1990, Quarantined: 10, Imputed: 4, Clipped: 2, Scored: 1990, Written: 1990},
		Gate:        Gate{Passed: true, MaxInvalidFraction: 0.01, InvalidFraction: 0.005},
		Rules: []RuleResult{
			{
				Name: "range:age", Column: "age", Check: "range", Action: "reject",
				Failed: 10, Fraction: 0.005, MaxInvalidFraction: ptr(0.02), Passed: true,
				Samples: []Sample{
					{File: "part-0.parquet", Row: 17, Values: map[string]string{"customer_id": "C000017", "age": "-3", "email": "ann@example.org"}},
					{File: "part-1.parquet", Row: 902, Values: map[string]string{"customer_id": "C001902", "age": "212", "email": "bob@example.org"}},
				},
			},
			{
				Name: "not_null:tenure_months", Column: "tenure_months", Check: "not_null", Action: "impute",
				Failed: 4, Fraction: 0.002, Passed: true,
				Samples: []Sample{{File: "part-0.parquet", Row: 3, Values: map[string]string{"customer_id": "C000003", "tenure_months": ""}}},
			},
			{
				Name: "allowed:plan", Column: "plan", Check: "allowed", Action: "warn",
				Failed: 31, Fraction: 0.0155, MaxInvalidFraction: ptr(0.01), Passed: false,
				Samples: []Sample{{File: "part-1.parquet", Row: 1500, Values: map[string]string{"customer_id": "C001500", "plan": "legacy-gold"}}},
			},
		},
		Table: []TableResult{
			{Name: "row_count", Passed: true, Detail: "2000 rows, within 1000–5000"},
			{Name: "unique:customer_id", Passed: true, Detail: "2000 distinct keys"},
			{Name: "freshness:last_seen", Passed: true, Detail: "newest 2026-11-20, 0 days old (at most 2)"},
		},
		Columns: []ColumnReport{
			{
				Name: "age", Type: "int64", Count: 2000, Min: ptr(-3), Max: ptr(212), Mean: ptr(44.1), Std: ptr(13.7),
				Quantiles: []Quantile{{0.01, 19}, {0.25, 33}, {0.5, 44}, {0.75, 55}, {0.99, 79}},
				Drift: &Drift{PSI: 0.031, Band: BandStable, OutOfRange: 0.001, Bins: []Bin{
					{"< 25", 0.10, 0.11}, {"25–35", 0.21, 0.20}, {"35–45", 0.24, 0.23},
					{"45–55", 0.22, 0.22}, {"55–65", 0.14, 0.15}, {">= 65", 0.09, 0.09},
				}},
			},
			{
				Name: "monthly_charges", Type: "double", Count: 2000, Nulls: 0, NaN: 2,
				Min: ptr(18.25), Max: ptr(118.75), Mean: ptr(71.9), Std: ptr(30.1),
				Quantiles: []Quantile{{0.01, 19.2}, {0.5, 74.35}, {0.99, 116.1}},
				Drift: &Drift{PSI: 0.312, Band: BandMajor, OutOfRange: 0.024, Bins: []Bin{
					{"< 30", 0.20, 0.08}, {"30–50", 0.15, 0.09}, {"50–70", 0.18, 0.16},
					{"70–90", 0.24, 0.30}, {"90–110", 0.20, 0.31}, {">= 110", 0.03, 0.06},
				}},
			},
			{
				Name: "plan", Type: "string", Count: 2000, Nulls: 12,
				Top: []Category{{"basic", 910}, {"plus", 702}, {"premium", 345}, {"legacy-gold", 31}},
				Drift: &Drift{PSI: 0.14, Band: BandModerate, Bins: []Bin{
					{"basic", 0.48, 0.455}, {"plus", 0.36, 0.351}, {"premium", 0.16, 0.1725}, {"(other)", 0, 0.0155},
				}},
			},
			{
				Name: "email", Type: "string", Count: 2000, Nulls: 40,
				Top: []Category{{"ann@example.org", 2}, {"bob@example.org", 1}},
			},
		},
		Scores: &ScoreReport{
			Count: 1990, Mean: ptr(0.262), Std: ptr(0.19),
			Quantiles: []Quantile{{0.5, 0.21}, {0.9, 0.55}, {0.99, 0.83}},
			Previous:  "20261120T020003.551Z-81f0aa",
			PSI:       ptr(0.021), Band: BandStable,
			Bins: []Bin{
				{"0.0–0.1", 0.27, 0.26}, {"0.1–0.2", 0.22, 0.23}, {"0.2–0.3", 0.15, 0.15}, {"0.3–0.4", 0.11, 0.10},
				{"0.4–0.5", 0.08, 0.08}, {"0.5–0.6", 0.06, 0.07}, {"0.6–0.7", 0.05, 0.05}, {"0.7–0.8", 0.03, 0.03},
				{"0.8–0.9", 0.02, 0.02}, {"0.9–1.0", 0.01, 0.01},
			},
		},
		PII:   []string{"email"},
		Notes: []string{"baseline: testdata/baseline.json (2026-10-01, 50000 rows)"},
	}
}

// failedFixture is the fixture after the quality gate stopped the run.
func failedFixture() *Report {
	r := fixture()
	r.Status, r.ExitCode = StatusFailed, 3
	r.Error = "quality gate: 20.0% of rows are invalid (at most 1.0%); nothing was published"
	r.Gate = Gate{Passed: false, MaxInvalidFraction: 0.01, InvalidFraction: 0.2,
		Breaches: []string{"invalid rows 20.0% > 1.0%", "rule range:age 19.5% > 2.0%"}}
	r.Rules[0].Failed, r.Rules[0].Fraction, r.Rules[0].Passed = 390, 0.195, false
	r.Books = Books{Read: 2000, Valid: 1600, Quarantined: 400, Imputed: 4}
	r.Scores = nil
	return r
}

// huge is a report far bigger than any real one: rules × samples each,
// and columns columns with 10 bins and 50 top categories each.
func huge(rules, samples, columns int) *Report {
	r := fixture()
	r.Rules, r.Columns = nil, nil
	for i := range rules {
		x := RuleResult{Name: fmt.Sprintf("range:col_%03d", i), Column: fmt.Sprintf("col_%03d", i%columns),
			Check: "range", Action: "reject", Failed: int64(samples) * 10, Fraction: 0.3}
		for j := range samples {
			x.Samples = append(x.Samples, Sample{File: "part-00042.parquet", Row: int64(j * 7), Values: map[string]string{
				x.Column: fmt.Sprint(j), "customer_id": fmt.Sprintf("C%07d", j), "email": fmt.Sprintf("user%d@example.org", j),
				"comment": fmt.Sprintf("a long free text value %d that goes on and on and on and on and on and on and on and on and on and on and on", j),
			}})
		}
		r.Rules = append(r.Rules, x)
	}
	for i := range columns {
		c := ColumnReport{Name: fmt.Sprintf("col_%03d", i), Type: "double", Count: 1e7, Min: ptr(0), Max: ptr(1),
			Mean: ptr(0.5), Std: ptr(0.29)}
		for q := 1; q < 100; q++ {
			c.Quantiles = append(c.Quantiles, Quantile{float64(q) / 100, float64(q) / 100})
		}
		for k := range 50 {
			c.Top = append(c.Top, Category{fmt.Sprintf("value number %d", k), int64(1000 - k)})
		}
		d := &Drift{PSI: math.Mod(float64(i)*0.037, 0.4), OutOfRange: 0.01}
		for b := range 10 {
			d.Bins = append(d.Bins, Bin{fmt.Sprintf("[%.1f, %.1f)", float64(b)/10, float64(b+1)/10), 0.1, 0.08 + float64(b%3)*0.02})
		}
		c.Drift = d
		r.Columns = append(r.Columns, c)
	}
	return r
}

// safetyFixture adds a challenger, a fallback and a review queue.
func safetyFixture() *Report {
	r := fixture()
	r.Rules[2].Passed = true
	r.Books.Fallback = 12
	var hist []ShadowBin
	for i := range 20 {
		lo := float64(i) / 20
		hist = append(hist, ShadowBin{Lo: lo, Hi: lo + 0.05, Champion: int64(200 - 9*i), Challenger: int64(180 - 8*i)})
	}
	r.Challenger = &Challenger{
		Model: Model{Path: "models/churn_gbm_2026_12.onnx", Version: "gbm-2026.12"}, Status: ChallengerCompared,
		Rows: 1978, MeanAbsDiff: 0.031, MaxAbsDiff: 0.29, Spearman: 0.94, TopDecileOverlap: 0.81, SampleRows: 1978,
		Threshold: 0.5, Flipped: 57, FlippedUp: 31, FlippedDown: 26, Histogram: hist,
	}
	r.Fallback = &Fallback{Kind: "carry_forward", Rows: 12, Fraction: 0.006, Limit: 0.1,
		Triggers: map[string]int64{"nan": 12}, CarriedFrom: "20261120T020003.551Z-81f0aa",
		Errors: []string{"nan: part-00000.parquet: 12 rows from row 65536 have a NaN or infinite score"}}
	r.Rollout = &RolloutView{Kind: "arms", Salt: "ab-2026-12", Status: ArmFailed, Reason: "logreg: chunk 3 failed", Limit: 0.1, Arms: []ArmCount{
		{Name: "control", Version: "gbm-2026.11", Share: 0.5, Assigned: 1000, Published: 1002},
		{Name: "logreg", Version: "logreg-2026.12", Share: 0.5, Assigned: 990, Published: 988, FellBack: 2},
	}}
	r.Review = &Review{Rows: 143, Reasons: map[string]int64{"band": 120, "low_confidence": 98, "out_of_range:tenure_months": 7}}
	r.Explain = &Explanation{Method: "tree_shap_path_dependent", Space: ExplainSpaceMargin, Rows: 900, Skipped: 100,
		Importance: []Importance{{Column: "monthly_charges", MeanAbs: 0.4321}}, Reasons: map[string]int64{"R17": 612, "R02": 40}}
	return r
}

func TestHTMLSafetySections(t *testing.T) {
	page, err := renderHTML(safetyFixture())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="challenger"`, "Spearman rank correlation", "0.94", "57 (31 up, 26 down)",
		"champion and challenger score distributions", `id="fallback"`, "carry_forward", `id="review"`,
		"out_of_range:tenure_months", "<svg", `id="explain"`,
		`id="rollout"`, "logreg-2026.12", "chunk 3 failed", "1,002", "monthly_charges", "0.4321", "R17", "68.0%"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
