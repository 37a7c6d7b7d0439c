package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// jobsOwnedModes are created by package jobs before or around io/table,
// still with 0755/0644; each is reported, not failed, until jobs creates
// them 0750/0640 (then delete the entry).
var jobsOwnedModes = map[*regexp.Regexp]string{}

// TestPermissionsOfEverythingWritten runs a published run with quarantined
// rows, a run the quality gate stops (its rejected rows are kept beside
// the manifest) and a validate run, under the common umask 022, and stats
// every folder and file under the table: result rows, quarantined rows,
// reports and manifests are for the owner and group only.
func TestPermissionsOfEverythingWritten(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")
	umask022 := func(args ...string) result {
		t.Helper()
		return runWith(t, "/bin/sh", ortEnv(t), append([]string{"-c", `umask 022 && exec "$0" "$@"`, batchscore}, args...)...)
	}

	few := filepath.Join(tmp, "few")
	spoilCharges(t, few, 10)
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(few, "snapshot_date={{ .Date }}", "*.parquet")})
	if res := umask022("run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run with 10 rejected rows: %s", res)
	}
	many := filepath.Join(tmp, "many")
	spoilCharges(t, many, 400)
	gated := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: filepath.Join(many, "snapshot_date={{ .Date }}", "*.parquet")})
	if res := umask022("run", gated, "--date", date20); res.code != 3 {
		t.Fatalf("gated run: exit %d, want 3\n%s", res.code, res)
	}
	if res := umask022("validate", job, "--date", date20); res.code != 0 {
		t.Fatalf("validate: %s", res)
	}

	seen := map[string]int{}
	err := filepath.WalkDir(table, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(table, path)
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		var want fs.FileMode
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			return nil // a link's own mode means nothing; its target is checked
		case info.IsDir():
			want = 0o750
		default:
			want = 0o640
		}
		kind := kindOf(rel, info.IsDir())
		seen[kind]++
		got := info.Mode().Perm()
		if kind == "other" && got&^want == 0 {
			return nil // stricter is fine for files no reader needs (checkpoints, locks)
		}
		if got != want {
			for re, why := range jobsOwnedModes {
				if re.MatchString(rel) {
					t.Logf("%s: mode %v, want %v; pending %s", rel, got, want, why)
					return nil
				}
			}
			t.Errorf("%s (%s): mode %v, want %v", rel, kind, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"result file", "published quarantine file", "kept quarantine file", "manifest", "report", "profile", "folder"} {
		if seen[kind] == 0 {
			t.Errorf("no %s was written: the runs did not cover it (saw %v)", kind, seen)
		}
	}
	t.Logf("checked %v", seen)
}

var (
	reResult     = regexp.MustCompile(`^versions/[^/]+/[^/]+/part-\d+\.parquet$`)
	rePublishedQ = regexp.MustCompile(`^versions/[^/]+/[^/]+/_quarantine/part-\d+\.parquet$`)
	reKeptQ      = regexp.MustCompile(`^runs/[^/]+/[^/]+\.quarantine/part-\d+\.parquet$`)
	reManifest   = regexp.MustCompile(`^runs/[^/]+/[^/.]+\.[^/.]+\.json$`)
	reReport     = regexp.MustCompile(`^runs/[^/]+/[^/]+\.report\.(json|html)$`)
	reProfile    = regexp.MustCompile(`^runs/[^/]+/[^/]+\.profile\.json$`)
)

func kindOf(rel string, dir bool) string {
	switch {
	case dir:
		return "folder"
	case reResult.MatchString(rel):
		return "result file"
	case rePublishedQ.MatchString(rel):
		return "published quarantine file"
	case reKeptQ.MatchString(rel):
		return "kept quarantine file"
	case reManifest.MatchString(rel):
		return "manifest"
	case reReport.MatchString(rel):
		return "report"
	case reProfile.MatchString(rel):
		return "profile"
	}
	return "other"
}
