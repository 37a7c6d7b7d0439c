// Package sourcetest is the conformance suite of source.Source: every
// implementation runs Run with a Harness that puts the suite's snapshot
// where it reads from (a Parquet file on disk or in a bucket, a table in
// PostgreSQL or SQLite) and opens it. The suite holds each to the
// contract in source.Source's doc comment, so the same rows come out of
// every kind of source in the same order, with the same nulls.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/source"
)

// Rows is how many rows the snapshot has.
const Rows = 100

// Row is one row of the snapshot; nil is NULL.
type Row struct {
	ID   int64
	X    *float64
	Name *string
}

// Schema is the snapshot's columns as every source must read them.
var Schema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "name", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// Snapshot is the snapshot's rows at version v (1 or 2), in the order a
// source must read them: by id. Version 2 differs in one value, the kind
// of change a fingerprint must notice.
func Snapshot(v int) []Row {
	rows := make([]Row, Rows)
	for i := range rows {
		id := int64(i)
		r := Row{ID: id}
		if i%5 != 3 {
			x := float64(id)*0.5 + 0.25
			if i == 50 && v == 2 {
				x = -1.75
			}
			r.X = &x
		}
		switch {
		case i%7 == 2: // NULL
		case i%11 == 0:
			s := "" // empty, not NULL
			r.Name = &s
		default:
			s := fmt.Sprintf("nom-%d-é", id)
			r.Name = &s
		}
		rows[i] = r
	}
	return rows
}

// Record builds rows as a record of Schema, for a harness that writes files.
func Record(mem memory.Allocator, rows []Row) arrow.Record {
	b := array.NewRecordBuilder(mem, Schema)
	defer b.Release()
	ids, xs, names := b.Field(0).(*array.Int64Builder), b.Field(1).(*array.Float64Builder), b.Field(2).(*array.StringBuilder)
	for _, r := range rows {
		ids.Append(r.ID)
		if r.X == nil {
			xs.AppendNull()
		} else {
			xs.Append(*r.X)
		}
		if r.Name == nil {
			names.AppendNull()
		} else {
			names.Append(*r.Name)
		}
	}
	return b.NewRecord()
}

// Missing is a snapshot that cannot be opened (or read): a file, a table
// that is not there, a query that does not parse.
type Missing struct {
	Name string
	// Open opens and reads it; the error may come from either.
	Open func(ctx context.Context) (source.Source, error)
	// Want is what the error must name: the file, the table, the token.
	Want string
}

// Harness is what an implementation gives the suite.
type Harness struct {
	// Put makes rows the snapshot Open reads next, replacing what was
	// there, as one unit (one file of one row group, one table).
	Put func(t *testing.T, rows []Row)
	// Open opens the snapshot Put put.
	Open func(t *testing.T, ctx context.Context) (source.Source, error)
	// Missing are snapshots whose errors the suite checks.
	Missing []Missing
	// Leaks, when set, says what a closed source whose records are all
	// released still holds outside the allocator Read is given (a database
	// connection); nil when nothing. It may wait a little for a server to
	// notice a closed connection.
	Leaks func() error
}

// Run runs every test of the suite.
func Run(t *testing.T, h Harness) {
	h.Put(t, Snapshot(1))
	for _, tc := range []struct {
		name string
		test func(*testing.T, Harness)
	}{
		{"Schema", testSchema},
		{"RowsInOrder", testRowsInOrder},
		{"ChunkSizes", testChunkSizes},
		{"Columns", testColumns},
		{"ReleaseAndClose", testRelease},
		{"Cancel", testCancel},
		{"EmitError", testEmitError},
		{"Missing", testMissing},
		{"Fingerprint", testFingerprint}, // last: it changes the snapshot
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, h) })
	}
}

// open opens the snapshot and closes it when the test ends.
func open(t *testing.T, h Harness) source.Source {
	t.Helper()
	src, err := h.Open(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

// checked is an allocator that fails the test if anything read from it is
// still held when the test ends.
func checked(t *testing.T) *memory.CheckedAllocator {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return mem
}

// chunk is what one call of emit saw.
type chunk struct {
	rows   int64
	where  string
	offset int64
}

// readAll reads every column in chunks of chunkRows and returns the rows
// and the chunks, releasing every record.
func readAll(t *testing.T, src source.Source, chunkRows int, mem memory.Allocator) ([]Row, []chunk) {
	t.Helper()
	var rows []Row
	var chunks []chunk
	err := src.Read(context.Background(), []string{"id", "x", "name"}, chunkRows, mem, func(rec arrow.Record, where string, offset int64) error {
		defer rec.Release()
		chunks = append(chunks, chunk{rec.NumRows(), where, offset})
		got, err := rowsOf(rec)
		rows = append(rows, got...)
		return err
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return rows, chunks
}

// rowsOf converts a record's id, x and name columns, found by name.
func rowsOf(rec arrow.Record) ([]Row, error) {
	col := func(name string) (arrow.Array, error) {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) != 1 {
			return nil, fmt.Errorf("the record has %d columns %q: %s", len(idx), name, rec.Schema())
		}
		return rec.Column(idx[0]), nil
	}
	var cols [3]arrow.Array
	for i, name := range []string{"id", "x", "name"} {
		c, err := col(name)
		if err != nil {
			return nil, err
		}
		cols[i] = c
	}
	ids, ok1 := cols[0].(*array.Int64)
	xs, ok2 := cols[1].(*array.Float64)
	names, ok3 := cols[2].(*array.String)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("columns of types %s, %s, %s", cols[0].DataType(), cols[1].DataType(), cols[2].DataType())
	}
	rows := make([]Row, rec.NumRows())
	for i := range rows {
		if ids.IsNull(i) {
			return nil, fmt.Errorf("row %d: id is NULL", i)
		}
		rows[i].ID = ids.Value(i)
		if xs.IsValid(i) {
			x := xs.Value(i)
			rows[i].X = &x
		}
		if names.IsValid(i) {
			s := strings.Clone(names.Value(i)) // the record is released after
			rows[i].Name = &s
		}
	}
	return rows, nil
}

func (r Row) String() string {
	x, name := "NULL", "NULL"
	if r.X != nil {
		x = fmt.Sprint(*r.X)
	}
	if r.Name != nil {
		name = fmt.Sprintf("%q", *r.Name)
	}
	return fmt.Sprintf("{%d %s %s}", r.ID, x, name)
}

// sameRows reports the first row that differs.
func sameRows(t *testing.T, got, want []Row) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i].String() != want[i].String() {
			t.Fatalf("row %d: got %s, want %s", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
}

func testSchema(t *testing.T, h Harness) {
	src := open(t, h)
	got := src.Schema()
	if got.NumFields() != Schema.NumFields() {
		t.Fatalf("schema %s, want %s", got, Schema)
	}
	for i, f := range Schema.Fields() {
		g := got.Field(i)
		if g.Name != f.Name || !arrow.TypeEqual(g.Type, f.Type) || !g.Nullable {
			t.Errorf("column %d: %s (nullable %v), want %s, nullable", i, g, g.Nullable, f)
		}
	}
	if n := src.Rows(); n != Rows && n != -1 {
		t.Errorf("Rows() = %d, want %d or -1 (unknown before reading)", n, Rows)
	}
	if src.Where() == "" {
		t.Error("Where() is empty")
	}
}

func testRowsInOrder(t *testing.T, h Harness) {
	src := open(t, h)
	rows, chunks := readAll(t, src, 7, checked(t))
	sameRows(t, rows, Snapshot(1))
	var next int64
	for i, c := range chunks {
		if c.where == "" {
			t.Errorf("chunk %d: no where", i)
		}
		if c.offset != next {
			t.Errorf("chunk %d: offset %d, want %d (one unit: rows before it)", i, c.offset, next)
		}
		next += c.rows
	}
}

func testChunkSizes(t *testing.T, h Harness) {
	for _, size := range []int{1, 7, Rows, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			_, chunks := readAll(t, open(t, h), size, checked(t))
			var total int64
			for i, c := range chunks {
				total += c.rows
				switch {
				case c.rows < 1 || c.rows > int64(size):
					t.Errorf("chunk %d has %d rows, want 1..%d", i, c.rows, size)
				case i < len(chunks)-1 && c.rows != int64(size):
					t.Errorf("chunk %d of %d has %d rows: only the last of a unit may be short of %d", i, len(chunks), c.rows, size)
				}
			}
			if total != Rows {
				t.Errorf("%d rows in %d chunks, want %d", total, len(chunks), Rows)
			}
		})
	}
}

// testColumns reads two columns in an order of their own: each comes with
// its values (a source may bring more columns, never fewer).
func testColumns(t *testing.T, h Harness) {
	src := open(t, h)
	want := Snapshot(1)
	var n int
	err := src.Read(context.Background(), []string{"name", "id"}, 30, checked(t), func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		for _, c := range []string{"name", "id"} {
			if len(rec.Schema().FieldIndices(c)) != 1 {
				return fmt.Errorf("column %q asked for, not in %s", c, rec.Schema())
			}
		}
		ids := rec.Column(rec.Schema().FieldIndices("id")[0]).(*array.Int64)
		names := rec.Column(rec.Schema().FieldIndices("name")[0]).(*array.String)
		for i := range int(rec.NumRows()) {
			w := want[n]
			if ids.Value(i) != w.ID || names.IsNull(i) != (w.Name == nil) || (w.Name != nil && names.Value(i) != *w.Name) {
				return fmt.Errorf("row %d: id %d name %q, want %s", n, ids.Value(i), names.ValueStr(i), w)
			}
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != Rows {
		t.Errorf("%d rows, want %d", n, Rows)
	}
}

// testRelease holds every record past Close: they stay readable, and once
// released, neither the allocator nor the source holds a byte.
func testRelease(t *testing.T, h Harness) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	src, err := h.Open(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var held []arrow.Record
	err = src.Read(context.Background(), []string{"id", "x", "name"}, 16, mem, func(rec arrow.Record, _ string, _ int64) error {
		held = append(held, rec)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	var rows []Row
	for _, rec := range held {
		got, err := rowsOf(rec)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, got...)
		rec.Release()
	}
	sameRows(t, rows, Snapshot(1))
	if n := mem.CurrentAlloc(); n != 0 {
		t.Errorf("the allocator holds %d bytes after every record was released", n)
	}
	if h.Leaks != nil {
		if err := h.Leaks(); err != nil {
			t.Errorf("closed, every record released: %v", err)
		}
	}
}

// testCancel cancels the read after its first chunk: Read stops with the
// context's error, and once closed the source holds nothing.
func testCancel(t *testing.T, h Harness) {
	mem := checked(t)
	src, err := h.Open(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chunks := 0
	err = src.Read(ctx, []string{"id", "x", "name"}, 10, mem, func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		chunks++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel: %v, want context.Canceled", err)
	}
	if chunks != 1 {
		t.Errorf("%d chunks emitted after the cancel, want none", chunks-1)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close after a cancelled Read: %v", err)
	}
	if h.Leaks != nil {
		if err := h.Leaks(); err != nil {
			t.Errorf("closed after a cancelled read: %v", err)
		}
	}
}

var errStop = errors.New("emit says stop")

// testEmitError stops the read from emit: Read returns that error.
func testEmitError(t *testing.T, h Harness) {
	src := open(t, h)
	chunks := 0
	err := src.Read(context.Background(), []string{"id", "x", "name"}, 10, checked(t), func(rec arrow.Record, _ string, _ int64) error {
		rec.Release()
		chunks++
		return errStop
	})
	if !errors.Is(err, errStop) || chunks != 1 {
		t.Fatalf("Read = %v after %d chunks, want emit's error after one", err, chunks)
	}
}

func testMissing(t *testing.T, h Harness) {
	if len(h.Missing) == 0 {
		t.Fatal("the harness names no missing snapshot")
	}
	for _, m := range h.Missing {
		t.Run(m.Name, func(t *testing.T) {
			ctx := context.Background()
			src, err := m.Open(ctx)
			if err == nil {
				defer src.Close()
				err = src.Read(ctx, nil, 10, checked(t), func(rec arrow.Record, _ string, _ int64) error {
					rec.Release()
					return nil
				})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), m.Want) {
				t.Errorf("error %q does not name %q", err, m.Want)
			}
		})
	}
}

// fingerprint is the source's fingerprint: before Read if it knows it
// then (and then the same after), else after.
func fingerprint(t *testing.T, h Harness) string {
	t.Helper()
	src := open(t, h)
	before, err := src.Fingerprint(context.Background())
	if err != nil && !errors.Is(err, source.ErrNotRead) {
		t.Fatalf("Fingerprint before Read: %v", err)
	}
	readAll(t, src, 32, checked(t))
	after, err := src.Fingerprint(context.Background())
	if err != nil {
		t.Fatalf("Fingerprint after Read: %v", err)
	}
	if before != "" && before != after {
		t.Errorf("fingerprint %s before Read, %s after", before, after)
	}
	// A rule's version may come first (parquetio.FingerprintVersion).
	if i := strings.Index(after, "sha256:"); i < 0 || len(after) != i+len("sha256:")+64 {
		t.Errorf("fingerprint %q is not [version:]sha256:<hex>", after)
	}
	return after
}

func testFingerprint(t *testing.T, h Harness) {
	first := fingerprint(t, h)
	if again := fingerprint(t, h); again != first {
		t.Errorf("reopened: fingerprint %s, was %s", again, first)
	}
	h.Put(t, Snapshot(2))
	changed := fingerprint(t, h)
	if changed == first {
		t.Error("one value changed, the fingerprint did not")
	}
	h.Put(t, Snapshot(1))
	// The same data again, written again: the same run id.
	if back := fingerprint(t, h); back != first {
		t.Errorf("the first data put back: fingerprint %s, was %s", back, first)
	}
}
