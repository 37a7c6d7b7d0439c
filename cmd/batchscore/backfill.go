package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/spec"
)

// backfillFlags are run's flags for a range of dates.
type backfillFlags struct {
	from, to  string
	parallel  int
	backwards bool
	reprocess string
	dryRun    bool
}

func (b *backfillFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&b.from, "from", "", "first logical date of a backfill, YYYY-MM-DD (with --to)")
	fl.StringVar(&b.to, "to", "", "last logical date of a backfill, YYYY-MM-DD (with --from)")
	fl.IntVar(&b.parallel, "parallel", 1, "dates of a backfill run at a time")
	fl.BoolVar(&b.backwards, "backwards", false, "backfill newest date first")
	fl.StringVar(&b.reprocess, "reprocess", jobs.ReprocessNone, "which dates of a backfill run: none (every date but those whose last execution failed; a date already current with the same snapshot, model and job file is a no-op), failed (those too) or all (every date, each a new version as with --force, again on every rerun)")
	fl.BoolVar(&b.dryRun, "dry-run", false, "print the backfill's plan (which dates would run, which are already current, and why) and touch nothing")
}

func (b *backfillFlags) set() bool { return b.from != "" || b.to != "" || b.dryRun }

// backfill runs each logical date of [--from, --to] that the schedule has.
func backfill(cmd *cobra.Command, runner *jobs.Runner, job *spec.Job, b *backfillFlags, asJSON bool) error {
	if b.from == "" || b.to == "" {
		return fmt.Errorf("%w: a backfill needs both --from and --to", jobs.ErrUsage)
	}
	if b.parallel < 1 {
		return fmt.Errorf("%w: --parallel must be 1 or more", jobs.ErrUsage)
	}
	from, err := parseDateFlag("--from", b.from)
	if err != nil {
		return err
	}
	to, err := parseDateFlag("--to", b.to)
	if err != nil {
		return err
	}
	bf := jobs.Backfill{Job: job, From: from, To: to, Parallel: b.parallel, Backwards: b.backwards, Reprocess: b.reprocess}
	out := cmd.OutOrStdout()
	if b.dryRun {
		plan, err := runner.PlanDryRun(cmd.Context(), bf)
		if err != nil {
			return err
		}
		if asJSON {
			return json.NewEncoder(out).Encode(plan)
		}
		printPlan(out, plan)
		return nil
	}
	plan, err := jobs.Plan(bf)
	if err != nil {
		return err
	}
	outcomes := runner.RunBackfill(cmd.Context(), bf, plan)
	if asJSON {
		if err := json.NewEncoder(out).Encode(outcomes); err != nil {
			return err
		}
	} else {
		printOutcomes(out, outcomes)
		if b.reprocess == jobs.ReprocessAll {
			printCarryOn(out, outcomes)
		}
	}
	if err := jobs.BackfillError(outcomes); err != nil {
		return &alreadyReported{err} // each failure was logged, and the table says which
	}
	return nil
}

func printPlan(w io.Writer, plan []jobs.PlannedDate) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tACTION\tWHY")
	runs, current := 0, 0
	for _, p := range plan {
		action := "skip"
		switch {
		case p.Run:
			action, runs = "run", runs+1
		case p.Current:
			action, current = "current", current+1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Day, action, p.Reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d dates would run, %d already current; nothing was touched (--dry-run)\n", runs, len(plan), current)
}

func printOutcomes(w io.Writer, outcomes []jobs.DateOutcome) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tOUTCOME\tEXIT\tROWS\tVERSION\tDETAIL")
	failed := 0
	for _, o := range outcomes {
		detail := o.Error
		if o.Status == "skipped" {
			detail = o.Reason
		}
		if o.ExitCode != jobs.ExitOK {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", o.Day, o.Status, o.ExitCode, o.Rows, o.Version, clipLine(detail, 100))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d dates, %d failed\n", len(outcomes), failed)
}

// printCarryOn tells how to finish a --reprocess all backfill that did not
// finish: run again with the same flags, it would make a new version of
// every date again, the ones it did finish included.
func printCarryOn(w io.Writer, outcomes []jobs.DateOutcome) {
	first, last, n := "", "", 0
	for _, o := range outcomes {
		if !o.Run || o.ExitCode == jobs.ExitOK {
			continue
		}
		if n == 0 || o.Day < first {
			first = o.Day
		}
		if n == 0 || o.Day > last {
			last = o.Day
		}
		n++
	}
	if n > 0 {
		fmt.Fprintf(w, "--reprocess all runs every date again each time: to carry on with the %d dates not done, run with --from %s --to %s\n", n, first, last)
	}
}

func clipLine(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
