package parquetio

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/source"
)

// chunker joins the batches of adjacent row groups into chunks of
// chunkRows rows, so that small row groups and small files do not each
// become a chunk of their own, whose fixed cost (a record through the
// checks, the scorers, a result row group) is paid per chunk. Read's
// chunker serves one file (a chunk covers consecutive rows of it, so
// (file, offset) names each row); ReadJoined's serves the whole read and
// joins files too, its spans naming each row's file and row. Either way
// the cut is a pure function of the footers, the shard and chunkRows: a
// resumed or retried run cuts the same chunks. Within a file, a row group
// another shard reads breaks the run of adjacent groups.
//
// Partition columns are added to each batch before it is held (its own
// file's values), so a chunk that joins two partition folders carries
// each row's own.
type chunker struct {
	chunkRows int64
	mem       memory.Allocator
	emit      source.EmitSpans
	held      []arrow.Record
	heldRows  int64
	spans     []source.Span
}

// room is how many rows the chunk being filled still takes.
func (c *chunker) room() int64 { return c.chunkRows - c.heldRows }

// add takes rec, whose first row is row offset of the file at path; it
// owns rec.
func (c *chunker) add(rec arrow.Record, path string, offset int64) error {
	rows := rec.NumRows()
	if n := len(c.spans); n > 0 {
		last := &c.spans[n-1]
		switch {
		case last.Where == path && last.Offset+last.Rows == offset:
			last.Rows += rows
		case last.Where == path: // a gap: rows of another shard between
			if err := c.flush(); err != nil {
				rec.Release()
				return err
			}
			c.spans = append(c.spans, source.Span{Where: path, Offset: offset, Rows: rows})
		default:
			c.spans = append(c.spans, source.Span{Where: path, Offset: offset, Rows: rows})
		}
	} else {
		c.spans = append(c.spans, source.Span{Where: path, Offset: offset, Rows: rows})
	}
	c.held = append(c.held, rec)
	c.heldRows += rows
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
	held, spans := c.held, c.spans
	c.held, c.heldRows, c.spans = nil, 0, nil
	rec, err := concatRecords(held, c.mem) // writer.go
	for _, r := range held {
		r.Release()
	}
	if err != nil {
		return fmt.Errorf("%w: %s: row %d: joining row groups into a chunk: %v", ErrCorrupt, spans[0].Where, spans[0].Offset, err)
	}
	return c.emit(rec, spans)
}

// release drops what a failed read left held.
func (c *chunker) release() {
	for _, r := range c.held {
		r.Release()
	}
	c.held, c.heldRows, c.spans = nil, 0, nil
}
