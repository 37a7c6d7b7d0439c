package schedule

import (
	"context"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"time"

	"github.com/batchscore/batchscore/jobs/outcomes"
	"github.com/batchscore/batchscore/jobs/spec"
)

// OutcomesFunc evaluates the dates of a job whose outcomes horizon has
// passed at now and that have no outcomes yet (outcomes.EvaluateDue), and
// returns the metrics of the newest evaluation it wrote (nil: none). It
// is called by the job's worker after each scheduled run, so never twice
// at once for a job nor beside the job's own run.
type OutcomesFunc func(ctx context.Context, job *spec.Job, now time.Time) []outcomes.Sample

// evaluateOutcomes runs Options.Outcomes for a job that has an outcomes
// section, recovering a panic as a logged failure.
func (d *Daemon) evaluateOutcomes(ctx context.Context, job *spec.Job) {
	if d.opts.Outcomes == nil || job.Outcomes == nil || ctx.Err() != nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			d.log.Error("outcomes evaluation panicked", "job", job.Name, "err", fmt.Errorf("panic: %v", r), "stack", string(debug.Stack()))
		}
	}()
	samples := d.opts.Outcomes(ctx, job, d.clock.Now())
	if samples == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.outcomes == nil {
		d.outcomes = map[string][]outcomes.Sample{}
	}
	d.outcomes[job.Name] = samples
}

// outcomeMetricsText is the batchscore_outcome_* families of the newest
// evaluation of each job. d.mu is held.
func (d *Daemon) outcomeMetricsText() string {
	var all []outcomes.Sample
	for _, job := range slices.Sorted(maps.Keys(d.outcomes)) {
		all = append(all, d.outcomes[job]...)
	}
	slices.SortStableFunc(all, func(a, b outcomes.Sample) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return string(outcomes.Render(all))
}
