package main

// The command line's messages, logs, help texts and --json output, through
// the built binary.

import (
	"bufio"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/jobs/report"
)

// jsonFailureOf parses the one JSON object --json prints for a failure.
func jsonFailureOf(t *testing.T, res result) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, res)
	}
	return out
}

// A date that is written YYYY-MM-DD but is no day of the calendar is
// named as such, with its flag, for every command that takes one.
func TestI18CLIDates(t *testing.T) {
	t.Parallel()
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(t.TempDir(), "scores")})
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"run", job, "--date", "2026-02-30"}, []string{"--date 2026-02-30 is written YYYY-MM-DD but is not a calendar date", "February 2026 has days 1 to 28"}},
		{[]string{"run", job, "--date", "2024-02-30"}, []string{"February 2024 has days 1 to 29"}},
		{[]string{"run", job, "--date", "2026-13-01"}, []string{"--date 2026-13-01 is written YYYY-MM-DD but is not a calendar date", "no month 13"}},
		{[]string{"run", job, "--date", "2026-2-3"}, []string{`--date "2026-2-3" is not a date written YYYY-MM-DD`}},
		{[]string{"validate", job, "--date", "2026-04-31"}, []string{"--date 2026-04-31 is written YYYY-MM-DD but is not a calendar date", "April 2026 has days 1 to 30"}},
		{[]string{"commit", job, "--date", "2026-02-29", "--shards", "2"}, []string{"--date 2026-02-29 is written YYYY-MM-DD but is not a calendar date"}},
		{[]string{"run", job, "--from", "2026-02-30", "--to", "2026-03-02"}, []string{"--from 2026-02-30 is written YYYY-MM-DD but is not a calendar date"}},
		{[]string{"run", job, "--from", "2026-02-01", "--to", "2026-02-31", "--dry-run"}, []string{"--to 2026-02-31 is written YYYY-MM-DD but is not a calendar date"}},
	}
	for _, tc := range cases {
		res := bs(t, tc.args...)
		if res.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", tc.args, res.code, res)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(res.messages(), w) {
				t.Errorf("%v: stderr lacks %q\n%s", tc.args, w, res)
			}
		}
		if strings.Contains(res.stderr, "is not YYYY-MM-DD") {
			t.Errorf("%v: still says the date is not YYYY-MM-DD\n%s", tc.args, res)
		}
	}
}

// --json prints one JSON object for every failure after the flags parsed,
// for every command that has --json.
func TestI18CLIJSONFailure(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	noModel := filepath.Join(t.TempDir(), "nope.onnx")
	cases := []struct {
		args    []string
		code    int
		jobFile string
		model   string
		errText string
	}{
		{[]string{"run", missing, "--date", date20, "--json"}, 2, missing, "", "nope.yaml"},
		{[]string{"run", job, "--date", "2026-02-30", "--json"}, 2, job, "", "not a calendar date"},
		{[]string{"run", job, "--from", "2026-11-20", "--to", "2026-11-19", "--json"}, 2, job, "", "before --from"},
		{[]string{"run", job, "--date", date20, "--trigger", "cron", "--json"}, 2, job, "", "--trigger"},
		{[]string{"validate", missing, "--json"}, 2, missing, "", "nope.yaml"},
		{[]string{"commit", job, "--date", date20, "--shards", "0", "--json"}, 2, job, "", "--shards 0"},
		{[]string{"runs", missing, "--json"}, 2, missing, "", "nope.yaml"},
		{[]string{"show", job, "no-such-run", "--json"}, 2, job, "", "no-such-run"},
		{[]string{"inspect", noModel, "--json"}, 2, "", noModel, "not found"},
		{[]string{"run", job, "extra-arg", "--json"}, 2, job, "", "accepts 1 arg"},
	}
	for _, tc := range cases {
		res := bs(t, tc.args...)
		if res.code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, res.code, tc.code, res)
			continue
		}
		out := jsonFailureOf(t, res)
		if out["status"] != "failed" || out["exit_code"] != float64(tc.code) || !strings.Contains(out["error"].(string), tc.errText) {
			t.Errorf("%v: %v, want status failed, exit_code %d, an error with %q", tc.args, out, tc.code, tc.errText)
		}
		if tc.jobFile != "" && out["job_file"] != tc.jobFile {
			t.Errorf("%v: job_file %v, want %s", tc.args, out["job_file"], tc.jobFile)
		}
		if tc.model != "" && out["model"] != tc.model {
			t.Errorf("%v: model %v, want %s", tc.args, out["model"], tc.model)
		}
	}
	// A command line whose flags do not parse: --json may not have been
	// read, and nothing is printed on stdout.
	if res := bs(t, "run", job, "--json", "--no-such-flag"); res.code != 2 || res.stdout != "" {
		t.Errorf("a bad flag: exit %d, stdout %q; want 2 and nothing", res.code, res.stdout)
	}
	// Without --json, stdout stays empty on failure.
	if res := bs(t, "run", missing, "--date", date20); res.code != 2 || res.stdout != "" {
		t.Errorf("without --json: exit %d, stdout %q", res.code, res.stdout)
	}
	// A run that started prints its manifest, not the short object.
	res := bs(t, "run", job, "--date", "2026-01-01", "--json")
	if m := parseManifest(t, []byte(res.stdout)); res.code != 1 || m.Status != report.StatusFailed || m.Job != "churn_nightly" {
		t.Errorf("a failed run: exit %d, manifest %+v", res.code, m)
	}
}

// logRecords parses stderr's JSON log lines, keeping each raw line.
func logRecords(t *testing.T, stderr string) (recs []map[string]any, lines []string) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("stderr line is not JSON: %q", sc.Text())
		}
		recs, lines = append(recs, rec), append(lines, sc.Text())
	}
	return recs, lines
}

func findLog(t *testing.T, res result, prefix string) (map[string]any, string) {
	t.Helper()
	recs, lines := logRecords(t, res.stderr)
	for i, r := range recs {
		if msg, _ := r["msg"].(string); strings.HasPrefix(msg, prefix) {
			return r, lines[i]
		}
	}
	t.Fatalf("no log line %q\n%s", prefix, res)
	return nil, ""
}

// The "already current" line carries run_id once; validate logs what it
// checked and its verdict, not "run succeeded rows=0 path=".
func TestI18CLILogs(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatal(res)
	}
	again := bs(t, "run", job, "--date", date20)
	if again.code != 0 {
		t.Fatal(again)
	}
	rec, line := findLog(t, again, "already current")
	if n := strings.Count(line, `"run_id":`); n != 1 || rec["run_id"] == "" {
		t.Errorf("already-current line has run_id %d times, want once:\n%s", n, line)
	}

	val := bs(t, "validate", job, "--date", date20)
	if val.code != 0 {
		t.Fatal(val)
	}
	if strings.Contains(val.stderr, "run succeeded") {
		t.Errorf("validate logs a run that succeeded:\n%s", val.stderr)
	}
	rec, _ = findLog(t, val, "validate passed")
	if rec["rows_checked"] != float64(2000) || rec["rejected"] != float64(0) || rec["verdict"] != "passed" {
		t.Errorf("validate's line: %v", rec)
	}

	// A validate whose data fail: rows checked, rejected, the verdict.
	strict := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return strings.Replace(s, "    min_rows: 100\n", "    min_rows: 100000\n", 1)
	}})
	bad := bs(t, "validate", strict, "--date", date20)
	if bad.code != 3 {
		t.Fatalf("validate with min_rows 100000: exit %d\n%s", bad.code, bad)
	}
	rec, _ = findLog(t, bad, "validate failed")
	if rec["rows_checked"] != float64(2000) || rec["verdict"] != "failed its checks" || rec["exit_code"] != float64(3) {
		t.Errorf("validate's failed line: %v", rec)
	}
}

// An interrupted run and an interrupted backfill say which signal stopped
// them, in the log, the manifest and the backfill's table; a --reprocess
// all backfill says how to carry on.
func TestI18CLIInterrupted(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	bigRoot := filepath.Join(tmp, "big")
	for _, d := range []string{date19, date20} {
		if res := runWith(t, gensnapshot, baseEnv(), "--date", d, "--rows", strconv.Itoa(bigRows), "--files", "3", "--out", bigRoot, "-q"); res.code != 0 {
			t.Fatalf("gensnapshot failed\n%s", res)
		}
	}
	big := writeJob(t, "churn_nightly.yaml", jobOpts{
		table: table, chunkRows: 4096,
		source: filepath.Join(bigRoot, "snapshot_date={{ .Date }}", "*.parquet"),
		edit:   func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") },
	})

	t.Run("run", func(t *testing.T) {
		p := startWith(t, ortEnv(t), table, "run", big, "--date", date20, "--json")
		p.waitForStagedPart(t, table)
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := p.wait(t)
		if code != 130 {
			t.Fatalf("exit %d, want 130\n%s", code, clip(stderr))
		}
		m := parseManifest(t, []byte(stdout))
		if m.Status != report.StatusInterrupted || m.Error != "interrupted by SIGTERM: nothing was published" {
			t.Errorf("manifest: status %q error %q", m.Status, m.Error)
		}
		res := result{code: code, stdout: stdout, stderr: stderr}
		rec, _ := findLog(t, res, "run interrupted")
		if rec["signal"] != "SIGTERM" || rec["exit_code"] != float64(130) {
			t.Errorf("log line: %v", rec)
		}
		if strings.Contains(stderr, "context canceled") || strings.Contains(stderr, "run failed") {
			t.Errorf("the log says context canceled or run failed:\n%s", clip(stderr))
		}
	})

	t.Run("backfill", func(t *testing.T) {
		p := startWith(t, ortEnv(t), table, "run", big, "--from", date19, "--to", date20, "--reprocess", "all")
		p.waitForStagedPart(t, table)
		if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := p.wait(t)
		if code != 130 {
			t.Fatalf("exit %d, want 130\n%s\n%s", code, stdout, clip(stderr))
		}
		for _, want := range []string{date19 + "  interrupted", "interrupted by SIGINT",
			"to carry on with the 2 dates not done, run with --from " + date19 + " --to " + date20} {
			if !strings.Contains(stdout, want) {
				t.Errorf("backfill table lacks %q:\n%s", want, stdout)
			}
		}
		if strings.Contains(stdout+stderr, "context canceled") {
			t.Errorf("the backfill says context canceled:\n%s\n%s", stdout, clip(stderr))
		}
	})
}

// withoutModelVersion returns an ONNX model's bytes without its
// model_version (ModelProto field 5), or with it set to v when v >= 0.
func withoutModelVersion(t *testing.T, model []byte, v int64) []byte {
	t.Helper()
	var out []byte
	for b := model; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal("not a protobuf")
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			t.Fatal("not a protobuf")
		}
		if num != 5 {
			out = append(out, b[:n+m]...)
		}
		b = b[n+m:]
	}
	if v >= 0 {
		out = protowire.AppendTag(out, 5, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(v))
	}
	return out
}

// A model without model_version shows no version, not ONNX Runtime's
// INT64_MAX; --json says 0.
func TestI18CLIInspectNoVersion(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(modelPath(t, "churn_logreg.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{-1, 0} {
		path := filepath.Join(t.TempDir(), "m.onnx")
		if err := os.WriteFile(path, withoutModelVersion(t, data, v), 0o644); err != nil {
			t.Fatal(err)
		}
		res := bs(t, "inspect", path)
		if res.code != 0 {
			t.Fatal(res)
		}
		if strings.Contains(res.stdout, "9223372036854775807") || regexp.MustCompile(`(?m)^  version:`).MatchString(res.stdout) {
			t.Errorf("model_version %d: inspect prints a version:\n%s", v, res.stdout)
		}
		js := bs(t, "inspect", path, "--json")
		var got struct {
			Metadata struct {
				Version int64 `json:"version"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(js.stdout), &got); err != nil || got.Metadata.Version != 0 {
			t.Errorf("model_version %d: --json version %d (%v)\n%s", v, got.Metadata.Version, err, js.stdout)
		}
	}
}

// run --help names --shard's argument K/N, and --reprocess none is
// described as what the plan does: every date but failed ones, current
// dates included (a no-op when unchanged).
func TestI18CLIRunHelp(t *testing.T) {
	t.Parallel()
	res := bs(t, "run", "--help")
	if res.code != 0 {
		t.Fatal(res)
	}
	if !regexp.MustCompile(`--shard K/N\s`).MatchString(res.stdout) || strings.Contains(res.stdout, "--shard batchscore") {
		t.Errorf("--shard's argument:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "only dates never run") || !strings.Contains(res.stdout, "none (every date but those whose last execution failed") {
		t.Errorf("--reprocess none:\n%s", res.stdout)
	}

	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return removeLine(t, s, "    max_row_change_pct: 50")
	}})
	if r := bs(t, "run", job, "--date", date20); r.code != 0 {
		t.Fatal(r)
	}
	if r := bs(t, "run", job, "--date", "2026-11-17"); r.code != 1 {
		t.Fatalf("a date without a snapshot: exit %d", r.code)
	}
	plan := outcomes(t, bs(t, "run", job, "--from", "2026-11-17", "--to", date20, "--dry-run", "--json"))
	if p := plan[date20]; p.Run || !strings.HasPrefix(p.Reason, "already current") {
		t.Errorf("--reprocess none plans an unchanged current date as %+v, want already current (a run would be a no-op)", p)
	}
	if p := plan["2026-11-17"]; p.Run {
		t.Errorf("--reprocess none plans a failed date as %+v, want skip", p)
	}
	if p := plan[date19]; !p.Run || p.Reason != "never run" {
		t.Errorf("--reprocess none plans a new date as %+v", p)
	}
}

// show says what a run that published nothing did, not "written N".
func TestI18CLIShowNothingPublished(t *testing.T) {
	t.Parallel()
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: func(s string) string {
		return strings.Replace(s, "    min_rows: 100\n", "    min_rows: 100000\n", 1)
	}})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 3 {
		t.Fatalf("gated run: exit %d\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	show := bs(t, "show", job, m.Version)
	if show.code != 0 {
		t.Fatal(show)
	}
	if strings.Contains(show.stdout, "written") {
		t.Errorf("show says rows were written for a gated run:\n%s", show.stdout)
	}
	want := "nothing published: the data failed its checks; the " + strconv.FormatInt(m.Counts.Written, 10) + " rows it staged were discarded"
	if m.Counts.Written == 0 || !strings.Contains(show.stdout, want) {
		t.Errorf("show lacks %q:\n%s", want, show.stdout)
	}

	ok := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(t.TempDir(), "scores")})
	res = bs(t, "run", ok, "--date", date20, "--json")
	m = parseManifest(t, []byte(res.stdout))
	show = bs(t, "show", ok, m.Version)
	if want := "published 2000 rows as version " + m.Version; !strings.Contains(show.stdout, want) {
		t.Errorf("show lacks %q:\n%s", want, show.stdout)
	}
	val := bs(t, "validate", ok, "--date", date19, "--json")
	mv := parseManifest(t, []byte(val.stdout))
	show = bs(t, "show", ok, mv.Version)
	if !strings.Contains(show.stdout, "checked only (validate): nothing scored or published") {
		t.Errorf("show of a validate:\n%s", show.stdout)
	}
}

// profile leaves pii columns (the job file's or --pii) out of the
// baseline, keeps no top value seen in only one row, and writes 0640.
func TestI18CLIProfilePII(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mem := memory.NewGoAllocator()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "account", Type: arrow.BinaryTypes.String},
		{Name: "email", Type: arrow.BinaryTypes.String},
		{Name: "plan", Type: arrow.BinaryTypes.String},
		{Name: "age", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	b := array.NewRecordBuilder(mem, schema)
	defer b.Release()
	for i := range 300 {
		b.Field(0).(*array.StringBuilder).Append("acct-" + strconv.Itoa(i))
		b.Field(1).(*array.StringBuilder).Append("person" + strconv.Itoa(i) + "@example.com")
		b.Field(2).(*array.StringBuilder).Append([]string{"basic", "plus", "pro"}[i%3])
		b.Field(3).(*array.Int64Builder).Append(int64(20 + i%50))
	}
	rec := b.NewRecord()
	defer rec.Release()
	data := filepath.Join(dir, "train.parquet")
	writeParquet(t, data, rec)

	out := filepath.Join(dir, "baseline.json")
	res := bs(t, "profile", data, "--out", out, "--pii", "email")
	if res.code != 0 {
		t.Fatal(res)
	}
	base := readBaseline(t, out)
	if _, ok := base["email"]; ok {
		t.Error("the pii column email is in the baseline")
	}
	if top := base["account"].Top; len(top) != 0 {
		t.Errorf("account, unique per row, has top values %v", top)
	}
	if top := base["plan"].Top; len(top) != 3 {
		t.Errorf("plan's top values: %v", top)
	}
	raw, _ := os.ReadFile(out)
	if strings.Contains(string(raw), "@example.com") || strings.Contains(string(raw), "acct-") {
		t.Errorf("the baseline holds personal values:\n%s", clip(string(raw)))
	}
	if st := mustStat(t, out); st.Mode().Perm() != 0o640 {
		t.Errorf("baseline mode %v, want 0640", st.Mode().Perm())
	}
	for _, w := range []string{"left out (pii): email", "top values seen in one row only left out: account"} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("profile's output lacks %q:\n%s", w, res.stdout)
		}
	}

	// The job file's pii declarations.
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: filepath.Join(dir, "scores"), edit: func(s string) string {
		return strings.Replace(s, "    customer_id: {type: int}", "    customer_id: {type: int, pii: true}", 1)
	}})
	fromJob := filepath.Join(dir, "customers.json")
	snap := filepath.Join(samples(t), "snapshot_date="+date20, "*.parquet")
	if res := bs(t, "profile", snap, "--out", fromJob, "--job", job); res.code != 0 || !strings.Contains(res.stdout, "left out (pii): customer_id") {
		t.Fatal(res)
	}
	if base := readBaseline(t, fromJob); base["customer_id"] != nil || base["monthly_charges"] == nil {
		t.Errorf("baseline from the job's pii: columns %v", slices.Sorted(maps.Keys(base)))
	}

	// A --pii name that is no column is a typo: refused, nothing written.
	typo := filepath.Join(dir, "typo.json")
	res = bs(t, "profile", data, "--out", typo, "--pii", "e_mail")
	if res.code != 2 || !strings.Contains(res.messages(), `--pii names column "e_mail"`) || fileExists(typo) {
		t.Errorf("--pii typo: %s", res)
	}
}

type baselineColumn struct {
	Top []struct {
		Value string `json:"value"`
	} `json:"top"`
}

func readBaseline(t *testing.T, path string) map[string]*baselineColumn {
	t.Helper()
	var p struct {
		Columns []struct {
			Name string `json:"name"`
			baselineColumn
		} `json:"columns"`
	}
	if err := json.Unmarshal(mustRead(t, path), &p); err != nil {
		t.Fatal(err)
	}
	out := map[string]*baselineColumn{}
	for i := range p.Columns {
		out[p.Columns[i].Name] = &p.Columns[i].baselineColumn
	}
	return out
}

// readmeSection returns the README's lines from the heading to the next
// heading (outside code blocks).
func readmeSection(t *testing.T, heading string) []string {
	t.Helper()
	lines := strings.Split(string(mustRead(t, filepath.Join(repoRoot(t), "README.md"))), "\n")
	for i, l := range lines {
		if l != heading {
			continue
		}
		code := false
		for j := i + 1; j < len(lines); j++ {
			if strings.HasPrefix(lines[j], "```") {
				code = !code
			}
			if !code && strings.HasPrefix(lines[j], "#") {
				return lines[i+1 : j]
			}
		}
		return lines[i+1:]
	}
	t.Fatalf("README has no %q", heading)
	return nil
}

// helpCommands lists the "Available Commands:" of a help text.
func helpCommands(t *testing.T, args ...string) []string {
	t.Helper()
	res := bs(t, args...)
	if res.code != 0 {
		t.Fatal(res)
	}
	var out []string
	in := false
	for _, l := range strings.Split(res.stdout, "\n") {
		switch {
		case l == "Available Commands:":
			in = true
		case in && strings.HasPrefix(l, "  "):
			out = append(out, strings.Fields(l)[0])
		case in:
			in = false
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// batchscore --help and the README agree on the exit codes, the commands
// (and the models subcommands) and the sources.
func TestI18CLIHelpMatchesREADME(t *testing.T) {
	t.Parallel()
	res := bs(t, "--help")
	if res.code != 0 {
		t.Fatal(res)
	}
	var helpCodes, readmeCodes []string
	reCode := regexp.MustCompile(`^  (\d+) `)
	after := false
	for _, l := range strings.Split(res.stdout, "\n") {
		if l == "Exit codes:" {
			after = true
		} else if m := reCode.FindStringSubmatch(l); after && m != nil {
			helpCodes = append(helpCodes, m[1])
		}
	}
	reRow := regexp.MustCompile(`^\| (\d+) \|`)
	for _, l := range readmeSection(t, "### Exit codes") {
		if m := reRow.FindStringSubmatch(l); m != nil {
			readmeCodes = append(readmeCodes, m[1])
		}
	}
	if len(helpCodes) == 0 || !slices.Equal(helpCodes, readmeCodes) {
		t.Errorf("exit codes: --help %v, README %v", helpCodes, readmeCodes)
	}

	var readmeCommands, readmeModels []string
	reCmd := regexp.MustCompile("^\\| `batchscore ([a-z]+)( [a-z|\\\\]+)?")
	for _, l := range readmeSection(t, "## Commands") {
		m := reCmd.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		readmeCommands = append(readmeCommands, m[1])
		if m[1] == "models" {
			readmeModels = strings.Split(strings.ReplaceAll(strings.TrimSpace(m[2]), `\|`, "|"), "|")
		}
	}
	sort.Strings(readmeCommands)
	readmeCommands = slices.Compact(readmeCommands)
	sort.Strings(readmeModels)
	if help := helpCommands(t, "--help"); !slices.Equal(help, readmeCommands) {
		t.Errorf("commands: --help %v, README's Commands %v", help, readmeCommands)
	}
	if help := slices.DeleteFunc(helpCommands(t, "models", "--help"), func(s string) bool { return s == "help" }); !slices.Equal(help, readmeModels) {
		t.Errorf("models subcommands: models --help %v, README %v", help, readmeModels)
	}

	intro := strings.Join(readmeSection(t, "# batchscore"), "\n")
	for _, src := range []string{"Parquet", "S3", "postgres", "mysql", "sqlite"} {
		if !strings.Contains(res.stdout, src) || !strings.Contains(intro, src) {
			t.Errorf("source %s: in --help %v, in the README's introduction %v", src, strings.Contains(res.stdout, src), strings.Contains(intro, src))
		}
	}
}
