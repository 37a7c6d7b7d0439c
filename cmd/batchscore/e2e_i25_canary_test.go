package main

// End-to-end test of the canary: a share of the keys publishes the
// challenger's scores, stably.

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/batchscore/batchscore/jobs/report"
	"github.com/batchscore/batchscore/jobs/route"
)

// canaryRows reads a published version's rows: per key, its arm, score,
// label and model_version.
type canaryRow struct {
	arm, version string
	score        float64
	label        int64
}

func stringAt(t *testing.T, a arrow.Array, i int) string {
	t.Helper()
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Dictionary:
		return a.Dictionary().(*array.String).Value(a.GetValueIndex(i))
	}
	t.Fatalf("column is %T, not a string", a)
	return ""
}

func readCanaryRows(t *testing.T, table string) map[int64]canaryRow {
	t.Helper()
	tbl := readParquet(t, filepath.Join(table, "current", date20, "part-00000.parquet"))
	defer tbl.Release()
	ids := column(t, tbl, "customer_id").(*array.Int64)
	scores := float64s(t, column(t, tbl, "score"))
	labels := column(t, tbl, "label").(*array.Int64)
	arms, versions := column(t, tbl, "arm"), column(t, tbl, "model_version")
	out := map[int64]canaryRow{}
	for i := 0; i < ids.Len(); i++ {
		out[ids.Value(i)] = canaryRow{arm: stringAt(t, arms, i), version: stringAt(t, versions, i), score: scores[i], label: labels.Value(i)}
	}
	return out
}

func TestCanaryPublishesTheChallengerForItsShareOfKeys(t *testing.T) {
	const salt = "churn-2026-12"
	challenger := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  version: logreg-canary\n" +
		inputsBlock(t, "churn_logreg.yaml", "  ") + "\n  label: {output: label}\n  rollout: {share: 0.3, salt: " + salt + "}"
	tables := []string{filepath.Join(t.TempDir(), "scores"), filepath.Join(t.TempDir(), "scores")}
	var runs []map[int64]canaryRow
	for i, table := range tables {
		// The second run cuts the snapshot in other chunks.
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, chunkRows: []int{0, 777}[i], edit: appendSection(challenger)})
		if res := bs(t, "run", job, "--date", date20); res.code != 0 {
			t.Fatalf("run: %s", res)
		}
		m := onlyManifest(t, table, date20)
		booksBalance(t, m)
		c := m.Challenger
		if c == nil || c.Status != report.ChallengerCompared || c.Rollout == nil {
			t.Fatalf("challenger: %+v", c)
		}
		r := c.Rollout
		if r.Status != report.RolloutActive || r.Share != 0.3 || r.Salt != salt || r.FellBack != 0 ||
			r.Arms["challenger"] != r.Assigned || r.Arms["champion"]+r.Arms["challenger"] != m.Counts.Written {
			t.Errorf("rollout: %+v, written %d", r, m.Counts.Written)
		}
		rows := readCanaryRows(t, table)
		runs = append(runs, rows)

		// Every row is in the shadow table; the canary's rows publish the
		// challenger's score from it, the others the champion's.
		shadow := readParquet(t, filepath.Join(table, "current", date20, "_shadow", "part-00000.parquet"))
		ids := column(t, shadow, "customer_id").(*array.Int64)
		champ, chall := float64s(t, column(t, shadow, "champion_score")), float64s(t, column(t, shadow, "challenger_score"))
		if int64(ids.Len()) != m.Counts.Valid || len(rows) != ids.Len() {
			t.Fatalf("shadow rows %d, published %d, valid %d", ids.Len(), len(rows), m.Counts.Valid)
		}
		var inCanary int64
		for j := 0; j < ids.Len(); j++ {
			row := rows[ids.Value(j)]
			h, _ := route.KeyHash(salt, []arrow.Array{ids}, j)
			want, wantScore, wantVersion := "champion", champ[j], m.Model.Version
			if route.InCanary(h, 0.3) {
				want, wantScore, wantVersion = "challenger", chall[j], "logreg-canary"
				inCanary++
			}
			if row.arm != want || row.score != wantScore || row.version != wantVersion {
				t.Fatalf("key %d: arm %s score %v version %s; want %s %v %s", ids.Value(j), row.arm, row.score, row.version, want, wantScore, wantVersion)
			}
			// The label comes with the score: both models' labels are the
			// class whose probability passes one half.
			if (row.label == 1) != (row.score > 0.5) {
				t.Fatalf("key %d (%s): label %d with score %v", ids.Value(j), row.arm, row.label, row.score)
			}
		}
		shadow.Release()
		if inCanary != r.Assigned || inCanary == 0 || inCanary == m.Counts.Written {
			t.Errorf("%d keys hash into the canary, the manifest says %d of %d", inCanary, r.Assigned, m.Counts.Written)
		}
		if res := bs(t, "show", job, m.Version); res.code != 0 || !strings.Contains(res.stdout, "share 0.3, salt \""+salt) {
			t.Errorf("show: %s", res)
		}
		if res := bs(t, "runs", job); res.code != 0 || !strings.Contains(res.stdout, "champion="+strconv.FormatInt(r.Arms["champion"], 10)+",challenger="+strconv.FormatInt(r.Arms["challenger"], 10)) {
			t.Errorf("runs: %s", res)
		}
	}
	for k, a := range runs[0] {
		if b := runs[1][k]; a != b {
			t.Fatalf("key %d: %+v in one run, %+v in the rerun", k, a, b)
		}
	}
}
