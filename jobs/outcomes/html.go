package outcomes

import (
	"bytes"
	"fmt"
	"html/template"
)

// HTML renders the report as one self-contained page: inline CSS and an
// inline SVG calibration chart, no script, nothing fetched.
func HTML(rep *Report) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, rep); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func fmtNum(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.4f", *p)
}

// calibrationSVG draws mean score against observed rate per decile, with
// the diagonal of perfect calibration.
func calibrationSVG(m *Metrics) template.HTML {
	if m == nil || len(m.Calibration) == 0 {
		return ""
	}
	const size, pad = 220.0, 20.0
	xy := func(x, y float64) (float64, float64) {
		return pad + x*(size-2*pad), size - pad - y*(size-2*pad)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg class="cal" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="calibration">`, size, size, size, size)
	x0, y0 := xy(0, 0)
	x1, y1 := xy(1, 1)
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" class="frame"/>`, x0, y1, x1-x0, y0-y1)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" class="diag"/>`, x0, y0, x1, y1)
	var pts bytes.Buffer
	for _, bin := range m.Calibration {
		x, y := xy(bin.MeanScore, bin.ObservedRate)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" class="pt"><title>decile %d: mean score %.3f, observed %.3f, %d rows</title></circle>`,
			x, y, bin.Decile, bin.MeanScore, bin.ObservedRate, bin.Rows)
	}
	fmt.Fprintf(&b, `<polyline points="%s" class="curve"/>`, bytes.TrimSpace(pts.Bytes()))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// verdict says what an arm's AUC difference means against the margin.
func verdict(d *AUCDifference) string {
	switch {
	case d.Upper == nil:
		return "undefined"
	case d.Worse != nil && *d.Worse:
		return fmt.Sprintf("worse by more than the margin %g", *d.Margin)
	case d.Worse != nil:
		return fmt.Sprintf("not shown worse by more than the margin %g", *d.Margin)
	case *d.Upper < 0:
		return "worse (no margin set)"
	case *d.Lower > 0:
		return "better"
	}
	return "no difference shown"
}

var page = template.Must(template.New("outcomes").Funcs(template.FuncMap{
	"num": fmtNum, "cal": calibrationSVG, "arr": func(v ...any) []any { return v },
	"deref": func(b *bool) bool { return b != nil && *b }, "verdict": verdict,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Outcomes {{.Job}} {{.Date}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.fail{color:#b00;font-weight:bold}.ok{color:#070}
svg.cal .frame{fill:none;stroke:#999}svg.cal .diag{stroke:#bbb;stroke-dasharray:4}
svg.cal .curve{fill:none;stroke:#1f77b4;stroke-width:2}svg.cal .pt{fill:#1f77b4}
.charts{display:flex;gap:2em}
</style></head><body>
<h1>Outcomes: {{.Job}}, score date {{.Date}}</h1>
<p>Version {{.Version}} (run {{.RunID}}), evaluated {{.EvaluatedAt.Format "2006-01-02 15:04:05Z"}}.
Labels: column <code>{{.Labels.Label}}</code> from <code>{{.Labels.Source}}</code>, {{.Labels.Rows}} rows. Threshold {{.Threshold}}.</p>
{{with .Gate}}<p class="{{if .Passed}}ok{{else}}fail{{end}}">Gate: {{if .Passed}}passed{{else}}failed: {{range .Reasons}}{{.}}. {{end}}{{end}}</p>{{end}}
<h2>Models</h2>
<table><tr><th class="l">model</th><th>scored</th><th>labelled</th><th>matched</th><th>labels without score</th><th>base rate</th><th>AUC</th><th>Gini</th><th>KS</th><th>Brier</th><th>log loss</th><th>ECE</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>precision</th><th>recall</th></tr>
{{template "row" (arr "champion" .Champion)}}{{with .Challenger}}{{template "row" (arr "challenger" .)}}{{end}}
</table>
<div class="charts"><div><h3>Champion calibration</h3>{{cal .Champion}}</div>{{with .Challenger}}<div><h3>Challenger calibration</h3>{{cal .}}</div>{{end}}</div>
<h3>Champion calibration by decile</h3>
<table><tr><th>decile</th><th>rows</th><th>mean score</th><th>observed rate</th></tr>
{{range .Champion.Calibration}}<tr><td>{{.Decile}}</td><td>{{.Rows}}</td><td>{{printf "%.4f" .MeanScore}}</td><td>{{printf "%.4f" .ObservedRate}}</td></tr>{{end}}
</table>
{{with .Arms}}<h2>Arms</h2>
<p>Rows by the result table's <code>arm</code> column; each arm's AUC with its 95 % interval (DeLong), and its difference from the reference arm's (independent arms: the variances add).</p>
<table><tr><th class="l">arm</th><th>scored</th><th>labelled</th><th>matched</th><th>labels without score</th><th>base rate</th><th>AUC</th><th>Gini</th><th>KS</th><th>Brier</th><th>log loss</th><th>ECE</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>precision</th><th>recall</th></tr>
{{range .}}{{template "row" (arr .Arm .Metrics)}}{{end}}
</table>
<table><tr><th class="l">arm</th><th>AUC</th><th>95 % interval</th><th>AUC − reference</th><th>95 % interval</th><th class="l">verdict</th><th>rows</th><th>mean score</th><th>score PSI</th><th class="l">against</th></tr>
{{range .}}<tr><td class="l">{{.Arm}}{{if .Reference}} (reference){{end}}</td><td>{{num .AUC}}</td><td>{{num .AUCLower}} to {{num .AUCUpper}}</td>{{with .VsReference}}<td>{{num .Difference}}</td><td>{{num .Lower}} to {{num .Upper}}</td><td class="l{{if deref .Worse}} fail{{end}}">{{verdict .}}</td>{{else}}<td>–</td><td>–</td><td class="l">reference</td>{{end}}{{with .Scores}}<td>{{.Rows}}</td><td>{{num .Mean}}</td><td>{{num .PSI}}{{with .Band}} ({{.}}){{end}}</td><td class="l">{{if .PreviousDate}}{{.PreviousDate}}{{else}}no earlier date{{end}}</td>{{else}}<td></td><td></td><td></td><td></td>{{end}}</tr>{{end}}
</table>{{end}}
{{if .Segments}}<h2>Segments</h2>
<table><tr><th class="l">segment</th><th>scored</th><th>labelled</th><th>matched</th><th>labels without score</th><th>base rate</th><th>AUC</th><th>Gini</th><th>KS</th><th>Brier</th><th>log loss</th><th>ECE</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th><th>precision</th><th>recall</th></tr>
{{range .Segments}}{{template "row" (arr (printf "%s = %s (champion)" .Column .Value) .Champion)}}{{with .Challenger}}{{template "row" (arr "… challenger" .)}}{{end}}{{end}}
</table>{{end}}
<p>– : undefined (one class only, no predicted positive, or scores outside [0, 1]).</p>
</body></html>
{{define "row"}}{{$n := index . 0}}{{$m := index . 1}}<tr><td class="l">{{$n}}{{with $m.ModelVersion}} ({{.}}){{end}}</td><td>{{$m.RowsScored}}</td><td>{{$m.Labelled}}</td><td>{{$m.Matched}}</td><td>{{$m.LabelsWithoutScore}}</td><td>{{num $m.BaseRate}}</td><td>{{num $m.AUC}}</td><td>{{num $m.Gini}}</td><td>{{num $m.KS}}</td><td>{{num $m.Brier}}</td><td>{{num $m.LogLoss}}</td><td>{{num $m.ECE}}</td><td>{{$m.Confusion.TP}}</td><td>{{$m.Confusion.FP}}</td><td>{{$m.Confusion.TN}}</td><td>{{$m.Confusion.FN}}</td><td>{{num $m.Precision}}</td><td>{{num $m.Recall}}</td></tr>{{end}}`))
