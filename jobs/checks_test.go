package jobs

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

// TestDriftSampleBoundsWork: a run's drift histograms bin about
// profile.DriftSampleRows rows of a large Parquet snapshot, not every
// row (a work count, not a timing: a sample silently dropped, which
// costs a run a large share of its checks, fails here), with the same
// rows for the same fingerprint and other rows for another; a small
// snapshot and a query's rows are binned exactly.
func TestDriftSampleBoundsWork(t *testing.T) {
	const chunk, chunks = 65536, 8 // the rows profiled; the snapshot is larger
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
	fb := array.NewFloat64Builder(memory.DefaultAllocator)
	r := rand.New(rand.NewPCG(1, 2))
	for range chunk {
		fb.Append(r.NormFloat64())
	}
	col := fb.NewArray()
	fb.Release()
	rec := array.NewRecord(schema, []arrow.Array{col}, chunk)
	col.Release()
	defer rec.Release()
	train := profile.NewBuilder(schema, nil, nil)
	if err := train.Add(rec); err != nil {
		t.Fatal(err)
	}
	base := train.Profile()
	binned := func(src report.Source) (*profile.Histogram, int64) {
		e := &execution{m: &report.Manifest{Source: src}}
		b := profile.NewBuilder(schema, nil, base, e.driftSample())
		for i := range chunks {
			if err := b.AddAt(rec, "part-00000.parquet", int64(i*chunk)); err != nil {
				t.Fatal(err)
			}
		}
		h := b.Profile().Columns[0].Histogram
		if h.Sampled == 0 {
			return h, b.Profile().Columns[0].Count
		}
		return h, h.Sampled
	}
	const big = 8_000_000
	h, n := binned(report.Source{Kind: "parquet", Rows: big, Fingerprint: "sha256:aa"})
	want := float64(chunk*chunks) * float64(profile.DriftSampleRows) / big
	if h.Sampled == 0 || float64(n) > 1.2*want || float64(n) < 0.8*want {
		t.Errorf("a %d-row snapshot binned %d of the %d rows profiled, want about %.0f", big, n, chunk*chunks, want)
	}
	again, _ := binned(report.Source{Kind: "parquet", Rows: big, Fingerprint: "sha256:aa"})
	other, _ := binned(report.Source{Kind: "parquet", Rows: big, Fingerprint: "sha256:bb"})
	if !slices.Equal(h.Counts, again.Counts) {
		t.Errorf("the same fingerprint sampled other rows: %v, %v", h.Counts, again.Counts)
	}
	if slices.Equal(h.Counts, other.Counts) {
		t.Errorf("another fingerprint sampled the same rows: %v", h.Counts)
	}
	for _, src := range []report.Source{
		{Kind: "parquet", Rows: profile.DriftSampleRows, Fingerprint: "sha256:aa"},
		{Kind: "sql", Rows: big},
	} {
		if h, n := binned(src); h.Sampled != 0 || n != chunk*chunks {
			t.Errorf("%s of %d rows: binned %d of %d rows (Sampled %d), want every row", src.Kind, src.Rows, n, chunk*chunks, h.Sampled)
		}
	}
}
