package main

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

type runFlags struct {
	date    string
	json    bool
	workers int
	trigger string
	force   bool
	backfillFlags
	metricsFile string
	pushgateway string
	verbose     bool
	// registryModel: current or as-of-date, for models named by alias.
	registryModel string
	shard         string
}

func newRunCommand(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run JOB.yaml [--date YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD]",
		Short: "Score one logical date and publish a new version of the result table",
		Long: `run scores the snapshot of one logical date with the job's model and publishes
a new immutable version of the result table, then points current/<date> at it.

The logical date defaults to the day of the schedule's most recent fire time
in the job's time zone. Logs go to stderr; with --json the run manifest is
printed to stdout when the run ends, whether it succeeded or not. Nothing is
read from stdin.

With --from and --to, run backfills every logical date of the range that the
schedule has (a weekly job backfills weekly), --parallel dates at a time,
oldest first (or --backwards). By default (--reprocess none) it skips the
dates whose last execution failed and runs the others: a date already
current with the same snapshot, model and job file is a no-op ("already
current"), one whose snapshot, model or job file changed gets a new version,
an interrupted one runs again. --reprocess failed reruns the failed dates
too; --reprocess all makes a new version of every date. A failed date does
not stop the others; it ends with a table of dates and outcomes. Run again
with the same flags after an interruption, none and failed carry on where
they stopped (what is done is already current); all starts again from the
first date, so rerun it with --from and --to narrowed to the dates it did
not finish (the outcome table lists them). --dry-run prints the plan, each
date with run, current or skip and why, and touches nothing: a date is
current when a run would find it so (it loads the models and fingerprints
the snapshot of each date that has a current version, as a run does).

A date whose current version came from the same snapshot, model and job file
is not run again ("already current", exit 0) unless --force. Two executions
of the same job and date never run at once: the second exits 4.

Exit codes: 0 success or already current; 1 failure (I/O, model, runtime,
database); 2 usage or job-file error, missing model or model signature
mismatch; 3 the data failed its checks or cannot be scored: nothing was
published; 4 another execution of this job and date is running; 130
interrupted (SIGINT/SIGTERM): nothing was published.`,
		Example: `  batchscore run configs/churn_nightly.yaml --date 2026-11-20
  batchscore run configs/churn_nightly.yaml --date 2026-11-20 --json > manifest.json
  batchscore run configs/churn_nightly.yaml --from 2025-01-01 --to 2025-06-30 --parallel 2
  batchscore run configs/churn_nightly.yaml --from 2025-01-01 --to 2025-06-30 --dry-run`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runJob(cmd, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.date, "date", "", "logical date to score, YYYY-MM-DD (default: the schedule's last fire time)")
	fl.BoolVar(&f.json, "json", false, "print the run manifest as JSON on stdout when the run ends")
	fl.IntVar(&f.workers, "workers", 0, "scoring goroutines, overriding scoring.workers (0: the job file decides)")
	fl.StringVar(&f.trigger, "trigger", jobs.TriggerManual, "who started this run, recorded in the manifest: manual, schedule or backfill")
	f.backfillFlags.add(cmd)
	fl.BoolVar(&f.verbose, "verbose", false, "also print how long each stage took and how busy it kept its goroutines (what bounds the run)")
	fl.StringVar(&f.metricsFile, "metrics-file", "", "write the run's metrics here in the node_exporter textfile format (*.prom)")
	fl.StringVar(&f.pushgateway, "pushgateway", "", "push the run's metrics to this Prometheus Pushgateway URL")
	fl.StringVar(&f.registryModel, "registry-model", jobs.RegistryCurrent, "for a model named by registry alias: current (the alias today) or as-of-date (the version the alias pointed at on each logical date, from the registry log)")
	fl.BoolVar(&f.force, "force", false, "make a new version even if the date is already current with the same snapshot, model and job file")
	fl.StringVar(&f.shard, "shard", "", "run shard `K/N` (K from 0): check, score and stage only its part of the snapshot; then 'batchscore commit --shards N' publishes all shards as one version")
	return cmd
}

func runJob(cmd *cobra.Command, g *globalFlags, f *runFlags, jobFile string) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	switch f.trigger {
	case jobs.TriggerManual, jobs.TriggerSchedule, jobs.TriggerBackfill:
	default:
		return fmt.Errorf("%w: --trigger %q: want manual, schedule or backfill", jobs.ErrUsage, f.trigger)
	}
	if f.workers < 0 || f.workers > spec.MaxWorkers() {
		return fmt.Errorf("%w: --workers %d: allowed: 0 (the job file decides) to %d (%d per core; this machine has %d cores)",
			jobs.ErrUsage, f.workers, spec.MaxWorkers(), spec.WorkersPerCore, runtime.NumCPU())
	}
	if f.registryModel != jobs.RegistryCurrent && f.registryModel != jobs.RegistryAsOfDate {
		return fmt.Errorf("%w: --registry-model %q: want %s or %s", jobs.ErrUsage, f.registryModel, jobs.RegistryCurrent, jobs.RegistryAsOfDate)
	}
	job, err := spec.Load(jobFile)
	if err != nil {
		return err
	}
	if f.backfillFlags.set() {
		switch {
		case f.date != "":
			return fmt.Errorf("%w: --date runs one date; --from/--to (and --dry-run) plan a backfill", jobs.ErrUsage)
		case f.force:
			return fmt.Errorf("%w: a backfill reruns current dates with --reprocess all, not --force", jobs.ErrUsage)
		case f.metricsFile != "" || f.pushgateway != "":
			return fmt.Errorf("%w: --metrics-file and --pushgateway export one run; a backfill's runs are in its table", jobs.ErrUsage)
		case f.shard != "":
			return fmt.Errorf("%w: --shard runs part of one date: give --date, not --from/--to", jobs.ErrUsage)
		}
	}
	var shard *jobs.Shard
	if f.shard != "" {
		s, err := jobs.ParseShard(f.shard)
		if err != nil {
			return err
		}
		shard = &s
	}
	date, err := logicalDate(job, f.date)
	if err != nil && !f.backfillFlags.set() {
		return err
	}
	// A missing library fails the run inside Run, so that it leaves a manifest.
	lib, libErr := resolveORTLib(g.ortLib)
	runner := &jobs.Runner{ORTLib: lib, ORTLibErr: libErr, Version: buildVersion(), Logger: log, Workers: f.workers, RegistryModel: f.registryModel}
	if f.backfillFlags.set() {
		// The dates share what does not change between them.
		runner.Reuse = jobs.NewReuse()
		defer runner.Reuse.Close()
		return backfill(cmd, runner, job, &f.backfillFlags, f.json)
	}
	res, err := runWithProgress(cmd.Context(), runner, jobs.Request{Job: job, Date: date, Trigger: f.trigger, Force: f.force, Shard: shard})
	exportMetrics(log, job, res, f.metricsFile, f.pushgateway)
	return f.reported(cmd, res, err)
}

// reported prints the run's manifest or summary (report) and returns its
// error as already reported.
func (f *runFlags) reported(cmd *cobra.Command, res *jobs.Result, err error) error {
	f.report(cmd, res)
	if err != nil {
		return &alreadyReported{err}
	}
	return nil
}

func logicalDate(job *spec.Job, flag string) (time.Time, error) {
	if flag != "" {
		return parseDateFlag("--date", flag)
	}
	d, err := job.LastFire(time.Now())
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", jobs.ErrUsage, err)
	}
	return d, nil
}

// report prints the manifest (--json) or a summary of where things went.
func (f *runFlags) report(cmd *cobra.Command, res *jobs.Result) {
	if f.json {
		if data, err := res.Manifest.JSON(); err == nil {
			cmd.OutOrStdout().Write(data)
		}
		return
	}
	m := res.Manifest
	out := cmd.OutOrStdout()
	switch {
	case res.AlreadyCurrent:
		fmt.Fprintf(out, "%s %s: already current (run %s): same snapshot, model and job file; nothing to do (--force makes a new version)\n", m.Job, m.LogicalDate, m.RunID)
		current := m.Output.CurrentLink
		if m.Output.CurrentURL != "" {
			current = m.Output.CurrentURL
		}
		fmt.Fprintf(out, "  current:  %s\n", current)
		return
	case m.Status == report.StatusStaged:
		fmt.Fprintf(out, "%s %s: shard %d/%d staged (%d rows, run %s); nothing is published until `batchscore commit --shards %d`\n",
			m.Job, m.LogicalDate, m.Shard.Index, m.Shard.Count, m.Counts.Written, m.RunID, m.Shard.Count)
		fmt.Fprintf(out, "  staged:   %s\n", m.Shard.Path)
	case m.Trigger == jobs.TriggerValidate && m.ExitCode == 0:
		fmt.Fprintf(out, "%s %s: the snapshot passes its checks (%d rows, %d would be quarantined)\n", m.Job, m.LogicalDate, m.Counts.Read, m.Counts.Quarantined)
	case m.Output.Published && sqlBehind(m):
		where := m.Output.Path
		if m.Output.URL != "" {
			where = m.Output.URL
		}
		fmt.Fprintf(out, "%s %s: %s (exit %d): the SQL publish failed after the Parquet publish\n", m.Job, m.LogicalDate, m.Status, m.ExitCode)
		fmt.Fprintf(out, "  parquet:  version %s is current (%d rows, run %s): %s\n", m.Version, m.Counts.Written, m.RunID, where)
		fmt.Fprintf(out, "  sql:      the SQL table %s still shows its previous version; `batchscore run --force` publishes both\n", m.Output.SQL.Table)
		fmt.Fprintf(out, "  error:    %s\n", m.Error)
	case m.Output.Published:
		fmt.Fprintf(out, "%s %s: published version %s (%d rows, run %s)\n", m.Job, m.LogicalDate, m.Version, m.Counts.Written, m.RunID)
		if m.Output.URL != "" { // a table on object storage; Path is this machine's work copy
			fmt.Fprintf(out, "  results:  %s\n", m.Output.URL)
			fmt.Fprintf(out, "  current:  %s\n", m.Output.CurrentURL)
		} else {
			fmt.Fprintf(out, "  results:  %s\n", m.Output.Path)
			fmt.Fprintf(out, "  current:  %s\n", m.Output.CurrentLink)
		}
		if where := filepath.Join(m.Output.Path, jobs.QuarantineDir); m.Counts.Quarantined > 0 {
			if m.Output.URL != "" {
				where = m.Output.URL + "/" + jobs.QuarantineDir
			}
			fmt.Fprintf(out, "  quarantine: %d rows in %s\n", m.Counts.Quarantined, where)
		}
	default:
		fmt.Fprintf(out, "%s %s: %s (exit %d), nothing published: %s\n", m.Job, m.LogicalDate, m.Status, m.ExitCode,
			strings.TrimSuffix(m.Error, ": nothing was published"))
	}
	if m.Validation.ReportHTML != "" {
		fmt.Fprintf(out, "  report:   %s\n", m.Validation.ReportHTML)
	}
	switch { // uploaded with the table: where every machine finds it
	case res.ManifestURL != "":
		fmt.Fprintf(out, "  manifest: %s\n", res.ManifestURL)
	case res.ManifestPath != "":
		fmt.Fprintf(out, "  manifest: %s\n", res.ManifestPath)
	}
	if f.verbose {
		printBusy(out, m)
	}
}

// printBusy shows the stages' times and how busy each kept its goroutines:
// the one nearest 100% is what bounds the run.
func printBusy(out io.Writer, m *report.Manifest) {
	for _, s := range m.Stages {
		fmt.Fprintf(out, "  stage %-18s %7.2f s\n", s.Name, s.Seconds)
	}
	for _, b := range m.Busy {
		who := "1 goroutine"
		if b.Workers > 0 {
			who = fmt.Sprintf("%d workers", b.Workers)
		}
		fmt.Fprintf(out, "  busy  %-18s %7.2f s  %3.0f%% of %s\n", b.Stage, b.Seconds, 100*b.Share, who)
	}
}
