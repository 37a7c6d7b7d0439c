package sqlio

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // driver "sqlite"
)

// dbReader streams a result through database/sql: SQLite and MySQL. Both
// drivers stream (SQLite steps the statement, MySQL reads the text or
// binary protocol row by row), so memory holds one batch. The statement
// timeout is a context deadline over the whole query.
type dbReader struct {
	db     *sqlx.DB
	conn   *sql.Conn
	rows   *sql.Rows
	sch    *arrow.Schema
	kinds  []kind
	names  []string
	vals   []any
	ptrs   []any
	cancel context.CancelFunc
	dsn    string
}

func openDB(ctx context.Context, cfg Config, dsn, query string, args []any) (reader, error) {
	if cfg.Driver == "mysql" {
		if _, err := mysql.ParseDSN(dsn); err != nil {
			return nil, fmt.Errorf("%w: %s does not hold a valid MySQL DSN", ErrDSN, cfg.where())
		}
	}
	db, err := sqlx.Open(cfg.Driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrDSN, cfg.where(), redact(err.Error(), dsn))
	}
	db.SetMaxOpenConns(1)
	r := &dbReader{db: db, dsn: dsn, cancel: func() {}}
	fail := func(what string, err error) (reader, error) {
		_ = r.close()
		return nil, dbError(cfg.Driver, what, err, dsn)
	}
	if r.conn, err = db.Conn(ctx); err != nil {
		return fail("connecting", err)
	}
	// MySQL converts TIMESTAMP values to the session's time zone, and the
	// values are labelled UTC when read: a server or DSN in another zone
	// would shift every instant silently.
	if cfg.Driver == "mysql" {
		if _, err := r.conn.ExecContext(ctx, "SET time_zone = '+00:00'"); err != nil {
			return fail("setting the session's time zone to UTC", err)
		}
	}
	qctx := ctx
	if cfg.Timeout > 0 {
		qctx, r.cancel = context.WithTimeout(ctx, cfg.Timeout)
	}
	if r.rows, err = r.conn.QueryContext(qctx, query, args...); err != nil {
		if qctx.Err() == context.DeadlineExceeded {
			err = context.DeadlineExceeded
		}
		return fail("starting the query", err)
	}
	cts, err := r.rows.ColumnTypes()
	if err != nil {
		return fail("reading the column types", err)
	}
	fields := make([]arrow.Field, len(cts))
	for i, ct := range cts {
		c := Column{Name: ct.Name(), DBType: ct.DatabaseTypeName()}
		if p, s, ok := ct.DecimalSize(); ok && p < math.MaxInt32 {
			c.Precision, c.Scale, c.HasSize = p, s, true
		}
		if cfg.Driver == "sqlite" && c.DBType == "" {
			c.DBType = sqliteValueType(ct.ScanType())
		}
		f, err := field(cfg.Driver, c, cfg.Decimal == "decimal")
		if err != nil {
			_ = r.close()
			return nil, err
		}
		k, _, _, _ := kindOf(cfg.Driver, c)
		fields[i] = f
		r.kinds = append(r.kinds, k)
		r.names = append(r.names, c.Name)
	}
	r.sch = arrow.NewSchema(fields, nil)
	r.vals = make([]any, len(cts))
	r.ptrs = make([]any, len(cts))
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r, nil
}

// sqliteValueType types an expression column (no declared type) by its
// first row's value; NULL or no row leaves it undeclared, an ErrType.
func sqliteValueType(t reflect.Type) string {
	if t == nil {
		return ""
	}
	switch t.Kind() {
	case reflect.Int64:
		return "INTEGER"
	case reflect.Float64:
		return "REAL"
	case reflect.String:
		return "TEXT"
	}
	return ""
}

func (r *dbReader) schema() *arrow.Schema { return r.sch }

func (r *dbReader) fill(b *array.RecordBuilder, want int, sum *[]byte) (int, error) {
	buf := *sum
	defer func() { *sum = buf }()
	n := 0
	for n < want {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				discard(b)
				return n, dbError(r.driver(), "reading", err, r.dsn)
			}
			return n, nil
		}
		if err := r.rows.Scan(r.ptrs...); err != nil {
			discard(b)
			return n, dbError(r.driver(), "reading", err, r.dsn)
		}
		for i, v := range r.vals {
			buf = appendSum(buf, v)
			if err := appendValue(b.Field(i), r.kinds[i], v); err != nil {
				discard(b)
				return n, fmt.Errorf("column %q: %w", r.names[i], err)
			}
		}
		n++
	}
	return n, nil
}

func (r *dbReader) driver() string {
	switch r.db.DriverName() {
	case "mysql":
		return "mysql"
	}
	return "sqlite"
}

// appendSum appends a value's type and bytes to the checksum input.
func appendSum(buf []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(buf, 0)
	case int64:
		return binary.LittleEndian.AppendUint64(append(buf, 1), uint64(x))
	case float64:
		return binary.LittleEndian.AppendUint64(append(buf, 2), math.Float64bits(x))
	case []byte:
		buf = binary.LittleEndian.AppendUint32(append(buf, 3), uint32(len(x)))
		return append(buf, x...)
	case string:
		buf = binary.LittleEndian.AppendUint32(append(buf, 3), uint32(len(x)))
		return append(buf, x...)
	case bool:
		if x {
			return append(buf, 4, 1)
		}
		return append(buf, 4, 0)
	case time.Time:
		buf = binary.LittleEndian.AppendUint64(append(buf, 5), uint64(x.UnixNano()))
		_, off := x.Zone()
		return binary.LittleEndian.AppendUint32(buf, uint32(off))
	case uint64:
		return binary.LittleEndian.AppendUint64(append(buf, 6), x)
	}
	return fmt.Appendf(append(buf, 7), "%T:%v\x00", v, v)
}

func (r *dbReader) close() error {
	var errs []error
	if r.rows != nil {
		errs = append(errs, r.rows.Close())
	}
	if r.conn != nil {
		errs = append(errs, r.conn.Close())
	}
	errs = append(errs, r.db.Close())
	r.cancel()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing: %s", redact(err.Error(), r.dsn))
	}
	return nil
}

// dbError classifies a database/sql error: lost or refused connections
// are ErrConnection, the deadline ErrTimeout, a database's error by its
// SQLSTATE class (see sqlStateClasses). The DSN is removed.
func dbError(drv, what string, err error, dsn string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := redact(err.Error(), dsn)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %s", ErrTimeout, what, msg)
	}
	var ne net.Error
	if state := sqlState(err); state != "" {
		// A database's answer: the connection works.
		return classifiedf(stateClass(state), drv, what, msg)
	}
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn), errors.As(err, &ne),
		strings.Contains(msg, "connection refused"), strings.Contains(msg, "unexpected EOF"):
		return fmt.Errorf("%w: %s: %s", ErrConnection, what, msg)
	}
	return fmt.Errorf("%s: %s: %s", drv, what, msg)
}
