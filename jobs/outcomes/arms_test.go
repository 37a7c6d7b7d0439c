package outcomes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

// DeLong's variance on cases small enough to work out by hand.
func TestDeLongVarianceByHand(t *testing.T) {
	for _, c := range []struct {
		name          string
		pos, neg      []float64
		auc, variance float64
	}{
		// V10 = (1, 2/3), V01 = (1/2, 1, 1): AUC 5/6,
		// S10 = 1/18, S01 = 1/12, var = (1/18)/2 + (1/12)/3 = 1/18.
		{"no ties", []float64{0.9, 0.6}, []float64{0.7, 0.2, 0.1}, 5.0 / 6, 1.0 / 18},
		// A tie counts half: V10 = (1, 3/4), V01 = (3/4, 1): AUC 7/8,
		// S10 = S01 = 1/32, var = 1/64 + 1/64 = 1/32.
		{"a tie", []float64{0.9, 0.5}, []float64{0.5, 0.1}, 7.0 / 8, 1.0 / 32},
	} {
		var rows Rows
		// Interleaved, unsorted: AUCDeLong sorts.
		for i := range max(len(c.pos), len(c.neg)) {
			if i < len(c.neg) {
				rows.Score, rows.Label = append(rows.Score, c.neg[i]), append(rows.Label, false)
			}
			if i < len(c.pos) {
				rows.Score, rows.Label = append(rows.Score, c.pos[i]), append(rows.Label, true)
			}
		}
		auc, v := AUCDeLong(rows)
		if math.Abs(auc-c.auc) > 1e-15 || math.Abs(v-c.variance) > 1e-15 {
			t.Errorf("%s: AUC %v variance %v, want %v and %v", c.name, auc, v, c.auc, c.variance)
		}
	}
	// One positive: the AUC is defined, its variance is not.
	if auc, v := AUCDeLong(Rows{Score: []float64{0.2, 0.8, 0.3}, Label: []bool{false, true, false}}); auc != 1 || !math.IsNaN(v) {
		t.Errorf("one positive: AUC %v variance %v", auc, v)
	}
	d := CompareAUC("champion", 0.8, 1.0/18, 0.9, 1.0/32, nil)
	se := math.Sqrt(1.0/18 + 1.0/32)
	if math.Abs(*d.Difference+0.1) > 1e-12 || math.Abs(*d.StdError-se) > 1e-15 || math.Abs(*d.Upper-(-0.1+1.959963984540054*se)) > 1e-12 || d.Worse != nil {
		t.Errorf("difference %+v", d)
	}
}

// armEvaluation is an evaluation of joined rows with an arm column.
func armEvaluation(margin float64, arms map[string]Rows, order []string) (*evaluation, *joined) {
	e := &evaluation{job: &spec.Job{Outcomes: &spec.Outcomes{ArmMargin: &margin}}, m: &report.Manifest{}, armSeg: 0, mvSeg: -1}
	c := &segCol{name: "arm", hidden: true, ids: map[string]uint32{}}
	e.segs = []*segCol{c}
	j := &joined{seg: make([][]uint32, 1)}
	for _, name := range order {
		r := arms[name]
		for i, s := range r.Score {
			id, _ := c.id(name)
			j.seg[0] = append(j.seg[0], id)
			j.score, j.label = append(j.score, s), append(j.label, r.Label[i])
		}
	}
	return e, j
}

// Per-arm AUCs equal scikit-learn's, and the DeLong interval of each
// arm's AUC difference agrees with a seeded, class-stratified bootstrap
// computed in NumPy (testdata/outcomes/arms_reference.py).
//
// Tolerances, for arms of 1,200 to 3,000 rows and 2,000 replicates: the
// bootstrap's standard deviation has a Monte Carlo error of about
// 1/sqrt(2·2000) = 1.6 %, and DeLong's variance differs from the
// bootstrap's by O(1/(m·n)) terms, well under 1 % here: 10 % apart fails
// (forgetting one arm's variance is 18 % off or more with these sizes).
// A percentile endpoint's Monte Carlo error is about 0.06 standard errors
// (sqrt(0.025·0.975/2000) over the normal density at 1.96), and the
// difference's skew at these sizes moves it by a few hundredths more:
// each endpoint must lie within 0.25 standard errors of DeLong's.
func TestArmsAgainstScikitLearnAndBootstrap(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 4))
	arms := map[string]Rows{}
	var csv bytes.Buffer
	// Scores on a 0.01 grid (ties), a separation per arm: "b" is much
	// worse than the champion, the challenger nearly as good.
	for _, a := range []struct {
		name string
		n    int
		sep  float64
	}{{"champion", 3000, 1.2}, {"challenger", 1500, 1.1}, {"b", 1200, 0.4}} {
		var r Rows
		for range a.n {
			y := rng.Float64() < 0.3
			z := rng.NormFloat64()
			if y {
				z += a.sep
			}
			s := math.Round(100/(1+math.Exp(-z))) / 100
			r.Score, r.Label = append(r.Score, s), append(r.Label, y)
			fmt.Fprintf(&csv, "%s,%v,%d\n", a.name, s, b2i(y))
		}
		arms[a.name] = r
	}
	e, j := armEvaluation(0.02, arms, []string{"b", "challenger", "champion"})
	got := e.measureArms(j)

	script := filepath.Join("..", "..", "testdata", "outcomes", "arms_reference.py")
	cmd := exec.Command("/usr/bin/python3", script, "champion", "2025", "2000")
	cmd.Stdin = &csv
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v (scikit-learn, SciPy and NumPy from Debian's python3-sklearn)", script, err)
	}
	var want struct {
		AUC       map[string]float64
		Bootstrap map[string]struct{ Lower, Upper, SD float64 }
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Arm != "champion" || !got[0].Reference || got[0].VsReference != nil || got[1].Arm != "b" || got[2].Arm != "challenger" {
		t.Fatalf("arms %v", armNames(got))
	}
	for _, a := range got {
		if a.AUC == nil || math.Abs(*a.AUC-want.AUC[a.Arm]) > 1e-12 || a.Matched != int64(len(arms[a.Arm].Score)) {
			t.Errorf("arm %s: AUC %v matched %d, scikit-learn %v on %d rows", a.Arm, show(a.AUC), a.Matched, want.AUC[a.Arm], len(arms[a.Arm].Score))
		}
		if a.AUCLower == nil || *a.AUCLower >= *a.AUC || *a.AUCUpper <= *a.AUC {
			t.Errorf("arm %s: AUC interval %v to %v", a.Arm, show(a.AUCLower), show(a.AUCUpper))
		}
		if a.Reference {
			continue
		}
		d, b := a.VsReference, want.Bootstrap[a.Arm]
		if d == nil || d.StdError == nil || d.Reference != "champion" {
			t.Fatalf("arm %s: %+v", a.Arm, d)
		}
		se := *d.StdError
		if diff := *a.AUC - want.AUC["champion"]; math.Abs(*d.Difference-diff) > 1e-12 {
			t.Errorf("arm %s: difference %v, scikit-learn's AUCs give %v", a.Arm, *d.Difference, diff)
		}
		if math.Abs(se-b.SD) > 0.10*b.SD {
			t.Errorf("arm %s: DeLong standard error %.5f, bootstrap %.5f", a.Arm, se, b.SD)
		}
		if math.Abs(*d.Lower-b.Lower) > 0.25*se || math.Abs(*d.Upper-b.Upper) > 0.25*se {
			t.Errorf("arm %s: DeLong interval %.5f to %.5f, bootstrap %.5f to %.5f (tolerance %.5f)", a.Arm, *d.Lower, *d.Upper, b.Lower, b.Upper, 0.25*se)
		}
		t.Logf("arm %s: Δ %.4f, DeLong [%.4f, %.4f], bootstrap [%.4f, %.4f]; se %.5f vs %.5f", a.Arm, *d.Difference, *d.Lower, *d.Upper, b.Lower, b.Upper, se, b.SD)
	}
	// "b" is worse by more than the margin, the challenger is not.
	if w := got[1].VsReference.Worse; w == nil || !*w {
		t.Errorf("arm b not worse: %+v", got[1].VsReference)
	}
	if w := got[2].VsReference.Worse; w == nil || *w {
		t.Errorf("challenger worse: %+v", got[2].VsReference)
	}
	if r := armGate(got); len(r) != 1 || !strings.Contains(r[0], `arm "b"`) {
		t.Errorf("gate reasons %q", r)
	}
}

func armNames(arms []Arm) []string {
	var out []string
	for _, a := range arms {
		out = append(out, a.Arm)
	}
	return out
}

// Without a champion arm, the arm with the manifest's model is the
// reference, else the first by name; the metrics carry an arm label.
func TestReferenceArmAndSamples(t *testing.T) {
	arms := []Arm{{Arm: "a", Metrics: Metrics{ModelVersion: "v2"}}, {Arm: "b", Metrics: Metrics{ModelVersion: "v1"}}}
	if ReferenceArm(arms, "v1") != 1 || ReferenceArm(arms, "v9") != 0 || ReferenceArm(append(arms, Arm{Arm: ChampionArm}), "v1") != 2 {
		t.Error("reference arm")
	}
	rows := Rows{Score: []float64{0.1, 0.4, 0.35, 0.8, 0.7, 0.2}, Label: []bool{false, false, true, true, true, false}}
	e, j := armEvaluation(0.02, map[string]Rows{"x": rows, "y": rows}, []string{"y", "x"})
	rep := &Report{Job: "j", Date: "2026-12-01", Champion: &Metrics{ModelVersion: "v1"}, Arms: e.measureArms(j)}
	text := string(rep.Metrics())
	for _, want := range []string{
		`batchscore_outcome_auc{batchscore_job="j",arm="x"} 0.8888888888888888`,
		`batchscore_outcome_auc_difference{batchscore_job="j",arm="y"} 0`,
		`batchscore_outcome_arm_worse{batchscore_job="j",arm="y"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("no %s in\n%s", want, text)
		}
	}
	if strings.Count(text, "# TYPE batchscore_outcome_auc gauge") != 1 {
		t.Errorf("auc family twice:\n%s", text)
	}
	page, err := HTML(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>Arms</h2>", "x (reference)", "not shown worse by more than the margin 0.02", "0.8889"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
