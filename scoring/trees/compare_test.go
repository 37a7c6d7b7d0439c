package trees

import (
	"fmt"
	"testing"
)

// diff counts where this package and ONNX Runtime disagree on some rows.
type diff struct {
	rows      int
	labels    int   // rows with another label
	probs     int   // probabilities not equal to the bit
	scores    int   // raw scores (margin) not equal to the bit
	maxULP    int64 // largest distance of a probability, in float32 steps
	positives int   // rows labelled classlabels[1]
}

func (d diff) String() string {
	return fmt.Sprintf("%d rows (%d positive): %d labels, %d probabilities (max %d ulp), %d raw scores differ",
		d.rows, d.positives, d.labels, d.probs, d.maxULP, d.scores)
}

func (d diff) zero() bool { return d.labels == 0 && d.probs == 0 && d.scores == 0 }

// compareORT scores x ([rows,width]) with model through this package and
// through ONNX Runtime, and counts differences. For a classifier the raw
// score is ORT's probabilities[:,1] of the same model with post_transform
// NONE ([-s, s], or [1-s, s] with non-negative weights: s either way).
// sessions, if given, reuses ORT sessions for the model and its NONE twin.
func compareORT(t testing.TB, model []byte, x []float32, rows, width int) diff {
	t.Helper()
	e, err := Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if e.general {
		return comparePredict(t, e, model, x, rows, width)
	}
	d := diff{rows: rows}
	score := make([]float32, rows)
	if e.Op == Regressor {
		if err := e.Scores(x, width, score); err != nil {
			t.Fatal(err)
		}
		s := newORTSession(t, model, e.Input, e.Outputs)
		defer s.Close()
		y := s.run(t, x, rows, width)[0].f32
		for i := range rows {
			if !sameFloat(score[i], y[i]) {
				if d.scores < 5 {
					t.Logf("row %d %v: Y %v, ORT %v", i, x[i*width:(i+1)*width], score[i], y[i])
				}
				d.scores++
			}
		}
		return d
	}
	label, prob := make([]int64, rows), make([]float32, 2*rows)
	if err := e.Classify(x, width, score, label, prob); err != nil {
		t.Fatal(err)
	}
	s := newORTSession(t, model, e.Input, e.Outputs)
	defer s.Close()
	out := s.run(t, x, rows, width)
	none := newORTSession(t, editTreeAttr(t, model, "post_transform", stringAttr("post_transform", "NONE")), e.Input, e.Outputs)
	defer none.Close()
	raw := none.run(t, x, rows, width)[1].f32
	for i := range rows {
		if label[i] == e.Labels[1] {
			d.positives++
		}
		if label[i] != out[0].i64[i] {
			if d.labels < 5 {
				t.Logf("row %d: label %d, ORT %d (score %v)", i, label[i], out[0].i64[i], score[i])
			}
			d.labels++
		}
		if !sameFloat(score[i], raw[2*i+1]) {
			if d.scores < 5 {
				t.Logf("row %d %v: score %v, ORT %v", i, x[i*width:(i+1)*width], score[i], raw[2*i+1])
			}
			d.scores++
		}
		for k := range 2 {
			a, b := prob[2*i+k], out[1].f32[2*i+k]
			if u := ulps(a, b); u != 0 {
				if d.probs < 5 {
					t.Logf("row %d: p%d %v, ORT %v (score %v)", i, k, a, b, score[i])
				}
				d.probs++
				d.maxULP = max(d.maxULP, u)
			}
		}
	}
	return d
}

// comparePredict compares Predict's outputs (label and probabilities, or
// Y) with ONNX Runtime's on the same rows; a float differing counts in
// probs (classifier) or scores (regressor).
func comparePredict(t testing.TB, e *Ensemble, model []byte, x []float32, rows, width int) diff {
	t.Helper()
	d := diff{rows: rows}
	cols := e.Columns()
	out := make([]float32, rows*cols)
	var label []int64
	if e.Op == Classifier {
		label = make([]int64, rows)
	}
	if err := e.Predict(x, width, label, out); err != nil {
		t.Fatal(err)
	}
	s := newORTSession(t, model, e.Input, e.Outputs)
	defer s.Close()
	ref := s.run(t, x, rows, width)
	want := ref[len(ref)-1].f32
	if len(want) != len(out) {
		t.Fatalf("ORT wrote %d floats, Predict %d", len(want), len(out))
	}
	for i := range rows {
		if label != nil {
			if label[i] == e.ClassLabels[len(e.ClassLabels)-1] {
				d.positives++
			}
			if label[i] != ref[0].i64[i] {
				if d.labels < 5 {
					t.Logf("row %d: label %d, ORT %d (out %v, ORT %v)", i, label[i], ref[0].i64[i], out[i*cols:(i+1)*cols], want[i*cols:(i+1)*cols])
				}
				d.labels++
			}
		}
		for k := range cols {
			a, b := out[i*cols+k], want[i*cols+k]
			if u := ulps(a, b); u != 0 {
				if d.probs+d.scores < 5 {
					t.Logf("row %d %v: column %d %v, ORT %v (row %v, ORT %v)", i, x[i*width:(i+1)*width], k, a, b, out[i*cols:(i+1)*cols], want[i*cols:(i+1)*cols])
				}
				if e.Op == Classifier {
					d.probs++
				} else {
					d.scores++
				}
				d.maxULP = max(d.maxULP, u)
			}
		}
	}
	return d
}
