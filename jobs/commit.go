package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
)

// Commit publishes the n shards of a date as one version: it checks that
// every shard staged its rows and that all agree on the snapshot, model
// and job file, merges their books, checks and profiles, applies the
// quality gate over the whole snapshot, links their files into one staged
// version and publishes it like a single-process run. It holds the date's
// lock exclusive, so no shard runs beside it on this machine; across
// machines (a table on object storage) the orchestrator runs it after the
// shards.
func (r *Runner) Commit(ctx context.Context, req Request, n int) (*Result, error) {
	if n < 1 || n > MaxShards {
		err := fmt.Errorf("%w: --shards %d: want 1..%d", ErrUsage, n, MaxShards)
		return r.newExecution(req).notStarted(err)
	}
	e := r.newExecution(req)
	e.m.Trigger = TriggerCommit
	lock, err := e.lock()
	if err != nil {
		return e.notStarted(err)
	}
	defer lock.release()
	err = guard("committing", func() error { return e.commit(ctx, n) })()
	res, err := e.finish(interruption(ctx, err))
	if e.table != nil {
		e.table.Close()
	}
	return res, err
}

func (e *execution) commit(ctx context.Context, n int) error {
	job := e.req.Job
	t, err := table.Open(job.Output.Table)
	if err != nil {
		e.table = failedTable(job.Output.Table)
		return err
	}
	e.table = t
	if err := e.claim(ctx, t); err != nil {
		return err
	}
	if err := t.PullShards(e.date, n, shardStateFile); err != nil {
		return err
	}
	if e.committed(t, n) {
		e.dropShards(t, n) // notes of shards rerun since, if any
		return errAlreadyCurrent
	}
	shards, err := e.readShards(t, n)
	if err != nil {
		return err
	}
	if err := e.unstaged(shards); err != nil {
		if errors.Is(err, errAlreadyCurrent) {
			e.dropShards(t, n)
		}
		return err
	}
	footerRows, err := e.mergeManifests(shards)
	if err != nil {
		return err
	}
	if !e.force(shards) && job.Source.SQL == nil && e.alreadyCurrent() { // a query's run id does not cover its values
		e.dropShards(t, n)
		return errAlreadyCurrent
	}
	schema, err := shards[0].schema()
	if err != nil {
		return err
	}
	previous, prevRows := e.previousRun()
	checks, err := e.openChecks(schema, shards[0].Manifest.Source.Pattern, previous)
	if err != nil {
		return err
	}
	e.checks = checks
	defer checks.close()
	for k, st := range shards {
		if err := errors.Join(
			checks.summary.Merge(st.Summary, filepath.Join(st.dir, shardKeysFile)),
			checks.snapshot.MergeState(st.Snapshot),
			checks.scores.MergeState(st.Scores),
		); err != nil {
			return fmt.Errorf("%w: shard %d of %d: %v", ErrShards, k, n, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	dir, err := t.Stage(e.m.Version)
	if err != nil {
		return err
	}
	e.staged = true
	if err := e.linkShards(shards, dir); err != nil {
		return err
	}
	checks.quarantined = output.Written(e.m.Output.QuarantineFiles)
	if err := e.verifyStaged(dir); err != nil {
		return err
	}
	if err := e.settle(checks, prevRows, footerRows, true, job.Fallback, "the shards of "+e.m.Source.Pattern); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.publish(ctx, t, dir); err != nil {
		return err
	}
	if r := e.m.Review; r != nil && len(r.Files) > 0 {
		r.Path = filepath.Join(e.m.Output.Path, output.ReviewDir)
	}
	e.dropShards(t, n)
	return nil
}

func (e *execution) dropShards(t *table.Table, n int) {
	if err := t.DropShards(e.date, n); err != nil {
		e.log.Warn("could not remove the shards' folders", "err", err)
	}
}

// committed says whether a commit of n shards already published the
// date's current version and no shard has staged since: a commit retried
// after it succeeded (its pod lost, say) is a no-op, not a failure.
func (e *execution) committed(t *table.Table, n int) bool {
	version, err := t.Current(e.date)
	if err != nil || version == "" {
		return false
	}
	data, err := os.ReadFile(t.ManifestPath(e.date, version))
	var m report.Manifest
	if err != nil || json.Unmarshal(data, &m) != nil {
		return false
	}
	if m.Status != report.StatusSucceeded || m.Trigger != TriggerCommit || len(m.Shards) != n {
		return false
	}
	if !e.onlyCurrentShards(t, n, m.RunID) {
		return false
	}
	// Shards that ran for the date after that commit (and failed, since
	// none is staged) mean the commit is not the last word.
	ms, _ := readManifests(t)
	for _, s := range ms {
		if s.LogicalDate == e.date && s.Shard != nil && s.Shard.Count == n && s.StartedAt.After(m.FinishedAt) {
			return false
		}
	}
	e.m.RunID = m.RunID
	return true
}

// onlyCurrentShards says whether the shards of n parked since the last
// commit, if any, all found the date already current with runID: a shard
// rerun after the commit stages nothing and must not make the others look
// missing. A staged, unreadable or other shard means the commit has work.
func (e *execution) onlyCurrentShards(t *table.Table, n int, runID string) bool {
	for k := range n {
		dir, err := t.ShardDir(e.date, n, k)
		if err != nil {
			return false
		}
		data, err := os.ReadFile(filepath.Join(dir, shardStateFile))
		if os.IsNotExist(err) {
			if _, serr := os.Lstat(dir); os.IsNotExist(serr) {
				continue // not rerun since the commit
			}
		}
		var st shardState
		if err != nil || json.Unmarshal(data, &st) != nil || st.Manifest == nil ||
			st.Manifest.Status != report.StatusAlreadyCurrent || st.Manifest.RunID != runID {
			return false
		}
	}
	return true
}

// mergeManifests checks that the shards agree with each other and with
// this job file, and adds up their books in the commit's manifest. It
// returns the snapshot rows the shards' footers promised, after checking
// that every row group went to exactly one shard.
func (e *execution) mergeManifests(shards []*shardState) (int64, error) {
	first := shards[0].Manifest
	n := len(shards)
	m := e.m
	baseline, err := baselineSHA(e.req.Job)
	if err != nil {
		return 0, err
	}
	if err := e.disagreements(shards, baseline); err != nil {
		return 0, err
	}
	m.RunID, m.Source, m.Model = first.RunID, first.Source, first.Model
	m.Binary.ORTVersion = first.Binary.ORTVersion
	m.Output.Files, m.Output.QuarantineFiles = nil, nil
	sql := first.Source.Kind == "sql"
	taken := map[string]int{} // file/row group → shard
	var footerRows int64
	values := sha256.New() // a query's fingerprint: its shards' values
	for k, st := range shards {
		s := st.Manifest
		if s.Shard == nil || s.Shard.Index != k || s.Shard.Count != n || s.Status != report.StatusStaged {
			return 0, fmt.Errorf("%w: %s holds no staged shard %d of %d", ErrShards, st.dir, k, n)
		}
		if m.Model.Error == "" && s.Model.Error != "" {
			m.Model.Error = s.Model.Error // a fallback scored that shard
		}
		var rows int64
		for _, p := range s.Shard.Parts {
			for _, rg := range p.RowGroups {
				key := fmt.Sprintf("%s#%d", p.File, rg)
				if other, dup := taken[key]; dup {
					return 0, fmt.Errorf("%w: row group %d of %s was read by shards %d and %d", ErrShards, rg, p.File, other, k)
				}
				taken[key] = k
			}
			rows += p.Rows
		}
		if sql {
			// No footers to hold the split to: every row in exactly one
			// shard rests on the query giving the same rows to every
			// shard (see README, "Sharded runs").
			rows = s.Counts.Read
			fmt.Fprintf(values, "%d\x00%s\n", k, s.Shard.Fingerprint)
		}
		if rows != s.Shard.Rows || s.Counts.Read != rows {
			return 0, fmt.Errorf("%w: shard %d of %d: its parts hold %d rows, it read %d", ErrShards, k, n, rows, s.Counts.Read)
		}
		footerRows += rows
		c := &m.Counts
		c.Read += s.Counts.Read
		c.Valid += s.Counts.Valid
		c.Quarantined += s.Counts.Quarantined
		c.Scored += s.Counts.Scored
		c.Fallback += s.Counts.Fallback
		c.Written += s.Counts.Written
		for col, nf := range s.NonFiniteInputs {
			if m.NonFiniteInputs == nil {
				m.NonFiniteInputs = map[string]report.NonFinite{}
			}
			m.NonFiniteInputs[col] = m.NonFiniteInputs[col].Add(nf)
		}
		m.Fallback = mergeFallback(m.Fallback, s.Fallback)
		m.Review = mergeReview(m.Review, s.Review)
		ref := *s.Shard
		ref.Parts = nil // in the shard's own manifest
		m.Shards = append(m.Shards, ref)
	}
	if sql {
		m.Source.Rows = footerRows
		m.Source.Fingerprint = "sha256:" + hex.EncodeToString(values.Sum(nil))
		footerRows = -1 // nothing to hold the books to but their own sums
	} else if footerRows != first.Source.Rows {
		return 0, fmt.Errorf("%w: the %d shards read %d rows of the snapshot's %d", ErrShards, n, footerRows, first.Source.Rows)
	}
	if f := m.Fallback; f != nil {
		f.Fraction = 0
		if m.Counts.Valid > 0 {
			f.Fraction = float64(f.Rows) / float64(m.Counts.Valid)
		}
	}
	return footerRows, nil
}

func mergeFallback(into, s *report.Fallback) *report.Fallback {
	if s == nil {
		return into
	}
	if into == nil {
		c := *s
		c.Triggers = map[string]int64{}
		c.Rows, c.Errors = 0, nil
		into = &c
	}
	into.Rows += s.Rows
	for k, v := range s.Triggers {
		into.Triggers[k] += v
	}
	if len(into.Errors) < 5 {
		into.Errors = append(into.Errors, s.Errors[:min(len(s.Errors), 5-len(into.Errors))]...)
	}
	return into
}

func mergeReview(into, s *report.Review) *report.Review {
	if s == nil {
		return into
	}
	if into == nil {
		into = &report.Review{Reasons: map[string]int64{}}
	}
	into.Rows += s.Rows
	for k, v := range s.Reasons {
		into.Reasons[k] += v
	}
	return into
}

// linkShards hard-links every shard's result, quarantine and review files
// into the staged version dir, numbered on in shard order: the version
// reads like one run's, and the shards keep their files until the version
// is published, so that a failed commit can be retried.
func (e *execution) linkShards(shards []*shardState, dir string) error {
	m := e.m
	var review []report.File
	for _, st := range shards {
		s := st.Manifest
		for _, set := range []struct {
			sub  string
			from []report.File
			to   *[]report.File
		}{
			{"", s.Output.Files, &m.Output.Files},
			{QuarantineDir, s.Output.QuarantineFiles, &m.Output.QuarantineFiles},
			{output.ReviewDir, reviewFiles(s), &review},
		} {
			for _, f := range set.from {
				if f.Name != filepath.Base(f.Name) || !strings.HasSuffix(f.Name, ".parquet") || strings.HasPrefix(f.Name, ".") {
					return fmt.Errorf("%w: %s lists a file %q that is not a part file of its folder", ErrShards, filepath.Join(st.dir, shardStateFile), f.Name)
				}
				name := fmt.Sprintf("part-%05d.parquet", len(*set.to))
				src, dst := filepath.Join(st.dir, set.sub, f.Name), filepath.Join(dir, set.sub, name)
				if err := os.MkdirAll(filepath.Dir(dst), table.DirMode); err != nil {
					return err
				}
				if err := os.Link(src, dst); err != nil {
					return fmt.Errorf("%w: linking %s: %v", ErrShards, src, err)
				}
				f.Name = name
				*set.to = append(*set.to, f)
			}
		}
	}
	if m.Review != nil {
		m.Review.Files = review
	}
	return nil
}

func reviewFiles(m *report.Manifest) []report.File {
	if m.Review == nil {
		return nil
	}
	return m.Review.Files
}

// disagreements checks that the shards ran on the same inputs and names,
// for every shard that differs, each field it differs in: the job file
// and baseline against the commit's own, the snapshot fingerprint, model
// sha256, scoring engine and snapshot schema against what most shards
// have (shard 0's value on a tie). Run ids are compared only when no
// field they stand for differs (a baseline or registry version, say).
func (e *execution) disagreements(shards []*shardState, baseline string) error {
	n := len(shards)
	sql := shards[0].Manifest.Source.Kind == "sql"
	type field struct {
		name  string
		value func(st *shardState) string
		want  string // "" means: what most shards have
		whose string // who has want
	}
	fields := []field{
		{name: "job file sha256", value: func(st *shardState) string { return st.Manifest.ConfigHash },
			want: e.m.ConfigHash, whose: "the commit's " + e.m.JobFile + " has"},
		{name: "snapshot fingerprint", value: func(st *shardState) string { return st.Manifest.Source.Fingerprint }},
		{name: "model sha256", value: func(st *shardState) string { return st.Manifest.Model.SHA256 }},
		{name: "scoring engine", value: func(st *shardState) string { return st.Manifest.Model.Engine }},
		{name: "snapshot schema sha256", value: func(st *shardState) string { return shortSHA(st.Schema) }},
		{name: "baseline sha256", value: func(st *shardState) string { return st.Baseline },
			want: baseline, whose: "the commit's " + e.req.Job.Validation.Baseline + " has"},
	}
	if sql {
		fields = slices.Delete(fields, 1, 2) // each shard's checksum is of its own rows
	}
	diffs := make([][]string, n)
	for _, f := range fields {
		values := make([]string, n)
		for k, st := range shards {
			values[k] = f.value(st)
		}
		if f.whose == "" {
			f.want, f.whose = mostCommon(values)
		}
		for k, v := range values {
			if v != f.want {
				diffs[k] = append(diffs[k], fmt.Sprintf("%s %s where %s %s", f.name, orNone(v), f.whose, orNone(f.want)))
			}
		}
	}
	if !slices.ContainsFunc(diffs, func(d []string) bool { return len(d) > 0 }) {
		runIDs := make([]string, n)
		for k, st := range shards {
			runIDs[k] = st.Manifest.RunID
		}
		want, whose := mostCommon(runIDs)
		for k, id := range runIDs {
			if id != want {
				diffs[k] = append(diffs[k], fmt.Sprintf("run id %s where %s %s", id, whose, want))
			}
		}
	}
	var named []string
	for k, d := range diffs {
		if len(d) > 0 {
			named = append(named, fmt.Sprintf("shard %d of %d: %s", k, n, strings.Join(d, ", ")))
		}
	}
	if len(named) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the shards did not run on the same inputs, nothing was published: %s; run the shards named (or all) again with this job file, then commit again",
		ErrShards, strings.Join(named, "; "))
}

// mostCommon is the value most shards have, shard 0's on a tie, and
// which shards have it ("shards 0, 1 have").
func mostCommon(values []string) (string, string) {
	count := map[string]int{}
	best := values[0]
	for _, v := range values {
		count[v]++
	}
	for _, v := range values {
		if count[v] > count[best] {
			best = v
		}
	}
	var who []string
	for k, v := range values {
		if v == best {
			who = append(who, strconv.Itoa(k))
		}
	}
	if len(who) == 1 {
		return best, "shard " + who[0] + " has"
	}
	return best, "shards " + strings.Join(who, ", ") + " have"
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func shortSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
