// Package schedule is batchscore's scheduler daemon: it fires each job at
// its cron schedule in the job's own time zone, catches up on dates missed
// while it was down (from the run history on disk), applies a per-job
// overlap policy, reloads jobs without dropping the ones whose file broke,
// and stops gracefully. It serves /healthz, /metrics and /runs.
//
// It does not use robfig/cron's runner: cron.Job.Run has no context and
// its clock cannot be injected. Schedules are still robfig/cron schedules
// (spec.CronParser), evaluated on the local wall clock as cron does; see
// fire.go.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/batchscore/batchscore/jobs/outcomes"
	"github.com/batchscore/batchscore/jobs/spec"
)

// TriggerSchedule is the trigger of every run the daemon starts, scheduled
// or caught up. It equals jobs.TriggerSchedule.
const TriggerSchedule = "schedule"

// Overlap policies: what a fire does while the job's previous run is going.
const (
	OverlapSkip  = "skip"  // drop the fire (logged and counted)
	OverlapQueue = "queue" // run it once the current run ends
)

// MaxQueued is how many scheduled fires of one job may wait behind its
// running execution under the queue policy. A fire that finds the queue
// full is dropped, logged and counted; the waiting one keeps its place.
// Catch-up dates are not counted against it.
const MaxQueued = 1

// Policy is how one job is scheduled beyond its cron expression.
type Policy struct {
	// Overlap is OverlapSkip (also when empty) or OverlapQueue.
	Overlap string
	// Catchup is how many missed dates to run when the job starts being
	// scheduled (daemon start, or a Load that adds it): the newest ones,
	// oldest first. 1 (the default) runs the last missed date only, 0 none.
	Catchup int
}

// DefaultPolicy is the policy of a job nobody set one for.
func DefaultPolicy() Policy { return Policy{Overlap: OverlapSkip, Catchup: 1} }

// Validate names the offending field of a policy.
func (p Policy) Validate() error {
	if p.Overlap != "" && p.Overlap != OverlapSkip && p.Overlap != OverlapQueue {
		return fmt.Errorf("overlap %q: want %s or %s", p.Overlap, OverlapSkip, OverlapQueue)
	}
	if p.Catchup < 0 {
		return fmt.Errorf("catchup %d: want 0 (none) or more", p.Catchup)
	}
	return nil
}

// RunFunc executes one (job, logical date). It must return when ctx is
// cancelled, leaving nothing half-published. status is the manifest's
// status ("succeeded", "failed", ...); when empty, exitCode decides. It is
// called from several goroutines at once, never twice at once for a job.
type RunFunc func(ctx context.Context, job *spec.Job, date time.Time, trigger string) (status string, exitCode int)

// History reports, from the run history on disk (not memory), the logical
// date catch-up starts after: fire dates after last are missed. ok=false
// when the job never ran: nothing is known to be missed. It may be called
// concurrently.
type History func(job *spec.Job) (last time.Time, ok bool)

// Options configure a Daemon.
type Options struct {
	Run      RunFunc
	History  History           // nil: no catch-up
	Clock    Clock             // nil: RealClock
	Logger   *slog.Logger      // nil: discard
	Grace    time.Duration     // on stop: let running jobs finish this long, then cancel them
	Policies map[string]Policy // by job name; missing: DefaultPolicy (see also SetPolicy)
	Outcomes OutcomesFunc      // nil: serve evaluates no outcomes (outcomes.go)
}

// Daemon schedules a set of jobs. Load, SetPolicy and Handler may be
// called from any goroutine, before or while Run runs.
type Daemon struct {
	opts  Options
	clock Clock
	log   *slog.Logger

	wake chan struct{} // Load tells the loop the job set changed

	// parked, when set (tests), is called each time the loop waits, with
	// the instant it waits for (zero: nothing scheduled).
	parked func(wakeAt time.Time)
	// maxWait caps one wait of the loop (0: no cap), so that a clock that
	// stood still while the machine was suspended, or a wall clock that
	// was stepped, delays a fire by at most this much.
	maxWait time.Duration

	wg sync.WaitGroup // one per job worker

	mu       sync.Mutex
	started  bool
	stopping bool
	runCtx   context.Context
	jobs     map[string]*jobState
	retired  map[string]*jobState // removed, with a run still going
	loadErrs map[string]string
	policies map[string]Policy
	stats    stats
	outcomes map[string][]outcomes.Sample // newest evaluation by job (outcomes.go)
}

// jobState is one scheduled job. It survives reloads of the job's file so
// that a run in progress and its queue keep their place.
type jobState struct {
	job     *spec.Job
	sched   cron.Schedule
	loc     *time.Location
	cursor  time.Time // wall time (as UTC) of the last fire passed
	next    time.Time // instant of the next fire; zero: never
	catchup bool      // catch-up still to do
	removed bool
	active  bool // a worker goroutine is draining pending
	pending []pendingRun
}

type pendingRun struct {
	date    time.Time
	catchup bool
}

// New makes a daemon with no jobs; call Load, then Run.
func New(opts Options) *Daemon {
	d := &Daemon{
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		wake:     make(chan struct{}, 1),
		jobs:     map[string]*jobState{},
		retired:  map[string]*jobState{},
		maxWait:  time.Minute,
		loadErrs: map[string]string{},
		policies: maps.Clone(opts.Policies),
		stats:    newStats(),
	}
	if d.clock == nil {
		d.clock = RealClock{}
	}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.policies == nil {
		d.policies = map[string]Policy{}
	}
	return d
}

// SetPolicy sets a job's policy; it applies from the next fire on.
func (d *Daemon) SetPolicy(job string, p Policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.policies[job] = p
}

func (d *Daemon) policy(job string) Policy {
	p, ok := d.policies[job]
	if !ok {
		return DefaultPolicy()
	}
	return p
}

// Load replaces the job set (SIGHUP). Jobs are keyed by Name; two jobs
// with one name are both refused (an error each, keyed by file), never one
// chosen: a job already scheduled from one of those files keeps its old
// version. errs holds
// the files that failed to load, keyed by job name, or by file path
// (matched against Job.File) when the name could not be read; a nil entry
// means loaded. A job whose entry is an error keeps its old version
// scheduled and the error is reported (log and /healthz). A job that is in
// neither jobs nor errs is removed: it is no longer scheduled and its
// queued runs are dropped; a run in progress finishes. A job whose
// schedule cannot be used is treated as failed to load.
//
// A job new to the daemon gets its catch-up; a changed schedule or time
// zone starts from now, without catch-up.
func (d *Daemon) Load(jobs []*spec.Job, errs map[string]error) {
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()

	failed := map[string]error{} // by name or file
	for k, err := range errs {
		if err != nil {
			failed[k] = err
		}
	}
	for file, err := range duplicateNames(jobs) {
		failed[file] = err
	}
	seen := map[string]bool{}
	for _, j := range jobs {
		if j == nil {
			continue
		}
		if failed[j.Name] != nil || failed[j.File] != nil {
			continue
		}
		if j.Location == nil {
			c := *j
			c.Location = time.UTC
			j = &c
		}
		sched, err := parseSchedule(j)
		if err != nil {
			failed[j.Name] = err
			continue
		}
		seen[j.Name] = true
		st, ok := d.jobs[j.Name]
		if !ok {
			// A job removed while running comes back as the same state,
			// so that its two versions never run at once.
			if st = d.retired[j.Name]; st != nil {
				delete(d.retired, j.Name)
				st.removed, st.job = false, nil
			} else {
				st = &jobState{}
			}
			st.catchup = true
			d.jobs[j.Name] = st
			d.log.Info("job added", "job", j.Name, "schedule", j.Schedule, "timezone", j.Location.String())
		}
		changed := !ok || st.job == nil || st.job.Schedule != j.Schedule || st.loc.String() != j.Location.String()
		st.job, st.sched, st.loc = j, sched, j.Location
		if changed {
			st.cursor = startCursor(sched, j.Location, now)
			if ok {
				d.log.Info("job schedule changed", "job", j.Name, "schedule", j.Schedule, "timezone", j.Location.String())
			}
		}
		st.next = instantOf(sched.Next(st.cursor), st.loc)
	}

	errMsgs := map[string]string{}
	for name, st := range d.jobs {
		if seen[name] {
			continue
		}
		err := failed[name]
		if err == nil && st.job.File != "" {
			err = failed[st.job.File]
		}
		if err != nil {
			errMsgs[name] = err.Error()
			d.log.Error("job file failed to load: keeping the old version", "job", name, "file", st.job.File, "err", err)
			continue
		}
		st.removed = true
		if len(st.pending) > 0 {
			d.log.Warn("job removed: dropping its queued runs", "job", name, "queued", len(st.pending))
		}
		st.pending = nil
		delete(d.jobs, name)
		if st.active {
			d.retired[name] = st
		}
		d.log.Info("job removed", "job", name)
	}
	for k, err := range failed {
		if _, kept := errMsgs[k]; kept || seen[k] {
			continue
		}
		if st := d.byFile(k); st != nil && errMsgs[st.job.Name] != "" {
			continue
		}
		errMsgs[k] = err.Error()
		d.log.Error("job file failed to load", "job", k, "err", err)
	}
	d.loadErrs = errMsgs

	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// LoadFailed reports that the job set could not be read at all (its
// folder is missing or unreadable): that says nothing about which jobs
// are meant to run, so every job keeps its current version, and the error
// is listed under key in /healthz (degraded) until a Load succeeds.
func (d *Daemon) LoadFailed(key string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	errs := maps.Clone(d.loadErrs)
	errs[key] = err.Error()
	d.loadErrs = errs
	d.log.Error("jobs not reloaded: every job keeps its current version", "jobs", key, "err", err)
}

// duplicateNames finds the jobs that share a name with another, keyed by
// file. Which of them was meant is a guess the daemon does not make.
func duplicateNames(jobs []*spec.Job) map[string]error {
	files := map[string][]string{}
	for _, j := range jobs {
		if j != nil {
			files[j.Name] = append(files[j.Name], j.File)
		}
	}
	out := map[string]error{}
	for name, fs := range files {
		if len(fs) < 2 {
			continue
		}
		for i, f := range fs {
			others := slices.Delete(slices.Clone(fs), i, i+1)
			out[f] = fmt.Errorf("%s: job name %q is also declared by %s: a job name must be unique; none of them is loaded",
				f, name, strings.Join(others, ", "))
		}
	}
	return out
}

func (d *Daemon) byFile(file string) *jobState {
	for _, st := range d.jobs {
		if st.job.File == file {
			return st
		}
	}
	return nil
}

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("schedule: daemon already ran")

// Run schedules the loaded jobs until ctx is cancelled. It then stops
// scheduling and drops queued runs, lets running jobs finish for
// Options.Grace, cancels the context of those still going and waits for
// them to return. It returns nil; a Daemon runs once.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started {
		d.mu.Unlock()
		return ErrRunning
	}
	d.started = true
	// Runs outlive ctx by the grace period: their context is cancelled by
	// stop, not by the caller's signal.
	runCtx, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)
	d.runCtx = runCtx
	d.mu.Unlock()
	select { // the first iteration sees every Load made before Run
	case <-d.wake:
	default:
	}
	d.log.Info("scheduler started")

	for {
		d.catchUp()
		now := d.clock.Now()
		wakeAt := d.fireDue(now)
		if d.maxWait > 0 && (wakeAt.IsZero() || wakeAt.Sub(now) > d.maxWait) {
			wakeAt = now.Add(d.maxWait)
		}
		var timer <-chan time.Time
		if !wakeAt.IsZero() {
			timer = d.clock.After(wakeAt.Sub(now))
		}
		if d.parked != nil {
			d.parked(wakeAt)
		}
		select {
		case <-ctx.Done():
			return d.stop(ctx, cancelRuns)
		case <-timer:
		case <-d.wake:
		}
	}
}

// catchUp queues the missed dates of jobs that just started being
// scheduled. History reads the disk, so it is called without the lock.
func (d *Daemon) catchUp() {
	type todo struct {
		st  *jobState
		job *spec.Job
		n   int
	}
	var list []todo
	d.mu.Lock()
	for name, st := range d.jobs {
		if !st.catchup {
			continue
		}
		st.catchup = false
		if n := d.policy(name).Catchup; n > 0 && d.opts.History != nil {
			list = append(list, todo{st, st.job, n})
		}
	}
	d.mu.Unlock()
	slices.SortFunc(list, func(a, b todo) int { return strings.Compare(a.job.Name, b.job.Name) })

	for _, t := range list {
		last, ok := d.opts.History(t.job)
		if !ok {
			// Nothing ran yet: nothing is known to be missed. The job
			// starts at its next fire.
			d.log.Info("no run history: no catch-up", "job", t.job.Name)
			continue
		}
		now := d.clock.Now()
		dates := missedDates(t.st.sched, t.st.loc, last, now, t.n)
		d.mu.Lock()
		if t.st.removed {
			d.mu.Unlock()
			continue
		}
		for _, date := range dates {
			d.log.Info("catching up a missed date", "job", t.job.Name, "date", date.Format(spec.DateLayout),
				"after", last.Format(spec.DateLayout))
			d.dispatch(t.st, pendingRun{date: date, catchup: true})
		}
		d.mu.Unlock()
	}
}

// fireDue dispatches every job whose fire is due at now and returns the
// earliest next fire instant (zero: none).
func (d *Daemon) fireDue(now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var earliest time.Time
	for _, name := range slices.Sorted(maps.Keys(d.jobs)) {
		st := d.jobs[name]
		if !st.next.IsZero() && !st.next.After(now) {
			cursor, fired, n := advance(st.sched, st.loc, st.cursor, now)
			st.cursor = cursor
			if n > 1 {
				d.log.Warn("fires missed while the scheduler was held up: running the newest only",
					"job", name, "missed", n-1)
			}
			if n > 0 {
				d.dispatch(st, pendingRun{date: dateOf(fired)})
			}
			st.next = instantOf(st.sched.Next(st.cursor), st.loc)
		}
		if !st.next.IsZero() && (earliest.IsZero() || st.next.Before(earliest)) {
			earliest = st.next
		}
	}
	return earliest
}
