package main

import (
	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
)

type commitFlags struct {
	date   string
	shards int
	json   bool
	force  bool
}

func newCommitCommand(g *globalFlags) *cobra.Command {
	f := &commitFlags{}
	cmd := &cobra.Command{
		Use:   "commit JOB.yaml --date YYYY-MM-DD --shards N",
		Short: "Publish the N shards of a sharded run as one version",
		Long: `commit publishes the shards that "batchscore run --shard K/N" staged for one
logical date as one new version of the result table, in one step.

It checks that all N shards staged their rows and agree (same snapshot
fingerprint, model, scoring engine, snapshot schema, and the commit's job
file and baseline) and that every row group of the snapshot
went to exactly one shard; adds up their books; runs the table rules (row
counts, unique keys across shards, freshness), the quality gate and drift over
the whole snapshot; links the shards' files into one version, in shard order,
and publishes it like a single-process run, with its manifest and report. A
missing, failed or disagreeing shard publishes nothing and is named (every
disagreeing shard, with each field it differs in): run it again, then commit
again. The shards' files are removed once published. A commit retried after
it published is a no-op (exit 0, already current), also when some shards were
rerun since and found the date already current.

Exit codes: 0 published or already current; 1 a shard is missing or disagrees,
or another failure; 2 usage or job-file error; 3 the data failed its checks:
nothing was published; 4 a shard or another execution of the date is running;
130 interrupted (SIGINT/SIGTERM): nothing was published.`,
		Example: `  for k in 0 1 2 3; do batchscore run job.yaml --date 2026-11-20 --shard $k/4 & done; wait
  batchscore commit job.yaml --date 2026-11-20 --shards 4`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, job, date, err := g.loadJobDate(args[0], f.date)
			if err != nil {
				return err
			}
			runner := &jobs.Runner{Version: buildVersion(), Logger: log}
			res, err := runner.Commit(cmd.Context(), jobs.Request{Job: job, Date: date, Trigger: jobs.TriggerCommit, Force: f.force}, f.shards)
			return (&runFlags{json: f.json}).reported(cmd, res, err)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.date, "date", "", "logical date the shards ran for, YYYY-MM-DD (default: the schedule's last fire time)")
	fl.IntVar(&f.shards, "shards", 0, "how many shards the run was split into (the N of --shard K/N)")
	fl.BoolVar(&f.json, "json", false, "print the run manifest as JSON on stdout when the commit ends")
	fl.BoolVar(&f.force, "force", false, "publish a new version even if the date is already current with the same run id")
	return cmd
}
