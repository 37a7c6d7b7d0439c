// Package outcomes measures the scores a table published for a date
// against the truth that arrived later: it joins the labels to the
// version by key (bounded memory: the sides spill to bucket files as the
// unique-key check does), computes the quality metrics (metrics.go) for
// the champion, the challenger's shadow scores on the same rows and each
// segment value, and writes runs/<date>/outcomes-<time>.json and .html.
// An evaluation changes nothing published: it writes only its own files.
package outcomes

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/io/source"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
)

var (
	// ErrData marks labels that cannot be measured against: a bad label
	// value, a missing label or key column, a key type that differs from
	// the table's, duplicate label keys, no label matching a score, or an
	// evaluation below its gate. Exit 3.
	ErrData = errors.New("outcomes")
	// ErrNotScored marks a date (or --version) the table has no published
	// version for. Exit 2: the command line names something that is not
	// there.
	ErrNotScored = errors.New("not scored")
)

// Format names the outcomes file's layout.
const Format = "batchscore-outcomes/1"

// Request is one evaluation.
type Request struct {
	Job  *spec.Job
	Date string
	// Version evaluates this published version instead of the current one.
	Version string
	// Labels and Label override outcomes.labels (a Parquet glob) and
	// outcomes.label.
	Labels, Label string
	Now           time.Time // evaluated_at; zero: time.Now
	Logger        *slog.Logger
	// SpillRows caps each side's records in memory; 0: DefaultSpillRows.
	SpillRows int
}

// Report is the outcomes file (see /README's Outcomes section).
type Report struct {
	Format      string     `json:"format"`
	Job         string     `json:"job"`
	Date        string     `json:"date"`
	Version     string     `json:"version"`
	RunID       string     `json:"run_id"`
	EvaluatedAt time.Time  `json:"evaluated_at"`
	Labels      LabelsInfo `json:"labels"`
	Threshold   float64    `json:"threshold"`
	Champion    *Metrics   `json:"champion"`
	Challenger  *Metrics   `json:"challenger,omitempty"`
	Segments    []Segment  `json:"segments"`
	// Arms are the metrics per arm (the result table's arm column), the
	// reference arm first; omitted when the version has no arm column.
	Arms []Arm     `json:"arms,omitempty"`
	Gate *GateInfo `json:"gate,omitempty"`
	// Files are where the evaluation was written (relative to the table).
	Files []string `json:"files,omitempty"`
}

// LabelsInfo says where the labels came from (never a DSN).
type LabelsInfo struct {
	Source string `json:"source"`
	Label  string `json:"label"`
	Rows   int64  `json:"rows"`
}

// Segment is the metrics of the rows with one value of a segment column.
type Segment struct {
	Column     string   `json:"column"`
	Value      string   `json:"value"`
	Champion   *Metrics `json:"champion"`
	Challenger *Metrics `json:"challenger,omitempty"`
}

// GateInfo is the gate's verdict.
type GateInfo struct {
	AUCMin    *float64 `json:"auc_min,omitempty"`
	AUCDrop   *float64 `json:"auc_drop,omitempty"`
	FirstDate string   `json:"first_date,omitempty"`
	FirstAUC  *float64 `json:"first_auc,omitempty"`
	// ArmMargin is outcomes.arm_margin: an arm worse than the reference
	// arm by more than it fails the gate.
	ArmMargin *float64 `json:"arm_margin,omitempty"`
	Passed    bool     `json:"passed"`
	Reasons   []string `json:"reasons,omitempty"`
}

// evaluation is one Evaluate's state.
type evaluation struct {
	req    Request
	job    *spec.Job
	table  *table.Table
	m      *report.Manifest
	mem    memory.Allocator
	keys   []string
	label  string
	segs   []*segCol // label-side, then result-side, then snapshot-side
	nLabel int       // label-side segment columns
	nScore int       // result-side segment columns
	// armSeg and mvSeg index e.segs: the result table's arm and
	// model_version columns, read as result-side segment columns when
	// the version has an arm column (hidden unless also in
	// outcomes.segments); -1 without.
	armSeg, mvSeg int
	// snapshot is the date's snapshot, opened when a segment column is
	// in neither the labels nor the result table.
	snapshot *parquetio.Source
}

// Evaluate joins the labels of req.Date to the version current for it
// (or req.Version) and measures it. The report is returned, written,
// with a nil error or with an ErrData gate failure; other errors write
// nothing.
func Evaluate(ctx context.Context, req Request) (*Report, error) {
	job := req.Job
	if job.Outcomes == nil {
		return nil, fmt.Errorf("%w: %s: the job has no outcomes section", spec.ErrInvalid, job.File)
	}
	for _, c := range job.Outcomes.Segments {
		// Segment values are shown as they are, in the file and its page.
		if job.Validation.Columns[c].PII {
			return nil, fmt.Errorf("%w: %s: outcomes.segments: column %q is pii (validation.columns): its values would show unmasked in the outcomes file and page", spec.ErrInvalid, job.File, c)
		}
	}
	date, err := spec.ParseDate(req.Date)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", spec.ErrInvalid, err)
	}
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	if req.Logger == nil {
		req.Logger = slog.New(slog.DiscardHandler)
	}
	e := &evaluation{req: req, job: job, mem: memory.DefaultAllocator, keys: job.OutcomeKeys(), label: job.Outcomes.Label}
	if req.Label != "" {
		e.label = req.Label
	}
	if !table.IsRemote(job.Output.Table) {
		if _, err := os.Stat(job.Output.Table); err != nil {
			return nil, fmt.Errorf("%w: date %s: result table %s: %v", ErrNotScored, req.Date, job.Output.Table, err)
		}
	}
	// On S3, Open pulls the manifests, the outcomes files and the current
	// pointers into the work folder; the version's files are read from
	// the bucket (openVersion) and the outcomes files uploaded as reports
	// are (WriteRunFile).
	if e.table, err = table.Open(job.Output.Table); err != nil {
		return nil, err
	}
	defer e.table.Close()
	if err := e.findVersion(); err != nil {
		return nil, err
	}
	rep, err := e.run(ctx, date)
	if e.snapshot != nil {
		e.snapshot.Close()
	}
	if err != nil {
		return nil, err
	}
	gateErr := e.gate(rep)
	if err := e.write(rep); err != nil {
		return rep, err
	}
	return rep, gateErr
}

// findVersion reads the manifest of the version evaluated.
func (e *evaluation) findVersion() error {
	v := e.req.Version
	if v == "" {
		cur, err := e.table.Current(e.req.Date)
		if err != nil {
			return err
		}
		if cur == "" {
			return fmt.Errorf("%w: date %s has no published version in %s: was it ever scored? (batchscore runs %s)", ErrNotScored, e.req.Date, e.table.Name(), e.job.File)
		}
		v = cur
	}
	data, err := os.ReadFile(e.table.ManifestPath(e.req.Date, filepath.Base(v)))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: date %s has no version %s in %s", ErrNotScored, e.req.Date, v, e.table.Name())
	}
	if err != nil {
		return err
	}
	var m report.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("manifest of %s: %w", v, err)
	}
	if !m.Output.Published {
		return fmt.Errorf("%w: version %s of %s was not published (status %s)", ErrNotScored, v, e.req.Date, m.Status)
	}
	e.m = &m
	return nil
}

// openVersion opens the version's result files (sub "") or a side table:
// in the table's folder, or in the bucket for a table on S3.
func (e *evaluation) openVersion(date, version, sub string, want int) (*parquetio.Source, error) {
	rel := []string{"versions", date, version}
	if sub != "" {
		rel = append(rel, sub)
	}
	glob := filepath.Join(e.table.Root, filepath.Join(rel...), "*.parquet")
	if loc := e.table.Location(rel...); loc != "" {
		base, query, _ := strings.Cut(loc, "?")
		glob = base + "/*.parquet"
		if query != "" {
			glob += "?" + query
		}
	}
	src, err := parquetio.Open(glob)
	if err != nil {
		return nil, fmt.Errorf("version %s of %s: %w", version, date, err)
	}
	if want >= 0 && len(src.Files()) != want {
		return nil, fmt.Errorf("version %s of %s: %d result files, the manifest lists %d", version, date, len(src.Files()), want)
	}
	return src, nil
}

func (e *evaluation) run(ctx context.Context, date time.Time) (*Report, error) {
	scores, err := e.openVersion(e.req.Date, e.m.Version, "", len(e.m.Output.Files))
	if err != nil {
		return nil, err
	}
	var shadow *parquetio.Source
	if c := e.m.Challenger; c != nil && c.Path != "" {
		if shadow, err = e.openVersion(e.req.Date, e.m.Version, output.ShadowDir, -1); err != nil {
			return nil, err
		}
	}
	labels, where, err := openLabels(ctx, e.job, date, e.req.Labels)
	if err != nil {
		return nil, err
	}
	defer labels.Close()
	if err := e.checkSchemas(labels, scores, date); err != nil {
		return nil, err
	}
	j, n, err := e.join(ctx, labels, scores, shadow, where)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Format: Format, Job: e.job.Name, Date: e.req.Date, Version: e.m.Version, RunID: e.m.RunID,
		EvaluatedAt: e.req.Now.UTC().Truncate(time.Second),
		Labels:      LabelsInfo{Source: where, Label: e.label, Rows: n.labels},
		Threshold:   e.job.OutcomeThreshold(),
	}
	if err := e.check(ctx, date, j, n); err != nil {
		return nil, err
	}
	e.measure(rep, j, n)
	if len(rep.Arms) > 0 {
		if err := e.armScores(ctx, rep.Arms); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// counts are the rows each side read.
type counts struct{ labels, scores, shadow int64 }

// checkSchemas wants the label column, the key columns on both sides
// with the same kind of values, and each segment column on one side.
func (e *evaluation) checkSchemas(labels source.Source, scores *parquetio.Source, date time.Time) error {
	ls, ss := labels.Schema(), scores.Schema()
	if len(ls.FieldIndices(e.label)) == 0 {
		return fmt.Errorf("%w: labels %s have no column %q (outcomes.label); they have %v", ErrData, labels.Where(), e.label, names(ls))
	}
	for _, k := range e.keys {
		li, si := ls.FieldIndices(k), ss.FieldIndices(k)
		switch {
		case len(li) == 0:
			return fmt.Errorf("%w: labels %s have no key column %q", ErrData, labels.Where(), k)
		case len(si) == 0:
			return fmt.Errorf("%w: the result table has no key column %q (outcomes.keys); it has %v", spec.ErrInvalid, k, names(ss))
		}
		lt, st := ls.Field(li[0]).Type, ss.Field(si[0]).Type
		if keyKind(lt) == "" || keyKind(lt) != keyKind(st) {
			return fmt.Errorf("%w: labels %s: key column %q is %s, the result table's is %s", ErrData, labels.Where(), k, lt, st)
		}
	}
	var label, result, snap []*segCol
	e.armSeg, e.mvSeg = -1, -1
	for _, c := range e.job.Outcomes.Segments {
		switch {
		case len(ls.FieldIndices(c)) > 0:
			label = append(label, &segCol{name: c, labelSide: true, ids: map[string]uint32{}})
		case len(ss.FieldIndices(c)) > 0:
			result = append(result, &segCol{name: c, ids: map[string]uint32{}})
		default:
			in, err := e.inSnapshot(c, date)
			if err != nil {
				return err
			}
			if !in {
				return fmt.Errorf("%w: outcomes.segments: column %q is in none of the labels (%s), the result table and the snapshot of %s", spec.ErrInvalid, c, labels.Where(), e.req.Date)
			}
			snap = append(snap, &segCol{name: c, snapshot: true, ids: map[string]uint32{}})
		}
	}
	result = e.armColumns(ss, len(label), result)
	e.segs, e.nLabel, e.nScore = slices.Concat(label, result, snap), len(label), len(result)
	return nil
}

// armColumns adds the result table's arm and model_version columns to
// the result-side segment columns (result; the label side's first) when
// the version has an arm column, and records their indices in e.segs.
func (e *evaluation) armColumns(ss *arrow.Schema, nLabel int, result []*segCol) []*segCol {
	if len(ss.FieldIndices(output.ArmColumn)) == 0 {
		return result
	}
	find := func(name string) int {
		for i, c := range result {
			if c.name == name {
				return nLabel + i
			}
		}
		if len(ss.FieldIndices(name)) == 0 {
			return -1
		}
		result = append(result, &segCol{name: name, hidden: true, ids: map[string]uint32{}})
		return nLabel + len(result) - 1
	}
	e.armSeg = find(output.ArmColumn)
	e.mvSeg = find("model_version")
	return result
}

// inSnapshot opens the date's snapshot (once) and says whether it has
// column c. The snapshot is read as it is now; only Parquet snapshots.
func (e *evaluation) inSnapshot(c string, date time.Time) (bool, error) {
	if e.snapshot == nil {
		if e.job.Source.Parquet == "" {
			return false, nil
		}
		pattern, err := e.job.SourcePattern(date)
		if err != nil {
			return false, fmt.Errorf("%w: source.parquet: %v", spec.ErrInvalid, err)
		}
		if e.snapshot, err = parquetio.Open(pattern); err != nil {
			return false, fmt.Errorf("outcomes.segments: column %q: the snapshot of %s: %w", c, e.req.Date, err)
		}
	}
	return len(e.snapshot.Schema().FieldIndices(c)) > 0, nil
}

func names(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i := range out {
		out[i] = s.Field(i).Name
	}
	return out
}

// join reads the three sides and matches them.
func (e *evaluation) join(ctx context.Context, labels source.Source, scores, shadow *parquetio.Source, where string) (*joined, counts, error) {
	limit := e.req.SpillRows
	if limit <= 0 {
		limit = DefaultSpillRows
	}
	dir, err := e.table.Dir("_staging")
	if err != nil {
		return nil, counts{}, err
	}
	ls := newSide(dir, "labels", labelFixed+4*e.nLabel, limit)
	ss := newSide(dir, "scores", scoreFixed+4*e.nScore, limit)
	defer ls.close()
	defer ss.close()
	r := &reader{keys: e.keys, chunkRows: e.job.Scoring.ChunkRows, mem: e.mem}

	var ordinal uint64
	dec := &labelDecoder{column: e.label, positive: e.job.Outcomes.Positive, negative: e.job.Outcomes.Negative}
	r.segs = e.segs[:e.nLabel]
	cols := slices.Concat(e.keys, []string{e.label}, segNames(r.segs))
	if err := r.readSide(ctx, labels, cols, ls, "labels", func(rec arrow.Record, where string, offset int64) (func(int, []byte) bool, error) {
		col := rec.Column(rec.Schema().FieldIndices(e.label)[0])
		vals := make([]byte, rec.NumRows())
		if err := dec.decode(col, where, offset, vals); err != nil {
			return nil, err
		}
		return func(i int, dst []byte) bool {
			binary.LittleEndian.PutUint64(dst[8:], ordinal)
			dst[16] = vals[i]
			ordinal++
			return true
		}, nil
	}); err != nil {
		return nil, counts{}, err
	}

	r.segs = e.segs[e.nLabel : e.nLabel+e.nScore]
	cols = slices.Concat(e.keys, []string{"score"}, segNames(r.segs))
	if err := r.readSide(ctx, scores, cols, ss, "scores", scoreRows("score")); err != nil {
		return nil, counts{}, err
	}
	var hs *side
	n := counts{labels: ls.n, scores: ss.n}
	if shadow != nil {
		hs = newSide(dir, "shadow", scoreFixed, limit)
		defer hs.close()
		r.segs = nil
		cols = slices.Concat(e.keys, []string{"challenger_score"})
		if err := r.readSide(ctx, shadow, cols, hs, "shadow scores", scoreRows("challenger_score")); err != nil {
			return nil, counts{}, err
		}
		n.shadow = hs.n
	}
	var ps *side
	sh := shape{label: e.nLabel, score: e.nScore}
	if snapSegs := e.segs[e.nLabel+e.nScore:]; len(snapSegs) > 0 {
		ps = newSide(dir, "snapshot", 8+4*len(snapSegs), limit)
		defer ps.close()
		r.segs = snapSegs
		cols = slices.Concat(e.keys, segNames(snapSegs))
		if err := r.readSide(ctx, e.snapshot, cols, ps, "snapshot", func(arrow.Record, string, int64) (func(int, []byte) bool, error) {
			return func(int, []byte) bool { return true }, nil
		}); err != nil {
			return nil, counts{}, err
		}
		for _, c := range snapSegs {
			sh.snapValues = append(sh.snapValues, len(c.values))
		}
	}
	j, err := join(ls, ss, hs, ps, sh)
	if err != nil {
		return nil, counts{}, err
	}
	return j, n, nil
}

// scoreRows fills a score record: the score (rows whose score is null are
// left out: nothing scored them).
func scoreRows(column string) func(rec arrow.Record, where string, offset int64) (func(int, []byte) bool, error) {
	return func(rec arrow.Record, where string, offset int64) (func(int, []byte) bool, error) {
		col, ok := rec.Column(rec.Schema().FieldIndices(column)[0]).(*array.Float64)
		if !ok {
			return nil, fmt.Errorf("%s: column %s is %s, not double", where, column, rec.Column(rec.Schema().FieldIndices(column)[0]).DataType())
		}
		return func(i int, dst []byte) bool {
			if col.IsNull(i) || math.IsNaN(col.Value(i)) {
				return false
			}
			binary.LittleEndian.PutUint64(dst[8:], math.Float64bits(col.Value(i)))
			return true
		}, nil
	}
}

func segNames(cs []*segCol) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return out
}
