// Package resume makes a run durable across a kill: every scored chunk is
// saved under <table>/_resume/<run id>/, and the next execution of the same
// run id (same job file, date, snapshot and models) reuses the saved
// chunks, verified by their sha256, instead of scoring them again.
//
// Contract: Checkpoints' troubles are logged, never fatal (the chunk is
// scored afresh); Load and Save may be called by many workers at once; a
// chunk counts as saved once its .sha256 sidecar exists, written after its
// .arrow file, both replaced atomically.
package resume

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/internal/crashpoint"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/scoring"
)

// Dir holds, per run id, the scores of every chunk scored so far.
const Dir = "_resume"

// checkpoint columns: what scoring adds to a chunk. Keys and flags come
// from the snapshot, which is read and checked again either way.
const (
	ckScore      = "score"
	ckLabel      = "label"
	ckConfidence = "confidence"
	ckSource     = "score_source"
	ckShadow     = "shadow"
)

// Checkpoints saves each scored chunk and reuses the chunks a killed
// execution of the same run id saved.
type Checkpoints struct {
	dir    string
	mem    memory.Allocator
	log    *slog.Logger
	saved  map[int64]string // seq → sha256, from the sidecars found at start
	reused atomic.Int64
	off    atomic.Bool // a save failed: stop saving
	once   sync.Once
}

// Identity says what the chunks in a folder were scored by: saved chunks
// are reused only by an execution with the same identity.
type Identity struct {
	RunID  string `json:"run_id"`
	Binary string `json:"binary"`
	ORT    string `json:"onnxruntime"`
	Engine string `json:"engine,omitempty"` // saved scores are this engine's
}

// Result is what the checkpoints add to the manifest.
type Result struct {
	ReusedChunks int64 // chunks taken from an earlier execution
}

// Open prepares <table>/_resume/<run id>/, reading what a killed
// execution left there if it matches id.
func Open(t *table.Table, id Identity, mem memory.Allocator, log *slog.Logger) *Checkpoints {
	dir := filepath.Join(t.Root, Dir, id.RunID)
	r := &Checkpoints{dir: dir, mem: mem, log: log, saved: map[int64]string{}}
	want, _ := json.Marshal(id)
	got, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err == nil && string(got) == string(want) {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			var seq int64
			if _, err := fmt.Sscanf(en.Name(), "chunk-%d.sha256", &seq); err != nil || !strings.HasSuffix(en.Name(), ".sha256") {
				continue
			}
			if sum, err := os.ReadFile(filepath.Join(dir, en.Name())); err == nil {
				r.saved[seq] = strings.TrimSpace(string(sum))
			}
		}
		if len(r.saved) > 0 {
			log.Info("resuming: chunks scored by an earlier execution will be reused once verified", "chunks", len(r.saved), "dir", dir)
		}
		return r
	}
	// Another binary or nothing usable: start afresh.
	os.RemoveAll(dir)
	if _, err := t.Dir(Dir, id.RunID); err != nil {
		r.disable(err)
		return r
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "meta.json"), want); err != nil {
		r.disable(err)
	}
	return r
}

func (r *Checkpoints) disable(err error) {
	r.once.Do(func() { r.log.Warn("scored chunks are not saved for resuming", "err", err) })
	r.off.Store(true)
}

func (r *Checkpoints) path(seq int64, ext string) string {
	return filepath.Join(r.dir, fmt.Sprintf("chunk-%08d.%s", seq, ext))
}

// Load returns the saved scores of chunk c, verified, or false.
func (r *Checkpoints) Load(c scoring.Chunk) (scoring.Scored, bool) {
	want, ok := r.saved[c.Seq]
	if !ok {
		return scoring.Scored{}, false
	}
	rec, err := readRecordFile(r.path(c.Seq, "arrow"), want, r.mem)
	if err != nil {
		r.log.Warn("a saved chunk failed its check: scoring it again", "seq", c.Seq, "err", err)
		return scoring.Scored{}, false
	}
	defer rec.Release()
	if rec.NumRows() != c.Record.NumRows() {
		r.log.Warn("a saved chunk has another row count: scoring it again", "seq", c.Seq, "saved", rec.NumRows(), "rows", c.Record.NumRows())
		return scoring.Scored{}, false
	}
	sc := scoring.Scored{Chunk: c}
	take := func(name string) arrow.Array {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil
		}
		a := rec.Column(idx[0])
		a.Retain()
		return a
	}
	score, _ := take(ckScore).(*array.Float64)
	if score == nil {
		return scoring.Scored{}, false
	}
	sc.Score = score
	sc.Label = take(ckLabel)
	if a := take(ckConfidence); a != nil {
		sc.Confidence = a.(*array.Float64)
	}
	if a := take(ckSource); a != nil {
		sc.Source = a.(*array.String)
	}
	if a := take(ckShadow); a != nil {
		sc.Shadow = a.(*array.Float64)
	}
	r.reused.Add(1)
	return sc, true
}

// Save writes a scored chunk's scores, then its checksum: a chunk counts
// as saved once its sidecar exists.
func (r *Checkpoints) Save(s scoring.Scored) {
	if r.off.Load() {
		return
	}
	var fields []arrow.Field
	var cols []arrow.Array
	add := func(name string, a arrow.Array) {
		if a != nil {
			fields = append(fields, arrow.Field{Name: name, Type: a.DataType(), Nullable: true})
			cols = append(cols, a)
		}
	}
	add(ckScore, s.Score)
	if s.Label != nil {
		add(ckLabel, s.Label)
	}
	if s.Confidence != nil {
		add(ckConfidence, s.Confidence)
	}
	if s.Source != nil {
		add(ckSource, s.Source)
	}
	if s.Shadow != nil {
		add(ckShadow, s.Shadow)
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(s.Score.Len()))
	defer rec.Release()
	sum, err := writeRecordFile(r.path(s.Seq, "arrow"), rec, r.mem)
	if err == nil {
		err = atomicfile.WriteFile(r.path(s.Seq, "sha256"), []byte(sum+"\n"), atomicfile.WithoutSync())
	}
	if err != nil {
		r.disable(err)
		return
	}
	crashpoint.Hit("checkpointed")
}

// Result reports what was reused.
func (r *Checkpoints) Result() Result {
	return Result{ReusedChunks: r.reused.Load()}
}

// Remove drops the saved chunks once the version they were for is
// published.
func (r *Checkpoints) Remove() {
	if err := os.RemoveAll(r.dir); err != nil {
		r.log.Warn("could not remove the saved chunks", "dir", r.dir, "err", err)
	}
}

// keep is how long saved chunks wait for an execution to reuse them.
const keep = 7 * 24 * time.Hour

// Clean removes saved chunks nobody came back for, and those of run id
// done (a version published just before its execution was killed).
func Clean(root, done string) {
	dir := filepath.Join(root, Dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, en := range entries {
		info, err := en.Info()
		if err == nil && (en.Name() == done || time.Since(info.ModTime()) > keep) {
			os.RemoveAll(filepath.Join(dir, en.Name()))
		}
	}
}
