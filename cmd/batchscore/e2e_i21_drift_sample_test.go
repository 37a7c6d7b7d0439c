package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A Parquet snapshot of more than 2^18 rows counts its drift histograms on
// a sample seeded by its fingerprint: through the binary, the report says
// so for every numeric drifted column (categories are counted exactly), and a forced rerun of the same snapshot
// gives the same PSI to the last digit.
func TestI21DriftSampleThroughTheBinary(t *testing.T) {
	t.Parallel()
	const rows = 300_000
	tmp := t.TempDir()
	snap := filepath.Join(tmp, "snap")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", strconv.Itoa(rows), "--files", "2", "--out", snap, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	job := writeJob(t, "churn_nightly.yaml", jobOpts{
		table:  filepath.Join(tmp, "scores"),
		source: filepath.Join(snap, "snapshot_date={{ .Date }}", "*.parquet"),
		edit:   func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") },
	})
	psi := map[string]float64{}
	for round := range 2 {
		res := bs(t, "run", job, "--date", date20, "--force", "--json")
		if res.code != 0 {
			t.Fatalf("run %d: exit %d\n%s", round, res.code, res.stderr)
		}
		r := readReport(t, parseManifest(t, []byte(res.stdout)))
		drifted := 0
		for _, c := range r.Columns {
			if c.Drift == nil || len(c.Drift.Bins) == 0 {
				continue
			}
			drifted++
			sampled := strings.Contains(c.Drift.Binning, "seeded sample of")
			if numeric := c.Type != "string" && c.Type != "bool"; sampled != numeric { // categories are counted exactly
				t.Errorf("run %d, %s column %s: binning %q", round, c.Type, c.Name, c.Drift.Binning)
			}
			if round == 0 {
				psi[c.Name] = c.Drift.PSI
			} else if got := c.Drift.PSI; got != psi[c.Name] {
				t.Errorf("column %s: PSI %v on the rerun, %v before", c.Name, got, psi[c.Name])
			}
		}
		if drifted == 0 {
			t.Fatalf("run %d: no column has drift bins", round)
		}
	}
}
