package table

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/internal/crashpoint"
)

// The crash child: TestMain runs crashChild instead of the tests when
// crashStepEnv is set, so that the test binary is the process a crash
// point kills.
const (
	crashStepEnv    = "TABLE_CRASH_STEP"
	crashRootEnv    = "TABLE_CRASH_ROOT"
	crashVersionEnv = "TABLE_CRASH_VERSION"
)

// crashChild opens the table and takes one step of an execution; the
// armed crash point kills it on the way.
func crashChild() int {
	root, version := os.Getenv(crashRootEnv), os.Getenv(crashVersionEnv)
	tb, err := Open(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer tb.Close()
	switch os.Getenv(crashStepEnv) {
	case "publish":
		dir, err := tb.Stage(version)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "part-00000.parquet"), []byte("two"), 0o640)
		}
		if err == nil {
			err = tb.Publish(date, version)
		}
	case "manifest":
		_, err = tb.WriteManifest(date, version, []byte(`{"status":"new"}`))
	case "report":
		_, err = tb.WriteRunFile(date, version, ".report.html", []byte("new report"))
	case "prune":
		_, err = tb.DropRunFiles(date, version, true)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// An execution killed at each crash point of the table leaves what the
// Store contract says: a reader sees the old version or the new, whole,
// and the old manifest or report; the next Open removes the leftovers and
// the table publishes again.
func testCrashPoints(t *testing.T, k kind) {
	tests := []struct {
		point, step string
		current     string // what a reader sees current afterwards: "one" or "two"
	}{
		{"publish-renamed", "publish", "one"},
		{"publish-uploaded", "publish", "one"}, // a store that uploads; a folder never reaches it
		{"publish-swapped", "publish", "two"},
		{"manifest-temp", "manifest", "one"},
		{"report-temp", "report", "one"},
	}
	for _, tc := range tests {
		t.Run(tc.point, func(t *testing.T) {
			root := k.root(t)
			v1 := NewVersion(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
			tb := openRoot(t, root)
			publish(t, tb, v1, "one")
			for suffix, data := range map[string]string{".json": `{"status":"old"}`, ".report.html": "old report"} {
				if _, err := tb.WriteRunFile(date, v1, suffix, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			tb.Close()

			v2 := NewVersion(time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC))
			version := map[string]string{"publish": v2}[tc.step]
			if version == "" {
				version = v1
			}
			current := tc.current
			if tc.point == "publish-uploaded" && !k.uploads {
				current = "two" // the point is not on a folder's path: the publish completes
				runTo(t, tc.point, tc.step, root, version)
			} else {
				killAt(t, tc.point, tc.step, root, version)
			}

			want := map[string]string{"one": v1, "two": v2}[current]
			seen(t, k, root, want, current)
			r := k.reader(t, root)
			for suffix, old := range map[string]string{".json": `{"status":"old"}`, ".report.html": "old report"} {
				if data, err := r.runFile(date, v1+suffix); err != nil || string(data) != old {
					t.Errorf("a reader reads %s%s = %q, %v; want %q", v1, suffix, data, err, old)
				}
			}
			if data, err := r.runFile(date, v2+".json"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a manifest of the killed execution: %q, %v", data, err)
			}

			again := openRoot(t, root)
			if tc.step != "publish" && !hasTemp(again.stale) {
				t.Errorf("the next Open removed %v, want the temporary file in runs/%s", again.stale, date)
			}
			leftovers(t, again.Root)
			if v, err := again.Current(date); err != nil || v != want {
				t.Errorf("the reopened table's Current = %q, %v; want %s", v, err, want)
			}
			v3 := NewVersion(time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC))
			publish(t, again, v3, "three")
			seen(t, k, root, v3, "three")
		})
	}
}

// crashCmd is the crash child armed at point.
func crashCmd(point, step, root, version string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashStepEnv+"="+step, crashRootEnv+"="+root, crashVersionEnv+"="+version, crashpoint.Env+"="+point)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// runTo runs the crash child armed at a point it never reaches.
func runTo(t *testing.T, point, step, root, version string) {
	t.Helper()
	cmd, stderr := crashCmd(point, step, root, version)
	if err := cmd.Run(); err != nil {
		t.Fatalf("the child armed at %s: %v; stderr %s", point, err, stderr)
	}
}

// killAt runs the crash child at point and fails unless SIGKILL ended it.
func killAt(t *testing.T, point, step, root, version string) {
	t.Helper()
	cmd, stderr := crashCmd(point, step, root, version)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the child at %s was not killed: %v; stderr %s", point, err, stderr.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child at %s ended with %v, not SIGKILL; stderr %s", point, err, stderr.String())
	}
}

func hasTemp(removed []string) bool {
	for _, r := range removed {
		if strings.HasPrefix(r, filepath.Join("runs", date)+string(filepath.Separator)) && atomicfile.IsTemp(filepath.Base(r)) {
			return true
		}
	}
	return false
}

// leftovers fails the test if _staging or runs/<date> of the local folder
// root holds anything a killed execution left.
func leftovers(t *testing.T, root string) {
	t.Helper()
	if left, _ := os.ReadDir(filepath.Join(root, "_staging")); len(left) != 0 {
		t.Errorf("_staging holds %d entries after reopening", len(left))
	}
	runs, _ := os.ReadDir(filepath.Join(root, "runs", date))
	for _, e := range runs {
		if atomicfile.IsTemp(e.Name()) {
			t.Errorf("runs/%s/%s stays after reopening", date, e.Name())
		}
	}
}

// Retention killed between an old execution's reports and its manifest
// (prune-companions) leaves the manifest, which readers still read, and
// no report; dropping again removes the manifest.
func testCrashPrune(t *testing.T, k kind) {
	root := k.root(t)
	v1 := NewVersion(time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC))
	tb := openRoot(t, root)
	for _, suffix := range []string{".json", ".report.html", ".profile.json"} {
		if _, err := tb.WriteRunFile(date, v1, suffix, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	tb.Close()
	killAt(t, "prune-companions", "prune", root, v1)
	r := k.reader(t, root)
	if _, err := r.runFile(date, v1+".json"); err != nil {
		t.Errorf("killed before the manifest went, a reader cannot read it: %v", err)
	}
	for _, suffix := range []string{".report.html", ".profile.json"} {
		if data, err := r.runFile(date, v1+suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s%s survived the companions' removal: %q, %v", v1, suffix, data, err)
		}
	}
	again := openRoot(t, root)
	if ps, _ := again.DateManifests(date); len(ps) != 1 {
		t.Errorf("after the kill the date lists %v, want the manifest", ps)
	}
	if _, err := again.DropRunFiles(date, v1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := r.runFile(date, v1+".json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dropped again, the manifest stays: %v", err)
	}
}
