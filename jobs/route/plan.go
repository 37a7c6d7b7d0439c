// Package route decides which model scores each row: it loads the
// champion (from a path or a model registry), and around it the fallback
// for the rows the champion cannot score, the challenger scored in its
// shadow, and the review routing of uncertain rows. Open returns the Plan
// the workers score with; Report returns the plan's sections of the
// manifest (model engine, fallback, challenger, review).
//
// Contract: only the champion's failure to load fails Open, and only when
// the job has no fallback or the failure is one no fallback may paper over
// (a registry hash mismatch, a model that does not fit the job file). A
// challenger's failure never fails the run: it is recorded in its report.
// A fallback that cannot score a row fails the chunk with ErrFallback, and
// Gate fails a run with more fallback rows than the job allows. The caller
// closes the Plan (Close) once the workers are done.
package route

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// Plan is how a run scores: the champion, and around it the fallback,
// the challenger and the review routing the job file asks for.
//
// Score is called by many workers at once; everything else by the
// run's goroutine. Close releases the models' sessions.
type Plan struct {
	champion   *loaded // nil when it failed to load and the fallback scores
	scorer     *scoring.Scorer
	fallback   *fallback
	challenger *challenger
	canary     *canary // nil: the champion's scores are published
	arms       *armSet // an A/B test: each row publishes its arm's score
	review     *reviewer
	saved      Checkpoints // nil: chunks are neither saved nor reused
	// keep is what the writing stage reads of a scored chunk's record: the
	// keys and the checks' marks. nil keeps every column (the review table
	// reads features).
	keep []string
	log  *slog.Logger
	mem  memory.Allocator
}

// Checkpoints keeps scored chunks across executions of the same run id
// (package resume). Load and Save are called by many workers at once;
// their troubles are theirs, never the run's.
type Checkpoints interface {
	// Load returns the saved scores of chunk c, or false.
	Load(c scoring.Chunk) (scoring.Scored, bool)
	// Save keeps a chunk's scores.
	Save(s scoring.Scored)
}

// Config is what opening a plan needs.
type Config struct {
	Job  *spec.Job
	Date time.Time // the logical date: a registry alias as of its end
	// ORTLib is the ONNX Runtime library; ORTLibErr, when set, says why
	// none was found and fails every model load.
	ORTLib    string
	ORTLibErr error
	// RegistryModel is RegistryCurrent (default) or RegistryAsOfDate.
	RegistryModel string
	Mem           memory.Allocator
	Log           *slog.Logger
	// Table and Previous serve a carry_forward fallback: Previous returns
	// the newest published, successful manifest of an earlier date (nil:
	// none), whose files are read through Table.
	Table    *table.Table
	Previous func() *report.Manifest
	// Keep names the columns the writer reads of a scored record (keys
	// and the checks' marks); the rest is released once a chunk is scored.
	Keep []string
	// Sessions, when set, keeps opened models for later runs of the
	// process (see onnx.Cache); nil opens every model afresh.
	Sessions *onnx.Cache
}

// Models is what loading found out, for the manifest: the champion's
// section, filled as far as loading got even when it failed, and the
// ONNX Runtime version once a model initialised it.
type Models struct {
	Champion   report.Model
	ORTVersion string
}

// opener loads a plan's models.
type opener struct {
	Config
	models *Models
}

// Open loads the champion and whatever the job adds to it. Only the
// champion's failure can fail the run, and only without a fallback.
func Open(cfg Config) (*Plan, Models, error) {
	job := cfg.Job
	models := Models{Champion: report.Model{Path: job.Model.Path}}
	o := &opener{Config: cfg, models: &models}
	p := &Plan{log: cfg.Log, mem: cfg.Mem}
	rep := &models.Champion
	champion, err := o.loadModel(job.Model, job.ModelKey(), rep)
	switch {
	case err == nil:
		p.champion = champion
	case job.Fallback == nil || !fallsBack(err):
		return nil, models, err
	default:
		rep.Error = err.Error()
		// Rows still say which model they were meant for.
		rep.Version = cmp.Or(rep.Version, job.Model.Version, "unavailable")
		o.Log.Warn("model failed to load: the fallback scores every row", "fallback", job.Fallback.Kind, "err", err)
	}
	if job.Fallback != nil {
		if p.fallback, err = o.openFallback(p.champion == nil, err); err != nil {
			p.Close()
			return nil, models, err
		}
	}
	if p.champion != nil {
		p.scorer = &scoring.Scorer{
			Session: champion.session, Binding: champion.feed, Named: champion.binding, Mem: cfg.Mem,
			AllowNaN:   p.fallback != nil,
			Confidence: job.Review != nil && job.Review.MinConfidence > 0,
		}
	}
	if job.Challenger != nil {
		p.challenger = o.openChallenger(p.champion != nil)
		if job.Challenger.Rollout != nil {
			p.canary = newCanary(job, cfg.Mem)
			p.challenger.canary = true
			if err := p.challenger.failed(); err != nil {
				p.canary.off = err.Error()
			}
		}
	}
	if job.Arms != nil {
		if p.arms, err = o.openArms(p.champion); err != nil {
			p.Close()
			return nil, models, err
		}
	}
	if job.Review != nil {
		p.review = &reviewer{spec: job.Review, keys: job.Output.Keys, mem: cfg.Mem, counts: map[string]int64{}}
	} else {
		p.keep = cfg.Keep
		if p.arms != nil {
			p.keep = append(slices.Clone(cfg.Keep), armColumn)
		}
	}
	return p, models, nil
}

// SaveTo makes the plan reuse the chunks c saved and save those it scores.
func (p *Plan) SaveTo(c Checkpoints) { p.saved = c }

// HasFallback says whether rows may be scored by a fallback (and carry a
// score_source).
func (p *Plan) HasFallback() bool { return p.fallback != nil || p.canary != nil || p.arms != nil }

// Arms are the values of the result rows' arm column and the model
// version of each, in the order of the indexes Publish returns; nil
// without a canary or arms. championVersion is the champion's.
func (p *Plan) Arms(championVersion string) (names, versions []string) {
	switch {
	case p.arms != nil:
		return p.arms.versions(championVersion)
	case p.canary == nil:
		return nil, nil
	}
	v := cmp.Or(p.challenger.rep.Model.Version, "challenger")
	if m := p.challenger.model; m != nil {
		v = cmp.Or(m.report.Version, v)
	}
	return []string{ArmChampion, ArmChallenger}, []string{championVersion, v}
}

// UseBaseline gives the review's out_of_range routing the training
// ranges of the model inputs in the baseline.
func (p *Plan) UseBaseline(baseline *profile.Profile, modelColumns []string) {
	if p.review == nil || !p.review.spec.OutOfRange {
		return
	}
	p.review.ranges = trainingRanges(baseline, modelColumns)
	if len(p.review.ranges) == 0 {
		p.log.Warn("review.out_of_range: the baseline has no range for any model input")
	}
}

// Close releases the models.
func (p *Plan) Close() {
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
	if p.arms != nil {
		p.arms.close()
	}
}

// bindings are the models that read the snapshot.
func (p *Plan) bindings() []*scoring.Binding {
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
	if p.arms != nil {
		for _, a := range p.arms.arms {
			if a.model != nil {
				out = append(out, a.model.binding)
			}
		}
	}
	return out
}

// Columns are the snapshot columns the models read.
func (p *Plan) Columns() []string {
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

// CheckSchema holds the snapshot to every model's inputs. A challenger
// that cannot take it is dropped, not the run.
func (p *Plan) CheckSchema(schema *arrow.Schema, where string) error {
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
			if p.canary != nil && p.canary.off == "" {
				p.canary.off = c.failed().Error()
			}
		}
	}
	if p.arms != nil {
		for i, a := range p.arms.arms {
			if a.model == nil {
				continue
			}
			if err := a.model.binding.CheckSchema(schema, where); err != nil {
				return fmt.Errorf("arms.models.[%d] (arm %s): %w", i+1, a.name, err)
			}
		}
	}
	if keys := p.hashedKeys(); keys != nil {
		for _, k := range keys {
			idx := schema.FieldIndices(k)
			if len(idx) > 0 && !checkKeyType(schema.Field(idx[0]).Type) {
				return fmt.Errorf("%w: %s: %s hashes the keys: key column %q is %s, not a string or an integer",
					parquetio.ErrSchema, where, p.rolloutKey(), k, schema.Field(idx[0]).Type)
			}
		}
	}
	return nil
}

// LabelType is the label column's type, nil without one. A champion that
// failed to load gives no label.
func (p *Plan) LabelType() arrow.DataType {
	if p.champion == nil {
		return nil
	}
	return p.champion.binding.LabelType()
}

// Score is the workers' function: the champion, then the fallback for
// what it could not score, then the challenger on the same record.
func (p *Plan) Score(ctx context.Context, c scoring.Chunk, buf *scoring.Buffers) (scoring.Scored, error) {
	sc, err := p.scoreChunk(ctx, c, buf)
	if err == nil && p.keep != nil {
		sc.Record = keepColumns(sc.Record, p.keep)
	}
	return sc, err
}

func (p *Plan) scoreChunk(ctx context.Context, c scoring.Chunk, buf *scoring.Buffers) (sc scoring.Scored, err error) {
	if p.saved != nil {
		if sc, ok := p.saved.Load(c); ok {
			if p.fallback != nil {
				p.fallback.countReused(sc)
			}
			if p.arms != nil {
				if err := p.arms.reused(&sc); err != nil {
					sc.Release()
					return scoring.Scored{}, err
				}
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
			p.fallback.note(c.Seq, TriggerInference, err)
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
	if p.arms != nil {
		fell, err := p.arms.score(ctx, &sc, buf)
		if err != nil {
			sc.Record = nil // the pool releases the chunk's record
			sc.Release()
			return scoring.Scored{}, err
		}
		transient = transient || fell
	}
	if p.challenger != nil {
		p.challenger.score(ctx, &sc, buf)
		transient = transient || (p.challenger.scorer != nil && sc.Shadow == nil) ||
			sc.ShadowLabel != nil // checkpoints keep no challenger label
	}
	if p.saved != nil && !transient {
		p.saved.Save(sc)
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

// Busy is the time the workers spent in the models, summed.
func (p *Plan) Busy() time.Duration {
	var d int64
	scorers := []*scoring.Scorer{p.scorer, p.fallbackScorer(), p.challengerScorer()}
	if p.arms != nil {
		for _, a := range p.arms.arms {
			scorers = append(scorers, a.scorer)
		}
	}
	for _, s := range scorers {
		if s != nil {
			d += s.Busy.Load()
		}
	}
	return time.Duration(d)
}

func (p *Plan) fallbackScorer() *scoring.Scorer {
	if p.fallback == nil {
		return nil
	}
	return p.fallback.scorer
}

func (p *Plan) challengerScorer() *scoring.Scorer {
	if p.challenger == nil {
		return nil
	}
	return p.challenger.scorer
}

// hashedKeys are the key columns a canary or arms hash; nil without.
func (p *Plan) hashedKeys() []string {
	switch {
	case p.arms != nil:
		return p.arms.keys
	case p.canary != nil:
		return p.canary.keys
	}
	return nil
}

// rolloutKey names the job-file section that hashes the keys.
func (p *Plan) rolloutKey() string {
	if p.arms != nil {
		return "arms"
	}
	return "challenger.rollout"
}
