package shard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// Files a shard leaves in its folder besides its staged rows.
const (
	StateFile = "_shard.json"
	KeysFile  = "_shard.keys"
)

// State is what a shard leaves for the commit: its manifest (counts,
// files, model, snapshot), what its checks counted, its profiles, and the
// snapshot's schema the commit rebuilds the checks from.
type State struct {
	Manifest *report.Manifest      `json:"manifest"`
	Summary  validate.SummaryState `json:"summary"`
	Snapshot *profile.State        `json:"snapshot_profile"`
	Scores   *profile.State        `json:"scores_profile"`
	Schema   []byte                `json:"schema"` // Arrow IPC
	// Explanations is the schema of the shard's _explanations table
	// (Arrow IPC), when it explains its rows: the commit's SQL sink
	// creates <table>_explanations from it, rows or none.
	Explanations []byte `json:"explanations_schema,omitempty"`
	// Baseline is the sha256 of the baseline file the shard's profiles
	// were binned on; Forced, whether it ran with --force.
	Baseline string `json:"baseline_sha256,omitempty"`
	Forced   bool   `json:"forced,omitempty"`

	dir string
}

// Dir is the parked shard's folder.
func (st *State) Dir() string { return st.dir }

// Write writes the state into dir, the shard's staging folder, synced:
// the folder is synced when it is parked.
func (st *State) Write(dir string) error {
	data, err := json.Marshal(st)
	if err == nil {
		err = writeSynced(filepath.Join(dir, StateFile), data)
	}
	return err
}

// Read reads the state each of n shards of date left, in index order,
// and names every shard that left none.
func Read(t *table.Table, date string, n int) ([]*State, error) {
	var states []*State
	var missing []string
	for k := range n {
		dir, err := t.ShardDir(date, n, k)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(dir, StateFile))
		if os.IsNotExist(err) {
			missing = append(missing, strconv.Itoa(k))
			continue
		}
		st := &State{dir: dir}
		if err == nil {
			err = json.Unmarshal(data, st)
		}
		if err == nil && st.Manifest == nil {
			err = fmt.Errorf("no manifest")
		}
		if err != nil {
			return nil, fmt.Errorf("shard %d of %d: %s: %w", k, n, filepath.Join(dir, StateFile), err)
		}
		states = append(states, st)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: shard %s of %d for %s staged nothing (never ran, failed, or ran with another shard count): run it with --shard K/%d, then commit again",
			ErrShards, strings.Join(missing, ", "), n, date, n)
	}
	return states, nil
}

// OnlyCurrent says whether the shards of n parked since the last commit,
// if any, all found the date already current with runID: a shard rerun
// after the commit stages nothing and must not make the others look
// missing. A staged, unreadable or other shard means the commit has work.
func OnlyCurrent(t *table.Table, date string, n int, runID string) bool {
	for k := range n {
		dir, err := t.ShardDir(date, n, k)
		if err != nil {
			return false
		}
		data, err := os.ReadFile(filepath.Join(dir, StateFile))
		if os.IsNotExist(err) {
			if _, serr := os.Lstat(dir); os.IsNotExist(serr) {
				continue // not rerun since the commit
			}
		}
		var st State
		if err != nil || json.Unmarshal(data, &st) != nil || st.Manifest == nil ||
			st.Manifest.Status != report.StatusAlreadyCurrent || st.Manifest.RunID != runID {
			return false
		}
	}
	return true
}

// AllForced says whether every shard ran with --force.
func AllForced(shards []*State) bool {
	all := len(shards) > 0
	for _, st := range shards {
		all = all && st.Forced
	}
	return all
}

// BaselineSHA is the sha256 of the job's baseline file, "" without one.
func BaselineSHA(job *spec.Job) (string, error) {
	if job.Validation.Baseline == "" {
		return "", nil
	}
	data, err := os.ReadFile(job.Validation.Baseline)
	if err != nil {
		return "", spec.ErrorAt("validation.baseline", "%v", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// SchemaBytes is s as Arrow IPC, for State.Schema.
func SchemaBytes(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SnapshotSchema is the snapshot's schema the shard saw.
func (st *State) SnapshotSchema() (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(st.Schema))
	if err != nil {
		return nil, fmt.Errorf("%s: the snapshot's schema: %w", st.dir, err)
	}
	defer r.Release()
	return r.Schema(), nil
}

// ExplanationsSchema is the schema of the shard's _explanations table,
// nil when it explained nothing.
func (st *State) ExplanationsSchema() (*arrow.Schema, error) {
	if len(st.Explanations) == 0 {
		return nil, nil
	}
	r, err := ipc.NewReader(bytes.NewReader(st.Explanations))
	if err != nil {
		return nil, fmt.Errorf("%s: the explanations' schema: %w", st.dir, err)
	}
	defer r.Release()
	return r.Schema(), nil
}

// writeSynced writes a file and syncs it: the folder is synced when it
// is parked.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, table.FileMode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
