package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/batchscore/batchscore/jobs/report"
)

const bigRows = 600_000

// TestCrashNeverExposesPartialVersions interrupts and kills executions
// while they write, and checks that readers only ever see the previous
// current version, byte for byte, and that the next run publishes.
func TestCrashNeverExposesPartialVersions(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	table := filepath.Join(tmp, "scores")

	// A big snapshot for the same date, so that writing takes seconds.
	bigRoot := filepath.Join(tmp, "big")
	if res := runWith(t, gensnapshot, baseEnv(), "--date", date20, "--rows", strconv.Itoa(bigRows), "--files", "3", "--out", bigRoot, "-q"); res.code != 0 {
		t.Fatalf("gensnapshot failed\n%s", res)
	}
	small := writeJob(t, "churn_nightly.yaml", jobOpts{table: table})
	big := writeJob(t, "churn_nightly.yaml", jobOpts{
		table: table, chunkRows: 4096,
		source: filepath.Join(bigRoot, "snapshot_date={{ .Date }}", "*.parquet"),
		// 300 times the first version's rows is no data problem here.
		edit: func(s string) string { return removeLine(t, s, "    max_row_change_pct: 50") },
	})

	// The version readers rely on.
	if res := bs(t, "run", small, "--date", date20); res.code != 0 {
		t.Fatalf("first run failed\n%s", res)
	}
	before := snapshotTable(t, table, date20)
	if before.current == "" {
		t.Fatal("no current version after the first run")
	}

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String()+" while staging", func(t *testing.T) {
			reader := watchCurrent(t, table, date20, before)
			p := startRun(t, big, table)
			staged := p.waitForStagedPart(t, table)
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := p.wait(t)
			reader.stop(t)
			if code != 130 {
				t.Fatalf("exit %d after %s, want 130\nstderr:\n%s", code, sig, clip(stderr))
			}
			m := parseManifest(t, []byte(stdout))
			if m.Status != report.StatusInterrupted || m.ExitCode != 130 || m.Output.Published {
				t.Errorf("--json manifest: status %q exit_code %d published %v, want interrupted 130 false", m.Status, m.ExitCode, m.Output.Published)
			}
			if filepath.Base(filepath.Dir(staged)) != m.Version {
				t.Errorf("staged into %s, but the manifest is for version %s", staged, m.Version)
			}
			stored := manifests(t, table, date20)[m.Version]
			if stored == nil {
				t.Errorf("no manifest under runs/%s for the interrupted version %s", date20, m.Version)
			} else if stored.Status != report.StatusInterrupted || stored.ExitCode != 130 {
				t.Errorf("runs/ manifest: status %q exit_code %d, want interrupted 130", stored.Status, stored.ExitCode)
			}
			before.unchanged(t, table, date20)
			if left := listDir(t, filepath.Join(table, "_staging")); len(left) != 0 {
				t.Errorf("_staging holds %v after an interrupted run", left)
			}
		})
	}

	t.Run("SIGKILL while staging", func(t *testing.T) {
		reader := watchCurrent(t, table, date20, before)
		p := startRun(t, big, table)
		staged := p.waitForStagedPart(t, table)
		// Let it write some row groups into the part file before the kill.
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if st, err := os.Stat(staged); err == nil && st.Size() > 256<<10 {
				break
			}
			if p.exited() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := p.wait(t)
		reader.stop(t)
		if code != -1 {
			t.Fatalf("the run ended with exit %d before SIGKILL reached it\nstderr:\n%s", code, clip(stderr))
		}
		before.unchanged(t, table, date20)
		for v, m := range manifests(t, table, date20) {
			if v != before.current && m.Status == report.StatusSucceeded {
				t.Errorf("a killed run left a succeeded manifest for %s", v)
			}
		}
	})

	t.Run("next run publishes", func(t *testing.T) {
		start := time.Now()
		res := bs(t, "run", big, "--date", date20, "--json")
		t.Logf("scoring %d rows took %v", bigRows, time.Since(start).Round(time.Millisecond))
		if res.code != 0 {
			t.Fatalf("the run after a crash failed\n%s", res)
		}
		m := parseManifest(t, []byte(res.stdout))
		checkSucceededManifest(t, m, table, date20, bigRows)
		if m.Version == before.current {
			t.Fatalf("the new run reused version %s", m.Version)
		}
		if got, want := listDir(t, filepath.Join(table, "versions", date20)), []string{before.current, m.Version}; !slices.Equal(got, want) {
			t.Errorf("versions/%s: %v, want %v", date20, got, want)
		}
		// The first version is still readable as it was.
		sameFiles(t, "first version", readFiles(t, filepath.Join(table, "versions", date20, before.current)), before.files)
	})
}

// ---------------------------------------------------------------------------

// watcher reads current/<date> in a loop while a run is under way, as an
// analyst's query would, and records anything but the expected files.
type watcher struct {
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  []string
	reads int
}

func watchCurrent(t *testing.T, table, date string, want tableState) *watcher {
	w := &watcher{done: make(chan struct{})}
	link := filepath.Join(table, "current", date)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.done:
				return
			default:
			}
			target, err := os.Readlink(link)
			if err != nil || filepath.Base(target) != want.current {
				w.fail("current/" + date + " -> " + target + " (" + errString(err) + ")")
			}
			for name, b := range want.files {
				got, err := os.ReadFile(filepath.Join(link, name))
				if err != nil || !bytes.Equal(got, b) {
					w.fail("reading current/" + date + "/" + name + ": " + errString(err) + " or changed content")
				}
			}
			w.mu.Lock()
			w.reads++
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return w
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func (w *watcher) fail(msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 5 {
		w.errs = append(w.errs, msg)
	}
}

func (w *watcher) stop(t *testing.T) {
	t.Helper()
	close(w.done)
	w.wg.Wait()
	for _, e := range w.errs {
		t.Errorf("a reader saw: %s", e)
	}
	if w.reads == 0 {
		t.Error("the reader never read current during the run")
	}
}

// process is a run started in the background.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	waited         chan struct{}
	err            error
	oldStaging     []string
	watched        []*tableWatch // the tables its job file names, for xitongsys
}

func startRun(t *testing.T, job, table string) *process {
	t.Helper()
	return startWith(t, ortEnv(t), table, "run", job, "--date", date20, "--json")
}

func (p *process) exited() bool {
	select {
	case <-p.waited:
		return true
	default:
		return false
	}
}

// waitForStagedPart polls until the run has created its first staged
// result file and returns its path. Staging folders that were there before
// the run started (left by a killed run) are not this run's.
func (p *process) waitForStagedPart(t *testing.T, table string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for {
		var matches []string
		all, _ := filepath.Glob(filepath.Join(table, "_staging", "*", "part-00000.parquet"))
		for _, m := range all {
			if !slices.Contains(p.oldStaging, filepath.Base(filepath.Dir(m))) {
				matches = append(matches, m)
			}
		}
		if len(matches) == 1 {
			return matches[0]
		}
		if len(matches) > 1 {
			t.Fatalf("several staged runs: %v", matches)
		}
		if p.exited() {
			t.Fatalf("the run ended before staging a file: %v\nstderr:\n%s", p.err, clip(p.stderr.String()))
		}
		select {
		case <-ctx.Done():
			_ = p.cmd.Process.Kill()
			<-p.waited
			t.Fatalf("no staged part file after 90s\nstderr:\n%s", clip(p.stderr.String()))
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// wait returns the exit code (-1 when killed by a signal), stdout and stderr.
func (p *process) wait(t *testing.T) (int, string, string) {
	t.Helper()
	select {
	case <-p.waited:
	case <-time.After(2 * time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.waited
		t.Fatalf("the run did not end within 2 minutes of the signal\nstderr:\n%s", clip(p.stderr.String()))
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		code = ee.ExitCode()
	} else if p.err != nil {
		t.Fatal(p.err)
	}
	for _, w := range p.watched {
		w.checkPublished(t)
	}
	return code, p.stdout.String(), p.stderr.String()
}
