package outcomes

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/internal/testkit/parquettest"
	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/io/table"
	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/trends"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// objectKeys lists the bucket's keys under the table's prefix.
func objectKeys(t *testing.T, url string) []string {
	t.Helper()
	bucketURL, key, _ := blob.Split(url)
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	objs, err := b.List(context.Background(), key+"/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(o.Key, key+"/")+" "+o.ETag)
	}
	slices.Sort(out)
	return out
}

// A table on S3 (MinIO): a version with a shadow table is published from
// one machine; another evaluates it (the version's and the shadow's files
// read from the bucket), its outcomes files go up to runs/<date>/ beside
// the manifest, a third machine's trends see the AUC and serve's Due no
// longer lists the date; nothing published changes.
func TestOutcomesOfATableOnS3(t *testing.T) {
	bucketURL := miniotest.Bucket(t)
	base, query, _ := strings.Cut(bucketURL, "?")
	url := base + "/tables/o?" + query
	const date, version = "2026-01-01", "20260101T010000.000Z-aa"
	ids := []int64{1, 2, 3, 4, 5, 6}
	scores := []float64{0.1, 0.4, 0.35, 0.8, 0.2, 0.9}
	shadow := []float64{0.9, 0.4, 0.35, 0.8, 0.2, 0.1}
	labels := []float64{0, 1, 0, 1, 0, 1}

	// The publishing machine.
	t.Setenv("BATCHSCORE_WORK_DIR", t.TempDir())
	tb, err := table.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	staged, err := tb.Stage(version)
	if err != nil {
		t.Fatal(err)
	}
	parquettest.WriteIDs(t, filepath.Join(staged, "part-00000.parquet"), ids, "score", scores, false)
	parquettest.WriteIDs(t, filepath.Join(staged, "_shadow", "part-00000.parquet"), ids, "challenger_score", shadow, false)
	if err := tb.Publish(date, version); err != nil {
		t.Fatal(err)
	}
	m := report.Manifest{Job: "o", LogicalDate: date, Version: version, RunID: "run-1", Status: report.StatusSucceeded,
		Model:      report.Model{Version: "m1"},
		Challenger: &report.Challenger{Model: report.Model{Version: "m2"}, Path: "versions/" + date + "/" + version + "/_shadow"},
		Output:     report.Output{Published: true, Files: []report.File{{Name: "part-00000.parquet", Rows: 6}}}}
	data, _ := json.Marshal(m)
	if _, err := tb.WriteManifest(date, version, data); err != nil {
		t.Fatal(err)
	}
	tb.Close()

	dir := t.TempDir()
	parquettest.WriteIDs(t, filepath.Join(dir, "labels", date, "l.parquet"), ids, "churned", labels, true)
	job, err := spec.Parse([]byte(`name: o
source: {parquet: snap/*.parquet}
model: {path: m.onnx, inputs: {x: [a]}, score: {output: y}}
output: {table: "`+url+`", keys: [customer_id]}
outcomes:
  labels: {parquet: "labels/{{ .Date }}/*.parquet"}
  label: churned
  horizon: 1d
`), dir)
	if err != nil {
		t.Fatal(err)
	}
	published := objectKeys(t, url)

	// Another machine: the date is due, then evaluated.
	t.Setenv("BATCHSCORE_WORK_DIR", t.TempDir())
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	if due, err := Due(job, now); err != nil || !slices.Equal(due, []string{date}) {
		t.Fatalf("due %v (%v), want [%s]", due, err, date)
	}
	rep, err := Evaluate(context.Background(), Request{Job: job, Date: date, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	// 9 of the 9 positive-negative pairs ranked right by the champion;
	// the challenger ranks 4 of them right (0.4 and 0.8 above 0.35 and
	// 0.2) and ties none.
	c := rep.Champion
	if c.RowsScored != 6 || c.Matched != 6 || c.AUC == nil || *c.AUC != 1 || c.ModelVersion != "m1" {
		t.Errorf("champion %+v", c)
	}
	if ch := rep.Challenger; ch == nil || ch.Matched != 6 || ch.AUC == nil || math.Abs(*ch.AUC-4.0/9) > 1e-12 || ch.ModelVersion != "m2" {
		t.Errorf("challenger %+v", rep.Challenger)
	}
	after := objectKeys(t, url)
	var added []string
	for _, k := range after {
		if !slices.Contains(published, k) {
			added = append(added, strings.Fields(k)[0])
		}
	}
	stamp := FilePrefix + now.Format(stampLayout)
	if want := []string{"runs/" + date + "/" + stamp + ".html", "runs/" + date + "/" + stamp + ".json"}; !slices.Equal(added, want) {
		t.Errorf("the evaluation added %v to the bucket, want %v (and changed nothing else)", added, want)
	}
	if len(after) != len(published)+2 {
		t.Errorf("objects before %v, after %v", published, after)
	}

	// A third machine: trends draw the AUC; nothing is due any more.
	t.Setenv("BATCHSCORE_WORK_DIR", t.TempDir())
	if due, err := Due(job, now.Add(24*time.Hour)); err != nil || len(due) != 0 {
		t.Errorf("due after the evaluation: %v (%v)", due, err)
	}
	j, err := trends.Collect(job, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Days) != 1 || j.Days[0].Outcome == nil || j.Days[0].Outcome.AUC == nil || *j.Days[0].Outcome.AUC != *c.AUC ||
		j.Days[0].Outcome.ChallengerAUC == nil || *j.Days[0].Outcome.ChallengerAUC != *rep.Challenger.AUC {
		t.Errorf("trends of the table on S3: days %+v, notes %v", j.Days, j.Notes)
	}
}

// A model without model.version is named as the trends pages name it, and
// a challenger never shares the champion's model_version: two series with
// the same labels would make Prometheus reject the whole scrape.
func TestModelVersionsApart(t *testing.T) {
	job, err := spec.Parse([]byte(`name: o
source: {parquet: snap/*.parquet}
model: {path: m.onnx, inputs: {x: [a]}, score: {output: y}}
output: {table: out, keys: [customer_id]}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sha := "sha256:0123456789abcdef0123"
	e := &evaluation{job: job, m: &report.Manifest{Model: report.Model{SHA256: sha},
		Challenger: &report.Challenger{Model: report.Model{SHA256: sha}}}}
	j := &joined{score: []float64{0.2, 0.8, 0.6}, chall: []float64{0.3, 0.7, 0.4}, label: []bool{false, true, false}}
	rep := &Report{Job: "o", Date: "2026-01-01", Champion: e.metrics(j, []int{0, 1, 2}, false, 3, 3), Challenger: e.metrics(j, []int{0, 1, 2}, true, 3, 3)}
	if rep.Champion.ModelVersion != "sha256:0123456789ab" || rep.Challenger.ModelVersion != "sha256:0123456789ab (challenger)" {
		t.Errorf("model versions %q and %q", rep.Champion.ModelVersion, rep.Challenger.ModelVersion)
	}
	seen := map[string]bool{}
	for _, s := range rep.Samples() {
		k := s.Name + "|" + s.ModelVersion
		if seen[k] {
			t.Errorf("two samples %s", k)
		}
		seen[k] = true
	}
}

// A PII column cannot segment: its values would show unmasked.
func TestPIISegmentRefused(t *testing.T) {
	job, err := spec.Parse([]byte(`name: o
source: {parquet: snap/*.parquet}
model: {path: m.onnx, inputs: {x: [a]}, score: {output: y}}
output: {table: out, keys: [customer_id]}
validation:
  columns:
    email: {type: string, pii: true}
outcomes:
  labels: {parquet: "labels/*.parquet"}
  label: churned
  horizon: 1d
  segments: [region, email]
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Evaluate(context.Background(), Request{Job: job, Date: "2026-01-01"})
	if !errors.Is(err, spec.ErrInvalid) || !strings.Contains(err.Error(), `column "email" is pii`) {
		t.Errorf("a pii segment: %v, want spec.ErrInvalid naming email", err)
	}
}
