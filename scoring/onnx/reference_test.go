package onnx_test

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

func class(c int64) *int64 { return &c }

// TestReproducesSklearn scores the committed sample snapshots with each
// committed model through real ONNX Runtime and compares every row with
// the probabilities scikit-learn computed when the model was built.
func TestReproducesSklearn(t *testing.T) {
	root := onnxtest.Root(t)
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	models := filepath.Join(root, "testdata", "models")
	tests := []struct {
		name      string
		model     string
		inputs    func(features []string) map[string][]string
		score     scoring.OutputRef
		label     *scoring.OutputRef
		scoreRef  string
		labelRef  string
		tolerance float64
	}{
		{
			name: "gbm [N,30] probabilities", model: "churn_gbm.onnx",
			inputs:   func(f []string) map[string][]string { return map[string][]string{"features": f} },
			score:    scoring.OutputRef{Output: "probabilities", Class: class(1)},
			label:    &scoring.OutputRef{Output: "label"},
			scoreRef: "gbm_p1", labelRef: "gbm_label", tolerance: 1e-5,
		},
		{
			name: "gbm with ZipMap", model: "churn_gbm_zipmap.onnx",
			inputs:   func(f []string) map[string][]string { return map[string][]string{"float_input": f} },
			score:    scoring.OutputRef{Output: "output_probability", Class: class(1)},
			label:    &scoring.OutputRef{Output: "output_label"},
			scoreRef: "gbm_p1", labelRef: "gbm_label", tolerance: 1e-5,
		},
		{
			name: "logistic, one [N,1] input per column", model: "churn_logreg.onnx",
			inputs: func(f []string) map[string][]string {
				m := map[string][]string{}
				for _, c := range f {
					m[c] = []string{c}
				}
				return m
			},
			score:    scoring.OutputRef{Output: "probabilities", Class: class(1)},
			label:    &scoring.OutputRef{Output: "label"},
			scoreRef: "logreg_p1", labelRef: "logreg_label", tolerance: 1e-5,
		},
		{
			name: "linear regression on a double input", model: "ltv_linear.onnx",
			inputs:   func(f []string) map[string][]string { return map[string][]string{"X": f} },
			score:    scoring.OutputRef{Output: "variable"},
			scoreRef: "ltv", tolerance: 1e-5,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(models, tc.model)
			model, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			sig, md, err := model.Inspect()
			if err != nil {
				t.Fatal(err)
			}
			features := strings.Split(md.Custom["features"], ",")
			if len(features) < 5 {
				t.Fatalf("model metadata lists features %q", md.Custom["features"])
			}
			binding, err := scoring.Bind(sig, scoring.Wiring{Inputs: tc.inputs(features), Score: tc.score, Label: tc.label})
			if err != nil {
				t.Fatal(err)
			}
			sess, err := model.Open(binding, onnx.Options{IntraOpThreads: 1, Optimization: "all"})
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			for _, date := range []string{"2026-11-18", "2026-11-19", "2026-11-20"} {
				ref := readReference(t, filepath.Join(models, "reference_"+date+".csv"))
				got := scoreSnapshot(t, filepath.Join(root, "testdata", "customers", "snapshot_date="+date, "*.parquet"),
					sess.Feed(), sess, append([]string{"customer_id"}, binding.Columns()...))
				if len(got) != len(ref) {
					t.Fatalf("%s: scored %d rows, reference has %d", date, len(got), len(ref))
				}
				worst := 0.0
				for id, r := range ref {
					g, ok := got[id]
					if !ok {
						t.Fatalf("%s: customer %d not scored", date, id)
					}
					worst = math.Max(worst, math.Abs(g.score-r[tc.scoreRef]))
					if tc.labelRef != "" && float64(g.label) != r[tc.labelRef] {
						t.Errorf("%s: customer %d label %d, sklearn %v", date, id, g.label, r[tc.labelRef])
					}
				}
				if worst > tc.tolerance {
					t.Errorf("%s: max |score - sklearn| = %g > %g", date, worst, tc.tolerance)
				}
				t.Logf("%s: %d rows, max |score - sklearn| = %.3g", date, len(got), worst)
			}
		})
	}
}

type scoredRow struct {
	score float64
	label int64
}

func scoreSnapshot(t *testing.T, glob string, b *scoring.Binding, sess scoring.Session, cols []string) map[int64]scoredRow {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	src, err := parquetio.Open(glob)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckSchema(src.Schema(), src.Where()); err != nil {
		t.Fatal(err)
	}
	in := make(chan scoring.Chunk, 4)
	out := make(chan scoring.Scored, 64)
	scorer := &scoring.Scorer{Session: sess, Binding: b, Mem: mem}
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		errc <- scorer.Pool(ctx, 2, in, out)
		close(out)
	}()
	go func() {
		var seq int64
		// Small chunks so that several workers and partial chunks are exercised.
		err := src.Read(ctx, cols, 300, mem, func(rec arrow.Record, file string, off int64) error {
			in <- scoring.Chunk{Seq: seq, Record: rec, File: file, Offset: off}
			seq++
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		close(in)
	}()
	got := map[int64]scoredRow{}
	for s := range out {
		ids := s.Record.Column(0).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			r := scoredRow{score: s.Score.Value(i)}
			if s.Label != nil {
				r.label = s.Label.(*array.Int64).Value(i)
			}
			got[ids.Value(i)] = r
		}
		s.Release()
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return got
}

func readReference(t *testing.T, path string) map[int64]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]float64{}
	for _, row := range rows[1:] {
		id, _ := strconv.ParseInt(row[0], 10, 64)
		vals := map[string]float64{}
		for j, name := range rows[0][1:] {
			v, err := strconv.ParseFloat(row[j+1], 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			vals[name] = v
		}
		out[id] = vals
	}
	return out
}
