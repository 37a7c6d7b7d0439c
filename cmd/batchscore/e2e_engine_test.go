package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// withEngine sets scoring.engine in a job file.
func withEngine(engine string) func(string) string {
	return func(text string) string {
		return strings.Replace(text, "scoring:\n", "scoring:\n  engine: "+engine+"\n", 1)
	}
}

// TestEngines runs the GBM job on the native engine (the default) and on
// ONNX Runtime: the same rows and labels, scores within float rounding of
// ONNX Runtime's (its graph computes the logistic with MLAS's
// approximation), and the manifest says which engine scored. The logistic
// model, a linear one, is ONNX Runtime's under auto too, and declines
// under native. A model the native engine declines fails with exit 2,
// publishing nothing, under native.
func TestEngines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	results := map[string]resultRows{}
	for _, engine := range []string{"auto", "onnxruntime"} {
		table := filepath.Join(dir, engine)
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 700,
			edit: func(s string) string { return strings.Replace(s, "engine: auto", "engine: "+engine, 1) }})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatalf("engine %s: run failed\n%s", engine, res)
		}
		m := parseManifest(t, []byte(res.stdout))
		checkSucceededManifest(t, m, table, date20, 2000)
		want := map[string]string{"auto": "native (batchscore's Go tree evaluator)", "onnxruntime": "onnxruntime 1.24.1"}[engine]
		if !strings.HasPrefix(m.Model.Engine, want) || strings.Contains(m.Model.Engine, "declined") {
			t.Errorf("engine %s: manifest model.engine %q, want %q…", engine, m.Model.Engine, want)
		}
		if !strings.Contains(res.stderr, `"engine":"`+want) {
			t.Errorf("engine %s: the model loaded log line does not name the engine\n%s", engine, clip(res.stderr))
		}
		results[engine] = readResults(t, filepath.Join(table, "current", date20))
	}
	native, ort := results["auto"], results["onnxruntime"]
	if !slices.Equal(native.ids, ort.ids) || !slices.Equal(native.labels, ort.labels) {
		t.Fatalf("native and ONNX Runtime tables differ in rows or labels")
	}
	worst := 0.0
	for i := range native.scores {
		worst = max(worst, math.Abs(native.scores[i]-ort.scores[i]))
	}
	if worst > 1e-6 {
		t.Errorf("max |native - ONNX Runtime| score = %g > 1e-6", worst)
	}
	t.Logf("2000 rows, labels identical, max |native - ONNX Runtime| = %.2g", worst)

	// The logistic regression is ONNX Runtime's under auto as under
	// onnxruntime (the native engine scores trees only): the same table.
	logreg := map[string]resultRows{}
	for _, engine := range []string{"auto", "onnxruntime"} {
		table := filepath.Join(dir, "logreg-"+engine)
		job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, chunkRows: 700, edit: withEngine(engine)})
		res := bs(t, "run", job, "--date", date20, "--json")
		if res.code != 0 {
			t.Fatalf("logreg under %s failed\n%s", engine, res)
		}
		want := "onnxruntime 1.24.1"
		if m := parseManifest(t, []byte(res.stdout)); !strings.HasPrefix(m.Model.Engine, want) {
			t.Errorf("logreg under %s: model.engine %q, want %q…", engine, m.Model.Engine, want)
		}
		logreg[engine] = readResults(t, filepath.Join(table, "current", date20))
	}
	if a, o := logreg["auto"], logreg["onnxruntime"]; !slices.Equal(a.ids, o.ids) || !slices.Equal(a.labels, o.labels) || !slices.Equal(a.scores, o.scores) {
		t.Errorf("logreg: the table under auto differs from the one under onnxruntime")
	}

	// Under native, the logistic model and the LTV model (a
	// LinearRegressor on a double input) fail with exit 2, publishing
	// nothing: the native engine scores trees only.
	checkNativeDeclines(t, filepath.Join(dir, "logreg-native"), "churn_logreg.onnx", withEngine("native"))
	checkNativeDeclines(t, filepath.Join(dir, "ltv-native"), "ltv_linear.onnx", func(s string) string {
		s = withEngine("native")(s)
		s = s[:strings.Index(s, "  inputs:\n")] + "  inputs:\n    X: [monthly_charges, avg_monthly_data_gb, satisfaction_score, household_income_k, months_to_contract_end]\n" +
			"  score: {output: variable}\n" + s[strings.Index(s, "output:\n"):]
		return s
	})
}

// checkNativeDeclines runs the logistic job file on model, edited by edit
// (which sets scoring.engine native), and checks that it fails with exit
// 2, naming the model and the setting, and publishes nothing.
func checkNativeDeclines(t *testing.T, table, model string, edit func(string) string) {
	t.Helper()
	job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, model: modelPath(t, model), edit: edit})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 2 {
		t.Fatalf("%s under native: exit %d, want 2\n%s", model, res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Status != "failed" || m.ExitCode != 2 || !strings.Contains(m.Error, "scoring.engine is native") ||
		!strings.Contains(m.Error, model) || !strings.Contains(m.Error, "(model, scoring.engine in "+job+")") {
		t.Errorf("%s under native: status %s exit %d error %q", model, m.Status, m.ExitCode, m.Error)
	}
	if v := currentVersion(t, table, date20); v != "" {
		t.Errorf("a failed run published %s", v)
	}
}
