package outcomes

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Metrics renders the evaluation for Prometheus (text format 0.0.4):
// batchscore_outcome_<metric>{batchscore_job, model_version} for the
// champion and, when scored, the challenger. Undefined metrics are left
// out, never NaN.
func (r *Report) Metrics() []byte {
	var b bytes.Buffer
	type metric struct {
		name, help string
		get        func(m *Metrics) *float64
	}
	f := func(v int64) *float64 { x := float64(v); return &x }
	list := []metric{
		{"auc", "Area under the ROC curve of the newest evaluated score date.", func(m *Metrics) *float64 { return m.AUC }},
		{"gini", "Gini coefficient (2 AUC - 1).", func(m *Metrics) *float64 { return m.Gini }},
		{"ks", "Kolmogorov-Smirnov statistic between the positives' and negatives' scores.", func(m *Metrics) *float64 { return m.KS }},
		{"brier", "Brier score (mean squared error of the probabilities).", func(m *Metrics) *float64 { return m.Brier }},
		{"log_loss", "Log loss (scores clipped to [1e-15, 1-1e-15]).", func(m *Metrics) *float64 { return m.LogLoss }},
		{"ece", "Expected calibration error over score deciles.", func(m *Metrics) *float64 { return m.ECE }},
		{"base_rate", "Share of positive labels among the matched rows.", func(m *Metrics) *float64 { return m.BaseRate }},
		{"matched_rows", "Scored rows that found their label.", func(m *Metrics) *float64 { return f(m.Matched) }},
		{"labels_without_score", "Labels whose key the version did not score.", func(m *Metrics) *float64 { return f(m.LabelsWithoutScore) }},
	}
	models := []*Metrics{r.Champion}
	if r.Challenger != nil {
		models = append(models, r.Challenger)
	}
	for _, mt := range list {
		name := "batchscore_outcome_" + mt.name
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, mt.help, name)
		for _, m := range models {
			if m == nil {
				continue
			}
			if v := mt.get(m); v != nil {
				fmt.Fprintf(&b, "%s{batchscore_job=%s,model_version=%s} %s\n", name, quote(r.Job), quote(m.ModelVersion), strconv.FormatFloat(*v, 'g', -1, 64))
			}
		}
	}
	name := "batchscore_outcome_score_date_timestamp_seconds"
	fmt.Fprintf(&b, "# HELP %s The score date these outcome metrics are of, midnight UTC in Unix seconds.\n# TYPE %s gauge\n", name, name)
	if d, err := parseDay(r.Date); err == nil {
		fmt.Fprintf(&b, "%s{batchscore_job=%s} %d\n", name, quote(r.Job), d)
	}
	return b.Bytes()
}

func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
