package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/batchscore/batchscore/jobs"
)

// progressLine redraws one line on a terminal with rows done, rows/s and
// an ETA, at most five times a second.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	drawn bool
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, start: time.Now()}
}

func (p *progressLine) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := "?"
	if rate > 0 && total >= done {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	if total <= 0 { // a query: the total is known only at the end
		fmt.Fprintf(p.w, "\r\033[K%d rows  %.0f rows/s", done, rate)
		p.drawn = true
		return
	}
	pct := 100 * float64(done) / float64(total)
	fmt.Fprintf(p.w, "\r\033[K%d/%d rows (%.0f%%)  %.0f rows/s  ETA %s", done, total, pct, rate, eta)
	p.drawn = true
}

func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// runWithProgress runs req, with a progress line on stderr when it is a
// terminal.
func runWithProgress(ctx context.Context, runner *jobs.Runner, req jobs.Request) (*jobs.Result, error) {
	if !stderrIsTerminal() {
		return runner.Run(ctx, req)
	}
	progress := newProgressLine(os.Stderr)
	runner.Progress = progress.update
	res, err := runner.Run(ctx, req)
	progress.done()
	return res, err
}
