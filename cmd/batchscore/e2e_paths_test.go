package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dates, versions and run ids cannot name a path outside the table: the
// date must be YYYY-MM-DD, and versions and run ids are made by
// batchscore. The table's own path is the user's choice, ".." included.
func TestPathArgumentsCannotEscape(t *testing.T) {
	tmp := t.TempDir()
	table := filepath.Join(tmp, "a", "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	for _, args := range [][]string{
		{"run", job, "--date", "../../x"},
		{"run", job, "--date", "2026-11-20/../../x"},
		{"run", job, "--date", "2026-11-20/.."},
		{"run", job, "--from", "../x", "--to", date20},
		{"validate", job, "--date", "../../x"},
	} {
		res := bs(t, args...)
		if res.code != 2 || !strings.Contains(res.messages(), "--") {
			t.Errorf("%v: exit %d, want 2 naming the flag\n%s", args[2:], res.code, res)
		}
	}
	if entries := listDir(t, tmp); len(entries) != 0 {
		t.Errorf("a refused date left %v in %s", entries, tmp)
	}

	dotted := filepath.Join(tmp, "a", "b", "..", "scores") // the same table, spelled with ..
	job = writeJob(t, "churn_nightly.yaml", jobOpts{table: dotted})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("output.table with ..: %s", res)
	}
	if currentVersion(t, table, date20) == "" {
		t.Errorf("no current version under %s", table)
	}
}

// TestPathSymlinksPlantedInTheTable plants symlinks to a folder outside
// the table where batchscore writes: it must refuse to follow them, say
// which one, and write nothing outside.
func TestPathSymlinksPlantedInTheTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		plant string
		code  int // 1: refused; 0: replaced, as current/<date> is
	}{
		{"runs", 1},
		{"runs/" + date20, 1},
		{"versions", 1},
		{"versions/" + date20, 1},
		{"current", 1},
		{"_staging", 1},
		{"current/" + date20, 0},
		{"_resume", 1},
		{"_locks", 1},
	}
	for _, tc := range tests {
		t.Run(tc.plant, func(t *testing.T) {
			t.Parallel()
			table := filepath.Join(t.TempDir(), "scores")
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
			if res := bs(t, "run", job, "--date", date20); res.code != 0 {
				t.Fatalf("first run: %s", res)
			}
			elsewhere := t.TempDir()
			target := elsewhere
			if tc.plant == "current/"+date20 {
				// Looks like a version folder, named like one.
				target = filepath.Join(elsewhere, currentVersion(t, table, date20))
				if err := os.Mkdir(target, 0o750); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(table, tc.plant)
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}

			for _, args := range [][]string{
				{"run", job, "--date", date20, "--force"},
				{"run", job, "--date", date20}, // already current, or not
				{"validate", job, "--date", date20},
			} {
				res := bs(t, args...)
				var outside []string
				filepath.Walk(elsewhere, func(p string, info os.FileInfo, err error) error {
					if err == nil && p != elsewhere && p != target {
						outside = append(outside, strings.TrimPrefix(p, elsewhere))
					}
					return nil
				})
				if len(outside) > 0 {
					t.Errorf("%v wrote %v outside the table", args[:1], outside)
				}
				if res.code != tc.code {
					t.Errorf("%v: exit %d, want %d\n%s", args[:1], res.code, tc.code, res)
				}
				if tc.code != 0 && (!strings.Contains(res.messages(), tc.plant+" is a symlink to "+elsewhere) || !strings.Contains(res.messages(), "outside the result table")) {
					t.Errorf("%v: the error does not name %s and where it leads\n%s", args[:1], tc.plant, res)
				}
			}
			if tc.code == 0 {
				if cur := currentVersion(t, table, date20); cur == "" {
					t.Error("current/ was not replaced by a link into versions/")
				}
			}
		})
	}
}
