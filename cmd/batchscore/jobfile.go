package main

import (
	"log/slog"
	"time"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// loadJob is what a command on one job file does first: its logger
// (--log-format, --log-level: a usage error first), then the job file.
func (g *globalFlags) loadJob(path string) (*slog.Logger, *spec.Job, error) {
	log, err := g.logger()
	if err != nil {
		return nil, nil, err
	}
	job, err := spec.Load(path)
	if err != nil {
		return nil, nil, err
	}
	return log, job, nil
}

// loadJobDate is loadJob and the logical date: --date, else the
// schedule's last fire time (logicalDate).
func (g *globalFlags) loadJobDate(path, date string) (*slog.Logger, *spec.Job, time.Time, error) {
	log, job, err := g.loadJob(path)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	d, err := logicalDate(job, date)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	return log, job, d, nil
}

// loadHistory loads the job file and its table's run history, newest
// first (jobs.History), for runs and show.
func loadHistory(path string) (*spec.Job, []*report.Manifest, error) {
	job, err := spec.Load(path)
	if err != nil {
		return nil, nil, err
	}
	history, err := jobs.History(job)
	if err != nil {
		return nil, nil, err
	}
	return job, history, nil
}
