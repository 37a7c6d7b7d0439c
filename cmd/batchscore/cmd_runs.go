package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

func newRunsCommand() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "runs JOB.yaml",
		Short: "List a job's executions, newest first",
		Long: `runs lists the executions recorded in the job's table (its manifests): the
logical date, version, run id, trigger, status and exit code, rows read,
scored and quarantined, duration, model version, the rows each arm of a
canary or A/B test published (and how many fell back to the champion), and
whether the version is
the date's current one ("(SQL table not updated)" when its Parquet version
was published but its SQL publish failed). An execution that ended while
publishing, before its final manifest (killed, or its object store went away),
shows as interrupted when its version is not current and unknown when it is;
one with no finish time has no duration ("-").`,
		Example: `  batchscore runs configs/churn_nightly.yaml
  batchscore runs configs/churn_nightly.yaml --json --limit 5`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, history, err := loadHistory(args[0])
			if err != nil {
				return err
			}
			if limit > 0 && len(history) > limit {
				history = history[:limit]
			}
			current := currentVersions(job, history)
			if asJSON {
				type row struct {
					*report.Manifest
					Current bool `json:"current"`
					// SQLBehind: the Parquet version is current, its SQL publish failed.
					SQLBehind bool `json:"sql_behind,omitempty"`
				}
				rows := make([]row, len(history))
				for i, m := range history {
					rows[i] = row{m, current[m.Version], sqlBehind(m)}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "DATE\tVERSION\tRUN ID\tTRIGGER\tSTATUS\tEXIT\tREAD\tSCORED\tQUARANTINED\tSECONDS\tMODEL\tARMS\tCURRENT")
			for _, m := range history {
				mark := ""
				if current[m.Version] {
					mark = "*"
				}
				if sqlBehind(m) {
					mark += " (SQL table not updated)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", m.LogicalDate, m.Version, m.RunID, m.Trigger,
					m.Status, exitText(m), m.Counts.Read, m.Counts.Scored, m.Counts.Quarantined,
					seconds(m), m.Model.Version, armsText(m), mark)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifests as a JSON list")
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many executions (0: all)")
	return cmd
}

// seconds is how long an execution ran, "-" when its manifest has no
// finish time (it ended while publishing, or still runs): a zero time is
// not a duration.
func seconds(m *report.Manifest) string {
	if m.StartedAt.IsZero() || m.FinishedAt.IsZero() || m.FinishedAt.Before(m.StartedAt) {
		return "-"
	}
	return fmt.Sprintf("%.1f", m.FinishedAt.Sub(m.StartedAt).Seconds())
}

// armsText is a rollout in one cell: the rows each arm published, and
// how many rows fell back to the champion; "-" without a canary or arms.
func armsText(m *report.Manifest) string {
	v := m.Rollout()
	if v == nil {
		return "-"
	}
	var parts []string
	var fell int64
	for _, a := range v.Arms {
		parts = append(parts, fmt.Sprintf("%s=%d", a.Name, a.Published))
		fell += a.FellBack
	}
	if fell > 0 {
		parts = append(parts, fmt.Sprintf("fell_back=%d", fell))
	}
	return strings.Join(parts, ",")
}

// exitText is the execution's exit code, "-" while none is known.
func exitText(m *report.Manifest) string {
	switch m.Status {
	case report.StatusPublishing, report.StatusRunning, report.StatusUnknown:
		return "-"
	}
	return strconv.Itoa(m.ExitCode)
}

// sqlBehind says the execution published its Parquet version but not its
// SQL table, which still shows the previous version.
func sqlBehind(m *report.Manifest) bool {
	return m.Output.Published && m.Output.SQL != nil && !m.Output.SQL.Published
}

func currentVersions(job *spec.Job, history []*report.Manifest) map[string]bool {
	out := map[string]bool{}
	t, err := table.Mirror(job.Output.Table)
	if err != nil {
		return out
	}
	defer t.Close()
	for _, m := range history {
		if v, err := t.Current(m.LogicalDate); err == nil && v == m.Version {
			out[v] = true
		}
	}
	return out
}

func newShowCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show JOB.yaml VERSION|RUN_ID",
		Short: "Print one execution's manifest in a readable form",
		Long: `show finds an execution of the job by its version id or its run id (a
unique prefix is enough; a run id shared by several executions picks the
newest) and prints its manifest: what ran, how it ended, what it read, what
it published or why it published nothing (failed, gated, interrupted, a
validate, a staged shard), and where the report is. --json prints the
manifest itself.`,
		Example: `  batchscore show configs/churn_nightly.yaml 20261122T003803.550Z-b9fb382f37
  batchscore show configs/churn_nightly.yaml 7ddd5301 --json`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, history, err := loadHistory(args[0])
			if err != nil {
				return err
			}
			var found []*report.Manifest
			for _, m := range history {
				if strings.HasPrefix(m.Version, args[1]) || (m.RunID != "" && strings.HasPrefix(m.RunID, args[1])) {
					found = append(found, m)
				}
			}
			versions := map[string]bool{}
			for _, m := range found {
				versions[m.Version] = true
			}
			switch {
			case len(found) == 0:
				return fmt.Errorf("%w: no execution of %s has version or run id %q", jobs.ErrUsage, job.Name, args[1])
			case len(versions) > 1 && !allSameRun(found):
				return fmt.Errorf("%w: %q matches %d executions; give more of the id", jobs.ErrUsage, args[1], len(found))
			}
			m := found[0] // newest first
			if asJSON {
				data, err := m.JSON()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			printManifest(cmd, m, currentVersions(job, found)[m.Version])
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the manifest as JSON")
	return cmd
}

func allSameRun(ms []*report.Manifest) bool {
	for _, m := range ms[1:] {
		if m.RunID == "" || m.RunID != ms[0].RunID {
			return false
		}
	}
	return true
}

// outcomeLine says what an execution left in the table: rows are
// "written" only by one that published; others staged rows that were
// discarded, or checked without scoring, or ran nothing.
func outcomeLine(m *report.Manifest) string {
	switch {
	case sqlBehind(m):
		return fmt.Sprintf("published %d rows as version %s to Parquet only: the SQL publish failed, the SQL table %s still shows its previous version", m.Counts.Written, m.Version, m.Output.SQL.Table)
	case m.Output.Published:
		return fmt.Sprintf("published %d rows as version %s", m.Counts.Written, m.Version)
	case m.Status == report.StatusAlreadyCurrent:
		return "nothing ran: already current (same snapshot, model and job file)"
	case m.Status == report.StatusStaged && m.Shard != nil:
		return fmt.Sprintf("staged %d rows as shard %d/%d; nothing is published until 'batchscore commit'", m.Counts.Written, m.Shard.Index, m.Shard.Count)
	case m.Trigger == jobs.TriggerValidate:
		return "checked only (validate): nothing scored or published"
	case m.Status == report.StatusPublishing:
		return fmt.Sprintf("publishing version %s: the execution still holds the date's lock", m.Version)
	case m.Status == report.StatusUnknown:
		return fmt.Sprintf("version %s is current and whole, but the execution ended while publishing, before its final manifest", m.Version)
	case m.Status == report.StatusRunning:
		return "unknown: the execution ended without its final manifest"
	}
	why := "it failed"
	switch {
	case m.Status == report.StatusInterrupted:
		why = "it was interrupted"
	case m.ExitCode == jobs.ExitDataQuality:
		why = "the data failed its checks"
	}
	if m.Counts.Written > 0 {
		return fmt.Sprintf("nothing published: %s; the %d rows it staged were discarded", why, m.Counts.Written)
	}
	return "nothing published: " + why
}

func printManifest(cmd *cobra.Command, m *report.Manifest, current bool) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	row := func(k string, format string, args ...any) {
		fmt.Fprintf(w, "%s\t%s\n", k, fmt.Sprintf(format, args...))
	}
	row("job", "%s (%s)", m.Job, m.JobFile)
	row("logical date", "%s", m.LogicalDate)
	row("version", "%s (current: %v)", m.Version, current)
	row("run id", "%s", m.RunID)
	row("trigger", "%s", m.Trigger)
	row("status", "%s, exit %s", m.Status, exitText(m))
	if m.Error != "" {
		row("error", "%s", m.Error)
	}
	if d := seconds(m); d != "-" {
		row("started", "%s (%s s)", m.StartedAt.Format("2006-01-02 15:04:05Z07:00"), d)
	} else {
		row("started", "%s (no finish time recorded)", m.StartedAt.Format("2006-01-02 15:04:05Z07:00"))
	}
	for _, s := range m.Stages {
		row("  "+s.Name, "%.2f s", s.Seconds)
	}
	row("model", "%s (version %s, sha256 %.12s)", m.Model.Path, m.Model.Version, m.Model.SHA256)
	switch m.Source.Kind {
	case "sql":
		row("source", "%s query, %d rows, %s", m.Source.Driver, m.Source.Rows, m.Source.Fingerprint)
	default:
		row("source", "%s: %d files, %d rows, %s", m.Source.Pattern, len(m.Source.Files), m.Source.Rows, m.Source.Fingerprint)
	}
	c := m.Counts
	row("rows", "read %d, valid %d, quarantined %d, imputed %d, scored %d", c.Read, c.Valid, c.Quarantined, c.Imputed, c.Scored)
	row("outcome", "%s", outcomeLine(m))
	frac, limit := numfmt.Pair(m.Validation.InvalidFraction, m.Validation.MaxInvalidFraction)
	row("gate", "passed %v, invalid fraction %s (at most %s)", m.Validation.Passed, frac, limit)
	for _, b := range m.Validation.Breaches {
		row("  breach", "%s", b)
	}
	if ch := m.Challenger; ch != nil && ch.Rollout != nil {
		r := ch.Rollout
		row("canary", "%s, share %g, salt %q: %d rows assigned; published %d champion, %d challenger; %d fell back to the champion",
			r.Status, r.Share, r.Salt, r.Assigned, r.Arms["champion"], r.Arms["challenger"], r.FellBack)
		if r.Reason != "" {
			row("  off", "%s", r.Reason)
		}
	}
	if a := m.Arms; a != nil {
		row("arms", "salt %q, default arm %s, at most %g of an arm's rows may fall back", a.Salt, a.Default, a.Limit)
	}
	if v := m.Rollout(); v != nil {
		for _, a := range v.Arms {
			row("  arm "+a.Name, "share %g, model %s: %d assigned, %d published, %d fell back", a.Share, a.Version, a.Assigned, a.Published, a.FellBack)
		}
		if m.Arms != nil && v.Reason != "" {
			row("  failed", "%s", v.Reason)
		}
	}
	if m.Output.Published {
		row("published", "%s (%d files)", m.Output.Path, len(m.Output.Files))
	}
	if m.Output.QuarantinePath != "" {
		row("quarantine", "%s", m.Output.QuarantinePath)
	}
	if m.Validation.ReportHTML != "" {
		row("report", "%s", m.Validation.ReportHTML)
	}
	w.Flush()
}
