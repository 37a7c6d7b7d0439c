package route

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/scoring"
)

// shadowSample caps the rows the rank statistics are computed on: all of
// them up to here, a seeded reservoir sample beyond, so memory stays flat.
const shadowSample = 1 << 20

// challenger scores the champion's chunks with a second model. Whatever
// goes wrong with it is reported and never fails the run.
type challenger struct {
	model     *loaded
	scorer    *scoring.Scorer
	threshold float64
	rep       report.Challenger
	canary    bool // a canary publishes its scores: see canary.go

	// err is the failure of the earliest chunk in snapshot order (errSeq;
	// -1 before the first chunk): workers keep scoring the chunks before
	// it, so the error named is the same whatever the number of workers.
	mu     sync.Mutex
	err    error
	errSeq int64
	warned bool
	warn   func(error) // logs a failure once the run knows it

	// Written in input order by the pipeline's writing stage only.
	table *output.SideTable
	stats shadowStats
}

// openChallenger loads the challenger; a challenger that does not load is
// recorded as failed and the run goes on without it.
func (o *opener) openChallenger(championLoaded bool) *challenger {
	job := o.Job
	c := &challenger{threshold: job.Challenger.DecisionThreshold()}
	c.warn = func(err error) {
		o.Log.Warn("challenger failed: the run goes on without it, its shadow table is not published", "err", err)
	}
	c.rep.Threshold = c.threshold
	c.rep.Status = report.ChallengerCompared
	if !championLoaded {
		c.fail(beforeChunks, fmt.Errorf("the champion did not load: nothing to compare with"))
		c.warned = true // the champion's failure is logged
		return c
	}
	m, err := o.loadModel(job.Challenger.Model, "challenger", &c.rep.Model)
	if err != nil {
		c.fail(beforeChunks, err)
		c.warned = true
		o.Log.Warn("challenger failed to load: the run goes on without it", "err", err)
		return c
	}
	c.model = m
	c.scorer = &scoring.Scorer{Session: m.session, Binding: m.feed, Named: m.binding, Mem: o.Mem}
	c.stats.rng = rand.New(rand.NewPCG(1, 2))
	return c
}

// Where a challenger failure happened, for the ones that are not a chunk's.
const (
	beforeChunks = -1            // at load, or on the snapshot's schema
	afterChunks  = math.MaxInt64 // closing the shadow table
)

// fail records err, of the chunk numbered seq, if no earlier chunk failed.
func (c *challenger) fail(seq int64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil || seq < c.errSeq {
		c.err, c.errSeq = err, seq
	}
}

// failedBefore says whether a chunk before the one numbered seq failed:
// the chunk need not be scored, its error would not be the one named.
func (c *challenger) failedBefore(seq int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil && c.errSeq < seq
}

// warnFailed logs the failure, once, when there is one.
func (c *challenger) warnFailed() {
	c.mu.Lock()
	err, warned := c.err, c.warned
	c.warned = true
	c.mu.Unlock()
	if err != nil && !warned && c.warn != nil {
		c.warn(err)
	}
}

func (c *challenger) failed() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// score adds the challenger's scores to a chunk the champion scored.
func (c *challenger) score(ctx context.Context, sc *scoring.Scored, buf *scoring.Buffers) {
	// With a canary every chunk is tried, so which rows fall back does
	// not depend on the order the workers finish in.
	if c.scorer == nil || (!c.canary && c.failedBefore(sc.Seq)) || (c.canary && c.failedBefore(0)) {
		return
	}
	r, err := c.scorer.ScoreChunk(ctx, sc.Chunk, buf)
	if err != nil {
		c.fail(sc.Seq, fmt.Errorf("challenger: %w", err))
		return
	}
	if r.Label != nil && c.canary && sc.Label != nil {
		sc.ShadowLabel = r.Label
	} else if r.Label != nil {
		r.Label.Release()
	}
	sc.Shadow = r.Score
}

// write puts a chunk's pair of scores into the shadow table and the
// comparison. Called in input order.
func (c *challenger) write(s scoring.Scored) {
	if c.failed() != nil || c.table == nil {
		return
	}
	if s.Shadow == nil {
		c.fail(s.Seq, fmt.Errorf("challenger: %s: rows from %d were not scored", s.File, s.Offset))
		return
	}
	if err := c.table.Write(s.Record, []arrow.Array{s.Score, s.Shadow}); err != nil {
		c.fail(s.Seq, fmt.Errorf("challenger: writing the shadow table: %w", err))
		return
	}
	champ, chall := s.Score.Float64Values(), s.Shadow.Float64Values()
	for i := range champ {
		if s.Source != nil && s.Source.Value(i) != sourceModel {
			continue // a fallback score says nothing about the champion
		}
		c.stats.add(champ[i], chall[i], c.threshold)
	}
}

// summary is the comparison for the manifest and report.
func (c *challenger) summary() *report.Challenger {
	rep := c.rep
	if c.model != nil {
		rep.Model.Engine = c.model.engine()
	}
	if err := c.failed(); err != nil {
		rep.Status, rep.Error = report.ChallengerFailed, err.Error()
		rep.Files, rep.Path = nil, ""
		return &rep
	}
	return &rep
}

// finish works out the comparison once the shadow table is complete.
func (c *challenger) finish() {
	if c.failed() == nil {
		c.stats.finish(&c.rep)
	}
}

// shadowStats accumulates the comparison of two score columns.
type shadowStats struct {
	n                  int64
	sumAbs, maxAbs     float64
	flippedUp, flipped int64
	rng                *rand.Rand
	champ, chall       []float64 // the sample
}

func (s *shadowStats) add(a, b, threshold float64) {
	s.n++
	d := math.Abs(a - b)
	s.sumAbs += d
	s.maxAbs = max(s.maxAbs, d)
	if (a >= threshold) != (b >= threshold) {
		s.flipped++
		if b >= threshold {
			s.flippedUp++
		}
	}
	switch {
	case len(s.champ) < shadowSample:
		s.champ, s.chall = append(s.champ, a), append(s.chall, b)
	default:
		if j := s.rng.Int64N(s.n); j < shadowSample {
			s.champ[j], s.chall[j] = a, b
		}
	}
}

func (s *shadowStats) finish(rep *report.Challenger) {
	rep.Rows = s.n
	rep.SampleRows = int64(len(s.champ))
	rep.Flipped, rep.FlippedUp, rep.FlippedDown = s.flipped, s.flippedUp, s.flipped-s.flippedUp
	if s.n == 0 {
		return
	}
	rep.MeanAbsDiff = s.sumAbs / float64(s.n)
	rep.MaxAbsDiff = s.maxAbs
	rep.Spearman = spearman(s.champ, s.chall)
	rep.TopDecileOverlap = topDecileOverlap(s.champ, s.chall)
	rep.Histogram = shadowHistogram(s.champ, s.chall, 20)
}

// ranks gives average ranks (1-based), ties sharing theirs.
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// spearman is the rank correlation; 1 when either side is constant and
// both are equal, 0 when only one is constant.
func spearman(a, b []float64) float64 {
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	n := float64(len(ra))
	ma, mb = ma/n, mb/n
	var cov, va, vb float64
	for i := range ra {
		cov += (ra[i] - ma) * (rb[i] - mb)
		va += (ra[i] - ma) * (ra[i] - ma)
		vb += (rb[i] - mb) * (rb[i] - mb)
	}
	if va == 0 || vb == 0 {
		if va == vb {
			return 1
		}
		return 0
	}
	return cov / math.Sqrt(va*vb)
}

// topDecileOverlap is the share of the champion's top 10% of rows that
// are also in the challenger's top 10% (ties broken by row order).
func topDecileOverlap(a, b []float64) float64 {
	k := (len(a) + 9) / 10
	top := func(v []float64) map[int]bool {
		idx := make([]int, len(v))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(x, y int) bool { return v[idx[x]] > v[idx[y]] })
		set := make(map[int]bool, k)
		for _, i := range idx[:k] {
			set[i] = true
		}
		return set
	}
	ta, tb := top(a), top(b)
	both := 0
	for i := range ta {
		if tb[i] {
			both++
		}
	}
	return float64(both) / float64(k)
}

// shadowHistogram bins both samples over one range: [0, 1] for
// probabilities, else the samples' own range.
func shadowHistogram(a, b []float64, bins int) []report.ShadowBin {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range a {
		lo, hi = min(lo, a[i], b[i]), max(hi, a[i], b[i])
	}
	if lo >= 0 && hi <= 1 {
		lo, hi = 0, 1
	}
	if hi == lo {
		hi = lo + 1
	}
	width := (hi - lo) / float64(bins)
	out := make([]report.ShadowBin, bins)
	for i := range out {
		out[i].Lo, out[i].Hi = lo+float64(i)*width, lo+float64(i+1)*width
	}
	bin := func(v float64) int { return min(bins-1, max(0, int((v-lo)/width))) }
	for i := range a {
		out[bin(a[i])].Champion++
		out[bin(b[i])].Challenger++
	}
	return out
}
