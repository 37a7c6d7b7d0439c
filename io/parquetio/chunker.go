package parquetio

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// chunker joins the batches of a file's adjacent row groups into chunks
// of chunkRows rows, so that small row groups do not each become a chunk
// of their own, whose fixed cost (a record through the checks, the
// scorers, a result row group) is paid per chunk. A chunk still comes
// from one file and covers consecutive rows of it, so (file, offset)
// names each of its rows, and it is a pure function of the footers and
// chunkRows: a resumed or retried run cuts the same chunks. A row group
// another shard reads breaks the run of adjacent groups.
type chunker struct {
	path      string
	chunkRows int64
	mem       memory.Allocator
	emit      Emit
	held      []arrow.Record
	heldRows  int64
	start     int64 // the file row of the first held row
}

// room is how many rows the chunk being filled still takes.
func (c *chunker) room() int64 { return c.chunkRows - c.heldRows }

// add takes rec, whose first row is row offset of the file; it owns rec.
func (c *chunker) add(rec arrow.Record, offset int64) error {
	if len(c.held) > 0 && offset != c.start+c.heldRows {
		if err := c.flush(); err != nil {
			rec.Release()
			return err
		}
	}
	if len(c.held) == 0 {
		c.start = offset
	}
	c.held = append(c.held, rec)
	c.heldRows += rec.NumRows()
	if c.heldRows >= c.chunkRows {
		return c.flush()
	}
	return nil
}

// flush emits the rows held as one chunk.
func (c *chunker) flush() error {
	if len(c.held) == 0 {
		return nil
	}
	held := c.held
	c.held, c.heldRows = nil, 0
	rec, err := concatRecords(held, c.mem) // writer.go
	for _, r := range held {
		r.Release()
	}
	if err != nil {
		return fmt.Errorf("%w: %s: row %d: joining row groups into a chunk: %v", ErrCorrupt, c.path, c.start, err)
	}
	return c.emit(rec, c.path, c.start)
}

// release drops what a failed read left held.
func (c *chunker) release() {
	for _, r := range c.held {
		r.Release()
	}
	c.held, c.heldRows = nil, 0
}
