package shard

import (
	"crypto/sha256"
	"encoding/hex"
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

// Want is what every shard must agree with: the commit's own job file
// and baseline.
type Want struct {
	ConfigHash string // the commit's job file's
	JobFile    string
	Baseline   string // the baseline file's path, "" without one
	// BaselineSHA is its sha256 (BaselineSHA).
	BaselineSHA string
}

// Merged is the shards' manifests added up: the commit's manifest
// sections. On error it holds what was merged before the shard that
// failed, which the failed commit's manifest shows.
type Merged struct {
	RunID      string
	Source     report.Source
	Model      report.Model
	ORTVersion string
	Counts     report.Counts // read, valid, quarantined, scored, fallback, written
	NonFinite  map[string]report.NonFinite
	Fallback   *report.Fallback
	Review     *report.Review
	Explain    *report.Explanation // the explain sections (mergeExplain), files left to Link
	Shards     []report.ShardRef
	// FooterRows are the snapshot rows the shards' footers promised, -1
	// for a query (nothing to hold the books to but their own sums).
	FooterRows int64
}

// Merge adds up the shards' manifests, after checking that each is the
// staged shard of its index and that every row group went to exactly one
// shard. Call Disagreements first.
func Merge(shards []*State) (Merged, error) {
	first := shards[0].Manifest
	n := len(shards)
	m := Merged{RunID: first.RunID, Source: first.Source, Model: first.Model, ORTVersion: first.Binary.ORTVersion}
	sql := first.Source.Kind == "sql"
	taken := map[string]int{} // file/row group → shard
	var footerRows int64
	values := sha256.New() // a query's fingerprint: its shards' values
	for k, st := range shards {
		s := st.Manifest
		if s.Shard == nil || s.Shard.Index != k || s.Shard.Count != n || s.Status != report.StatusStaged {
			return m, fmt.Errorf("%w: %s holds no staged shard %d of %d", ErrShards, st.dir, k, n)
		}
		if m.Model.Error == "" && s.Model.Error != "" {
			m.Model.Error = s.Model.Error // a fallback scored that shard
		}
		var rows int64
		for _, p := range s.Shard.Parts {
			for _, rg := range p.RowGroups {
				key := fmt.Sprintf("%s#%d", p.File, rg)
				if other, dup := taken[key]; dup {
					return m, fmt.Errorf("%w: row group %d of %s was read by shards %d and %d", ErrShards, rg, p.File, other, k)
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
			return m, fmt.Errorf("%w: shard %d of %d: its parts hold %d rows, it read %d", ErrShards, k, n, rows, s.Counts.Read)
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
			if m.NonFinite == nil {
				m.NonFinite = map[string]report.NonFinite{}
			}
			m.NonFinite[col] = m.NonFinite[col].Add(nf)
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
		return m, fmt.Errorf("%w: the %d shards read %d rows of the snapshot's %d", ErrShards, n, footerRows, first.Source.Rows)
	}
	if f := m.Fallback; f != nil {
		f.Fraction = 0
		if m.Counts.Valid > 0 {
			f.Fraction = float64(f.Rows) / float64(m.Counts.Valid)
		}
	}
	m.FooterRows = footerRows
	var err error
	m.Explain, err = mergeExplain(shards)
	return m, err
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

// Linked are a commit's files, numbered on in shard order.
type Linked struct {
	Files, QuarantineFiles, ReviewFiles, ExplanationFiles []report.File
}

// Link hard-links every shard's result, quarantine, review and
// explanations files into the staged version dir, numbered on in shard
// order: the version reads like one run's, and the shards keep their files
// until the version is published, so that a failed commit can be retried.
func Link(shards []*State, dir string) (Linked, error) {
	var l Linked
	for _, st := range shards {
		s := st.Manifest
		for _, set := range []struct {
			sub  string
			from []report.File
			to   *[]report.File
		}{
			{"", s.Output.Files, &l.Files},
			{output.QuarantineDir, s.Output.QuarantineFiles, &l.QuarantineFiles},
			{output.ReviewDir, reviewFiles(s), &l.ReviewFiles},
			{output.ExplanationsDir, explanationFiles(s), &l.ExplanationFiles},
		} {
			for _, f := range set.from {
				if f.Name != filepath.Base(f.Name) || !strings.HasSuffix(f.Name, ".parquet") || strings.HasPrefix(f.Name, ".") {
					return l, fmt.Errorf("%w: %s lists a file %q that is not a part file of its folder", ErrShards, filepath.Join(st.dir, StateFile), f.Name)
				}
				name := fmt.Sprintf("part-%05d.parquet", len(*set.to))
				src, dst := filepath.Join(st.dir, set.sub, f.Name), filepath.Join(dir, set.sub, name)
				if err := os.MkdirAll(filepath.Dir(dst), table.DirMode); err != nil {
					return l, err
				}
				if err := os.Link(src, dst); err != nil {
					return l, fmt.Errorf("%w: linking %s: %v", ErrShards, src, err)
				}
				f.Name = name
				*set.to = append(*set.to, f)
			}
		}
	}
	return l, nil
}

func explanationFiles(m *report.Manifest) []report.File {
	if m.Explain == nil {
		return nil
	}
	return m.Explain.Files
}

func reviewFiles(m *report.Manifest) []report.File {
	if m.Review == nil {
		return nil
	}
	return m.Review.Files
}

// Disagreements checks that the shards ran on the same inputs and names,
// for every shard that differs, each field it differs in: the job file
// and baseline against the commit's own, the snapshot fingerprint, model
// sha256, scoring engine and snapshot schema against what most shards
// have (shard 0's value on a tie). Run ids are compared only when no
// field they stand for differs (a baseline or registry version, say).
func Disagreements(shards []*State, want Want) error {
	n := len(shards)
	sql := shards[0].Manifest.Source.Kind == "sql"
	type field struct {
		name  string
		value func(st *State) string
		want  string // "" means: what most shards have
		whose string // who has want
	}
	fields := []field{
		{name: "job file sha256", value: func(st *State) string { return st.Manifest.ConfigHash },
			want: want.ConfigHash, whose: "the commit's " + want.JobFile + " has"},
		{name: "snapshot fingerprint", value: func(st *State) string { return st.Manifest.Source.Fingerprint }},
		{name: "model sha256", value: func(st *State) string { return st.Manifest.Model.SHA256 }},
		{name: "scoring engine", value: func(st *State) string { return st.Manifest.Model.Engine }},
		{name: "snapshot schema sha256", value: func(st *State) string { return shortSHA(st.Schema) }},
		{name: "baseline sha256", value: func(st *State) string { return st.Baseline },
			want: want.BaselineSHA, whose: "the commit's " + want.Baseline + " has"},
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
