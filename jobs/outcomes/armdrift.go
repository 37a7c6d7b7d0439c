package outcomes

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// ArmScores is one arm's published scores on the date (every row of the
// arm, labelled or not) and their drift against the same arm's scores of
// the previous published date: the run's score PSI (profile.ScoreDrift,
// exact counts in fine bins merged at the previous scores' quantiles),
// per arm. The run itself reports the score PSI of all rows only.
type ArmScores struct {
	Rows      int64              `json:"rows"`
	Mean      *float64           `json:"mean"`
	Quantiles []profile.Quantile `json:"quantiles"`
	// PreviousDate and PreviousVersion are the published version compared
	// with: the newest date before this one with a current version.
	PreviousDate    string `json:"previous_date,omitempty"`
	PreviousVersion string `json:"previous_version,omitempty"`
	// PSI is null when there is no previous date, it has no arm column or
	// no row of this arm.
	PSI     *float64 `json:"psi"`
	Band    string   `json:"band,omitempty"`
	Binning string   `json:"binning,omitempty"`
}

// armScoreSchema is what each arm's profile builder sees.
var armScoreSchema = arrow.NewSchema([]arrow.Field{{Name: "score", Type: arrow.PrimitiveTypes.Float64}}, nil)

// armScores profiles each arm's scores of the version and of the
// previous published date's and fills arms[i].Scores. The previous
// date's scores are a comparison only: a failure to read them is logged
// and leaves the PSI null.
func (e *evaluation) armScores(ctx context.Context, arms []Arm) error {
	src, err := e.openVersion(e.req.Date, e.m.Version, "", len(e.m.Output.Files))
	if err != nil {
		return err
	}
	today, err := e.profileArms(ctx, src)
	if err != nil {
		return err
	}
	prevDate, prevVersion, prev := e.previousArms(ctx)
	for i := range arms {
		a := &arms[i]
		p := today[a.Arm]
		if p == nil {
			continue
		}
		s := &ArmScores{PreviousDate: prevDate, PreviousVersion: prevVersion}
		if c := p.Column("score"); c != nil {
			s.Rows, s.Mean, s.Quantiles = c.Count, c.Mean, c.Quantiles
		}
		if pp := prev[a.Arm]; pp != nil {
			if d, ok := profile.ScoreDrift(pp, p, "score"); ok {
				s.PSI, s.Band, s.Binning = num(d.PSI), d.Band, d.Binning
			}
		}
		a.Scores = s
	}
	return nil
}

// previousArms profiles the arms of the newest date before this one
// with a published version; nil when there is none or it has no arm
// column.
func (e *evaluation) previousArms(ctx context.Context) (string, string, map[string]*profile.Profile) {
	dates, err := e.table.RunDates()
	if err != nil {
		e.req.Logger.Warn("outcomes: the arms' score drift: listing the dates", "err", err)
		return "", "", nil
	}
	for i := len(dates) - 1; i >= 0; i-- {
		d := dates[i]
		if d >= e.req.Date {
			continue
		}
		v, err := e.table.Current(d)
		if err != nil || v == "" {
			continue
		}
		src, err := e.openVersion(d, v, "", -1)
		if err == nil && len(src.Schema().FieldIndices(output.ArmColumn)) == 0 {
			return d, v, nil
		}
		var p map[string]*profile.Profile
		if err == nil {
			p, err = e.profileArms(ctx, src)
		}
		if err != nil {
			e.req.Logger.Warn("outcomes: the arms' score drift: the previous date's scores", "date", d, "version", v, "err", err)
			return d, v, nil
		}
		return d, v, p
	}
	return "", "", nil
}

// profileArms reads a version's score and arm columns and profiles each
// arm's non-null scores as the run profiles its scores.
func (e *evaluation) profileArms(ctx context.Context, src *parquetio.Source) (map[string]*profile.Profile, error) {
	builders := map[string]*profile.Builder{}
	err := src.Read(ctx, []string{"score", output.ArmColumn}, e.job.Scoring.ChunkRows, e.mem, func(rec arrow.Record, where string, _ int64) error {
		defer rec.Release()
		score, ok := rec.Column(rec.Schema().FieldIndices("score")[0]).(*array.Float64)
		if !ok {
			return fmt.Errorf("%s: column score is not double", where)
		}
		arm := rec.Column(rec.Schema().FieldIndices(output.ArmColumn)[0])
		byArm := map[string][]float64{}
		for i := range score.Len() {
			if score.IsValid(i) {
				name := valueString(arm, i)
				byArm[name] = append(byArm[name], score.Value(i))
			}
		}
		for name, vals := range byArm {
			b := builders[name]
			if b == nil {
				if len(builders) >= MaxSegmentValues {
					return fmt.Errorf("%s: column arm has more than %d values", where, MaxSegmentValues)
				}
				b = profile.NewBuilder(armScoreSchema, []string{"score"}, nil, profile.WithFineCounts("score"))
				builders[name] = b
			}
			fb := array.NewFloat64Builder(e.mem)
			fb.AppendValues(vals, nil)
			col := fb.NewArray()
			fb.Release()
			r := array.NewRecord(armScoreSchema, []arrow.Array{col}, int64(len(vals)))
			col.Release()
			err := b.Add(r)
			r.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]*profile.Profile, len(builders))
	for name, b := range builders {
		out[name] = b.Profile()
	}
	return out, nil
}
