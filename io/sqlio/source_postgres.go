package sqlio

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgReader streams a PostgreSQL result through pgx's own protocol
// implementation: rows arrive in binary format and are decoded straight
// from the wire bytes into the Arrow builders. pgx reads the result
// incrementally from the socket, so memory holds one batch, not the result.
type pgReader struct {
	conn  *pgx.Conn
	rows  pgx.Rows
	sch   *arrow.Schema
	cols  []pgColumn
	bound *array.RecordBuilder
	dsn   string
}

type pgColumn struct {
	name   string
	oid    uint32
	format int16
	kind   kind
	field  arrow.Field
	add    func(raw []byte) error // appends one value (nil raw: NULL)
}

// Days and microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const (
	pgEpochDays   = 10957
	pgEpochMicros = 946684800000000
)

func openPostgres(ctx context.Context, cfg Config, dsn, query string, args []any) (reader, error) {
	pc, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx quotes the string it could not parse: keep its text out.
		return nil, fmt.Errorf("%w: %s does not hold a valid PostgreSQL connection string", ErrDSN, cfg.where())
	}
	if cfg.Timeout > 0 {
		pc.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(cfg.Timeout.Milliseconds(), 1), 10)
	}
	if pc.RuntimeParams["application_name"] == "" {
		pc.RuntimeParams["application_name"] = "batchscore"
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return nil, pgError("connecting", err, dsn)
	}
	r := &pgReader{conn: conn, dsn: dsn}
	r.rows, err = conn.Query(ctx, query, args...)
	if err != nil {
		_ = conn.Close(context.Background())
		return nil, pgError("starting the query", err, dsn)
	}
	if len(r.rows.FieldDescriptions()) == 0 {
		// pgx learns a prepared statement's columns from its first row or
		// its end: a timeout or a lost connection before either leaves
		// none, and the error is only in the rows.
		r.rows.Close()
		err := r.rows.Err()
		_ = conn.Close(context.Background())
		if err == nil {
			return nil, &classified{err: errors.New("postgres: the query returns no columns"), class: ErrRejected}
		}
		return nil, pgError("before the first row", err, dsn)
	}
	if err := r.describe(cfg); err != nil {
		r.rows.Close()
		err = r.nameTypes(ctx, err)
		_ = conn.Close(context.Background())
		return nil, err
	}
	return r, nil
}

// describe builds the schema from the result's field descriptions.
func (r *pgReader) describe(cfg Config) error {
	m := r.conn.TypeMap()
	fds := r.rows.FieldDescriptions()
	fields := make([]arrow.Field, len(fds))
	r.cols = make([]pgColumn, len(fds))
	for i, fd := range fds {
		name := "oid " + strconv.FormatUint(uint64(fd.DataTypeOID), 10)
		if t, ok := m.TypeForOID(fd.DataTypeOID); ok {
			name = t.Name
		}
		c := Column{Name: fd.Name, DBType: name}
		if fd.DataTypeOID == pgtype.NumericOID && fd.TypeModifier >= 4 {
			mod := int64(fd.TypeModifier - 4)
			c.Precision, c.Scale, c.HasSize = (mod>>16)&0xffff, mod&0xffff, true
		}
		f, err := field("postgres", c, cfg.Decimal == "decimal")
		if err != nil {
			return err
		}
		k, _, _, _ := kindOf("postgres", c)
		fields[i] = f
		r.cols[i] = pgColumn{name: fd.Name, oid: fd.DataTypeOID, format: fd.Format, kind: k, field: f}
	}
	r.sch = arrow.NewSchema(fields, nil)
	return nil
}

// nameTypes replaces "oid 1234" in a type error with the type's SQL name.
func (r *pgReader) nameTypes(ctx context.Context, err error) error {
	msg := err.Error()
	i := strings.Index(msg, "type oid ")
	if i < 0 {
		return err
	}
	oid := msg[i+len("type oid "):]
	if j := strings.IndexByte(oid, ','); j >= 0 {
		oid = oid[:j]
	}
	var name string
	if e := r.conn.QueryRow(ctx, "SELECT format_type($1::oid, NULL)", oid).Scan(&name); e != nil {
		return err
	}
	return fmt.Errorf("%w%s", ErrType, strings.TrimPrefix(strings.Replace(msg, "oid "+oid, name, 1), ErrType.Error()))
}

func (r *pgReader) schema() *arrow.Schema { return r.sch }

func (r *pgReader) fill(b *array.RecordBuilder, want int, sum *[]byte) (int, error) {
	if r.bound != b {
		for i := range r.cols {
			r.cols[i].bind(b.Field(i), r.conn.TypeMap())
		}
		r.bound = b
	}
	buf := *sum
	defer func() { *sum = buf }()
	n := 0
	for n < want {
		if !r.rows.Next() {
			if err := r.rows.Err(); err != nil {
				discard(b)
				return n, pgError("reading", err, r.dsn)
			}
			return n, nil
		}
		raws := r.rows.RawValues()
		for i, raw := range raws {
			if raw == nil {
				buf = binary.LittleEndian.AppendUint32(buf, math.MaxUint32)
			} else {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(len(raw)))
				buf = append(buf, raw...)
			}
			if err := r.cols[i].add(raw); err != nil {
				discard(b)
				return n, fmt.Errorf("column %q: %w", r.cols[i].name, err)
			}
		}
		n++
	}
	return n, nil
}

func (r *pgReader) close() error {
	r.rows.Close()
	err := r.rows.Err()
	if cerr := r.conn.Close(context.Background()); err == nil && cerr != nil {
		err = pgError("closing", cerr, r.dsn)
	} else if err != nil {
		err = pgError("closing", err, r.dsn)
	}
	return err
}

// bind makes c.add append to fb. Binary values of the fixed-size types
// are decoded here; everything else goes through pgx's decoders.
func (c *pgColumn) bind(fb array.Builder, m *pgtype.Map) {
	be := binary.BigEndian
	null := func(raw []byte) bool {
		if raw == nil {
			fb.AppendNull()
			return true
		}
		return false
	}
	if c.kind == kNumeric {
		dec, _ := c.field.Type.(*arrow.Decimal128Type)
		c.add = func(raw []byte) error {
			if null(raw) {
				return nil
			}
			var n pgtype.Numeric
			if err := m.Scan(c.oid, c.format, raw, &n); err != nil {
				return err
			}
			return appendNumeric(fb, n, dec)
		}
		return
	}
	size := map[kind]int{kInt16: 2, kInt32: 4, kInt64: 8, kFloat32: 4, kFloat64: 8, kBool: 1, kDate: 4, kTimestamp: 8, kTimestampTZ: 8}
	// Text types carry the same UTF-8 bytes in text and binary format (pgx
	// asks for text), so they take the fast path either way.
	if (c.format != pgx.BinaryFormatCode && c.kind != kText) || (size[c.kind] == 0 && c.kind != kText) {
		c.add = func(raw []byte) error {
			if null(raw) {
				return nil
			}
			var v any
			if err := m.Scan(c.oid, c.format, raw, &v); err != nil {
				return err
			}
			return appendValue(fb, c.kind, v)
		}
		return
	}
	want := size[c.kind]
	check := func(raw []byte) error {
		if want != 0 && len(raw) != want {
			return fmt.Errorf("%w: %d bytes for a %d-byte value", ErrType, len(raw), want)
		}
		return nil
	}
	var put func(raw []byte) error
	switch c.kind {
	case kInt16:
		tb := fb.(*array.Int16Builder)
		put = func(raw []byte) error { tb.Append(int16(be.Uint16(raw))); return nil }
	case kInt32:
		tb := fb.(*array.Int32Builder)
		put = func(raw []byte) error { tb.Append(int32(be.Uint32(raw))); return nil }
	case kInt64:
		tb := fb.(*array.Int64Builder)
		put = func(raw []byte) error { tb.Append(int64(be.Uint64(raw))); return nil }
	case kFloat32:
		tb := fb.(*array.Float32Builder)
		put = func(raw []byte) error { tb.Append(math.Float32frombits(be.Uint32(raw))); return nil }
	case kFloat64:
		tb := fb.(*array.Float64Builder)
		put = func(raw []byte) error { tb.Append(math.Float64frombits(be.Uint64(raw))); return nil }
	case kBool:
		tb := fb.(*array.BooleanBuilder)
		put = func(raw []byte) error { tb.Append(raw[0] != 0); return nil }
	case kText:
		tb := fb.(*array.StringBuilder)
		put = func(raw []byte) error { tb.BinaryBuilder.Append(raw); return nil }
	case kDate:
		tb := fb.(*array.Date32Builder)
		put = func(raw []byte) error {
			d := int32(be.Uint32(raw))
			if d == math.MaxInt32 || d == math.MinInt32 {
				return fmt.Errorf("%w: infinite date", ErrType)
			}
			tb.Append(arrow.Date32(d + pgEpochDays))
			return nil
		}
	case kTimestamp, kTimestampTZ:
		tb := fb.(*array.TimestampBuilder)
		put = func(raw []byte) error {
			us := int64(be.Uint64(raw))
			if us == math.MaxInt64 || us == math.MinInt64 {
				return fmt.Errorf("%w: infinite timestamp", ErrType)
			}
			tb.Append(arrow.Timestamp(us + pgEpochMicros))
			return nil
		}
	}
	c.add = func(raw []byte) error {
		if null(raw) {
			return nil
		}
		if err := check(raw); err != nil {
			return err
		}
		return put(raw)
	}
}

// pgError classifies a pgx error: lost or refused connections are
// ErrConnection (and Open tries again), the statement timeout ErrTimeout,
// a server's error by its SQLSTATE class (see sqlStateClasses). The DSN
// is removed from the text.
func pgError(what string, err error, dsn string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	msg := redact(err.Error(), dsn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return classifiedf(stateClass(pe.Code), "postgres", what, msg)
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || isConnectError(err) || strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") {
		return fmt.Errorf("%w: %s: %s", ErrConnection, what, msg)
	}
	return fmt.Errorf("postgres: %s: %s", what, msg)
}

func isConnectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
}
