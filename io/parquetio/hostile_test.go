package parquetio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// hostileDir holds odd and broken Parquet files (see expect.json there for
// what each one is and where it comes from).
var hostileDir = filepath.Join("..", "..", "testdata", "hostile")

// hostileMeta are the corpus folder's files that are not corpus files.
var hostileMeta = []string{"expect.json", "duckdb_write.mjs"}

var printObserved = flag.Bool("hostile.observed", false, "print what each hostile file did, as expect.json entries")

// A file that takes longer than this is hung; the widest takes ~5 s under -race.
const hostileDeadline = 60 * time.Second

type hostileOutcome struct {
	File          string `json:"file"`
	Writer        string `json:"writer"` // arrow, duckdb or handmade
	Open          string `json:"open"`   // ok or error
	Read          string `json:"read"`   // ok or error; error when open is
	Rows          int64  `json:"rows"`   // read, or promised by the footer when the read fails
	ErrorContains string `json:"error_contains,omitempty"`
	Note          string `json:"note,omitempty"`

	err error // the first error, open or read
}

func loadHostileExpect(t *testing.T) []hostileOutcome {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(hostileDir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []hostileOutcome
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&want); err != nil {
		t.Fatalf("expect.json: %v", err)
	}
	return want
}

// TestHostileCorpus runs every file of the corpus the way a job does:
// Open, CheckColumns, Fingerprint, then Read of every flat column; and
// asks for each nested column alone, which must be refused by name. It
// recovers nothing: a panic or a hang fails it.
func TestHostileCorpus(t *testing.T) {
	want := loadHostileExpect(t)
	entries, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, w := range want {
		if listed[w.File] {
			t.Errorf("expect.json lists %s twice", w.File)
		}
		listed[w.File] = true
	}
	onDisk := map[string]bool{}
	for _, e := range entries {
		if slices.Contains(hostileMeta, e.Name()) {
			continue
		}
		onDisk[e.Name()] = true
		if !listed[e.Name()] {
			t.Errorf("%s is in %s but not in expect.json: add what it should do", e.Name(), hostileDir)
		}
	}
	var observed []hostileOutcome
	t.Cleanup(func() {
		if *printObserved {
			out, _ := json.MarshalIndent(observed, "", "  ")
			fmt.Printf("%s\n", out)
		}
	})
	for i, w := range want {
		if !onDisk[w.File] {
			t.Errorf("expect.json lists %s, which is not in %s", w.File, hostileDir)
			continue
		}
		observed = append(observed, w)
		t.Run(w.File, func(t *testing.T) {
			t.Parallel()
			mem := hostileAlloc(t)
			path := filepath.Join(hostileDir, w.File)
			got := runHostileWithin(t, hostileDeadline, path, mem)
			got.File, got.Writer, got.Note = w.File, w.Writer, w.Note
			if got.err != nil {
				got.ErrorContains = w.ErrorContains
			}
			observed[i] = got
			t.Logf("open %s, read %s, %d rows: %v", got.Open, got.Read, got.Rows, got.err)
			if got.Open != w.Open || got.Read != w.Read || got.Rows != w.Rows {
				t.Errorf("got open %s, read %s, %d rows; expect.json says open %s, read %s, %d rows (%v)",
					got.Open, got.Read, got.Rows, w.Open, w.Read, w.Rows, got.err)
			}
			if got.err != nil {
				if !strings.Contains(got.err.Error(), path) {
					t.Errorf("error does not name the file: %v", got.err)
				}
				if w.ErrorContains == "" || !strings.Contains(got.err.Error(), w.ErrorContains) {
					t.Errorf("error %q lacks %q", got.err, w.ErrorContains)
				}
			}
		})
	}
}

// runHostileWithin fails the test when the file hangs the source.
func runHostileWithin(t *testing.T, limit time.Duration, path string, mem memory.Allocator) hostileOutcome {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan hostileOutcome, 1)
	go func() { done <- runHostile(ctx, t, path, mem) }()
	select {
	case got := <-done:
		if ctx.Err() != nil {
			t.Fatalf("took longer than %s: %v", limit, got.err)
		}
		return got
	case <-time.After(limit + 10*time.Second):
		t.Fatalf("hung: no return %s after the deadline", 10*time.Second)
		return hostileOutcome{}
	}
}

func runHostile(ctx context.Context, t *testing.T, path string, mem memory.Allocator) hostileOutcome {
	out := hostileOutcome{Open: "error", Read: "error"}
	src, err := Open(path)
	if err != nil {
		out.err = err
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open error is not ErrCorrupt: %v", err)
		}
		return out
	}
	out.Open, out.Rows = "ok", src.Rows()
	if _, err := src.Fingerprint(ctx); err != nil {
		t.Errorf("Fingerprint: %v", err)
	}
	var flat, nested []string
	for _, f := range src.Schema().Fields() {
		if _, ok := f.Type.(arrow.NestedType); ok {
			nested = append(nested, f.Name)
		} else if !slices.Contains(flat, f.Name) {
			flat = append(flat, f.Name)
		}
	}
	for _, c := range nested {
		err := src.Read(ctx, []string{c}, 1000, mem, func(rec arrow.Record, _ string, _ int64) error {
			rec.Release()
			return nil
		})
		if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c)) {
			t.Errorf("Read of nested column %q = %v; want ErrSchema naming the file and the column", c, err)
		}
	}
	if err := src.CheckColumns(flat); err != nil {
		out.err = err
		return out
	}
	var rows int64
	err = src.Read(ctx, flat, 1000, mem, func(rec arrow.Record, file string, offset int64) error {
		defer rec.Release()
		if file != path || offset != rows {
			t.Errorf("batch from %s at row %d; want %s at row %d", file, offset, path, rows)
		}
		for i, f := range rec.Schema().Fields() {
			if i >= len(flat) || f.Name != flat[i] {
				t.Errorf("batch columns %s; want %q", fieldsOf(rec.Schema()), flat)
				break
			}
		}
		rows += rec.NumRows()
		return nil
	})
	if err != nil {
		out.err = err
		return out
	}
	out.Read, out.Rows = "ok", rows
	return out
}

// knownLeaker is where arrow-go v17 leaks: its DELTA_* decoders allocate a
// miniblock bit-width buffer and never free it (harmless under the Go
// allocator batchscore runs with, which collects it).
const knownLeaker = "encoding.(*deltaBitPackDecoder)"

// hostileAlloc is checkedAlloc, except that what the known leaker still
// holds at the end is allowed; every other byte must be back.
func hostileAlloc(t *testing.T) *knownLeakAlloc {
	t.Helper()
	mem := &knownLeakAlloc{CheckedAllocator: memory.NewCheckedAllocator(memory.NewGoAllocator()), known: map[*byte]int{}}
	t.Cleanup(func() {
		if got := mem.CurrentAlloc(); got != mem.knownBytes {
			t.Errorf("%d bytes still allocated, %d of them by arrow-go's known leak:", got, mem.knownBytes)
			mem.AssertSize(t, mem.knownBytes) // lists every allocation still out
		} else if got > 0 {
			t.Logf("arrow-go's delta decoders leaked %d bytes (known, upstream)", got)
		}
	})
	return mem
}

// knownLeakAlloc counts apart what the known leaker allocates. It keys on
// addresses rather than asking CheckedAllocator, whose record of a leaked
// buffer is lost once the GC collects it and the address comes back.
type knownLeakAlloc struct {
	*memory.CheckedAllocator
	mu         sync.Mutex
	known      map[*byte]int // the known leaker's live buffers
	knownBytes int           // what it holds, collected or not
}

func (a *knownLeakAlloc) Allocate(n int) []byte {
	b := a.CheckedAllocator.Allocate(n)
	a.note(b)
	return b
}

func (a *knownLeakAlloc) Reallocate(n int, old []byte) []byte {
	a.forget(old)
	b := a.CheckedAllocator.Reallocate(n, old)
	a.note(b)
	return b
}

func (a *knownLeakAlloc) Free(b []byte) {
	a.forget(b)
	a.CheckedAllocator.Free(b)
}

func (a *knownLeakAlloc) note(b []byte) {
	if len(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.known, &b[0]) // a leaked buffer the GC collected: it stays counted
	if fromKnownLeaker() {
		a.known[&b[0]] = len(b)
		a.knownBytes += len(b)
	}
}

func (a *knownLeakAlloc) forget(b []byte) {
	if len(b) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, ok := a.known[&b[0]]; ok {
		delete(a.known, &b[0])
		a.knownBytes -= n
	}
}

func fromKnownLeaker() bool {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(4, pcs)])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, knownLeaker) {
			return true
		}
		if !more {
			return false
		}
	}
}

// arrow's OpenParquetFile kept the file open when the footer failed to
// parse or panicked; FuzzOpen ran out of descriptors after a minute.
func TestOpenClosesCorruptFiles(t *testing.T) {
	fds := func() int {
		entries, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(entries)
	}
	before := fds()
	for range 100 {
		for _, name := range []string{"footer_garbled.parquet", "lie_schema_children.parquet", "magic_zero_footer.parquet"} {
			if _, err := Open(filepath.Join(hostileDir, name)); err == nil {
				t.Fatalf("%s opened", name)
			}
		}
	}
	if after := fds(); after > before+10 {
		t.Errorf("%d descriptors open after 300 failed Opens, %d before", after, before)
	}
}
