package jobs

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

func numericColumn(name string) *profile.Column {
	lo, hi := 0.0, 10.0
	return &profile.Column{Name: name, Type: profile.TypeFloat, Count: 10, Min: &lo, Max: &hi,
		Quantiles: []profile.Quantile{{P: 0.5, Value: 5}},
		Histogram: &profile.Histogram{Edges: []float64{0, 5, 10}, Counts: []int64{5, 5}}}
}

func TestCheckBaseline(t *testing.T) {
	base := &profile.Profile{Version: profile.FormatVersion, Columns: []*profile.Column{
		numericColumn("a"), numericColumn("b"),
		{Name: "city", Type: profile.TypeString, Count: 3, Top: []profile.Category{{Value: "x", Count: 3}}},
		{Name: "label", Type: profile.TypeInt, Count: 3}, // no histogram: a training label
	}}
	job := func(inputs []string, drift spec.Drift, rules []spec.Rule, review *spec.Review) *spec.Job {
		return &spec.Job{File: "/jobs/j.yaml",
			Model:      spec.Model{Inputs: map[string][]string{"features": inputs}},
			Validation: spec.Validation{Baseline: "/b.json", Drift: drift, Rules: rules},
			Review:     review}
	}
	gated := spec.Drift{FeaturePSI: spec.Threshold{Warn: 0.1, Gate: 0.25}}
	warnOnly := spec.Drift{FeaturePSI: spec.Threshold{Warn: 0.1}}
	impute := func(col, from string) []spec.Rule {
		return []spec.Rule{{Column: col, Check: "not_null", Action: "impute", Impute: &spec.Impute{From: from}}}
	}
	for _, tc := range []struct {
		name    string
		job     *spec.Job
		errIn   []string // empty: no error
		warning string
	}{
		{name: "covers every input", job: job([]string{"a", "b", "city"}, gated, nil, nil)},
		{name: "gate, one input missing", job: job([]string{"a", "z"}, gated, nil, nil),
			errIn: []string{"/jobs/j.yaml", "/b.json", "feature_psi.gate 0.25", `"z"`}},
		{name: "gate, a numeric input without histogram", job: job([]string{"a", "label"}, gated, nil, nil),
			errIn: []string{`"label"`}},
		{name: "warnings only, partial", job: job([]string{"a", "z"}, warnOnly, nil, nil), warning: `"z"`},
		{name: "no shared column", job: job([]string{"y", "z"}, warnOnly, nil, nil),
			errIn: []string{"shares no column", `"y", "z"`}},
		{name: "no shared column, but an impute rule uses it", job: job([]string{"y"}, warnOnly, impute("a", "median"), nil), warning: `"y"`},
		{name: "impute median of a missing column", job: job([]string{"a"}, gated, impute("q", "median"), nil),
			errIn: []string{"rule 1 (not_null:q)", "median", "no such column"}},
		{name: "impute mode of a numeric column", job: job([]string{"a"}, gated, impute("a", "mode"), nil),
			errIn: []string{"keeps no mode"}},
		{name: "review out_of_range without a range", job: job([]string{"a", "z"}, warnOnly, nil, &spec.Review{OutOfRange: true}),
			errIn: []string{"review.out_of_range", `"z"`}},
		{name: "review out_of_range, categorical input has no range to need", job: job([]string{"a", "city"}, gated, nil, &spec.Review{OutOfRange: true})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warnings, err := checkBaseline(tc.job, base)
			if len(tc.errIn) == 0 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
			} else {
				if !errors.Is(err, spec.ErrInvalid) {
					t.Fatalf("got %v, want a job-file error", err)
				}
				for _, s := range tc.errIn {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %s", err, s)
					}
				}
			}
			if got := strings.Join(warnings, "\n"); (tc.warning == "") != (got == "") || !strings.Contains(got, tc.warning) {
				t.Errorf("warnings %q, want one naming %s", got, tc.warning)
			}
		})
	}
}

func TestCheckBaselineTypes(t *testing.T) {
	base := &profile.Profile{Columns: []*profile.Column{numericColumn("a")}}
	job := &spec.Job{File: "/j.yaml", Model: spec.Model{Inputs: map[string][]string{"f": {"a"}}}}
	text := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.BinaryTypes.String}}, nil)
	if err := checkBaselineTypes(job, base, text); !errors.Is(err, spec.ErrInvalid) || !strings.Contains(err.Error(), `"a" is float in the baseline and utf8`) {
		t.Errorf("got %v", err)
	}
	num := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int32}}, nil)
	if err := checkBaselineTypes(job, base, num); err != nil {
		t.Errorf("int32 against a float profile: %v", err)
	}
}
