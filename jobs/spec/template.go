package spec

import (
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"
)

// DateLayout is how logical dates are written everywhere: flags, paths,
// manifests, result rows.
const DateLayout = "2006-01-02"

// TemplateData is what {{ . }} holds in a templated path.
type TemplateData struct {
	Date    string // 2026-11-20
	Compact string // 20261120
	Year    string // 2026
	Month   string // 11
	Day     string // 20
}

// SourcePattern fills the source glob's template for a logical date.
func (j *Job) SourcePattern(date time.Time) (string, error) {
	return expandDate(j.Source.Parquet, date)
}

func expandDate(text string, date time.Time) (string, error) {
	tmpl, err := template.New("path").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("bad template: %v", err)
	}
	data := TemplateData{
		Date:    date.Format(DateLayout),
		Compact: date.Format("20060102"),
		Year:    date.Format("2006"),
		Month:   date.Format("01"),
		Day:     date.Format("02"),
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("bad template: %v", err)
	}
	return b.String(), nil
}

// ParseDate reads a logical date written as YYYY-MM-DD.
func ParseDate(s string) (time.Time, error) {
	d, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return d, nil
}

// LastFire returns the logical date of the schedule's most recent fire time
// at or before now, in the job's time zone.
func (j *Job) LastFire(now time.Time) (time.Time, error) {
	if j.Schedule == "" {
		return time.Time{}, fmt.Errorf("job %s has no schedule: pass --date", j.Name)
	}
	sched, err := j.WallSchedule()
	if err != nil {
		return time.Time{}, err
	}
	// A 02:00 fire on the spring-forward night counts as done once the
	// local clock reads 02:00 or later, as cron runs it.
	now = WallClock(now, j.Location)
	// Search back in growing steps for a window holding a fire time, then
	// walk forward to the last one not after now.
	for back := time.Hour; ; back = min(2*back, MaxLookback) {
		t := sched.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			if back == MaxLookback {
				return time.Time{}, fmt.Errorf("schedule %q has not fired in the last two years: pass --date", j.Schedule)
			}
			continue
		}
		for {
			next := sched.Next(t)
			if next.IsZero() || next.After(now) {
				break
			}
			t = next
		}
		y, m, d := t.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	}
}

// FireDates lists the logical dates in [from, to] on which the schedule
// fires, in its time zone: a weekly job has weekly dates. Without a
// schedule every day counts.
func (j *Job) FireDates(from, to time.Time) ([]time.Time, error) {
	if to.Before(from) {
		return nil, fmt.Errorf("--to %s is before --from %s", to.Format(DateLayout), from.Format(DateLayout))
	}
	var out []time.Time
	if j.Schedule == "" {
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			out = append(out, d)
		}
		return out, nil
	}
	sched, err := j.WallSchedule()
	if err != nil {
		return nil, err
	}
	end := to.AddDate(0, 0, 1)
	for t := sched.Next(from.Add(-time.Second)); !t.IsZero() && t.Before(end); t = sched.Next(t) {
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		if len(out) == 0 || !out[len(out)-1].Equal(day) {
			out = append(out, day)
		}
	}
	return out, nil
}

// MaxLookback bounds how far back a schedule's past fires are searched.
const MaxLookback = 800 * 24 * time.Hour

// WallSchedule parses the job's schedule for evaluation on the local wall
// clock written as UTC (see WallClock): UTC has no DST gaps, so a fire time
// the clock skips still exists, as cron treats it.
func (j *Job) WallSchedule() (cron.Schedule, error) {
	if j.Schedule == "" {
		return nil, fmt.Errorf("%w: job %s has no schedule", ErrInvalid, j.Name)
	}
	s, err := CronParser.Parse("TZ=UTC " + j.Schedule)
	if err != nil {
		return nil, fmt.Errorf("%w: schedule %q: %v", ErrInvalid, j.Schedule, err)
	}
	return s, nil
}

// WallClock is the local wall-clock reading of t in loc, written as UTC.
func WallClock(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}
