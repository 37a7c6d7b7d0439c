package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/trends"
)

func newTrendsCommand() *cobra.Command {
	var from, to, out string
	cmd := &cobra.Command{
		Use:   "trends JOB.yaml [JOB.yaml...] --out DIR [--from D] [--to D]",
		Short: "Write a static site of a job's history over its logical dates",
		Long: `trends reads the job's run history from its table (the manifests, each
date's run report and the outcomes files of 'batchscore outcomes') and
writes a self-contained static site into --out: index.html lists the jobs,
jobs/<name>/index.html draws, per logical date, the rows read, quarantined
(in all and per rule) and scored, the PSI of every feature as a heat map
(most drifted first), the score quantiles and the score PSI, and the
outcomes metrics (AUC, KS, Brier, expected calibration error) where a date
was evaluated, with model-version changes, rollbacks and failed executions
marked. Every execution is listed with links to its report and manifest,
copied beside the page so that the site works offline. The pages hold
inline CSS and SVG only: no script, nothing fetched from anywhere.

A date's figures come from its current version's execution, or, when no
version of it was published, from its newest execution. --from and --to
(YYYY-MM-DD) bound the dates. 'batchscore serve' serves the same pages
at /.`,
		Example: `  batchscore trends configs/churn_nightly.yaml --out site/
  batchscore trends configs/churn_nightly.yaml --from 2026-01-01 --to 2026-12-31 --out site/`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("%w: --out is required", jobs.ErrUsage)
			}
			for _, f := range []struct{ flag, value string }{{"--from", from}, {"--to", to}} {
				if f.value != "" {
					if _, err := parseDateFlag(f.flag, f.value); err != nil {
						return err
					}
				}
			}
			if from != "" && to != "" && from > to {
				return fmt.Errorf("%w: --from %s is after --to %s", jobs.ErrUsage, from, to)
			}
			var all []*trends.Job
			seen := map[string]string{}
			dates := 0
			for _, path := range args {
				job, err := spec.Load(path)
				if err != nil {
					return err
				}
				if other, ok := seen[job.Name]; ok {
					return fmt.Errorf("%w: %s and %s both declare job %q", jobs.ErrUsage, other, path, job.Name)
				}
				seen[job.Name] = path
				j, err := trends.Collect(job, from, to)
				if err != nil {
					return fmt.Errorf("job %s: %w", job.Name, err)
				}
				dates += len(j.Days)
				all = append(all, j)
			}
			n, err := trends.WriteSite(out, all)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d job(s), %d logical date(s), %d file(s) written\n",
				filepath.Join(out, "index.html"), len(all), dates, n)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&out, "out", "", "folder of the site (made if missing; its pages are replaced)")
	fl.StringVar(&from, "from", "", "first logical date (YYYY-MM-DD; default: the oldest)")
	fl.StringVar(&to, "to", "", "last logical date (YYYY-MM-DD; default: the newest)")
	return cmd
}
