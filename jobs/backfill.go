package jobs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/backfill"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Reprocess policies of a backfill (package backfill).
const (
	ReprocessNone   = backfill.ReprocessNone
	ReprocessFailed = backfill.ReprocessFailed
	ReprocessAll    = backfill.ReprocessAll
)

// Backfill is a range of logical dates to run.
type Backfill struct {
	Job       *spec.Job
	From, To  time.Time
	Parallel  int
	Backwards bool
	Reprocess string
}

// PlannedDate and DateOutcome are a backfill's plan and results.
type (
	PlannedDate = backfill.PlannedDate
	DateOutcome = backfill.DateOutcome
)

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
	current := func(day string) string {
		v, _ := t.Current(day)
		return v
	}
	return backfill.Plan(dates, b.Reprocess, backfill.History{Last: lastStatus(t), Current: current}), nil
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
	run := func(ctx context.Context, p PlannedDate, o *DateOutcome) {
		res, err := r.Run(ctx, Request{Job: b.Job, Date: p.Date, Trigger: TriggerBackfill, Force: b.Reprocess == ReprocessAll})
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
	}
	notStarted := func(o *DateOutcome) {
		o.Status, o.ExitCode, o.Error = report.StatusInterrupted, ExitInterrupted, "not started: "+interruptedBy(ctx)
	}
	return backfill.Run(ctx, plan, b.Parallel, run, notStarted)
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
