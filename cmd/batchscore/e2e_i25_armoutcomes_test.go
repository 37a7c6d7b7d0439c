package main

// End-to-end test of outcomes per arm: a canary's arms measured, compared
// and gated through the binary.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// armOutcome is the part of an outcomes file's arms this test checks.
type armOutcome struct {
	Arm string `json:"arm"`
	outcomeMetrics
	AUCLower    *float64 `json:"auc_ci95_lower"`
	AUCUpper    *float64 `json:"auc_ci95_upper"`
	Reference   bool     `json:"reference"`
	VsReference *struct {
		Reference  string   `json:"reference"`
		Difference *float64 `json:"difference"`
		Lower      *float64 `json:"ci95_lower"`
		Upper      *float64 `json:"ci95_upper"`
		Worse      *bool    `json:"worse"`
	} `json:"auc_vs_reference"`
	Scores *struct {
		Rows         int64    `json:"rows"`
		PreviousDate string   `json:"previous_date"`
		PSI          *float64 `json:"psi"`
	} `json:"scores"`
}

// TestArmOutcomesThroughTheBinary runs a canary job on two dates, writes
// labels that the champion's scores predict and the challenger's do not,
// and checks `outcomes --json`: both arms' metrics against scikit-learn
// on the same rows, the DeLong interval of the difference around it, the
// challenger arm worse by more than arm_margin (a gate: exit 3, the file
// written), the per-arm score PSI against the previous date, the
// arm-labelled metrics, and the arms on the trends page. The interval
// itself is checked against a NumPy bootstrap in jobs/outcomes
// (TestArmsAgainstScikitLearnAndBootstrap); here, the plumbing.
func TestArmOutcomesThroughTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	table := filepath.Join(dir, "scores")
	labels := filepath.Join(dir, "labels", "date={{ .Date }}", "labels.parquet")
	section := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  version: logreg-canary\n" +
		inputsBlock(t, "churn_logreg.yaml", "  ") + "\n  label: {output: label}\n  rollout: {share: 0.3, salt: arms-e2e}" +
		"\noutcomes:\n  labels:\n    parquet: " + strconv.Quote(labels) + "\n  label: churned\n  horizon: 30d\n  arm_margin: 0.02\n  gate: {}\n"
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(section)})
	for _, d := range []string{date19, date20} {
		if res := bs(t, "run", job, "--date", d); res.code != 0 {
			t.Fatalf("run %s: %s", d, res)
		}
	}
	rows := readCanaryRows(t, table)
	m := onlyManifest(t, table, date20) // before the outcomes file is beside it
	var ids, churned []int64
	var region []string
	var csv bytes.Buffer
	scored := map[string]int64{}
	for id, r := range rows {
		scored[r.arm]++
		u := float64((id*7919)%1000) / 1000
		y := int64(0)
		if r.arm == "champion" && u < r.score || r.arm == "challenger" && (id*104729)%1000 < 300 {
			y = 1
		}
		ids, churned, region = append(ids, id), append(churned, y), append(region, "north")
		fmt.Fprintf(&csv, "%s,%v,%d\n", r.arm, r.score, y)
	}
	writeLabels(t, strings.ReplaceAll(labels, "{{ .Date }}", date20), ids, churned, region)
	prom := filepath.Join(dir, "outcomes.prom")
	res := bs(t, "outcomes", job, "--date", date20, "--json", "--metrics-file", prom)
	if res.code != 3 || !strings.Contains(res.stderr, `arm "challenger"`) || !strings.Contains(res.stderr, "arm_margin 0.02") {
		t.Fatalf("outcomes: exit %d, want 3 naming the challenger arm and the margin\n%s", res.code, res)
	}
	var got struct {
		Arms []armOutcome `json:"arms"`
		Gate *struct {
			Passed    bool     `json:"passed"`
			ArmMargin *float64 `json:"arm_margin"`
		} `json:"gate"`
		Files []string `json:"files"`
	}
	// The evaluation, then (exit 3) the failure's JSON line.
	if err := json.NewDecoder(strings.NewReader(res.stdout)).Decode(&got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, clip(res.stdout))
	}
	want := sklearnMetrics(t, csv.Bytes())
	if len(got.Arms) != 2 || got.Arms[0].Arm != "champion" || !got.Arms[0].Reference || got.Arms[1].Arm != "challenger" {
		t.Fatalf("arms: %s", clip(res.stdout))
	}
	if got.Gate == nil || got.Gate.Passed || got.Gate.ArmMargin == nil || *got.Gate.ArmMargin != 0.02 {
		t.Errorf("gate: %+v", got.Gate)
	}
	for _, a := range got.Arms {
		checkAgainst(t, "arm "+a.Arm, &a.outcomeMetrics, want[a.Arm])
		wantVersion := map[string]string{"champion": m.Model.Version, "challenger": "logreg-canary"}[a.Arm]
		if a.RowsScored != scored[a.Arm] || a.ModelVersion != wantVersion || a.AUCLower == nil || *a.AUCLower > *a.AUC || *a.AUCUpper < *a.AUC {
			t.Errorf("arm %s: %d scored (want %d), model %q (want %q), AUC interval %v to %v", a.Arm, a.RowsScored, scored[a.Arm], a.ModelVersion, wantVersion, a.AUCLower, a.AUCUpper)
		}
		if s := a.Scores; s == nil || s.Rows != scored[a.Arm] || s.PreviousDate != date19 || s.PSI == nil || *s.PSI < 0 {
			t.Errorf("arm %s: score drift %+v", a.Arm, s)
		}
	}
	d := got.Arms[1].VsReference
	if d == nil || d.Difference == nil || d.Worse == nil || !*d.Worse || d.Reference != "champion" {
		t.Fatalf("challenger vs champion: %s", clip(res.stdout))
	}
	if diff := *want["challenger"]["auc"] - *want["champion"]["auc"]; math.Abs(*d.Difference-diff) > 1e-9 {
		t.Errorf("AUC difference %v, scikit-learn's AUCs give %v", *d.Difference, diff)
	}
	text, err := os.ReadFile(prom)
	if err != nil || !bytes.Contains(text, []byte(`batchscore_outcome_arm_worse{batchscore_job="churn_nightly",model_version="logreg-canary",arm="challenger"} 1`)) ||
		!bytes.Contains(text, fmt.Appendf(nil, `batchscore_outcome_auc{batchscore_job="churn_nightly",model_version="logreg-canary",arm="challenger"} %v`, *got.Arms[1].AUC)) {
		t.Errorf("metrics file (%v):\n%s", err, text)
	}
	for _, f := range got.Files {
		if data, err := os.ReadFile(filepath.Join(table, f)); err != nil || strings.HasSuffix(f, ".html") && !bytes.Contains(data, []byte("<h2>Arms</h2>")) {
			t.Errorf("%s: %v, or no arms on the page", f, err)
		}
	}
	checkArmTrends(t, job, filepath.Join(dir, "site"), got.Arms)
}

// checkArmTrends draws the trends site and looks for each arm's AUC and
// score PSI on the job's page.
func checkArmTrends(t *testing.T, job, site string, arms []armOutcome) {
	t.Helper()
	if res := bs(t, "trends", job, "--out", site); res.code != 0 {
		t.Fatalf("trends: %s", res)
	}
	page, err := os.ReadFile(filepath.Join(site, "jobs", "churn_nightly", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arms {
		for _, w := range []string{
			fmt.Sprintf("%s arm %s AUC: %.4f (95 %% interval %.4f to %.4f)", date20, a.Arm, *a.AUC, *a.AUCLower, *a.AUCUpper),
			fmt.Sprintf("%s arm %s score PSI: %s", date20, a.Arm, pageNumber(*a.Scores.PSI)),
		} {
			if !strings.Contains(string(page), w) {
				t.Errorf("the trends page lacks %q", w)
			}
		}
	}
}

// pageNumber formats a metric as the trends pages do.
func pageNumber(v float64) string {
	if v != 0 && math.Abs(v) < 1e-3 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
