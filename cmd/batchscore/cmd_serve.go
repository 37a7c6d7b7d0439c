package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/schedule"
	"github.com/batchscore/batchscore/jobs/spec"
)

func newServeCommand(g *globalFlags) *cobra.Command {
	var dir, listen string
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "serve --jobs DIR",
		Short: "Run every job of a folder on its schedule",
		Long: `serve loads every *.yaml job file of a folder and runs each job at its
schedule, in its own time zone (a fire in a daylight-saving gap still runs,
as cron does). When a fire comes while the job's previous run still runs,
the job's overlap policy skips or queues it. On start, fires missed while
the daemon was down are run, up to the job's catchup count, found from the
run history on disk.

SIGHUP reloads the job files: a file that fails to load is reported and the
job keeps its previous version. SIGTERM or SIGINT stops scheduling, lets
running jobs finish for --grace, then cancels them (nothing half-published)
and exits 0.

HTTP on --listen (loopback by default): /healthz, /metrics (Prometheus text
format) and /runs (recent runs as JSON).`,
		Example: `  batchscore serve --jobs configs/ --listen 127.0.0.1:9464`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if dir == "" {
				return fmt.Errorf("%w: --jobs is required", jobs.ErrUsage)
			}
			lib, libErr := resolveORTLib(g.ortLib)
			runner := &jobs.Runner{ORTLib: lib, ORTLibErr: libErr, Version: buildVersion(), Logger: log}
			d := schedule.New(schedule.Options{Run: runFunc(runner), History: lastDate, Logger: log, Grace: grace})
			if err := loadJobs(d, dir, log); err != nil {
				return fmt.Errorf("%w: %v", jobs.ErrUsage, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("%w: --listen %s: %v", jobs.ErrUsage, listen, err)
			}
			srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go srv.Serve(ln)
			defer srv.Close()

			ctx := cmd.Context()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-hup:
						log.Info("reloading job files", "dir", dir)
						if err := loadJobs(d, dir, log); err != nil {
							log.Error("reload failed; the jobs keep running as they were", "err", err)
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			log.Info("serving", "jobs", dir, "listen", ln.Addr().String())
			if err := d.Run(ctx); err != nil {
				return err
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(shutdown)
			log.Info("stopped")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "jobs", "", "folder of job files (*.yaml)")
	fl.StringVar(&listen, "listen", "127.0.0.1:9464", "address of /healthz, /metrics and /runs")
	fl.DurationVar(&grace, "grace", 10*time.Minute, "on SIGTERM, how long running jobs may finish before they are cancelled")
	return cmd
}

// runFunc runs one scheduled execution and reports how it ended.
func runFunc(runner *jobs.Runner) schedule.RunFunc {
	return func(ctx context.Context, job *spec.Job, date time.Time, trigger string) (string, int) {
		res, err := runner.Run(ctx, jobs.Request{Job: job, Date: date, Trigger: trigger})
		// Between runs the daemon holds no run's peak of read buffers.
		parquetio.ReleasePooled()
		if res == nil {
			return "failed", jobs.ExitCode(err)
		}
		return res.Manifest.Status, jobs.ExitCode(err)
	}
}

// lastDate is the newest logical date a job has an execution for, from its
// manifests: where catch-up starts.
func lastDate(job *spec.Job) (time.Time, bool) {
	history, err := jobs.History(job)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range history {
		// A run the daemon itself interrupted (a stop outlasting --grace)
		// did not happen: catch-up must run that date again.
		if m.Trigger == jobs.TriggerValidate || m.Status == report.StatusInterrupted {
			continue
		}
		if d, err := spec.ParseDate(m.LogicalDate); err == nil {
			return d, true
		}
	}
	return time.Time{}, false
}

// loadJobs (re)loads the folder's job files into the daemon; a file that
// does not load is passed on by path, so its job keeps its old version.
func loadJobs(d *schedule.Daemon, dir string, log *slog.Logger) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(paths)
	var loaded []*spec.Job
	errs := map[string]error{}
	for _, p := range paths {
		job, err := spec.Load(p)
		if err != nil {
			abs, _ := filepath.Abs(p)
			errs[abs] = err
			log.Error("job file not loaded", "file", p, "err", err)
			continue
		}
		if job.Schedule == "" {
			log.Warn("job has no schedule; serve leaves it alone", "job", job.Name, "file", p)
			continue
		}
		catchup := 1
		if job.Catchup != nil {
			catchup = *job.Catchup
		}
		d.SetPolicy(job.Name, schedule.Policy{Overlap: job.Overlap, Catchup: catchup})
		loaded = append(loaded, job)
	}
	if len(loaded) == 0 {
		return fmt.Errorf("no job file with a schedule loaded from %s (%d failed)", dir, len(errs))
	}
	d.Load(loaded, errs)
	return nil
}
