package outcomes

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/batchscore/batchscore/jobs/keyhash"
)

// sklearn runs testdata/outcomes/sklearn_metrics.py on groups of rows.
func sklearn(t *testing.T, groups map[string]Rows) map[string]map[string]*float64 {
	t.Helper()
	py := "/usr/bin/python3"
	var in bytes.Buffer
	for name, r := range groups {
		for i, s := range r.Score {
			fmt.Fprintf(&in, "%s,%s,%d\n", name, fmt.Sprint(s), b2i(r.Label[i]))
		}
	}
	// go test runs in the package's folder (runtime.Caller's file name is
	// a module path under make's -trimpath).
	script := filepath.Join("..", "..", "testdata", "outcomes", "sklearn_metrics.py")
	cmd := exec.Command(py, script)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v (scikit-learn and SciPy come from Debian's python3-sklearn and python3-scipy)", py, script, err)
	}
	var res map[string]map[string]*float64
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func near(t *testing.T, what string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s: got %v, scikit-learn %v", what, show(got), show(want))
	case math.Abs(*got-*want) > 1e-9*max(1, math.Abs(*want)):
		t.Errorf("%s: got %.15g, scikit-learn/SciPy %.15g", what, *got, *want)
	}
}

func show(p *float64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

// The metrics equal scikit-learn's roc_auc_score, brier_score_loss and
// log_loss and SciPy's ks_2samp statistic: scores with many ties, scores
// of exactly 0 and 1 (log loss clipping), a group with one class only
// (AUC and KS undefined: null, never NaN) and a single row.
func TestMetricsAgainstScikitLearn(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := map[string]Rows{}
	mk := func(name string, n int, grid float64, pos func(s float64) bool) {
		var r Rows
		for range n {
			s := math.Round(rng.Float64()/grid) * grid
			r.Score = append(r.Score, s)
			r.Label = append(r.Label, pos(s))
		}
		groups[name] = r
	}
	mk("ties", 5000, 0.05, func(s float64) bool { return rng.Float64() < s })
	mk("fine", 3000, 1e-6, func(s float64) bool { return rng.Float64() < s*s })
	mk("extremes", 400, 1, func(s float64) bool { return rng.Float64() < 0.7 }) // scores 0 and 1 only
	mk("one_class", 300, 0.1, func(float64) bool { return false })
	mk("single", 1, 0.1, func(float64) bool { return true })
	want := sklearn(t, groups)
	for name, rows := range groups {
		rows = Rows{Score: slices.Clone(rows.Score), Label: slices.Clone(rows.Label)}
		var m Metrics
		Compute(&m, rows, 0.5)
		w := want[name]
		near(t, name+" auc", m.AUC, w["auc"])
		near(t, name+" ks", m.KS, w["ks"])
		near(t, name+" brier", m.Brier, w["brier"])
		near(t, name+" log_loss", m.LogLoss, w["log_loss"])
		if m.AUC != nil && (m.Gini == nil || math.Abs(*m.Gini-(2**m.AUC-1)) > 1e-12) {
			t.Errorf("%s: gini %v for auc %v", name, show(m.Gini), *m.AUC)
		}
		data, err := json.Marshal(m)
		if err != nil || bytes.Contains(data, []byte("NaN")) {
			t.Errorf("%s: JSON %s (%v)", name, data, err)
		}
	}
}

// Calibration deciles, ECE and the confusion counts, on rows small
// enough to count by hand.
func TestCalibrationAndConfusion(t *testing.T) {
	rows := Rows{Score: []float64{0.1, 0.1, 0.2, 0.4, 0.6, 0.6, 0.8, 0.9, 0.9, 0.95}, Label: []bool{false, false, true, false, true, false, true, true, true, true}}
	var m Metrics
	Compute(&m, rows, 0.6)
	if c := m.Confusion; c != (Confusion{TP: 5, FP: 1, TN: 3, FN: 1}) {
		t.Errorf("confusion %+v", c)
	}
	if *m.Precision != 5.0/6 || *m.Recall != 5.0/6 {
		t.Errorf("precision %v recall %v", *m.Precision, *m.Recall)
	}
	// Ten rows: one per decile, but the tied 0.1s, 0.6s and 0.9s stay
	// together in the decile of their first row.
	var deciles []int
	var ece float64
	for _, b := range m.Calibration {
		deciles = append(deciles, b.Decile)
		ece += float64(b.Rows) * math.Abs(b.MeanScore-b.ObservedRate)
	}
	if !slices.Equal(deciles, []int{1, 3, 4, 5, 7, 8, 10}) {
		t.Errorf("deciles %v", deciles)
	}
	if math.Abs(*m.ECE-ece/10) > 1e-12 {
		t.Errorf("ece %v, want %v", *m.ECE, ece/10)
	}
	// Scores outside [0, 1] are not probabilities.
	var r Metrics
	Compute(&r, Rows{Score: []float64{-1, 2}, Label: []bool{false, true}}, 0.5)
	if r.Brier != nil || r.LogLoss != nil || r.ECE != nil || r.AUC == nil || *r.AUC != 1 {
		t.Errorf("scores outside [0,1]: %+v", r)
	}
}

// The join gives the same matches whether its sides spill to bucket files
// or stay in memory, and finds the first duplicate label either way.
func TestJoinSpills(t *testing.T) {
	build := func(limit int, dup bool) *joined {
		dir := t.TempDir()
		ls := newSide(dir, "labels", labelFixed+4, limit)
		ss := newSide(dir, "scores", scoreFixed, limit)
		hs := newSide(dir, "shadow", scoreFixed, limit)
		defer ls.close()
		defer ss.close()
		defer hs.close()
		rec := make([]byte, labelFixed+4)
		for i := range uint64(3000) {
			binary.LittleEndian.PutUint64(rec, keyhash.Mix(i))
			binary.LittleEndian.PutUint64(rec[8:], i)
			rec[16] = byte(i % 3 % 2)
			binary.LittleEndian.PutUint32(rec[17:], uint32(i%4))
			if err := ls.add(rec); err != nil {
				t.Fatal(err)
			}
		}
		if dup {
			for _, i := range []uint64{2500, 17} {
				binary.LittleEndian.PutUint64(rec, keyhash.Mix(i))
				binary.LittleEndian.PutUint64(rec[8:], 3000+i)
				if err := ls.add(rec); err != nil {
					t.Fatal(err)
				}
			}
		}
		srec := make([]byte, scoreFixed)
		for i := uint64(1000); i < 5000; i++ {
			binary.LittleEndian.PutUint64(srec, keyhash.Mix(i))
			binary.LittleEndian.PutUint64(srec[8:], math.Float64bits(float64(i)))
			if err := ss.add(srec); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				binary.LittleEndian.PutUint64(srec[8:], math.Float64bits(-float64(i)))
				if err := hs.add(srec); err != nil {
					t.Fatal(err)
				}
			}
		}
		j, err := join(ls, ss, hs, nil, shape{label: 1})
		if err != nil {
			t.Fatal(err)
		}
		if limit < 100 && !ls.spilled() {
			t.Fatal("no spill")
		}
		return j
	}
	mem, spilled := build(1<<20, false), build(50, false)
	key := func(j *joined) map[float64]string {
		out := map[float64]string{}
		for i, s := range j.score {
			out[s] = fmt.Sprint(j.label[i], j.chall[i], j.seg[0][i])
		}
		return out
	}
	a, b := key(mem), key(spilled)
	if len(a) != 2000 || len(b) != 2000 || mem.challMatched != 1000 || spilled.challMatched != 1000 {
		t.Fatalf("matched %d and %d (want 2000), challenger %d and %d (want 1000)", len(a), len(b), mem.challMatched, spilled.challMatched)
	}
	for s, v := range a {
		if b[s] != v {
			t.Errorf("score %v: %s in memory, %s spilled", s, v, b[s])
		}
	}
	for _, limit := range []int{1 << 20, 50} {
		if j := build(limit, true); j.dupLabel != 3017 {
			t.Errorf("limit %d: first duplicate at ordinal %d, want 3017", limit, j.dupLabel)
		}
	}
}
