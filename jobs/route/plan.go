// Package route decides which model scores each row: it loads the
// champion (from a path or a model registry), and around it the fallback
// for the rows the champion cannot score, the challenger scored in its
// shadow, and the review routing of uncertain rows. Open returns the Plan
// the workers score with; Report returns the plan's sections of the
// manifest (model engine, fallback, challenger, review).
package route

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
	"github.com/batchscore/batchscore/scoring"
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
	champion, err := o.loadModel(job.Model, "model", rep)
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
	}
	if job.Review != nil {
		p.review = &reviewer{spec: job.Review, keys: job.Output.Keys, mem: cfg.Mem, counts: map[string]int64{}}
	} else {
		p.keep = cfg.Keep
	}
	return p, models, nil
}

// SaveTo makes the plan reuse the chunks c saved and save those it scores.
func (p *Plan) SaveTo(c Checkpoints) { p.saved = c }

// HasFallback says whether rows may be scored by a fallback (and carry a
// score_source).
func (p *Plan) HasFallback() bool { return p.fallback != nil }

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
	if p.challenger != nil {
		p.challenger.score(ctx, &sc, buf)
		transient = transient || (p.challenger.scorer != nil && sc.Shadow == nil)
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

// Stage says how far the run got, for the plan's report.
type Stage struct {
	FallbackRows, ValidRows int64
	// Published: the version went out, to Path. Final: the run is over,
	// so side-table files staged but never published are gone.
	Published bool
	Path      string
	Final     bool
}

// Report is the plan's sections of the manifest. Sections the job does
// not have are nil; Champion says whether Engine and NonFinite are set.
type Report struct {
	Champion   bool
	Engine     string // the first chunk can change it
	NonFinite  map[string]report.NonFinite
	Fallback   *report.Fallback
	Challenger *report.Challenger
	Review     *report.Review
}

// Report is what the plan saw: while staging (the side tables' staged
// files listed) and at the end (listed only if published).
func (p *Plan) Report(st Stage) Report {
	var r Report
	if p.champion != nil {
		r.Champion, r.Engine = true, p.champion.engine()
	}
	if p.scorer != nil {
		r.NonFinite = nonFinite(p.scorer.NonFinite())
	}
	if p.fallback != nil {
		r.Fallback = p.fallback.summary(st.FallbackRows, st.ValidRows)
	}
	if p.challenger != nil {
		r.Challenger = p.challenger.summary()
		if st.Published && len(r.Challenger.Files) > 0 {
			r.Challenger.Path = filepath.Join(st.Path, output.ShadowDir)
		}
	}
	if p.review != nil {
		r.Review = p.review.summary()
		if st.Published && len(r.Review.Files) > 0 {
			r.Review.Path = filepath.Join(st.Path, output.ReviewDir)
		}
	}
	if st.Final && !st.Published {
		// Staged, never published, now gone.
		if r.Challenger != nil {
			r.Challenger.Files = nil
		}
		if r.Review != nil {
			r.Review.Files = nil
		}
	}
	return r
}

// ModelHashes identify every model that shapes a version's files, for
// its run id: the champion's, then the challenger's and fallback's, and
// the baseline's bytes (imputation and review ranges come from it). A
// model from a registry adds its version's name, which rows carry in
// model_version: promoting a version whose file is byte-identical to the
// current one still makes a new version. Models named by path add
// nothing, so their run ids stay what they were.
func (p *Plan) ModelHashes(champion *report.Model, baseline string) string {
	h := champion.SHA256 + registryVersion(champion)
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

// OpenSideTables prepares the shadow and review tables in the staging
// folder dir; they are published with the scores. Their rows carry date,
// runID and, in the review table, the champion's modelVersion.
func (p *Plan) OpenSideTables(job *spec.Job, schema *arrow.Schema, dir, date, runID, modelVersion string) error {
	score := func(name string) arrow.Field { return arrow.Field{Name: name, Type: arrow.PrimitiveTypes.Float64} }
	if c := p.challenger; c != nil && c.scorer != nil && c.failed() == nil {
		t, err := output.NewSideTable(filepath.Join(dir, output.ShadowDir), schema, job, []arrow.Field{score("champion_score"), score("challenger_score")},
			date, runID, c.rep.Model.Version, p.mem)
		if err != nil {
			c.fail(beforeChunks, err)
		}
		c.table = t
	}
	if r := p.review; r != nil {
		t, err := output.NewSideTable(filepath.Join(dir, output.ReviewDir), schema, job, []arrow.Field{score("score"), {Name: "reasons", Type: arrow.BinaryTypes.String}},
			date, runID, modelVersion, p.mem)
		if err != nil {
			return err
		}
		r.table = t
	}
	return nil
}

// WriteSide writes a chunk's rows to the side tables, in input order. A
// challenger's trouble stays its own; the review table's fails the run.
func (p *Plan) WriteSide(s scoring.Scored) error {
	if p.challenger != nil {
		p.challenger.write(s)
	}
	if p.review != nil && p.review.table != nil {
		return p.review.route(s)
	}
	return nil
}

// CloseSideTables finishes the side tables' files. A challenger that
// failed on the way has its shadow files removed: half a comparison is
// not one.
func (p *Plan) CloseSideTables() error {
	if c := p.challenger; c != nil && c.table != nil {
		if c.failed() != nil {
			c.table.Abort()
		} else if files, err := c.table.Close(); err != nil {
			c.fail(afterChunks, fmt.Errorf("challenger: closing the shadow table: %w", err))
			c.table.Abort()
		} else {
			c.rep.Files = output.Files(files)
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

// AbortSideTables removes what the side tables wrote.
func (p *Plan) AbortSideTables() {
	if c := p.challenger; c != nil && c.table != nil {
		c.table.Abort()
	}
	if r := p.review; r != nil && r.table != nil {
		r.table.Abort()
	}
}

// Busy is the time the workers spent in the models, summed.
func (p *Plan) Busy() time.Duration {
	var d int64
	for _, s := range []*scoring.Scorer{p.scorer, p.fallbackScorer(), p.challengerScorer()} {
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

// nonFinite is counts in the manifest's own type.
func nonFinite(counts map[string]scoring.NonFinite) map[string]report.NonFinite {
	if counts == nil {
		return nil
	}
	out := make(map[string]report.NonFinite, len(counts))
	for col, n := range counts {
		out[col] = report.NonFinite{NaN: n.NaN, PosInf: n.PosInf, NegInf: n.NegInf, BeyondFloat32: n.BeyondFloat32}
	}
	return out
}
