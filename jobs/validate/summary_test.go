package validate

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/spec"
)

func TestSummaryGateAndTableRules(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}, {Name: "d", Type: arrow.FixedWidthTypes.Date32}}, nil)
	day := func(s string) *time.Time { d, _ := time.Parse(time.DateOnly, s); return &d }
	rule := spec.Rule{Column: "x", Check: "finite", MaxInvalidFraction: ptr(0.1)}
	tests := []struct {
		name     string
		v        spec.Validation
		chunks   []ChunkStats
		prev     int64
		pass     bool
		breachIn string
	}{
		{name: "all good", v: spec.Validation{MaxInvalidFraction: 0.01, Rules: []spec.Rule{rule}},
			chunks: []ChunkStats{{Rows: 100, Valid: 100, Rules: []RuleStats{{Failed: 0}}}}, prev: -1, pass: true},
		{name: "overall fraction at the limit passes", v: spec.Validation{MaxInvalidFraction: 0.01, Rules: []spec.Rule{rule}},
			chunks: []ChunkStats{{Rows: 100, Valid: 99, Rejected: 1, Rules: []RuleStats{{Failed: 1}}}}, prev: -1, pass: true},
		{name: "overall fraction above", v: spec.Validation{MaxInvalidFraction: 0.01, Rules: []spec.Rule{rule}},
			chunks: []ChunkStats{{Rows: 100, Valid: 99, Rejected: 1, Rules: []RuleStats{{}}}, {Rows: 100, Valid: 98, Rejected: 2, Rules: []RuleStats{{}}}}, prev: -1, breachIn: "3 of 200 rows rejected"},
		{name: "per rule fraction above", v: spec.Validation{MaxInvalidFraction: 1, Rules: []spec.Rule{rule}},
			chunks: []ChunkStats{{Rows: 10, Valid: 10, Rules: []RuleStats{{Failed: 2}}}}, prev: -1, breachIn: "rule finite:x: 2 of 10"},
		{name: "min rows", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MinRows: ptr(int64(11))}},
			chunks: []ChunkStats{{Rows: 10, Valid: 10}}, prev: -1, breachIn: "min_rows"},
		{name: "min rows exact", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MinRows: ptr(int64(10)), MaxRows: ptr(int64(10))}},
			chunks: []ChunkStats{{Rows: 10, Valid: 10}}, prev: -1, pass: true},
		{name: "max rows", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MaxRows: ptr(int64(9))}},
			chunks: []ChunkStats{{Rows: 10, Valid: 10}}, prev: -1, breachIn: "max_rows"},
		{name: "row change within", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MaxRowChangePct: ptr(10.0)}},
			chunks: []ChunkStats{{Rows: 110, Valid: 110}}, prev: 100, pass: true},
		{name: "row change above", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MaxRowChangePct: ptr(10.0)}},
			chunks: []ChunkStats{{Rows: 89, Valid: 89}}, prev: 100, breachIn: "max_row_change_pct"},
		{name: "row change without previous run", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{MaxRowChangePct: ptr(10.0)}},
			chunks: []ChunkStats{{Rows: 5, Valid: 5}}, prev: -1, pass: true},
		{name: "fresh", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{Freshness: &spec.Freshness{Column: "d", MaxAgeDays: 2}}},
			chunks: []ChunkStats{{Rows: 1, Valid: 1, MaxDate: day("2024-06-13")}, {Rows: 1, Valid: 1, MaxDate: day("2024-06-01")}}, prev: -1, pass: true},
		{name: "stale", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{Freshness: &spec.Freshness{Column: "d", MaxAgeDays: 2}}},
			chunks: []ChunkStats{{Rows: 1, Valid: 1, MaxDate: day("2024-06-12")}}, prev: -1, breachIn: "freshness:d"},
		{name: "no dates at all", v: spec.Validation{MaxInvalidFraction: 1, Table: spec.TableRules{Freshness: &spec.Freshness{Column: "d"}}},
			chunks: []ChunkStats{{Rows: 1, Valid: 1}}, prev: -1, breachIn: "no non-null value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.v.ExtraColumns = "ignore"
			e, err := New(tt.v, schema, logical, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := e.NewSummary(t.TempDir())
			for _, c := range tt.chunks {
				if err := s.Add(c); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Finish(tt.prev)
			if res.Passed != tt.pass || (err == nil) != tt.pass {
				t.Fatalf("passed %v, err %v; want passed %v (%+v)", res.Passed, err, tt.pass, res)
			}
			if !tt.pass {
				if !errors.Is(err, ErrGate) || !strings.Contains(err.Error(), tt.breachIn) {
					t.Errorf("error %v, want ErrGate naming %q", err, tt.breachIn)
				}
			}
			if _, err := json.Marshal(res); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestUnique feeds chunks through Apply so the hashes are real, with the
// spill threshold set below, at and above the total number of keys.
func TestUnique(t *testing.T) {
	tests := []struct {
		name   string
		chunks [][]any // id values per chunk; ids are (string, int) pairs
		limit  int
		dups   int64
		nulls  int64 // rows with a null key part
	}{
		{name: "unique in memory", chunks: [][]any{{"a", 1, "b", 1}, {"a", 2, "c", 1}}, limit: 100},
		{name: "duplicate within a chunk", chunks: [][]any{{"a", 1, "a", 1, "a", 1}}, limit: 100, dups: 2},
		{name: "duplicate across chunks", chunks: [][]any{{"a", 1, "b", 2}, {"c", 3}, {"b", 2}}, limit: 100, dups: 1},
		// As in SQL's UNIQUE, a key with a null equals no other key.
		{name: "null keys are not duplicates", chunks: [][]any{{nil, 1}, {nil, 1}, {nil, 2}}, limit: 100, nulls: 3},
		{name: "only null keys", chunks: [][]any{{nil, nil, nil, nil}, {nil, nil}}, limit: 100, nulls: 3},
		{name: "a null part in either column", chunks: [][]any{{"a", nil, "a", nil, nil, 1, "a", 1}, {"a", 1}}, limit: 1, dups: 1, nulls: 3},
		{name: "duplicate across the spill threshold", chunks: [][]any{{"a", 1, "b", 2}, {"c", 3, "d", 4}, {"a", 1, "e", 5}, {"b", 2}}, limit: 2, dups: 2},
		{name: "spill every chunk, no duplicates", chunks: [][]any{{"a", 1, "b", 2}, {"c", 3}, {"a", 2}}, limit: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedMem(t)
			tmp := t.TempDir()
			var e *Engine
			var s *Summary
			for i, chunk := range tt.chunks {
				var names []any
				var nums []any
				for j := 0; j < len(chunk); j += 2 {
					names = append(names, chunk[j])
					nums = append(nums, chunk[j+1])
				}
				rec := record(col{"name", build(t, mem, arrow.BinaryTypes.String, names...)}, col{"n", build(t, mem, arrow.PrimitiveTypes.Int32, nums...)})
				if e == nil {
					e = newEngine(t, spec.Validation{Table: spec.TableRules{Unique: []string{"name", "n"}}}, rec.Schema(), nil, mem)
					s = e.NewSummary(tmp)
					s.keys.limit = tt.limit
				}
				got, err := e.Apply(rec, "f", int64(i))
				rec.Release()
				if err != nil {
					t.Fatal(err)
				}
				got.Release()
				if err := s.Add(got.Stats); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Finish(-1)
			if (err == nil) != (tt.dups == 0) {
				t.Errorf("err = %v", err)
			}
			if len(res.Table) != 1 || res.Table[0].Name != "unique:name,n" || res.Table[0].Passed != (tt.dups == 0) {
				t.Fatalf("table %+v", res.Table)
			}
			if want := itoa(tt.dups) + " duplicate keys"; !strings.HasPrefix(res.Table[0].Detail, want) {
				t.Errorf("detail %q, want %q…", res.Table[0].Detail, want)
			}
			if n := res.Table[0].NullKeys; n == nil || *n != tt.nulls {
				t.Errorf("null keys %v, want %d", n, tt.nulls)
			}
			if said := strings.Contains(res.Table[0].Detail, itoa(tt.nulls)+" rows with a null key"); said != (tt.nulls > 0) {
				t.Errorf("detail %q: says the %d null keys: %v", res.Table[0].Detail, tt.nulls, said)
			}
			left, _ := os.ReadDir(tmp)
			if len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

func TestSummaryCloseRemovesSpill(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64}}, nil)
	e, err := New(spec.Validation{ExtraColumns: "ignore", Table: spec.TableRules{Unique: []string{"k"}}}, schema, logical, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	s := e.NewSummary(tmp)
	s.keys.limit = 2
	if err := s.Add(ChunkStats{Rows: 3, Valid: 3, KeyHashes: []uint64{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 1 {
		t.Fatalf("expected a spill file, got %v", left)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestSummaryRulesAndSamples(t *testing.T) {
	mem := checkedMem(t)
	v := spec.Validation{SampleRows: 3, MaxInvalidFraction: 1, Rules: []spec.Rule{{Column: "x", Check: "range", Max: ptr(0.0), Action: "warn"}}}
	var e *Engine
	var s *Summary
	for i := range 3 {
		rec := record(col{"x", build(t, mem, arrow.PrimitiveTypes.Float64, 1.0, 2.0)})
		if e == nil {
			e = newEngine(t, v, rec.Schema(), nil, mem)
			s = e.NewSummary(t.TempDir())
		}
		got, err := e.Apply(rec, "f", int64(2*i))
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		got.Release()
		if err := s.Add(got.Stats); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Finish(-1)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Rules[0]
	if r.Failed != 6 || r.Fraction != 1 || r.Action != "warn" || r.Check != "range" || len(r.Samples) != 3 || r.Samples[2].Row != 2 {
		t.Errorf("rule result %+v", r)
	}
	if res.Rows != 6 || res.Valid != 6 || res.Rejected != 0 {
		t.Errorf("result %+v", res)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
