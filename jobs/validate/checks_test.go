package validate

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/jobs/spec"
)

var (
	nan      = math.NaN()
	inf      = math.Inf(1)
	ninf     = math.Inf(-1)
	tsUTC    = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	tsNaive  = &arrow.TimestampType{Unit: arrow.Second}
	tsBerlin = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "Europe/Berlin"}
)

// TestChecks runs every check with the reject action on one column and
// compares the rows that fail.
func TestChecks(t *testing.T) {
	tests := []struct {
		name string
		dt   arrow.DataType
		vals []any
		rule spec.Rule
		want []int64 // failing rows
	}{
		{"not_null float", arrow.PrimitiveTypes.Float64, []any{1.0, nil, nan, nil}, spec.Rule{Check: "not_null"}, []int64{1, 3}},
		{"not_null string empty is not null", arrow.BinaryTypes.String, []any{"", nil, "x"}, spec.Rule{Check: "not_null"}, []int64{1}},
		{"not_null dictionary", dictStrings, []any{"a", nil}, spec.Rule{Check: "not_null"}, []int64{1}},
		{"not_null no nulls", arrow.PrimitiveTypes.Int64, []any{1, 2}, spec.Rule{Check: "not_null"}, nil},
		{"range float inclusive bounds", arrow.PrimitiveTypes.Float64, []any{-0.0001, 0.0, 10.0, 10.0001, nan, inf, ninf, nil},
			spec.Rule{Check: "range", Min: ptr(0.0), Max: ptr(10.0)}, []int64{0, 3, 4, 5, 6}},
		{"range float allow_nan", arrow.PrimitiveTypes.Float64, []any{-0.0001, 0.0, 10.0, 10.0001, nan, inf, ninf, nil},
			spec.Rule{Check: "range", Min: ptr(0.0), Max: ptr(10.0), AllowNaN: true}, []int64{0, 3, 5, 6}},
		{"range float32 NaN fails", arrow.PrimitiveTypes.Float32, []any{float32(nan), float32(1)}, spec.Rule{Check: "range", Max: ptr(2.0)}, []int64{0}},
		{"range min only", arrow.PrimitiveTypes.Float64, []any{-1.0, 1e300, inf}, spec.Rule{Check: "range", Min: ptr(0.0)}, []int64{0}},
		{"range max only", arrow.PrimitiveTypes.Float32, []any{float32(-1e30), float32(2), float32(2.5)}, spec.Rule{Check: "range", Max: ptr(2.0)}, []int64{2}},
		{"range int64", arrow.PrimitiveTypes.Int64, []any{0, 1, 3, 4, nil}, spec.Rule{Check: "range", Min: ptr(1.0), Max: ptr(3.0)}, []int64{0, 3}},
		{"range uint8", arrow.PrimitiveTypes.Uint8, []any{0, 200, 255}, spec.Rule{Check: "range", Max: ptr(200.0)}, []int64{2}},
		{"range int8 fractional bounds", arrow.PrimitiveTypes.Int8, []any{-1, 0, 1}, spec.Rule{Check: "range", Min: ptr(0.5)}, []int64{0, 1}},
		{"finite float64", arrow.PrimitiveTypes.Float64, []any{1.0, nan, inf, ninf, nil, -0.0, math.MaxFloat64}, spec.Rule{Check: "finite"}, []int64{1, 2, 3}},
		{"finite float32", arrow.PrimitiveTypes.Float32, []any{float32(1), float32(nan), float32(inf), nil}, spec.Rule{Check: "finite"}, []int64{1, 2}},
		{"finite int never fails", arrow.PrimitiveTypes.Int32, []any{1, nil}, spec.Rule{Check: "finite"}, nil},
		{"allowed strings", arrow.BinaryTypes.String, []any{"a", "c", "", nil, "A", "b"}, spec.Rule{Check: "allowed", Values: []string{"a", "b"}}, []int64{1, 2, 4}},
		{"allowed large strings", arrow.BinaryTypes.LargeString, []any{"a", "z"}, spec.Rule{Check: "allowed", Values: []string{"a"}}, []int64{1}},
		{"allowed dictionary", dictStrings, []any{"a", "c", "a", nil, "c"}, spec.Rule{Check: "allowed", Values: []string{"a"}}, []int64{1, 4}},
		{"allowed empty string allowed", arrow.BinaryTypes.String, []any{"", "x"}, spec.Rule{Check: "allowed", Values: []string{""}}, []int64{1}},
		{"allowed ints as text", arrow.PrimitiveTypes.Int32, []any{1, 2, 3, nil, -1}, spec.Rule{Check: "allowed", Values: []string{"1", "02", "-1"}}, []int64{1, 2}},
		{"allowed uint64", arrow.PrimitiveTypes.Uint64, []any{7, 8}, spec.Rule{Check: "allowed", Values: []string{"7"}}, []int64{1}},
		{"allowed bools", arrow.FixedWidthTypes.Boolean, []any{true, false, nil}, spec.Rule{Check: "allowed", Values: []string{"true"}}, []int64{1}},
		{"allowed bools both", arrow.FixedWidthTypes.Boolean, []any{true, false}, spec.Rule{Check: "allowed", Values: []string{"true", "false"}}, nil},
		{"allowed floats as text", arrow.PrimitiveTypes.Float64, []any{1.5, 2.0, 2.5, nan, nil}, spec.Rule{Check: "allowed", Values: []string{"1.5", "2", "2.50"}}, []int64{2, 3}},
		{"allowed NaN listed", arrow.PrimitiveTypes.Float64, []any{nan, 1.0}, spec.Rule{Check: "allowed", Values: []string{"NaN"}}, []int64{1}},
		{"allowed dates", arrow.FixedWidthTypes.Date32, []any{"2024-06-15", "2024-06-16", nil}, spec.Rule{Check: "allowed", Values: []string{"2024-06-15"}}, []int64{1}},
		{"allowed date64", arrow.FixedWidthTypes.Date64, []any{"1969-12-31", "2024-06-16"}, spec.Rule{Check: "allowed", Values: []string{"1969-12-31"}}, []int64{1}},
		{"length runes", arrow.BinaryTypes.String, []any{"", "a", "abc", "abcd", "äöü", "\xff", nil},
			spec.Rule{Check: "length", MinLength: ptr(1), MaxLength: ptr(3)}, []int64{0, 3, 5}},
		{"length max only, invalid UTF-8", arrow.BinaryTypes.String, []any{"", "ab\xc3", "ab"}, spec.Rule{Check: "length", MaxLength: ptr(5)}, []int64{1}},
		{"length dictionary", dictStrings, []any{"long one", "ok"}, spec.Rule{Check: "length", MaxLength: ptr(3)}, []int64{0}},
		{"pattern anchored", arrow.BinaryTypes.String, []any{"AB123", "AB1234", "ab123", "", "\xffAB123", nil, "XAB123"},
			spec.Rule{Check: "pattern", Pattern: `[A-Z]{2}\d{3}`}, []int64{1, 2, 3, 4, 6}},
		{"pattern alternation is anchored as a whole", arrow.BinaryTypes.String, []any{"a", "b", "ab"}, spec.Rule{Check: "pattern", Pattern: `a|b`}, []int64{2}},
		{"pattern invalid UTF-8 fails even with dot", arrow.BinaryTypes.String, []any{"\xfe", "x"}, spec.Rule{Check: "pattern", Pattern: `.*`}, []int64{0}},
		{"date_range date32 around logical date", arrow.FixedWidthTypes.Date32, []any{"2024-06-15", "2024-06-16", "2024-05-16", "2024-05-15", nil},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0), MaxDaysBefore: ptr(30)}, []int64{1, 3}},
		{"date_range after 1 day", arrow.FixedWidthTypes.Date32, []any{"2024-06-16", "2024-06-17", "1900-01-01"},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(1)}, []int64{1}},
		{"date_range date64", arrow.FixedWidthTypes.Date64, []any{"2024-06-15", "2024-06-16", "1969-01-01"},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0), MaxDaysBefore: ptr(36500)}, []int64{1}},
		{"date_range timestamp UTC end of day", tsUTC, []any{"2024-06-15T23:59:59Z", "2024-06-16T00:00:00Z", "2024-06-14T00:00:00Z", "2024-06-13T23:59:59Z", nil},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0), MaxDaysBefore: ptr(1)}, []int64{1, 3}},
		{"date_range naive timestamp", tsNaive, []any{"2024-06-15T12:00:00Z", "2024-06-16T00:00:01Z"},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0)}, []int64{1}},
		{"date_range zoned timestamp compares in the logical location (UTC)", tsBerlin, []any{"2024-06-16T00:30:00+02:00", "2024-06-16T01:30:00Z"},
			spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0)}, []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := checkedMem(t)
			tt.rule.Column = "c"
			rec := record(col{"c", build(t, mem, tt.dt, tt.vals...)})
			defer rec.Release()
			e := newEngine(t, spec.Validation{Rules: []spec.Rule{tt.rule}}, rec.Schema(), nil, mem)
			const offset = 100
			got, err := e.Apply(rec, "part-0.parquet", offset)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Release()
			st := got.Stats
			if st.Rules[0].Failed != int64(len(tt.want)) || st.Rejected != int64(len(tt.want)) {
				t.Errorf("failed %d, rejected %d; want %d", st.Rules[0].Failed, st.Rejected, len(tt.want))
			}
			if st.Rows != int64(len(tt.vals)) || st.Valid+st.Rejected != st.Rows {
				t.Errorf("rows %d valid %d rejected %d", st.Rows, st.Valid, st.Rejected)
			}
			var rows []int64
			if q := got.Quarantine; q != nil {
				rows = slices.Clone(column(q, "_source_row").(*array.Int64).Int64Values())
				for i := range rows {
					rows[i] -= offset
				}
			}
			if !slices.Equal(rows, tt.want) {
				t.Errorf("quarantined rows %v, want %v", rows, tt.want)
			}
			validRows := int64(0)
			if got.Valid != nil {
				validRows = got.Valid.NumRows()
			}
			if validRows != st.Valid {
				t.Errorf("Valid has %d rows, stats say %d", validRows, st.Valid)
			}
		})
	}
}

// TestCheckNotApplicable: checks that cannot apply to a column's type are
// refused when the engine is built.
func TestCheckNotApplicable(t *testing.T) {
	tests := []struct {
		name string
		dt   arrow.DataType
		rule spec.Rule
	}{
		{"pattern on float", arrow.PrimitiveTypes.Float64, spec.Rule{Check: "pattern", Pattern: "x"}},
		{"length on int", arrow.PrimitiveTypes.Int64, spec.Rule{Check: "length", MaxLength: ptr(1)}},
		{"range on string", arrow.BinaryTypes.String, spec.Rule{Check: "range", Min: ptr(1.0)}},
		{"finite on date", arrow.FixedWidthTypes.Date32, spec.Rule{Check: "finite"}},
		{"date_range on int", arrow.PrimitiveTypes.Int64, spec.Rule{Check: "date_range", MaxDaysAfter: ptr(0)}},
		{"allowed on timestamp", tsUTC, spec.Rule{Check: "allowed", Values: []string{"x"}}},
		{"clip without range", arrow.PrimitiveTypes.Float64, spec.Rule{Check: "finite", Action: "clip"}},
		{"impute value of the wrong type", arrow.PrimitiveTypes.Int8, spec.Rule{Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("300")}}},
		{"median of a string", arrow.BinaryTypes.String, spec.Rule{Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "median"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rule.Column = "c"
			schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: tt.dt}}, nil)
			base := fakeBaseline{medians: map[string]float64{"c": 1}}
			_, err := New(spec.Validation{ExtraColumns: "ignore", Rules: []spec.Rule{tt.rule}}, schema, logical, base, nil)
			if !errorsIs(err, spec.ErrInvalid) {
				t.Fatalf("got %v, want spec.ErrInvalid", err)
			}
			if !contains(err.Error(), `"c"`) && !contains(err.Error(), "c") {
				t.Errorf("error does not name the column: %v", err)
			}
		})
	}
}

// TestStringChecksPerValue: a string chunk of few distinct values is
// judged once per value, one of many row by row; both fail the rows a
// row-by-row reading of the rule fails.
func TestStringChecksPerValue(t *testing.T) {
	rules := []spec.Rule{
		{Column: "c", Check: "allowed", Values: []string{"v1", "v3", "a long allowed value of many bytes"}, Name: "allowed"},
		{Column: "c", Check: "length", MaxLength: ptr(2), Name: "length"},
		{Column: "c", Check: "pattern", Pattern: "^v[0-4]$", Name: "pattern"},
	}
	want := func(rule string, v string) bool {
		switch rule {
		case "allowed":
			return v != "v1" && v != "v3" && v != "a long allowed value of many bytes"
		case "length":
			return len([]rune(v)) > 2
		}
		return len(v) != 2 || v[0] != 'v' || v[1] < '0' || v[1] > '4'
	}
	for _, distinct := range []int{5, 200} {
		mem := checkedMem(t)
		vals := make([]any, 3000)
		for i := range vals {
			switch k := (i * 7919) % distinct; {
			case i%11 == 5:
				vals[i] = nil
			case k == 4:
				vals[i] = "a long allowed value of many bytes"
			default:
				vals[i] = "v" + strconv.Itoa(k)
			}
		}
		rec := record(col{"c", build(t, mem, arrow.BinaryTypes.String, vals...)})
		e := newEngine(t, spec.Validation{Rules: rules}, rec.Schema(), nil, mem)
		got, err := e.Apply(rec, "part-0.parquet", 0)
		if err != nil {
			t.Fatal(err)
		}
		for r, rule := range rules {
			var n int64
			for _, v := range vals {
				if s, ok := v.(string); ok && want(rule.Name, s) {
					n++
				}
			}
			if got.Stats.Rules[r].Failed != n {
				t.Errorf("%d distinct values: rule %s failed %d rows, want %d", distinct, rule.Name, got.Stats.Rules[r].Failed, n)
			}
		}
		got.Release()
		rec.Release()
	}
}
