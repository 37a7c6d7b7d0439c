package sqlio

import (
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// valueFunc returns row i of a column as a driver argument, nil for NULL.
type valueFunc func(i int) any

// Text layouts for SQLite, which has no date or time types: sortable and
// understood by its date functions.
const (
	sqliteDate        = "2006-01-02"
	sqliteTimestamp   = "2006-01-02 15:04:05.000000Z07:00"
	sqliteTimestampNo = "2006-01-02 15:04:05.000000"
)

// columnValues reads an Arrow column as the arguments a dialect's driver
// takes: pgx gets Go values it encodes in binary for COPY, SQLite gets
// dates and times as text, MySQL gets time.Time in UTC.
func columnValues(d sinkDialect, a arrow.Array) (valueFunc, error) {
	if dict, ok := a.(*array.Dictionary); ok {
		inner, err := columnValues(d, dict.Dictionary())
		if err != nil {
			return nil, err
		}
		return func(i int) any {
			if dict.IsNull(i) {
				return nil
			}
			return inner(dict.GetValueIndex(i))
		}, nil
	}
	var f valueFunc
	switch c := a.(type) {
	case *array.Int8:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Int16:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Int32:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Int64:
		f = func(i int) any { return c.Value(i) }
	case *array.Uint8:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Uint16:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Uint32:
		f = func(i int) any { return int64(c.Value(i)) }
	case *array.Float32:
		if d == sinkPostgres {
			f = func(i int) any { return c.Value(i) }
		} else {
			f = func(i int) any { return float64(c.Value(i)) }
		}
	case *array.Float64:
		f = func(i int) any { return c.Value(i) }
	case *array.Boolean:
		f = func(i int) any { return c.Value(i) }
	case *array.String:
		f = func(i int) any { return c.Value(i) }
	case *array.LargeString:
		f = func(i int) any { return c.Value(i) }
	case *array.Binary:
		f = func(i int) any { return c.Value(i) }
	case *array.LargeBinary:
		f = func(i int) any { return c.Value(i) }
	case *array.Decimal128:
		f = decimalValues(d, c)
	case *array.Date32:
		f = dateValues(d, func(i int) time.Time { return c.Value(i).ToTime() })
	case *array.Date64:
		f = dateValues(d, func(i int) time.Time { return c.Value(i).ToTime() })
	case *array.Timestamp:
		tt := c.DataType().(*arrow.TimestampType)
		unit, zoned := tt.Unit, tt.TimeZone != ""
		at := func(i int) time.Time { return c.Value(i).ToTime(unit) }
		switch {
		case d == sinkSQLite && zoned:
			f = func(i int) any { return at(i).Format(sqliteTimestamp) }
		case d == sinkSQLite:
			f = func(i int) any { return at(i).Format(sqliteTimestampNo) }
		default:
			f = func(i int) any { return at(i) }
		}
	default:
		return nil, fmt.Errorf("type %s is not supported", a.DataType())
	}
	if a.NullN() == 0 {
		return f, nil
	}
	return func(i int) any {
		if a.IsNull(i) {
			return nil
		}
		return f(i)
	}, nil
}

func dateValues(d sinkDialect, at func(int) time.Time) valueFunc {
	if d == sinkPostgres {
		return func(i int) any { return at(i) }
	}
	return func(i int) any { return at(i).Format(sqliteDate) }
}

// recordValues is a record's columns as value functions, followed by
// constants (version, scored_at) appended to every row. It is the pgx
// CopyFromSource of a record, too.
type recordValues struct {
	n      int
	row    int
	cols   []valueFunc
	consts []any
	vals   []any
}

func newRecordValues(d sinkDialect, rec arrow.Record, consts ...any) (*recordValues, error) {
	rv := &recordValues{n: int(rec.NumRows()), row: -1, consts: consts}
	for i, col := range rec.Columns() {
		f, err := columnValues(d, col)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", rec.ColumnName(i), err)
		}
		rv.cols = append(rv.cols, f)
	}
	rv.vals = make([]any, len(rv.cols)+len(consts))
	return rv, nil
}

// appendRow appends row i's values to args.
func (rv *recordValues) appendRow(args []any, i int) []any {
	for _, f := range rv.cols {
		args = append(args, f(i))
	}
	return append(args, rv.consts...)
}

// Next, Values and Err make a pgx.CopyFromSource. Values reuses its slice:
// pgx encodes a row before asking for the next.
func (rv *recordValues) Next() bool {
	rv.row++
	return rv.row < rv.n
}

func (rv *recordValues) Values() ([]any, error) {
	return rv.appendRow(rv.vals[:0], rv.row), nil
}

func (rv *recordValues) Err() error { return nil }
