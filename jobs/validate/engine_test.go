package validate

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/spec"
)

func TestNewSchema(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "small", Type: arrow.PrimitiveTypes.Int8},
		{Name: "u32", Type: arrow.PrimitiveTypes.Uint32},
		{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float32},
		{Name: "name", Type: arrow.BinaryTypes.String},
		{Name: "big", Type: arrow.BinaryTypes.LargeString},
		{Name: "seg", Type: dictStrings},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "day", Type: arrow.FixedWidthTypes.Date64},
		{Name: "at", Type: tsBerlin},
	}, nil)
	all := map[string]spec.ColumnSchema{}
	for _, f := range schema.Fields() {
		all[f.Name] = spec.ColumnSchema{}
	}
	tests := []struct {
		name    string
		v       spec.Validation
		base    Baseline
		wantErr error
		wantIn  string // in the error text
	}{
		{name: "compatible types", v: spec.Validation{ExtraColumns: "reject", Columns: map[string]spec.ColumnSchema{
			"id": {Type: "int"}, "small": {Type: "int"}, "u32": {Type: "float"}, "u64": {}, "x": {Type: "float"},
			"name": {Type: "string"}, "big": {Type: "string"}, "seg": {Type: "string"}, "ok": {Type: "bool"},
			"day": {Type: "date"}, "at": {Type: "timestamp"},
		}}},
		{name: "missing required column", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"nope": {Type: "int"}}}, wantErr: ErrSchema, wantIn: `"nope"`},
		{name: "missing optional column", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"nope": {Type: "int", Required: ptr(false)}}}},
		{name: "string is not float", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"name": {Type: "float"}}}, wantErr: ErrSchema, wantIn: "float accepts"},
		{name: "uint64 is not int", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"u64": {Type: "int"}}}, wantErr: ErrSchema, wantIn: `"u64"`},
		{name: "float is not int", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"x": {Type: "int"}}}, wantErr: ErrSchema, wantIn: `"x"`},
		{name: "date64 is not timestamp", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"day": {Type: "timestamp"}}}, wantErr: ErrSchema, wantIn: `"day"`},
		{name: "extra column rejected", v: spec.Validation{ExtraColumns: "reject", Columns: map[string]spec.ColumnSchema{"id": {}},
			Rules: []spec.Rule{{Column: "x", Check: "finite"}}, Table: spec.TableRules{Unique: []string{"name"}}}, wantErr: ErrSchema, wantIn: `"small"`},
		{name: "extra column ignored", v: spec.Validation{Columns: map[string]spec.ColumnSchema{"id": {}}}},
		{name: "rule on a missing column", v: spec.Validation{Rules: []spec.Rule{{Column: "ghost", Check: "not_null"}}}, wantErr: ErrSchema, wantIn: `"ghost"`},
		{name: "unique on a missing column", v: spec.Validation{Table: spec.TableRules{Unique: []string{"ghost"}}}, wantErr: ErrSchema, wantIn: `"ghost"`},
		{name: "freshness on a missing column", v: spec.Validation{Table: spec.TableRules{Freshness: &spec.Freshness{Column: "ghost"}}}, wantErr: ErrSchema, wantIn: `"ghost"`},
		{name: "freshness on a number", v: spec.Validation{Table: spec.TableRules{Freshness: &spec.Freshness{Column: "id"}}}, wantErr: spec.ErrInvalid, wantIn: `"id"`},
		{name: "impute from without a baseline", v: spec.Validation{Rules: []spec.Rule{{Column: "id", Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "median"}}}}, wantErr: spec.ErrInvalid, wantIn: `"id"`},
		{name: "impute from a baseline without the column", base: fakeBaseline{}, v: spec.Validation{Rules: []spec.Rule{{Column: "name", Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "mode"}}}}, wantErr: spec.ErrInvalid, wantIn: `"name"`},
		{name: "impute the mode of a number", base: fakeBaseline{modes: map[string]string{"id": "5"}}, v: spec.Validation{Rules: []spec.Rule{{Column: "id", Check: "not_null", Action: "impute", Impute: &spec.Impute{From: "mode"}}}}, wantErr: spec.ErrInvalid, wantIn: "use impute.from: median"},
		{name: "impute timestamp constant", v: spec.Validation{Rules: []spec.Rule{{Column: "at", Check: "not_null", Action: "impute", Impute: &spec.Impute{Value: ptr("2024-06-15T10:00:00Z")}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.v.ExtraColumns == "" {
				tt.v.ExtraColumns = "ignore"
			}
			_, err := New(tt.v, schema, logical, tt.base, nil)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not contain %q", err, tt.wantIn)
			}
		})
	}
	_ = all
}

func TestColumns(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "a", Type: arrow.PrimitiveTypes.Int64}, {Name: "b", Type: arrow.PrimitiveTypes.Float64},
		{Name: "d", Type: arrow.FixedWidthTypes.Date32}, {Name: "unused", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	v := spec.Validation{ExtraColumns: "ignore",
		Rules: []spec.Rule{{Column: "b", Check: "finite"}, {Column: "a", Check: "not_null"}, {Column: "b", Check: "not_null"}},
		Table: spec.TableRules{Unique: []string{"a"}, Freshness: &spec.Freshness{Column: "d"}},
	}
	e, err := New(v, schema, logical, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Columns(); !slices.Equal(got, []string{"b", "a", "d"}) {
		t.Errorf("Columns() = %v", got)
	}
}

func TestApplyChunkSchemaDrift(t *testing.T) {
	mem := checkedMem(t)
	rec := record(col{"x", build(t, mem, arrow.PrimitiveTypes.Float64, 1.0)})
	defer rec.Release()
	e := newEngine(t, spec.Validation{Rules: []spec.Rule{{Column: "x", Check: "finite"}}}, rec.Schema(), nil, mem)
	other := record(col{"x", build(t, mem, arrow.PrimitiveTypes.Int64, 1)})
	defer other.Release()
	if _, err := e.Apply(other, "g", 0); !errors.Is(err, ErrSchema) {
		t.Errorf("got %v, want ErrSchema", err)
	}
}

// extra_columns: reject refuses the columns nobody declared or uses; the
// job's own columns (UsedColumns) are used.
func TestRejectExtraColumns(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: arrow.PrimitiveTypes.Float64},
		{Name: "y", Type: arrow.PrimitiveTypes.Float64}, {Name: "stray", Type: arrow.PrimitiveTypes.Int64},
	}, nil)
	v := spec.Validation{ExtraColumns: "reject", Rules: []spec.Rule{{Column: "y", Check: "finite"}}}
	_, err := New(v, schema, logical, nil, nil, UsedColumns("id", "x"))
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), `["stray"]`) {
		t.Errorf("got %v, want ErrSchema naming only stray", err)
	}
	if _, err := New(v, schema, logical, nil, nil, UsedColumns("id", "x", "stray")); err != nil {
		t.Errorf("every column used: %v", err)
	}
	v.ExtraColumns = "ignore"
	if _, err := New(v, schema, logical, nil, nil); err != nil {
		t.Errorf("ignore: %v", err)
	}
}
