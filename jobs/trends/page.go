package trends

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/batchscore/batchscore/jobs/numfmt"
)

// CSP is the Content-Security-Policy of every page: nothing is loaded
// from anywhere, no script runs; inline styles and data: images only.
// The static pages carry it in a <meta> tag, serve sends it as a header.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

// Caps that keep a page small whatever the history holds.
const (
	maxRuleLines = 7   // quarantine lines: the rules that rejected most, the rest summed
	maxRunRows   = 400 // rows of the runs table (newest first); the rest are counted
	maxNotes     = 50
	errorChars   = 300
)

//go:embed trends.html.tmpl
var pageSource string

var pages = template.Must(template.New("trends").Funcs(template.FuncMap{
	"int":  numfmt.Thousands,
	"clip": clip,
	"metric": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return general(*v)
	},
	"htmlfile": outcomesHTML,
	"yes":      func(b *bool) bool { return b != nil && *b },
	"path": func(parts ...string) string {
		for i, p := range parts {
			parts[i] = escapePath(p)
		}
		return strings.Join(parts, "/")
	},
}).Parse(pageSource))

// escapePath escapes one segment of a relative link. Names are already
// restricted (job names, dates, version names); this keeps it so.
func escapePath(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// outcomesHTML is the page beside an outcomes file.
func outcomesHTML(file string) string { return strings.TrimSuffix(file, ".json") + ".html" }

// IndexEntry is one job of the jobs list.
type IndexEntry struct {
	Name  string
	Job   *Job   // nil when Err is set
	Err   string // why its history could not be read
	Last  *Run
	First string
	Dates int
}

type indexPage struct {
	CSP  string
	Jobs []IndexEntry
}

// WriteIndex writes the jobs list; each job links to jobs/<name>/index.html.
func WriteIndex(w io.Writer, entries []IndexEntry) error {
	for i := range entries {
		e := &entries[i]
		if j := e.Job; j != nil && len(j.Days) > 0 {
			e.First, e.Dates = j.Days[0].Date, len(j.Days)
			e.Last = j.Days[len(j.Days)-1].Run
		}
		e.Err = clip(e.Err, 2*errorChars)
	}
	if err := pages.ExecuteTemplate(w, "index", indexPage{CSP: CSP, Jobs: entries}); err != nil {
		return fmt.Errorf("rendering the jobs list: %w", err)
	}
	return nil
}

type jobPage struct {
	CSP                 string
	J                   *Job
	Failed, Changes     int
	Rows, Quarantine    template.HTML
	Heat                template.HTML
	HeatMore            int
	Quantiles, ScorePSI template.HTML
	AUC, Calibration    template.HTML
	// The arms side by side: AUC with its interval, the difference from
	// the reference arm, rows scored and score PSI per arm.
	ArmAUC, ArmDiff template.HTML
	ArmRows, ArmPSI template.HTML
	ArmEvals        []armRow // newest date first
	Runs            []*Run
	RunsMore        int
	Evals           []evalRow // newest date first
	First, Last     string
	Notes           []string
}

type armRow struct {
	Date string
	A    ArmOutcome
}

type evalRow struct {
	Date string
	O    *Outcome
}

// WriteJob writes a job's page. Its links are relative: the run files at
// runs/<date>/<file>, the jobs list at ../../index.html.
func WriteJob(w io.Writer, j *Job) error {
	p := &jobPage{CSP: CSP, J: j}
	for _, d := range j.Days {
		p.Failed += len(d.Failed)
		if d.ModelChange {
			p.Changes++
		}
	}
	rows := axis{Title: "rows", Zero: true, Integer: true, Format: count}
	p.Rows = lineChart("rows", "Rows read and scored", j.Days, []series{
		{Name: "read", Class: "s0", Values: perDay(j.Days, func(d *Day) (float64, bool) { return float64(d.Run.Read), true })},
		{Name: "scored", Class: "s1", Values: perDay(j.Days, func(d *Day) (float64, bool) { return float64(d.Run.Scored), true })},
	}, rows)
	p.Quarantine = lineChart("quarantine", "Rows quarantined, in all and per rule", j.Days, quarantineSeries(j), rows)
	if len(j.Features) > 0 {
		p.Heat, _ = heatMap(j.Days, j.Features)
		p.HeatMore = max(0, len(j.Features)-heatMaxRows)
	}
	if len(j.Quantiles) > 0 {
		p.Quantiles = lineChart("quantiles", "Score quantiles", j.Days, quantileSeries(j), axis{Title: "score", Format: general})
	}
	if hasAny(j.Days, func(d *Day) bool { return d.ScorePSI != nil }) {
		p.ScorePSI = lineChart("score_psi", "Score PSI against the previous run (bands at 0.1 and 0.25)", j.Days, []series{
			{Name: "score PSI", Class: "s0", Values: perDay(j.Days, func(d *Day) (float64, bool) { return deref(d.ScorePSI) })},
		}, axis{Title: "PSI", Zero: true, Bands: []float64{0.1, 0.25}, Format: general})
	}
	if hasAny(j.Days, func(d *Day) bool { return d.Outcome != nil }) {
		out := func(f func(o *Outcome) *float64) []float64 {
			return perDay(j.Days, func(d *Day) (float64, bool) {
				if d.Outcome == nil {
					return 0, false
				}
				return deref(f(d.Outcome))
			})
		}
		ss := []series{
			{Name: "AUC", Class: "s0", Values: out(func(o *Outcome) *float64 { return o.AUC })},
			{Name: "KS", Class: "s1", Values: out(func(o *Outcome) *float64 { return o.KS })},
		}
		if hasAny(j.Days, func(d *Day) bool { return d.Outcome != nil && d.Outcome.ChallengerAUC != nil }) {
			ss = append(ss, series{Name: "challenger AUC", Class: "s2", Dashed: true, Values: out(func(o *Outcome) *float64 { return o.ChallengerAUC })})
		}
		p.AUC = lineChart("auc", "Outcomes: AUC and KS of the published scores", j.Days, ss, axis{Format: general})
		p.Calibration = lineChart("calibration", "Outcomes: Brier score and expected calibration error", j.Days, []series{
			{Name: "Brier", Class: "s3", Values: out(func(o *Outcome) *float64 { return o.Brier })},
			{Name: "ECE", Class: "s4", Values: out(func(o *Outcome) *float64 { return o.ECE })},
		}, axis{Zero: true, Format: general})
	}
	p.armCharts(j)
	if n := len(j.Days); n > 0 {
		p.First, p.Last = j.Days[0].Date, j.Days[n-1].Date
	}
	for i := len(j.Days) - 1; i >= 0 && len(p.Evals) < maxRunRows; i-- {
		if o := j.Days[i].Outcome; o != nil {
			p.Evals = append(p.Evals, evalRow{j.Days[i].Date, o})
		}
	}
	p.Runs = j.Runs[:min(len(j.Runs), maxRunRows)]
	p.RunsMore = len(j.Runs) - len(p.Runs)
	for _, r := range p.Runs {
		r.Error = clip(r.Error, errorChars)
	}
	p.Notes = j.Notes[:min(len(j.Notes), maxNotes)]
	if more := len(j.Notes) - len(p.Notes); more > 0 {
		p.Notes = append(p.Notes, fmt.Sprintf("… and %d more", more))
	}
	if err := pages.ExecuteTemplate(w, "job", p); err != nil {
		return fmt.Errorf("rendering the page of job %s: %w", j.Name, err)
	}
	return nil
}

// maxArms caps the arms drawn (the chart colours); the table lists all.
const maxArms = 8

// armCharts draws the arms of the outcomes files side by side over the
// dates, and lists each date's arms.
func (p *jobPage) armCharts(j *Job) {
	if len(j.Arms) == 0 {
		return
	}
	arm := func(d *Day, name string) *ArmOutcome {
		if d.Outcome == nil {
			return nil
		}
		for i := range d.Outcome.Arms {
			if d.Outcome.Arms[i].Arm == name {
				return &d.Outcome.Arms[i]
			}
		}
		return nil
	}
	vals := func(name string, f func(a *ArmOutcome) *float64) []float64 {
		return perDay(j.Days, func(d *Day) (float64, bool) {
			if a := arm(d, name); a != nil {
				return deref(f(a))
			}
			return 0, false
		})
	}
	var auc, diff []band
	var rows, psi []series
	for k, name := range j.Arms[:min(len(j.Arms), maxArms)] {
		class := "s" + strconv.Itoa(k)
		auc = append(auc, band{series: series{Name: name, Class: class, Values: vals(name, func(a *ArmOutcome) *float64 { return a.AUC })},
			Lo: vals(name, func(a *ArmOutcome) *float64 { return a.Lower }), Hi: vals(name, func(a *ArmOutcome) *float64 { return a.Upper }),
			What: "arm " + name + " AUC"})
		d := band{series: series{Name: name, Class: class, Values: vals(name, func(a *ArmOutcome) *float64 { return a.Diff })},
			Lo: vals(name, func(a *ArmOutcome) *float64 { return a.DiffLower }), Hi: vals(name, func(a *ArmOutcome) *float64 { return a.DiffUpper }),
			What: "arm " + name + " AUC − reference"}
		if slices.ContainsFunc(d.Values, func(v float64) bool { return !math.IsNaN(v) }) {
			diff = append(diff, d)
		}
		rows = append(rows, series{Name: name, Class: class, Values: perDay(j.Days, func(d *Day) (float64, bool) {
			if a := arm(d, name); a != nil {
				return float64(a.Scored), true
			}
			return 0, false
		})})
		psi = append(psi, series{Name: name, Tip: "arm " + name + " score PSI", Class: class, Values: vals(name, func(a *ArmOutcome) *float64 { return a.ScorePSI })})
	}
	p.ArmAUC = intervalChart("arm_auc", "Outcomes per arm: AUC with its 95 % interval (DeLong)", j.Days, auc, axis{Title: "AUC", Format: general}, false)
	if len(diff) > 0 {
		p.ArmDiff = intervalChart("arm_auc_difference", "Outcomes per arm: AUC minus the reference arm's, with its 95 % interval", j.Days, diff, axis{Title: "AUC difference", Format: general}, true)
	}
	p.ArmRows = lineChart("arm_rows", "Rows scored per arm", j.Days, rows, axis{Title: "rows", Zero: true, Integer: true, Format: count})
	if slices.ContainsFunc(psi, func(s series) bool {
		return slices.ContainsFunc(s.Values, func(v float64) bool { return !math.IsNaN(v) })
	}) {
		p.ArmPSI = lineChart("arm_score_psi", "Score PSI per arm against its previous date (bands 0.1, 0.25)", j.Days, psi,
			axis{Title: "PSI", Zero: true, Bands: []float64{0.1, 0.25}, Format: general})
	}
	for i := len(j.Days) - 1; i >= 0 && len(p.ArmEvals) < maxRunRows; i-- {
		if o := j.Days[i].Outcome; o != nil {
			for _, a := range o.Arms {
				p.ArmEvals = append(p.ArmEvals, armRow{j.Days[i].Date, a})
			}
		}
	}
}

// quarantineSeries is the total and the rules that rejected most; the
// others are summed into one line.
func quarantineSeries(j *Job) []series {
	ss := []series{{Name: "quarantined", Class: "s0", Values: perDay(j.Days, func(d *Day) (float64, bool) { return float64(d.Run.Quarantined), true })}}
	total := map[string]int64{}
	for _, d := range j.Days {
		for r, n := range d.Quarantined {
			total[r] += n
		}
	}
	rules := slices.Clone(j.Rules)
	slices.SortStableFunc(rules, func(a, b string) int { return int(sign(total[b] - total[a])) })
	shown := rules[:min(len(rules), maxRuleLines-1)]
	for i, r := range shown {
		ss = append(ss, series{Name: clip(r, 40), Class: "s" + strconv.Itoa(i+1), Values: perDay(j.Days, func(d *Day) (float64, bool) {
			n, ok := d.Quarantined[r]
			return float64(n), ok
		})})
	}
	if rest := rules[len(shown):]; len(rest) > 0 {
		ss = append(ss, series{Name: fmt.Sprintf("%d other rules", len(rest)), Class: "s7", Values: perDay(j.Days, func(d *Day) (float64, bool) {
			var n int64
			for _, r := range rest {
				n += d.Quarantined[r]
			}
			return float64(n), d.Quarantined != nil
		})})
	}
	return ss
}

// quantileSeries draws p5, p25, p50, p75 and p95 when the reports have
// them, else the first seven quantiles.
func quantileSeries(j *Job) []series {
	ps := []float64{0.05, 0.25, 0.5, 0.75, 0.95}
	for _, p := range ps {
		if !slices.Contains(j.Quantiles, p) {
			ps = j.Quantiles[:min(len(j.Quantiles), 7)]
			break
		}
	}
	var ss []series
	for i, p := range ps {
		ss = append(ss, series{Name: "p" + strconv.FormatFloat(p*100, 'f', -1, 64), Class: "s" + strconv.Itoa(i), Values: perDay(j.Days, func(d *Day) (float64, bool) {
			for _, q := range d.ScoreQuantiles {
				if q.P == p {
					return q.Value, true
				}
			}
			return 0, false
		})})
	}
	return ss
}

func perDay(days []*Day, f func(*Day) (float64, bool)) []float64 {
	out := make([]float64, len(days))
	for i, d := range days {
		v, ok := f(d)
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

func hasAny(days []*Day, f func(*Day) bool) bool { return slices.ContainsFunc(days, f) }

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

func sign(n int64) int64 {
	switch {
	case n > 0:
		return 1
	case n < 0:
		return -1
	}
	return 0
}
