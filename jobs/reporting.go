package jobs

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// buildReport gathers the manifest, the rule results, the profiles and
// the drift into the report people read.
func buildReport(m *report.Manifest, v *verdict, pii []string) *report.Report {
	r := &report.Report{
		Job: m.Job, LogicalDate: m.LogicalDate, Version: m.Version, RunID: m.RunID,
		Status: m.Status, ExitCode: m.ExitCode, Error: m.Error, GeneratedAt: time.Now().UTC(),
		Books: report.Books{
			Read: m.Counts.Read, Valid: m.Counts.Valid, Quarantined: m.Counts.Quarantined,
			Imputed: m.Counts.Imputed, Clipped: m.Counts.Clipped, Scored: m.Counts.Scored, Fallback: m.Counts.Fallback, Written: m.Counts.Written,
		},
		Challenger: m.Challenger, Fallback: m.Fallback, Review: m.Review, Explain: m.Explain, Rollout: m.Rollout(),
		NonFinite: nonFiniteInputs(m.NonFiniteInputs),
		PII:       pii,
	}
	res := v.result
	if v.partial {
		r.Notes = append(r.Notes, "the run stopped before the whole snapshot was checked: counts cover the rows read until then")
	}
	r.Gate = report.Gate{Passed: m.Validation.Passed, MaxInvalidFraction: m.Validation.MaxInvalidFraction,
		InvalidFraction: res.InvalidFraction, Breaches: append([]string(nil), m.Validation.Breaches...)}
	for _, rr := range res.Rules {
		out := report.RuleResult{Name: rr.Name, Column: rr.Column, Check: rr.Check, Action: rr.Action,
			Failed: rr.Failed, Fraction: rr.Fraction, MaxInvalidFraction: rr.MaxInvalidFraction, Passed: rr.Passed}
		for _, s := range rr.Samples {
			out.Samples = append(out.Samples, report.Sample{File: s.File, Row: s.Row, Values: s.Values})
		}
		r.Rules = append(r.Rules, out)
	}
	for _, t := range res.Table {
		r.Table = append(r.Table, report.TableResult{Name: t.Name, Passed: t.Passed, Detail: t.Detail, NullKeys: t.NullKeys})
	}
	drift := map[string]profile.ColumnDrift{}
	for _, d := range v.drift {
		drift[d.Column] = d
	}
	for _, c := range v.today.Columns {
		cr := report.ColumnReport{Name: c.Name, Type: c.Type, Count: c.Count, Nulls: c.Nulls, NaN: c.NaN,
			Min: c.Min, Max: c.Max, Mean: c.Mean, Std: c.Std}
		for _, q := range c.Quantiles {
			cr.Quantiles = append(cr.Quantiles, report.Quantile{P: q.P, Value: q.Value})
		}
		for _, t := range c.Top {
			cr.Top = append(cr.Top, report.Category{Value: t.Value, Count: t.Count})
		}
		if d, ok := drift[c.Name]; ok {
			cr.Drift = &report.Drift{PSI: d.PSI, Band: d.Band, OutOfRange: d.OutOfRange, Bins: bins(d.Bins), Binning: d.Binning}
			if h := c.Histogram; h != nil && h.Sampled > 0 {
				cr.Drift.Binning += fmt.Sprintf("; today's shares counted on a seeded sample of %d values", h.Sampled)
			}
		}
		r.Columns = append(r.Columns, cr)
	}
	if v.scores != nil {
		if c := v.scores.Column("score"); c != nil {
			sr := &report.ScoreReport{Count: c.Count, Mean: c.Mean, Std: c.Std}
			for _, q := range c.Quantiles {
				sr.Quantiles = append(sr.Quantiles, report.Quantile{P: q.P, Value: q.Value})
			}
			if d := v.scoreDrift; d != nil {
				psi := d.PSI
				sr.PSI, sr.Band, sr.Bins, sr.Previous = &psi, d.Band, bins(d.Bins), m.Validation.PreviousVersion
				sr.Estimated, sr.Comparison, sr.Edges = d.Estimated || d.BaselineEstimated, scoreComparison(d), d.Edges
			} else if c.Histogram != nil {
				sr.Bins = histogramBins(c.Histogram)
			}
			r.Scores = sr
		}
	}
	r.Notes = append(r.Notes, v.warnings...)
	return r
}

// scoreComparison says what the score PSI compared, so that a gate
// decision near its threshold can be weighed.
func scoreComparison(d *profile.ColumnDrift) string {
	switch {
	case d.BaselineEstimated:
		return "today's exact counts against the previous run's estimated histogram (a profile of an older version, binned from its sketch): the PSI is an estimate"
	case d.Estimated:
		return "today's counts estimated from its sketch against the previous run's histogram: the PSI is an estimate"
	}
	return "exact counts on both sides, " + d.Binning
}

func bins(in []profile.BinShare) []report.Bin {
	out := make([]report.Bin, len(in))
	for i, b := range in {
		out[i] = report.Bin{Label: b.Label, Baseline: b.Baseline, Today: b.Today}
	}
	return out
}

// histogramBins shows a first run's score histogram, with nothing to compare.
func histogramBins(h *profile.Histogram) []report.Bin {
	var total int64
	for _, c := range h.Counts {
		total += c
	}
	out := make([]report.Bin, len(h.Counts))
	for i, c := range h.Counts {
		out[i] = report.Bin{Label: profileBinLabel(h.Edges, i), Today: float64(c) / float64(max(total, 1))}
	}
	return out
}

func profileBinLabel(edges []float64, i int) string {
	b, _ := json.Marshal([2]float64{edges[i], edges[i+1]})
	return string(b)
}

// nonFiniteInputs lists the manifest's counts by column name.
func nonFiniteInputs(counts map[string]report.NonFinite) []report.NonFiniteInput {
	var out []report.NonFiniteInput
	for _, c := range slices.Sorted(maps.Keys(counts)) {
		n := counts[c]
		out = append(out, report.NonFiniteInput{Column: c, NaN: n.NaN, PosInf: n.PosInf, NegInf: n.NegInf, BeyondFloat32: n.BeyondFloat32})
	}
	return out
}
