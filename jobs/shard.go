package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/ipc"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// Shard is shard Index (0-based) of Count of a sharded run.
type Shard struct{ Index, Count int }

// MaxShards bounds --shard and --shards: more is a typo, not a plan.
const MaxShards = 10000

// ParseShard reads "K/N", as Kubernetes' JOB_COMPLETION_INDEX and
// Airflow's map_index give K.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	index, kerr := strconv.Atoi(k)
	count, nerr := strconv.Atoi(n)
	if !ok || kerr != nil || nerr != nil || count < 1 || count > MaxShards || index < 0 || index >= count {
		return Shard{}, fmt.Errorf("%w: --shard %q: want K/N with 0 <= K < N <= %d, e.g. 0/4", ErrUsage, s, MaxShards)
	}
	return Shard{Index: index, Count: count}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Files a shard leaves in its folder besides its staged rows.
const (
	shardStateFile = "_shard.json"
	shardKeysFile  = "_shard.keys"
)

// shardState is what a shard leaves for the commit: its manifest (counts,
// files, model, snapshot), what its checks counted, its profiles, and the
// snapshot's schema the commit rebuilds the checks from.
type shardState struct {
	Manifest *report.Manifest      `json:"manifest"`
	Summary  validate.SummaryState `json:"summary"`
	Snapshot *profile.State        `json:"snapshot_profile"`
	Scores   *profile.State        `json:"scores_profile"`
	Schema   []byte                `json:"schema"` // Arrow IPC
	// Baseline is the sha256 of the baseline file the shard's profiles
	// were binned on; Forced, whether it ran with --force.
	Baseline string `json:"baseline_sha256,omitempty"`
	Forced   bool   `json:"forced,omitempty"`

	dir string
}

// checkShardable refuses what a shard cannot do alone.
func checkShardable(job *spec.Job) error {
	switch {
	case job.Source.SQL != nil && job.Source.SQL.ShardKey == "":
		return spec.ErrorAt("source.sql.shard_key", "--shard splits a query's rows by hashing a key column: name it here")
	case job.Challenger != nil:
		return spec.ErrorAt("challenger", "--shard cannot compare a challenger: its rank statistics need every row in one process")
	}
	return nil
}

// park ends a shard: its books are checked, its counts, keys and profiles
// written beside its staged files, and the folder moved where the commit
// finds it. Nothing is published and no gate is applied: the commit does
// both over every shard.
func (e *execution) park(t *table.Table, dir string, c *checks, p *route.Plan, schema *arrow.Schema, footerRows int64) error {
	sum, err := c.summary.State(filepath.Join(dir, shardKeysFile))
	if err != nil {
		return fmt.Errorf("keeping the shard's keys: %w", err)
	}
	rules := validate.Result{Rows: sum.Rows, Valid: sum.Valid, Rejected: sum.Rejected}
	if err := e.checkBooks(footerRows, true, rules); err != nil {
		return err
	}
	st := shardState{Summary: sum, Forced: e.req.Force}
	if st.Baseline, err = baselineSHA(e.req.Job); err != nil {
		return err
	}
	if st.Snapshot, err = c.snapshot.State(); err != nil {
		return err
	}
	if st.Scores, err = c.scores.State(); err != nil {
		return err
	}
	if st.Schema, err = schemaBytes(schema); err != nil {
		return err
	}
	e.recordPlan(p, false)
	e.m.Counts.Imputed, e.m.Counts.Clipped = sum.Imputed, sum.Clipped
	if e.m.Source.Kind == "sql" {
		e.m.Shard.Rows, e.m.Shard.Fingerprint = e.m.Counts.Read, e.m.Source.Fingerprint
	}
	m := *e.m
	m.Status = report.StatusStaged
	st.Manifest = &m
	data, err := json.Marshal(st)
	if err == nil {
		err = writeSynced(filepath.Join(dir, shardStateFile), data)
	}
	if err != nil {
		return fmt.Errorf("writing the shard's state: %w", err)
	}
	path, err := t.ParkShard(e.m.Version, e.date, e.req.Shard.Count, e.req.Shard.Index, shardStateFile)
	if err != nil {
		return err
	}
	e.staged = false
	e.m.Shard.Path, e.m.Output.Path = path, path
	e.m.Validation.Warnings = append(e.m.Validation.Warnings,
		fmt.Sprintf("shard %s: the rules' table checks, the quality gate and drift are settled by batchscore commit over every shard", e.req.Shard))
	e.log.Info("shard staged", "path", path, "rows", e.m.Counts.Written)
	return nil
}

// parkCurrent leaves the commit a note that this shard found the date
// already current with its run id: when every shard says so, the commit
// is a no-op too.
func (e *execution) parkCurrent(t *table.Table) {
	err := func() error {
		dir, err := t.Stage(e.m.Version)
		if err != nil {
			return err
		}
		m := *e.m
		m.Status = report.StatusAlreadyCurrent
		data, err := json.Marshal(shardState{Manifest: &m, Forced: e.req.Force})
		if err == nil {
			err = writeSynced(filepath.Join(dir, shardStateFile), data)
		}
		if err == nil {
			_, err = t.ParkShard(e.m.Version, e.date, e.req.Shard.Count, e.req.Shard.Index, shardStateFile)
		}
		if err != nil {
			t.Discard(e.m.Version)
		}
		return err
	}()
	if err != nil {
		e.log.Warn("could not leave the commit a note that this shard is already current", "err", err)
	}
}

// unstaged handles shards that found the date already current and staged
// nothing: if all did, with the current version's run id, the commit is a
// no-op (errAlreadyCurrent); otherwise they are named, to run with --force.
func (e *execution) unstaged(shards []*shardState) error {
	var current []string
	same := true
	for k, st := range shards {
		if st.Manifest.Status == report.StatusAlreadyCurrent {
			current = append(current, strconv.Itoa(k))
		}
		same = same && st.Manifest.RunID == shards[0].Manifest.RunID
	}
	if len(current) == 0 {
		return nil
	}
	e.m.RunID = shards[0].Manifest.RunID
	if len(current) == len(shards) && same && !e.force(shards) && e.alreadyCurrent() {
		return errAlreadyCurrent
	}
	return fmt.Errorf("%w: shard %s of %d found %s already current and staged nothing: run it with --force, then commit again",
		ErrShards, strings.Join(current, ", "), len(shards), e.date)
}

// readShards reads the state each of n shards left, in index order, and
// names every shard that left none.
func (e *execution) readShards(t *table.Table, n int) ([]*shardState, error) {
	var states []*shardState
	var missing []string
	for k := range n {
		dir, err := t.ShardDir(e.date, n, k)
		if err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(dir, shardStateFile))
		if os.IsNotExist(err) {
			missing = append(missing, strconv.Itoa(k))
			continue
		}
		st := &shardState{dir: dir}
		if err == nil {
			err = json.Unmarshal(data, st)
		}
		if err == nil && st.Manifest == nil {
			err = fmt.Errorf("no manifest")
		}
		if err != nil {
			return nil, fmt.Errorf("shard %d of %d: %s: %w", k, n, filepath.Join(dir, shardStateFile), err)
		}
		states = append(states, st)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: shard %s of %d for %s staged nothing (never ran, failed, or ran with another shard count): run it with --shard K/%d, then commit again",
			ErrShards, strings.Join(missing, ", "), n, e.date, n)
	}
	return states, nil
}

// force is --force on the commit or on every shard: shards forced to make
// a new version are not thrown away by a commit that forgot the flag.
func (e *execution) force(shards []*shardState) bool {
	all := len(shards) > 0
	for _, st := range shards {
		all = all && st.Forced
	}
	return e.req.Force || all
}

// baselineSHA is the sha256 of the job's baseline file, "" without one.
func baselineSHA(job *spec.Job) (string, error) {
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

// ErrShards marks shards that are missing or disagree: nothing is
// published; the shards named are to be run again.
var ErrShards = errors.New("shards not ready")

func schemaBytes(s *arrow.Schema) ([]byte, error) {
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(s))
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (st *shardState) schema() (*arrow.Schema, error) {
	r, err := ipc.NewReader(bytes.NewReader(st.Schema))
	if err != nil {
		return nil, fmt.Errorf("%s: the snapshot's schema: %w", st.dir, err)
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

// checkShardKey holds a query's shard key to types whose text form, which
// the database hashes, does not depend on session settings (time zones,
// float digits): integers, strings and dates.
func checkShardKey(schema *arrow.Schema, key string) error {
	idx := schema.FieldIndices(key)
	if len(idx) == 0 {
		return spec.ErrorAt("source.sql.shard_key", "the query has no column %q", key)
	}
	switch t := schema.Field(idx[0]).Type; t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.STRING, arrow.LARGE_STRING, arrow.DATE32, arrow.DATE64:
		return nil
	default:
		return spec.ErrorAt("source.sql.shard_key", "column %q is %s: a shard key must be an integer, a string or a date", key, t)
	}
}
