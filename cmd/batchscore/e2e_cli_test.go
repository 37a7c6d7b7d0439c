package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLI checks the commands a user types before writing a job file, and
// the exit codes of command lines that cannot run.
func TestCLI(t *testing.T) {
	t.Parallel()
	garbage := filepath.Join(t.TempDir(), "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("this is not an ONNX model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gbm := modelPath(t, "churn_gbm.onnx")
	cases := []cliCase{
		{
			name: "--help", args: []string{"--help"},
			out: []string{"Usage:", "batchscore [command]", "run ", "inspect ", "version ", "Exit codes", "130", "--ort-lib"},
		},
		{
			name: "help run", args: []string{"help", "run"},
			out: []string{"batchscore run JOB.yaml", "--date", "--json", "--workers", "--trigger", "Exit codes", "130", "Examples:"},
		},
		{
			name: "help inspect", args: []string{"help", "inspect"},
			out: []string{"batchscore inspect MODEL.onnx", "--json", "ZipMap"},
		},
		{
			// version works where ONNX Runtime is not installed.
			name: "version", args: []string{"version"}, noORT: true,
			out: []string{"batchscore ", "go go1.", "onnxruntime 1.24.1"},
		},
		{
			name: "--version", args: []string{"--version"}, noORT: true,
			out: []string{"batchscore "},
		},
		{
			name: "inspect", args: []string{"inspect", gbm},
			out: []string{
				"model:  " + gbm, "sha256: " + fileSHA(t, gbm),
				"inputs:\n  features: float[N,30]\n",
				"outputs:\n  label: int64[N]\n  probabilities: float[N,2]\n",
				"producer:    batchscore build_models.py", "graph:       churn_gbm", "version:     1",
				"model_name = churn_gbm\n", "positive_class = 1\n", "features = tenure_months,age,",
				"native engine: yes: TreeEnsembleClassifier", "200 trees", "a job scores it natively when it feeds features as float [N,F]",
			},
		},
		{
			name: "inspect zipmap", args: []string{"inspect", modelPath(t, "churn_gbm_zipmap.onnx")},
			out: []string{"float_input: float[N,30]", "output_label: int64[N]", "output_probability: sequence", "native engine: yes: "},
		},
		{
			name: "inspect per-column inputs", args: []string{"inspect", modelPath(t, "churn_logreg.onnx")},
			out: []string{"  tenure_months: int64[N,1]\n", "  monthly_charges: float[N,1]\n", "  months_to_contract_end: float[N,1]\n",
				// A linear model: ONNX Runtime's, the native engine scores trees only.
				"native engine: no (ONNX Runtime scores it): native engine cannot score this model: tree ensemble not supported: no TreeEnsembleClassifier or TreeEnsembleRegressor node"},
		},
		{
			name: "inspect double input", args: []string{"inspect", modelPath(t, "ltv_linear.onnx")},
			out: []string{"X: double[N,5]", "variable: float[N,1]"},
		},
		{
			name: "inspect missing model", args: []string{"inspect", filepath.Join(t.TempDir(), "nope.onnx")},
			code: 2, err: []string{"nope.onnx", "not found"},
		},
		{
			name: "inspect garbage model", args: []string{"inspect", garbage},
			code: 1, err: []string{"garbage.onnx", "cannot be loaded"},
		},
		{
			name: "inspect without ORT", args: []string{"inspect", gbm}, noORT: true,
			code: 1, err: []string{"BATCHSCORE_ORT_LIB", "--ort-lib"},
		},
		{
			name: "run with no arguments", args: []string{"run"},
			code: 2, err: []string{"accepts 1 arg", "batchscore help run"}, notOut: []string{"{"},
		},
		{
			name: "run with two job files", args: []string{"run", "a.yaml", "b.yaml"},
			code: 2, err: []string{"batchscore help run"},
		},
		{
			name: "inspect with no arguments", args: []string{"inspect"},
			code: 2, err: []string{"batchscore help inspect"},
		},
		{
			name: "unknown flag", args: []string{"run", "--no-such-flag", "job.yaml"},
			code: 2, err: []string{"--no-such-flag"},
		},
		{
			name: "unknown command", args: []string{"rnu", "job.yaml"},
			code: 2, err: []string{`unknown command "rnu"`},
		},
		{
			name: "missing job file", args: []string{"run", filepath.Join(t.TempDir(), "nightly.yaml"), "--date", date20},
			code: 2, err: []string{"nightly.yaml"},
		},
		{
			name: "bad --trigger", args: []string{"run", filepath.Join(repoRoot(t), "configs", "churn_nightly.yaml"), "--date", date20, "--trigger", "cron"},
			code: 2, err: []string{"--trigger", "cron"},
		},
		{
			name: "bad --log-level", args: []string{"run", filepath.Join(repoRoot(t), "configs", "churn_nightly.yaml"), "--date", date20, "--log-level", "loud"},
			code: 2, err: []string{"--log-level", "loud"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runCLICase(t, tc)
		})
	}
}

type cliCase struct {
	name  string
	args  []string
	noORT bool // run without any ONNX Runtime library available
	code  int
	// out must appear on stdout, err on stderr (user-facing messages).
	out, err []string
	notOut   []string
}

// runCLICase runs the binary with tc's arguments and checks its exit code,
// its output and that no panic reached the user.
func runCLICase(t *testing.T, tc cliCase) {
	var res result
	if tc.noORT {
		res = runWith(t, batchscore, baseEnv(), tc.args...)
	} else {
		res = bs(t, tc.args...)
	}
	if res.code != tc.code {
		t.Errorf("exit %d, want %d\n%s", res.code, tc.code, res)
	}
	for _, w := range tc.out {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, res.stdout)
		}
	}
	for _, w := range tc.notOut {
		if strings.Contains(res.stdout, w) {
			t.Errorf("stdout holds %q:\n%s", w, res.stdout)
		}
	}
	msgs := res.messages()
	for _, w := range tc.err {
		if !strings.Contains(msgs, w) {
			t.Errorf("stderr lacks %q:\n%s", w, msgs)
		}
	}
	if strings.Contains(res.stderr, "panic:") {
		t.Errorf("panic:\n%s", res.stderr)
	}
}

// TestInspectJSON checks that inspect --json is one JSON document with the
// signature and metadata a job file is written from.
func TestInspectJSON(t *testing.T) {
	t.Parallel()
	gbm := modelPath(t, "churn_gbm.onnx")
	res := bs(t, "inspect", gbm, "--json")
	if res.code != 0 {
		t.Fatalf("inspect --json failed\n%s", res)
	}
	type port struct {
		Name  string  `json:"name"`
		Kind  string  `json:"kind"`
		Elem  string  `json:"elem_type"`
		Shape []int64 `json:"shape"`
	}
	var doc struct {
		Path      string `json:"path"`
		SHA256    string `json:"sha256"`
		Signature struct {
			Inputs  []port `json:"inputs"`
			Outputs []port `json:"outputs"`
		} `json:"signature"`
		Metadata struct {
			Producer string            `json:"producer"`
			Version  int64             `json:"version"`
			Custom   map[string]string `json:"custom"`
		} `json:"metadata"`
		Native struct {
			Eligible bool   `json:"eligible"`
			Detail   string `json:"detail"`
		} `json:"native_engine"`
	}
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("inspect --json is not JSON: %v\n%s", err, res.stdout)
	}
	if dec.More() {
		t.Error("inspect --json printed more than one document")
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, res.stdout)
	}
	if doc.Path != gbm || doc.SHA256 != fileSHA(t, gbm) {
		t.Errorf("path %q sha256 %q", doc.Path, doc.SHA256)
	}
	if !doc.Native.Eligible || !strings.Contains(doc.Native.Detail, "200 trees") {
		t.Errorf("native_engine %+v, want eligible with 200 trees", doc.Native)
	}
	in := doc.Signature.Inputs
	if len(in) != 1 || in[0].Name != "features" || in[0].Kind != "tensor" || in[0].Elem != "float" ||
		len(in[0].Shape) != 2 || in[0].Shape[0] != -1 || in[0].Shape[1] != 30 {
		t.Errorf("inputs %+v, want features float [-1,30]", in)
	}
	outs := map[string]port{}
	for _, p := range doc.Signature.Outputs {
		outs[p.Name] = p
	}
	if p := outs["probabilities"]; p.Elem != "float" || len(p.Shape) != 2 || p.Shape[1] != 2 {
		t.Errorf("probabilities output %+v, want float [-1,2]", p)
	}
	if p := outs["label"]; p.Elem != "int64" || len(p.Shape) != 1 {
		t.Errorf("label output %+v, want int64 [-1]", p)
	}
	if doc.Metadata.Producer != "batchscore build_models.py" || doc.Metadata.Version != 1 ||
		doc.Metadata.Custom["model_name"] != "churn_gbm" || !strings.HasPrefix(doc.Metadata.Custom["features"], "tenure_months,age,") {
		t.Errorf("metadata %+v", doc.Metadata)
	}
	if res.stderr != "" {
		t.Errorf("inspect --json wrote to stderr: %s", res.stderr)
	}
}
