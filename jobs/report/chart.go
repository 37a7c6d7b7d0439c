package report

import (
	"fmt"
	"math"
	"strconv"
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
	Ticks          []chartTick
	Groups         []chartGroup
	Omitted        int // bins past maxBins, not drawn
}

type chartTick struct{ Y, Label string }

type chartGroup struct {
	Tip        string
	AX, AY, AH string
	BX, BY, BH string
	W          string
	Label      string // empty: not labelled (too many bins)
	LX, LY     string
	Rotate     bool
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
	for v := 0.0; v <= ceil+step/2; v += step {
		c.Ticks = append(c.Ticks, chartTick{Y: fx(bottom - v/ceil*plotH), Label: tickLabel(v, step)})
	}
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
			AX:  fx(gx + gw*0.1), AY: fx(bottom - ah), AH: fx(ah),
			BX: fx(gx + gw*0.5), BY: fx(bottom - bh), BH: fx(bh),
			W:  fx(gw * 0.4),
			LX: fx(gx + gw/2), LY: fx(bottom + 14), Rotate: rotate,
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

func fx(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
