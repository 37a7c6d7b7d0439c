package jobs

import (
	"errors"
	"log/slog"

	"github.com/batchscore/batchscore/jobs/report"
)

// The log lines that say how an execution ended: one per execution, in
// terms of what it did (published, staged, checked, interrupted by which
// signal), so that a log reader does not need the manifest.

// logAlreadyCurrent says nothing ran. The run id is on the logger once the
// run computed it (onLogger); a commit that found its date committed
// adds it here.
func logAlreadyCurrent(log *slog.Logger, current, runID string, onLogger bool) {
	args := []any{"current", current}
	if !onLogger {
		args = append(args, "run_id", runID)
	}
	log.Info("already current: same snapshot, model and job file", args...)
}

// interruptedMessage is the manifest's error for an interrupted execution.
func interruptedMessage(err error) string {
	var sig *Interrupted
	if errors.As(err, &sig) {
		return sig.Error() + ": nothing was published"
	}
	return "interrupted: nothing was published"
}

// logOutcome writes the line that ends an execution's log.
func logOutcome(log *slog.Logger, m *report.Manifest, dryRun bool, err error) {
	secs := m.FinishedAt.Sub(m.StartedAt).Seconds()
	if dryRun {
		logValidated(log, m, err, secs)
		return
	}
	switch {
	case m.Status == report.StatusInterrupted:
		args := []any{"exit_code", m.ExitCode, "err", err}
		var sig *Interrupted
		if errors.As(err, &sig) && sig.Signal != "" {
			args = append(args, "signal", sig.Signal)
		}
		log.Error("run interrupted: nothing was published", args...)
	case err != nil:
		log.Error("run failed", "exit_code", m.ExitCode, "err", err)
	case m.Status == report.StatusStaged && m.Shard != nil:
		log.Info("shard staged: nothing is published until commit", "rows", m.Counts.Written,
			"staged", m.Shard.Path, "seconds", secs)
	default:
		log.Info("run succeeded", "rows", m.Counts.Written, "path", m.Output.Path, "seconds", secs)
	}
}

// logValidated ends a dry run (batchscore validate): what was checked and
// the verdict, not "rows=0 path=" of a run that publishes nothing by design.
func logValidated(log *slog.Logger, m *report.Manifest, err error, secs float64) {
	args := []any{"rows_checked", m.Counts.Read, "valid", m.Counts.Valid, "rejected", m.Counts.Quarantined}
	switch {
	case err == nil:
		log.Info("validate passed: the snapshot passes its checks", append(args, "verdict", "passed", "seconds", secs)...)
		return
	case m.ExitCode == ExitDataQuality:
		args = append(args, "verdict", "failed its checks")
	case m.Status == report.StatusInterrupted:
		args = append(args, "verdict", "interrupted")
	default:
		args = append(args, "verdict", "not checked")
	}
	log.Error("validate failed", append(args, "exit_code", m.ExitCode, "err", err, "seconds", secs)...)
}
