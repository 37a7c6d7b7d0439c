package outcomes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/report"
)

// NotInSnapshot is the segment value of matched rows whose key the
// snapshot (a snapshot-side segment column's) no longer has.
const NotInSnapshot = "(not in the snapshot)"

// errFound stops a read once the row looked for is found.
var errFound = errors.New("found")

// check refuses a join that cannot be measured: duplicate label keys, a
// key the version holds twice, no label matching a score.
func (e *evaluation) check(ctx context.Context, date time.Time, j *joined, n counts) error {
	if j.dupLabel >= 0 {
		where, key := e.labelAt(ctx, date, j.dupLabel)
		return fmt.Errorf("%w: duplicate label keys: %s (at %s) appears more than once; each key needs one label", ErrData, key, where)
	}
	if j.dupScore >= 0 {
		where, key := e.labelAt(ctx, date, j.dupScore)
		return fmt.Errorf("%w: the version %s holds the key %s (label at %s) more than once: the join is ambiguous", ErrData, e.m.Version, key, where)
	}
	if len(j.score) == 0 {
		return fmt.Errorf("%w: no label matched a score of version %s: %d rows scored, %d labels read, 0 matched by %v (are the labels for score date %s?)",
			ErrData, e.m.Version, n.scores, n.labels, e.keys, e.req.Date)
	}
	return nil
}

// labelAt reads the labels again up to row ordinal (counting from 0 over
// the whole source) and names it: where it is and its key.
func (e *evaluation) labelAt(ctx context.Context, date time.Time, ordinal int64) (string, string) {
	src, _, err := openLabels(ctx, e.job, date, e.req.Labels)
	if err != nil {
		return fmt.Sprintf("label row %d", ordinal), "?"
	}
	defer src.Close()
	var where, key string
	var seen int64
	err = src.Read(ctx, e.keys, e.job.Scoring.ChunkRows, e.mem, func(rec arrow.Record, at string, offset int64) error {
		defer rec.Release()
		if seen+rec.NumRows() <= ordinal {
			seen += rec.NumRows()
			return nil
		}
		i := int(ordinal - seen)
		parts := make([]string, len(e.keys))
		for k, name := range e.keys {
			parts[k] = fmt.Sprintf("%s=%s", name, valueString(rec.Column(rec.Schema().FieldIndices(name)[0]), i))
		}
		where, key = fmt.Sprintf("%s row %d", at, offset+int64(i)), strings.Join(parts, ", ")
		return errFound
	})
	if key == "" {
		return fmt.Sprintf("label row %d", ordinal), "?"
	}
	return where, key
}

// measure fills the report's metrics: the champion and the challenger on
// every matched row, then each segment value.
func (e *evaluation) measure(rep *Report, j *joined, n counts) {
	all := make([]int, len(j.score))
	for i := range all {
		all[i] = i
	}
	rep.Champion = e.metrics(j, all, false, n.scores, n.labels)
	rep.Arms = e.measureArms(j)
	if e.m.Challenger != nil && e.m.Challenger.Path != "" {
		rep.Challenger = e.metrics(j, all, true, n.shadow, n.labels)
	}
	rep.Segments = []Segment{}
	for k, c := range e.segs {
		if c.hidden {
			continue
		}
		groups := make([][]int, len(c.values)+1) // the last: not in the snapshot
		for i, id := range j.seg[k] {
			if id == noSnapshot {
				id = uint32(len(c.values))
			}
			groups[id] = append(groups[id], i)
		}
		for id, rows := range groups {
			if len(rows) == 0 && id == len(c.values) {
				continue
			}
			// The column's own side counts its rows; the other side
			// knows only the matched ones.
			scored, labelled := int64(len(rows)), int64(len(rows))
			value := NotInSnapshot
			switch {
			case id == len(c.values):
			case c.snapshot:
				s := k - e.nLabel - e.nScore
				value, scored, labelled = c.values[id], j.snapScored[s][id], j.snapLabelled[s][id]
			case c.labelSide:
				value, labelled = c.values[id], c.counted[id]
			default:
				value, scored = c.values[id], c.counted[id]
			}
			seg := Segment{Column: c.name, Value: value, Champion: e.metrics(j, rows, false, scored, labelled)}
			if rep.Challenger != nil {
				seg.Challenger = e.metrics(j, rows, true, scored, labelled)
			}
			rep.Segments = append(rep.Segments, seg)
		}
	}
}

// metrics measures the rows at idx: the champion's scores, or the
// challenger's on those of them its shadow scored.
func (e *evaluation) metrics(j *joined, idx []int, challenger bool, scored, labelled int64) *Metrics {
	rows := Rows{Score: make([]float64, 0, len(idx)), Label: make([]bool, 0, len(idx))}
	for _, i := range idx {
		s := j.score[i]
		if challenger {
			if s = j.chall[i]; math.IsNaN(s) {
				continue
			}
		}
		rows.Score = append(rows.Score, s)
		rows.Label = append(rows.Label, j.label[i])
	}
	m := &Metrics{RowsScored: scored, Labelled: labelled, Matched: int64(len(rows.Score))}
	m.LabelsWithoutScore = max(labelled-int64(len(idx)), 0)
	m.ModelVersion = modelName(e.m.Model, "champion")
	if challenger {
		// Told apart from the champion: the two are two series of one
		// metric family, and a scrape with a repeated series fails whole.
		if m.ModelVersion = modelName(e.m.Challenger.Model, "challenger"); m.ModelVersion == modelName(e.m.Model, "champion") {
			m.ModelVersion += " (challenger)"
		}
	}
	Compute(m, rows, e.job.OutcomeThreshold())
	return m
}

// modelName names the model that scored as the trends pages do: the
// job's model.version, else the registry's name@version, else the file's
// sha256 (12 digits), else role.
func modelName(m report.Model, role string) string {
	switch {
	case m.Version != "":
		return m.Version
	case m.Registry != nil && m.Registry.Name != "":
		return m.Registry.Name + "@" + m.Registry.Version
	case m.SHA256 != "":
		h := strings.TrimPrefix(m.SHA256, "sha256:")
		return "sha256:" + h[:min(12, len(h))]
	}
	return role
}
