package route

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/scoring"
)

// sourceArmFallback is score_source for a row of an arm whose model could
// not score it: it has the default arm's (the champion's) score.
const sourceArmFallback = "arm_fallback"

// armColumn carries each row's arm from the workers to the writing stage
// (and is never written): the arm's index when its model's score is the
// row's, -(index+1) when the row fell back to the default arm.
const armColumn = "_arm"

// ArmOf is the arm a key with hash h belongs to: u = (h >> 11) / 2^53
// (as InCanary), and the first arm whose cumulative share, summed in the
// order listed, is above u; the last arm takes what rounding leaves.
func ArmOf(h uint64, shares []float64) int {
	u := unitOf(h)
	cum := 0.0
	for i, s := range shares[:len(shares)-1] {
		cum += s
		if u < cum {
			return i
		}
	}
	return len(shares) - 1
}

// armSet is an A/B test: each worker scores its chunk with every arm's
// model and keeps, per row, the score of the row's arm (see score).
type armSet struct {
	salt   string
	keys   []string
	shares []float64
	def    int // the champion's arm
	limit  float64
	mem    memory.Allocator
	arms   []*arm
	rows   atomic.Int64
}

// arm is one arm's model (nil for the default arm: the plan's champion)
// and its counts. Its first failure in snapshot order is kept, as a
// challenger's is.
type arm struct {
	name   string
	model  *loaded
	scorer *scoring.Scorer
	rep    report.Model

	mu     sync.Mutex
	err    error
	errSeq int64

	assigned, published, fellBack atomic.Int64
}

func (a *arm) fail(seq int64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil || seq < a.errSeq {
		a.err, a.errSeq = err, seq
	}
}

func (a *arm) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// openArms loads every arm but the default one, whose model is the
// champion. An arm that does not fit the job file (its signature, its
// registry entry, a label of another type) fails the run, exit 2; one
// that fails to load otherwise is recorded and its rows fall back to the
// default arm, as far as the limit allows (Plan.RolloutGate).
func (o *opener) openArms(champion *loaded) (*armSet, error) {
	job := o.Job
	s := &armSet{salt: job.Arms.Salt, keys: job.Output.Keys, def: job.Arms.DefaultArm(), mem: o.Mem, limit: rolloutLimit(job)}
	for i, m := range job.Arms.Models {
		s.shares = append(s.shares, *m.Share)
		a := &arm{name: m.Arm}
		s.arms = append(s.arms, a)
		if i == s.def {
			continue
		}
		key := fmt.Sprintf("arms.models.[%d]", i+1)
		lm, err := o.loadModel(m.Model, key, &a.rep)
		if err != nil {
			if !fallsBack(err) {
				s.close()
				return nil, err
			}
			a.rep.Version = cmp.Or(a.rep.Version, m.Version, "unavailable")
			a.fail(beforeChunks, fmt.Errorf("arm %s: %w", m.Arm, err))
			o.Log.Warn("an arm's model failed to load: its rows fall back to the default arm", "arm", m.Arm, "err", err)
			continue
		}
		a.model = lm
		if champion != nil && !arrow.TypeEqual(champion.binding.LabelType(), lm.binding.LabelType()) {
			s.close()
			return nil, job.KeyError(key+".label", "the arm's label is %v, the default arm's %v: the label column has one type",
				lm.binding.LabelType(), champion.binding.LabelType())
		}
		a.scorer = &scoring.Scorer{Session: lm.session, Binding: lm.feed, Named: lm.binding, Mem: o.Mem}
	}
	return s, nil
}

func (s *armSet) close() {
	for _, a := range s.arms {
		a.model.close()
	}
}

// assign gives each row of rec its arm; a row with a null key gets the
// default arm.
func (s *armSet) assign(rec arrow.Record) ([]int32, error) {
	cols, err := keyColumns(rec, s.keys)
	if err != nil {
		return nil, fmt.Errorf("arms: %w", err)
	}
	out := make([]int32, rec.NumRows())
	for i := range out {
		out[i] = int32(s.def)
		if h, ok := KeyHash(s.salt, cols, i); ok {
			out[i] = int32(ArmOf(h, s.shares))
		}
	}
	return out, nil
}

// score gives each row of a chunk the champion already scored its own
// arm's score and label. Every arm with rows in the chunk scores the
// whole chunk, as that model alone would, so its scores are the same bits
// whatever the other arms; a row whose arm failed keeps the champion's
// score (score_source arm_fallback). transient: a row fell back, so the
// chunk is not saved for resuming (a rerun may score it).
func (s *armSet) score(ctx context.Context, sc *scoring.Scored, buf *scoring.Buffers) (transient bool, err error) {
	assigned, err := s.assign(sc.Record)
	if err != nil {
		return false, err
	}
	n := len(assigned)
	has := make([]bool, len(s.arms))
	for _, a := range assigned {
		has[a] = true
	}
	results := make([]*scoring.Scored, len(s.arms))
	defer func() {
		for _, r := range results {
			if r != nil {
				r.Record = nil // the chunk's, not the arm's
				r.Release()
			}
		}
	}()
	for i, a := range s.arms {
		if i == s.def || !has[i] || a.scorer == nil {
			continue
		}
		r, err := a.scorer.ScoreChunk(ctx, sc.Chunk, buf)
		if err != nil {
			a.fail(sc.Seq, fmt.Errorf("arm %s: %w", a.name, err))
			continue
		}
		results[i] = &r
	}
	enc := make([]int32, n)
	for i, a := range assigned {
		enc[i] = a
		if int(a) != s.def && results[a] == nil {
			enc[i] = -(a + 1)
			transient = true
		}
	}
	if err := s.merge(sc, enc, results); err != nil {
		return transient, err
	}
	return transient, s.mark(sc, enc)
}

// merge puts each row's arm's score, label and score_source on sc.
func (s *armSet) merge(sc *scoring.Scored, enc []int32, results []*scoring.Scored) error {
	n := len(enc)
	if sc.Source == nil {
		sc.Source = constantStrings(s.mem, sourceModel, n)
	}
	champ, src := sc.Score.Float64Values(), sc.Source
	scores := array.NewFloat64Builder(s.mem)
	defer scores.Release()
	sources := array.NewStringBuilder(s.mem)
	defer sources.Release()
	scores.Reserve(n)
	labels := make([]arrow.Array, len(results))
	pick := make([]int, n)
	for i, e := range enc {
		pick[i] = s.def
		switch {
		case e >= 0 && int(e) != s.def:
			r := results[e]
			scores.UnsafeAppend(r.Score.Value(i))
			sources.Append(sourceModel)
			pick[i] = int(e)
		case e < 0 && src.Value(i) == sourceModel:
			scores.UnsafeAppend(champ[i])
			sources.Append(sourceArmFallback)
		default:
			scores.UnsafeAppend(champ[i])
			sources.Append(src.Value(i))
		}
	}
	for i, r := range results {
		if r != nil {
			labels[i] = r.Label
		}
	}
	labels[s.def] = sc.Label
	// The champion's label, or an arm's where the champion failed on the
	// chunk: the types agree (openArms).
	var typ arrow.DataType
	for _, l := range labels {
		if l != nil {
			typ = l.DataType()
		}
	}
	if typ != nil {
		label, err := pickLabels(s.mem, typ, labels, pick)
		if err != nil {
			return err
		}
		if sc.Label != nil {
			sc.Label.Release()
		}
		sc.Label = label
	}
	sc.Score.Release()
	sc.Score = scores.NewFloat64Array()
	sc.Source.Release()
	sc.Source = sources.NewStringArray()
	return nil
}

// pickLabels takes row i's label from from[pick[i]] (null where that is nil).
func pickLabels(mem memory.Allocator, typ arrow.DataType, from []arrow.Array, pick []int) (arrow.Array, error) {
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	for i, k := range pick {
		a := from[k]
		if a == nil || a.IsNull(i) {
			b.AppendNull()
			continue
		}
		if err := b.AppendValueFromString(a.ValueStr(i)); err != nil {
			return nil, err
		}
	}
	return b.NewArray(), nil
}

// mark adds the arm column to the chunk's record, for the writing stage.
func (s *armSet) mark(sc *scoring.Scored, enc []int32) error {
	b := array.NewInt32Builder(s.mem)
	defer b.Release()
	b.AppendValues(enc, nil)
	col := b.NewArray()
	defer col.Release()
	rec := sc.Record
	fields := append(append([]arrow.Field(nil), rec.Schema().Fields()...), arrow.Field{Name: armColumn, Type: arrow.PrimitiveTypes.Int32})
	cols := append(append([]arrow.Array(nil), rec.Columns()...), col)
	sc.Record = array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	rec.Release()
	return nil
}

// reused marks a chunk saved by an earlier execution: no row of a saved
// chunk fell back.
func (s *armSet) reused(sc *scoring.Scored) error {
	assigned, err := s.assign(sc.Record)
	if err != nil {
		return err
	}
	return s.mark(sc, assigned)
}

// publish counts a chunk's rows per arm and gives the index of the arm
// whose score each row publishes.
func (s *armSet) publish(sc scoring.Scored) ([]int32, error) {
	idx := sc.Record.Schema().FieldIndices(armColumn)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%s: rows from %d say nothing of their arm", sc.File, sc.Offset)
	}
	enc := sc.Record.Column(idx[0]).(*array.Int32).Int32Values()
	s.rows.Add(int64(len(enc)))
	out := make([]int32, len(enc))
	assigned, published, fell := make([]int64, len(s.arms)), make([]int64, len(s.arms)), make([]int64, len(s.arms))
	for i, e := range enc {
		a, p := e, e
		if e < 0 {
			a, p = -e-1, int32(s.def)
			fell[a]++
		}
		assigned[a]++
		published[p]++
		out[i] = p
	}
	for i, a := range s.arms {
		a.assigned.Add(assigned[i])
		a.published.Add(published[i])
		a.fellBack.Add(fell[i])
	}
	return out, nil
}

// gate fails the run when more of an arm's rows fell back than the limit.
func (s *armSet) gate() error {
	for _, a := range s.arms {
		assigned, fell := a.assigned.Load(), a.fellBack.Load()
		if fell == 0 || float64(fell)/float64(assigned) <= s.limit {
			continue
		}
		return fmt.Errorf("%w: %d of the %d rows of arm %s fell back to the default arm %s (%v), above max_fallback_fraction %g",
			ErrFallback, fell, assigned, a.name, s.arms[s.def].name, a.failed(), s.limit)
	}
	return nil
}

// summary is the manifest's arms section; champion is the default arm's model.
func (s *armSet) summary(champion report.Model) *report.Arms {
	out := &report.Arms{Salt: s.salt, Default: s.arms[s.def].name, Limit: s.limit}
	for i, a := range s.arms {
		r := report.Arm{Name: a.name, Share: s.shares[i], Model: a.rep, Status: report.ArmActive,
			Assigned: a.assigned.Load(), Published: a.published.Load(), FellBack: a.fellBack.Load()}
		if i == s.def {
			r.Model = champion
		} else if a.model != nil {
			r.Model.Engine = a.model.engine()
		}
		if err := a.failed(); err != nil {
			r.Status, r.Error = report.ArmFailed, err.Error()
		}
		out.Arms = append(out.Arms, r)
	}
	return out
}

// versions are the arms' names and model versions, in the order listed;
// the default arm's version is championVersion.
func (s *armSet) versions(championVersion string) (names, versions []string) {
	for i, a := range s.arms {
		names = append(names, a.name)
		v := a.rep.Version
		if i == s.def {
			v = championVersion
		}
		versions = append(versions, v)
	}
	return names, versions
}

func constantStrings(mem memory.Allocator, v string, n int) *array.String {
	b := array.NewStringBuilder(mem)
	defer b.Release()
	for range n {
		b.Append(v)
	}
	return b.NewStringArray()
}
