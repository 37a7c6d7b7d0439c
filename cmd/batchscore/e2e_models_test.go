package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runModels runs `batchscore models ARGS --registry reg` and wants exit code.
func runModels(t *testing.T, reg string, code int, args ...string) result {
	t.Helper()
	res := bs(t, append(append([]string{"models"}, args...), "--registry", reg)...)
	if res.code != code {
		t.Fatalf("models %v: exit %d, want %d\n%s", args, res.code, code, res)
	}
	return res
}

// requireModelsCommand says plainly when root.go does not register models.
func requireModelsCommand(t *testing.T) {
	t.Helper()
	if res := bs(t, "models", "--help"); res.code != 0 || !strings.Contains(res.stdout, "--registry") {
		t.Fatalf("batchscore has no models command: root.go must add newModelsCommand(g)\n%s", res)
	}
}

// TestModelsPromoteRollback registers two versions, promotes both to prod
// and rolls back: prod is the first again, and the log holds every step.
func TestModelsPromoteRollback(t *testing.T) {
	t.Parallel()
	requireModelsCommand(t)
	reg := filepath.Join(t.TempDir(), "registry")
	gbm, logreg := modelPath(t, "churn_gbm.onnx"), modelPath(t, "churn_logreg.onnx")

	res := runModels(t, reg, 0, "add", "churn", gbm, "--version", "v1", "--meta", "auc=0.81", "--meta", "trained_on=2026-10", "--note", "first")
	if !strings.Contains(res.stdout, "churn: added v1 (churn/v1/churn_gbm.onnx, sha256 "+fileSHA(t, gbm)[:12]) {
		t.Fatalf("add said:\n%s", res)
	}
	runModels(t, reg, 0, "add", "churn", logreg, "--version", "v2")
	for _, step := range []struct {
		args []string
		out  string
	}{
		{[]string{"promote", "churn", "v1", "--alias", "prod"}, "churn: prod (new) -> v1\n"},
		{[]string{"promote", "churn", "v2", "--alias", "prod", "--note", "better auc"}, "churn: prod v1 -> v2\n"},
		{[]string{"rollback", "churn", "--alias", "prod"}, "churn: prod v2 -> v1\n"},
	} {
		if res := runModels(t, reg, 0, step.args...); res.stdout != step.out {
			t.Fatalf("%v printed %q, want %q", step.args, res.stdout, step.out)
		}
	}

	var shown struct {
		Aliases  map[string]string `json:"aliases"`
		Versions []struct {
			Version  string            `json:"version"`
			File     string            `json:"file"`
			SHA256   string            `json:"sha256"`
			Metadata map[string]string `json:"metadata"`
			Aliases  []string          `json:"aliases"`
		} `json:"versions"`
		Changes []json.RawMessage `json:"changes"`
	}
	res = runModels(t, reg, 0, "show", "churn", "--json")
	if err := json.Unmarshal([]byte(res.stdout), &shown); err != nil {
		t.Fatalf("show --json: %v\n%s", err, res)
	}
	if shown.Aliases["prod"] != "v1" || len(shown.Versions) != 2 {
		t.Fatalf("after the rollback: %+v", shown)
	}
	v1 := shown.Versions[0]
	if v1.SHA256 != fileSHA(t, gbm) || v1.Metadata["auc"] != "0.81" || strings.Join(v1.Aliases, ",") != "prod" ||
		fileSHA(t, filepath.Join(reg, filepath.FromSlash(v1.File))) != v1.SHA256 {
		t.Fatalf("v1: %+v", v1)
	}

	var changes []struct{ Action, Alias, Version, Previous, By, Note string }
	res = runModels(t, reg, 0, "log", "churn", "--json")
	if err := json.Unmarshal([]byte(res.stdout), &changes); err != nil {
		t.Fatalf("log --json: %v\n%s", err, res)
	}
	var steps []string
	for _, c := range changes {
		steps = append(steps, c.Action+" "+c.Alias+" "+c.Version)
	}
	if got, want := strings.Join(steps, "; "), "add  v1; add  v2; promote prod v1; promote prod v2; rollback prod v1"; got != want {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want)
	}
	if changes[3].Note != "better auc" || changes[4].Previous != "v2" {
		t.Fatalf("log lines: %+v", changes)
	}
	if text := runModels(t, reg, 0, "log", "churn").stdout; strings.Count(text, "\n") != 6 { // header + 5
		t.Fatalf("log:\n%s", text)
	}

	// The environment names the registry as well as the flag.
	res = runWith(t, batchscore, append(ortEnv(t), "BATCHSCORE_REGISTRY="+reg), "models", "list")
	if res.code != 0 || !strings.Contains(res.stdout, "churn") || !strings.Contains(res.stdout, "prod=v1") {
		t.Fatalf("models list with BATCHSCORE_REGISTRY:\n%s", res)
	}
}

// TestModelsErrors checks the exit codes of command lines the registry
// refuses: 2 for what the user can fix, 1 for I/O.
func TestModelsErrors(t *testing.T) {
	t.Parallel()
	requireModelsCommand(t)
	reg := filepath.Join(t.TempDir(), "registry")
	runModels(t, reg, 0, "add", "churn", modelPath(t, "churn_gbm.onnx"), "--version", "v1")
	runModels(t, reg, 0, "promote", "churn", "v1", "--alias", "prod")

	notONNX := filepath.Join(t.TempDir(), "notes.onnx")
	if err := os.WriteFile(notONNX, []byte("this is not an ONNX model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badYAML := filepath.Join(t.TempDir(), "bad")
	if err := os.MkdirAll(badYAML, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(badYAML, "registry.yaml"), []byte("models:\n  churn:\n    versionz: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(t.TempDir(), "unreadable")
	if err := os.MkdirAll(filepath.Join(unreadable, "registry.yaml"), 0o755); err != nil { // a folder where the file should be
		t.Fatal(err)
	}

	cases := []struct {
		name string
		reg  string
		args []string
		code int
		err  []string
	}{
		{"not an ONNX file", reg, []string{"add", "churn", notONNX, "--version", "v2"}, 2, []string{"notes.onnx", "not an ONNX model"}},
		{"missing file", reg, []string{"add", "churn", filepath.Join(t.TempDir(), "nope.onnx"), "--version", "v2"}, 2, []string{"nope.onnx"}},
		{"duplicate version", reg, []string{"add", "churn", modelPath(t, "churn_logreg.onnx"), "--version", "v1"}, 2, []string{`"v1" already exists`}},
		{"no --version", reg, []string{"add", "churn", modelPath(t, "churn_logreg.onnx")}, 2, []string{"--version is required"}},
		{"bad --meta", reg, []string{"add", "churn", modelPath(t, "churn_logreg.onnx"), "--version", "v2", "--meta", "auc"}, 2, []string{"key=value"}},
		{"version escapes", reg, []string{"add", "churn", modelPath(t, "churn_logreg.onnx"), "--version", "../v2"}, 2, []string{`"../v2"`}},
		{"unknown version", reg, []string{"promote", "churn", "v9", "--alias", "prod"}, 2, []string{`no version "v9"`}},
		{"unknown model", reg, []string{"promote", "ltv", "v1", "--alias", "prod"}, 2, []string{`model "ltv" not found`}},
		{"no --alias", reg, []string{"promote", "churn", "v1"}, 2, []string{"--alias is required"}},
		{"nothing to roll back to", reg, []string{"rollback", "churn", "--alias", "prod"}, 2, []string{"no earlier version"}},
		{"unknown alias", reg, []string{"rollback", "churn", "--alias", "staging"}, 2, []string{`no alias "staging"`}},
		{"show unknown model", reg, []string{"show", "ltv"}, 2, []string{`model "ltv" not found`}},
		{"no registry", filepath.Join(t.TempDir(), "none"), []string{"list"}, 2, []string{"registry.yaml not found"}},
		{"malformed registry.yaml", badYAML, []string{"list"}, 2, []string{filepath.Join(badYAML, "registry.yaml"), "line 3", `unknown key "versionz"`}},
		{"unreadable registry.yaml", unreadable, []string{"list"}, 1, []string{"registry.yaml"}},
		{"unknown subcommand", reg, []string{"frob"}, 2, []string{`"frob"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runModels(t, tc.reg, tc.code, tc.args...)
			for _, w := range tc.err {
				if !strings.Contains(res.messages(), w) {
					t.Errorf("stderr lacks %q\n%s", w, res)
				}
			}
		})
	}
	// Nothing refused above changed the registry.
	res := runModels(t, reg, 0, "log", "churn")
	if strings.Count(res.stdout, "\n") != 3 { // header, add, promote
		t.Fatalf("log after refused commands:\n%s", res)
	}
	if res := bs(t, "models", "list"); res.code != 2 || !strings.Contains(res.stderr, "--registry DIR (or BATCHSCORE_REGISTRY) is required") {
		t.Fatalf("models list without a registry:\n%s", res)
	}
}
