package schedule

import (
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/spec"
)

// TestFireTimesAcrossDST walks a schedule's fires over a DST change, as
// the daemon does, and checks each fire's instant and logical date.
func TestFireTimesAcrossDST(t *testing.T) {
	ny := newYork(t)
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		schedule string
		from     string // UTC instant to start from
		want     []string
	}{
		{
			// 02:30 does not exist on 2025-03-09: it fires when the clock
			// jumps to 03:00 EDT, once, for that date.
			name: "spring forward 02:30", schedule: "30 2 * * *", from: "2025-03-08T00:00:00Z",
			want: []string{
				"2025-03-08 2025-03-08T02:30:00-05:00",
				"2025-03-09 2025-03-09T03:00:00-04:00",
				"2025-03-10 2025-03-10T02:30:00-04:00",
			},
		},
		{
			name: "spring forward 02:00", schedule: "0 2 * * *", from: "2025-03-08T00:00:00Z",
			want: []string{
				"2025-03-08 2025-03-08T02:00:00-05:00",
				"2025-03-09 2025-03-09T03:00:00-04:00",
				"2025-03-10 2025-03-10T02:00:00-04:00",
			},
		},
		{
			// 01:30 happens twice on 2025-11-02: only the first fires.
			name: "fall back 01:30", schedule: "30 1 * * *", from: "2025-11-01T00:00:00Z",
			want: []string{
				"2025-11-01 2025-11-01T01:30:00-04:00",
				"2025-11-02 2025-11-02T01:30:00-04:00",
				"2025-11-03 2025-11-03T01:30:00-05:00",
			},
		},
		{
			name: "fall back 02:30", schedule: "30 2 * * *", from: "2025-11-01T00:00:00Z",
			want: []string{
				"2025-11-01 2025-11-01T02:30:00-04:00",
				"2025-11-02 2025-11-02T02:30:00-05:00",
				"2025-11-03 2025-11-03T02:30:00-05:00",
			},
		},
		{
			name: "fall back 02:00", schedule: "0 2 * * *", from: "2025-11-01T00:00:00Z",
			want: []string{
				"2025-11-01 2025-11-01T02:00:00-04:00",
				"2025-11-02 2025-11-02T02:00:00-05:00",
				"2025-11-03 2025-11-03T02:00:00-05:00",
			},
		},
		{
			// Hourly: the repeated 01:00 hour fires once, 00:00 to 03:00
			// are four fires over five real hours.
			name: "fall back hourly", schedule: "0 * * * *", from: "2025-11-02T04:00:00Z",
			want: []string{
				"2025-11-02 2025-11-02T01:00:00-04:00",
				"2025-11-02 2025-11-02T02:00:00-05:00",
				"2025-11-02 2025-11-02T03:00:00-05:00",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, err := parseSchedule(testJob("j", tt.schedule, ny))
			if err != nil {
				t.Fatal(err)
			}
			now := utc(tt.from)
			cursor := startCursor(sched, ny, now)
			var got []string
			for len(got) < len(tt.want) {
				at := instantOf(sched.Next(cursor), ny)
				if !at.After(now) {
					t.Fatalf("next fire %v is not after %v", at, now)
				}
				now = at
				var fired time.Time
				var n int
				cursor, fired, n = advance(sched, ny, cursor, now)
				if n != 1 {
					t.Fatalf("at %v: %d fires due, want 1", now, n)
				}
				got = append(got, dateOf(fired).Format(spec.DateLayout)+" "+now.In(ny).Format(time.RFC3339))
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("fire %d = %s, want %s", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestFireDatesAgreeWithLastFire checks that the daemon's logical dates
// are spec.Job.LastFire's: what `batchscore run` without --date would pick.
func TestFireDatesAgreeWithLastFire(t *testing.T) {
	ny := newYork(t)
	for _, schedule := range []string{"30 2 * * *", "0 2 * * *", "30 1 * * *", "0 */6 * * *", "15 3 * * 1"} {
		job := testJob("j", schedule, ny)
		sched, _ := parseSchedule(job)
		for _, start := range []time.Time{
			time.Date(2025, 3, 7, 0, 0, 0, 0, time.UTC),
			time.Date(2025, 10, 31, 0, 0, 0, 0, time.UTC),
		} {
			cursor := startCursor(sched, ny, start)
			for range 12 {
				at := instantOf(sched.Next(cursor), ny)
				var fired time.Time
				cursor, fired, _ = advance(sched, ny, cursor, at)
				want, err := job.LastFire(at)
				if err != nil {
					t.Fatal(err)
				}
				if !dateOf(fired).Equal(want) {
					t.Errorf("%s at %v: date %v, LastFire %v", schedule, at, dateOf(fired), want)
				}
			}
		}
	}
}

func TestMissedDates(t *testing.T) {
	sched, _ := parseSchedule(testJob("j", "0 1 * * *", nil))
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	weekly, _ := parseSchedule(testJob("j", "0 1 * * 1", nil)) // Mondays; 2026-01-05 is one
	tests := []struct {
		name  string
		last  time.Time
		limit int
		want  []string
	}{
		{"one", day("2026-01-05"), 1, []string{"2026-01-10"}},
		{"three", day("2026-01-05"), 3, []string{"2026-01-08", "2026-01-09", "2026-01-10"}},
		{"more than missed", day("2026-01-08"), 5, []string{"2026-01-09", "2026-01-10"}},
		{"none", day("2026-01-05"), 0, nil},
		{"up to date", day("2026-01-10"), 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range missedDates(sched, time.UTC, tt.last, now, tt.limit) {
				got = append(got, d.Format(spec.DateLayout))
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
	got := missedDates(weekly, time.UTC, day("2025-12-23"), now, 5)
	if len(got) != 2 || !got[0].Equal(day("2025-12-29")) || !got[1].Equal(day("2026-01-05")) {
		t.Errorf("weekly: got %v", got)
	}
}
