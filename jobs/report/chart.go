package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// chart is a two-series bar chart laid out for the HTML template, which
// draws it as inline SVG. Every coordinate is already a formatted number.
type chart struct {
	W, H           int
	Label          string // aria-label
	XTitle, YTitle string
	A, B           string // legend of the reference series and of today
	HasA           bool
	Left, Top      string
	Right, Bottom  string // plot area edges
	XTitleX        string
	YTitleY        string
	LegendX        string
	LegendTextX    string
	LegendBX       string
	LegendBTextX   string
	Grid           string // path data of every gridline
	TickX          string // where tick labels end, left of the plot
	Ticks          []chartTick
	Groups         []chartGroup
	Omitted        int // bins past maxBins, not drawn
}

// chartTick is a gridline's label and where it is written (LY: the
// gridline's y, lowered to centre the text on it).
type chartTick struct{ LY, Label string }

// chartGroup is one bin: its tooltip, its two bars as SVG path data
// (a bar is "M x bottom v -h h w v h": a third shorter than a rect), and
// its label's position.
type chartGroup struct {
	Tip    string
	A, B   string // path data; A empty without a reference series
	Label  string // empty: not labelled (too many bins)
	LX, LY string
	Rotate bool
}

const (
	chartW, chartH = 560, 250
	padLeft        = 58
	padRight       = 12
	padTop         = 30
	padBottom      = 70 // room for labels rotated by 35°
	padBottomFlat  = 40
	maxBins        = 60
	maxXLabels     = 20
	binLabelChars  = 16
)

// newChart lays out bins (shares 0–1) of reference a and today b.
func newChart(label, xTitle, aName, bName string, bins []Bin) *chart {
	omitted := 0
	if len(bins) > maxBins {
		omitted = len(bins) - maxBins
		bins = bins[:maxBins]
	}
	rotate := len(bins) > 6
	h := chartH
	if !rotate { // short labels, written flat, need less room below
		h -= padBottom - padBottomFlat
	}
	c := &chart{W: chartW, H: h, Label: label, XTitle: xTitle, YTitle: "share of rows",
		A: aName, B: bName, Omitted: omitted}
	left, top := float64(padLeft), float64(padTop)
	right, bottom := float64(chartW-padRight), float64(h-padBottom)
	if !rotate {
		bottom = float64(h - padBottomFlat)
	}
	plotW, plotH := right-left, bottom-top
	c.Left, c.Top, c.Right, c.Bottom = fx(left), fx(top), fx(right), fx(bottom)
	c.XTitleX = fx(left + plotW/2)
	c.YTitleY = fx(top + plotH/2)
	c.LegendX, c.LegendTextX = fx(right-190), fx(right-176)
	c.LegendBX, c.LegendBTextX = fx(right-80), fx(right-66)

	most := 0.0
	for _, b := range bins {
		if share(b.Baseline) > 0 {
			c.HasA = true
		}
		most = math.Max(most, math.Max(share(b.Baseline), share(b.Today)))
	}
	step, ceil := ticks(most)
	c.TickX = fx(left - 6)
	var grid strings.Builder
	for v := 0.0; v <= ceil+step/2; v += step {
		y := bottom - v/ceil*plotH
		fmt.Fprintf(&grid, "M%s %sH%s", c.Left, fx(y), c.Right)
		c.Ticks = append(c.Ticks, chartTick{LY: fx(y + 4), Label: tickLabel(v, step)})
	}
	c.Grid = grid.String()
	if len(bins) == 0 {
		return c
	}
	gw := plotW / float64(len(bins))
	every := (len(bins) + maxXLabels - 1) / maxXLabels
	for i, b := range bins {
		gx := left + float64(i)*gw
		ah := share(b.Baseline) / ceil * plotH
		bh := share(b.Today) / ceil * plotH
		g := chartGroup{
			Tip: fmt.Sprintf("%s — %s %s, %s %s", b.Label, aName, pct(b.Baseline), bName, pct(b.Today)),
			B:   bar(gx+gw*0.5, bottom, gw*0.4, bh),
			LX:  fx(gx + gw/2), LY: fx(bottom + 14), Rotate: rotate,
		}
		if c.HasA {
			g.A = bar(gx+gw*0.1, bottom, gw*0.4, ah)
		}
		if i%every == 0 {
			g.Label = clip(b.Label, binLabelChars)
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

// share clamps a share to [0, 1]; NaN counts as 0.
func share(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	return math.Min(v, 1)
}

// ticks picks a round step for about four gridlines and the axis top.
func ticks(most float64) (step, ceil float64) {
	if most <= 0 {
		return 0.25, 1
	}
	raw := most / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	ceil = math.Ceil(most/step-1e-9) * step
	return step, ceil
}

func tickLabel(v, step float64) string {
	digits := 0
	for s := step * 100; s < 1 && digits < 6; s *= 10 {
		digits++
	}
	if step*100 != math.Trunc(step*100) && digits == 0 {
		digits = 1
	}
	return strconv.FormatFloat(v*100, 'f', digits, 64) + "%"
}

// fx writes a coordinate to a tenth of a pixel, without a trailing ".0".
func fx(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

// bar is the path data of a bar of width w and height h standing on y.
func bar(x, y, w, h float64) string {
	return "M" + fx(x) + " " + fx(y) + "v" + fx(-h) + "h" + fx(w) + "v" + fx(h) + "z"
}
