package scoring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"golang.org/x/sync/errgroup"
)

// Chunk is one record batch of the snapshot. Seq orders chunks; File and
// Offset locate the first row for error messages, and Locate, when set
// (a chunk joined from several files), the file and row of row i.
type Chunk struct {
	Seq    int64
	Record arrow.Record
	File   string
	Offset int64
	Locate func(i int64) (file string, row int64)
}

// Row is the file and row that row i of the chunk comes from.
func (c Chunk) Row(i int64) (string, int64) {
	if c.Locate != nil {
		return c.Locate(i)
	}
	return c.File, c.Offset + i
}

// Scored is a chunk with its scores. Its owner calls Release once.
type Scored struct {
	Chunk
	Score *array.Float64
	Label arrow.Array
	// Confidence is the top-class probability of each row, when asked for.
	Confidence *array.Float64
	// Source says what scored each row ("model", "fallback:<kind>"), when
	// a fallback is configured.
	Source *array.String
	// Shadow holds a challenger's scores, when one scored the chunk.
	Shadow *array.Float64
	// ShadowLabel is the challenger's label, kept when a canary publishes it.
	ShadowLabel arrow.Array
}

// Release drops the chunk's record and its score columns.
func (s *Scored) Release() {
	if s.Record != nil {
		s.Record.Release()
	}
	if s.Score != nil {
		s.Score.Release()
	}
	if s.Label != nil {
		s.Label.Release()
	}
	if s.Confidence != nil {
		s.Confidence.Release()
	}
	if s.Source != nil {
		s.Source.Release()
	}
	if s.ShadowLabel != nil {
		s.ShadowLabel.Release()
	}
	if s.Shadow != nil {
		s.Shadow.Release()
	}
}

// Scorer scores chunks with one shared session.
type Scorer struct {
	Session Session
	Binding *Binding
	Mem     memory.Allocator
	// AllowNaN leaves NaN and infinite scores in place for the caller to
	// replace (a fallback); without it they are an InputError.
	AllowNaN bool
	// Confidence asks for each row's top-class probability.
	Confidence bool
	// Named is the binding of the job file's keys, when Binding is one an
	// engine rewrote: errors name the key that lists a bad column.
	Named *Binding
	// Busy adds up the time workers spend scoring (tensors, model,
	// decoding), in nanoseconds, summed over workers.
	Busy atomic.Int64

	nonFinite nonFiniteTotals
}

// NonFinite is the count, per bound column, of the inputs filled so far
// that were NaN or infinite as the model took them; nil when none was.
func (s *Scorer) NonFinite() map[string]NonFinite { return s.nonFinite.snapshot() }

// ErrInference marks a chunk the model session failed on (not its data).
var ErrInference = errors.New("inference failed")

// ScoreFunc scores one chunk; buf is the calling worker's own.
type ScoreFunc func(ctx context.Context, c Chunk, buf *Buffers) (Scored, error)

// Pool runs workers goroutines that score chunks from in and send them to
// out, in whatever order they finish. It returns when in is closed and
// drained, or at the first error. Chunks it takes are released or sent;
// chunks left in in are the caller's.
func (s *Scorer) Pool(ctx context.Context, workers int, in <-chan Chunk, out chan<- Scored) error {
	return Pool(ctx, workers, in, out, s.ScoreChunk)
}

// Pool runs workers goroutines that score chunks from in with score and
// send them to out, as (*Scorer).Pool does.
//
// A chunk that fails stops the pool, and the error returned is that of
// the failing chunk with the lowest Seq, the first in snapshot order, not
// whichever worker failed first: in receives chunks in Seq order, so every
// earlier chunk is already with a worker, and each worker finishes the one
// it holds before the pool returns. The message is the same whatever the
// number of workers.
func Pool(ctx context.Context, workers int, in <-chan Chunk, out chan<- Scored, score ScoreFunc) error {
	var first failure
	var g errgroup.Group
	for range workers {
		g.Go(func() (err error) {
			var held arrow.Record // the chunk being scored, released on a panic
			// A panic in a worker would kill the process: turn it into an error.
			defer func() {
				if r := recover(); r != nil {
					if held != nil {
						held.Release()
					}
					err = fmt.Errorf("internal error in a scoring worker: %v", r)
					first.stop()
				}
			}()
			var buf Buffers
			for {
				var c Chunk
				var ok bool
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-first.stopped():
					return nil
				case c, ok = <-in:
				}
				if !ok {
					return nil
				}
				if first.before(c.Seq) { // a later chunk: its error would not be the one named
					c.Record.Release()
					return nil
				}
				held = c.Record
				sc, err := score(ctx, c, &buf)
				held = nil
				if err != nil {
					c.Record.Release()
					first.record(c.Seq, err)
					return nil
				}
				select {
				case out <- sc:
				case <-ctx.Done():
					sc.Release()
					return ctx.Err()
				}
			}
		})
	}
	err := g.Wait()
	if ferr := first.err(); ferr != nil {
		return ferr
	}
	return err
}

// failure is the pool's earliest failing chunk.
type failure struct {
	mu   sync.Mutex
	seq  int64
	e    error
	once sync.Once
	done chan struct{}
}

func (f *failure) init() {
	f.once.Do(func() { f.done = make(chan struct{}) })
}

// record keeps err if no chunk before seq failed, and stops the pool.
func (f *failure) record(seq int64, err error) {
	f.mu.Lock()
	if f.e == nil || seq < f.seq {
		f.seq, f.e = seq, err
	}
	f.mu.Unlock()
	f.stop()
}

// stop tells every worker to take no more chunks.
func (f *failure) stop() {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.done:
	default:
		close(f.done)
	}
}

func (f *failure) stopped() <-chan struct{} {
	f.init()
	return f.done
}

// before says whether a chunk before seq failed.
func (f *failure) before(seq int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e != nil && f.seq < seq
}

func (f *failure) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.e
}

// ScoreChunk scores one chunk with the session. The chunk's record stays
// the caller's on error.
func (s *Scorer) ScoreChunk(ctx context.Context, c Chunk, buf *Buffers) (Scored, error) {
	start := time.Now()
	defer func() { s.Busy.Add(int64(time.Since(start))) }()
	n := int(c.Record.NumRows())
	inputs, err := s.Binding.tensors(c.Record, buf)
	if err != nil {
		return Scored{}, s.locate(c, err)
	}
	s.nonFinite.add(buf.nonFinite)
	outs, err := s.Session.Run(ctx, inputs)
	if err != nil {
		return Scored{}, fmt.Errorf("%s: %w: %w", c.rows(n), ErrInference, err)
	}
	score, label, err := s.Binding.decode(outs, n, s.AllowNaN, s.Mem)
	if err != nil {
		return Scored{}, s.locate(c, err)
	}
	sc := Scored{Chunk: c, Score: score, Label: label}
	if s.Confidence {
		sc.Confidence = s.Binding.confidence(outs, n, s.Mem)
	}
	return sc, nil
}

// rows names the chunk's n rows: file: rows a-b, or from a file's row to
// another's when the chunk joins files.
func (c Chunk) rows(n int) string {
	file, first := c.Row(0)
	lastFile, last := c.Row(int64(n) - 1)
	if lastFile == file {
		return fmt.Sprintf("%s: rows %d-%d", file, first, last)
	}
	return fmt.Sprintf("%s: rows from %d to %s row %d", file, first, lastFile, last)
}

// locate names the file and absolute row of an input error.
func (s *Scorer) locate(c Chunk, err error) error {
	var ie *InputError
	if errors.As(err, &ie) {
		named := s.Named
		if named == nil {
			named = s.Binding
		}
		file, row := c.Row(ie.Row)
		if key := named.ColumnKey(ie.Column); key != "" {
			return fmt.Errorf("%s: row %d: column %q (%s): %s: %w", file, row, ie.Column, key, ie.Reason, ErrBadInput)
		}
		return fmt.Errorf("%s: row %d: column %q: %s: %w", file, row, ie.Column, ie.Reason, ErrBadInput)
	}
	return fmt.Errorf("%s: %w", c.File, err)
}
