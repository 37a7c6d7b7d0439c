package jobs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/resume"
	"github.com/batchscore/batchscore/scoring"
)

// plan is how a run scores: the champion, and around it the fallback,
// the challenger and the review routing the job file asks for.
type plan struct {
	champion   *loaded // nil when it failed to load and the fallback scores
	scorer     *scoring.Scorer
	fallback   *fallback
	challenger *challenger
	review     *reviewer
	resume     *resume.Checkpoints // nil: chunks are neither saved nor reused
	// keep is what the writing stage reads of a scored chunk's record: the
	// keys and the checks' marks. nil keeps every column (the review table
	// reads features).
	keep []string
}

// openPlan loads the champion and whatever the job adds to it. Only the
// champion's failure can fail the run, and only without a fallback.
func (e *execution) openPlan() (*plan, error) {
	job := e.req.Job
	p := &plan{}
	champion, err := e.loadModel(job.Model, "model", &e.m.Model)
	switch {
	case err == nil:
		p.champion = champion
	case job.Fallback == nil || !fallsBack(err):
		return nil, err
	default:
		e.m.Model.Error = err.Error()
		// Rows still say which model they were meant for.
		e.m.Model.Version = cmp.Or(e.m.Model.Version, job.Model.Version, "unavailable")
		e.log.Warn("model failed to load: the fallback scores every row", "fallback", job.Fallback.Kind, "err", err)
	}
	if job.Fallback != nil {
		if p.fallback, err = e.openFallback(p.champion == nil, err); err != nil {
			p.close()
			return nil, err
		}
	}
	if p.champion != nil {
		p.scorer = &scoring.Scorer{
			Session: champion.session, Binding: champion.feed, Named: champion.binding, Mem: e.mem(),
			AllowNaN:   p.fallback != nil,
			Confidence: job.Review != nil && job.Review.MinConfidence > 0,
		}
	}
	if job.Challenger != nil {
		p.challenger = e.openChallenger(p.champion != nil)
	}
	if job.Review != nil {
		p.review = &reviewer{spec: job.Review, keys: job.Output.Keys, mem: e.mem(), counts: map[string]int64{}}
	} else {
		p.keep = append(slices.Clone(job.Output.Keys), output.FlagsColumn)
	}
	return p, nil
}

func (p *plan) close() {
	if p == nil {
		return
	}
	p.champion.close()
	if p.fallback != nil {
		p.fallback.release()
	}
	if p.challenger != nil {
		p.challenger.model.close()
	}
}

// bindings are the models that read the snapshot.
func (p *plan) bindings() []*scoring.Binding {
	var out []*scoring.Binding
	if p.champion != nil {
		out = append(out, p.champion.binding)
	}
	if p.fallback != nil && p.fallback.model != nil {
		out = append(out, p.fallback.model.binding)
	}
	if c := p.challenger; c != nil && c.model != nil && c.failed() == nil {
		out = append(out, c.model.binding)
	}
	return out
}

// columns are the snapshot columns the models read.
func (p *plan) columns() []string {
	var cols []string
	for _, b := range p.bindings() {
		cols = append(cols, b.Columns()...)
	}
	if p.review != nil {
		for _, r := range p.review.ranges {
			cols = append(cols, r.column)
		}
	}
	return cols
}

// checkSchema holds the snapshot to every model's inputs. A challenger
// that cannot take it is dropped, not the run.
func (p *plan) checkSchema(schema *arrow.Schema, where string) error {
	if p.champion != nil {
		if err := p.champion.binding.CheckSchema(schema, where); err != nil {
			return err
		}
	}
	if p.fallback != nil && p.fallback.model != nil {
		if err := p.fallback.model.binding.CheckSchema(schema, where); err != nil {
			return fmt.Errorf("fallback.model: %w", err)
		}
	}
	if c := p.challenger; c != nil && c.model != nil {
		if err := c.model.binding.CheckSchema(schema, where); err != nil {
			c.fail(beforeChunks, fmt.Errorf("challenger: %w", err))
			c.warnFailed()
		}
	}
	return nil
}

// labelType is the label column's type, nil without one. A champion that
// failed to load gives no label.
func (p *plan) labelType() arrow.DataType {
	if p.champion == nil {
		return nil
	}
	return p.champion.binding.LabelType()
}

// score is the workers' function: the champion, then the fallback for
// what it could not score, then the challenger on the same record.
func (p *plan) score(ctx context.Context, c scoring.Chunk, buf *scoring.Buffers) (scoring.Scored, error) {
	sc, err := p.scoreChunk(ctx, c, buf)
	if err == nil && p.keep != nil {
		sc.Record = keepColumns(sc.Record, p.keep)
	}
	return sc, err
}

func (p *plan) scoreChunk(ctx context.Context, c scoring.Chunk, buf *scoring.Buffers) (sc scoring.Scored, err error) {
	if p.resume != nil {
		if sc, ok := p.resume.Load(c); ok {
			if p.fallback != nil {
				p.fallback.countReused(sc)
			}
			return sc, nil
		}
	}
	sc = scoring.Scored{Chunk: c}
	transient := false // a failure a rerun may not repeat: not saved for resuming
	if p.scorer != nil {
		sc, err = p.scorer.ScoreChunk(ctx, c, buf)
		if err != nil {
			if p.fallback == nil || !errors.Is(err, scoring.ErrInference) {
				return sc, err
			}
			p.fallback.note(c.Seq, triggerInference, err)
			sc = scoring.Scored{Chunk: c}
			transient = true
		}
	} else {
		transient = true // the champion did not load
	}
	if p.fallback != nil {
		if err := p.fallback.fill(ctx, &sc, buf); err != nil {
			sc.Record = nil // the pool releases the chunk's record
			sc.Release()
			return scoring.Scored{}, err
		}
	}
	if p.challenger != nil {
		p.challenger.score(ctx, &sc, buf)
		transient = transient || (p.challenger.scorer != nil && sc.Shadow == nil)
	}
	if p.resume != nil && !transient {
		p.resume.Save(sc)
	}
	return sc, nil
}

// keepColumns narrows a scored record to the named columns, and releases
// the rest: a chunk waiting for the writer then holds its keys, not every
// feature (measured: the peak heap of a long run is a full pipeline).
// Names it lacks are left out; the writer reports them.
func keepColumns(rec arrow.Record, names []string) arrow.Record {
	if rec == nil {
		return rec
	}
	fields := make([]arrow.Field, 0, len(names))
	cols := make([]arrow.Array, 0, len(names))
	for _, n := range names {
		if idx := rec.Schema().FieldIndices(n); len(idx) > 0 {
			fields = append(fields, rec.Schema().Field(idx[0]))
			cols = append(cols, rec.Column(idx[0]))
		}
	}
	if len(cols) == int(rec.NumCols()) {
		return rec
	}
	out := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	rec.Release()
	return out
}

// record puts what the plan saw into the manifest: while staging (final
// false: the side tables' staged files listed) and at the end (listed
// only if published).
func (p *plan) record(m *report.Manifest, final bool) {
	if p.champion != nil {
		m.Model.Engine = p.champion.engine() // the first chunk can change it
	}
	if p.scorer != nil {
		m.NonFiniteInputs = p.scorer.NonFinite()
	}
	if p.fallback != nil {
		m.Fallback = p.fallback.summary(m.Counts.Fallback, m.Counts.Valid)
	}
	if p.challenger != nil {
		m.Challenger = p.challenger.summary()
		if m.Output.Published && len(m.Challenger.Files) > 0 {
			m.Challenger.Path = filepath.Join(m.Output.Path, output.ShadowDir)
		}
	}
	if p.review != nil {
		m.Review = p.review.summary()
		if m.Output.Published && len(m.Review.Files) > 0 {
			m.Review.Path = filepath.Join(m.Output.Path, output.ReviewDir)
		}
	}
	if final && !m.Output.Published {
		// Staged, never published, now gone.
		if m.Challenger != nil {
			m.Challenger.Files = nil
		}
		if m.Review != nil {
			m.Review.Files = nil
		}
	}
}

// modelHashes identify every model that shapes a version's files, for
// its run id: the champion's, then the challenger's and fallback's, and
// the baseline's bytes (imputation and review ranges come from it). A
// model from a registry adds its version's name, which rows carry in
// model_version: promoting a version whose file is byte-identical to the
// current one still makes a new version. Models named by path add
// nothing, so their run ids stay what they were.
func (p *plan) modelHashes(m *report.Manifest, baseline string) string {
	h := m.Model.SHA256 + registryVersion(&m.Model)
	if baseline != "" {
		if data, err := os.ReadFile(baseline); err == nil {
			sum := sha256.Sum256(data)
			h += "+baseline:" + hex.EncodeToString(sum[:])
		}
	}
	if p.challenger != nil && p.challenger.model != nil {
		h += "+" + p.challenger.model.report.SHA256 + registryVersion(&p.challenger.model.report)
	}
	if p.fallback != nil && p.fallback.model != nil {
		h += "+" + p.fallback.model.report.SHA256 + registryVersion(&p.fallback.model.report)
	}
	return h
}

// registryVersion is "@<name>:<version>" for a model from a registry,
// "" for one named by path.
func registryVersion(m *report.Model) string {
	if m.Registry == nil {
		return ""
	}
	return "@" + m.Registry.Name + ":" + m.Registry.Version
}

// openSideTables prepares the shadow and review tables in the staging
// folder dir; they are published with the scores.
func (e *execution) openSideTables(p *plan, schema *arrow.Schema, dir string) error {
	job := e.req.Job
	score := func(name string) arrow.Field { return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64} }
	if c := p.challenger; c != nil && c.scorer != nil && c.failed() == nil {
		t, err := output.NewSideTable(filepath.Join(dir, output.ShadowDir), schema, job, []arrow.Field{score("champion_score"), score("challenger_score")},
			e.date, e.m.RunID, c.rep.Model.Version, e.mem())
		if err != nil {
			c.fail(beforeChunks, err)
		}
		c.table = t
	}
	if r := p.review; r != nil {
		t, err := output.NewSideTable(filepath.Join(dir, output.ReviewDir), schema, job, []arrow.Field{score("score"), {Name: "reasons", Type: arrow.BinaryTypes.String}},
			e.date, e.m.RunID, e.m.Model.Version, e.mem())
		if err != nil {
			return err
		}
		r.table = t
	}
	return nil
}

// writeSide writes a chunk's rows to the side tables, in input order. A
// challenger's trouble stays its own; the review table's fails the run.
func (p *plan) writeSide(s scoring.Scored) error {
	if p.challenger != nil {
		p.challenger.write(s)
	}
	if p.review != nil && p.review.table != nil {
		return p.review.route(s)
	}
	return nil
}

// closeSideTables finishes the side tables' files. A challenger that
// failed on the way has its shadow files removed: half a comparison is
// not one.
func (p *plan) closeSideTables() error {
	if c := p.challenger; c != nil && c.table != nil {
		if c.failed() != nil {
			c.table.Abort()
		} else if files, err := c.table.Close(); err != nil {
			c.fail(afterChunks, fmt.Errorf("challenger: closing the shadow table: %w", err))
			c.table.Abort()
		} else {
			c.rep.Files = files
			c.finish()
		}
		if c.failed() != nil {
			os.RemoveAll(c.table.Dir)
		}
	}
	if c := p.challenger; c != nil {
		c.warnFailed()
	}
	if r := p.review; r != nil && r.table != nil {
		files, err := r.table.Close()
		if err != nil {
			return fmt.Errorf("closing the review table: %w", err)
		}
		r.files = files
	}
	return nil
}

func (p *plan) abortSideTables() {
	if c := p.challenger; c != nil && c.table != nil {
		c.table.Abort()
	}
	if r := p.review; r != nil && r.table != nil {
		r.table.Abort()
	}
}

// busy is the time the workers spent in the models, summed.
func (p *plan) busy() time.Duration {
	var d int64
	for _, s := range []*scoring.Scorer{p.scorer, p.fallbackScorer(), p.challengerScorer()} {
		if s != nil {
			d += s.Busy.Load()
		}
	}
	return time.Duration(d)
}

func (p *plan) fallbackScorer() *scoring.Scorer {
	if p.fallback == nil {
		return nil
	}
	return p.fallback.scorer
}

func (p *plan) challengerScorer() *scoring.Scorer {
	if p.challenger == nil {
		return nil
	}
	return p.challenger.scorer
}
