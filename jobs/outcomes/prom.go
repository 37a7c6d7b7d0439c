package outcomes

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sample is one batchscore_outcome_* value of an evaluation:
// Name{batchscore_job, model_version, arm} (no model_version or arm when
// empty).
type Sample struct {
	Name, Help   string
	Job          string
	ModelVersion string
	Arm          string
	Value        float64
}

// Samples are the evaluation's metrics for Prometheus: the champion's
// and, when scored, the challenger's, by model_version; undefined metrics
// are left out, never NaN.
func (r *Report) Samples() []Sample {
	f := func(v int64) *float64 { x := float64(v); return &x }
	list := []metric{
		{"auc", "Area under the ROC curve on the newest evaluated score date.", func(m *Metrics) *float64 { return m.AUC }},
		{"gini", "Gini coefficient (2 AUC - 1) on the newest evaluated score date.", func(m *Metrics) *float64 { return m.Gini }},
		{"ks", "Kolmogorov-Smirnov statistic between the positives' and the negatives' scores.", func(m *Metrics) *float64 { return m.KS }},
		{"brier", "Brier score: mean squared difference between score and outcome.", func(m *Metrics) *float64 { return m.Brier }},
		{"log_loss", "Log loss, scores clipped to [1e-15, 1-1e-15].", func(m *Metrics) *float64 { return m.LogLoss }},
		{"ece", "Expected calibration error over score deciles.", func(m *Metrics) *float64 { return m.ECE }},
		{"base_rate", "Share of positive labels among the matched rows.", func(m *Metrics) *float64 { return m.BaseRate }},
		{"matched_rows", "Scored rows that found their label.", func(m *Metrics) *float64 { return f(m.Matched) }},
		{"labels_without_score", "Labels whose key the version did not score.", func(m *Metrics) *float64 { return f(m.LabelsWithoutScore) }},
	}
	models := []*Metrics{r.Champion}
	if r.Challenger != nil {
		models = append(models, r.Challenger)
	}
	var out []Sample
	for _, mt := range list {
		for _, m := range models {
			if m == nil {
				continue
			}
			if v := mt.get(m); v != nil {
				out = append(out, Sample{Name: "batchscore_outcome_" + mt.name, Help: mt.help, Job: r.Job, ModelVersion: m.ModelVersion, Value: *v})
			}
		}
	}
	out = append(out, r.armSamples(list)...)
	if d, err := time.Parse("2006-01-02", r.Date); err == nil {
		out = append(out, Sample{Name: "batchscore_outcome_score_date_timestamp_seconds",
			Help: "The score date the outcome metrics are of, midnight UTC in Unix seconds.", Job: r.Job, Value: float64(d.Unix())})
	}
	return out
}

type metric struct {
	name, help string
	get        func(m *Metrics) *float64
}

// armSamples are the metrics of each arm (list, by arm and model_version)
// and each arm's comparison with the reference arm and score PSI.
func (r *Report) armSamples(list []metric) []Sample {
	type armMetric struct {
		name, help string
		get        func(a *Arm) *float64
	}
	diff := func(get func(d *AUCDifference) *float64) func(a *Arm) *float64 {
		return func(a *Arm) *float64 {
			if a.VsReference == nil {
				return nil
			}
			return get(a.VsReference)
		}
	}
	extra := []armMetric{
		{"auc_ci95_lower", "Lower end of the 95% interval of the arm's AUC (DeLong).", func(a *Arm) *float64 { return a.AUCLower }},
		{"auc_ci95_upper", "Upper end of the 95% interval of the arm's AUC (DeLong).", func(a *Arm) *float64 { return a.AUCUpper }},
		{"auc_difference", "AUC of the arm minus the reference arm's.", diff(func(d *AUCDifference) *float64 { return d.Difference })},
		{"auc_difference_ci95_lower", "Lower end of the 95% interval of the arm's AUC difference (DeLong, independent arms).", diff(func(d *AUCDifference) *float64 { return d.Lower })},
		{"auc_difference_ci95_upper", "Upper end of the 95% interval of the arm's AUC difference (DeLong, independent arms).", diff(func(d *AUCDifference) *float64 { return d.Upper })},
		{"arm_worse", "1 when the arm's AUC is worse than the reference arm's by more than outcomes.arm_margin, else 0.", func(a *Arm) *float64 {
			if a.VsReference == nil || a.VsReference.Worse == nil {
				return nil
			}
			v := 0.0
			if *a.VsReference.Worse {
				v = 1
			}
			return &v
		}},
		{"score_psi", "PSI of the arm's scores against the same arm's of the previous published date.", func(a *Arm) *float64 {
			if a.Scores == nil {
				return nil
			}
			return a.Scores.PSI
		}},
	}
	for _, mt := range list {
		extra = append(extra, armMetric{mt.name, mt.help, func(a *Arm) *float64 { return mt.get(&a.Metrics) }})
	}
	var out []Sample
	for _, mt := range extra {
		for i := range r.Arms {
			a := &r.Arms[i]
			if v := mt.get(a); v != nil {
				out = append(out, Sample{Name: "batchscore_outcome_" + mt.name, Help: mt.help, Job: r.Job, ModelVersion: a.ModelVersion, Arm: a.Arm, Value: *v})
			}
		}
	}
	return out
}

// Metrics renders Samples in the Prometheus text format (0.0.4), for a
// node_exporter textfile or a Pushgateway.
func (r *Report) Metrics() []byte { return Render(r.Samples()) }

// Render writes samples grouped by name, one HELP and TYPE per name.
func Render(samples []Sample) []byte {
	var b bytes.Buffer
	seen := map[string]bool{}
	for i, s := range samples {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", s.Name, s.Help, s.Name)
		for _, t := range samples[i:] {
			if t.Name != s.Name {
				continue
			}
			fmt.Fprintf(&b, "%s{batchscore_job=%s", t.Name, quote(t.Job))
			if t.ModelVersion != "" {
				fmt.Fprintf(&b, ",model_version=%s", quote(t.ModelVersion))
			}
			if t.Arm != "" {
				fmt.Fprintf(&b, ",arm=%s", quote(t.Arm))
			}
			fmt.Fprintf(&b, "} %s\n", strconv.FormatFloat(t.Value, 'g', -1, 64))
		}
	}
	return b.Bytes()
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
