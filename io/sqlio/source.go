// Package sqlio reads snapshots from SQL queries into Arrow record batches:
// PostgreSQL through pgx, SQLite through modernc.org/sqlite, MySQL through
// go-sql-driver/mysql.
package sqlio

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sort"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/source"
)

var (
	// ErrConnection marks a database that cannot be reached, or a
	// connection lost while rows were streaming. Nothing read may be
	// published.
	ErrConnection = errors.New("database connection failed")
	// ErrType marks a column whose database type batchscore does not read,
	// or a value its column's Arrow type cannot hold.
	ErrType = errors.New("unsupported column type")
	// ErrDSN marks a missing or malformed connection string. Its text names
	// the environment variable or file, never the connection string.
	ErrDSN = errors.New("no usable DSN")
	// ErrTimeout marks a query cancelled by the statement timeout.
	ErrTimeout = errors.New("statement timeout")
)

// Config is the source.sql section of a job file.
type Config struct {
	Driver  string        // postgres | sqlite | mysql
	DSNEnv  string        // name of the environment variable holding the DSN
	DSNFile string        // or a file holding it (a secret mount); exactly one of DSNEnv and DSNFile
	Query   string        // named parameters :date, :from, :to, bound by the driver
	Timeout time.Duration // statement timeout; 0: none
	Decimal string        // numeric/decimal columns as "float64" (default) or "decimal" (decimal128(p, s))
}

// Validate checks what can be checked without a database.
func (c Config) Validate() error {
	switch c.Driver {
	case "postgres", "sqlite", "mysql":
	case "":
		return errors.New("source.sql.driver is missing (postgres, sqlite or mysql)")
	default:
		return fmt.Errorf("source.sql.driver %q: want postgres, sqlite or mysql", c.Driver)
	}
	if (c.DSNEnv == "") == (c.DSNFile == "") {
		return fmt.Errorf("%w: give exactly one of source.sql.dsn_env and source.sql.dsn_file", ErrDSN)
	}
	if c.Query == "" {
		return errors.New("source.sql.query is missing")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("source.sql.timeout %s is negative", c.Timeout)
	}
	switch c.Decimal {
	case "", "float64", "decimal":
	default:
		return fmt.Errorf("source.sql.decimal %q: want float64 or decimal", c.Decimal)
	}
	return nil
}

// Option tunes Open.
type Option func(*options)

type options struct {
	attempts    int
	first, most time.Duration
	log         *slog.Logger
}

// withRetry sets how often Open tries to connect and start the query
// (attempts, at least 1) and the backoff between tries: first, doubling up
// to most. The default is 5 tries, 200ms to 3s.
func withRetry(attempts int, first, most time.Duration) Option {
	return func(o *options) { o.attempts, o.first, o.most = max(attempts, 1), first, most }
}

// WithLogger logs retries. The default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// reader is one driver's row stream.
type reader interface {
	schema() *arrow.Schema
	// fill appends up to n rows to b and the bytes of their values to sum,
	// and returns how many it appended: fewer than n only at the end.
	fill(b *array.RecordBuilder, n int, sum *[]byte) (int, error)
	// close ends the query and the connection.
	close() error
}

// Source is a query's result, streamed once by Read: a source.Source,
// whose contract it keeps. Open starts the query, so the Source holds a
// connection until Close, which must be called, after Read or instead of
// it.
type Source struct {
	cfg    Config
	params map[string]any
	r      reader
	cancel context.CancelFunc // ends the query

	rows        int64
	read        bool
	done        bool      // the result was read to its end
	sum         hash.Hash // over the streamed values
	fingerprint string
}

// Open resolves the DSN, connects, starts the query and reads its column
// types into an Arrow schema; it reads no row. Connection errors are tried
// again with backoff (see withRetry); an unsupported column type is ErrType.
func Open(ctx context.Context, cfg Config, params map[string]any, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{attempts: 5, first: 200 * time.Millisecond, most: 3 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	dsn, err := cfg.dsn()
	if err != nil {
		return nil, err
	}
	query, args, err := bind(cfg.Driver, cfg.Query, params)
	if err != nil {
		return nil, fmt.Errorf("source.sql.query: %w", err)
	}
	// The query lives until Close, longer than ctx may: it gets its own
	// context, cancelled with ctx while Open runs and with Read's ctx later.
	qctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	s := &Source{cfg: cfg, params: params, cancel: cancel, sum: sha256.New()}
	var r reader
	err = retry(ctx, o, cfg.Driver, func() error {
		var err error
		switch cfg.Driver {
		case "postgres":
			r, err = openPostgres(qctx, cfg, dsn, query, args)
		default:
			r, err = openDB(qctx, cfg, dsn, query, args)
		}
		return err
	})
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s query: %w", cfg.Driver, ctx.Err())
		}
		return nil, err
	}
	s.r = r
	return s, nil
}

// retry runs try until it succeeds, fails with an error that is not a
// connection error, or runs out of attempts.
func retry(ctx context.Context, o options, driver string, try func() error) error {
	wait := o.first
	for attempt := 1; ; attempt++ {
		err := try()
		if err == nil || !errors.Is(err, ErrConnection) || attempt >= o.attempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		o.log.Warn("database not reachable, retrying", "driver", driver, "attempt", attempt, "wait", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, o.most)
	}
}

var _ source.Source = (*Source)(nil)

// Schema is the query's columns as Arrow fields, all nullable.
func (s *Source) Schema() *arrow.Schema { return s.r.schema() }

// Where names the query in error messages by its job-file key: the query
// text can be long, and may hold what a log should not.
func (s *Source) Where() string { return "source.sql.query" }

// Read streams the result in batches of batchRows rows (the last may be
// shorter); at most one batch is held at a time. It may be called once.
// Every column of the query is read, whatever cols names: the query is
// the projection. A connection lost mid-stream is an ErrConnection naming
// the row; the statement timeout is ErrTimeout. Cancelling ctx cancels the
// query.
func (s *Source) Read(ctx context.Context, _ []string, batchRows int, mem memory.Allocator, emit source.Emit) error {
	if s.read {
		return errors.New("sql source: Read called twice")
	}
	s.read = true
	if batchRows <= 0 {
		return fmt.Errorf("sql source: batch of %d rows", batchRows)
	}
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()
	where := s.cfg.Driver + " query"
	b := array.NewRecordBuilder(mem, s.r.schema())
	defer b.Release()
	var buf []byte
	for {
		// A driver may have the next rows buffered, and fill them without
		// noticing that the query was cancelled: a cancel stops here.
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		n, err := s.r.fill(b, batchRows, &buf)
		s.sum.Write(buf)
		buf = buf[:0]
		if err != nil {
			discard(b) // drop a partial batch
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", where, ctx.Err())
			}
			return fmt.Errorf("%s: row %d: %w", where, s.rows+int64(n)+1, err)
		}
		if n > 0 {
			rec := b.NewRecord()
			offset := s.rows
			s.rows += int64(n)
			if err := emit(rec, where, offset); err != nil {
				return err
			}
		}
		if n < batchRows {
			s.done = true
			break
		}
	}
	s.fingerprint = s.fingerprintOf()
	return nil
}

// Rows is -1: a query's row count is known only once it has been read
// (RowsRead).
func (s *Source) Rows() int64 { return -1 }

// RowsRead is the number of rows Read has delivered so far.
func (s *Source) RowsRead() int64 { return s.rows }

// Fingerprint identifies the snapshot once Read has returned nil: a SHA-256
// over the query text, its parameters, the row count and a checksum of
// every value streamed, so a changed table changes it. Before, it is
// source.ErrNotRead.
func (s *Source) Fingerprint(context.Context) (string, error) {
	if s.fingerprint == "" {
		return "", source.ErrNotRead
	}
	return s.fingerprint, nil
}

func (s *Source) fingerprintOf() string {
	h := sha256.New()
	fmt.Fprintf(h, "sql\x00%s\x00%s\x00", s.cfg.Driver, s.cfg.Query)
	names := make([]string, 0, len(s.params))
	for k := range s.params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := s.params[k]
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(h, "%s=%T:%v\x00", k, s.params[k], v)
	}
	_ = binary.Write(h, binary.LittleEndian, s.rows)
	h.Write(s.sum.Sum(nil))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Close ends the query, if still running, and the connection.
func (s *Source) Close() error {
	if s.r == nil {
		return nil
	}
	if !s.done {
		// Cancel rather than drain what the server still has to send; the
		// errors that follow from the cancel are no news.
		s.cancel()
		_ = s.r.close()
		s.r = nil
		return nil
	}
	err := s.r.close()
	s.cancel()
	s.r = nil
	return err
}

// discard drops what a failed batch left in the builder; its columns may
// differ in length, which b.NewRecord would not accept.
func discard(b *array.RecordBuilder) {
	for _, f := range b.Fields() {
		f.NewArray().Release()
	}
}
