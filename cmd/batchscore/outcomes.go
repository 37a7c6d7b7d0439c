package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	quality "github.com/batchscore/batchscore/jobs/outcomes"
	"github.com/batchscore/batchscore/jobs/schedule"
	"github.com/batchscore/batchscore/jobs/spec"
)

func newOutcomesCommand(g *globalFlags) *cobra.Command {
	var f struct {
		date, labels, label, version string
		json                         bool
		spillRows                    int
		metricsFile, pushgateway     string
	}
	cmd := &cobra.Command{
		Use:   "outcomes JOB.yaml --date YYYY-MM-DD [--labels GLOB] [--label COLUMN] [--version V] [--json]",
		Short: "Measure a date's published scores against the labels that arrived since",
		Long: `outcomes joins the labels of a score date (the job's outcomes section, or
--labels and --label) to the version current for that date (or --version)
by the keys, and computes how good the scores were: AUC, Gini, KS, Brier
score, log loss, calibration by decile and its error, and at the threshold
the confusion counts, precision and recall; for each segment value too, and
for the challenger's shadow scores on the same rows. When the version's
rows have an arm column (a canary, A/B arms), every arm is measured too,
with its AUC's 95 % interval and its AUC's difference from the reference
arm's (DeLong); outcomes.arm_margin judges an arm worse. It writes
runs/<date>/outcomes-<time>.json and .html in the table and changes nothing
published.

Exit codes: 0 measured (and the gate, if any, passed); 3 the labels cannot be
measured against (a value that is not a declared class, a missing label or
key column, a key type that differs from the table's, duplicate label keys,
no label matching a score) or the gate failed (auc_min, auc_drop, or an
arm worse than the reference by more than arm_margin); 2 a usage or job-file error,
or a date (or version) the table never published; 1 anything else, such as
labels that have not arrived yet.`,
		Example: `  batchscore outcomes configs/churn_nightly.yaml --date 2026-11-20
  batchscore outcomes configs/churn_nightly.yaml --date 2026-11-20 --labels 'labels/*.parquet' --label churned --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, job, err := g.loadJob(args[0])
			if err != nil {
				return err
			}
			if f.date == "" {
				return fmt.Errorf("%w: --date is required: the score date to evaluate", jobs.ErrUsage)
			}
			if job.Outcomes == nil {
				if f.labels == "" || f.label == "" {
					return fmt.Errorf("%w: %s has no outcomes section: add one, or pass --labels and --label", spec.ErrInvalid, args[0])
				}
				job.Outcomes = &spec.Outcomes{Label: f.label, Horizon: "0d"}
			}
			rep, err := quality.Evaluate(cmd.Context(), quality.Request{
				Job: job, Date: f.date, Version: f.version, Labels: f.labels, Label: f.label, Logger: log, SpillRows: f.spillRows,
			})
			if rep != nil {
				printEvaluation(cmd, log, rep, f.json)
				exportOutcomeMetrics(log, rep, f.metricsFile, f.pushgateway)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.date, "date", "", "the score date to evaluate, YYYY-MM-DD")
	fl.StringVar(&f.labels, "labels", "", "a Parquet glob of the labels, instead of outcomes.labels")
	fl.StringVar(&f.label, "label", "", "the label column, instead of outcomes.label")
	fl.StringVar(&f.version, "version", "", "evaluate this published version of the date instead of the current one")
	fl.BoolVar(&f.json, "json", false, "print the evaluation as JSON on stdout")
	fl.StringVar(&f.metricsFile, "metrics-file", "", "write the batchscore_outcome_* metrics here in the node_exporter textfile format (*.prom)")
	fl.StringVar(&f.pushgateway, "pushgateway", "", "push the batchscore_outcome_* metrics to this Prometheus Pushgateway URL")
	fl.IntVar(&f.spillRows, "spill-rows", 0, "records of each side of the join kept in memory before it spills to bucket files (default 1,048,576)")
	_ = fl.MarkHidden("spill-rows")
	return cmd
}

func printEvaluation(cmd *cobra.Command, log *slog.Logger, rep *quality.Report, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			log.Warn("could not print the evaluation", "err", err)
		}
		return
	}
	c := rep.Champion
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s version %s: %d matched of %d scored and %d labelled; AUC %s, KS %s, Brier %s, ECE %s\n",
		rep.Job, rep.Date, rep.Version, c.Matched, c.RowsScored, c.Labelled, show(c.AUC), show(c.KS), show(c.Brier), show(c.ECE))
	for _, a := range rep.Arms {
		fmt.Fprintf(cmd.OutOrStdout(), "  arm %s (%s): %d matched of %d scored; AUC %s [%s, %s]", a.Arm, a.ModelVersion, a.Matched, a.RowsScored, show(a.AUC), show(a.AUCLower), show(a.AUCUpper))
		if d := a.VsReference; d != nil {
			fmt.Fprintf(cmd.OutOrStdout(), "; minus arm %s's: %s [%s, %s]", d.Reference, show(d.Difference), show(d.Lower), show(d.Upper))
			if d.Worse != nil && *d.Worse {
				fmt.Fprintf(cmd.OutOrStdout(), ", worse by more than arm_margin %g", *d.Margin)
			}
		}
		fmt.Fprintln(cmd.OutOrStdout())
	}
	for _, f := range rep.Files {
		fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", f)
	}
}

func show(p *float64) string {
	if p == nil {
		return "undefined"
	}
	return fmt.Sprintf("%.4f", *p)
}

// exportOutcomeMetrics writes the evaluation's metrics as run's flags do.
func exportOutcomeMetrics(log *slog.Logger, rep *quality.Report, file, gateway string) {
	data := rep.Metrics()
	if file != "" {
		if err := writeTextfile(file, data); err != nil {
			log.Warn("could not write the metrics file", "path", file, "err", err)
		}
	}
	if gateway != "" {
		if err := push(gateway, rep.Job, data); err != nil {
			log.Warn("could not push metrics", "err", err)
		}
	}
}

// evaluateDue is serve's outcomes hook: after each scheduled run of a job
// with an outcomes section, the dates whose horizon has passed and that
// have no outcomes yet are evaluated; /metrics shows the newest.
func evaluateDue(log *slog.Logger) schedule.OutcomesFunc {
	return func(ctx context.Context, job *spec.Job, now time.Time) []quality.Sample {
		reps := quality.EvaluateDue(ctx, job, now, log)
		if len(reps) == 0 {
			return nil
		}
		return reps[len(reps)-1].Samples()
	}
}
