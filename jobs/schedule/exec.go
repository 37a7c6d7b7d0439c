package schedule

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/batchscore/batchscore/jobs/spec"
)

// dispatch hands one date to a job's worker, starting the worker if the
// job is idle and applying the overlap policy if not. d.mu is held.
func (d *Daemon) dispatch(st *jobState, p pendingRun) {
	name := st.job.Name
	day := p.date.Format(spec.DateLayout)
	if d.stopping || st.removed {
		return
	}
	if !st.active {
		st.active = true
		st.pending = append(st.pending, p)
		d.wg.Add(1)
		go d.work(st)
		return
	}
	if p.catchup {
		st.pending = append(st.pending, p)
		return
	}
	if d.policy(name).Overlap != OverlapQueue {
		d.log.Warn("fire skipped: the previous run is still going", "job", name, "date", day, "overlap", OverlapSkip)
		d.stats.dropped(name, "overlap")
		return
	}
	queued := 0
	for _, q := range st.pending {
		if q.catchup {
			continue
		}
		if q.date.Equal(p.date) {
			d.log.Info("fire merged with a queued run of the same date", "job", name, "date", day)
			return
		}
		queued++
	}
	if queued >= MaxQueued {
		d.log.Warn("fire dropped: queue full", "job", name, "date", day, "max_queued", MaxQueued)
		d.stats.dropped(name, "queue_full")
		return
	}
	st.pending = append(st.pending, p)
	d.log.Info("fire queued behind the running execution", "job", name, "date", day)
}

// work runs a job's pending dates one after the other, then exits.
func (d *Daemon) work(st *jobState) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		if len(st.pending) == 0 || d.stopping || st.removed {
			if len(st.pending) > 0 {
				d.log.Warn("dropping queued runs", "job", st.job.Name, "queued", len(st.pending))
			}
			st.pending, st.active = nil, false
			if d.retired[st.job.Name] == st {
				delete(d.retired, st.job.Name)
			}
			d.mu.Unlock()
			return
		}
		p := st.pending[0]
		st.pending = st.pending[1:]
		job, ctx := st.job, d.runCtx
		rec := d.stats.start(job.Name, p.date.Format(spec.DateLayout), TriggerSchedule, d.clock.Now())
		d.mu.Unlock()

		status, code := d.runOne(ctx, job, p.date)

		d.mu.Lock()
		d.stats.finish(rec, status, code, d.clock.Now())
		d.mu.Unlock()
		d.evaluateOutcomes(ctx, job)
	}
}

// runOne calls RunFunc with its own context, recovering a panic as a
// failed run (exit 1).
func (d *Daemon) runOne(parent context.Context, job *spec.Job, date time.Time) (status string, code int) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	log := d.log.With("job", job.Name, "date", date.Format(spec.DateLayout), "trigger", TriggerSchedule)
	defer func() {
		if r := recover(); r != nil {
			log.Error("run panicked: marked failed", "err", fmt.Errorf("panic: %v", r), "stack", string(debug.Stack()))
			status, code = StatusFailed, 1
		}
	}()
	log.Info("run starting")
	status, code = d.opts.Run(ctx, job, date, TriggerSchedule)
	if status == "" {
		status = StatusSucceeded
		if code != 0 {
			status = StatusFailed
		}
	}
	log.Info("run ended", "status", status, "exit_code", code)
	return status, code
}

// stop ends Run: no new runs, grace for running ones, then cancel.
func (d *Daemon) stop(ctx context.Context, cancelRuns context.CancelCauseFunc) error {
	d.mu.Lock()
	d.stopping = true
	for _, st := range d.jobs {
		if len(st.pending) > 0 {
			d.log.Warn("stopping: dropping queued runs", "job", st.job.Name, "queued", len(st.pending))
			st.pending = nil
		}
	}
	d.mu.Unlock()
	d.log.Info("scheduler stopping: waiting for running jobs", "grace", d.opts.Grace.String())

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-d.clock.After(d.opts.Grace):
		d.log.Warn("grace period over: cancelling running jobs", "grace", d.opts.Grace.String())
		// The cause reaches the run's manifest and log: say why it ended.
		cancelRuns(fmt.Errorf("serve was stopped (%v) and its --grace period of %s ran out", context.Cause(ctx), d.opts.Grace))
		<-done
	}
	d.log.Info("scheduler stopped")
	return nil
}
