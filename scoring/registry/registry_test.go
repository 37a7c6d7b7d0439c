package registry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time that moves one minute per reading, so every change
// has its own instant.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Minute)
	return c.t
}

var t0 = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)

// newRegistry creates a registry in a temporary folder with a fake clock.
func newRegistry(t *testing.T) (*Registry, *clock) {
	t.Helper()
	r, err := Init(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0}
	r.now = c.now
	return r, c
}

// modelFile writes a stand-in model file; the registry never parses it.
func modelFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// addVersions registers versions v1..vn of churn.
func addVersions(t *testing.T, r *Registry, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		v := fmt.Sprintf("v%d", i)
		if _, err := r.Add("churn", v, modelFile(t, "model.onnx", "model "+v), map[string]string{"auc": "0.8"}, "trained"); err != nil {
			t.Fatal(err)
		}
	}
}

func mustPromote(t *testing.T, r *Registry, version, alias string) Change {
	t.Helper()
	c, err := r.Promote("churn", version, alias, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func aliasOf(t *testing.T, r *Registry, alias string) string {
	t.Helper()
	res, err := r.Resolve("churn", alias, "")
	if err != nil {
		t.Fatal(err)
	}
	return res.Version
}

func TestAddPromoteRollbackRoundTrip(t *testing.T) {
	r, _ := newRegistry(t)
	src := modelFile(t, "churn_gbm.onnx", "gbm bytes")
	v, err := r.Add("churn", "v1", src, map[string]string{"trained_on": "2026-10", "auc": "0.81"}, "first")
	if err != nil {
		t.Fatal(err)
	}
	if v.File != "churn/v1/churn_gbm.onnx" || len(v.SHA256) != 64 || !v.Created.Equal(t0.Add(time.Minute)) {
		t.Fatalf("added %+v", v)
	}
	if _, err := r.Add("churn", "v1", src, nil, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate version: %v, want ErrExists", err)
	}
	if _, err := r.Add("churn", "v2", modelFile(t, "other.onnx", "logreg bytes"), nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve("churn", "prod", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Add set an alias: %v", err)
	}

	c := mustPromote(t, r, "v1", "prod")
	if c.Previous != "" || c.Version != "v1" || c.By == "" {
		t.Fatalf("first promote: %+v", c)
	}
	if c = mustPromote(t, r, "v2", "prod"); c.Previous != "v1" {
		t.Fatalf("second promote: %+v", c)
	}
	c, err = r.Rollback("churn", "prod", "bad auc")
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "v1" || c.Previous != "v2" || c.Action != "rollback" || c.Note != "bad auc" {
		t.Fatalf("rollback: %+v", c)
	}

	// A fresh Open sees what the mutations wrote.
	again, err := Open(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	res, err := again.Resolve("churn", "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{Registry: r.Dir(), Name: "churn", Version: "v1", Alias: "prod",
		Path: filepath.Join(r.Dir(), "churn", "v1", "churn_gbm.onnx"), SHA256: v.SHA256}
	if res != want {
		t.Fatalf("resolved %+v\nwant     %+v", res, want)
	}
	if err := verifyFile(res.Path, res.SHA256); err != nil {
		t.Fatal(err)
	}
	versions, _ := again.Versions("churn")
	if len(versions) != 2 || versions[0].Metadata["auc"] != "0.81" || versions[1].Version != "v2" {
		t.Fatalf("versions %+v", versions)
	}
	if got := again.Models(); len(got) != 1 || got[0] != "churn" {
		t.Fatalf("models %v", got)
	}
	log, err := again.Log()
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, c := range log {
		actions = append(actions, c.Action+" "+c.Version)
	}
	if got := strings.Join(actions, ", "); got != "add v1, add v2, promote v1, promote v2, rollback v1" {
		t.Fatalf("log: %s", got)
	}
	if log[0].Note != "first" || log[0].Time.Location() != time.UTC {
		t.Fatalf("log line %+v", log[0])
	}
}

func TestRollbackStepsBack(t *testing.T) {
	r, _ := newRegistry(t)
	addVersions(t, r, 3)
	if _, err := r.Rollback("churn", "prod", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback of a missing alias: %v", err)
	}
	mustPromote(t, r, "v1", "prod")
	if _, err := r.Rollback("churn", "prod", ""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no earlier version") {
		t.Fatalf("rollback after one promote: %v", err)
	}
	mustPromote(t, r, "v2", "prod")
	mustPromote(t, r, "v3", "prod")
	mustPromote(t, r, "v1", "staging") // another alias does not interfere
	for _, want := range []string{"v2", "v1"} {
		if _, err := r.Rollback("churn", "prod", ""); err != nil {
			t.Fatal(err)
		}
		if got := aliasOf(t, r, "prod"); got != want {
			t.Fatalf("after rollback prod is %s, want %s", got, want)
		}
	}
	if _, err := r.Rollback("churn", "prod", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("third rollback: %v, want ErrNotFound", err)
	}
	// A promote after rollbacks starts a new step: rolling it back returns
	// to where the rollbacks left the alias.
	mustPromote(t, r, "v3", "prod")
	if _, err := r.Rollback("churn", "prod", ""); err != nil {
		t.Fatal(err)
	}
	if got := aliasOf(t, r, "prod"); got != "v1" {
		t.Fatalf("prod is %s, want v1", got)
	}
}

func TestPromoteSameVersionWritesNothing(t *testing.T) {
	r, _ := newRegistry(t)
	addVersions(t, r, 1)
	mustPromote(t, r, "v1", "prod")
	c := mustPromote(t, r, "v1", "prod")
	if c.Previous != "v1" {
		t.Fatalf("no-op promote: %+v", c)
	}
	log, _ := r.Log()
	if len(log) != 2 {
		t.Fatalf("%d log lines, want 2 (add, promote)", len(log))
	}
	if _, err := r.Promote("churn", "v9", "prod", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
	if _, err := r.Promote("nope", "v1", "prod", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestResolveAt(t *testing.T) {
	r, clk := newRegistry(t)
	addVersions(t, r, 2)
	promotedV1 := mustPromote(t, r, "v1", "prod").Time
	promotedV2 := mustPromote(t, r, "v2", "prod").Time
	rb, err := r.Rollback("churn", "prod", "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		at   time.Time
		want string // "" means ErrNotFound
	}{
		{"before the first promote", promotedV1.Add(-time.Second), ""},
		{"at the first promote", promotedV1, "v1"},
		{"between promotes", promotedV1.Add(30 * time.Second), "v1"},
		{"at the second promote", promotedV2, "v2"},
		{"between promote and rollback", rb.Time.Add(-time.Second), "v2"},
		{"after the rollback", clk.t.Add(time.Hour), "v1"},
		{"zero time is now", time.Time{}, "v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.ResolveAt("churn", "prod", tc.at)
			if tc.want == "" {
				if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "did not exist yet") {
					t.Fatalf("got %+v, %v; want ErrNotFound", res, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != tc.want || !res.AsOf.Equal(tc.at) || res.Alias != "prod" {
				t.Fatalf("got %+v, want version %s", res, tc.want)
			}
		})
	}
}

func TestResolveArguments(t *testing.T) {
	r, _ := newRegistry(t)
	addVersions(t, r, 1)
	if _, err := r.Resolve("churn", "prod", "v1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("alias and version: %v", err)
	}
	if _, err := r.Resolve("churn", "", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("neither: %v", err)
	}
	res, err := r.Resolve("churn", "", "v1")
	if err != nil || res.Alias != "" || res.Version != "v1" {
		t.Fatalf("pinned: %+v, %v", res, err)
	}
	if _, err := r.Resolve("churn", "", "v7"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown version: %v", err)
	}
}

func TestVerifyFileMismatch(t *testing.T) {
	r, _ := newRegistry(t)
	addVersions(t, r, 1)
	res, err := r.Resolve("churn", "", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Path, []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = verifyFile(res.Path, res.SHA256)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("got %v, want ErrMismatch", err)
	}
	for _, want := range []string{res.Path, res.SHA256} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestOpenMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(dir, "registry.yaml")) {
		t.Fatalf("got %v, want ErrNotFound naming registry.yaml", err)
	}
	// Init on an existing registry keeps it.
	r, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	addVersions(t, r, 1)
	if r, err = Init(dir); err != nil || len(r.Models()) != 1 {
		t.Fatalf("Init again: %v, models %v", err, r.Models())
	}
}

func TestNamesCannotEscape(t *testing.T) {
	r, _ := newRegistry(t)
	src := modelFile(t, "m.onnx", "x")
	for _, tc := range []struct{ name, model, version string }{
		{"parent model", "..", "v1"},
		{"slash in model", "a/b", "v1"},
		{"dot-dot in version", "churn", "v1..v2"},
		{"slash in version", "churn", "../../etc"},
		{"hidden model", ".registry.lock", "v1"},
		{"empty version", "churn", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.Add(tc.model, tc.version, src, nil, ""); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	addVersions(t, r, 1)
	if _, err := r.Promote("churn", "v1", "../prod", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("alias with a slash: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(r.Dir()))
	if len(entries) != 1 {
		t.Fatalf("something was written next to the registry: %v", entries)
	}
}

// TestConcurrentPromote has eight writers, half sharing one Registry and
// half with their own as separate processes would: every promote lands,
// each one sees the one before it, and registry.yaml stays valid.
func TestConcurrentPromote(t *testing.T) {
	r, _ := newRegistry(t)
	r.now = time.Now
	addVersions(t, r, 8)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg := r
			if i%2 == 0 {
				var err error
				if reg, err = Open(r.Dir()); err != nil {
					errs <- err
					return
				}
			}
			_, err := reg.Promote("churn", fmt.Sprintf("v%d", i), "prod", "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	reopened, err := Open(r.Dir())
	if err != nil {
		t.Fatal(err)
	}
	log, err := reopened.Log()
	if err != nil {
		t.Fatal(err)
	}
	var promotes []Change
	for _, c := range log {
		if c.Action == "promote" {
			promotes = append(promotes, c)
		}
	}
	if len(promotes) != 8 {
		t.Fatalf("%d promote lines, want 8", len(promotes))
	}
	for i, c := range promotes {
		want := ""
		if i > 0 {
			want = promotes[i-1].Version
		}
		if c.Previous != want {
			t.Fatalf("promote %d saw previous %q, want %q: writers overlapped", i, c.Previous, want)
		}
	}
	if got := aliasOf(t, reopened, "prod"); got != promotes[7].Version {
		t.Fatalf("prod is %s, the last promote says %s", got, promotes[7].Version)
	}
}
