package main

// Job-file values that used to load silently (fractions truncated into
// integers, never-firing schedules, a ZipMap class the model lacks found
// only after reading data), each through the built binary: exit 2, the job
// file, the key and the line named.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/jobs/spec"
)

// swap replaces old, which must occur exactly once, by new.
func swap(t *testing.T, text, old, new string) string {
	t.Helper()
	if n := strings.Count(text, old); n != 1 {
		t.Fatalf("%q occurs %d times in the job file, want once", old, n)
	}
	return strings.Replace(text, old, new, 1)
}

// specCase is one wrong value in configs/churn_nightly.yaml.
type specCase struct {
	name string
	edit func(t *testing.T, text string) string
	line string   // a substring of the job-file line the error must name
	key  string   // the key the error must name
	want []string // more substrings of the error
}

// set returns an edit replacing old by new.
func set(old, new string) func(*testing.T, string) string {
	return func(t *testing.T, text string) string { return swap(t, text, old, new) }
}

// under returns an edit that adds line after the line holding after.
func under(after, line string) func(*testing.T, string) string {
	return func(t *testing.T, text string) string { return insertAfter(t, text, after, line) }
}

const (
	scoreLine = "  score: {output: probabilities, class: 1}"
	labelLine = "  label: {output: label}"
	dateRule  = "    - {column: snapshot_date, check: date_range, max_days_before: 0, max_days_after: 0}"
	freshLine = "    freshness: {column: snapshot_date, max_age_days: 1}"
	// A challenger and a fallback model: the same model, fed as the champion.
	modelSections = "challenger:\n  path: MODEL\n  inputs: {features: FEATURES}\n  score: {output: probabilities, class: 1}\n" +
		"fallback:\n  kind: model\n  model:\n    path: MODEL\n    inputs: {features: FEATURES}\n    score: {output: probabilities, class: 1}\n"
)

// integerCases feed every integer setting of the job file a fraction.
func integerCases() []specCase {
	frac := func(name, key, line string, edit func(*testing.T, string) string) specCase {
		return specCase{name: "fraction " + name, edit: edit, line: line, key: key, want: []string{"has a fraction", "allowed: whole numbers"}}
	}
	return []specCase{
		frac("score class", "model.score.class", "class: 0.9", set(scoreLine, "  score: {output: probabilities, class: 0.9}")),
		frac("label class", "model.label.class", "class: 0.5", set(labelLine, "  label: {output: label, class: 0.5}")),
		frac("catchup", "catchup", "catchup: 0.5", under("timezone: UTC", "catchup: 0.5")),
		frac("workers", "scoring.workers", "workers: 1.5", set("  workers: 0 ", "  workers: 1.5 ")),
		frac("chunk_rows", "scoring.chunk_rows", "chunk_rows: 100.7", set("  chunk_rows: 65536", "  chunk_rows: 100.7")),
		frac("intra_op_threads", "scoring.intra_op_threads", "intra_op_threads: 0.5", under("  chunk_rows: 65536", "  intra_op_threads: 0.5")),
		frac("min_rows", "validation.table.min_rows", "min_rows: 99.9", set("    min_rows: 100", "    min_rows: 99.9")),
		frac("max_rows", "validation.table.max_rows", "max_rows: 1000.5", under("    min_rows: 100", "    max_rows: 1000.5")),
		frac("sample_rows", "validation.sample_rows", "sample_rows: 2.5", under("validation:", "  sample_rows: 2.5")),
		frac("file_rows", "output.file_rows", "file_rows: 1000.5", under("  keys: [customer_id]", "  file_rows: 1000.5")),
		frac("compression_level", "output.compression_level", "compression_level: 3.5", under("  keys: [customer_id]", "  compression_level: 3.5")),
		frac("sql keep", "output.sql.keep", "keep: 1.5", under("  keys: [customer_id]", "  sql: {driver: postgres, dsn_env: SCORES_DSN, table: scores, keep: 1.5}")),
		frac("max_days_after", "validation.rules[7].max_days_after", "date_range", set(dateRule, strings.Replace(dateRule, "max_days_after: 0", "max_days_after: 0.5", 1))),
		frac("max_days_before", "validation.rules[7].max_days_before", "date_range", set(dateRule, strings.Replace(dateRule, "max_days_before: 0", "max_days_before: 0.5", 1))),
		frac("min_length", "validation.rules[8].min_length", "check: length", under(dateRule, "    - {column: contract_type, check: length, min_length: 1.5}")),
		frac("max_length", "validation.rules[8].max_length", "check: length", under(dateRule, "    - {column: contract_type, check: length, max_length: 20.5}")),
		frac("max_age_days", "validation.table.freshness.max_age_days", "max_age_days: 1.5", set(freshLine, "    freshness: {column: snapshot_date, max_age_days: 1.5}")),
		frac("challenger class", "challenger.score.class", "class: 1.5", inSection("challenger:\n", "class: 1}", "class: 1.5}")),
		frac("fallback class", "fallback.model.score.class", "class: 2.5", inSection("fallback:\n", "class: 1}", "class: 2.5}")),
	}
}

// inSection appends a challenger and a fallback model (withModelSections)
// and replaces old by new in the first of them to follow section.
func inSection(section, old, new string) func(*testing.T, string) string {
	return func(t *testing.T, text string) string {
		s := withModelSections(t, text)
		i := strings.Index(s, section)
		return s[:i] + swapFirst(t, s[i:], old, new)
	}
}

func swapFirst(t *testing.T, text, old, new string) string {
	t.Helper()
	if !strings.Contains(text, old) {
		t.Fatalf("no %q in the job file", old)
	}
	return strings.Replace(text, old, new, 1)
}

// withModelSections appends a challenger and a fallback model that feed
// the model as the champion does.
func withModelSections(t *testing.T, text string) string {
	t.Helper()
	model := rePath.FindStringSubmatch(text)
	if model == nil {
		t.Fatal("no model path")
	}
	path := strings.TrimSpace(strings.TrimPrefix(model[0], model[1]))
	start := strings.Index(text, "    features:\n")
	end := strings.Index(text, scoreLine)
	var cols []string
	for _, l := range strings.Split(text[start:end], "\n")[1:] {
		if c := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "- ")); c != "" {
			cols = append(cols, c)
		}
	}
	s := strings.ReplaceAll(modelSections, "MODEL", path)
	return text + strings.ReplaceAll(s, "FEATURES", "["+strings.Join(cols, ", ")+"]")
}

func otherCases() []specCase {
	cores := runtime.NumCPU()
	return []specCase{
		{name: "workers as text", edit: set("  workers: 0 ", `  workers: "4" `), line: "workers:", key: "scoring.workers", want: []string{`"4" is quoted text, not a whole number`}},
		{name: "catchup as a boolean", edit: under("timezone: UTC", "catchup: true"), line: "catchup: true", key: "catchup", want: []string{"true is a boolean, not a whole number", "whole numbers from 0 up"}},
		{name: "absurd workers", edit: set("  workers: 0 ", "  workers: 1000000 "), line: "workers:", key: "scoring.workers",
			want: []string{"1000000 is out of range", fmt.Sprintf("from 0 to %d", spec.WorkersPerCore*cores), fmt.Sprintf("this machine has %d cores", cores)}},
		{name: "absurd chunk_rows", edit: set("  chunk_rows: 65536", "  chunk_rows: 16777217"), line: "chunk_rows:", key: "scoring.chunk_rows", want: []string{"out of range", "from 1 to 16777216"}},
		{name: "empty workers", edit: set("  workers: 0 ", "  workers: "), line: "workers:", key: "scoring.workers", want: []string{"is empty"}},
		{name: "NaN fraction", edit: set("  max_invalid_fraction: 0.01 ", "  max_invalid_fraction: .nan "), line: "max_invalid_fraction", key: "validation.max_invalid_fraction", want: []string{"is not a number", "from 0 to 1"}},
		{name: "empty model path", edit: func(t *testing.T, text string) string {
			return rePath.ReplaceAllString(text, `${1}""`)
		}, line: "  path:", key: "model.path", want: []string{"is empty: give a path"}},
		{name: "table as a mapping", edit: func(t *testing.T, text string) string {
			return reTable.ReplaceAllString(text, "${1}{dir: out}")
		}, line: "  table: {dir", key: "output.table", want: []string{"is a mapping"}},
		{name: "empty key column", edit: set("  keys: [customer_id]", `  keys: [customer_id, ""]`), line: "  keys:", key: "output.keys[2]", want: []string{"is empty: give a column name"}},
		{name: "empty rule column", edit: set("    - {column: monthly_charges, check: not_null}", `    - {column: "", check: not_null}`), line: `{column: ""`, key: "validation.rules[1].column", want: []string{"is empty"}},
		{name: "unknown compression", edit: under("  keys: [customer_id]", "  compression: lz4"), line: "compression: lz4", key: "output.compression", want: []string{`"lz4" is not one of`}},
		{name: "unknown engine", edit: set("  engine: auto ", "  engine: gpu "), line: "engine: gpu", key: "scoring.engine", want: []string{`"gpu" is not one of`}},
		{name: "unknown rule action", edit: set("check: range, min: 0, max: 600, action: clip}", "check: range, min: 0, max: 600, action: drop}"), line: "action: drop", key: "validation.rules[4].action", want: []string{`action "drop" is not one of`}},
		{name: "name dot dot", edit: set("name: churn_nightly", `name: ".."`), line: "name:", key: "name", want: []string{"starts with a dot", "the name becomes a folder and file name"}},
		{name: "name leading dots", edit: set("name: churn_nightly", "name: ..evil"), line: "name:", key: "name", want: []string{`"..evil" starts with a dot`, "leading-dot names"}},
		{name: "timezone Local", edit: set("timezone: UTC", "timezone: Local"), line: "timezone:", key: "timezone", want: []string{"refused on purpose", "must not depend on the host"}},
		{name: "30 February", edit: set(`schedule: "0 2 * * *"`, `schedule: "0 0 30 2 *"`), line: "schedule:", key: "schedule", want: []string{"never fires"}},
		{name: "merge of itself", edit: set("scoring:\n", "scoring: &s\n  <<: *s\n"), line: "scoring: &s", key: "scoring", want: []string{"merge a mapping into itself"}},
		{name: "every -1h", edit: set(`schedule: "0 2 * * *"`, `schedule: "@every -1h"`), line: "schedule:", key: "schedule", want: []string{"at least 1s"}},
	}
}

func TestI18SpecWrongValuesAreRefused(t *testing.T) {
	t.Parallel()
	cases := append(integerCases(), otherCases()...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			edit := tc.edit
			dir := t.TempDir()
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(dir, "scores"), edit: func(s string) string { return edit(t, s) }})
			text, err := os.ReadFile(job)
			if err != nil {
				t.Fatal(err)
			}
			res := bs(t, "run", job, "--date", date20)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			msgs := res.messages()
			want := append([]string{job, fmt.Sprintf("line %d: %s: ", lineOf(t, string(text), tc.line), tc.key)}, tc.want...)
			for _, w := range want {
				if !strings.Contains(msgs, w) {
					t.Errorf("the error does not say %q:\n%s", w, msgs)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "scores")); err == nil {
				t.Errorf("a job file that does not load wrote into its table")
			}
		})
	}
}

// Schedules that do fire load: 29 February (leap years) and @every.
func TestI18SpecSchedulesThatFireLoad(t *testing.T) {
	t.Parallel()
	for _, sched := range []string{"0 0 29 2 *", "@every 6h"} {
		t.Run(sched, func(t *testing.T) {
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(t.TempDir(), "scores"),
				edit: func(s string) string { return swap(t, s, `schedule: "0 2 * * *"`, fmt.Sprintf("schedule: %q", sched)) }})
			if res := bs(t, "runs", job); res.code != 0 {
				t.Fatalf("exit %d, want 0\n%s", res.code, res)
			}
		})
	}
}

// A ZipMap class the model does not have is refused when the model loads,
// naming the job file, the key and its line, before any snapshot is read.
func TestI18SpecZipMapClassCheckedAtModelLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := writeJob(t, "churn_nightly.yaml", jobOpts{
		table: filepath.Join(dir, "scores"),
		// A source that does not exist: the model must be refused first.
		source: filepath.Join(dir, "no_snapshot", "*.parquet"),
		model:  modelPath(t, "churn_gbm_zipmap.onnx"),
		edit: func(s string) string {
			s = swap(t, s, "    features:\n", "    float_input:\n")
			s = swap(t, s, scoreLine, "  score: {output: output_probability, class: 7}")
			return swap(t, s, labelLine, "  label: {output: output_label}")
		},
	})
	text, err := os.ReadFile(job)
	if err != nil {
		t.Fatal(err)
	}
	res := bs(t, "run", job, "--date", date20)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.code, res)
	}
	msgs := res.messages()
	for _, w := range []string{job, fmt.Sprintf("line %d: model.score.class: 7 is not a class of output output_probability", lineOf(t, string(text), "class: 7")), "[0 1]"} {
		if !strings.Contains(msgs, w) {
			t.Errorf("the error does not say %q:\n%s", w, msgs)
		}
	}
	if strings.Contains(msgs, "no_snapshot") {
		t.Errorf("the snapshot was looked at before the model was checked:\n%s", msgs)
	}
}

// The --workers flag has the job file's cap: above it is exit 2 naming the
// cap, and the table is untouched.
func TestI18SpecWorkersFlagCapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(dir, "scores")})
	res := bs(t, "run", job, "--date", date20, "--workers", strconv.Itoa(spec.MaxWorkers()+1))
	if res.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.code, res)
	}
	if want := fmt.Sprintf("to %d (%d per core", spec.MaxWorkers(), spec.WorkersPerCore); !strings.Contains(res.messages(), want) {
		t.Errorf("the error does not say %q:\n%s", want, res.messages())
	}
	if _, err := os.Stat(filepath.Join(dir, "scores")); err == nil {
		t.Errorf("a refused --workers wrote into the table")
	}
}
