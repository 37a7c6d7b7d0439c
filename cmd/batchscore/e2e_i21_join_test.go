package main

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
)

// TestI21JoinsSmallFilesThroughTheBinary: a snapshot of 20 files of 100
// rows is scored in chunks of chunk_rows that join the files; the rows a
// rule quarantines still name their own file and row; and a run killed
// after two saved chunks resumes onto the same chunks, byte-identical.
func TestI21JoinsSmallFilesThroughTheBinary(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "snap", "snapshot_date="+date20)
	var all []arrow.Record
	for _, part := range []string{"part-00000.parquet", "part-00001.parquet"} {
		all = append(all, sampleRecord(t, date20, part))
	}
	bad := map[string]int64{"part-00003.parquet": 7, "part-00012.parquet": 99}
	var at int64
	for i := range 20 {
		name := fmt.Sprintf("part-%05d.parquet", i)
		src := all[at/1000]
		rec := src.NewSlice(at%1000, at%1000+100)
		t.Cleanup(rec.Release)
		if row, ok := bad[name]; ok {
			col := float64Column(t, rec, "monthly_charges")
			arr := mapFloat64(t, col, array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
				if int64(i) == row {
					v = -5
				}
				b.Append(v)
			})
			rec = replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float64)
		}
		writeParquet(t, filepath.Join(dir, name), rec)
		at += 100
	}
	table := filepath.Join(tmp, "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: 500,
		source: filepath.Join(tmp, "snap", "snapshot_date={{ .Date }}", "*.parquet")})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("clean run: %s", res)
	}
	clean := parseManifest(t, []byte(res.stdout))
	if c := clean.Counts; c.Read != 2000 || c.Quarantined != 2 || c.Written != 1998 {
		t.Errorf("counts %+v, want 2000 read, 2 quarantined, 1998 written", c)
	}
	q := readParquet(t, filepath.Join(table, "current", date20, "_quarantine", "part-00000.parquet"))
	files := column(t, q, "_source_file").(*array.String)
	rows := column(t, q, "_source_row").(*array.Int64)
	for i := range int(q.NumRows()) {
		name := filepath.Base(files.Value(i))
		if want, ok := bad[name]; !ok || rows.Value(i) != want {
			t.Errorf("quarantine row %d names %s row %d, want one of %v", i, files.Value(i), rows.Value(i), bad)
		}
	}
	cleanFiles := readFiles(t, clean.Output.Path)

	killed := runWith(t, batchscore, append(ortEnv(t), "BATCHSCORE_CRASHPOINT=checkpointed:2"), "run", job, "--date", date20, "--force")
	if killed.code != -1 {
		t.Fatalf("the run was not killed at the 2nd saved chunk: %s", killed)
	}
	if res := bs(t, "run", job, "--date", date20, "--force"); res.code != 0 {
		t.Fatalf("resumed run: %s", res)
	}
	var resumed *report.Manifest
	for _, m := range manifests(t, table, date20) {
		if m.Version != clean.Version {
			resumed = m
		}
	}
	// 2,000 rows in chunks of 500: 4 chunks, not one per file.
	if resumed == nil || resumed.Output.ReusedChunks < 2 || resumed.Output.ReusedChunks > 4 || resumed.RunID != clean.RunID {
		t.Fatalf("resumed manifest %+v", resumed)
	}
	booksBalance(t, resumed)
	sameFiles(t, "resumed version", readFiles(t, resumed.Output.Path), cleanFiles)
}
