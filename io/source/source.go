// Package source states what a snapshot source is: the interface a run
// reads its rows through, whatever holds them. The implementations live
// with their formats (io/parquetio for Parquet files on a local disk or in
// object storage, io/sqlio for a SQL query); jobs opens one and reads it
// through this interface, and sourcetest holds the conformance suite each
// implementation runs.
package source

import (
	"context"
	"errors"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// ErrNotRead is Fingerprint's error on a source that learns its
// fingerprint only by reading (a SQL query) before Read has returned nil.
var ErrNotRead = errors.New("the snapshot's fingerprint is known once it has been read")

// Emit receives one chunk of rows: the record, where it came from (a
// file's path, "postgres query") and the row offset of its first row
// there. It owns rec: it must release it exactly once, and may hold it
// after it returns, after Read returns and after Close. An error it
// returns stops Read, which returns that error as it is.
type Emit func(rec arrow.Record, where string, offset int64) error

// Source is one snapshot, opened: its schema is known and its rows are
// ready to stream. Opening is the implementation's (parquetio.Open,
// sqlio.Open); an open that fails leaves nothing to close.
//
// Ownership: the caller closes the Source, after Read or instead of
// it; Close ends what the source holds (a query and its connection) and
// may be called while records from Read are still held. Records belong to
// Emit (see Emit), and every buffer in them comes from the allocator
// passed to Read; once every record is released and the source is
// closed, neither holds anything for it.
//
// Concurrency: a Source is not safe for concurrent use. Read calls emit in
// Read's own goroutine, one chunk at a time and in order, so a slow emit
// slows the read (a pipeline's bounded channel bounds memory) and a panic
// in a decoder on corrupt bytes is recovered and returned as an error.
// Sources that differ may be read at the same time.
//
// Order and size: Read delivers every row of the snapshot (or of the
// shard it was restricted to when opened), in the snapshot's order: a
// Parquet source file by file in name order and row group by row group,
// a SQL source in the query's order. Chunks hold at least one and at most
// chunkRows rows of one unit (a Parquet file, the query's result), and
// are shorter than chunkRows only at the end of a unit or, in a Parquet
// file, before a row group of another shard: a file's adjacent row groups
// are joined into chunks of chunkRows rows however small they are. The
// cut is a pure function of the snapshot (its footers), the shard and
// chunkRows. Offsets count rows from the start of the chunk's unit of
// origin (the file, the result), rows of other shards included: a chunk
// holds rows offset, offset+1, ... of its unit.
//
// Errors: every error names the thing at fault (the file, the column, the
// query) and wraps the implementation's sentinel, which jobs.ExitCode maps.
// Permanent, a retry of the same snapshot and job file fails the same way:
// a schema or a value that does not fit (parquetio.ErrSchema,
// sqlio.ErrDataException: exit 3); a query the database refuses, which a
// missing table or a bad query is, an unsupported column type, a missing
// DSN (sqlio.ErrRejected, sqlio.ErrType, sqlio.ErrDSN: exit 2). Exit 1,
// a retry may succeed once the snapshot is complete or the service is
// back: a snapshot not (yet) there (parquetio.ErrNoFiles), a file
// unreadable or changed while read (parquetio.ErrCorrupt,
// parquetio.ErrChanged), a store or database that fails or cannot be
// reached (sqlio.ErrConnection, sqlio.ErrTimeout, a blob error). A
// cancelled ctx stops Read before its next chunk with an error that wraps
// ctx.Err() (exit 130).
//
// Fingerprint: a string ("sha256:<hex>", after the version of the rule
// that made it when there is one: "v2:sha256:<hex>") that is the same
// whenever the data Read returns is the same and changes when it
// changes, so that the same job, date, snapshot and model give the same
// run id. A Parquet source knows it from its files before any row is
// read (their footers and the column chunks Read will decode, or an
// object's ETag); a SQL source from the values it streamed, so its
// Fingerprint returns ErrNotRead until Read has returned nil. Two
// fingerprints made by different rules never compare equal.
type Source interface {
	// Schema is the snapshot's columns as Arrow fields.
	Schema() *arrow.Schema
	// Where names the source in error messages: the first file, or
	// "source.sql.query".
	Where() string
	// Rows is the number of rows Read will deliver, when known before
	// reading (Parquet footers); -1 when only reading tells (SQL).
	Rows() int64
	// Read streams the snapshot in chunks of at most chunkRows rows to
	// emit. cols names the columns the caller needs: a Parquet source
	// reads those, in that order; a SQL source's columns are its query's,
	// all of them, since the query is its own projection. A Parquet
	// source may be read again; a SQL source once.
	Read(ctx context.Context, cols []string, chunkRows int, mem memory.Allocator, emit Emit) error
	// Fingerprint identifies the snapshot's data (see above).
	Fingerprint(ctx context.Context) (string, error)
	// Close releases what the source holds. It is safe to call twice.
	Close() error
}

// Span is a run of a chunk's rows from one unit: Rows rows from row
// Offset of Where (a file's path, as Emit names it).
type Span struct {
	Where  string
	Offset int64
	Rows   int64
}

// EmitSpans receives one chunk whose rows are its spans' rows, in order:
// row i of rec is row Offset+(i-k) of the span that holds it, k being the
// rows of the spans before. It owns rec as Emit does.
type EmitSpans func(rec arrow.Record, spans []Span) error

// Joiner is a Source that can join the rows of several units into one
// chunk (parquetio: small files, in snapshot order). ReadJoined keeps
// Read's contract but for one rule: a chunk holds chunkRows rows, fewer
// only at the end of what is read (the snapshot, a shard's rows), and
// may span units; spans name the unit and row of each of its rows. The
// cut is a pure function of the snapshot's footers, the shard and
// chunkRows, as Read's is.
type Joiner interface {
	ReadJoined(ctx context.Context, cols []string, chunkRows int, mem memory.Allocator, emit EmitSpans) error
}
