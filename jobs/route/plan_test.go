package route

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/resume"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

// flakySession fails its first call, returns NaN for row 1 on the second,
// and scores every row after.
type flakySession struct{ calls int }

func (s *flakySession) Run(_ context.Context, in []scoring.Tensor) ([]scoring.Output, error) {
	s.calls++
	if s.calls == 1 {
		return nil, errors.New("session exploded")
	}
	n := int(in[0].Shape[0])
	out := make([]float32, n)
	for i := range out {
		out[i] = 0.9
	}
	if s.calls == 2 {
		out[1] = float32(math.NaN())
	}
	return []scoring.Output{{Float32: out}}, nil
}

func (s *flakySession) Close() error { return nil }

func TestPlanFallsBackOnFailedChunksAndNaN(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	sig := scoring.Signature{
		Inputs:  []scoring.Port{{Name: "x", Kind: scoring.KindTensor, Elem: scoring.Float, Shape: []int64{-1, 1}}},
		Outputs: []scoring.Port{{Name: "y", Kind: scoring.KindTensor, Elem: scoring.Float, Shape: []int64{-1}}},
	}
	binding, err := scoring.Bind(sig, scoring.Wiring{Inputs: map[string][]string{"x": {"x"}}, Score: scoring.OutputRef{Output: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	value := 0.1
	p := &Plan{
		scorer:   &scoring.Scorer{Session: &flakySession{}, Binding: binding, Mem: mem, AllowNaN: true},
		fallback: &fallback{spec: &spec.Fallback{Kind: spec.FallbackConstant, Value: &value}, source: "fallback:constant", mem: mem, chunkRows: 3},
	}
	var seq int64
	chunk := func() scoring.Chunk {
		defer func() { seq++ }()
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues([]float64{1, 2, 3}, nil)
		col := b.NewArray()
		defer col.Release()
		schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
		return scoring.Chunk{Seq: seq, Record: array.NewRecord(schema, []arrow.Array{col}, 3), File: "f.parquet"}
	}
	// Only what a rerun would score the same way is saved for resuming:
	// not the chunk whose inference failed.
	tbl, err := table.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	p.SaveTo(resume.Open(tbl, resume.Identity{RunID: "run"}, mem, slog.New(slog.DiscardHandler)))
	saved := func(seq int) string {
		return filepath.Join(tbl.Root, resume.Dir, "run", fmt.Sprintf("chunk-%08d.sha256", seq))
	}
	var buf scoring.Buffers
	check := func(wantScores []float64, wantSources []string) {
		t.Helper()
		sc, err := p.Score(context.Background(), chunk(), &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Release()
		for i, w := range wantScores {
			if got := sc.Score.Value(i); math.Abs(got-w) > 1e-6 || sc.Source.Value(i) != wantSources[i] {
				t.Errorf("row %d: %v from %s, want %v from %s", i, got, sc.Source.Value(i), w, wantSources[i])
			}
		}
	}
	check([]float64{0.1, 0.1, 0.1}, []string{"fallback:constant", "fallback:constant", "fallback:constant"}) // inference failed
	check([]float64{0.9, 0.1, 0.9}, []string{"model", "fallback:constant", "model"})                         // row 1 NaN
	check([]float64{0.9, 0.9, 0.9}, []string{"model", "model", "model"})                                     // all scored
	defer p.fallback.release()
	if _, err := os.Stat(saved(0)); err == nil {
		t.Error("a chunk the fallback scored after an inference failure was saved for resuming")
	}
	if _, err := os.Stat(saved(1)); err != nil {
		t.Errorf("a chunk the model scored (one NaN row, deterministic) was not saved: %v", err)
	}
	s := p.fallback.summary(p.fallback.rows.Load(), 6)
	if s.Rows != 4 || s.Triggers[TriggerInference] != 3 || s.Triggers[TriggerNaN] != 1 || len(s.Errors) != 2 {
		t.Fatalf("summary %+v", s)
	}
	if err := p.fallback.gate(s.Rows, 6); err == nil || !errors.Is(err, ErrFallback) {
		t.Fatalf("4 of 6 rows over the default limit: %v", err)
	}
}

// A scored chunk waiting for the writer keeps its keys and marks only: the
// features' buffers go back as soon as it is scored.
func TestKeepColumnsReleasesTheRest(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	column := func(vals ...float64) arrow.Array {
		b := array.NewFloat64Builder(mem)
		defer b.Release()
		b.AppendValues(vals, nil)
		return b.NewArray()
	}
	key := column(1, 2, 3)
	keyBytes := mem.CurrentAlloc()
	feature := column(4, 5, 6)
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Float64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64},
	}, nil)
	rec := array.NewRecord(schema, []arrow.Array{key, feature}, 3)
	key.Release()
	feature.Release()

	kept := keepColumns(rec, []string{"id", output.FlagsColumn})
	defer kept.Release()
	if kept.NumCols() != 1 || kept.ColumnName(0) != "id" || kept.NumRows() != 3 {
		t.Fatalf("kept %v", kept.Schema())
	}
	if got := kept.Column(0).(*array.Float64).Float64Values(); got[2] != 3 {
		t.Fatalf("id column = %v", got)
	}
	// Only the key's buffer is still allocated: the feature's went back.
	if mem.CurrentAlloc() != keyBytes {
		t.Fatalf("%d bytes still allocated, the key column has %d", mem.CurrentAlloc(), keyBytes)
	}
}

// A model named by path keeps the run id it had before registry versions
// joined it; a registry model's version name is part of it.
func TestModelHashesNameRegistryVersions(t *testing.T) {
	p := &Plan{}
	m := &report.Manifest{Model: report.Model{SHA256: "abc"}}
	if got := p.ModelHashes(&m.Model, ""); got != "abc" {
		t.Errorf("path model: %q, want abc", got)
	}
	m.Model.Registry = &report.RegistryEntry{Name: "churn", Version: "v3"}
	v3 := p.ModelHashes(&m.Model, "")
	m.Model.Registry.Version = "v1"
	if v1 := p.ModelHashes(&m.Model, ""); v1 == v3 || v3 != "abc@churn:v3" {
		t.Errorf("registry versions v1 %q and v3 %q", v1, v3)
	}
}
