package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

// ErrFallback marks rows no fallback could score, and runs with more
// fallback rows than max_fallback_fraction: nothing is published.
var ErrFallback = errors.New("fallback")

// What made a row fall back: the keys of the manifest's fallback triggers.
const (
	TriggerLoad      = "model_load"
	TriggerInference = "inference"
	TriggerNaN       = "nan"
	TriggerReused    = "reused" // rows of saved chunks: the cause was seen by the execution that saved them
)

const sourceModel = "model"

// fallback scores the rows the champion could not.
type fallback struct {
	spec   *spec.Fallback
	source string
	keys   []string
	mem    memory.Allocator
	all    bool    // the champion did not load: every row falls back
	model  *loaded // kind model
	scorer *scoring.Scorer

	// carry_forward reads the previous version's scores once, when a
	// row first needs them.
	previous     string // its folder
	previousName string
	once         sync.Once
	carried      map[string]float64
	carryErr     error

	chunkRows   int
	modelOnce   sync.Once
	modelSource *array.String // chunkRows × "model"

	rows     atomic.Int64
	triggers [4]atomic.Int64 // model_load, inference, nan, reused
	mu       sync.Mutex
	errors   []noted // the first in snapshot order, whichever worker saw them first
}

// noted is one of the fallback's first errors, and the chunk it came from.
type noted struct {
	seq  int64
	text string
}

// maxNoted is how many errors the manifest keeps.
const maxNoted = 5

func (o *opener) openFallback(all bool, loadErr error) (*fallback, error) {
	job := o.Job
	f := &fallback{spec: job.Fallback, source: job.Fallback.Source(), keys: job.Output.Keys, mem: o.Mem, all: all, chunkRows: job.Scoring.ChunkRows}
	if all {
		f.note(-1, TriggerLoad, loadErr)
	}
	switch f.spec.Kind {
	case spec.FallbackModel:
		rep := &report.Model{}
		m, err := o.loadModel(*f.spec.Model, "fallback.model", rep)
		if err != nil {
			return nil, fmt.Errorf("the fallback model cannot be used either: %w", err)
		}
		f.model = m
		// NaN allowed: only the rows in need are held to being finite.
		f.scorer = &scoring.Scorer{Session: m.session, Binding: m.feed, Named: m.binding, Mem: f.mem, AllowNaN: true}
	case spec.FallbackCarryForward:
		if prev := o.previous(); prev != nil {
			// A table on object storage: the bucket's copy, which every
			// machine reads, not the work folder of the one that wrote it.
			f.previous, f.previousName = prev.Output.Path, prev.Version
			// Only the table's own folder for that version: a manifest
			// pulled from the bucket names no other place to read.
			// Its URL is recorded without the query (older manifests:
			// with the writer's); it is read with this table's.
			if want := o.Table.Location("versions", prev.LogicalDate, prev.Version); prev.Output.URL != "" &&
				(prev.Output.URL == want || prev.Output.URL == o.Table.ReaderURL("versions", prev.LogicalDate, prev.Version)) {
				f.previous = want
			}
		}
	}
	return f, nil
}

// previous is the newest published, successful run of an earlier date.
func (o *opener) previous() *report.Manifest {
	if o.Previous == nil {
		return nil
	}
	return o.Previous()
}

// note keeps err, of the chunk numbered seq (-1: before any), if it is
// among the first maxNoted in snapshot order.
func (f *fallback) note(seq int64, trigger string, err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, noted{seq, trigger + ": " + err.Error()})
	slices.SortStableFunc(f.errors, func(a, b noted) int { return cmp.Compare(a.seq, b.seq) })
	f.errors = f.errors[:min(len(f.errors), maxNoted)]
}

// fill gives every row the model left without a score (all of them when
// sc.Score is nil, else the NaN and infinite ones) the fallback's score,
// and says in sc.Source which rows it scored.
func (f *fallback) fill(ctx context.Context, sc *scoring.Scored, buf *scoring.Buffers) error {
	n := int(sc.Record.NumRows())
	need := make([]bool, n)
	count, trigger := 0, TriggerNaN
	if sc.Score == nil {
		trigger = TriggerInference
		if f.all {
			trigger = TriggerLoad
		}
		for i := range need {
			need[i] = true
		}
		count = n
	} else {
		for i, v := range sc.Score.Float64Values() {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				need[i] = true
				count++
			}
		}
	}
	if count == 0 { // the common case: the model scored every row
		sc.Source = f.allModel(n)
		return nil
	}
	if trigger == TriggerNaN {
		f.note(sc.Seq, TriggerNaN, fmt.Errorf("%s: %d rows from row %d have a NaN or infinite score", sc.File, count, sc.Offset))
	}
	values, err := f.values(ctx, sc, need, buf)
	if err != nil {
		return err
	}
	scores := array.NewFloat64Builder(f.mem)
	defer scores.Release()
	sources := array.NewStringBuilder(f.mem)
	defer sources.Release()
	scores.Reserve(n)
	for i := 0; i < n; i++ {
		if need[i] {
			scores.UnsafeAppend(values[i])
			sources.Append(f.source)
		} else {
			scores.UnsafeAppend(sc.Score.Value(i))
			sources.Append(sourceModel)
		}
	}
	if sc.Score != nil {
		sc.Score.Release()
	}
	if sc.Label != nil {
		label := nullWhere(sc.Label, need, f.mem)
		sc.Label.Release()
		sc.Label = label
	}
	sc.Score = scores.NewFloat64Array()
	sc.Source = sources.NewStringArray()
	f.rows.Add(int64(count))
	idx := map[string]int{TriggerLoad: 0, TriggerInference: 1, TriggerNaN: 2}[trigger]
	f.triggers[idx].Add(int64(count))
	return nil
}

// nullWhere is a copy of a flat array with the rows in need set to null.
// A fallback row's label is null whatever the fallback: the label is the
// champion's decision, and the champion gave none that row's score could
// be read with (the row it failed on was labelled from NaN).
func nullWhere(a arrow.Array, need []bool, mem memory.Allocator) arrow.Array {
	data := a.Data()
	off, n := data.Offset(), data.Len()
	bitmap := memory.NewResizableBuffer(mem)
	defer bitmap.Release()
	bitmap.Resize(int(bitutil.BytesForBits(int64(off + n))))
	bits := bitmap.Bytes()
	for i := range n {
		bitutil.SetBitTo(bits, off+i, !need[i] && a.IsValid(i))
	}
	buffers := slices.Clone(data.Buffers())
	buffers[0] = bitmap
	out := array.NewData(data.DataType(), n, buffers, data.Children(), array.UnknownNullCount, off)
	defer out.Release()
	return array.MakeFromData(out)
}

// allModel is a score_source column of n rows the model scored, sliced
// from one built once.
func (f *fallback) allModel(n int) *array.String {
	f.modelOnce.Do(func() {
		b := array.NewStringBuilder(f.mem)
		defer b.Release()
		for range f.chunkRows {
			b.Append(sourceModel)
		}
		f.modelSource = b.NewStringArray()
	})
	return array.NewSlice(f.modelSource, 0, int64(n)).(*array.String)
}

// release frees what the fallback built for the run.
func (f *fallback) release() {
	if f.modelSource != nil {
		f.modelSource.Release()
	}
	f.model.close()
}

// countReused counts the fallback rows of a chunk saved by an earlier
// execution.
func (f *fallback) countReused(sc scoring.Scored) {
	n := FallbackRows(sc.Source)
	f.rows.Add(n)
	f.triggers[3].Add(n)
}

// FallbackRows counts the rows of a chunk a fallback scored.
func FallbackRows(source *array.String) int64 {
	if source == nil {
		return 0
	}
	var n int64
	for i := 0; i < source.Len(); i++ {
		if v := source.Value(i); v != sourceModel && v != sourceCanaryFallback && v != sourceArmFallback {
			n++
		}
	}
	return n
}

// values returns the fallback's score for every row in need.
func (f *fallback) values(ctx context.Context, sc *scoring.Scored, need []bool, buf *scoring.Buffers) ([]float64, error) {
	out := make([]float64, len(need))
	if !slices.Contains(need, true) {
		return out, nil
	}
	switch f.spec.Kind {
	case spec.FallbackConstant:
		for i := range out {
			out[i] = *f.spec.Value
		}
	case spec.FallbackModel:
		r, err := f.scorer.ScoreChunk(ctx, sc.Chunk, buf)
		if err != nil {
			return nil, fmt.Errorf("%w: the fallback model failed too: %w", ErrFallback, err)
		}
		copy(out, r.Score.Float64Values())
		r.Score.Release()
		if r.Label != nil {
			r.Label.Release()
		}
		for i, v := range out {
			if need[i] && (math.IsNaN(v) || math.IsInf(v, 0)) {
				return nil, fmt.Errorf("%w: %s: row %d: the fallback model's score is %v too", ErrFallback, sc.File, sc.Offset+int64(i), v)
			}
		}
	case spec.FallbackCarryForward:
		f.once.Do(func() { f.carried, f.carryErr = f.loadCarried(ctx) })
		if f.carryErr != nil {
			return nil, f.carryErr
		}
		keys, err := keyColumns(sc.Record, f.keys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sc.File, err)
		}
		for i, ok := range need {
			if !ok {
				continue
			}
			k := keyString(keys, i)
			v, found := f.carried[k]
			switch {
			case found:
				out[i] = v
			case f.spec.Value != nil:
				out[i] = *f.spec.Value
			default:
				return nil, fmt.Errorf("%w: %s: row %d: key %s has no score in %s to carry forward, and fallback.value is not set",
					ErrFallback, sc.File, sc.Offset+int64(i), strings.ReplaceAll(k, "\x00", ","), f.previousLabel())
			}
		}
	}
	return out, nil
}

func (f *fallback) previousLabel() string {
	if f.previous == "" {
		return "an earlier version (there is none)"
	}
	return "version " + f.previousName
}

// filesIn is the glob of a version folder's result files, a local path or
// an object URL (whose query stays last).
func filesIn(folder string) string {
	if base, query, ok := strings.Cut(folder, "?"); ok && table.IsRemote(folder) {
		return base + "/*.parquet?" + query
	}
	if table.IsRemote(folder) {
		return folder + "/*.parquet"
	}
	return filepath.Join(folder, "*.parquet")
}

// loadCarried reads key → score from the previous version's files.
func (f *fallback) loadCarried(ctx context.Context) (map[string]float64, error) {
	carried := map[string]float64{}
	if f.previous == "" {
		return carried, nil
	}
	src, err := parquetio.Open(filesIn(f.previous))
	if err != nil {
		return nil, fmt.Errorf("carry_forward: reading the previous version: %w", err)
	}
	cols := append(append([]string(nil), f.keys...), "score")
	err = src.Read(ctx, cols, 65536, f.mem, func(rec arrow.Record, file string, _ int64) error {
		defer rec.Release()
		keys, err := keyColumns(rec, f.keys)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		idx := rec.Schema().FieldIndices("score")
		if len(idx) == 0 {
			return fmt.Errorf("%s: no score column", file)
		}
		score, ok := rec.Column(idx[0]).(*array.Float64)
		if !ok {
			return fmt.Errorf("%s: the score column is %s, not double", file, rec.Column(idx[0]).DataType())
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if score.IsValid(i) {
				carried[keyString(keys, i)] = score.Value(i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("carry_forward: %w", err)
	}
	return carried, nil
}

func keyColumns(rec arrow.Record, keys []string) ([]arrow.Array, error) {
	cols := make([]arrow.Array, len(keys))
	for i, k := range keys {
		idx := rec.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return nil, fmt.Errorf("key column %q is missing", k)
		}
		cols[i] = rec.Column(idx[0])
	}
	return cols, nil
}

// keyString joins a row's key values; NUL cannot appear in ValueStr of
// the flat types keys may have.
func keyString(cols []arrow.Array, row int) string {
	if len(cols) == 1 {
		return cols[0].ValueStr(row)
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.ValueStr(row)
	}
	return strings.Join(parts, "\x00")
}

// gate fails a run with more fallback rows than max_fallback_fraction of
// its valid rows.
func (f *fallback) gate(rows, valid int64) error { return Gate(f.spec, rows, valid) }

// Gate fails a run whose fallback (the job's fallback section, nil: none)
// scored more of the valid rows than max_fallback_fraction.
func Gate(fb *spec.Fallback, rows, valid int64) error {
	if fb == nil || rows == 0 || valid == 0 {
		return nil
	}
	if share := float64(rows) / float64(valid); share > fb.Limit() {
		got, limit := numfmt.Pair(share, fb.Limit())
		return fmt.Errorf("%w: %d of %d valid rows (%s) were scored by the %s fallback, above max_fallback_fraction %s",
			ErrFallback, rows, valid, got, fb.Kind, limit)
	}
	return nil
}

// summary is the fallback's part of the manifest: rows written, and valid
// the rows the fraction is of. The causes count rows as filled.
func (f *fallback) summary(rows, valid int64) *report.Fallback {
	s := &report.Fallback{Kind: f.spec.Kind, Rows: rows, Limit: f.spec.Limit(), CarriedFrom: f.previousName}
	if valid > 0 {
		s.Fraction = float64(s.Rows) / float64(valid)
	}
	for i, name := range []string{TriggerLoad, TriggerInference, TriggerNaN, TriggerReused} {
		if n := f.triggers[i].Load(); n > 0 {
			if s.Triggers == nil {
				s.Triggers = map[string]int64{}
			}
			s.Triggers[name] = n
		}
	}
	if f.model != nil {
		s.Model = &f.model.report
	}
	f.mu.Lock()
	for _, n := range f.errors {
		s.Errors = append(s.Errors, n.text)
	}
	f.mu.Unlock()
	if f.spec.Kind != spec.FallbackCarryForward {
		s.CarriedFrom = ""
	}
	return s
}
