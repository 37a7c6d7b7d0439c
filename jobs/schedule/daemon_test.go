package schedule

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/spec"
)

func TestDaemonAcrossDST(t *testing.T) {
	ny := newYork(t)
	tests := []struct {
		name       string
		schedule   string
		start, end time.Time
		want       []string // date and local start time of each run
	}{
		{
			name: "spring forward 30 2", schedule: "30 2 * * *",
			start: time.Date(2025, 3, 8, 0, 0, 0, 0, ny), end: time.Date(2025, 3, 11, 0, 0, 0, 0, ny),
			want: []string{"2025-03-08 02:30 EST", "2025-03-09 03:00 EDT", "2025-03-10 02:30 EDT"},
		},
		{
			name: "spring forward 0 2", schedule: "0 2 * * *",
			start: time.Date(2025, 3, 8, 0, 0, 0, 0, ny), end: time.Date(2025, 3, 11, 0, 0, 0, 0, ny),
			want: []string{"2025-03-08 02:00 EST", "2025-03-09 03:00 EDT", "2025-03-10 02:00 EDT"},
		},
		{
			name: "fall back 30 2", schedule: "30 2 * * *",
			start: time.Date(2025, 11, 1, 0, 0, 0, 0, ny), end: time.Date(2025, 11, 4, 0, 0, 0, 0, ny),
			want: []string{"2025-11-01 02:30 EDT", "2025-11-02 02:30 EST", "2025-11-03 02:30 EST"},
		},
		{
			name: "fall back 0 2", schedule: "0 2 * * *",
			start: time.Date(2025, 11, 1, 0, 0, 0, 0, ny), end: time.Date(2025, 11, 4, 0, 0, 0, 0, ny),
			want: []string{"2025-11-01 02:00 EDT", "2025-11-02 02:00 EST", "2025-11-03 02:00 EST"},
		},
		{
			name: "fall back repeated hour 30 1", schedule: "30 1 * * *",
			start: time.Date(2025, 11, 1, 0, 0, 0, 0, ny), end: time.Date(2025, 11, 4, 0, 0, 0, 0, ny),
			want: []string{"2025-11-01 01:30 EDT", "2025-11-02 01:30 EDT", "2025-11-03 01:30 EST"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.start, Options{})
			h.load([]*spec.Job{testJob("dst", tt.schedule, ny)}, nil)
			h.start()
			h.advanceTo(tt.end)
			h.waitFinished(len(tt.want))
			var got []string
			for _, c := range h.callList() {
				got = append(got, c.date+" "+c.at.In(ny).Format("15:04 MST"))
				if c.trigger != TriggerSchedule {
					t.Errorf("trigger %q", c.trigger)
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("runs\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		name    string
		overlap string
		want    []string
		dropped string // the skipped-fires sample
	}{
		{"skip", OverlapSkip, []string{"2026-01-02", "2026-01-05"}, `batchscore_skipped_fires_total{batchscore_job="daily",reason="overlap"} 2`},
		{"default is skip", "", []string{"2026-01-02", "2026-01-05"}, `batchscore_skipped_fires_total{batchscore_job="daily",reason="overlap"} 2`},
		// One waits behind the running one; the next finds the queue full.
		{"queue", OverlapQueue, []string{"2026-01-02", "2026-01-03", "2026-01-05"}, `batchscore_skipped_fires_total{batchscore_job="daily",reason="queue_full"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Options{})
			gate := make(chan struct{})
			h.run = func(ctx context.Context, job *spec.Job, date time.Time, _ string) (string, int) {
				if date.Equal(day("2026-01-02")) {
					h.block(job.Name, func() { <-gate })
				}
				return "succeeded", 0
			}
			h.d.SetPolicy("daily", Policy{Overlap: tt.overlap, Catchup: 1})
			h.load([]*spec.Job{testJob("daily", "0 0 * * *", nil)}, nil)
			h.start()
			h.advanceTo(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
			h.waitCalls(1)
			h.advanceTo(time.Date(2026, 1, 4, 1, 0, 0, 0, time.UTC)) // fires 01-03 and 01-04 while 01-02 runs
			if got := len(h.callList()); got != 1 {
				t.Fatalf("%d runs while the first is blocked", got)
			}
			close(gate)
			h.waitFinished(len(tt.want) - 1)
			h.advanceTo(time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC))
			h.waitFinished(len(tt.want))
			if got := strings.Join(h.dates(), " "); got != strings.Join(tt.want, " ") {
				t.Errorf("dates run: %s, want %s", got, strings.Join(tt.want, " "))
			}
			if m := h.metrics(); !strings.Contains(m, tt.dropped+"\n") {
				t.Errorf("metrics lack %q:\n%s", tt.dropped, m)
			}
		})
	}
}

func TestCatchup(t *testing.T) {
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	fiveDaysAgo := day("2026-01-05")
	tests := []struct {
		name    string
		catchup int // -1: default policy
		history bool
		want    []string // then the next scheduled fire, 2026-01-11
	}{
		{"default is the last missed run", -1, true, []string{"2026-01-10"}},
		{"catchup 1", 1, true, []string{"2026-01-10"}},
		{"catchup 3 runs the 3 newest", 3, true, []string{"2026-01-08", "2026-01-09", "2026-01-10"}},
		{"catchup 0 runs none", 0, true, nil},
		{"no history runs none", 3, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			opts := Options{History: func(job *spec.Job) (time.Time, bool) {
				asked = append(asked, job.Name) // called from the loop only
				return fiveDaysAgo, tt.history
			}}
			if tt.catchup >= 0 {
				opts.Policies = map[string]Policy{"daily": {Catchup: tt.catchup}}
			}
			h := newHarness(t, now, opts)
			h.load([]*spec.Job{testJob("daily", "0 1 * * *", nil)}, nil)
			h.start()
			h.waitFinished(len(tt.want))
			h.advanceTo(time.Date(2026, 1, 11, 1, 0, 0, 0, time.UTC))
			h.waitFinished(len(tt.want) + 1)
			want := append(append([]string(nil), tt.want...), "2026-01-11")
			if got := strings.Join(h.dates(), " "); got != strings.Join(want, " ") {
				t.Errorf("dates run: %s, want %s", got, strings.Join(want, " "))
			}
			for _, c := range h.callList() {
				if c.trigger != TriggerSchedule {
					t.Errorf("trigger %q", c.trigger)
				}
			}
			if tt.catchup != 0 && len(asked) != 1 {
				t.Errorf("History asked %v, want once", asked)
			}
		})
	}
}

func TestReload(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	h := newHarness(t, start, Options{History: func(job *spec.Job) (time.Time, bool) {
		if job.Name == "c" {
			return day("2025-12-30"), true
		}
		return time.Time{}, false
	}})
	at := func(d, hh int) time.Time { return time.Date(2026, 1, d, hh, 0, 0, 0, time.UTC) }
	h.load([]*spec.Job{testJob("a", "0 1 * * *", nil), testJob("b", "0 2 * * *", nil)}, nil)
	h.start()
	h.advanceTo(at(1, 3))
	h.waitFinished(2)

	// a moves to 05:00, b's file is broken, c is new (and catches up on
	// 2025-12-31, missed since its history ends 2025-12-30).
	h.load([]*spec.Job{testJob("a", "0 5 * * *", nil), testJob("c", "0 4 * * *", nil)},
		map[string]error{"a": nil, "b": errors.New("b.yaml: line 3: bad key")})
	health := h.health()
	if health.LoadErrors["b"] == "" || len(health.Jobs) != 3 {
		t.Errorf("healthz after a broken reload: %+v", health)
	}
	h.waitFinished(3)
	h.advanceTo(at(2, 6))
	h.waitFinished(8)

	// a is removed; b's file, named by path, is still broken.
	h.load([]*spec.Job{testJob("c", "0 4 * * *", nil)}, map[string]error{"/jobs/b.yaml": errors.New("still bad")})
	health = h.health()
	if strings.Join(health.Jobs, ",") != "b,c" || health.LoadErrors["b"] != "still bad" || len(health.LoadErrors) != 1 {
		t.Errorf("healthz after removing a: %+v", health)
	}
	h.advanceTo(at(3, 6))
	h.waitFinished(10)

	// b's file is fixed and removed from the folder in one go: b stops.
	h.load([]*spec.Job{testJob("c", "0 4 * * *", nil)}, nil)
	if health = h.health(); len(health.LoadErrors) != 0 || strings.Join(health.Jobs, ",") != "c" {
		t.Errorf("healthz after a good reload: %+v", health)
	}
	h.advanceTo(at(4, 6))
	h.waitFinished(11)

	var got []string
	for _, c := range h.callList() {
		got = append(got, c.job+" "+c.date+" "+c.at.Format("01-02T15"))
	}
	want := []string{
		"a 2026-01-01 01-01T01",
		"b 2026-01-01 01-01T02",
		"c 2025-12-31 01-01T03", // catch-up on load
		"c 2026-01-01 01-01T04",
		"a 2026-01-01 01-01T05", // new schedule, same day
		"b 2026-01-02 01-02T02", // old version kept
		"c 2026-01-02 01-02T04",
		"a 2026-01-02 01-02T05",
		"b 2026-01-03 01-03T02",
		"c 2026-01-03 01-03T04",
		"c 2026-01-04 01-04T04",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs\n got %q\nwant %q", got, want)
	}
}

func TestPanicIsAFailedRun(t *testing.T) {
	h := newHarness(t, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), Options{})
	h.run = func(ctx context.Context, job *spec.Job, date time.Time, _ string) (string, int) {
		if date.Equal(day("2026-01-01")) {
			panic("boom")
		}
		return "", 0
	}
	h.load([]*spec.Job{testJob("p", "0 1 * * *", nil)}, nil)
	h.start()
	h.advanceTo(time.Date(2026, 1, 2, 2, 0, 0, 0, time.UTC))
	h.waitFinished(2)
	runs := h.runs()
	if len(runs) != 2 {
		t.Fatalf("runs: %+v", runs)
	}
	if r := runs[1]; r.Date != "2026-01-01" || r.Status != StatusFailed || r.ExitCode != 1 || r.Finished == nil {
		t.Errorf("panicked run recorded as %+v", r)
	}
	if r := runs[0]; r.Date != "2026-01-02" || r.Status != StatusSucceeded || r.ExitCode != 0 {
		t.Errorf("next run recorded as %+v", r)
	}
	m := h.metrics()
	for _, line := range []string{`batchscore_runs_total{batchscore_job="p",status="failed"} 1`, `batchscore_runs_total{batchscore_job="p",status="succeeded"} 1`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
}

func TestGracefulStop(t *testing.T) {
	const grace = 30 * time.Second
	tests := []struct {
		name       string
		overrun    bool
		wantStatus string
	}{
		{"finishes within grace", false, "succeeded"},
		{"overruns grace: cancelled", true, "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), Options{Grace: grace})
			release := make(chan struct{})
			ctxErr := make(chan error, 1)
			h.run = func(ctx context.Context, job *spec.Job, date time.Time, _ string) (status string, code int) {
				h.block(job.Name, func() {
					select {
					case <-release:
						status, code = "succeeded", 0
					case <-ctx.Done():
						status, code = "interrupted", 130
					}
					ctxErr <- ctx.Err()
				})
				return status, code
			}
			h.d.SetPolicy("slow", Policy{Overlap: OverlapQueue})
			h.load([]*spec.Job{testJob("slow", "0 * * * *", nil)}, nil)
			h.start()
			h.advanceTo(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC))
			h.waitCalls(1)
			h.advanceTo(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) // queues a run of 2026-01-02

			stopped := make(chan error, 1)
			go func() { stopped <- h.stop() }()
			h.clk.waitFor(t, h.clk.Now().Add(grace))
			if tt.overrun {
				h.clk.Advance(grace)
			} else {
				close(release)
			}
			if err := <-stopped; err != nil {
				t.Fatalf("Run returned %v", err)
			}
			err := <-ctxErr
			if tt.overrun != errors.Is(err, context.Canceled) {
				t.Errorf("run's ctx.Err() = %v", err)
			}
			runs := h.runs()
			if len(runs) != 1 || runs[0].Status != tt.wantStatus {
				t.Errorf("runs after stop (the queued one must be dropped): %+v", runs)
			}
			if got := len(h.callList()); got != 1 {
				t.Errorf("%d runs started", got)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Options{})
	h.start()
	if err := h.d.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v", err)
	}
}

// TestWaitCapped keeps the one-minute cap on the loop's waits: the loop
// re-reads the clock each minute and still fires on time.
func TestWaitCapped(t *testing.T) {
	h := newHarness(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Options{})
	h.d.maxWait = time.Minute
	h.load([]*spec.Job{testJob("j", "30 1 * * *", nil)}, nil)
	h.start()
	g := h.generation()
	h.advanceTo(time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC))
	h.waitFinished(1)
	if c := h.callList(); len(c) != 1 || !c[0].at.Equal(time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("runs %+v", c)
	}
	if n := h.generation() - g; n < 120 {
		t.Errorf("the loop woke %d times in two hours, want every minute", n)
	}
}

// TestReaddedWhileRunning: a job removed while it runs and loaded again
// does not get a second run of its own at the same time.
func TestReaddedWhileRunning(t *testing.T) {
	h := newHarness(t, time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), Options{})
	gate := make(chan struct{})
	h.run = func(ctx context.Context, job *spec.Job, date time.Time, _ string) (string, int) {
		if date.Equal(day("2026-01-01")) {
			h.block(job.Name, func() { <-gate })
		}
		return "succeeded", 0
	}
	job := testJob("j", "0 1 * * *", nil)
	h.load([]*spec.Job{job}, nil)
	h.start()
	h.advanceTo(time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC))
	h.waitCalls(1)
	h.load(nil, nil)
	h.load([]*spec.Job{job}, nil)
	h.advanceTo(time.Date(2026, 1, 2, 1, 30, 0, 0, time.UTC)) // 01-02 fires while 01-01 runs: skipped
	close(gate)
	h.waitFinished(1)
	h.advanceTo(time.Date(2026, 1, 3, 1, 30, 0, 0, time.UTC))
	h.waitFinished(2)
	if got := strings.Join(h.dates(), " "); got != "2026-01-01 2026-01-03" {
		t.Errorf("dates run: %s", got)
	}
}
