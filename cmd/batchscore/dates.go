package main

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/spec"
)

var reDateShape = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)

// parseDateFlag reads a logical date given on the command line (--date,
// --from, --to). A usage error (exit 2) says whether the value is not
// written YYYY-MM-DD or is written so but is no day of the calendar
// (2026-02-30, 2026-13-01), and which flag holds it.
func parseDateFlag(flag, value string) (time.Time, error) {
	d, err := spec.ParseDate(value)
	if err == nil {
		return d, nil
	}
	m := reDateShape.FindStringSubmatch(value)
	if m == nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not a date written YYYY-MM-DD", jobs.ErrUsage, flag, value)
	}
	year, _ := strconv.Atoi(m[1])
	month, _ := strconv.Atoi(m[2])
	if month < 1 || month > 12 {
		return time.Time{}, fmt.Errorf("%w: %s %s is written YYYY-MM-DD but is not a calendar date: there is no month %d", jobs.ErrUsage, flag, value, month)
	}
	// Day 0 of the next month is the last day of this one.
	last := time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Time{}, fmt.Errorf("%w: %s %s is written YYYY-MM-DD but is not a calendar date: %s %d has days 1 to %d",
		jobs.ErrUsage, flag, value, time.Month(month), year, last)
}
