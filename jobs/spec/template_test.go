package spec

import (
	"strings"
	"testing"
	"time"
)

func TestSourcePattern(t *testing.T) {
	date := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		pattern string
		want    string
		wantErr string
	}{
		{name: "date", pattern: "/d/snapshot_date={{ .Date }}/*.parquet", want: "/d/snapshot_date=2026-03-08/*.parquet"},
		{name: "compact", pattern: "/d/{{ .Compact }}/*.parquet", want: "/d/20260308/*.parquet"},
		{name: "year month day", pattern: "/d/{{.Year}}/{{.Month}}/{{.Day}}/part-*.parquet", want: "/d/2026/03/08/part-*.parquet"},
		{name: "no template", pattern: "/d/all/*.parquet", want: "/d/all/*.parquet"},
		{name: "glob characters kept", pattern: "/d/[ab]?{{ .Day }}*.parquet", want: "/d/[ab]?08*.parquet"},
		{name: "unknown field", pattern: "/d/{{ .Nope }}/*.parquet", wantErr: "bad template"},
		{name: "unclosed action", pattern: "/d/{{ .Date /*.parquet", wantErr: "bad template"},
		{name: "unknown function", pattern: "/d/{{ nope .Date }}", wantErr: "bad template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Job{Source: Source{Parquet: tt.pattern}}
			got, err := j.SourcePattern(date)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "pattern", got, tt.want)
		})
	}
}

// The date's fields are its calendar fields whatever its zone.
func TestSourcePatternZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	j := &Job{Source: Source{Parquet: "{{ .Date }}"}}
	got, err := j.SourcePattern(time.Date(2026, 1, 1, 0, 30, 0, 0, tokyo))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "pattern", got, "2026-01-01")
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "valid", in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{name: "leap day", in: "2028-02-29", want: time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{name: "not a leap year", in: "2026-02-29", wantErr: true},
		{name: "month 13", in: "2026-13-01", wantErr: true},
		{name: "compact", in: "20261120", wantErr: true},
		{name: "no zero padding", in: "2026-1-2", wantErr: true},
		{name: "with time", in: "2026-11-20T00:00:00Z", wantErr: true},
		{name: "slashes", in: "2026/11/20", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "trailing space", in: "2026-11-20 ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDate(%q) = %v, want error", tt.in, got)
				}
				if !strings.Contains(err.Error(), "is not YYYY-MM-DD") || !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q does not name the input and the layout", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("ParseDate(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	return loc
}

func TestLastFire(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	berlin := mustZone(t, "Europe/Berlin")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := func(s string) time.Time {
		v, err := ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		schedule string
		loc      *time.Location
		now      time.Time
		want     string
	}{
		{name: "utc after fire", schedule: "0 2 * * *", loc: time.UTC, now: utc("2026-11-20T02:30:00Z"), want: "2026-11-20"},
		{name: "utc exactly at fire", schedule: "0 2 * * *", loc: time.UTC, now: utc("2026-11-20T02:00:00Z"), want: "2026-11-20"},
		{name: "utc just before fire", schedule: "0 2 * * *", loc: time.UTC, now: utc("2026-11-20T01:59:59Z"), want: "2026-11-19"},
		{name: "utc across new year", schedule: "0 2 * * *", loc: time.UTC, now: utc("2026-01-01T00:10:00Z"), want: "2025-12-31"},
		// 2026-11-20 02:30 UTC is 21:30 the day before in New York.
		{name: "new york date differs from utc", schedule: "0 2 * * *", loc: ny, now: utc("2026-11-20T02:30:00Z"), want: "2026-11-19"},
		{name: "new york after fire", schedule: "0 2 * * *", loc: ny, now: utc("2026-11-20T07:05:00Z"), want: "2026-11-20"},
		// Spring forward, 2026-03-08: 02:00 EST does not exist, clocks go 01:59 -> 03:00.
		{name: "new york spring forward day before the gap", schedule: "0 2 * * *", loc: ny, now: utc("2026-03-08T06:30:00Z"), want: "2026-03-07"},
		{name: "new york spring forward day after the gap", schedule: "0 2 * * *", loc: ny, now: utc("2026-03-08T12:00:00Z"), want: "2026-03-08"},
		{name: "new york day after spring forward", schedule: "0 2 * * *", loc: ny, now: utc("2026-03-09T06:30:00Z"), want: "2026-03-09"},
		// Fall back, 2026-11-01: 01:00-01:59 happens twice; 02:00 EST is 07:00 UTC.
		{name: "new york fall back before fire", schedule: "0 2 * * *", loc: ny, now: utc("2026-11-01T06:30:00Z"), want: "2026-10-31"},
		{name: "new york fall back after fire", schedule: "0 2 * * *", loc: ny, now: utc("2026-11-01T07:00:00Z"), want: "2026-11-01"},
		{name: "new york fall back repeated hour", schedule: "30 1 * * *", loc: ny, now: utc("2026-11-01T06:45:00Z"), want: "2026-11-01"},
		{name: "berlin midnight", schedule: "@daily", loc: berlin, now: utc("2026-06-30T22:30:00Z"), want: "2026-07-01"},
		{name: "berlin before midnight", schedule: "@daily", loc: berlin, now: utc("2026-06-30T21:30:00Z"), want: "2026-06-30"},
		// 2026-11-20 is a Friday; @weekly fires Sunday 00:00.
		{name: "weekly", schedule: "@weekly", loc: time.UTC, now: utc("2026-11-20T12:00:00Z"), want: "2026-11-15"},
		{name: "weekly on sunday", schedule: "@weekly", loc: time.UTC, now: utc("2026-11-22T00:00:00Z"), want: "2026-11-22"},
		{name: "monthly", schedule: "@monthly", loc: time.UTC, now: utc("2026-11-20T12:00:00Z"), want: "2026-11-01"},
		{name: "yearly", schedule: "@yearly", loc: time.UTC, now: utc("2026-11-20T12:00:00Z"), want: "2026-01-01"},
		// @every has no phase: it "fires" at now.
		{name: "every hour", schedule: "@every 1h", loc: time.UTC, now: utc("2026-11-20T00:10:00Z"), want: "2026-11-20"},
		{name: "leap day only", schedule: "0 0 29 2 *", loc: time.UTC, now: utc("2025-11-20T00:00:00Z"), want: "2024-02-29"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Job{Name: "j", Schedule: tt.schedule, Location: tt.loc}
			got, err := j.LastFire(tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(day(tt.want)) || got.Location() != time.UTC {
				t.Errorf("LastFire(%s) = %v, want %s UTC", tt.now.In(tt.loc), got, tt.want)
			}
		})
	}
}

func TestLastFireErrors(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		wantErr  string
	}{
		{name: "no schedule", schedule: "", wantErr: "job j has no schedule: pass --date"},
		{name: "never fires", schedule: "0 0 30 2 *", wantErr: "has not fired in the last two years"},
		{name: "bad cron", schedule: "0 25 * * *", wantErr: "above maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &Job{Name: "j", Schedule: tt.schedule, Location: time.UTC}
			got, err := j.LastFire(time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LastFire = %v, %v; want error %q", got, err, tt.wantErr)
			}
			if !got.IsZero() {
				t.Errorf("date %v returned with the error", got)
			}
		})
	}
}

func TestFireDates(t *testing.T) {
	day := func(s string) time.Time { d, _ := ParseDate(s); return d }
	tests := []struct {
		name, schedule string
		from, to       string
		want           []string
	}{
		{"daily", "0 2 * * *", "2026-02-26", "2026-03-02", []string{"2026-02-26", "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"}},
		{"weekly on mondays", "0 6 * * 1", "2026-11-01", "2026-11-20", []string{"2026-11-02", "2026-11-09", "2026-11-16"}},
		{"hourly counts each day once", "0 * * * *", "2026-11-19", "2026-11-20", []string{"2026-11-19", "2026-11-20"}},
		{"no schedule: every day", "", "2026-11-19", "2026-11-20", []string{"2026-11-19", "2026-11-20"}},
		{"one day", "@daily", "2026-11-20", "2026-11-20", []string{"2026-11-20"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := &Job{Name: "j", Schedule: tc.schedule, Location: time.UTC}
			got, err := j.FireDates(day(tc.from), day(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, d := range got {
				s = append(s, d.Format(DateLayout))
			}
			if strings.Join(s, " ") != strings.Join(tc.want, " ") {
				t.Errorf("FireDates = %v, want %v", s, tc.want)
			}
		})
	}
	j := &Job{Name: "j", Schedule: "@daily", Location: time.UTC}
	if _, err := j.FireDates(day("2026-11-20"), day("2026-11-19")); err == nil {
		t.Error("--to before --from accepted")
	}
}
