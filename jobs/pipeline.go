package jobs

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/scoring"
)

// score streams the snapshot through the worker pool into result files in
// dir. Stages are joined by bounded channels under one errgroup: the first
// error cancels the rest. Tickets bound the chunks alive at once, reorder
// buffer included, so memory depends on chunk_rows and workers only.
func (e *execution) score(ctx context.Context, src *parquetio.Source, binding *scoring.Binding, dir string) ([]parquetio.WrittenFile, error) {
	job := e.req.Job
	mem := e.mem()
	workers := e.workers(job)
	out, err := newOutputBuilder(src.Schema(), job.Output.Keys, binding, e.date, e.m.RunID, e.m.Model.Version, job.Scoring.ChunkRows, mem)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	w, err := parquetio.NewWriter(dir, out.schema, job.Output.Compression, job.Output.FileRows, mem)
	if err != nil {
		return nil, err
	}

	chunks := make(chan scoring.Chunk, workers)
	scored := make(chan scoring.Scored, workers)
	tickets := make(chan struct{}, workers+2)
	scorer := &scoring.Scorer{Session: e.session, Binding: binding, Mem: mem}
	cols := append(append([]string(nil), job.Output.Keys...), binding.Columns()...)
	cols = dedupe(cols)
	var read, written int64
	total := src.Rows()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(guard("reading", func() error {
		defer close(chunks)
		var seq int64
		return src.Read(gctx, cols, job.Scoring.ChunkRows, mem, func(rec arrow.Record, file string, offset int64) error {
			select {
			case tickets <- struct{}{}:
			case <-gctx.Done():
				rec.Release()
				return gctx.Err()
			}
			n := rec.NumRows() // rec belongs to a worker once sent
			select {
			case chunks <- scoring.Chunk{Seq: seq, Record: rec, File: file, Offset: offset}:
				seq++
				read += n
				return nil
			case <-gctx.Done():
				rec.Release()
				return gctx.Err()
			}
		})
	}))
	g.Go(func() error {
		defer close(scored)
		return scorer.Pool(gctx, workers, chunks, scored)
	})
	g.Go(guard("writing", func() error {
		// Reorder buffer: results arrive in any order and leave in input
		// order, which makes the files byte-identical run after run.
		pending := map[int64]scoring.Scored{}
		defer func() {
			for _, s := range pending {
				s.Release()
			}
		}()
		var next int64
		for s := range scored {
			pending[s.Seq] = s
			for {
				ready, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				n, err := e.write(w, out, ready)
				if err != nil {
					return err
				}
				written += n
				next++
				<-tickets
				if e.Progress != nil {
					e.Progress(written, total)
				}
			}
		}
		return nil
	}))
	err = g.Wait()
	// Whatever a failed stage left in the channels is released here.
	for c := range chunks {
		c.Record.Release()
	}
	for s := range scored {
		s.Release()
	}
	// Counts go into the manifest on every path: on-call sees how far a
	// failed run got.
	e.m.Counts.Read = read
	e.m.Counts.Valid = read
	e.m.Counts.Scored = written
	e.m.Counts.Written = written
	if err != nil {
		w.Abort()
		return nil, err
	}
	files, err := w.Close()
	if err != nil {
		return nil, err
	}
	return files, nil
}

func (e *execution) write(w *parquetio.Writer, out *outputBuilder, s scoring.Scored) (int64, error) {
	defer s.Release()
	rec, err := out.build(s)
	if err != nil {
		return 0, err
	}
	defer rec.Release()
	if err := w.Write(rec); err != nil {
		return 0, fmt.Errorf("staging result rows: %w", err)
	}
	return rec.NumRows(), nil
}

// guard turns a panic in a pipeline stage into an error, so that no panic
// reaches the user and the run still ends with a failed manifest.
func guard(stage string, fn func() error) func() error {
	return func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error while %s: %v", stage, r)
			}
		}()
		return fn()
	}
}

func dedupe(names []string) []string {
	seen := map[string]bool{}
	out := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
