package main

import (
	"log/slog"
	"time"

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
