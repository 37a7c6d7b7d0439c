package jobs

// The _explanations side table: a chunk's columns (built by a worker) and
// their writing, in input order, by the writing stage.

import (
	"context"
	"fmt"
	"sort"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/output"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/validate"
	"github.com/batchscore/batchscore/scoring"
)

// explainBuilders build a chunk's table columns.
type explainBuilders struct {
	x       *explaining
	score   *array.Float64Builder
	bias    *array.Float64Builder
	reasons []*array.StringBuilder
	values  []*array.Float64Builder
}

func newExplainBuilders(x *explaining, mem memory.Allocator) *explainBuilders {
	b := &explainBuilders{x: x, score: array.NewFloat64Builder(mem), bias: array.NewFloat64Builder(mem)}
	for range x.spec.Top {
		b.reasons = append(b.reasons, array.NewStringBuilder(mem))
	}
	if x.spec.Values {
		for range x.columns {
			b.values = append(b.values, array.NewFloat64Builder(mem))
		}
	}
	return b
}

func (b *explainBuilders) add(score, bias float64, phi []float64, top []int, counts map[string]int64) {
	b.score.Append(score)
	b.bias.Append(bias)
	for k, j := range top {
		if j < 0 {
			b.reasons[k].AppendNull()
			continue
		}
		code := b.x.codes[j]
		b.reasons[k].Append(code)
		counts[code]++
	}
	for j, v := range b.values {
		v.Append(phi[j])
	}
}

func (b *explainBuilders) arrays() []arrow.Array {
	out := []arrow.Array{b.score.NewArray(), b.bias.NewArray()}
	for _, r := range b.reasons {
		out = append(out, r.NewArray())
	}
	for _, v := range b.values {
		out = append(out, v.NewArray())
	}
	return out
}

func (b *explainBuilders) release() {
	b.score.Release()
	b.bias.Release()
	for _, r := range b.reasons {
		r.Release()
	}
	for _, v := range b.values {
		v.Release()
	}
}

// write writes a scored chunk's explanations (the writing stage, in
// input order) and adds them to the section's totals.
func (x *explaining) write(s scoring.Scored) error {
	if x == nil || x.table == nil {
		return nil
	}
	v, ok := x.pending.LoadAndDelete(s.Seq)
	if !ok {
		return fmt.Errorf("explain: chunk %d was scored but not explained", s.Seq)
	}
	ec := v.(*explainedChunk)
	defer ec.release()
	x.rep.Rows += ec.rows
	x.rep.Skipped += ec.skipped
	x.rep.FallbackRows += ec.fallback
	x.rep.MaxAdditivityError = max(x.rep.MaxAdditivityError, ec.maxErr)
	for j, v := range ec.absSum {
		x.absSum[j] += v
	}
	for c, n := range ec.reasons {
		x.rep.Reasons[c] += n
	}
	if ec.rows == 0 {
		return nil
	}
	ctx := compute.WithAllocator(context.Background(), x.mem)
	fields := make([]arrow.Field, len(x.keys))
	keys := make([]arrow.Array, len(x.keys))
	defer func() {
		for _, k := range keys {
			if k != nil {
				k.Release()
			}
		}
	}()
	for i, k := range x.keys {
		idx := s.Record.Schema().FieldIndices(k)
		if len(idx) == 0 {
			return fmt.Errorf("explain: key column %q is missing", k)
		}
		kept, err := validate.FilterArray(ctx, s.Record.Column(idx[0]), ec.mask)
		if err != nil {
			return fmt.Errorf("explain: %w", err)
		}
		keys[i] = kept
		fields[i] = arrow.Field{Name: k, Type: kept.DataType(), Nullable: true}
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), keys, ec.rows)
	defer rec.Release()
	if err := x.table.Write(rec, ec.cols); err != nil {
		return fmt.Errorf("writing the explanations table: %w", err)
	}
	return nil
}

// close finishes the table's files and the manifest's section.
func (x *explaining) close() (*report.Explanation, error) {
	if x == nil {
		return nil, nil
	}
	x.drop()
	if x.table != nil {
		files, err := x.table.Close()
		if err != nil {
			return nil, fmt.Errorf("closing the explanations table: %w", err)
		}
		x.rep.Files = output.Files(files)
	}
	if x.rep.Rows > 0 {
		for j, c := range x.columns {
			x.rep.Importance = append(x.rep.Importance, report.Importance{Column: c, MeanAbs: x.absSum[j] / float64(x.rep.Rows)})
		}
		sort.SliceStable(x.rep.Importance, func(a, b int) bool { return x.rep.Importance[a].MeanAbs > x.rep.Importance[b].MeanAbs })
	}
	rep := x.rep
	return &rep, nil
}

// abort removes what the table wrote.
func (x *explaining) abort() {
	if x == nil {
		return
	}
	x.drop()
	if x.table != nil {
		x.table.Abort()
	}
}

// drop releases explanations a failed run never wrote.
func (x *explaining) drop() {
	x.pending.Range(func(k, v any) bool {
		v.(*explainedChunk).release()
		x.pending.Delete(k)
		return true
	})
}
