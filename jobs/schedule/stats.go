package schedule

import "time"

// Statuses the daemon itself assigns; RunFunc reports the others.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	// StatusAlreadyCurrent is a run that found its date already current
	// and did nothing (equals report.StatusAlreadyCurrent).
	StatusAlreadyCurrent = "already_current"
)

// MaxRuns is how many runs /runs remembers.
const MaxRuns = 200

// RunRecord is one execution the daemon started, as /runs shows it.
type RunRecord struct {
	Job      string     `json:"job"`
	Date     string     `json:"date"`
	Trigger  string     `json:"trigger"`
	Status   string     `json:"status"`
	ExitCode int        `json:"exit_code"`
	Started  time.Time  `json:"started"`
	Finished *time.Time `json:"finished,omitempty"` // nil while running
}

type labelPair struct{ job, value string }

// stats are the daemon's in-memory counters and recent runs. d.mu guards
// them.
type stats struct {
	runs        []*RunRecord // oldest first, at most MaxRuns
	total       map[labelPair]int64
	drops       map[labelPair]int64
	running     map[string]int
	lastSuccess map[string]time.Time
	lastDur     map[string]time.Duration
}

func newStats() stats {
	return stats{
		total:       map[labelPair]int64{},
		drops:       map[labelPair]int64{},
		running:     map[string]int{},
		lastSuccess: map[string]time.Time{},
		lastDur:     map[string]time.Duration{},
	}
}

func (s *stats) start(job, date, trigger string, now time.Time) *RunRecord {
	r := &RunRecord{Job: job, Date: date, Trigger: trigger, Status: StatusRunning, Started: now}
	if len(s.runs) >= MaxRuns {
		copy(s.runs, s.runs[1:])
		s.runs = s.runs[:len(s.runs)-1]
	}
	s.runs = append(s.runs, r)
	s.running[job]++
	return r
}

func (s *stats) finish(r *RunRecord, status string, code int, now time.Time) {
	r.Status, r.ExitCode, r.Finished = status, code, &now
	s.running[r.Job]--
	s.total[labelPair{r.Job, status}]++
	// A no-op says nothing of how long the job takes or when its results
	// last changed: it leaves both gauges to the run that did the work.
	if status == StatusAlreadyCurrent {
		return
	}
	s.lastDur[r.Job] = now.Sub(r.Started)
	if code == 0 {
		s.lastSuccess[r.Job] = now
	}
}

func (s *stats) dropped(job, reason string) { s.drops[labelPair{job, reason}]++ }

// recent copies the runs, newest first.
func (s *stats) recent() []RunRecord {
	out := make([]RunRecord, 0, len(s.runs))
	for i := len(s.runs) - 1; i >= 0; i-- {
		out = append(out, *s.runs[i])
	}
	return out
}
