package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
)

func newReownCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reown JOB.yaml",
		Short: "Make the job's result table (and SQL table) belong to this job, after renaming it",
		Long: `A result table belongs to the job that first wrote to it: its name is recorded
in the table (<table>/_owner.json, the object _owner.json under an S3 table's
prefix, <table>_owner in a SQL database), and a run, validate, commit, backfill,
runs or show of another job against it exits 2 naming both jobs.

reown records this job as the owner of its output.table (and output.sql.table)
in place of the job recorded there, and logs the old and the new owner. Use it
once after renaming a job: the old name's runs stay the job's history (drift,
row-change checks, runs). Nothing is run or published.

Exit codes: 0 re-owned; 1 the table cannot be read or written; 2 usage or
job-file error.`,
		Example: `  batchscore reown configs/churn_nightly.yaml`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, job, err := g.loadJob(args[0])
			if err != nil {
				return err
			}
			lines, err := jobs.Reown(cmd.Context(), job, log)
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return err
		},
	}
}
