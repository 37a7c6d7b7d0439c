package jobs

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/explain"
	"github.com/batchscore/batchscore/scoring/trees"
)

// explaining explains the rows the champion scores (the job's explain:
// section) in the scoring workers, and writes the _explanations side
// table in the writing stage, in input order, published with the scores.
// Chunks resumed from checkpoints are explained again: the explanations
// are a function of the rows and the model.
type explaining struct {
	spec    *spec.Explain
	x       explain.Explainer
	columns []string // the snapshot column of each contribution
	codes   []string // each column's reason code
	keys    []string
	mem     memory.Allocator
	scratch sync.Pool
	pending sync.Map // chunk seq → *explainedChunk
	table   *output.SideTable
	// schema is a commit's: the shards' table schema, for the SQL sink
	// (a commit explains nothing itself, table is nil).
	schema *arrow.Schema

	// Written by the writing stage only.
	rep    report.Explanation
	absSum []float64
}

// explainedChunk is one chunk's explanations, made by a worker.
type explainedChunk struct {
	mask     arrow.Array   // the rows explained (nil: none)
	cols     []arrow.Array // score, bias, reason_1..k, shap_*
	rows     int64
	skipped  int64
	fallback int64
	maxErr   float64
	absSum   []float64
	reasons  map[string]int64
}

func (c *explainedChunk) release() {
	if c.mask != nil {
		c.mask.Release()
	}
	for _, a := range c.cols {
		a.Release()
	}
}

// explainError is a job file's explain: section that cannot run (exit 2).
func explainError(format string, args ...any) error {
	return &CodeError{Code: ExitUsage, Err: fmt.Errorf("explain: "+format, args...)}
}

// openExplain builds the explainer of the champion, checked at load:
// the model must be a tree ensemble with covers or a linear model with
// baseline means of its inputs. The champion failing to load leaves the
// rows to the fallback and nothing to explain (the manifest says so).
func (e *execution) openExplain(modelPath string, baseline *profile.Profile) error {
	job := e.req.Job
	xs := job.Explain
	if xs == nil {
		return nil
	}
	x := &explaining{spec: xs, keys: job.Output.Keys, mem: e.mem()}
	x.rep.Space = report.ExplainSpaceMargin
	x.rep.Reasons = map[string]int64{}
	e.explain = x
	if e.m.Model.Error != "" {
		x.rep.Method = "none: the model did not load"
		return nil
	}
	b, err := os.ReadFile(modelPath)
	if err != nil {
		return fmt.Errorf("explain: reading the model: %w", err)
	}
	var feats []explain.Feature
	if ens, terr := trees.Load(b); terr == nil {
		t, err := x.treeExplainer(job, ens)
		if err != nil {
			return err
		}
		x.x, feats = t, t.Features()
	} else {
		l, lerr := explain.LinearModel(b, 0)
		if lerr != nil {
			return explainError("the model is neither a tree ensemble the explainer reads (%v) nor a linear model (%v)", terr, lerr)
		}
		if l, err = linearExplainer(job, b, baseline); err != nil {
			return err
		}
		x.x, feats = l, l.Features()
	}
	x.rep.Method = x.x.Method()
	if x.columns, err = featureColumns(job, feats); err != nil {
		return err
	}
	x.codes = slices.Clone(x.columns)
	if xs.Reasons != "" {
		codes, err := explain.ReadReasons(xs.Reasons, x.columns)
		if err != nil {
			return explainError("%v", err)
		}
		for i, c := range x.columns {
			if code, ok := codes[c]; ok {
				x.codes[i] = code
			}
		}
	}
	x.absSum = make([]float64, len(x.columns))
	return x.checkNames()
}

// treeExplainer reads the covers and builds the TreeSHAP explainer of the
// scored class.
func (x *explaining) treeExplainer(job *spec.Job, ens *trees.Ensemble) (*explain.Tree, error) {
	if x.spec.Covers == "" {
		return nil, explainError("a tree model needs covers: a covers file (batchscore covers writes one)")
	}
	class, err := scoredColumn(job, ens.Outputs, ens.OtherOps, ens.ClassLabels)
	if err != nil {
		return nil, err
	}
	m, err := explain.ClassMargin(ens, class)
	if err != nil {
		return nil, explainError("%v", err)
	}
	covers, sum, err := explain.ReadCovers(x.spec.Covers)
	if err != nil {
		return nil, explainError("%v", err)
	}
	t, err := explain.NewTree(ens, m, covers)
	if err != nil {
		return nil, explainError("%s: %v", x.spec.Covers, err)
	}
	x.rep.Covers, x.rep.CoversSHA256 = x.spec.Covers, sum
	return t, nil
}

// scoredColumn is the model column the job's score reads: the class
// column of the node's own probabilities, a ZipMap's key looked up in
// the labels, or a regressor's target.
func scoredColumn(job *spec.Job, nodeOutputs, otherOps []string, labels []int64) (int, error) {
	ref := job.Model.Score
	for _, op := range otherOps {
		if op != "ZipMap" {
			return 0, explainError("the model has a %s node besides the tree ensemble: the score may not be the ensemble's", op)
		}
	}
	switch {
	case ref.Class == nil:
		return 0, nil
	case slices.Contains(nodeOutputs, ref.Output):
		return int(*ref.Class), nil
	}
	k := slices.Index(labels, *ref.Class)
	if k < 0 {
		return 0, explainError("class %d is not among the model's labels %v", *ref.Class, labels)
	}
	return k, nil
}

// linearExplainer builds the linear explainer with E[x] from the
// baseline's means.
func linearExplainer(job *spec.Job, model []byte, baseline *profile.Profile) (*explain.Linear, error) {
	class := 0
	if c := job.Model.Score.Class; c != nil {
		class = int(*c)
	}
	l, err := explain.LinearModel(model, class)
	if err != nil {
		return nil, explainError("%v", err)
	}
	if job.Model.Score.Class != nil && !slices.Contains(l.Outputs(), job.Model.Score.Output) {
		return nil, explainError("model.score reads %q, not the linear node's own output", job.Model.Score.Output)
	}
	if baseline == nil {
		return nil, explainError("a linear model needs validation.baseline: E[x] is the baseline's mean of each input")
	}
	cols, err := featureColumns(job, l.Features())
	if err != nil {
		return nil, err
	}
	means := make([]float64, len(cols))
	for i, c := range cols {
		var pc *profile.Column
		for _, b := range baseline.Columns {
			if b.Name == c {
				pc = b
			}
		}
		m, ok := baselineMean(pc)
		if !ok {
			return nil, explainError("the baseline %s has no mean of input column %q", job.Validation.Baseline, c)
		}
		means[i] = m
	}
	if err := l.SetMeans(means); err != nil {
		return nil, err
	}
	return l, nil
}

// baselineMean is a profiled column's mean: a numeric column's, or a
// boolean column's share of true (the model reads true as 1).
func baselineMean(c *profile.Column) (float64, bool) {
	switch {
	case c == nil:
		return 0, false
	case c.Mean != nil:
		return *c.Mean, true
	case c.Type != "bool" || c.Other != 0:
		return 0, false
	}
	var n, yes int64
	for _, t := range c.Top {
		n += t.Count
		if t.Value == "true" {
			yes += t.Count
		}
	}
	return float64(yes) / float64(n), n > 0
}

// featureColumns names the snapshot column behind each contribution.
func featureColumns(job *spec.Job, feats []explain.Feature) ([]string, error) {
	out := make([]string, len(feats))
	for i, f := range feats {
		cols, ok := job.Model.Inputs[f.Input]
		if !ok || f.Index >= len(cols) {
			return nil, explainError("model input %q element %d has no column in model.inputs", f.Input, f.Index)
		}
		out[i] = cols[f.Index]
	}
	return out, nil
}

// fields are the table's columns after the keys.
func (x *explaining) fields() []arrow.Field {
	f64 := func(n string) arrow.Field { return arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Float64} }
	out := []arrow.Field{f64("score"), f64("bias")}
	for k := range x.spec.Top {
		out = append(out, arrow.Field{Name: "reason_" + strconv.Itoa(k+1), Type: arrow.BinaryTypes.String, Nullable: true})
	}
	if x.spec.Values {
		for _, c := range x.columns {
			out = append(out, f64("shap_"+c))
		}
	}
	return out
}

// checkNames refuses a key column that a table column would shadow.
func (x *explaining) checkNames() error {
	for _, f := range x.fields() {
		if slices.Contains(x.keys, f.Name) {
			return explainError("key column %q has the name of a column of the explanations table", f.Name)
		}
	}
	return nil
}

// open prepares the side table in the staging folder dir.
func (x *explaining) open(job *spec.Job, schema *arrow.Schema, dir, date, runID, modelVersion string) error {
	if x == nil || x.x == nil {
		return nil
	}
	t, err := output.NewSideTable(filepath.Join(dir, output.ExplanationsDir), schema, job, x.fields(), date, runID, modelVersion, x.mem)
	if err != nil {
		return err
	}
	x.table = t
	return nil
}

// wrap explains each chunk after score scored it, in the same worker.
func (x *explaining) wrap(score scoring.ScoreFunc) scoring.ScoreFunc {
	if x == nil || x.table == nil {
		return score
	}
	return func(ctx context.Context, c scoring.Chunk, buf *scoring.Buffers) (scoring.Scored, error) {
		s, err := score(ctx, c, buf)
		if err != nil {
			return s, err
		}
		ec, err := x.chunk(s)
		if err != nil {
			s.Record = nil // the pool releases the chunk's record
			s.Release()
			return scoring.Scored{}, err
		}
		x.pending.Store(s.Seq, ec)
		return s, nil
	}
}

// additivityLimit is where an additivity error stops being rounding: a
// bug, which fails the run rather than publish wrong explanations.
const additivityLimit = 1e-6

// chunk explains a scored chunk's selected rows.
func (x *explaining) chunk(s scoring.Scored) (*explainedChunk, error) {
	n := s.Score.Len()
	ec := &explainedChunk{absSum: make([]float64, len(x.columns)), reasons: map[string]int64{}}
	in := make([]arrow.Array, len(x.columns))
	for j, c := range x.columns {
		idx := s.Record.Schema().FieldIndices(c)
		if len(idx) == 0 {
			return nil, fmt.Errorf("explain: column %q is not in the scored record", c)
		}
		in[j] = s.Record.Column(idx[0])
	}
	mask := array.NewBooleanBuilder(x.mem)
	defer mask.Release()
	b := newExplainBuilders(x, x.mem)
	defer b.release()
	sc, _ := x.scratch.Get().(*explain.Scratch)
	if sc == nil {
		sc = &explain.Scratch{}
	}
	defer x.scratch.Put(sc)
	row := make([]float32, x.x.Inputs())
	phi := make([]float64, x.x.Inputs())
	top := make([]int, x.spec.Top)
	for i := range n {
		switch {
		case s.Source != nil && s.Source.Value(i) != "model":
			ec.fallback++
			mask.Append(false)
			continue
		case s.Score.IsNull(i) || !x.spec.Where.Selects(s.Score.Value(i)):
			ec.skipped++
			mask.Append(false)
			continue
		}
		mask.Append(true)
		for j, col := range in {
			row[j] = explain.Float32At(col, i)
		}
		bias, margin := x.x.Explain(row, sc, phi)
		a := explain.Additivity(bias, phi, margin)
		if !(a <= additivityLimit*(1+math.Abs(margin))) {
			return nil, fmt.Errorf("explain: row %d of %s: bias + contributions = %v, margin %v (additivity error %g)",
				s.Offset+int64(i), s.File, margin+a, margin, a)
		}
		ec.maxErr = max(ec.maxErr, a)
		for j, v := range phi {
			ec.absSum[j] += math.Abs(v)
		}
		explain.Top(phi, x.spec.Direction == spec.DirectionIncrease, top)
		b.add(s.Score.Value(i), bias, phi, top, ec.reasons)
		ec.rows++
	}
	ec.mask = mask.NewArray()
	ec.cols = b.arrays()
	return ec, nil
}

// explainKeep are the columns a scored record keeps for the explanations.
func explainKeep(job *spec.Job) []string {
	if job.Explain == nil {
		return nil
	}
	return modelColumns(job)
}
