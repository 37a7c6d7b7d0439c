package validate

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/spec"
)

// randomChunk builds a chunk of n rows of every column kind, with nulls,
// NaN, ±Inf and strings cut from data (so invalid UTF-8 is common).
func randomChunk(r *rand.Rand, mem memory.Allocator, n int, data []byte) arrow.Record {
	null := func() bool { return r.IntN(5) == 0 }
	str := func() string {
		if len(data) == 0 {
			return ""
		}
		i := r.IntN(len(data))
		return string(data[i:min(len(data), i+r.IntN(6))])
	}
	fb := array.NewFloat64Builder(mem)
	ib := array.NewInt32Builder(mem)
	sb := array.NewStringBuilder(mem)
	db := array.NewBuilder(mem, dictStrings).(*array.BinaryDictionaryBuilder)
	bb := array.NewBooleanBuilder(mem)
	dt := array.NewDate32Builder(mem)
	tb := array.NewTimestampBuilder(mem, tsUTC)
	builders := []array.Builder{fb, ib, sb, db, bb, dt, tb}
	specials := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -0.0, 10, -10}
	for range n {
		for _, b := range builders {
			if null() {
				b.AppendNull()
				continue
			}
			switch b := b.(type) {
			case *array.Float64Builder:
				if r.IntN(3) == 0 {
					b.Append(specials[r.IntN(len(specials))])
				} else {
					b.Append(r.NormFloat64() * 10)
				}
			case *array.Int32Builder:
				b.Append(int32(r.IntN(200) - 100))
			case *array.StringBuilder:
				b.Append(str())
			case *array.BinaryDictionaryBuilder:
				_ = b.AppendString(str())
			case *array.BooleanBuilder:
				b.Append(r.IntN(2) == 0)
			case *array.Date32Builder:
				b.Append(arrow.Date32(19889 + r.IntN(60) - 30))
			case *array.TimestampBuilder:
				b.Append(arrow.Timestamp(int64(19889+r.IntN(60)-30) * 86400e6))
			}
		}
	}
	names := []string{"f", "i", "s", "d", "b", "day", "ts"}
	fields := make([]arrow.Field, len(builders))
	cols := make([]arrow.Array, len(builders))
	for k, b := range builders {
		cols[k] = b.NewArray()
		fields[k] = arrow.Field{Name: names[k], Type: cols[k].DataType(), Nullable: true}
		b.Release()
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(n))
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// randomRules picks rules that apply to each column kind.
func randomRules(r *rand.Rand) []spec.Rule {
	f := func(x float64) *float64 { return &x }
	i := func(x int) *int { return &x }
	menu := []spec.Rule{
		{Column: "f", Check: "range", Min: f(-5), Max: f(5)},
		{Column: "f", Check: "finite"},
		{Column: "f", Check: "not_null"},
		{Column: "f", Check: "allowed", Values: []string{"0", "10", "NaN"}},
		{Column: "i", Check: "range", Min: f(-50.5), Max: f(50)},
		{Column: "i", Check: "allowed", Values: []string{"1", "2", "-3"}},
		{Column: "i", Check: "not_null"},
		{Column: "s", Check: "length", MinLength: i(1), MaxLength: i(3)},
		{Column: "s", Check: "pattern", Pattern: `[a-z]*`},
		{Column: "s", Check: "allowed", Values: []string{"a", ""}},
		{Column: "s", Check: "not_null"},
		{Column: "d", Check: "length", MaxLength: i(2)},
		{Column: "d", Check: "pattern", Pattern: `.+`},
		{Column: "d", Check: "not_null"},
		{Column: "b", Check: "allowed", Values: []string{"true"}},
		{Column: "b", Check: "not_null"},
		{Column: "day", Check: "date_range", MaxDaysAfter: i(0), MaxDaysBefore: i(10)},
		{Column: "day", Check: "allowed", Values: []string{"2024-06-15"}},
		{Column: "ts", Check: "date_range", MaxDaysAfter: i(1)},
		{Column: "ts", Check: "not_null"},
	}
	imputes := map[string]string{"f": "1.5", "i": "7", "s": "x", "d": "y", "b": "false", "day": "2024-06-15", "ts": "2024-06-15T00:00:00Z"}
	var rules []spec.Rule
	for k := range r.IntN(8) {
		rule := menu[r.IntN(len(menu))]
		rule.Name = rule.Check + ":" + rule.Column + ":" + string(rune('a'+k))
		switch a := r.IntN(10); {
		case a < 4:
		case a < 6:
			rule.Action = "warn"
		case a < 8:
			v := imputes[rule.Column]
			rule.Action, rule.Impute = "impute", &spec.Impute{Value: &v}
		case a < 9 && rule.Check == "range":
			rule.Action = "clip"
		case a == 9 && r.IntN(4) == 0:
			rule.Action = "fail"
		}
		rules = append(rules, rule)
	}
	return rules
}

func FuzzApply(f *testing.F) {
	f.Add(uint64(1), uint16(10), []byte("abc\xff\xfeé"))
	f.Add(uint64(2), uint16(0), []byte{})
	f.Add(uint64(3), uint16(300), []byte("zz\x80"))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, data []byte) {
		r := rand.New(rand.NewPCG(seed, uint64(n)))
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		rows := int(n % 1024)
		rec := randomChunk(r, mem, rows, data)
		defer rec.Release()
		v := spec.Validation{ExtraColumns: "ignore", SampleRows: 3, MaxInvalidFraction: 1, Rules: randomRules(r), Table: spec.TableRules{Unique: []string{"s", "i"}}}
		e, err := New(v, rec.Schema(), logical, nil, mem)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		got, err := e.Apply(rec, "f", 5)
		if err != nil {
			if !errors.Is(err, ErrFailRule) {
				t.Fatalf("Apply: %v", err)
			}
			return
		}
		defer got.Release()
		var valid, quarantined int64
		if got.Valid != nil {
			valid = got.Valid.NumRows()
			if !got.Valid.Schema().Equal(rec.Schema()) {
				t.Fatal("Valid schema differs")
			}
		}
		if got.Quarantine != nil {
			quarantined = got.Quarantine.NumRows()
			for k := range got.Quarantine.NumCols() {
				if int64(got.Quarantine.Column(int(k)).Len()) != quarantined {
					t.Fatal("quarantine column length differs")
				}
			}
		}
		st := got.Stats
		if valid+quarantined != int64(rows) || st.Valid != valid || st.Rejected != quarantined || st.Rows != int64(rows) {
			t.Fatalf("rows %d valid %d quarantined %d stats %+v", rows, valid, quarantined, st)
		}
		if st.Imputed > st.Valid || st.Clipped > st.Valid || int64(len(st.KeyHashes))+st.NullKeys != int64(rows) || len(st.Rules) != len(v.Rules) {
			t.Fatalf("stats %+v", st)
		}
		for k, rs := range st.Rules {
			if rs.Failed < 0 || rs.Failed > int64(rows) || len(rs.Samples) > 3 {
				t.Fatalf("rule %d stats %+v", k, rs)
			}
			if v.Rules[k].Action == "" && rs.Failed > st.Rejected {
				t.Fatalf("reject rule %s failed %d rows but %d rejected", rs.Name, rs.Failed, st.Rejected)
			}
		}
		s := e.NewSummary(t.TempDir())
		if err := s.Add(st); err != nil {
			t.Fatal(err)
		}
		if res, _ := s.Finish(-1); res.Rows != int64(rows) {
			t.Fatalf("summary rows %d", res.Rows)
		}
	})
}
