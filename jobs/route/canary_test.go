package route

import (
	"errors"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/scoring"
)

func int32s(vs ...int32) arrow.Array {
	b := array.NewInt32Builder(memory.DefaultAllocator)
	b.AppendValues(vs, nil)
	return b.NewArray()
}

func int64s(vs ...int64) arrow.Array {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues(vs, nil)
	return b.NewArray()
}

func strs(vs ...string) arrow.Array {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	b.AppendValues(vs, nil)
	return b.NewArray()
}

// The hashes were computed with Python's hashlib from the rule in the
// README, an implementation this package did not write.
func TestKeyHashMatchesPython(t *testing.T) {
	const salt = "churn-2026-12"
	for _, tc := range []struct {
		name string
		keys []arrow.Array
		row  int
		want uint64
	}{
		{"int64", []arrow.Array{int64s(1, 42)}, 1, 15819021374207700776},
		{"int32", []arrow.Array{int32s(42)}, 0, 15819021374207700776},
		{"negative int32", []arrow.Array{int32s(-7)}, 0, 788829767720649862},
		{"negative int64", []arrow.Array{int64s(-7)}, 0, 788829767720649862},
		{"string", []arrow.Array{strs("cust-0001")}, 0, 4280270911048830680},
		{"int and UTF-8 string", []arrow.Array{int32s(7), strs("né")}, 0, 15481874814323850627},
	} {
		got, ok := KeyHash(salt, tc.keys, tc.row)
		if !ok || got != tc.want {
			t.Errorf("%s: KeyHash = %d, %v; Python says %d", tc.name, got, ok, tc.want)
		}
	}
	// Length prefixes: ("ab","c") and ("a","bc") are different keys.
	a, _ := KeyHash(salt, []arrow.Array{strs("ab"), strs("c")}, 0)
	b, _ := KeyHash(salt, []arrow.Array{strs("a"), strs("bc")}, 0)
	if a == b {
		t.Error("two-column keys that concatenate alike hash alike")
	}
	// 0.8575508670255308 is the Python u of key 42.
	if h := uint64(15819021374207700776); InCanary(h, 0.857) || !InCanary(h, 0.858) {
		t.Error("InCanary of key 42 does not follow u = (h >> 11) / 2^53")
	}
}

func TestKeyHashNullStaysChampion(t *testing.T) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendNull()
	if _, ok := KeyHash("s", []arrow.Array{b.NewArray()}, 0); ok {
		t.Error("a null key was hashed")
	}
}

// The same key is in the same arm on every call; a larger share keeps
// every key of a smaller one; the observed share is within 5 sigma of
// the binomial's over 1M keys.
func TestCanaryStableMonotoneBinomial(t *testing.T) {
	const n = 1_000_000
	keys := make([]int64, n)
	for i := range keys {
		keys[i] = int64(i)*7919 + 13
	}
	col := int64s(keys...)
	cols := []arrow.Array{col}
	in5, in20 := 0, 0
	for i := range n {
		h, _ := KeyHash("churn-2026-12", cols, i)
		if h2, _ := KeyHash("churn-2026-12", cols, i); h2 != h {
			t.Fatalf("key %d: two calls gave %d and %d", keys[i], h, h2)
		}
		a, b := InCanary(h, 0.05), InCanary(h, 0.20)
		if a && !b {
			t.Fatalf("key %d is in the 5%% canary and not in the 20%% one", keys[i])
		}
		if a {
			in5++
		}
		if b {
			in20++
		}
	}
	for _, c := range []struct {
		p   float64
		got int
	}{{0.05, in5}, {0.20, in20}} {
		mean, sd := n*c.p, math.Sqrt(n*c.p*(1-c.p))
		if math.Abs(float64(c.got)-mean) > 5*sd {
			t.Errorf("share %g: %d of %d keys, expected %.0f ± %.0f (5 sigma)", c.p, c.got, n, mean, 5*sd)
		}
	}
	if !InCanary(math.MaxUint64, 1) || InCanary(0, 0) {
		t.Error("share 1 must take every key and share 0 none")
	}
}

// Keys read as a dictionary (Parquet) hash as the plain strings (SQL).
func TestKeyHashDictionaryAsString(t *testing.T) {
	plain := strs("x", "cust-0001")
	db := array.NewDictionaryBuilder(memory.DefaultAllocator,
		&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}).(*array.BinaryDictionaryBuilder)
	for _, v := range []string{"cust-0001", "x", "cust-0001"} {
		if err := db.AppendString(v); err != nil {
			t.Fatal(err)
		}
	}
	dict := db.NewArray()
	a, _ := KeyHash("s", []arrow.Array{plain}, 1)
	b, _ := KeyHash("s", []arrow.Array{dict}, 2)
	if a != b {
		t.Errorf("dictionary key hashes %d, plain %d", b, a)
	}
	if !checkKeyType(dict.DataType()) || !checkKeyType(arrow.PrimitiveTypes.Int32) || checkKeyType(arrow.PrimitiveTypes.Float64) {
		t.Error("checkKeyType takes strings and integers only")
	}
}

func floats(vs ...float64) *array.Float64 {
	b := array.NewFloat64Builder(memory.DefaultAllocator)
	b.AppendValues(vs, nil)
	return b.NewFloat64Array()
}

// canaryChunk is n keys with champion scores 0 and, when shadow, challenger
// scores 1; in says which keys a share of 0.5 puts in the canary.
func canaryChunk(t *testing.T, n int, shadow bool) (scoring.Scored, []bool) {
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = int64(i)
	}
	col := int64s(ids...)
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	s := scoring.Scored{Chunk: scoring.Chunk{Record: array.NewRecord(schema, []arrow.Array{col}, int64(n))}}
	s.Score = floats(make([]float64, n)...)
	in := make([]bool, n)
	ones := make([]float64, n)
	for i := range in {
		h, _ := KeyHash("s", []arrow.Array{col}, i)
		in[i] = InCanary(h, 0.5)
		ones[i] = 1
	}
	if shadow {
		s.Shadow = floats(ones...)
	}
	return s, in
}

func TestCanaryPublishAndGate(t *testing.T) {
	newPlan := func(off string) *Plan {
		return &Plan{challenger: &challenger{}, canary: &canary{share: 0.5, salt: "s", keys: []string{"id"}, limit: 0.1, mem: memory.DefaultAllocator, off: off}}
	}
	// Scored by the challenger: its scores on the canary rows.
	p := newPlan("")
	s, in := canaryChunk(t, 200, true)
	out, arms, err := p.Publish(s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if (arms[i] == 1) != in[i] || out.Score.Value(i) != map[bool]float64{true: 1, false: 0}[in[i]] || out.Source.Value(i) != sourceModel {
			t.Fatalf("row %d: in %v, arm %v, score %v, source %s", i, in[i], arms[i], out.Score.Value(i), out.Source.Value(i))
		}
	}
	if err := p.RolloutGate(); err != nil {
		t.Errorf("gate: %v", err)
	}
	// Not scored by the challenger: the champion's scores, marked, and
	// above the limit the run fails with ErrFallback.
	s, in = canaryChunk(t, 200, false)
	out, arms, _ = p.Publish(s)
	fell := 0
	for i := range in {
		want := sourceModel
		if in[i] {
			want = sourceCanaryFallback
			fell++
		}
		if arms[i] != 0 || out.Score.Value(i) != 0 || out.Source.Value(i) != want {
			t.Fatalf("row %d: in %v, arm %v, score %v, source %s", i, in[i], arms[i], out.Score.Value(i), out.Source.Value(i))
		}
	}
	if FallbackRows(out.Source) != 0 {
		t.Error("canary fallback rows counted as the job's fallback rows")
	}
	if err := p.RolloutGate(); !errors.Is(err, ErrFallback) {
		t.Errorf("half the canary fell back, gate says %v", err)
	}
	if r := p.canary.summary(); r.FellBack != int64(fell) || r.Arms[ArmChampion]+r.Arms[ArmChallenger] != 400 {
		t.Errorf("summary %+v, %d fell back", r, fell)
	}
	// A challenger that did not load: every row the champion's, no gate.
	p = newPlan("did not load")
	s, _ = canaryChunk(t, 200, false)
	p.Publish(s)
	if r := p.canary.summary(); p.RolloutGate() != nil || r.Status != report.RolloutOff || r.Arms[ArmChallenger] != 0 || r.FellBack != 0 {
		t.Errorf("off canary: %+v, gate %v", r, p.RolloutGate())
	}
}
