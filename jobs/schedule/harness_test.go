package schedule

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/batchscore/batchscore/jobs/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// call is one RunFunc invocation a test saw.
type call struct {
	job     string
	date    string
	trigger string
	at      time.Time // fake clock when it started
}

// harness runs a Daemon on a fake clock and steps the clock from one fire
// to the next, so that every fire happens at its exact instant.
type harness struct {
	t   *testing.T
	clk *fakeClock
	d   *Daemon

	mu         sync.Mutex
	inProgress map[string]int // RunFunc calls going, by job
	blocking   map[string]int // of which waiting in block
	gen        int            // loop parks seen
	next       time.Time      // what the loop waits for
	calls      []call
	finished   int
	run        RunFunc // what each call does after being recorded; nil: succeed

	cancel context.CancelFunc
	done   chan error
}

func newHarness(t *testing.T, start time.Time, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(start), inProgress: map[string]int{}, blocking: map[string]int{}}
	opts.Clock = h.clk
	opts.Run = h.runFunc
	if opts.Logger == nil && testing.Verbose() {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.d = New(opts)
	h.d.maxWait = 0 // step from fire to fire; TestWaitCapped keeps the cap
	h.d.parked = func(next time.Time) {
		h.mu.Lock()
		h.gen++
		h.next = next
		h.mu.Unlock()
	}
	return h
}

func (h *harness) runFunc(ctx context.Context, job *spec.Job, date time.Time, trigger string) (string, int) {
	h.mu.Lock()
	h.calls = append(h.calls, call{job.Name, date.Format(spec.DateLayout), trigger, h.clk.Now()})
	h.inProgress[job.Name]++
	run := h.run
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.finished++
		h.inProgress[job.Name]--
		h.mu.Unlock()
	}()
	if run == nil {
		return "succeeded", 0
	}
	return run(ctx, job, date, trigger)
}

// start runs the daemon and waits for its loop to park.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	h.waitGen(0)
	h.settle()
	h.t.Cleanup(func() {
		if h.cancel != nil {
			h.cancel()
			<-h.done
		}
	})
}

// stop cancels Run and returns its result; the clock must let Grace pass
// if a run is still going.
func (h *harness) stop() error {
	h.cancel()
	err := <-h.done
	h.cancel = nil
	return err
}

// waitUntil polls (in real time, briefly) for cond over the harness
// state; h.mu is held while cond runs.
func (h *harness) waitUntil(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.mu.Lock()
		ok := cond()
		h.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// block runs wait (a test's RunFunc waiting on a gate) and tells settle
// that this run will not end by itself.
func (h *harness) block(job string, wait func()) {
	h.mu.Lock()
	h.blocking[job]++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.blocking[job]--
		h.mu.Unlock()
	}()
	wait()
}

// settle waits until every run the daemon dispatched has finished and
// been recorded, or is blocked in block, or is queued behind a blocked
// one: the clock moves on only once the daemon has done all it can at
// this instant.
func (h *harness) settle() {
	h.t.Helper()
	h.waitUntil("dispatched runs to start", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		inside := 0
		for _, n := range h.inProgress {
			inside += n
		}
		running := 0
		for _, n := range h.d.stats.running {
			running += n
		}
		if running != inside {
			return false
		}
		for name, n := range h.inProgress {
			if n != h.blocking[name] {
				return false
			}
		}
		for name, st := range h.d.jobs {
			if st.active && h.blocking[name] == 0 {
				return false
			}
		}
		return true
	})
}

func (h *harness) waitGen(g int) {
	h.t.Helper()
	h.waitUntil("the scheduler loop to park", func() bool { return h.gen > g })
}

func (h *harness) generation() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// load calls Load and waits for the loop to take it in.
func (h *harness) load(jobs []*spec.Job, errs map[string]error) {
	h.t.Helper()
	g := h.generation()
	h.d.Load(jobs, errs)
	if h.cancel != nil {
		h.waitGen(g)
		h.settle()
	}
}

// advanceTo steps the clock through every fire up to t, letting the loop
// handle each one before moving on.
func (h *harness) advanceTo(t time.Time) {
	h.t.Helper()
	h.settle()
	for {
		h.mu.Lock()
		next, g := h.next, h.gen
		h.mu.Unlock()
		if next.IsZero() || next.After(t) {
			h.clk.Set(t)
			return
		}
		h.clk.Set(next)
		h.waitGen(g)
		h.settle()
	}
}

func (h *harness) waitCalls(n int) {
	h.t.Helper()
	h.waitUntil("runs to start", func() bool { return len(h.calls) >= n })
}

func (h *harness) waitFinished(n int) {
	h.t.Helper()
	h.waitUntil("runs to finish", func() bool { return h.finished >= n })
	// The daemon records a run after RunFunc returns: wait for that too.
	h.waitUntil("runs to be recorded", func() bool {
		h.d.mu.Lock()
		defer h.d.mu.Unlock()
		done := 0
		for _, r := range h.d.stats.runs {
			if r.Finished != nil {
				done++
			}
		}
		return done >= n
	})
}

func (h *harness) callList() []call {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]call(nil), h.calls...)
}

func (h *harness) dates() []string {
	var out []string
	for _, c := range h.callList() {
		out = append(out, c.date)
	}
	return out
}

func newYork(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	return loc
}

func testJob(name, schedule string, loc *time.Location) *spec.Job {
	if loc == nil {
		loc = time.UTC
	}
	return &spec.Job{Name: name, Schedule: schedule, Timezone: loc.String(), Location: loc, File: "/jobs/" + name + ".yaml"}
}

func day(s string) time.Time {
	d, err := spec.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}
