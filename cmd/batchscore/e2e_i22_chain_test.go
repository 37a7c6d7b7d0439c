package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/scoring/explain"
)

// TestI22ExplainChains: a model whose categorical splits are BRANCH_EQ
// chains sharing their true child (LightGBM's, as onnxmltools writes them:
// testdata/models/build_chain.py). `batchscore covers` over its training
// rows writes exactly the covers LightGBM would give (the chains' other
// nodes left out); a run scored by ONNX Runtime explains every row, NaN
// categories included, and bias + Σ shap is each row's published score.
// A node shared by splits on two features is exit 2, naming tree and node.
func TestI22ExplainChains(t *testing.T) {
	t.Parallel()
	models := filepath.Join(repoRoot(t), "testdata", "models", "explain")
	dir := t.TempDir()
	features := []string{"f0", "f1", "f2", "f3", "f4", "f5"}
	train := filepath.Join(dir, "train", "part-0.parquet")
	chainSnapshot(t, filepath.Join(models, "chain_train.f32"), train)
	chainSnapshot(t, filepath.Join(models, "chain_inputs.f32"), filepath.Join(dir, "snap", "snapshot_date="+date20, "part-0.parquet"))
	covers := filepath.Join(dir, "covers.json")
	model := filepath.Join(models, "chain.onnx")
	res := bs(t, "covers", model, "--data", train, "--inputs", strings.Join(features, ","), "--out", covers)
	if res.code != 0 {
		t.Fatalf("covers: exit %d\n%s", res.code, res)
	}
	got, _, err := explain.ReadCovers(covers)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := explain.ReadCovers(filepath.Join(models, "chain.covers.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("covers\n%v\nbuild_chain.py\n%v", got, want)
	}

	job := filepath.Join(dir, "job.yaml")
	yaml := fmt.Sprintf("name: chains\nsource:\n  parquet: %q\nmodel:\n  path: %q\n  inputs:\n    X: [%s]\n  score: {output: variable}\noutput:\n  table: %q\n  keys: [row_id]\nscoring:\n  engine: onnxruntime\nexplain:\n  top: 2\n  covers: %q\n  values: true\n",
		filepath.Join(dir, "snap", "snapshot_date={{ .Date }}", "*.parquet"),
		model, strings.Join(features, ", "), filepath.Join(dir, "table"), covers)
	if err := os.WriteFile(job, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	res = bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if x := m.Explain; x == nil || x.Rows != 300 || x.MaxAdditivityError > 1e-9 || !strings.HasPrefix(m.Model.Engine, "onnxruntime") {
		t.Fatalf("explain %+v, engine %q", m.Explain, m.Model.Engine)
	}
	files, _ := filepath.Glob(filepath.Join(m.Explain.Path, "*.parquet"))
	if len(files) != 1 {
		t.Fatalf("explanation files %v", files)
	}
	tbl := readParquet(t, files[0])
	score, bias := column(t, tbl, "score").(*array.Float64), column(t, tbl, "bias").(*array.Float64)
	moved := 0
	for i := range score.Len() {
		margin := bias.Value(i)
		for _, f := range features {
			v := column(t, tbl, "shap_"+f).(*array.Float64).Value(i)
			margin += v
			if f == "f0" && v != 0 {
				moved++
			}
		}
		if d := math.Abs(margin - score.Value(i)); d > 1e-6*(1+math.Abs(margin)) {
			t.Fatalf("row %d: bias + Σ shap = %v, ONNX Runtime's score %v", i, margin, score.Value(i))
		}
	}
	if moved < 250 {
		t.Fatalf("the categorical f0 moved only %d of 300 rows", moved)
	}

	res = bs(t, "covers", filepath.Join(models, "chain_bad.onnx"), "--data", train, "--inputs", strings.Join(features, ","), "--out", filepath.Join(dir, "bad.json"))
	if res.code != 2 || !strings.Contains(res.stderr, "node 1 of tree 0 is the true child of node 0 of tree 0 (feature 0) and node 2 of tree 0 (feature 1)") {
		t.Fatalf("a shared node that is no chain: exit %d\n%s", res.code, res)
	}
}

// chainSnapshot writes build_chain.py's float32 rows (6 features) as one
// Parquet file with a row_id (NaN kept: a null model input is refused).
func chainSnapshot(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	const width = 6
	fields := []arrow.Field{{Name: "row_id", Type: arrow.PrimitiveTypes.Int64}}
	for f := range width {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", f), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	defer b.Release()
	for r := range len(raw) / (4 * width) {
		b.Field(0).(*array.Int64Builder).Append(int64(r))
		for f := range width {
			v := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(r*width+f):]))
			b.Field(1 + f).(*array.Float64Builder).Append(float64(v))
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	writeParquet(t, to, rec)
}
