package report

import (
	"bytes"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// manifestFixture fills every field of every section of a manifest, so
// that the golden file shows any change of the on-disk format.
func manifestFixture() *Manifest {
	at := time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)
	file := func(name string) File { return File{Name: name, Rows: 10, Bytes: 2048, SHA256: "ab12"} }
	model := func(path string) Model {
		return Model{
			Path: path, SHA256: "cd34", Version: "churn:v3",
			Signature: &Signature{
				Inputs:  []Port{{Name: "x", Kind: "tensor", Elem: "float", Shape: []int64{-1, 4}}},
				Outputs: []Port{{Name: "y", Kind: "tensor", Elem: "float", Shape: []int64{-1}}},
			},
			Metadata: &ModelMetadata{Producer: "skl2onnx", GraphName: "g", Domain: "ai.onnx", Description: "churn", Version: 3, Custom: map[string]string{"trained": "2026-03-01"}},
			Rewrites: []string{"zipmap read as its probability tensor"},
			Engine:   "native",
			Registry: &RegistryEntry{Dir: "/models", Name: "churn", Alias: "production", Version: "v3", Policy: "as-of-date", AsOf: at},
			Error:    "model.onnx: checksum mismatch",
		}
	}
	shard := ShardRef{
		Index: 1, Count: 4, Version: "20260314T020000Z-1", Rows: 250, Path: "/t/_shards/1", Host: "worker-1",
		Parts: []ShardPart{{File: "part-0.parquet", RowGroups: []int{2, 3}, Rows: 250}},
		Query: "SELECT * FROM customers", Fingerprint: "sha256:ef56",
	}
	nullKeys := int64(2)
	fallbackModel := model("fallback.onnx")
	return &Manifest{
		Job: "churn_nightly", JobFile: "/jobs/churn.yaml", LogicalDate: "2026-03-13", RunID: "9f86d081884c7d65",
		Version: "20260314T020000Z", Trigger: "schedule", Status: StatusSucceeded, ExitCode: 3, Error: "gate",
		StartedAt: at, FinishedAt: at.Add(time.Minute),
		Stages:     []Stage{{Name: "model", Seconds: 0.5}},
		Busy:       []Busy{{Stage: "score", Seconds: 1.5, Share: 0.75, Workers: 2}},
		Binary:     Binary{Version: "v1.2.3", GoVersion: "go1.26", ORTVersion: "1.24.1", ORTLibrary: "/lib/libonnxruntime.so", Workers: 2, ChunkRows: 65536, IntraThread: 1},
		ConfigHash: "sha256:0a1b",
		Model:      model("model.onnx"),
		Source: Source{
			Kind: "parquet", Pattern: "/data/*.parquet", Driver: "postgres", Query: "SELECT 1", Params: map[string]string{"date": "2026-03-13"},
			Files: []SourceFile{{Name: "part-0.parquet", Size: 4096, Rows: 1000, SHA256: "1234", Partition: map[string]string{"region": "eu"}}},
			Rows:  1000, Fingerprint: "sha256:5678",
		},
		Counts:          Counts{Read: 1000, Valid: 990, Quarantined: 10, Scored: 980, Fallback: 10, Written: 990, Imputed: 3, Clipped: 4},
		NonFiniteInputs: map[string]NonFinite{"x": {NaN: 1, PosInf: 2, NegInf: 3, BeyondFloat32: 4}},
		Output: Output{
			Table: "/tables/churn", Version: "20260314T020000Z", Path: "/tables/churn/versions/2026-03-13/20260314T020000Z",
			CurrentLink: "/tables/churn/current/2026-03-13", Published: true,
			URL: "s3://bucket/churn/versions/2026-03-13/20260314T020000Z", CurrentURL: "s3://bucket/churn/current/2026-03-13.json",
			Files: []File{file("part-00000.parquet")}, QuarantineFiles: []File{file("part-00000.parquet")},
			QuarantinePath: "/tables/churn/versions/2026-03-13/20260314T020000Z/_quarantine", ReusedChunks: 2,
			SQL: &SQLOutput{Driver: "postgres", Table: "scores", Rows: 990, Published: true},
		},
		Validation: Summary{
			Rules: 4, Passed: true, MaxInvalidFraction: 0.05, InvalidFraction: 0.01,
			Breaches: []string{"null_rate(x) 0.2 > 0.1"}, Warnings: []string{"baseline is old"},
			Baseline: "/baselines/churn.json", PreviousVersion: "20260313T020000Z",
			Report: "report.json", ReportHTML: "report.html", NullKeys: &nullKeys,
		},
		Challenger: &Challenger{
			Model: model("challenger.onnx"), Status: ChallengerCompared, Error: "none",
			Rows: 980, MeanAbsDiff: 0.01, MaxAbsDiff: 0.2, Spearman: 0.98, TopDecileOverlap: 0.9, SampleRows: 980,
			Threshold: 0.5, Flipped: 12, FlippedUp: 7, FlippedDown: 5,
			Histogram: []ShadowBin{{Lo: 0.1, Hi: 0.2, Champion: 100, Challenger: 98}},
			Path:      "/tables/churn/versions/2026-03-13/20260314T020000Z/_shadow", Files: []File{file("part-00000.parquet")},
			Rollout: &Rollout{Share: 0.05, Salt: "churn-2026-12", Status: RolloutActive, Reason: "challenger: chunk 3 failed",
				Assigned: 50, Arms: map[string]int64{"champion": 950, "challenger": 48}, FellBack: 2, Limit: 0.1},
		},
		Fallback: &Fallback{
			Kind: "model", Rows: 10, Fraction: 0.0101, Limit: 0.05, Triggers: map[string]int64{"nan": 10},
			CarriedFrom: "20260313T020000Z", Model: &fallbackModel, Errors: []string{"nan: 10 rows"},
		},
		Arms: &Arms{Salt: "churn-ab-2026-12", Default: "control", Limit: 0.1, Arms: []Arm{
			{Name: "control", Share: 0.5, Model: model("churn_gbm.onnx"), Status: ArmFailed, Error: "none", Assigned: 500, Published: 502, FellBack: 1},
			{Name: "logreg", Share: 0.5, Model: model("challenger.onnx"), Status: ArmFailed, Error: "arm logreg: chunk 3 failed",
				Assigned: 498, Published: 496, FellBack: 2},
		}},
		Review: &Review{
			Rows: 5, Reasons: map[string]int64{"low_confidence": 5},
			Path: "/tables/churn/versions/2026-03-13/20260314T020000Z/_review", Files: []File{file("part-00000.parquet")},
		},
		Explain: &Explanation{
			Method: "tree_shap_path_dependent", Space: ExplainSpaceMargin,
			Covers: "/models/churn_gbm.covers.json", CoversSHA256: "c0ffee",
			Rows: 900, Skipped: 90, FallbackRows: 10, MaxAdditivityError: 2.2e-16,
			Importance: []Importance{{Column: "tenure_months", MeanAbs: 0.41}},
			Reasons:    map[string]int64{"R01": 612},
			Path:       "/tables/churn/versions/2026-03-13/20260314T020000Z/_explanations", Files: []File{file("part-00000.parquet")},
		},
		Shard:  &shard,
		Shards: []ShardRef{shard},
	}
}

// The manifest's JSON is the on-disk format readers rely on: any change
// to it shows here, in review, as a change of the golden file.
func TestManifestGolden(t *testing.T) {
	m := manifestFixture()
	if empty := zeroFields(reflect.ValueOf(m).Elem(), "Manifest"); len(empty) > 0 {
		t.Fatalf("the fixture leaves fields empty, which the golden file would not pin: %v", empty)
	}
	got, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifest.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./jobs/report -run TestManifestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("manifest JSON differs from %s (rerun with -update if the format change is meant):\n%s", golden, got)
	}
	var back Manifest
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("the JSON does not decode into a Manifest: %v", err)
	}
	if again, _ := back.JSON(); !bytes.Equal(again, got) {
		t.Error("decoding and encoding again changes the JSON")
	}
}

// zeroFields names the fields under v (a struct) left at their zero
// value, following pointers, slices' first elements and maps' values.
func zeroFields(v reflect.Value, path string) []string {
	var out []string
	for i := 0; i < v.NumField(); i++ {
		f, name := v.Field(i), path+"."+v.Type().Field(i).Name
		if !v.Type().Field(i).IsExported() {
			continue
		}
		if f.IsZero() {
			out = append(out, name)
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			if f.Elem().Kind() == reflect.Struct {
				out = append(out, zeroFields(f.Elem(), name)...)
			}
		case reflect.Struct:
			if f.Type() != reflect.TypeOf(time.Time{}) {
				out = append(out, zeroFields(f, name)...)
			}
		case reflect.Slice:
			if e := f.Index(0); e.Kind() == reflect.Struct {
				out = append(out, zeroFields(e, name+"[0]")...)
			}
		case reflect.Map:
			if e := f.MapIndex(f.MapKeys()[0]); e.Kind() == reflect.Struct {
				out = append(out, zeroFields(e, name+"[]")...)
			}
		}
	}
	return out
}

// The manifest's types are its own: a type from io/ or scoring/ in it
// would let a change there change the on-disk format unseen.
func TestManifestImportsNoIOOrScoring(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			for _, below := range []string{"/io/", "/scoring"} {
				if strings.Contains(imp.Path.Value, "github.com/batchscore/batchscore"+below) {
					t.Errorf("%s imports %s", name, imp.Path.Value)
				}
			}
		}
	}
}

// A canary and arms read the same per arm: show, runs, the report and
// the metrics use Rollout.
func TestRolloutViewAndMetrics(t *testing.T) {
	m := manifestFixture()
	v := m.Rollout()
	if v == nil || v.Kind != "arms" || len(v.Arms) != 2 || v.Arms[1] != (ArmCount{Name: "logreg", Version: "churn:v3", Share: 0.5, Assigned: 498, Published: 496, FellBack: 2}) {
		t.Fatalf("arms view: %+v", v)
	}
	text := string(m.Metrics(time.Time{}))
	for _, want := range []string{`batchscore_rollout_rows{batchscore_job="churn_nightly",kind="arms",arm="logreg",outcome="fell_back"} 2`,
		`batchscore_rollout_share{batchscore_job="churn_nightly",kind="arms",arm="control"} 0.5`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
	m.Arms = nil
	v = m.Rollout()
	if v == nil || v.Kind != "canary" || v.Arms[1].Assigned != 50 || v.Arms[1].FellBack != 2 || v.Arms[0].Assigned != 948 || v.Arms[0].Published != 950 {
		t.Fatalf("canary view: %+v", v)
	}
}

// A commit's arms are its shards' summed.
func TestMergeArms(t *testing.T) {
	one := manifestFixture().Arms
	one.Arms[0].Status, one.Arms[0].Error = ArmActive, ""
	got := MergeArms(MergeArms(nil, one), manifestFixture().Arms)
	if a := got.Arms[1]; a.Assigned != 996 || a.Published != 992 || a.FellBack != 4 || got.Arms[0].Status != ArmFailed || one.Arms[0].Assigned != 500 {
		t.Errorf("merged %+v", got)
	}
}
