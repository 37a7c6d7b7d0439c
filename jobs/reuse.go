package jobs

import (
	"crypto/sha256"
	"os"
	"slices"
	"sync"

	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// Reuse is what the runs of one process (the dates of a backfill, the
// runs of serve) share because it does not change between them unless a
// file changes: the opened models (onnx.Cache, keyed by the sha256 of the
// model's bytes) and the checked baseline (keyed by the job file's hash
// and the sha256 of the baseline's bytes). Every run still reads and
// hashes the model and baseline files, so an edited file is opened
// afresh, never reused stale. Registry lookups are not kept: a promote or
// rollback may land between two dates, and resolving an alias is one
// small read. Nothing that depends on the snapshot is kept.
//
// A nil *Reuse shares nothing. Safe for concurrent runs; Close it once
// they are over.
type Reuse struct {
	Sessions *onnx.Cache

	mu        sync.Mutex
	baselines map[string]*jobBaseline
}

// maxBaselines bounds the checked baselines a Reuse keeps.
const maxBaselines = 16

// NewReuse makes an empty Reuse.
func NewReuse() *Reuse {
	return &Reuse{Sessions: onnx.NewCache(onnx.DefaultCacheModels), baselines: map[string]*jobBaseline{}}
}

// Close releases the models no run holds.
func (r *Reuse) Close() {
	if r != nil {
		r.Sessions.Close()
	}
}

func (r *Reuse) sessions() *onnx.Cache {
	if r == nil {
		return nil
	}
	return r.Sessions
}

// baseline is load()'s result for the job's baseline file as it is now:
// a copy kept from an earlier run of the same job file and bytes, or a
// new one, kept when the file did not change while load read it.
func (r *Reuse) baseline(job *spec.Job, path string, load func() (*jobBaseline, error)) (*jobBaseline, error) {
	if r == nil {
		return load()
	}
	before, ok := fileKey(job, path)
	if ok {
		r.mu.Lock()
		b := r.baselines[before]
		r.mu.Unlock()
		if b != nil {
			return &jobBaseline{profile: b.profile, warnings: slices.Clip(b.warnings)}, nil
		}
	}
	b, err := load()
	if err != nil || !ok {
		return b, err
	}
	if after, ok := fileKey(job, path); ok && after == before {
		r.mu.Lock()
		if len(r.baselines) >= maxBaselines {
			clear(r.baselines)
		}
		r.baselines[before] = &jobBaseline{profile: b.profile, warnings: slices.Clip(b.warnings)}
		r.mu.Unlock()
	}
	return b, nil
}

// fileKey names a job file's hash and the bytes now at path; false when
// the file cannot be read (load says why).
func fileKey(job *spec.Job, path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(data)
	return job.Hash + "\x00" + path + "\x00" + string(sum[:]), true
}
