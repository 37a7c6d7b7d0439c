package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"golang.org/x/sync/errgroup"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

// score streams the snapshot through the worker pool into result files in
// dir. Stages are joined by bounded channels under one errgroup: the first
// error cancels the rest. Tickets bound the chunks alive at once, reorder
// buffer included, so memory depends on chunk_rows and workers only.
//
// Rules and profiles run in a goroutine after the reader's as each chunk
// streams by; only the rows they pass go on to be scored. A dry run (no
// plan) stops there.
func (e *execution) score(ctx context.Context, src snapshot, p *route.Plan, c *checks, dir string) ([]parquetio.WrittenFile, error) {
	job := e.req.Job
	mem := e.mem()
	workers := e.workers(job)
	if p == nil {
		return nil, e.checkOnly(ctx, src, c)
	}
	chunkRows := chunkRowsFor(job, src)
	arms, versions := p.Arms(e.m.Model.Version)
	out, err := output.NewBuilder(src.Schema(), job.Output.Keys, p.LabelType(), p.HasFallback(), c.engine.Marks(), e.date, e.m.RunID, e.m.Model.Version, arms, versions, chunkRows, mem)
	if err != nil {
		return nil, err
	}
	defer out.Release()
	if err := p.OpenSideTables(job, src.Schema(), dir, e.date, e.m.RunID, e.m.Model.Version); err != nil {
		return nil, err
	}
	if err := e.explain.open(job, src.Schema(), dir, e.date, e.m.RunID, e.m.Model.Version); err != nil {
		p.AbortSideTables()
		return nil, err
	}
	w, err := parquetio.NewWriter(dir, out.Schema, job.Output.Compression, job.Output.FileRows, mem,
		parquetio.CompressionLevel(job.Output.CompressionLevel))
	if err != nil {
		p.AbortSideTables()
		e.explain.abort()
		return nil, err
	}

	pl := &pipeline{
		src: src, plan: p, checks: c, w: w, out: out, mem: mem, explain: e.explain,
		columns: readColumns(job, p, c.columns()), chunkRows: chunkRows,
		countKeys: e.req.Shard == nil, progress: e.Progress, total: src.Rows(),
		raw:     make(chan rawChunk), // unbuffered: a chunk less in flight, measured no slower
		chunks:  make(chan scoring.Chunk, workers),
		scored:  make(chan scoring.Scored, workers),
		tickets: make(chan struct{}, workers+2),
	}
	begin := time.Now()
	defer func() {
		e.m.Busy = busyShares(time.Since(begin), workers, pl.busy.reader-pl.busy.readWait, pl.busy.checks, p.Busy(), pl.busy.write)
	}()
	g, gctx := errgroup.WithContext(ctx)
	// Decoding and the checks each have a goroutine: together they are
	// more than one core's work once the trees are fast.
	g.Go(guard("reading", func() error { return pl.reading(gctx) }))
	g.Go(guard("checking", func() error { return pl.checking(gctx) }))
	g.Go(func() error {
		defer close(pl.scored)
		return scoring.Pool(gctx, workers, pl.chunks, pl.scored, e.explain.wrap(p.Score))
	})
	g.Go(guard("writing", pl.writing))
	err = g.Wait()
	pl.drain()
	if err == nil {
		err = p.RolloutGate()
	}
	// Counts go into the manifest on every path: on-call sees how far a
	// failed run got.
	e.m.Counts.Read = pl.read
	e.m.Counts.Valid = pl.valid
	e.m.Counts.Quarantined = c.rejected
	e.m.Counts.Scored = pl.written - pl.fellBack
	e.m.Counts.Fallback = pl.fellBack
	e.m.Counts.Written = pl.written
	if e.checkpoints != nil {
		e.m.Output.ReusedChunks = e.checkpoints.Result().ReusedChunks
	}
	if err != nil {
		w.Abort()
		p.AbortSideTables()
		e.explain.abort()
		return nil, err
	}
	files, err := w.Close()
	if err != nil {
		p.AbortSideTables()
		e.explain.abort()
		return nil, err
	}
	if e.m.Explain, err = e.explain.close(); err != nil {
		p.AbortSideTables()
		e.explain.abort()
		return nil, err
	}
	return files, p.CloseSideTables()
}

// pipeline is one pass of the snapshot through the stages of score: the
// channels that join them, and the counts and busy times each stage
// owns (each written by one goroutine, read after they all ended).
type pipeline struct {
	src       snapshot
	plan      *route.Plan
	checks    *checks
	w         *parquetio.Writer
	out       *output.Builder
	explain   *explaining // nil unless the job explains its rows
	mem       memory.Allocator
	columns   []string
	chunkRows int
	countKeys bool // count duplicate keys once every row is checked (not a shard's)
	progress  func(done, total int64)
	total     int64

	raw     chan rawChunk
	chunks  chan scoring.Chunk
	scored  chan scoring.Scored
	tickets chan struct{}

	read, valid, written, fellBack int64
	busy                           struct{ reader, readWait, checks, write time.Duration }
}

// reading decodes the snapshot into raw chunks.
func (pl *pipeline) reading(ctx context.Context) error {
	defer close(pl.raw)
	defer func(t time.Time) { pl.busy.reader = time.Since(t) }(time.Now())
	return readSpans(ctx, pl.src, pl.columns, pl.chunkRows, pl.mem, func(rec arrow.Record, spans []source.Span) error {
		t := time.Now()
		defer func() { pl.busy.readWait += time.Since(t) }() // blocked on the checks: not busy
		select {
		case pl.raw <- rawChunk{rec, spans}:
			return nil
		case <-ctx.Done():
			rec.Release()
			return ctx.Err()
		}
	})
}

// readSpans reads src in chunks that join small files when it can
// (source.Joiner), else in its own chunks, each one span.
func readSpans(ctx context.Context, src snapshot, cols []string, chunkRows int, mem memory.Allocator, emit source.EmitSpans) error {
	if j, ok := src.(source.Joiner); ok {
		return j.ReadJoined(ctx, cols, chunkRows, mem, emit)
	}
	return src.Read(ctx, cols, chunkRows, mem, func(rec arrow.Record, where string, offset int64) error {
		return emit(rec, []source.Span{{Where: where, Offset: offset, Rows: rec.NumRows()}})
	})
}

// checking applies the rules and profiles to each raw chunk and passes on
// the rows they let through, numbered in snapshot order.
func (pl *pipeline) checking(ctx context.Context) error {
	defer close(pl.chunks)
	var seq int64
	for in := range pl.raw {
		n := in.rec.NumRows()
		t := time.Now()
		ok, locate, err := pl.checks.applySpans(in.rec, in.spans)
		pl.busy.checks += time.Since(t)
		in.rec.Release()
		if err != nil {
			return err
		}
		pl.read += n
		if ok == nil {
			continue
		}
		select {
		case pl.tickets <- struct{}{}:
		case <-ctx.Done():
			ok.Release()
			return ctx.Err()
		}
		kept := ok.NumRows() // ok belongs to a worker once sent
		select {
		case pl.chunks <- scoring.Chunk{Seq: seq, Record: ok, File: in.spans[0].Where, Offset: in.spans[0].Offset, Locate: locate}:
			seq++
			pl.valid += kept
		case <-ctx.Done():
			ok.Release()
			return ctx.Err()
		}
	}
	if ctx.Err() == nil && pl.countKeys {
		// Every row is checked: count duplicate keys while the last
		// chunks are scored and written, not after.
		t := time.Now()
		pl.checks.summary.CountKeys()
		pl.busy.checks += time.Since(t)
	}
	return nil
}

// writing puts scored chunks back in input order, which makes the files
// byte-identical run after run, and writes them.
func (pl *pipeline) writing() error {
	pending := map[int64]scoring.Scored{}
	defer func() {
		for _, s := range pending {
			s.Release()
		}
	}()
	var next int64
	for s := range pl.scored {
		pending[s.Seq] = s
		for {
			ready, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if err := pl.writeChunk(ready); err != nil {
				return err
			}
			next++
			<-pl.tickets
			if pl.progress != nil {
				pl.progress(pl.written, pl.total)
			}
		}
	}
	return nil
}

// writeChunk writes one scored chunk to the score profile, the side
// tables and the result files, and releases it.
func (pl *pipeline) writeChunk(ready scoring.Scored) error {
	t := time.Now()
	if err := pl.checks.addScores(ready.Score); err != nil {
		ready.Release()
		return err
	}
	if err := pl.plan.WriteSide(ready); err != nil {
		ready.Release()
		return err
	}
	if err := pl.explain.write(ready); err != nil {
		ready.Release()
		return err
	}
	ready, arms, err := pl.plan.Publish(ready)
	if err != nil {
		ready.Release()
		return err
	}
	pl.fellBack += route.FallbackRows(ready.Source) // counted as written, not as filled
	n, err := write(pl.w, pl.out, ready, arms)
	pl.busy.write += time.Since(t)
	if err != nil {
		return err
	}
	pl.written += n
	return nil
}

// drain releases whatever a failed stage left in the channels.
func (pl *pipeline) drain() {
	for in := range pl.raw {
		in.rec.Release()
	}
	for c := range pl.chunks {
		c.Record.Release()
	}
	for s := range pl.scored {
		s.Release()
	}
}

// rawChunk is a decoded batch on its way to the checks, with the files
// and rows its rows come from.
type rawChunk struct {
	rec   arrow.Record
	spans []source.Span
}

// busyShares say how busy each stage was, as a share of the pipeline's
// wall time (scoring's over its workers): the stage nearest 1.0 bounds the
// run.
func busyShares(wall time.Duration, workers int, read, checks, score, write time.Duration) []report.Busy {
	share := func(d time.Duration, n int) float64 {
		if wall <= 0 {
			return 0
		}
		return d.Seconds() / wall.Seconds() / float64(n)
	}
	return []report.Busy{
		{Stage: "read", Seconds: read.Seconds(), Share: share(read, 1)},
		{Stage: "checks", Seconds: checks.Seconds(), Share: share(checks, 1)},
		{Stage: "score", Seconds: score.Seconds(), Share: share(score, workers), Workers: workers},
		{Stage: "write", Seconds: write.Seconds(), Share: share(write, 1)},
	}
}

// checkOnly streams the snapshot through the checks alone (batchscore
// validate): nothing is scored or written but the quarantine files.
func (e *execution) checkOnly(ctx context.Context, src snapshot, c *checks) error {
	var read, valid int64
	err := readSpans(ctx, src, readColumns(e.req.Job, nil, c.columns()), e.req.Job.Scoring.ChunkRows, e.mem(), func(rec arrow.Record, spans []source.Span) error {
		n := rec.NumRows()
		ok, _, err := c.applySpans(rec, spans)
		rec.Release()
		if err == nil {
			read += n
		}
		if ok != nil {
			valid += ok.NumRows()
			ok.Release()
		}
		if e.Progress != nil {
			e.Progress(read, src.Rows())
		}
		return err
	})
	e.m.Counts.Read, e.m.Counts.Valid, e.m.Counts.Quarantined = read, valid, c.rejected
	return err
}

// chunkRowsFor is the chunk size of a run: scoring.chunk_rows, or the
// snapshot's rows when it has fewer (known ahead: a Parquet snapshot's
// footers). The chunks are the same; the buffers sized by the chunk
// size are not larger than the snapshot.
func chunkRowsFor(job *spec.Job, src snapshot) int {
	if n := src.Rows(); n > 0 && n < int64(job.Scoring.ChunkRows) {
		return int(n)
	}
	return job.Scoring.ChunkRows
}

// readColumns are the snapshot columns a run reads: keys, model inputs,
// and what the checks need.
func readColumns(job *spec.Job, p *route.Plan, checked []string) []string {
	cols := append([]string(nil), job.Output.Keys...)
	if p != nil {
		cols = append(cols, p.Columns()...)
	}
	return dedupe(append(cols, checked...))
}

// write writes a scored chunk's result rows, and releases it.
func write(w *parquetio.Writer, out *output.Builder, s scoring.Scored, arms []int32) (int64, error) {
	defer s.Release()
	rec, err := out.Build(s, arms)
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
