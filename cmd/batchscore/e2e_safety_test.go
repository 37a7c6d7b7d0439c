package main

// End-to-end tests of the safe-model-change features: a challenger scored
// in shadow, fallback scoring, the review queue.

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/report"
)

// inputsBlock is a config's model inputs and score lines, from "  inputs:"
// to "  score:", ready to follow a challenger's or fallback model's path.
func inputsBlock(t *testing.T, config, indent string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", config))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "  inputs:") {
			in = true
		}
		if in {
			out = append(out, indent+strings.TrimPrefix(line, "  "))
		}
		if in && strings.HasPrefix(line, "  score:") {
			break
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no model inputs", config)
	}
	return strings.Join(out, "\n")
}

// appendSection adds a top-level section to a job file.
func appendSection(section string) func(string) string {
	return func(text string) string { return strings.TrimRight(text, "\n") + "\n" + section + "\n" }
}

// onlyManifest is the manifest of the one execution of a date.
func onlyManifest(t *testing.T, table, date string) *report.Manifest {
	t.Helper()
	ms := manifests(t, table, date)
	if len(ms) != 1 {
		t.Fatalf("%d manifests for %s, want 1", len(ms), date)
	}
	for _, m := range ms {
		return m
	}
	return nil
}

// booksBalance: read = valid + quarantined; valid = scored + fallback =
// written.
func booksBalance(t *testing.T, m *report.Manifest) {
	t.Helper()
	c := m.Counts
	if c.Read != c.Valid+c.Quarantined || c.Valid != c.Scored+c.Fallback || (m.Output.Published && c.Written != c.Valid) {
		t.Errorf("books do not balance: %+v", c)
	}
}

func float64s(t *testing.T, a arrow.Array) []float64 {
	t.Helper()
	c, ok := a.(*array.Float64)
	if !ok {
		t.Fatalf("column is %T, not float64", a)
	}
	return c.Float64Values()
}

func TestChallengerIdenticalToChampion(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_gbm.onnx")) + "\n  version: gbm-twin\n" + inputsBlock(t, "churn_nightly.yaml", "  ")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(challenger)})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	m := onlyManifest(t, table, date20)
	booksBalance(t, m)
	c := m.Challenger
	if c == nil || c.Status != report.ChallengerCompared {
		t.Fatalf("challenger: %+v", c)
	}
	if c.Rows != m.Counts.Valid || c.MeanAbsDiff != 0 || c.MaxAbsDiff != 0 || c.Spearman != 1 || c.TopDecileOverlap != 1 || c.Flipped != 0 {
		t.Errorf("a challenger equal to the champion differs: %+v", c)
	}
	shadow := readParquet(t, filepath.Join(table, "current", date20, "_shadow", "part-00000.parquet"))
	defer shadow.Release()
	if shadow.NumRows() != m.Counts.Valid {
		t.Errorf("shadow table has %d rows, want %d", shadow.NumRows(), m.Counts.Valid)
	}
	if got := column(t, shadow, "model_version"); got.(*array.String).Value(0) != "gbm-twin" {
		t.Errorf("shadow rows carry the challenger's version, got %v", got)
	}
	// The shadow scores never reach the published scores' files.
	for _, f := range listDir(t, filepath.Join(table, "current", date20)) {
		if strings.HasSuffix(f, ".parquet") {
			tbl := readParquet(t, filepath.Join(table, "current", date20, f))
			if tbl.Schema().HasField("challenger_score") {
				t.Errorf("%s holds challenger scores", f)
			}
			tbl.Release()
		}
	}
}

func TestChallengerDifferentModel(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  threshold: 0.3\n" + inputsBlock(t, "churn_logreg.yaml", "  ")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(challenger)})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	m := onlyManifest(t, table, date20)
	booksBalance(t, m)
	c := m.Challenger
	if c == nil || c.Status != report.ChallengerCompared {
		t.Fatalf("challenger: %+v", c)
	}
	// Recompute the comparison from the shadow table.
	shadow := readParquet(t, filepath.Join(c.Path, "part-00000.parquet"))
	defer shadow.Release()
	champ, chall := float64s(t, column(t, shadow, "champion_score")), float64s(t, column(t, shadow, "challenger_score"))
	var sum, worst float64
	var flipped, up int64
	for i := range champ {
		d := math.Abs(champ[i] - chall[i])
		sum += d
		worst = max(worst, d)
		if (champ[i] >= 0.3) != (chall[i] >= 0.3) {
			flipped++
			if chall[i] >= 0.3 {
				up++
			}
		}
	}
	if math.Abs(sum/float64(len(champ))-c.MeanAbsDiff) > 1e-9 || worst != c.MaxAbsDiff || flipped != c.Flipped || up != c.FlippedUp {
		t.Errorf("manifest %+v; recomputed mean %v max %v flipped %d up %d", c, sum/float64(len(champ)), worst, flipped, up)
	}
	if c.MeanAbsDiff == 0 || c.Spearman >= 1 || c.Spearman < 0.3 || c.TopDecileOverlap <= 0 || c.TopDecileOverlap >= 1 {
		t.Errorf("two different churn models should agree in part: %+v", c)
	}
	var n int64
	for _, b := range c.Histogram {
		n += b.Challenger
	}
	if n != c.SampleRows {
		t.Errorf("histogram counts %d challenger scores, want %d", n, c.SampleRows)
	}
	html, err := os.ReadFile(m.Validation.ReportHTML)
	if err != nil || !strings.Contains(string(html), "Challenger") {
		t.Errorf("the HTML report has no challenger section (%v)", err)
	}
}

func TestChallengerThatFailsNeverFailsTheRun(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	garbage := filepath.Join(t.TempDir(), "broken.onnx")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	challenger := "challenger:\n  path: " + strconv.Quote(garbage) + "\n" + inputsBlock(t, "churn_nightly.yaml", "  ")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(challenger)})
	res := bs(t, "run", job, "--date", date20)
	if res.code != 0 {
		t.Fatalf("a challenger that cannot load failed the run: %s", res)
	}
	m := onlyManifest(t, table, date20)
	booksBalance(t, m)
	if c := m.Challenger; c == nil || c.Status != report.ChallengerFailed || !strings.Contains(c.Error, "broken.onnx") {
		t.Fatalf("challenger: %+v", m.Challenger)
	}
	if _, err := os.Stat(filepath.Join(table, "current", date20, "_shadow")); !os.IsNotExist(err) {
		t.Errorf("a failed challenger left a shadow table (%v)", err)
	}
	if !m.Output.Published || m.Counts.Written != m.Counts.Valid {
		t.Errorf("the champion's scores were not published: %+v", m.Output)
	}
}

// scoresByKey reads a version folder's part-00000.parquet: customer_id →
// score and score_source ("" without one).
func scoresByKey(t *testing.T, dir string) (map[int64]float64, map[int64]string) {
	t.Helper()
	tbl := readParquet(t, filepath.Join(dir, "part-00000.parquet"))
	defer tbl.Release()
	ids := column(t, tbl, "customer_id").(*array.Int64)
	scores := float64s(t, column(t, tbl, "score"))
	var sources *array.String
	if tbl.Schema().HasField("score_source") {
		sources = column(t, tbl, "score_source").(*array.String)
	}
	byKey, source := map[int64]float64{}, map[int64]string{}
	for i := 0; i < ids.Len(); i++ {
		byKey[ids.Value(i)] = scores[i]
		if sources != nil {
			source[ids.Value(i)] = sources.Value(i)
		}
	}
	return byKey, source
}

func TestFallbackCarriesForwardWhenTheModelIsCorrupt(t *testing.T) {
	table := filepath.Join(t.TempDir(), "scores")
	fallback := "fallback:\n  kind: carry_forward\n  value: 0.5\n  max_fallback_fraction: 1\n"
	good := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(fallback)})
	if res := bs(t, "run", good, "--date", date19); res.code != 0 {
		t.Fatalf("run %s: %s", date19, res)
	}
	before := onlyManifest(t, table, date19)
	if before.Fallback == nil || before.Fallback.Rows != 0 || before.Counts.Fallback != 0 {
		t.Fatalf("a healthy model used the fallback: %+v", before.Fallback)
	}
	yesterday, sources := scoresByKey(t, before.Output.Path)
	for id, s := range sources {
		if s != "model" {
			t.Fatalf("customer %d: score_source %q, want model", id, s)
		}
	}

	corrupt := filepath.Join(t.TempDir(), "churn_gbm.onnx")
	model, err := os.ReadFile(modelPath(t, "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	copy(model[len(model)/3:], strings.Repeat("\xff", 4096)) // garbage inside the graph
	if err := os.WriteFile(corrupt, model, 0o644); err != nil {
		t.Fatal(err)
	}
	broken := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, model: corrupt, edit: appendSection(fallback)})
	res := bs(t, "run", broken, "--date", date20)
	if res.code != 0 {
		t.Fatalf("carry-forward fallback run: %s", res)
	}
	m := onlyManifest(t, table, date20)
	booksBalance(t, m)
	f := m.Fallback
	if m.Model.Error == "" || f == nil || f.Rows != m.Counts.Valid || f.Triggers["model_load"] != m.Counts.Valid || m.Counts.Scored != 0 || f.CarriedFrom != before.Version {
		t.Fatalf("model error %q, fallback %+v, counts %+v", m.Model.Error, f, m.Counts)
	}
	today, sources := scoresByKey(t, m.Output.Path)
	carried, defaulted := 0, 0
	for id, score := range today {
		if sources[id] != "fallback:carry_forward" {
			t.Fatalf("customer %d: score_source %q", id, sources[id])
		}
		if want, ok := yesterday[id]; ok {
			carried++
			if score != want {
				t.Fatalf("customer %d: carried %v, yesterday's score was %v", id, score, want)
			}
		} else {
			defaulted++
			if score != 0.5 {
				t.Fatalf("customer %d has no earlier score: got %v, want fallback.value 0.5", id, score)
			}
		}
	}
	if carried == 0 {
		t.Fatal("no customer of today was scored yesterday: the test proves nothing")
	}
	t.Logf("%d scores carried forward, %d defaulted", carried, defaulted)

	// Over max_fallback_fraction: exit 3 and nothing changes.
	strict := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, model: corrupt,
		edit: appendSection(strings.Replace(fallback, "max_fallback_fraction: 1", "max_fallback_fraction: 0.5", 1))})
	state := snapshotTable(t, table, date20)
	res = bs(t, "run", strict, "--date", date20, "--force")
	if res.code != 3 || !strings.Contains(res.messages(), "max_fallback_fraction") {
		t.Fatalf("over the fallback limit: want exit 3 naming max_fallback_fraction, got %s", res)
	}
	state.unchanged(t, table, date20)
}

func TestFallbackReplacesNaNScores(t *testing.T) {
	root := t.TempDir()
	dir := copySamples(t, root, date20)
	const row = 5
	rewriteSnapshot(t, dir, func(name string, rec arrow.Record) arrow.Record {
		if name != "part-0.parquet" && name != listDir(t, dir)[0] {
			return nil
		}
		arr := mapFloat64(t, float64Column(t, rec, "monthly_charges"), array.NewFloat64Builder(memory.DefaultAllocator), func(b *array.Float64Builder, i int, v float64) {
			if i == row {
				v = math.NaN()
			}
			b.Append(v)
		})
		return replaceColumn(t, rec, "monthly_charges", arr, arrow.PrimitiveTypes.Float64)
	})
	source := filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
	table := filepath.Join(t.TempDir(), "scores")

	// Without a fallback, a NaN score stops the run.
	plain := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, source: source})
	if res := bs(t, "run", plain, "--date", date20); res.code != 3 {
		t.Fatalf("NaN score without a fallback: want exit 3, got %s", res)
	}
	job := writeJob(t, "churn_logreg.yaml", jobOpts{table: table, source: source,
		edit: appendSection("fallback: {kind: constant, value: 0.25, max_fallback_fraction: 0.01}")})
	res := bs(t, "run", job, "--date", date20)
	if res.code != 0 {
		t.Fatalf("constant fallback: %s", res)
	}
	var m *report.Manifest
	for _, x := range manifests(t, table, date20) {
		if x.Status == report.StatusSucceeded {
			m = x
		}
	}
	booksBalance(t, m)
	if m.Counts.Fallback != 1 || m.Fallback.Triggers["nan"] != 1 || m.Counts.Scored != m.Counts.Valid-1 {
		t.Fatalf("counts %+v, fallback %+v", m.Counts, m.Fallback)
	}
	tbl := readParquet(t, filepath.Join(m.Output.Path, "part-00000.parquet"))
	defer tbl.Release()
	scores := float64s(t, column(t, tbl, "score"))
	sources := column(t, tbl, "score_source").(*array.String)
	for i := range scores {
		want := "model"
		if i == row {
			want = "fallback:constant"
			if scores[i] != 0.25 {
				t.Errorf("row %d: score %v, want the constant 0.25", i, scores[i])
			}
		}
		if sources.Value(i) != want {
			t.Errorf("row %d: score_source %q, want %q", i, sources.Value(i), want)
		}
	}
}

func TestReviewRoutesTheBandEdgesIn(t *testing.T) {
	plainTable := filepath.Join(t.TempDir(), "plain")
	plain := writeJob(t, "churn_nightly.yaml", jobOpts{table: plainTable})
	if res := bs(t, "run", plain, "--date", date20); res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	scores, _ := scoresByKey(t, onlyManifest(t, plainTable, date20).Output.Path)
	sorted := make([]float64, 0, len(scores))
	for _, s := range scores {
		sorted = append(sorted, s)
	}
	slices.Sort(sorted)
	lo, hi := sorted[len(sorted)*2/5], sorted[len(sorted)*3/5]
	format := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

	table := filepath.Join(t.TempDir(), "scores")
	review := "review:\n  band: [" + format(lo) + ", " + format(hi) + "]\n  min_confidence: 0.6\n  out_of_range: true\n"
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, edit: appendSection(review)})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run with review: %s", res)
	}
	m := onlyManifest(t, table, date20)
	booksBalance(t, m)
	published, _ := scoresByKey(t, m.Output.Path)
	if len(published) != len(scores) {
		t.Fatalf("review took rows out of the published scores: %d of %d", len(published), len(scores))
	}

	tbl := readParquet(t, filepath.Join(m.Review.Path, "part-00000.parquet"))
	defer tbl.Release()
	ids := column(t, tbl, "customer_id").(*array.Int64)
	reasons := column(t, tbl, "reasons").(*array.String)
	routed := map[int64][]string{}
	counts := map[string]int64{}
	for i := 0; i < ids.Len(); i++ {
		why := strings.Split(reasons.Value(i), ",")
		routed[ids.Value(i)] = why
		for _, w := range why {
			counts[w]++
		}
	}
	if int64(len(routed)) != m.Review.Rows || len(counts) != len(m.Review.Reasons) {
		t.Fatalf("review table: %d rows, reasons %v; manifest %+v", len(routed), counts, m.Review)
	}
	for k, n := range m.Review.Reasons {
		if counts[k] != n {
			t.Errorf("reason %s: %d rows in the table, %d in the manifest", k, counts[k], n)
		}
	}
	edges := 0
	for id, s := range scores {
		inBand := s >= lo && s <= hi
		if inBand != slices.Contains(routed[id], "band") {
			t.Errorf("customer %d score %v: in band [%v, %v] %v, routed for band %v", id, s, lo, hi, inBand, routed[id])
		}
		if s == lo || s == hi {
			edges++
		}
		if conf := max(s, 1-s); math.Abs(conf-0.6) > 1e-6 && (conf < 0.6) != slices.Contains(routed[id], "low_confidence") {
			t.Errorf("customer %d: confidence %v, reasons %v", id, conf, routed[id])
		}
	}
	if edges < 2 || counts["band"] == 0 || counts["low_confidence"] == 0 {
		t.Errorf("edges seen %d, counts %v: the test proves little", edges, counts)
	}
}
