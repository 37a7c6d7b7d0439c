package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Reprocess policies of a backfill, as Airflow's backfill names them.
const (
	ReprocessNone   = "none"   // run every date but failed ones; a current, unchanged one is a no-op
	ReprocessFailed = "failed" // also rerun dates whose last execution failed
	ReprocessAll    = "all"    // run every date, making new versions (--force)
)

// Backfill is a range of logical dates to run.
type Backfill struct {
	Job       *spec.Job
	From, To  time.Time
	Parallel  int
	Backwards bool
	Reprocess string
}

// PlannedDate is one date of a backfill and what will happen to it.
type PlannedDate struct {
	Date   time.Time `json:"-"`
	Day    string    `json:"date"`
	Run    bool      `json:"run"`
	Reason string    `json:"reason"`
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

// Plan says which dates of the range run and why, from the table's run
// history (never from memory), so that a backfill run again with the same
// flags carries on where it stopped: the dates it finished are already
// current. Not with ReprocessAll, which runs every date again each time.
func Plan(b Backfill) ([]PlannedDate, error) {
	if !slices.Contains([]string{ReprocessNone, ReprocessFailed, ReprocessAll}, b.Reprocess) {
		return nil, fmt.Errorf("%w: --reprocess %q: want none, failed or all", ErrUsage, b.Reprocess)
	}
	dates, err := b.Job.FireDates(b.From, b.To)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if b.Backwards {
		slices.Reverse(dates)
	}
	t, err := table.Mirror(b.Job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	if err := t.CheckOwner(b.Job.Name, b.Job.File); err != nil {
		return nil, err
	}
	history := lastStatus(t)
	plan := make([]PlannedDate, len(dates))
	for i, d := range dates {
		day := d.Format(spec.DateLayout)
		p := PlannedDate{Date: d, Day: day}
		current, _ := t.Current(day)
		last := history[day]
		switch {
		case b.Reprocess == ReprocessAll:
			p.Run, p.Reason = true, "--reprocess all"
		case last == report.StatusFailed && b.Reprocess == ReprocessFailed:
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
	return plan, nil
}

// lastStatus maps each date to the status of its newest execution that
// was not a dry run.
func lastStatus(t *table.Table) map[string]string {
	out := map[string]string{}
	ms, _ := readManifests(t)
	for _, m := range ms { // oldest first: later ones overwrite
		if m.Trigger != TriggerValidate {
			out[m.LogicalDate] = m.Status
		}
	}
	return out
}

// RunBackfill runs the planned dates, Parallel at a time, in plan order.
// A failed date does not stop the others; cancellation stops starting new
// ones and interrupts those running.
func (r *Runner) RunBackfill(ctx context.Context, b Backfill, plan []PlannedDate) []DateOutcome {
	out := make([]DateOutcome, len(plan))
	sem := make(chan struct{}, max(b.Parallel, 1))
	var wg sync.WaitGroup
	for i, p := range plan {
		out[i] = DateOutcome{PlannedDate: p, Status: "skipped"}
		if !p.Run {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].Status, out[i].ExitCode, out[i].Error = report.StatusInterrupted, ExitInterrupted, "not started: "+interruptedBy(ctx)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := r.Run(ctx, Request{Job: b.Job, Date: p.Date, Trigger: TriggerBackfill, Force: b.Reprocess == ReprocessAll})
			o := &out[i]
			o.ExitCode = ExitCode(err)
			if res != nil {
				m := res.Manifest
				o.Status, o.Version, o.Rows = m.Status, m.Version, m.Counts.Written
				if res.AlreadyCurrent {
					o.Version = ""
				}
			}
			if err != nil {
				o.Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}

// BackfillError carries a backfill's exit code: 0 when every date that ran
// succeeded; otherwise the code the failed dates share, or 1 when they
// differ (130 if any was interrupted).
func BackfillError(outcomes []DateOutcome) error {
	code := backfillCode(outcomes)
	if code == ExitOK {
		return nil
	}
	failed := 0
	for _, o := range outcomes {
		if o.ExitCode != ExitOK {
			failed++
		}
	}
	return &CodeError{Code: code, Err: fmt.Errorf("%d of %d dates failed", failed, len(outcomes))}
}

func backfillCode(outcomes []DateOutcome) int {
	codes := map[int]bool{}
	for _, o := range outcomes {
		if o.ExitCode != ExitOK {
			codes[o.ExitCode] = true
		}
	}
	switch len(codes) {
	case 0:
		return ExitOK
	case 1:
		for c := range codes {
			return c
		}
	}
	if codes[ExitInterrupted] {
		return ExitInterrupted
	}
	return ExitFailure
}
