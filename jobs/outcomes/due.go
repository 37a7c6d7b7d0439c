package outcomes

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Due lists the score dates of a job whose horizon has passed at now (the
// date's midnight in the job's zone plus outcomes.horizon) and whose
// current version has no outcomes file yet, oldest first.
func Due(job *spec.Job, now time.Time) ([]string, error) {
	if job.Outcomes == nil {
		return nil, nil
	}
	if _, err := os.Stat(job.Output.Table); !table.IsRemote(job.Output.Table) && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	// A table on S3: its manifests, outcomes files and pointers, pulled.
	t, err := table.Mirror(job.Output.Table)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	dates, err := t.RunDates()
	if err != nil {
		return nil, err
	}
	horizon := job.Outcomes.HorizonDuration()
	var due []string
	for _, d := range dates {
		day, err := time.ParseInLocation(spec.DateLayout, d, job.Location)
		if err != nil || day.Add(horizon).After(now) {
			continue
		}
		cur, err := t.Current(d)
		if err != nil || cur == "" {
			continue
		}
		if done, err := Evaluated(t, d, cur); err != nil || done {
			continue
		}
		due = append(due, d)
	}
	return due, nil
}

// EvaluateDue evaluates each due date (see Due) and returns the reports
// written; a date that fails is logged and left for the next call (its
// labels may not have arrived yet).
func EvaluateDue(ctx context.Context, job *spec.Job, now time.Time, log *slog.Logger) []*Report {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	due, err := Due(job, now)
	if err != nil {
		log.Warn("outcomes: could not list the dates due", "job", job.Name, "err", err)
		return nil
	}
	var out []*Report
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		rep, err := Evaluate(ctx, Request{Job: job, Date: d, Now: now, Logger: log})
		switch {
		case err != nil && rep != nil:
			log.Warn("outcomes: evaluated; the gate failed", "job", job.Name, "date", d, "err", err)
			out = append(out, rep)
		case err != nil:
			log.Warn("outcomes: could not evaluate", "job", job.Name, "date", d, "err", err)
		default:
			log.Info("outcomes: evaluated", "job", job.Name, "date", d, "version", rep.Version, "matched", rep.Champion.Matched)
			out = append(out, rep)
		}
	}
	return out
}
