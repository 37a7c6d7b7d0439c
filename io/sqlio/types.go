package sqlio

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// Column is what a driver says about one result column: its name, its
// database type name (upper case, as database/sql's DatabaseTypeName
// reports it: INT4, NUMERIC, VARCHAR(20), DECIMAL) and, where the driver
// knows them, a decimal's precision and scale.
type Column struct {
	Name      string
	DBType    string
	Precision int64
	Scale     int64
	HasSize   bool // Precision and Scale are known
}

// kind is the Arrow type family a database type maps to.
type kind int

const (
	kInvalid kind = iota
	kInt8
	kInt16
	kInt32
	kInt64
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kNumeric // float64, or decimal128(p, s) when Config.Decimal is "decimal"
	kText
	kBool
	kDate
	kTimestamp   // no time zone: timestamp[us]
	kTimestampTZ // an instant: timestamp[us, UTC]
)

// The type mapping. It is explicit: a type that is not listed is an error
// (ErrType) naming the column and its database type, never a guess.
//
//	PostgreSQL                  SQLite (declared type)        MySQL                          Arrow
//	smallint / int2             -                             TINYINT                        int8 (MySQL) / int16
//	                            -                             SMALLINT, YEAR                 int16
//	integer / int4              -                             INT, MEDIUMINT                 int32
//	bigint / int8               INTEGER, INT, BIGINT, …INT…   BIGINT                         int64
//	-                           -                             UNSIGNED TINYINT/SMALLINT/INT  uint8 / uint16 / uint32
//	-                           -                             UNSIGNED BIGINT                uint64
//	real / float4               -                             FLOAT                          float32
//	double precision / float8   REAL, DOUBLE, FLOAT           DOUBLE                         float64
//	numeric / decimal           NUMERIC, DECIMAL              DECIMAL                        float64, or decimal128(p, s)
//	text, varchar, char, name   TEXT, VARCHAR, CHAR, CLOB     CHAR, VARCHAR, *TEXT, ENUM     utf8
//	boolean                     BOOLEAN, BOOL                 BOOL (is TINYINT: int8)        bool
//	date                        DATE ('YYYY-MM-DD' text)      DATE                           date32
//	timestamp                   DATETIME, TIMESTAMP           DATETIME                       timestamp[us]
//	timestamptz                 -                             TIMESTAMP (stored as UTC)      timestamp[us, UTC]
//
// NULL is a null of the column's type, in every type. An SQLite column
// without a declared type (an expression) takes its type from the first
// row's value: INTEGER int64, REAL float64, TEXT utf8; a NULL or no row
// there is an ErrType (select a table column, or give the query a first
// row with a value).
//
// Decimal mode needs the column's precision and scale: PostgreSQL
// numeric(p, s), MySQL DECIMAL(p, s), SQLite a declared DECIMAL(p, s). An
// unconstrained numeric, or a precision above 38, is an ErrType in decimal
// mode; cast it (numeric(18, 4)).
var (
	postgresKinds = map[string]kind{
		"INT2": kInt16, "INT4": kInt32, "INT8": kInt64,
		"FLOAT4": kFloat32, "FLOAT8": kFloat64, "NUMERIC": kNumeric,
		"TEXT": kText, "VARCHAR": kText, "BPCHAR": kText, "NAME": kText,
		"BOOL": kBool, "DATE": kDate, "TIMESTAMP": kTimestamp, "TIMESTAMPTZ": kTimestampTZ,
	}
	mysqlKinds = map[string]kind{
		"TINYINT": kInt8, "SMALLINT": kInt16, "YEAR": kInt16, "MEDIUMINT": kInt32, "INT": kInt32, "INTEGER": kInt32, "BIGINT": kInt64,
		"UNSIGNED TINYINT": kUint8, "UNSIGNED SMALLINT": kUint16, "UNSIGNED MEDIUMINT": kUint32, "UNSIGNED INT": kUint32, "UNSIGNED BIGINT": kUint64,
		"FLOAT": kFloat32, "DOUBLE": kFloat64, "DECIMAL": kNumeric,
		"CHAR": kText, "VARCHAR": kText, "TINYTEXT": kText, "TEXT": kText, "MEDIUMTEXT": kText, "LONGTEXT": kText, "ENUM": kText, "SET": kText,
		"BOOL": kBool, "BOOLEAN": kBool,
		"DATE": kDate, "DATETIME": kTimestamp, "TIMESTAMP": kTimestampTZ,
	}
	sqliteKinds = map[string]kind{
		"BOOLEAN": kBool, "BOOL": kBool, "DATE": kDate, "DATETIME": kTimestamp, "TIMESTAMP": kTimestamp,
		"NUMERIC": kNumeric, "DECIMAL": kNumeric,
	}
)

// field maps one column to its Arrow field. decimal selects decimal128 over
// float64 for numeric columns. Every field is nullable.
func field(driver string, c Column, decimal bool) (arrow.Field, error) {
	k, p, s, err := kindOf(driver, c)
	if err != nil {
		return arrow.Field{}, err
	}
	var t arrow.DataType
	switch k {
	case kInt8:
		t = arrow.PrimitiveTypes.Int8
	case kInt16:
		t = arrow.PrimitiveTypes.Int16
	case kInt32:
		t = arrow.PrimitiveTypes.Int32
	case kInt64:
		t = arrow.PrimitiveTypes.Int64
	case kUint8:
		t = arrow.PrimitiveTypes.Uint8
	case kUint16:
		t = arrow.PrimitiveTypes.Uint16
	case kUint32:
		t = arrow.PrimitiveTypes.Uint32
	case kUint64:
		t = arrow.PrimitiveTypes.Uint64
	case kFloat32:
		t = arrow.PrimitiveTypes.Float32
	case kFloat64:
		t = arrow.PrimitiveTypes.Float64
	case kNumeric:
		if !decimal {
			t = arrow.PrimitiveTypes.Float64
			break
		}
		if p <= 0 || p > 38 || s < 0 || s > p {
			return arrow.Field{}, fmt.Errorf("%w: column %q is %s without a precision and scale decimal128 can hold (have %d, %d); cast it, e.g. numeric(18,4)", ErrType, c.Name, c.DBType, p, s)
		}
		t = &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}
	case kText:
		t = arrow.BinaryTypes.String
	case kBool:
		t = arrow.FixedWidthTypes.Boolean
	case kDate:
		t = arrow.FixedWidthTypes.Date32
	case kTimestamp:
		t = &arrow.TimestampType{Unit: arrow.Microsecond}
	case kTimestampTZ:
		t = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	return arrow.Field{Name: c.Name, Type: t, Nullable: true}, nil
}

// kindOf finds a column's kind and, for numerics, its precision and scale
// (from the driver, or from a declared "DECIMAL(p,s)").
func kindOf(driver string, c Column) (k kind, p, s int64, err error) {
	base, args := splitType(c.DBType)
	p, s = c.Precision, c.Scale
	if !c.HasSize && len(args) > 0 {
		p, _ = strconv.ParseInt(args[0], 10, 64)
		if len(args) > 1 {
			s, _ = strconv.ParseInt(args[1], 10, 64)
		}
	}
	var ok bool
	switch driver {
	case "postgres":
		k, ok = postgresKinds[base]
	case "mysql":
		k, ok = mysqlKinds[base]
	case "sqlite":
		k, ok = sqliteKinds[base]
		if !ok && base != "" {
			k, ok = sqliteAffinity(base)
		}
	default:
		return kInvalid, 0, 0, fmt.Errorf("%w: unknown driver %q", ErrType, driver)
	}
	if !ok {
		if c.DBType == "" {
			return kInvalid, 0, 0, fmt.Errorf("%w: column %q has no declared %s type and no first value to type it by; select a table column", ErrType, c.Name, driver)
		}
		return kInvalid, 0, 0, fmt.Errorf("%w: column %q has %s type %s, which batchscore does not read; cast it to a supported type", ErrType, c.Name, driver, c.DBType)
	}
	return k, p, s, nil
}

// sqliteAffinity follows SQLite's column affinity rules
// (https://www.sqlite.org/datatype3.html, 3.1) for declared types that are
// not listed by name. BLOB and the numeric affinity fallback are errors.
func sqliteAffinity(decl string) (kind, bool) {
	switch {
	case strings.Contains(decl, "INT"):
		return kInt64, true
	case strings.Contains(decl, "CHAR"), strings.Contains(decl, "CLOB"), strings.Contains(decl, "TEXT"):
		return kText, true
	case strings.Contains(decl, "REAL"), strings.Contains(decl, "FLOA"), strings.Contains(decl, "DOUB"):
		return kFloat64, true
	}
	return kInvalid, false
}

// splitType splits "DECIMAL(10, 2)" into "DECIMAL" and ["10", "2"], and
// upper-cases the base name. "UNSIGNED INT" and "DOUBLE PRECISION" keep
// their words.
func splitType(t string) (string, []string) {
	t = strings.ToUpper(strings.TrimSpace(t))
	i := strings.IndexByte(t, '(')
	if i < 0 {
		return t, nil
	}
	base := strings.TrimSpace(t[:i])
	inner := t[i+1:]
	if j := strings.IndexByte(inner, ')'); j >= 0 {
		inner = inner[:j]
	}
	var args []string
	for _, a := range strings.Split(inner, ",") {
		args = append(args, strings.TrimSpace(a))
	}
	return base, args
}
