package trends

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Charts are written as inline SVG by hand: every text goes through
// html.EscapeString, every number through fx. Each chart is an
// <svg class="chart" data-chart=NAME data-points=N> whose N data points are
// <circle class="pt"> elements with a <title> (the tooltip, no script),
// and whose marks are <line class="mk mk-model|mk-rollback|mk-failed">.

const (
	chartW      = 960
	chartH      = 240
	padLeft     = 70
	padRight    = 44
	padTop      = 30
	padBottom   = 40
	xLabels     = 8
	heatRowH    = 14
	heatLeft    = 200
	heatMaxRows = 60 // features drawn in the heat map, most drifted first
)

// series is one line: a value per day, NaN where the day has none.
type series struct {
	Name   string
	Class  string // s0…s7: the colour
	Values []float64
	Dashed bool
	Tip    string // the tooltips' name of a value; "" is Name
}

// axis says how a chart's y axis is drawn.
type axis struct {
	Title   string
	Zero    bool                 // start at 0
	Integer bool                 // counts: gridlines at whole numbers
	Bands   []float64            // horizontal reference lines (PSI bands)
	Format  func(float64) string // tick and tooltip values
}

// lineChart draws series over days, with the days' marks.
func lineChart(name, title string, days []*Day, ss []series, ax axis) template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	points := 0
	for _, s := range ss {
		for _, v := range s.Values {
			if !missing(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
				points++
			}
		}
	}
	for _, b := range ax.Bands {
		if points > 0 {
			hi = math.Max(hi, b)
		}
	}
	if points == 0 {
		lo, hi = 0, 1
	}
	if ax.Zero {
		lo = math.Min(0, lo)
	}
	p := newPlot(days, lo, hi, ax.Integer)
	var ticks []float64
	for v := p.lo; v <= p.hi+p.step/2; v += p.step {
		ticks = append(ticks, v)
	}
	var b strings.Builder
	p.open(&b, name, title, points, days, ticks, ax.Bands, ax)
	// Lines, then points on top.
	for _, s := range ss {
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<path class="line %s" d="%s"%s/>`, s.Class, p.path(s.Values, 0), dash)
		for i, v := range s.Values {
			if missing(v) {
				continue
			}
			tip := s.Tip
			if tip == "" {
				tip = s.Name
			}
			fmt.Fprintf(&b, `<circle class="pt %s" cx="%s" cy="%s" r="2.5"><title>%s %s: %s</title></circle>`,
				s.Class, fx(p.xOf(i)), fx(p.y(v)), esc(days[i].Date), esc(tip), esc(ax.Format(v)))
		}
	}
	p.close(&b, ss)
	return template.HTML(b.String())
}

// plot is a line or interval chart's drawing area, its days' x and its
// y scale: [lo, hi] widened to round gridlines step apart.
type plot struct {
	left, top, right, bottom float64
	step, lo, hi             float64
	xOf                      func(int) float64
}

func newPlot(days []*Day, lo, hi float64, integer bool) plot {
	p := plot{left: padLeft, top: padTop, right: chartW - padRight, bottom: chartH - padBottom}
	p.step, p.lo, p.hi = niceRange(lo, hi, integer)
	p.xOf = dayX(days, p.left, p.right)
	return p
}

func (p plot) y(v float64) float64 { return p.bottom - (v-p.lo)/(p.hi-p.lo)*(p.bottom-p.top) }

// open starts the chart's svg: its title, a gridline with its tick at
// each of ticks, the reference lines at bands inside the range, the axes'
// labels and the days' marks.
func (p plot) open(b *strings.Builder, name, title string, points int, days []*Day, ticks, bands []float64, ax axis) {
	fmt.Fprintf(b, `<svg class="chart" data-chart="%s" data-points="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		esc(name), points, chartW, chartH, esc(title))
	fmt.Fprintf(b, `<text class="title" x="%s" y="16">%s</text>`, fx(p.left), esc(title))
	for _, v := range ticks {
		y := p.y(v)
		fmt.Fprintf(b, `<path class="grid" d="M%s %sH%s"/><text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`,
			fx(p.left), fx(y), fx(p.right), fx(p.left-6), fx(y+4), esc(ax.Format(v)))
	}
	for _, band := range bands {
		if band >= p.lo && band <= p.hi {
			fmt.Fprintf(b, `<path class="band" d="M%s %sH%s"/>`, fx(p.left), fx(p.y(band)), fx(p.right))
		}
	}
	fmt.Fprintf(b, `<text class="axis" transform="translate(14 %s) rotate(-90)" text-anchor="middle">%s</text>`, fx((p.top+p.bottom)/2), esc(ax.Title))
	writeXLabels(b, days, p.xOf, p.bottom)
	writeMarks(b, days, p.xOf, p.top, p.bottom)
}

// path is a series' line, off pixels to the right, broken where a day
// has no value.
func (p plot) path(values []float64, off float64) string {
	var d strings.Builder
	pen := false
	for i, v := range values {
		if missing(v) {
			pen = false
			continue
		}
		op := "L"
		if !pen {
			op = "M"
		}
		fmt.Fprintf(&d, "%s%s %s", op, fx(p.xOf(i)+off), fx(p.y(v)))
		pen = true
	}
	return d.String()
}

// close writes the legend, right-aligned, and ends the svg.
func (p plot) close(b *strings.Builder, ss []series) {
	x := p.right
	for i := len(ss) - 1; i >= 0; i-- {
		w := 26 + 7*float64(len([]rune(ss[i].Name)))
		x -= w
		fmt.Fprintf(b, `<rect class="key %s" x="%s" y="8" width="10" height="10"/><text class="legend" x="%s" y="17">%s</text>`,
			ss[i].Class, fx(x), fx(x+14), esc(ss[i].Name))
	}
	b.WriteString(`</svg>`)
}

// missing says a day has no value: NaN (or an infinity, which no axis holds).
func missing(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// heatMap draws the PSI of each feature (rows, most drifted first) on
// each day (columns). Cells are <rect class="cell hN"> with a tooltip.
func heatMap(days []*Day, features []string) (template.HTML, int) {
	rows := features[:min(len(features), heatMaxRows)]
	left, top := float64(heatLeft), float64(padTop)
	right := float64(chartW - padRight)
	h := padTop + len(rows)*heatRowH + padBottom
	bottom := top + float64(len(rows)*heatRowH)
	cw := (right - left) / float64(max(1, len(days)))
	cells := 0
	var b strings.Builder
	for r, f := range rows {
		y := top + float64(r*heatRowH)
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, fx(left-6), fx(y+heatRowH-3), esc(clip(f, 28)))
		for i, d := range days {
			v, ok := d.PSI[f]
			if !ok {
				continue
			}
			cells++
			fmt.Fprintf(&b, `<rect class="cell %s" x="%s" y="%s" width="%s" height="%d"><title>%s %s: PSI %s</title></rect>`,
				psiClass(v), fx(left+float64(i)*cw), fx(y), fx(math.Max(cw, 0.5)), heatRowH-1, esc(f), esc(d.Date), esc(psiText(v)))
		}
	}
	xOf := func(i int) float64 { return left + (float64(i)+0.5)*cw }
	var head strings.Builder
	fmt.Fprintf(&head, `<svg class="heat" data-chart="psi" data-cells="%d" viewBox="0 0 %d %d" role="img" aria-label="PSI per feature and date">`,
		cells, chartW, h)
	fmt.Fprintf(&head, `<text class="title" x="%s" y="16">PSI per feature against the baseline (rows: most drifted first)</text>`, fx(left))
	head.WriteString(b.String())
	writeXLabels(&head, days, xOf, bottom)
	head.WriteString(`</svg>`)
	return template.HTML(head.String()), cells
}

// dayX places days on the calendar between the first and the last: a
// gap of dates without a run shows as a gap.
func dayX(days []*Day, left, right float64) func(int) float64 {
	if len(days) < 2 {
		return func(int) float64 { return (left + right) / 2 }
	}
	first, _ := spec.ParseDate(days[0].Date)
	last, _ := spec.ParseDate(days[len(days)-1].Date)
	span := last.Sub(first).Hours()
	if span <= 0 {
		span = 1
	}
	offs := make([]float64, len(days))
	for i, d := range days {
		t, _ := spec.ParseDate(d.Date)
		offs[i] = t.Sub(first).Hours() / span
	}
	return func(i int) float64 { return left + 6 + offs[i]*(right-left-12) }
}

func writeXLabels(b *strings.Builder, days []*Day, xOf func(int) float64, bottom float64) {
	n := len(days)
	if n == 0 {
		return
	}
	every := max(1, (n+xLabels-1)/xLabels)
	for i := 0; i < n; i += every {
		fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, fx(xOf(i)), fx(bottom+16), esc(days[i].Date))
	}
}

// writeMarks draws a vertical line at each day with a model change, a
// rollback or a failed execution.
func writeMarks(b *strings.Builder, days []*Day, xOf func(int) float64, top, bottom float64) {
	for i, d := range days {
		x := fx(xOf(i))
		switch {
		case d.Rollback:
			fmt.Fprintf(b, `<line class="mk mk-rollback" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s: rollback to model %s (from %s)</title></line>`,
				x, fx(top), x, fx(bottom), esc(d.Date), esc(d.Run.Model), esc(d.PrevModel))
		case d.ModelChange:
			fmt.Fprintf(b, `<line class="mk mk-model" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s: model %s (was %s)</title></line>`,
				x, fx(top), x, fx(bottom), esc(d.Date), esc(d.Run.Model), esc(d.PrevModel))
		}
		if len(d.Failed) > 0 {
			fmt.Fprintf(b, `<line class="mk mk-failed" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s: %d failed execution(s)</title></line>`,
				x, fx(top), x, fx(bottom), esc(d.Date), len(d.Failed))
		}
	}
}

// niceRange widens [lo, hi] to round gridlines, about four of them.
func niceRange(lo, hi float64, integer bool) (step, nlo, nhi float64) {
	switch {
	case hi <= lo && hi == 0:
		hi = 1
	case hi <= lo:
		pad := math.Abs(hi) * 0.1
		lo, hi = lo-pad, hi+pad
	}
	raw := (hi - lo) / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	if integer {
		step = math.Max(1, math.Round(step))
	}
	return step, math.Floor(lo/step+1e-9) * step, math.Ceil(hi/step-1e-9) * step
}

func psiClass(v float64) string {
	switch {
	case v >= 0.25:
		return "h4"
	case v >= 0.1:
		return "h3"
	case v >= 0.05:
		return "h2"
	case v >= 0.02:
		return "h1"
	}
	return "h0"
}

func psiText(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// count formats a row count with separators; general a metric.
func count(v float64) string { return numfmt.Thousands(int64(math.Round(v))) }
func general(v float64) string {
	if v != 0 && math.Abs(v) < 1e-3 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func esc(s string) string { return html.EscapeString(s) }

// fx writes a coordinate to a tenth of a pixel.
func fx(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// clip shortens s to n characters, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// band is a series with a 95 % interval per day: NaN where none.
type band struct {
	series
	Lo, Hi []float64
	What   string // the tooltip's name of the value, e.g. "arm b AUC"
}

// intervalChart draws each series' points with their intervals as
// vertical whiskers, the series side by side (offset a few pixels) so
// that the arms' intervals of one day stay apart; zero draws a line at 0.
func intervalChart(name, title string, days []*Day, bs []band, ax axis, zero bool) template.HTML {
	lo, hi := math.Inf(1), math.Inf(-1)
	points := 0
	for _, s := range bs {
		for i, v := range s.Values {
			if missing(v) {
				continue
			}
			points++
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			if !math.IsNaN(s.Lo[i]) {
				lo, hi = math.Min(lo, s.Lo[i]), math.Max(hi, s.Hi[i])
			}
		}
	}
	if points == 0 {
		lo, hi = 0, 1
	}
	var bands []float64
	if zero {
		lo, hi = math.Min(lo, 0), math.Max(hi, 0)
		bands = []float64{0}
	}
	p := newPlot(days, lo, hi, false)
	var ticks []float64
	for k := 0; p.lo+float64(k)*p.step <= p.hi+p.step/2; k++ {
		v := p.lo + float64(k)*p.step
		if math.Abs(v) < p.step*1e-9 {
			v = 0 // not 1.39e-17 after adding steps from below zero
		}
		ticks = append(ticks, v)
	}
	var b strings.Builder
	p.open(&b, name, title, points, days, ticks, bands, ax)
	keys := make([]series, len(bs))
	for k, s := range bs {
		keys[k] = s.series
		off := (float64(k) - float64(len(bs)-1)/2) * 5
		fmt.Fprintf(&b, `<path class="line %s" d="%s"/>`, s.Class, p.path(s.Values, off))
		for i, v := range s.Values {
			if missing(v) {
				continue
			}
			x := p.xOf(i) + off
			tip := fmt.Sprintf("%s %s: %s", days[i].Date, s.What, ax.Format(v))
			if l, h := s.Lo[i], s.Hi[i]; !math.IsNaN(l) {
				fmt.Fprintf(&b, `<path class="line ci %s" d="M%s %sV%s"/>`, s.Class, fx(x), fx(p.y(l)), fx(p.y(h)))
				tip += fmt.Sprintf(" (95 %% interval %s to %s)", ax.Format(l), ax.Format(h))
			}
			fmt.Fprintf(&b, `<circle class="pt %s" cx="%s" cy="%s" r="3"><title>%s</title></circle>`, s.Class, fx(x), fx(p.y(v)), esc(tip))
		}
	}
	p.close(&b, keys)
	return template.HTML(b.String())
}
