package schedule

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Fire times are computed the way cron does it and the way spec.LastFire
// reads them: the schedule is evaluated on the job's local wall clock,
// written as UTC (a zone without DST). A wall time W then fires at the first
// real instant at which the local clock reads W or later:
//
//   - in a spring-forward gap (02:30 on a night that jumps 02:00 -> 03:00)
//     that is the moment of the jump, 03:00 local: the fire still happens once;
//   - in a fall-back repeated hour (01:30 happens twice) it is the first
//     01:30; the daemon remembers the last wall time it fired (its cursor)
//     and asks for the next one after that, so the second 01:30 does not fire.
//
// The logical date of a fire is the date of its wall time W.

// parseSchedule reads a job's schedule for wall-clock evaluation.
func parseSchedule(job *spec.Job) (cron.Schedule, error) {
	s, err := job.WallSchedule()
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	return s, nil
}

// wallOf is the local wall-clock reading of t in loc, written as UTC.
func wallOf(t time.Time, loc *time.Location) time.Time { return spec.WallClock(t, loc) }

// instantOf is the first real instant at which loc's wall clock reads w
// (a wall time written as UTC) or later. The zero time stays zero.
func instantOf(w time.Time, loc *time.Location) time.Time {
	if w.IsZero() {
		return w
	}
	// Every real instant showing w lies within a day of w read as UTC; the
	// offsets in effect then are those a little before and after.
	var best time.Time
	for _, probe := range []time.Duration{-15 * time.Hour, 15 * time.Hour} {
		_, off := w.Add(probe).In(loc).Zone()
		t := w.Add(-time.Duration(off) * time.Second)
		if _, at := t.In(loc).Zone(); at != off {
			continue // w does not exist under this offset
		}
		if best.IsZero() || t.Before(best) {
			best = t
		}
	}
	if !best.IsZero() {
		return best.In(loc)
	}
	// A gap: the clock jumped over w. It first reads later than w at the
	// jump itself, the start of the zone in effect just after w.
	_, before := w.Add(-15 * time.Hour).In(loc).Zone()
	after := w.Add(-time.Duration(before) * time.Second).In(loc)
	start, _ := after.ZoneBounds()
	if start.IsZero() {
		return after
	}
	return start.In(loc)
}

// dateOf is the logical date of a wall time: its day at 00:00 UTC, as
// spec.ParseDate and spec.LastFire write dates.
func dateOf(w time.Time) time.Time {
	y, m, d := w.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// advance moves cursor over every fire due at or before now and returns
// the new cursor, the newest wall time passed (zero if none) and how many
// were passed.
func advance(s cron.Schedule, loc *time.Location, cursor, now time.Time) (time.Time, time.Time, int) {
	var last time.Time
	n := 0
	for {
		next := s.Next(cursor)
		if next.IsZero() || instantOf(next, loc).After(now) {
			return cursor, last, n
		}
		cursor, last = next, next
		n++
	}
}

// startCursor is where a newly scheduled job starts: past every fire due
// at or before now, so that the first scheduled fire is in the future.
// Fires already due belong to catch-up.
func startCursor(s cron.Schedule, loc *time.Location, now time.Time) time.Time {
	c, _, _ := advance(s, loc, wallOf(now, loc), now)
	return c
}

// missedDates lists the logical dates after last (exclusive; zero: none
// known) whose fire is due at or before now, oldest first, keeping at most
// the newest limit of them.
func missedDates(s cron.Schedule, loc *time.Location, last, now time.Time, limit int) []time.Time {
	if limit <= 0 {
		return nil
	}
	wallNow := wallOf(now, loc)
	from := wallNow.Add(-spec.MaxLookback)
	if !last.IsZero() {
		if d := dateOf(last).AddDate(0, 0, 1); d.After(from) {
			from = d
		}
	}
	var out []time.Time
	// Wall times up to a few hours past the wall clock can already be due
	// during a fall-back hour; the instant decides.
	for w := s.Next(from.Add(-time.Nanosecond)); !w.IsZero() && !w.After(wallNow.Add(3*time.Hour)); w = s.Next(w) {
		if instantOf(w, loc).After(now) {
			break
		}
		d := dateOf(w)
		if len(out) == 0 || !out[len(out)-1].Equal(d) {
			out = append(out, d)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}
