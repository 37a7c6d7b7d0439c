package sqlio

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// TestTypeMapping is the documented type table, driver by driver, with the
// column descriptions drivers give (MySQL's as go-sql-driver reports them,
// since no server runs in the tests).
func TestTypeMapping(t *testing.T) {
	for _, c := range []struct {
		driver  string
		col     Column
		decimal bool
		want    string // Arrow type, or error text
	}{
		{"postgres", Column{DBType: "int2"}, false, "int16"},
		{"postgres", Column{DBType: "int4"}, false, "int32"},
		{"postgres", Column{DBType: "int8"}, false, "int64"},
		{"postgres", Column{DBType: "float4"}, false, "float32"},
		{"postgres", Column{DBType: "float8"}, false, "float64"},
		{"postgres", Column{DBType: "numeric", Precision: 12, Scale: 3, HasSize: true}, false, "float64"},
		{"postgres", Column{DBType: "numeric", Precision: 12, Scale: 3, HasSize: true}, true, "decimal(12, 3)"},
		{"postgres", Column{DBType: "numeric"}, true, "without a precision and scale"},
		{"postgres", Column{DBType: "numeric", Precision: 50, Scale: 3, HasSize: true}, true, "without a precision and scale"},
		{"postgres", Column{DBType: "text"}, false, "utf8"},
		{"postgres", Column{DBType: "varchar"}, false, "utf8"},
		{"postgres", Column{DBType: "bpchar"}, false, "utf8"},
		{"postgres", Column{DBType: "name"}, false, "utf8"},
		{"postgres", Column{DBType: "bool"}, false, "bool"},
		{"postgres", Column{DBType: "date"}, false, "date32"},
		{"postgres", Column{DBType: "timestamp"}, false, "timestamp[us]"},
		{"postgres", Column{DBType: "timestamptz"}, false, "timestamp[us, tz=UTC]"},
		{"postgres", Column{DBType: "json"}, false, "postgres type json"},
		{"postgres", Column{DBType: "bytea"}, false, "postgres type bytea"},
		{"sqlite", Column{DBType: "INTEGER"}, false, "int64"},
		{"sqlite", Column{DBType: "SMALLINT"}, false, "int64"},
		{"sqlite", Column{DBType: "REAL"}, false, "float64"},
		{"sqlite", Column{DBType: "DOUBLE PRECISION"}, false, "float64"},
		{"sqlite", Column{DBType: "TEXT"}, false, "utf8"},
		{"sqlite", Column{DBType: "VARCHAR(20)"}, false, "utf8"},
		{"sqlite", Column{DBType: "BOOLEAN"}, false, "bool"},
		{"sqlite", Column{DBType: "DATE"}, false, "date32"},
		{"sqlite", Column{DBType: "DATETIME"}, false, "timestamp[us]"},
		{"sqlite", Column{DBType: "DECIMAL(10,2)"}, true, "decimal(10, 2)"},
		{"sqlite", Column{DBType: "NUMERIC"}, false, "float64"},
		{"sqlite", Column{DBType: "BLOB"}, false, "sqlite type BLOB"},
		{"sqlite", Column{DBType: ""}, false, "no declared sqlite type"},
		{"mysql", Column{DBType: "TINYINT"}, false, "int8"},
		{"mysql", Column{DBType: "SMALLINT"}, false, "int16"},
		{"mysql", Column{DBType: "MEDIUMINT"}, false, "int32"},
		{"mysql", Column{DBType: "INT"}, false, "int32"},
		{"mysql", Column{DBType: "BIGINT"}, false, "int64"},
		{"mysql", Column{DBType: "UNSIGNED INT"}, false, "uint32"},
		{"mysql", Column{DBType: "UNSIGNED BIGINT"}, false, "uint64"},
		{"mysql", Column{DBType: "FLOAT"}, false, "float32"},
		{"mysql", Column{DBType: "DOUBLE"}, false, "float64"},
		{"mysql", Column{DBType: "DECIMAL", Precision: 10, Scale: 2, HasSize: true}, false, "float64"},
		{"mysql", Column{DBType: "DECIMAL", Precision: 10, Scale: 2, HasSize: true}, true, "decimal(10, 2)"},
		{"mysql", Column{DBType: "VARCHAR"}, false, "utf8"},
		{"mysql", Column{DBType: "CHAR"}, false, "utf8"},
		{"mysql", Column{DBType: "TEXT"}, false, "utf8"},
		{"mysql", Column{DBType: "ENUM"}, false, "utf8"},
		{"mysql", Column{DBType: "DATE"}, false, "date32"},
		{"mysql", Column{DBType: "DATETIME"}, false, "timestamp[us]"},
		{"mysql", Column{DBType: "TIMESTAMP"}, false, "timestamp[us, tz=UTC]"},
		{"mysql", Column{DBType: "JSON"}, false, "mysql type JSON"},
		{"mysql", Column{DBType: "GEOMETRY"}, false, "mysql type GEOMETRY"},
		{"oracle", Column{DBType: "NUMBER"}, false, "unknown driver"},
	} {
		c.col.Name = "c"
		name := c.driver + " " + c.col.DBType
		if c.decimal {
			name += " decimal"
		}
		t.Run(name, func(t *testing.T) {
			f, err := field(c.driver, c.col, c.decimal)
			if err != nil {
				if !errors.Is(err, ErrType) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"c"`) && c.driver != "oracle" {
					t.Fatalf("error %v, want ErrType naming the column and %q", err, c.want)
				}
				return
			}
			if got := f.Type.String(); got != c.want {
				t.Errorf("%s, want %s", got, c.want)
			}
		})
	}
}

// TestMySQLValues checks the conversions MySQL's text protocol needs:
// numbers, dates and times arrive as bytes.
func TestMySQLValues(t *testing.T) {
	for _, c := range []struct {
		dbType string
		in     []any
		want   []string
	}{
		{"BIGINT", []any{[]byte("-42"), int64(7), nil}, []string{"-42", "7", "(null)"}},
		{"UNSIGNED BIGINT", []any{[]byte("18446744073709551615"), uint64(3)}, []string{"18446744073709551615", "3"}},
		{"TINYINT", []any{[]byte("1"), int64(-128)}, []string{"1", "-128"}},
		{"DOUBLE", []any{[]byte("2.5"), float64(-1)}, []string{"2.5", "-1"}},
		{"DECIMAL", []any{[]byte("12.34")}, []string{"12.34"}},
		{"VARCHAR", []any{[]byte("héllo"), nil}, []string{"héllo", "(null)"}},
		{"DATE", []any{[]byte("2024-05-01")}, []string{"2024-05-01"}},
		{"DATETIME", []any{[]byte("2024-05-01 12:51:30.123456")}, []string{"2024-05-01 12:51:30.123456Z"}},
	} {
		t.Run(c.dbType, func(t *testing.T) {
			got := convert(t, "mysql", Column{Name: "c", DBType: c.dbType, Precision: 10, Scale: 2, HasSize: true}, c.in)
			if strings.Join(got, "|") != strings.Join(c.want, "|") {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	t.Run("out of range", func(t *testing.T) {
		_, err := convertErr("mysql", Column{Name: "c", DBType: "TINYINT"}, []any{[]byte("300")})
		if !errors.Is(err, ErrType) {
			t.Fatalf("error %v", err)
		}
	})
}

func convert(t *testing.T, driver string, c Column, in []any) []string {
	t.Helper()
	out, err := convertErr(driver, c, in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func convertErr(driver string, c Column, in []any) ([]string, error) {
	f, err := field(driver, c, false)
	if err != nil {
		return nil, err
	}
	k, _, _, _ := kindOf(driver, c)
	b := array.NewBuilder(memory.DefaultAllocator, f.Type)
	defer b.Release()
	for _, v := range in {
		if err := appendValue(b, k, v); err != nil {
			return nil, err
		}
	}
	a := b.NewArray()
	defer a.Release()
	var out []string
	for i := 0; i < a.Len(); i++ {
		out = append(out, a.ValueStr(i))
	}
	return out, nil
}
