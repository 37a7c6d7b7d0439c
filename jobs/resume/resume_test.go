package resume

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/scoring"
)

func chunk(t *testing.T, mem memory.Allocator, seq int64) scoring.Chunk {
	t.Helper()
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues([]float64{1, 2, 3}, nil)
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	return scoring.Chunk{Seq: seq, Record: array.NewRecord(schema, []arrow.Array{col}, 3)}
}

func scored(t *testing.T, mem memory.Allocator, c scoring.Chunk) scoring.Scored {
	t.Helper()
	b := array.NewFloat64Builder(mem)
	defer b.Release()
	b.AppendValues([]float64{0.1, 0.2, 0.3}, nil)
	return scoring.Scored{Chunk: c, Score: b.NewFloat64Array()}
}

// Saved chunks come back, verified, to an execution with the same
// identity only; a chunk whose bytes changed is scored again.
func TestCheckpointsReuseOnlyWhatMatches(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	tbl, err := table.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Close()
	log := slog.New(slog.DiscardHandler)
	id := Identity{RunID: "abc", Binary: "v1", ORT: "1.24.1", Engine: "native"}

	first := Open(tbl, id, mem, log)
	for seq := range int64(2) {
		c := chunk(t, mem, seq)
		s := scored(t, mem, c)
		first.Save(s)
		s.Release()
	}

	again := Open(tbl, id, mem, log)
	c := chunk(t, mem, 0)
	s, ok := again.Load(c)
	if !ok || s.Score.Value(2) != 0.3 {
		t.Fatalf("chunk 0 not reused: %v", ok)
	}
	s.Release()
	if got := again.Result().ReusedChunks; got != 1 {
		t.Errorf("reused %d chunks, want 1", got)
	}

	// A flipped byte in chunk 1: its sha256 no longer matches.
	path := filepath.Join(tbl.Root, Dir, "abc", "chunk-00000001.arrow")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c1 := chunk(t, mem, 1)
	if _, ok := Open(tbl, id, mem, log).Load(c1); ok {
		t.Error("a tampered chunk was reused")
	}
	c1.Record.Release()

	// Another binary starts afresh: nothing is reused.
	other := id
	other.Binary = "v2"
	if _, ok := Open(tbl, other, mem, log).Load(c); ok {
		t.Error("a chunk saved by another binary was reused")
	}
	c.Record.Release()

	// Clean removes the saved chunks of a run id that was published.
	Clean(tbl.Root, "abc")
	if _, err := os.Stat(filepath.Join(tbl.Root, Dir, "abc")); !os.IsNotExist(err) {
		t.Errorf("the published run id's chunks are still there: %v", err)
	}
}
