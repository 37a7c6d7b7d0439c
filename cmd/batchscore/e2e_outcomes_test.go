package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// outcomeMetrics is the part of an outcomes file this test checks.
type outcomeMetrics struct {
	ModelVersion       string   `json:"model_version"`
	RowsScored         int64    `json:"rows_scored"`
	Labelled           int64    `json:"labelled"`
	Matched            int64    `json:"matched"`
	LabelsWithoutScore int64    `json:"labels_without_score"`
	AUC                *float64 `json:"auc"`
	KS                 *float64 `json:"ks"`
	Brier              *float64 `json:"brier"`
	LogLoss            *float64 `json:"log_loss"`
	ECE                *float64 `json:"ece"`
	Calibration        []struct {
		Rows int64 `json:"rows"`
	} `json:"calibration"`
}

type outcomeFile struct {
	Format     string          `json:"format"`
	Job        string          `json:"job"`
	Date       string          `json:"date"`
	Version    string          `json:"version"`
	RunID      string          `json:"run_id"`
	Champion   *outcomeMetrics `json:"champion"`
	Challenger *outcomeMetrics `json:"challenger"`
	Segments   []struct {
		Column, Value        string
		Champion, Challenger *outcomeMetrics
	} `json:"segments"`
	Files []string `json:"files"`
}

// writeLabels writes a labels file: customer_id, churned (int64) and region.
func writeLabels(t *testing.T, path string, ids []int64, churned []int64, region []string) {
	t.Helper()
	mem := memory.DefaultAllocator
	ib := array.NewInt64Builder(mem)
	ib.AppendValues(ids, nil)
	cb := array.NewInt64Builder(mem)
	cb.AppendValues(churned, nil)
	rb := array.NewStringBuilder(mem)
	rb.AppendValues(region, nil)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "customer_id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "churned", Type: arrow.PrimitiveTypes.Int64},
		{Name: "region", Type: arrow.BinaryTypes.String},
	}, nil)
	rec := array.NewRecord(schema, []arrow.Array{ib.NewArray(), cb.NewArray(), rb.NewArray()}, int64(len(ids)))
	defer rec.Release()
	writeParquet(t, path, rec)
}

// TestOutcomesThroughTheBinary scores a date with a challenger, writes its
// labels, and checks `batchscore outcomes --json` against scikit-learn and
// SciPy on the same joined rows (tree scores: many ties), a segment with
// one class (null metrics), the files it writes (and that runs still sees
// one manifest), then bad labels: each exits with its code and names what
// is wrong, and nothing published changes.
func TestOutcomesThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "scores")
	labels := filepath.Join(dir, "labels", "date={{ .Date }}", "labels.parquet")
	section := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  version: logreg-shadow\n" + inputsBlock(t, "churn_logreg.yaml", "  ") +
		"\noutcomes:\n  labels:\n    parquet: " + strconv.Quote(labels) + "\n  label: churned\n  horizon: 30d\n  segments: [region, contract_type]\n"
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(section)})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run failed\n%s", res)
	}
	current := filepath.Join(table, "current", date20)
	rows, chall, contract := publishedForOutcomes(t, current)
	// Labels: every third scored row unlabelled, two labels with no score,
	// region "vip" all negatives.
	var ids, churned []int64
	var region []string
	var csv bytes.Buffer
	for i, id := range rows.ids {
		if i%3 == 2 {
			continue
		}
		y := int64(0)
		if float64((id*7919)%1000)/1000 < rows.scores[i] {
			y = 1
		}
		r := []string{"north", "south", "vip"}[(i/3)%3]
		if r == "vip" {
			y = 0
		}
		ids, churned, region = append(ids, id), append(churned, y), append(region, r)
		fmt.Fprintf(&csv, "champion,%v,%d\n%s,%v,%d\ncontract:%s,%v,%d\n", rows.scores[i], y, r, rows.scores[i], y, contract[id], rows.scores[i], y)
		if c, ok := chall[id]; ok {
			fmt.Fprintf(&csv, "challenger,%v,%d\n", c, y)
		}
	}
	ids, churned, region = append(ids, -1, -2), append(churned, 1, 0), append(region, "north", "north")
	labelFile := strings.ReplaceAll(labels, "{{ .Date }}", date20)
	writeLabels(t, labelFile, ids, churned, region)
	before := treeDigest(t, filepath.Join(table, "versions"), filepath.Join(table, "current"))

	res := bs(t, "outcomes", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("outcomes failed\n%s", res)
	}
	var got outcomeFile
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res.stdout)
	}
	want := sklearnMetrics(t, csv.Bytes())
	c := got.Champion
	matched := int64(len(ids) - 2)
	if got.Format != "batchscore-outcomes/1" || got.Date != date20 || c.RowsScored != 2000 || c.Labelled != int64(len(ids)) || c.Matched != matched || c.LabelsWithoutScore != 2 {
		t.Errorf("counts: %+v %+v", got, c)
	}
	checkAgainst(t, "champion", c, want["champion"])
	if got.Challenger == nil || got.Challenger.ModelVersion != "logreg-shadow" {
		t.Fatalf("no challenger: %+v", got.Challenger)
	}
	checkAgainst(t, "challenger", got.Challenger, want["challenger"])
	checkOutcomeSegments(t, got, want, rows, contract, res.stdout)
	for _, f := range got.Files {
		data, err := os.ReadFile(filepath.Join(table, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.HasSuffix(f, ".html") && (bytes.Contains(data, []byte("<script")) || !bytes.Contains(data, []byte("<svg"))) {
			t.Errorf("%s: not a self-contained page with a chart", f)
		}
	}
	if runs := bs(t, "runs", job, "--json"); runs.code != 0 || strings.Count(runs.stdout, `"run_id"`) != 1 {
		t.Errorf("runs sees more than the one manifest:\n%s", runs)
	}
	// The file the command wrote feeds the trends page: the date's AUC
	// point and the challenger's hold the values of the JSON.
	site := filepath.Join(dir, "site")
	if res := bs(t, "trends", job, "--out", site); res.code != 0 {
		t.Fatalf("trends: %s", res)
	}
	page, err := os.ReadFile(filepath.Join(site, "jobs", "churn_nightly", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		fmt.Sprintf("<title>%s AUC: %.4f</title>", date20, *c.AUC),
		fmt.Sprintf("<title>%s challenger AUC: %.4f</title>", date20, *got.Challenger.AUC),
		fmt.Sprintf("<title>%s KS: %.4f</title>", date20, *c.KS),
		filepath.Base(got.Files[0]),
	} {
		if !strings.Contains(string(page), w) {
			t.Errorf("the trends page lacks %q", w)
		}
	}

	checkOutcomesBadInput(t, filepath.Join(dir, "bad"), job, ids, churned, region)
	// The gate: an AUC under auc_min writes the evaluation and exits 3.
	gated := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(section + "  gate: {auc_min: 0.999}\n")})
	res = bs(t, "outcomes", gated, "--date", date20, "--json")
	if res.code != 3 || !strings.Contains(res.stderr, "below auc_min 0.999") || !strings.Contains(res.stdout, `"passed": false`) {
		t.Errorf("gate: exit %d, want 3 naming auc_min, with the evaluation printed\n%s", res.code, res)
	}
	if after := treeDigest(t, filepath.Join(table, "versions"), filepath.Join(table, "current")); after != before {
		t.Errorf("an outcomes run changed what is published")
	}
}

// publishedForOutcomes reads the run's result rows, its challenger scores
// by key and the snapshot's contract_type by key.
func publishedForOutcomes(t *testing.T, current string) (resultRows, map[int64]float64, map[int64]string) {
	var rows resultRows
	parts, _ := filepath.Glob(filepath.Join(current, "*.parquet"))
	for _, f := range parts {
		tbl := readParquet(t, f)
		ids, ss := column(t, tbl, "customer_id").(*array.Int64), column(t, tbl, "score").(*array.Float64)
		for i := range ids.Len() {
			rows.ids, rows.scores = append(rows.ids, ids.Value(i)), append(rows.scores, ss.Value(i))
		}
	}
	shadowFiles, _ := filepath.Glob(filepath.Join(current, "_shadow", "*.parquet"))
	chall := map[int64]float64{}
	for _, f := range shadowFiles {
		tbl := readParquet(t, f)
		ids, cs := column(t, tbl, "customer_id").(*array.Int64), column(t, tbl, "challenger_score").(*array.Float64)
		for i := range ids.Len() {
			chall[ids.Value(i)] = cs.Value(i)
		}
	}
	// contract_type is a column of the snapshot only.
	contract := map[int64]string{}
	snapFiles, _ := filepath.Glob(filepath.Join(samples(t), "snapshot_date="+date20, "*.parquet"))
	for _, f := range snapFiles {
		tbl := readParquet(t, f)
		ids, ct := column(t, tbl, "customer_id").(*array.Int64), column(t, tbl, "contract_type")
		for i := range ids.Len() {
			contract[ids.Value(i)] = ct.ValueStr(i)
		}
	}
	return rows, chall, contract
}

// checkOutcomeSegments checks each segment against scikit-learn's metrics,
// the rows scored per contract type and the one-class region's null AUC.
func checkOutcomeSegments(t *testing.T, got outcomeFile, want map[string]map[string]*float64, rows resultRows, contract map[int64]string, stdout string) {
	t.Helper()
	seen, contracts := 0, 0
	scoredBy := map[string]int64{}
	for _, id := range rows.ids {
		scoredBy[contract[id]]++
	}
	for _, s := range got.Segments {
		if s.Column == "contract_type" {
			checkAgainst(t, "contract_type "+s.Value, s.Champion, want["contract:"+s.Value])
			if s.Champion.RowsScored != scoredBy[s.Value] {
				t.Errorf("contract_type %s: %d rows scored, want %d", s.Value, s.Champion.RowsScored, scoredBy[s.Value])
			}
			contracts++
			continue
		}
		checkAgainst(t, "region "+s.Value, s.Champion, want[s.Value])
		if s.Value == "vip" && (s.Champion.AUC != nil || s.Champion.KS != nil) {
			t.Errorf("one-class segment has AUC %v KS %v", s.Champion.AUC, s.Champion.KS)
		}
		seen++
	}
	if contracts != len(scoredBy) {
		t.Errorf("%d contract_type segments, want %d", contracts, len(scoredBy))
	}
	if seen != 3 || !strings.Contains(stdout, `"auc": null`) {
		t.Errorf("segments %d (want 3), or no null AUC in %s", seen, clip(stdout))
	}
}

// checkOutcomesBadInput runs outcomes on bad labels written under badDir:
// each names what is wrong, with its exit code.
func checkOutcomesBadInput(t *testing.T, badDir, job string, ids, churned []int64, region []string) {
	t.Helper()
	bad := func(name string, code int, wants []string, args ...string) {
		t.Helper()
		res := bs(t, append([]string{"outcomes", job}, args...)...)
		if res.code != code {
			t.Errorf("%s: exit %d, want %d\n%s", name, res.code, code, res)
		}
		for _, w := range wants {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: stderr does not name %q:\n%s", name, w, res.stderr)
			}
		}
	}
	churned[5] = 2
	writeLabels(t, filepath.Join(badDir, "value.parquet"), ids, churned, region)
	bad("label 2", 3, []string{"value.parquet row 5", `"churned"`, "not 0 or 1"}, "--date", date20, "--labels", filepath.Join(badDir, "value.parquet"))
	churned[5] = 0
	ids[7] = ids[3]
	writeLabels(t, filepath.Join(badDir, "dup.parquet"), ids, churned, region)
	bad("duplicate", 3, []string{"duplicate label keys", fmt.Sprintf("customer_id=%d", ids[3]), "dup.parquet row 7"}, "--date", date20, "--labels", filepath.Join(badDir, "dup.parquet"))
	bad("missing column", 3, []string{"no column \"outcome\""}, "--date", date20, "--label", "outcome")
	bad("not scored", 2, []string{"2026-11-18", "no published version"}, "--date", "2026-11-18")
	sb := array.NewStringBuilder(memory.DefaultAllocator)
	sb.AppendValues([]string{"1", "2"}, nil)
	lb := array.NewInt64Builder(memory.DefaultAllocator)
	lb.AppendValues([]int64{0, 1}, nil)
	keyRec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "customer_id", Type: arrow.BinaryTypes.String}, {Name: "churned", Type: arrow.PrimitiveTypes.Int64}}, nil),
		[]arrow.Array{sb.NewArray(), lb.NewArray()}, 2)
	defer keyRec.Release()
	writeParquet(t, filepath.Join(badDir, "keys.parquet"), keyRec)
	bad("key type", 3, []string{"keys.parquet", `key column "customer_id" is utf8`}, "--date", date20, "--labels", filepath.Join(badDir, "keys.parquet"))
}

func checkAgainst(t *testing.T, name string, got *outcomeMetrics, want map[string]*float64) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: got %v, reference %v", name, got, want)
	}
	if n := want["rows"]; n == nil || int64(*n) != got.Matched {
		t.Errorf("%s: %d matched, reference %v rows", name, got.Matched, want["rows"])
	}
	for k, g := range map[string]*float64{"auc": got.AUC, "ks": got.KS, "brier": got.Brier, "log_loss": got.LogLoss} {
		w := want[k]
		switch {
		case g == nil && w == nil:
		case g == nil || w == nil:
			t.Errorf("%s %s: got %v, scikit-learn/SciPy %v", name, k, g, w)
		case math.Abs(*g-*w) > 1e-9:
			t.Errorf("%s %s: got %.12g, scikit-learn/SciPy %.12g", name, k, *g, *w)
		}
	}
}

func sklearnMetrics(t *testing.T, csv []byte) map[string]map[string]*float64 {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", filepath.Join(repoRoot(t), "testdata", "outcomes", "sklearn_metrics.py"))
	cmd.Stdin = bytes.NewReader(csv)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scikit-learn reference: %v", err)
	}
	var res map[string]map[string]*float64
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// treeDigest lists every path, size and link target under dirs.
func treeDigest(t *testing.T, dirs ...string) string {
	t.Helper()
	var b strings.Builder
	for _, d := range dirs {
		_ = filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			link, _ := os.Readlink(p)
			fmt.Fprintf(&b, "%s %d %s %v\n", p, fi.Size(), link, fi.ModTime().UnixNano())
			return nil
		})
	}
	return b.String()
}
