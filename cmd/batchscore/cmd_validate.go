package main

import (
	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
)

func newValidateCommand(g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "validate JOB.yaml [--date YYYY-MM-DD]",
		Short: "Check a date's snapshot against the job's rules, profiles and drift, without scoring",
		Long: `validate is a dry run for data: it reads the snapshot of one logical date,
applies the job's validation rules, profiles the columns, measures drift
against the baseline, and writes the validation report (JSON and HTML) and a
manifest under the table's runs/<date>/. Nothing is scored and nothing is
published; the model is not loaded.

Exit codes are those of run: 0 the data passes, 3 it fails the quality gate
(or a fail rule fired, or the schema does not match), 2 a usage or job-file
error, 1 any other failure, 130 interrupted (SIGINT/SIGTERM). It takes no
lock, so it never exits 4.`,
		Example: `  batchscore validate configs/churn_nightly.yaml --date 2026-11-20`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, job, date, err := g.loadJobDate(args[0], f.date)
			if err != nil {
				return err
			}
			runner := &jobs.Runner{Version: buildVersion(), Logger: log, DryRun: true}
			res, err := runWithProgress(cmd.Context(), runner, jobs.Request{Job: job, Date: date, Trigger: jobs.TriggerValidate})
			return f.reported(cmd, res, err)
		},
	}
	cmd.Flags().StringVar(&f.date, "date", "", "logical date to check, YYYY-MM-DD (default: the schedule's last fire time)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the manifest as JSON on stdout when the check ends")
	return cmd
}
