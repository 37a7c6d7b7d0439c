package schedule

import (
	"testing"
	"time"
)

// TestClockSteppedBackOrForward: the daemon fires from its cursor, the
// wall time of the last fire it passed, so a wall clock stepped back (NTP
// correcting a clock that ran ahead) does not fire a date twice, and one
// stepped forward fires the newest missed date once.
func TestClockSteppedBackOrForward(t *testing.T) {
	sched, err := parseSchedule(testJob("j", "30 1 * * *", nil))
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, hm string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", d+" "+hm)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The 2026-01-10 fire has passed.
	cursor, fired, n := advance(sched, time.UTC, at("2026-01-10", "00:00"), at("2026-01-10", "02:00"))
	if n != 1 || !fired.Equal(at("2026-01-10", "01:30")) {
		t.Fatalf("first fire: %v, %d", fired, n)
	}

	// Stepped back an hour, to before the fire, then forward past it again.
	for _, now := range []time.Time{at("2026-01-10", "01:00"), at("2026-01-10", "01:30"), at("2026-01-10", "23:59")} {
		c, f, n := advance(sched, time.UTC, cursor, now)
		if n != 0 || !c.Equal(cursor) {
			t.Errorf("clock back at %v: fired %v (%d times), cursor %v", now, f, n, c)
		}
	}
	// The next fire is still the next day's, at its own time.
	if next := instantOf(sched.Next(cursor), time.UTC); !next.Equal(at("2026-01-11", "01:30")) {
		t.Errorf("next fire %v", next)
	}

	// Stepped forward three days: the newest date fires, once.
	c, f, n := advance(sched, time.UTC, cursor, at("2026-01-13", "12:00"))
	if n != 3 || !f.Equal(at("2026-01-13", "01:30")) || !c.Equal(f) {
		t.Errorf("clock forward: fired %v after passing %d fires, cursor %v; want the 2026-01-13 fire, 3 passed", f, n, c)
	}
	if dateOf(f).Format("2006-01-02") != "2026-01-13" {
		t.Errorf("logical date %v", dateOf(f))
	}
}
