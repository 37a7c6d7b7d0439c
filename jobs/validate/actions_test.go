package validate

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/spec"
)

// TestActions checks what each action does to Valid, Quarantine and the
// counts, on a chunk of five rows.
func TestActions(t *testing.T) {
	base := fakeBaseline{medians: map[string]float64{"i": 2.6, "x": 4.25}, modes: map[string]string{"s": "blue", "d": "red"}}
	tests := []struct {
		name             string
		rules            []spec.Rule
		check            string   // column whose Valid values are compared
		want             []string // Valid values of check
		quarantine       []int64  // _source_row - offset
		reasons          []string
		imputed, clipped int64
	}{
		{name: "reject", rules: []spec.Rule{{Column: "x", Check: "range", Min: ptr(0.0), Max: ptr(10.0)}},
			check: "x", want: []string{"1", "5", "null"}, quarantine: []int64{1, 3}, reasons: []string{"range:x", "range:x"}},
		{name: "impute constant", rules: []spec.Rule{{Column: "x", Check: "range", Min: ptr(0.0), Max: ptr(10.0), Action: "impute", Impute: &spec.Impute{Value: ptr("7")}}},
			check: "x", want: []string{"1", "7", "5", "7", "null"}, imputed: 2},
		{name: "impute null with constant", rules: []spec.Rule{{Column: "x", Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("0")}}},
			check: "x", want: []string{"1", "-3", "5", "20", "0"}, imputed: 1},
		{name: "impute median float", rules: []spec.Rule{{Column: "x", Check: "finite", Action: "impute", Impute: &spec.Impute{From: "median"}}, {Column: "x", Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "median"}}},
			check: "x", want: []string{"1", "-3", "5", "20", "4.25"}, imputed: 1},
		{name: "impute median int rounds", rules: []spec.Rule{{Column: "i", Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "median"}}},
			check: "i", want: []string{"1", "3", "3", "4", "3"}, imputed: 2},
		{name: "impute mode string", rules: []spec.Rule{{Column: "s", Check: "allowed", Values: []string{"red", "blue"}, Action: "impute", Impute: &spec.Impute{From: "mode"}}},
			check: "s", want: []string{"red", "blue", "blue", "null", "blue"}, imputed: 3},
		{name: "impute null string", rules: []spec.Rule{{Column: "s", Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("unknown")}}},
			check: "s", want: []string{"red", "", "green", "unknown", "\xff"}, imputed: 1},
		{name: "impute mode dictionary", rules: []spec.Rule{{Column: "d", Check: "allowed", Values: []string{"red"}, Action: "impute", Impute: &spec.Impute{From: "mode"}}, {Column: "d", Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("none")}}},
			check: "d", want: []string{"red", "red", "red", "none", "red"}, imputed: 3},
		{name: "impute bool", rules: []spec.Rule{{Column: "b", Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("false")}}},
			check: "b", want: []string{"true", "false", "false", "true", "false"}, imputed: 2},
		{name: "impute date", rules: []spec.Rule{{Column: "day", Check: "date_range", MaxDaysAfter: ptr(0), Action: "impute", Impute: &spec.Impute{Value: ptr("2024-06-15")}}},
			check: "day", want: []string{"2024-06-15", "2024-06-15", "2024-06-01", "null", "2024-06-15"}, imputed: 2},
		{name: "clip float", rules: []spec.Rule{{Column: "x", Check: "range", Min: ptr(0.0), Max: ptr(10.0), Action: "clip"}},
			check: "x", want: []string{"1", "0", "5", "10", "null"}, clipped: 2},
		{name: "clip int rounds bounds inward", rules: []spec.Rule{{Column: "i", Check: "range", Min: ptr(1.5), Max: ptr(3.5), Action: "clip"}},
			check: "i", want: []string{"2", "null", "3", "3", "null"}, clipped: 2},
		{name: "warn only counts", rules: []spec.Rule{{Column: "x", Check: "range", Max: ptr(10.0), Action: "warn"}},
			check: "x", want: []string{"1", "-3", "5", "20", "null"}},
		{name: "row failing two rules gets both reasons", rules: []spec.Rule{
			{Column: "x", Check: "range", Min: ptr(0.0)},
			{Column: "s", Check: "length", MinLength: ptr(1), Name: "short_s"},
			{Column: "x", Check: "range", Max: ptr(10.0), Action: "warn"},
		}, check: "x", want: []string{"1", "5", "20"}, quarantine: []int64{1, 4}, reasons: []string{"range:x,short_s", "short_s"}},
		{name: "reject wins over impute and clip", rules: []spec.Rule{
			{Column: "x", Check: "range", Max: ptr(10.0), Action: "clip"},
			{Column: "x", Check: "range", Min: ptr(0.0), Action: "impute", Impute: &spec.Impute{Value: ptr("0")}},
			{Column: "i", Check: "not_null"},
		}, check: "x", want: []string{"1", "5", "10"}, quarantine: []int64{1, 4}, reasons: []string{"range:x,not_null:i", "not_null:i"}, clipped: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedMem(t)
			rec := record(
				col{"x", build(t, mem, arrow.PrimitiveTypes.Float64, 1.0, -3.0, 5.0, 20.0, nil)},
				col{"i", build(t, mem, arrow.PrimitiveTypes.Int64, 1, nil, 3, 4, nil)},
				col{"s", build(t, mem, arrow.BinaryTypes.String, "red", "", "green", nil, "\xff")},
				col{"d", build(t, mem, dictStrings, "red", "blue", "red", nil, "green")},
				col{"b", build(t, mem, arrow.FixedWidthTypes.Boolean, true, nil, false, true, nil)},
				col{"day", build(t, mem, arrow.FixedWidthTypes.Date32, "2024-06-15", "2024-06-16", "2024-06-01", nil, "2030-01-01")},
			)
			defer rec.Release()
			e := newEngine(t, spec.Validation{Rules: tt.rules}, rec.Schema(), base, mem)
			const offset = 1000
			got, err := e.Apply(rec, "f.parquet", offset)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			if got.Valid == nil {
				t.Fatal("no valid rows")
			}
			if !got.Valid.Schema().Equal(rec.Schema()) {
				t.Errorf("Valid schema %v, want %v", got.Valid.Schema(), rec.Schema())
			}
			if v := values(column(got.Valid, tt.check)); !slices.Equal(v, tt.want) {
				t.Errorf("Valid %s = %q, want %q", tt.check, v, tt.want)
			}
			st := got.Stats
			if st.Imputed != tt.imputed || st.Clipped != tt.clipped {
				t.Errorf("imputed %d clipped %d, want %d %d", st.Imputed, st.Clipped, tt.imputed, tt.clipped)
			}
			if st.Rejected != int64(len(tt.quarantine)) || st.Valid != got.Valid.NumRows() {
				t.Errorf("rejected %d valid %d", st.Rejected, st.Valid)
			}
			if len(tt.quarantine) == 0 {
				if got.Quarantine != nil {
					t.Errorf("quarantine has %d rows, want none", got.Quarantine.NumRows())
				}
				return
			}
			q := got.Quarantine
			if !q.Schema().Equal(QuarantineSchema(rec.Schema())) {
				t.Errorf("quarantine schema %v", q.Schema())
			}
			var rows []int64
			for _, r := range column(q, "_source_row").(interface{ Int64Values() []int64 }).Int64Values() {
				rows = append(rows, r-offset)
			}
			if !slices.Equal(rows, tt.quarantine) {
				t.Errorf("quarantined rows %v, want %v", rows, tt.quarantine)
			}
			if r := values(column(q, "_reasons")); !slices.Equal(r, tt.reasons) {
				t.Errorf("reasons %q, want %q", r, tt.reasons)
			}
			for _, f := range values(column(q, "_source_file")) {
				if f != "f.parquet" {
					t.Errorf("_source_file %q", f)
				}
			}
			// Original values, not clipped or imputed ones.
			xs := values(column(q, "x"))
			for k, r := range tt.quarantine {
				if want := values(column(rec, "x"))[r]; xs[k] != want {
					t.Errorf("quarantined x[%d] = %s, want the original %s", k, xs[k], want)
				}
			}
		})
	}
}

func TestFailAction(t *testing.T) {
	mem := checkedMem(t)
	rec := record(
		col{"id", build(t, mem, arrow.BinaryTypes.String, "a", "b", "c")},
		col{"x", build(t, mem, arrow.PrimitiveTypes.Float64, 1.0, nan, 2.0)},
	)
	defer rec.Release()
	v := spec.Validation{
		Columns: map[string]spec.ColumnSchema{"x": {Type: "float", PII: true}},
		Rules:   []spec.Rule{{Column: "x", Check: "finite", Action: "fail", Name: "x_is_finite"}, {Column: "x", Check: "not_null"}},
	}
	e := newEngine(t, v, rec.Schema(), nil, mem)
	got, err := e.Apply(rec, "data/part-3.parquet", 65536)
	if !errorsIs(err, ErrFailRule) {
		t.Fatalf("got %v, want ErrFailRule", err)
	}
	for _, want := range []string{"x_is_finite", "data/part-3.parquet", "row 65537", "***"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if got.Valid != nil || got.Quarantine != nil {
		t.Error("records returned with an error")
	}
}

func TestSamples(t *testing.T) {
	mem := checkedMem(t)
	rec := record(
		col{"id", build(t, mem, arrow.PrimitiveTypes.Int64, 10, 11, 12, 13)},
		col{"email", build(t, mem, arrow.BinaryTypes.String, "a@x", "", "", "")},
	)
	defer rec.Release()
	v := spec.Validation{
		SampleRows: 2,
		Columns:    map[string]spec.ColumnSchema{"email": {Type: "string", PII: true}},
		Rules:      []spec.Rule{{Column: "email", Check: "length", MinLength: ptr(1), Action: "warn"}},
		Table:      spec.TableRules{Unique: []string{"id"}},
	}
	e := newEngine(t, v, rec.Schema(), nil, mem)
	got, err := e.Apply(rec, "f", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Release()
	s := got.Stats.Rules[0].Samples
	if len(s) != 2 || s[0].Row != 8 || s[1].Row != 9 || s[0].File != "f" {
		t.Fatalf("samples %+v", s)
	}
	if s[0].Values["email"] != "***" || s[0].Values["id"] != "11" {
		t.Errorf("sample values %v", s[0].Values)
	}
	if len(got.Stats.KeyHashes) != 4 {
		t.Errorf("%d key hashes", len(got.Stats.KeyHashes))
	}
}

// Scored rows say which impute, clip and warn rules changed or doubted
// them; rejected rows are not among them.
func TestMarks(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	lo, hi := 0.0, 10.0
	v := spec.Validation{MaxInvalidFraction: 1, Rules: []spec.Rule{
		{Column: "x", Check: "range", Min: &lo, Max: &hi, Action: "clip"},
		{Column: "x", Check: "finite"},
		{Name: "big", Column: "x", Check: "range", Max: &lo, Action: "warn"},
	}}
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true}}, nil)
	e, err := New(v, schema, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), nil, mem)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Marks() {
		t.Fatal("an engine with clip and warn rules must mark")
	}
	b := array.NewFloat64Builder(mem)
	b.AppendValues([]float64{-1, 5, math.NaN(), 20, 0}, nil)
	col := b.NewArray()
	b.Release()
	rec := array.NewRecord(schema, []arrow.Array{col}, 5)
	col.Release()
	defer rec.Release()
	c, err := e.Apply(rec, "f.parquet", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	got := c.Marks.(*array.String)
	want := []string{"range:x", "big", "range:x,big", ""} // the NaN row is rejected
	if got.Len() != len(want) || c.Valid.NumRows() != int64(len(want)) {
		t.Fatalf("%d marks for %d valid rows, want %d", got.Len(), c.Valid.NumRows(), len(want))
	}
	for i, w := range want {
		if got.Value(i) != w {
			t.Errorf("row %d marked %q, want %q", i, got.Value(i), w)
		}
	}
}
