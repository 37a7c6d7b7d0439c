package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
)

// PlanDryRun is Plan for `run --dry-run`: it also says which of the dates
// with a current version a run would find already current, deciding as
// the run does (its run id, from the job file, the date, the snapshot's
// fingerprint and the models, against the current version's manifest; see
// execution.name). For each such date it loads the models and reads the
// snapshot's footers and fingerprint; it writes nothing.
func (r *Runner) PlanDryRun(ctx context.Context, b Backfill) ([]PlannedDate, error) {
	plan, err := Plan(b)
	if err != nil || b.Reprocess == ReprocessAll || b.Job.Source.SQL != nil {
		return plan, err // every date runs, or a query always runs
	}
	t, err := table.Mirror(b.Job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	// The models are the same for every date unless a registry alias is
	// read as of each date: loaded once, as a backfill would load them.
	var shared *sharedPlan
	if r.RegistryModel != RegistryAsOfDate {
		shared = &sharedPlan{}
		defer shared.close()
	}
	for i := range plan {
		p := &plan[i]
		if !p.Run {
			continue
		}
		current, _ := t.Current(p.Day)
		if current == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		same, err := r.wouldBeCurrent(ctx, b.Job, p.Date, t, shared)
		switch {
		case err != nil:
			p.Reason = fmt.Sprintf("current (version %s), but a run would not get as far as comparing: %v", current, err)
		case same:
			p.Run, p.Current = false, true
			p.Reason = "already current (version " + current + "): same snapshot, model and job file"
		default:
			p.Reason = "current version " + current + " is out of date: the snapshot, model or job file changed, or it has fallback rows from a model failure"
		}
	}
	return plan, nil
}

// wouldBeCurrent runs an execution of date up to its name (the models,
// the snapshot's schema and fingerprint, the run id) and asks what the
// run asks before scoring: is the current version this run id's?
func (r *Runner) wouldBeCurrent(ctx context.Context, job *spec.Job, date time.Time, t *table.Table, shared *sharedPlan) (bool, error) {
	quiet := *r
	quiet.Logger = nil // a plan, not a run: no "run started"
	e := quiet.newExecution(Request{Job: job, Date: date, Trigger: TriggerBackfill})
	e.table = t
	if _, err := e.openBaseline(); err != nil {
		return false, err
	}
	var p *route.Plan
	switch {
	case shared != nil && shared.plan != nil:
		p, e.m.Model = shared.plan, shared.champion
	default:
		var err error
		if p, err = e.openPlan(); err != nil {
			if p != nil {
				p.Close()
			}
			return false, err
		}
		if shared != nil {
			shared.plan, shared.champion = p, e.m.Model
		} else {
			defer p.Close()
		}
	}
	src, err := e.openSource(ctx, p)
	if err != nil {
		return false, err
	}
	defer src.Close()
	cp, err := e.planChecks(src.Schema(), src.Where())
	if err != nil {
		return false, err
	}
	if err := e.fingerprintParquet(ctx, src, readColumns(job, p, cp.columns())); err != nil {
		return false, err
	}
	e.m.RunID = runID(job, e.date, e.m.Source.Fingerprint, p.ModelHashes(&e.m.Model, job.Validation.Baseline))
	return e.alreadyCurrent(), nil
}

// sharedPlan is the models a dry run loaded once for every date.
type sharedPlan struct {
	plan     *route.Plan
	champion report.Model
}

func (s *sharedPlan) close() {
	if s.plan != nil {
		s.plan.Close()
	}
}
