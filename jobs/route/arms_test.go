package route

import (
	"errors"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/scoring"
)

// Cumulative shares in the order listed; the last arm takes what
// rounding leaves; a larger first share keeps the first arm's keys.
func TestArmOf(t *testing.T) {
	at := func(u float64) uint64 { return uint64(u*(1<<53)) << 11 }
	shares := []float64{0.1, 0.2, 0.7}
	for _, c := range []struct {
		u    float64
		want int
	}{{0, 0}, {0.0999, 0}, {0.1001, 1}, {0.2999, 1}, {0.3001, 2}, {0.9999999, 2},
		// The sums are float64's, in the order listed: 0.1 + 0.2 is
		// 0.30000000000000004, so u = 0.3 is still in the second arm.
		{0.3, 1}} {
		if got := ArmOf(at(c.u), shares); got != c.want {
			t.Errorf("u %v: arm %d, want %d", c.u, got, c.want)
		}
	}
	if got := ArmOf(^uint64(0), []float64{0.5, 0.5 - 1e-10}); got != 1 {
		t.Errorf("shares summing to just under 1: the last key went to arm %d", got)
	}
}

// A chunk of three arms: arm 1 scored, arm 2 failed; its rows keep the
// default arm's score and label as arm_fallback, and the gate counts them.
func TestArmsMergePublishAndGate(t *testing.T) {
	mem := memory.DefaultAllocator
	s := &armSet{salt: "s", keys: []string{"id"}, shares: []float64{0.4, 0.3, 0.3}, limit: 0.1, mem: mem,
		arms: []*arm{{name: "a"}, {name: "b"}, {name: "c"}}}
	const n = 300
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	col := int64s(ids...)
	rec := array.NewRecord(arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{col}, n)
	sc := scoring.Scored{Chunk: scoring.Chunk{Record: rec}, Score: floats(make([]float64, n)...), Label: int64s(make([]int64, n)...)}
	assigned, err := s.assign(rec)
	if err != nil {
		t.Fatal(err)
	}
	ones := make([]float64, n)
	onesLabel := make([]int64, n)
	for i := range ones {
		ones[i], onesLabel[i] = 1, 1
	}
	results := []*scoring.Scored{nil, {Score: floats(ones...), Label: int64s(onesLabel...)}, nil}
	enc := make([]int32, n)
	for i, a := range assigned {
		enc[i] = a
		if a == 2 {
			enc[i] = -3
		}
	}
	if err := s.merge(&sc, enc, results); err != nil {
		t.Fatal(err)
	}
	if err := s.mark(&sc, enc); err != nil {
		t.Fatal(err)
	}
	sc, arms, err := (&Plan{arms: s}).Publish(sc)
	if err != nil {
		t.Fatal(err)
	}
	counts := [3]int64{}
	for i, a := range assigned {
		counts[a]++
		wantArm, wantScore, wantSource := int32(0), 0.0, sourceModel
		switch a {
		case 1:
			wantArm, wantScore = 1, 1
		case 2:
			wantSource = sourceArmFallback
		}
		if arms[i] != wantArm || sc.Score.Value(i) != wantScore || sc.Label.(*array.Int64).Value(i) != int64(wantScore) || sc.Source.Value(i) != wantSource {
			t.Fatalf("row %d (arm %d): published arm %d, score %v, source %s", i, a, arms[i], sc.Score.Value(i), sc.Source.Value(i))
		}
	}
	if FallbackRows(sc.Source) != 0 {
		t.Error("arm fallback rows counted as the job's fallback rows")
	}
	s.arms[2].fail(0, errors.New("chunk 0 failed"))
	sum := s.summary(report.Model{Version: "v-a"})
	if c := sum.Arms[2]; c.Assigned != counts[2] || c.FellBack != counts[2] || c.Published != 0 || c.Status != report.ArmFailed ||
		sum.Arms[0].Published != counts[0]+counts[2] || sum.Arms[0].Model.Version != "v-a" || counts[2] == 0 {
		t.Errorf("summary %+v, assigned %v", sum, counts)
	}
	if err := (&Plan{arms: s}).RolloutGate(); !errors.Is(err, ErrFallback) {
		t.Errorf("every row of arm c fell back; gate: %v", err)
	}
	sc.Release()
}
