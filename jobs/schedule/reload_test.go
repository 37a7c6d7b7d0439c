package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Two jobs with one name are both refused, each error naming the other
// file; the job already scheduled from one of them keeps its old version.
func TestDuplicateNamesRefused(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	h := newHarness(t, start, Options{})
	other := func(name, schedule, file string) *spec.Job {
		j := testJob(name, schedule, nil)
		j.File = file
		return j
	}
	h.load([]*spec.Job{testJob("a", "0 1 * * *", nil), other("a", "0 3 * * *", "/jobs/a2.yaml")}, nil)
	health := h.health()
	if len(health.Jobs) != 0 || len(health.LoadErrors) != 2 {
		t.Fatalf("two files named a: %+v", health)
	}
	for file, msg := range health.LoadErrors {
		if !strings.Contains(msg, `job name "a" is also declared by`) || !strings.HasPrefix(msg, file) {
			t.Errorf("%s: %s", file, msg)
		}
	}
	h.load([]*spec.Job{testJob("a", "0 1 * * *", nil)}, nil)
	h.start()
	// A new file takes the running job's name: neither wins, a keeps its
	// version (01:00) and both files are reported.
	h.load([]*spec.Job{testJob("a", "0 1 * * *", nil), other("a", "0 3 * * *", "/jobs/a2.yaml")}, nil)
	if health = h.health(); strings.Join(health.Jobs, ",") != "a" || len(health.LoadErrors) != 2 {
		t.Errorf("after the duplicate: %+v", health)
	}
	h.advanceTo(time.Date(2026, 1, 1, 4, 0, 0, 0, time.UTC))
	h.waitFinished(1)
	if calls := h.callList(); len(calls) != 1 || calls[0].at.Hour() != 1 {
		t.Errorf("runs %+v, want a at 01:00 only", calls)
	}
}

// A folder that cannot be read changes nothing but is reported; an empty
// job set stops every job.
func TestLoadFailedAndEmpty(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	h := newHarness(t, start, Options{})
	h.load([]*spec.Job{testJob("a", "0 1 * * *", nil)}, nil)
	h.start()
	h.d.LoadFailed("/jobs", errors.New("jobs folder /jobs does not exist"))
	if health := h.health(); strings.Join(health.Jobs, ",") != "a" || health.LoadErrors["/jobs"] == "" {
		t.Errorf("unreadable folder: %+v", health)
	}
	h.advanceTo(time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC))
	h.waitFinished(1)
	h.load(nil, map[string]error{"/jobs": errors.New("no job file (*.yaml) in /jobs: nothing to schedule")})
	if health := h.health(); len(health.Jobs) != 0 || len(health.LoadErrors) != 1 {
		t.Errorf("empty folder: %+v", health)
	}
	h.advanceTo(time.Date(2026, 1, 3, 2, 0, 0, 0, time.UTC))
	if n := len(h.callList()); n != 1 {
		t.Errorf("%d runs, want none after the folder emptied", n-1)
	}
}

// An already-current no-op is counted but leaves the duration and the
// last success to the run that did the work.
func TestNoOpKeepsDurationAndLastSuccess(t *testing.T) {
	s := newStats()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := s.start("j", "2026-01-01", TriggerSchedule, t0)
	s.finish(r, StatusSucceeded, 0, t0.Add(90*time.Second))
	r = s.start("j", "2026-01-01", TriggerSchedule, t0.Add(time.Hour))
	s.finish(r, StatusAlreadyCurrent, 0, t0.Add(time.Hour+time.Second))
	if d := s.lastDur["j"]; d != 90*time.Second {
		t.Errorf("duration %v, want the working run's 90s", d)
	}
	if !s.lastSuccess["j"].Equal(t0.Add(90 * time.Second)) {
		t.Errorf("last success %v", s.lastSuccess["j"])
	}
	if s.total[labelPair{"j", StatusAlreadyCurrent}] != 1 {
		t.Errorf("no-ops counted %d", s.total[labelPair{"j", StatusAlreadyCurrent}])
	}
}
