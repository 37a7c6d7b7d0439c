package route

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/batchscore/batchscore/jobs/report"
)

func TestRanksShareTies(t *testing.T) {
	got := ranks([]float64{0.3, 0.1, 0.3, 0.2})
	want := []float64{3.5, 1, 3.5, 2}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranks = %v, want %v", got, want)
		}
	}
}

func TestSpearman(t *testing.T) {
	a := []float64{1, 2, 3, 4, 5}
	if r := spearman(a, []float64{10, 20, 30, 40, 50}); r != 1 {
		t.Errorf("monotone: %v, want 1", r)
	}
	if r := spearman(a, []float64{5, 4, 3, 2, 1}); r != -1 {
		t.Errorf("reversed: %v, want -1", r)
	}
	// Textbook example: d² sum 4 over n=5 → 1 - 6·4/(5·24) = 0.8.
	if r := spearman(a, []float64{2, 1, 4, 3, 5}); math.Abs(r-0.8) > 1e-12 {
		t.Errorf("swapped pairs: %v, want 0.8", r)
	}
}

func TestTopDecileOverlap(t *testing.T) {
	a := make([]float64, 100)
	b := make([]float64, 100)
	for i := range a {
		a[i] = float64(i)
		b[i] = float64(i)
	}
	if o := topDecileOverlap(a, b); o != 1 {
		t.Errorf("same order: %v", o)
	}
	b[99], b[0] = b[0], b[99] // the champion's top row falls to the bottom
	if o := topDecileOverlap(a, b); o != 0.9 {
		t.Errorf("one swapped: %v, want 0.9", o)
	}
}

func TestShadowStatsFlipsAndSample(t *testing.T) {
	s := shadowStats{rng: rand.New(rand.NewPCG(1, 2))}
	s.add(0.4, 0.6, 0.5)  // up
	s.add(0.7, 0.2, 0.5)  // down
	s.add(0.5, 0.5, 0.5)  // the threshold counts as above on both sides
	s.add(0.1, 0.15, 0.5) // same side
	var rep report.Challenger
	s.finish(&rep)
	if rep.Flipped != 2 || rep.FlippedUp != 1 || rep.FlippedDown != 1 || rep.Rows != 4 {
		t.Fatalf("flips: %+v", rep)
	}
	if math.Abs(rep.MaxAbsDiff-0.5) > 1e-12 || math.Abs(rep.MeanAbsDiff-(0.2+0.5+0+0.05)/4) > 1e-12 {
		t.Fatalf("diffs: mean %v max %v", rep.MeanAbsDiff, rep.MaxAbsDiff)
	}
	var sum int64
	for _, b := range rep.Histogram {
		sum += b.Champion
		if b.Lo < 0 || b.Hi > 1+1e-12 {
			t.Fatalf("probabilities bin over [0,1]: %+v", b)
		}
	}
	if sum != 4 {
		t.Fatalf("histogram counts %d rows, want 4", sum)
	}
}
