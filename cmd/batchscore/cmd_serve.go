package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/schedule"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/trends"
)

func newServeCommand(g *globalFlags) *cobra.Command {
	var dir, listen, tokenFile, tokenEnv string
	var grace time.Duration
	var openMetrics bool
	cmd := &cobra.Command{
		Use:   "serve --jobs DIR",
		Short: "Run every job of a folder on its schedule",
		Long: `serve loads every *.yaml job file of a folder and runs each job at its
schedule, in its own time zone (a fire in a daylight-saving gap still runs,
as cron does). When a fire comes while the job's previous run still runs,
the job's overlap policy skips or queues it. On start, fires missed while
the daemon was down are run, up to the job's catchup count, found from the
run history on disk.

Two job files that declare the same name are both refused. SIGHUP reloads
the job files: a file that fails to load is reported and the job keeps its
previous version; a removed file stops its job, and a folder left with
nothing to run makes /healthz say degraded. SIGTERM or SIGINT stops
scheduling, lets running jobs finish for --grace, then cancels them (nothing
half-published) and exits 0.

HTTP on --listen (loopback by default): /healthz, /metrics (Prometheus text
format), /runs (recent runs as JSON) and, at /, the trends pages of
'batchscore trends' for every job, with each run's report and manifest.
Every response carries a Content-Security-Policy that allows no script and
nothing from elsewhere. On an address other than loopback serve needs a
bearer token (--token-file or --token-env: the token itself never goes on
the command line) and refuses to start without one (exit 2); every request
but /healthz must then send "Authorization: Bearer <token>" (--open-metrics
leaves /metrics open for a Prometheus scraper on a trusted network).`,
		Example: `  batchscore serve --jobs configs/ --listen 127.0.0.1:9464
  batchscore serve --jobs configs/ --listen :9464 --token-file /run/secrets/batchscore-token --open-metrics`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if dir == "" {
				return fmt.Errorf("%w: --jobs is required", jobs.ErrUsage)
			}
			lib, libErr := resolveORTLib(g.ortLib)
			// Runs share what their files did not change (jobs.Reuse).
			runner := &jobs.Runner{ORTLib: lib, ORTLibErr: libErr, Version: buildVersion(), Logger: log, Reuse: jobs.NewReuse()}
			defer runner.Reuse.Close()
			d := schedule.New(schedule.Options{Run: runFunc(runner), History: lastDate(log), Logger: log, Grace: grace, Outcomes: evaluateDue(log)})
			token, err := schedule.LoadToken(tokenFile, tokenEnv)
			if err != nil {
				return fmt.Errorf("%w: %v", jobs.ErrUsage, err)
			}
			if err := loadJobs(d, dir, log); err != nil {
				return fmt.Errorf("%w: %v", jobs.ErrUsage, err)
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("%w: --listen %s: %v", jobs.ErrUsage, listen, err)
			}
			if err := schedule.CheckExposure(ln.Addr(), token != nil); err != nil {
				ln.Close()
				return fmt.Errorf("%w: %v", jobs.ErrUsage, err)
			}
			handler := d.HandlerWith(schedule.HTTPOptions{Pages: trends.Handler(d.Jobs, log), Token: token, OpenMetrics: openMetrics})
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
						reloadJobs(d, dir, log)
					case <-ctx.Done():
						return
					}
				}
			}()
			log.Info("serving", "jobs", dir, "listen", ln.Addr().String(), "token", token != nil, "open_metrics", openMetrics)
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
	fl.StringVar(&listen, "listen", "127.0.0.1:9464", "address of the pages, /healthz, /metrics and /runs")
	fl.StringVar(&tokenFile, "token-file", "", "file holding the bearer token every request but /healthz must send (required off loopback)")
	fl.StringVar(&tokenEnv, "token-env", "", "name of the environment variable holding the bearer token (instead of --token-file)")
	fl.BoolVar(&openMetrics, "open-metrics", false, "serve /metrics without the token (a Prometheus scraper on a trusted network)")
	fl.DurationVar(&grace, "grace", 10*time.Minute, "on SIGTERM, how long running jobs may finish before they are cancelled")
	return cmd
}

// runFunc runs one scheduled execution and reports how it ended.
func runFunc(runner *jobs.Runner) schedule.RunFunc {
	return func(ctx context.Context, job *spec.Job, date time.Time, trigger string) (string, int) {
		res, err := runner.Run(ctx, jobs.Request{Job: job, Date: date, Trigger: trigger})
		if res == nil {
			return "failed", jobs.ExitCode(err)
		}
		return res.Manifest.Status, jobs.ExitCode(err)
	}
}

// lastDate is the logical date catch-up starts after, from the job's
// manifests: the newest date with a successful execution (succeeded, or
// found already current). A date after it whose executions all failed or
// were interrupted is missed, and catch-up runs it again. A job that has
// executions but no success yet catches up from its oldest date (the day
// before it is returned). ok=false: it never ran.
func lastDate(log *slog.Logger) func(job *spec.Job) (time.Time, bool) {
	return func(job *spec.Job) (time.Time, bool) {
		history, err := jobs.History(job)
		if err != nil {
			// Not silent: catch-up is off for this job until the cause goes.
			log.Warn("run history unreadable: no catch-up", "job", job.Name, "err", err)
			return time.Time{}, false
		}
		return lastDateIn(history)
	}
}

// lastDateIn is the date catch-up starts after: the newest success, else
// the day before the oldest failed or interrupted date.
func lastDateIn(history []*report.Manifest) (time.Time, bool) {
	var oldest time.Time
	for _, m := range history { // newest date first
		if m.Trigger == jobs.TriggerValidate {
			continue
		}
		d, err := spec.ParseDate(m.LogicalDate)
		if err != nil {
			continue
		}
		if m.Status == report.StatusSucceeded || m.Status == report.StatusAlreadyCurrent {
			return d, true
		}
		if oldest.IsZero() || d.Before(oldest) {
			oldest = d
		}
	}
	if oldest.IsZero() {
		return time.Time{}, false
	}
	return oldest.AddDate(0, 0, -1), true
}

// jobFiles lists the folder's *.yaml files, sorted. A missing or
// unreadable folder is an error: serve must not read it as "no jobs".
func jobFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("jobs folder %s does not exist", dir)
	case err != nil && errors.Is(err, syscall.ENOTDIR):
		return nil, fmt.Errorf("--jobs %s is a file, not a folder of job files", dir)
	case err != nil:
		return nil, fmt.Errorf("cannot read the jobs folder: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	return paths, nil
}

// readJobs loads the job files of a folder. errs holds the files that did
// not load, by absolute path; two files that declare the same job name are
// both errors, since picking one would be a guess. Jobs without a schedule
// are left out.
func readJobs(paths []string, log *slog.Logger) ([]*spec.Job, map[string]error) {
	var all []*spec.Job
	errs := map[string]error{}
	byName := map[string][]*spec.Job{}
	for _, p := range paths {
		abs, _ := filepath.Abs(p)
		job, err := spec.Load(p)
		if err != nil {
			errs[abs] = err
			log.Error("job file not loaded", "file", p, "err", err)
			continue
		}
		all = append(all, job)
		byName[job.Name] = append(byName[job.Name], job)
	}
	var loaded []*spec.Job
	for _, job := range all {
		if same := byName[job.Name]; len(same) > 1 {
			errs[job.File] = duplicateName(job, same)
			log.Error("job file not loaded", "file", job.File, "err", errs[job.File])
			continue
		}
		if job.Schedule == "" {
			log.Warn("job has no schedule; serve leaves it alone", "job", job.Name, "file", job.File)
			continue
		}
		loaded = append(loaded, job)
	}
	return loaded, errs
}

// duplicateName names the job file, the line of its name and the other
// files that declare the same name.
func duplicateName(job *spec.Job, same []*spec.Job) error {
	var others []string
	for _, o := range same {
		if o != job {
			others = append(others, o.File)
		}
	}
	where := "name"
	if line := topKeyLine(job.File, "name"); line > 0 {
		where = fmt.Sprintf("line %d: name", line)
	}
	return fmt.Errorf("%s: %w: %s: job name %q is also declared by %s: each job needs its own name (or move one file out of the folder); none of them is loaded",
		job.File, spec.ErrInvalid, where, job.Name, strings.Join(others, ", "))
}

// topKeyLine is the line of a top-level key of a YAML file, 0 if not found.
func topKeyLine(path, key string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key+":") {
			return i + 1
		}
	}
	return 0
}

// loadJobs loads the folder's job files into the daemon at start. Nothing
// with a schedule to run is an error: serve refuses to start.
func loadJobs(d *schedule.Daemon, dir string, log *slog.Logger) error {
	paths, err := jobFiles(dir)
	if err != nil {
		return err
	}
	loaded, errs := readJobs(paths, log)
	if len(loaded) == 0 {
		return noJobs(dir, len(paths), errs)
	}
	setPolicies(d, loaded)
	d.Load(loaded, errs)
	return nil
}

// reloadJobs applies the folder as it is now (SIGHUP). A removed file
// stops its job, and a folder left with nothing to run stops them all and
// says so in /healthz; a folder that cannot be read changes nothing.
func reloadJobs(d *schedule.Daemon, dir string, log *slog.Logger) {
	paths, err := jobFiles(dir)
	if err != nil {
		d.LoadFailed(dir, err)
		return
	}
	loaded, errs := readJobs(paths, log)
	if len(loaded) == 0 {
		err := noJobs(dir, len(paths), errs)
		log.Error("reload left nothing to schedule", "err", err)
		errs[dir] = err
	}
	setPolicies(d, loaded)
	d.Load(loaded, errs)
}

func noJobs(dir string, files int, errs map[string]error) error {
	if files == 0 {
		return fmt.Errorf("no job file (*.yaml) in %s: nothing to schedule", dir)
	}
	msgs := make([]string, 0, len(errs))
	for _, f := range slices.Sorted(maps.Keys(errs)) {
		msgs = append(msgs, errs[f].Error())
	}
	detail := ""
	if len(msgs) > 0 {
		detail = ": " + strings.Join(msgs, "; ")
	}
	return fmt.Errorf("no job file with a schedule loaded from %s (%d of %d failed)%s", dir, len(errs), files, detail)
}

func setPolicies(d *schedule.Daemon, loaded []*spec.Job) {
	for _, job := range loaded {
		catchup := 1
		if job.Catchup != nil {
			catchup = *job.Catchup
		}
		d.SetPolicy(job.Name, schedule.Policy{Overlap: job.Overlap, Catchup: catchup})
	}
}
