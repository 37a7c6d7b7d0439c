// Package backfill plans and runs a range of logical dates of one job.
// Plan decides, from the table's run history (never from memory), which
// dates run and why, so that a backfill run again with the same flags
// carries on where it stopped; Run runs the planned dates, a few at a
// time, through the function it is given (one execution each, package
// jobs) and returns what happened to each date.
//
// Contract: a failed date never stops the others; cancellation stops
// starting new dates and is left to the running ones to honour. Run
// returns one outcome per planned date, in plan order.
package backfill

import (
	"context"
	"sync"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Reprocess policies of a backfill, as Airflow's backfill names them.
const (
	ReprocessNone   = "none"   // run every date but failed ones; a current, unchanged one is a no-op
	ReprocessFailed = "failed" // also rerun dates whose last execution failed
	ReprocessAll    = "all"    // run every date, making new versions (--force)
)

// PlannedDate is one date of a backfill and what will happen to it.
type PlannedDate struct {
	Date   time.Time `json:"-"`
	Day    string    `json:"date"`
	Run    bool      `json:"run"`
	Reason string    `json:"reason"`
	// Current: a dry run found the date already current (same snapshot,
	// model and job file): a run would change nothing.
	Current bool `json:"current,omitempty"`
}

// DateOutcome is what happened to one date.
type DateOutcome struct {
	PlannedDate
	Status   string `json:"status"` // skipped, succeeded, already_current, failed, interrupted
	ExitCode int    `json:"exit_code"`
	Version  string `json:"version,omitempty"`
	Rows     int64  `json:"rows"`
	Error    string `json:"error,omitempty"`
}

// History is what the table says of each date: the status of its newest
// execution (last) and its current version ("" if none).
type History struct {
	Last    map[string]string
	Current func(day string) string
}

// Plan says which of dates run under the reprocess policy, and why. Not
// with ReprocessAll, which runs every date again each time.
func Plan(dates []time.Time, reprocess string, h History) []PlannedDate {
	plan := make([]PlannedDate, len(dates))
	for i, d := range dates {
		day := d.Format(spec.DateLayout)
		p := PlannedDate{Date: d, Day: day}
		current := h.Current(day)
		last := h.Last[day]
		switch {
		case reprocess == ReprocessAll:
			p.Run, p.Reason = true, "--reprocess all"
		case last == report.StatusFailed && reprocess == ReprocessFailed:
			p.Run, p.Reason = true, "last execution failed"
		case last == report.StatusFailed:
			p.Reason = "last execution failed (--reprocess failed reruns it)"
		case last == report.StatusInterrupted:
			p.Run, p.Reason = true, "last execution interrupted"
		case last == report.StatusPublishing:
			p.Run, p.Reason = true, "last execution was killed while publishing"
		case current != "":
			// Already current only if snapshot, model and job file are
			// unchanged: the run checks, and is a no-op when they are.
			p.Run, p.Reason = true, "current (version "+current+"); runs only if the snapshot, model or job file changed"
		case last == "":
			p.Run, p.Reason = true, "never run"
		default:
			p.Run, p.Reason = true, "last execution "+last
		}
		plan[i] = p
	}
	return plan
}

// Run runs the planned dates, parallel at a time, in plan order, each
// through run, which fills in the outcome's status, exit code, version,
// rows and error. A date not started because ctx ended is given
// notStarted's outcome.
func Run(ctx context.Context, plan []PlannedDate, parallel int, run func(ctx context.Context, p PlannedDate, o *DateOutcome), notStarted func(o *DateOutcome)) []DateOutcome {
	out := make([]DateOutcome, len(plan))
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for i, p := range plan {
		out[i] = DateOutcome{PlannedDate: p, Status: "skipped"}
		if !p.Run {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			notStarted(&out[i])
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run(ctx, p, &out[i])
		}()
	}
	wg.Wait()
	return out
}
