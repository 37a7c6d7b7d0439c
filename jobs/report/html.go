package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/batchscore/batchscore/jobs/numfmt"
)

// Caps of the HTML page, so that it stays small whatever the input: only
// aggregates and this many samples, columns and rows are drawn, and the page
// says what was left out.
const (
	HTMLSamplesPerRule  = 20   // sample rows shown per rule, at most
	HTMLSamples         = 1000 // sample rows shown in all, shared by the rules (at least 3 each)
	HTMLSampleColumns   = 40   // columns shown in a rule's sample table
	HTMLChartedColumns  = 100  // columns with a histogram
	HTMLTableRows       = 1000 // rows of the rules, columns and drift tables
	HTMLTopCategories   = 10   // top categories shown per column
	HTMLQuantiles       = 20   // quantiles shown per column
	HTMLListItems       = 100  // notes, breaches, PII columns, table rules
	htmlValueChars      = 120  // a sample value or category
	htmlNameChars       = 160  // a column or rule name
	htmlTextChars       = 2000 // a note, breach or detail
	htmlErrorChars      = 8000
	htmlOmittedNames    = 50 // names listed of the columns not charted
	htmlWarnings        = 10 // lines of the summary at the top
	htmlSampleListChars = 80
)

//go:embed report.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"int": numfmt.Thousands,
	"num": num,
	"pct": pct,
	// A share next to the threshold it is held to: never printed equal
	// when one exceeds the other.
	"pctvs":    numfmt.Pct,
	"pctlimit": numfmt.PctThreshold,
	"clip":     clip,
	"q":        qlabel,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}).Parse(pageSource))

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and SVG, no script, no external asset, so that it opens offline from a
// file. It masks PII columns first (see Mask). Its size is bounded by the
// HTML* caps, not by the size of the report.
func (r *Report) WriteHTML(w io.Writer) error {
	r.Mask()
	if err := pageTemplate.Execute(w, newPage(r)); err != nil {
		return fmt.Errorf("rendering the report page: %w", err)
	}
	return nil
}

// page is the report as the template draws it: capped, sorted, with the
// verdicts worked out.
type page struct {
	R            *Report
	StatusLabel  string
	StatusClass  string // ok, warn, bad
	Warnings     []string
	WarningsMore int
	WarningCount int
	BooksOK      bool
	Rules        []pageRule
	RulesMore    int
	Table        []TableResult
	TableMore    int
	Drift        []pageDrift
	DriftMore    int
	Columns      []pageColumn // the summary table
	ColumnsMore  int
	Charts       []pageColumn // the columns drawn in full
	NotCharted   []string
	NotChartMore int
	Scores       *pageScores
	Shadow       *chart // the challenger's and champion's scores
	Reasons      []pageCategory
	ReasonCodes  []pageCategory // explain: how often each reason code was given
	Breaches     []string
	Notes        []string
	PII          []string
	Caps         struct{ Samples, Charts int }
}

type pageRule struct {
	RuleResult
	Threshold   string
	Share       string // Fraction, printed against Threshold
	Result      string // pass, warn, fail
	Class       string
	SampleCols  []string
	ColsMore    int
	SampleRows  []pageSample
	SamplesMore int
}

type pageSample struct {
	File   string
	Row    int64
	Values []pageValue
}

type pageValue struct {
	Text   string
	Masked bool
	Absent bool
}

type pageDrift struct {
	Column     string
	PSI        string
	Band       string
	OutOfRange string
}

type pageColumn struct {
	ColumnReport
	Band      string
	PSI       string
	Quantiles []Quantile
	Top       []pageCategory
	TopMore   int
	Chart     *chart
	Masked    bool
}

type pageCategory struct {
	Value, Count, Share string
}

type pageScores struct {
	ScoreReport
	PSI   string
	Band  string
	Chart *chart
}

func newPage(r *Report) *page {
	p := &page{R: r, BooksOK: r.Books.Balanced()}
	p.Caps.Samples, p.Caps.Charts = HTMLSamplesPerRule, HTMLChartedColumns
	pii := map[string]bool{}
	for _, c := range r.PII {
		pii[c] = true
	}

	warnings := warningsOf(r, p.BooksOK)
	p.Warnings, p.WarningsMore = capList(warnings, htmlWarnings)
	p.WarningCount = len(warnings)
	p.StatusLabel, p.StatusClass = r.Status, "warn"
	switch r.Status {
	case StatusFailed:
		p.StatusClass = "bad"
	case StatusSucceeded:
		if len(warnings) == 0 {
			p.StatusClass = "ok"
		} else {
			p.StatusLabel = fmt.Sprintf("%s with %d warning%s", r.Status, len(warnings), plural(len(warnings)))
		}
	case "":
		p.StatusLabel = "unknown"
	}

	rules, more := capList(r.Rules, HTMLTableRows)
	p.RulesMore = more
	withSamples := 0
	for _, x := range rules {
		if len(x.Samples) > 0 {
			withSamples++
		}
	}
	perRule := HTMLSamplesPerRule
	if withSamples > 0 {
		perRule = max(3, min(HTMLSamplesPerRule, HTMLSamples/withSamples))
	}
	p.Caps.Samples = perRule
	for _, x := range rules {
		p.Rules = append(p.Rules, newPageRule(x, pii, perRule))
	}
	p.Table, p.TableMore = capList(r.Table, HTMLListItems)

	var drift []pageDrift
	byPSI := slices.Clone(r.Columns)
	slices.SortStableFunc(byPSI, func(a, b ColumnReport) int { return -cmpPSI(a, b) })
	for _, c := range byPSI {
		if c.Drift != nil {
			drift = append(drift, pageDrift{Column: c.Name, PSI: psiText(c.Drift.PSI), Band: band(c.Drift), OutOfRange: pct(c.Drift.OutOfRange)})
		}
	}
	p.Drift, p.DriftMore = capList(drift, HTMLTableRows)

	cols, more := capList(r.Columns, HTMLTableRows)
	p.ColumnsMore = more
	for _, c := range cols {
		p.Columns = append(p.Columns, newPageColumn(c, pii[c.Name], false))
	}
	// Chart the most drifted columns, shown in their own order.
	charted := map[string]bool{}
	for _, c := range byPSI[:min(len(byPSI), HTMLChartedColumns)] {
		charted[c.Name] = true
	}
	var left []string
	for _, c := range r.Columns {
		if charted[c.Name] {
			p.Charts = append(p.Charts, newPageColumn(c, pii[c.Name], true))
			delete(charted, c.Name) // a name given twice is drawn once
		} else {
			left = append(left, clip(c.Name, htmlSampleListChars))
		}
	}
	p.NotCharted, p.NotChartMore = capList(left, htmlOmittedNames)

	p.addScores(r)
	p.Breaches = clipAll(r.Gate.Breaches, htmlTextChars)
	p.Notes = clipAll(r.Notes, htmlTextChars)
	p.PII = clipAll(r.PII, htmlNameChars)
	return p
}

// warningsOf lists what the page warns about, most serious last.
func warningsOf(r *Report, booksOK bool) []string {
	var warnings []string
	for _, x := range r.Rules {
		if !x.Passed {
			warnings = append(warnings, fmt.Sprintf("rule %s failed on %s rows", x.Name, numfmt.Thousands(x.Failed)))
		}
	}
	for _, x := range r.Table {
		if !x.Passed {
			warnings = append(warnings, "table check "+x.Name+" failed")
		}
	}
	for _, c := range r.Columns {
		if c.Drift != nil && band(c.Drift) != BandStable {
			warnings = append(warnings, fmt.Sprintf("column %s drifted (%s)", c.Name, band(c.Drift)))
		}
	}
	if s := r.Scores; s != nil && s.PSI != nil && scoreBand(s) != BandStable {
		warnings = append(warnings, fmt.Sprintf("the score distribution drifted (%s)", scoreBand(s)))
	}
	if !r.Gate.Passed {
		warnings = append(warnings, "the quality gate failed")
	}
	if !booksOK {
		warnings = append(warnings, "the books do not balance")
	}
	return warnings
}

// addScores adds the score distribution, the challenger's and the
// review's sections.
func (p *page) addScores(r *Report) {
	if s := r.Scores; s != nil {
		ps := &pageScores{ScoreReport: *s, PSI: "—", Band: ""}
		if s.PSI != nil {
			ps.PSI, ps.Band = psiText(*s.PSI), scoreBand(s)
		}
		ps.Quantiles, _ = capList(s.Quantiles, HTMLQuantiles)
		if len(s.Bins) > 0 {
			ps.Chart = newChart("score distribution, previous run and today", "score", "previous run", "today", s.Bins)
		}
		p.Scores = ps
	}
	if c := r.Challenger; c != nil && len(c.Histogram) > 0 {
		bins := make([]Bin, len(c.Histogram))
		for i, b := range c.Histogram {
			bins[i] = Bin{Label: fixed(b.Lo, 2) + "–" + fixed(b.Hi, 2),
				Baseline: float64(b.Champion) / float64(max(1, c.SampleRows)), Today: float64(b.Challenger) / float64(max(1, c.SampleRows))}
		}
		p.Shadow = newChart("champion and challenger score distributions", "score", "champion", "challenger", bins)
	}
	if x := r.Explain; x != nil {
		codes := slices.Sorted(maps.Keys(x.Reasons))
		slices.SortStableFunc(codes, func(a, b string) int { return int(x.Reasons[b] - x.Reasons[a]) })
		for _, c := range codes {
			p.ReasonCodes = append(p.ReasonCodes, pageCategory{Value: clip(c, htmlNameChars), Count: numfmt.Thousands(x.Reasons[c]),
				Share: pct(float64(x.Reasons[c]) / float64(max(1, x.Rows)))})
		}
	}
	if v := r.Review; v != nil {
		for _, reason := range slices.Sorted(maps.Keys(v.Reasons)) {
			p.Reasons = append(p.Reasons, pageCategory{Value: clip(reason, htmlNameChars), Count: numfmt.Thousands(v.Reasons[reason]),
				Share: pct(float64(v.Reasons[reason]) / float64(max(1, r.Books.Valid)))})
		}
	}
}

func newPageRule(x RuleResult, pii map[string]bool, perRule int) pageRule {
	pr := pageRule{RuleResult: x, Threshold: "—", Share: pct(x.Fraction), Result: "pass", Class: "ok"}
	if x.MaxInvalidFraction != nil {
		pr.Share, pr.Threshold = numfmt.PctPair(x.Fraction, *x.MaxInvalidFraction)
	}
	switch {
	case x.Passed:
	case x.Action == "warn":
		pr.Result, pr.Class = "warn", "warn"
	default:
		pr.Result, pr.Class = "fail", "bad"
	}
	samples, more := capList(x.Samples, perRule)
	pr.SamplesMore = more
	if len(samples) == 0 {
		return pr
	}
	// The rule's column first, then the others in name order.
	seen := map[string]bool{}
	var cols []string
	for _, s := range samples {
		for k := range s.Values {
			if !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	slices.SortFunc(cols, func(a, b string) int {
		switch {
		case a == x.Column:
			return -1
		case b == x.Column:
			return 1
		}
		return strings.Compare(a, b)
	})
	pr.SampleCols, pr.ColsMore = capList(cols, HTMLSampleColumns)
	for _, s := range samples {
		ps := pageSample{File: clip(s.File, htmlValueChars), Row: s.Row}
		for _, c := range pr.SampleCols {
			v, ok := s.Values[c]
			if pii[c] { // Mask has run; this is a second lock on the door
				v = Masked
			}
			ps.Values = append(ps.Values, pageValue{Text: clip(v, htmlValueChars), Masked: pii[c] && ok, Absent: !ok})
		}
		pr.SampleRows = append(pr.SampleRows, ps)
	}
	for i, c := range pr.SampleCols {
		pr.SampleCols[i] = clip(c, htmlValueChars)
	}
	return pr
}

func newPageColumn(c ColumnReport, masked, full bool) pageColumn {
	pc := pageColumn{ColumnReport: c, PSI: "—", Masked: masked}
	pc.Name = clip(c.Name, htmlNameChars)
	pc.Type = clip(c.Type, 40)
	if c.Drift != nil {
		pc.Band, pc.PSI = band(c.Drift), psiText(c.Drift.PSI)
	}
	if !full {
		return pc
	}
	pc.Quantiles, _ = capList(c.Quantiles, HTMLQuantiles)
	top, more := capList(c.Top, HTMLTopCategories)
	pc.TopMore = more
	for _, t := range top {
		v := t.Value
		if masked {
			v = Masked
		}
		share := "—"
		if c.Count > 0 {
			share = pct(float64(t.Count) / float64(c.Count))
		}
		pc.Top = append(pc.Top, pageCategory{Value: clip(v, htmlValueChars), Count: numfmt.Thousands(t.Count), Share: share})
	}
	if c.Drift != nil && len(c.Drift.Bins) > 0 {
		bins := c.Drift.Bins
		if masked {
			bins = slices.Clone(bins)
			for i := range bins {
				bins[i].Label = maskedBin(i)
			}
		}
		pc.Chart = newChart("histogram of "+clip(c.Name, htmlSampleListChars)+", baseline and today",
			clip(c.Name, htmlSampleListChars), "baseline", "today", bins)
	}
	return pc
}

// band is the drift's band, or the one its PSI falls in when not given.
func band(d *Drift) string {
	if d.Band != "" {
		return d.Band
	}
	return psiBand(d.PSI)
}

func scoreBand(s *ScoreReport) string {
	if s.Band != "" || s.PSI == nil {
		return s.Band
	}
	return psiBand(*s.PSI)
}

// psiText prints a PSI with the digits that place it against the band
// edges: 0.0996 is not shown as a moderate 0.100.
func psiText(psi float64) string { return numfmt.Value(psi, 0.1, 0.25) }

func psiBand(psi float64) string {
	switch {
	case psi >= 0.25 || math.IsNaN(psi):
		return BandMajor
	case psi >= 0.1:
		return BandModerate
	}
	return BandStable
}

// cmpPSI orders columns by drift: no drift first, then by PSI.
func cmpPSI(a, b ColumnReport) int {
	pa, pb := -1.0, -1.0
	if a.Drift != nil && !math.IsNaN(a.Drift.PSI) {
		pa = a.Drift.PSI
	}
	if b.Drift != nil && !math.IsNaN(b.Drift.PSI) {
		pb = b.Drift.PSI
	}
	switch {
	case pa < pb:
		return -1
	case pa > pb:
		return 1
	}
	return 0
}

func capList[T any](s []T, n int) ([]T, int) {
	if len(s) <= n {
		return s, 0
	}
	return s[:n], len(s) - n
}

func clipAll(s []string, chars int) []string {
	s, more := capList(s, HTMLListItems)
	out := make([]string, 0, len(s)+1)
	for _, v := range s {
		out = append(out, clip(v, chars))
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("… and %d more", more))
	}
	return out
}

// clip shortens s to at most n characters, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// num formats an optional number with six significant digits.
func num(v any) string {
	var f float64
	switch x := v.(type) {
	case *float64:
		if x == nil {
			return "—"
		}
		f = *x
	case float64:
		f = x
	default:
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(f, 'g', 6, 64)
}

func fixed(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

// pct formats a share (0–1) as a percentage, keeping small shares visible.
func pct(v float64) string {
	x := v * 100
	switch a := math.Abs(x); {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return strconv.FormatFloat(x, 'f', -1, 64)
	case a == 0:
		return "0%"
	case a < 0.01:
		return strconv.FormatFloat(x, 'g', 2, 64) + "%"
	case a < 10:
		return strconv.FormatFloat(x, 'f', 2, 64) + "%"
	}
	return strconv.FormatFloat(x, 'f', 1, 64) + "%"
}

// qlabel names a quantile: 0.5 → p50, 0.999 → p99.9.
func qlabel(p float64) string {
	return "p" + strconv.FormatFloat(p*100, 'f', -1, 64)
}
