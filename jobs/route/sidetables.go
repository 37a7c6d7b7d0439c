package route

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/scoring"
)

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
