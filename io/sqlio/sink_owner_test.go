package sqlio

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The first job records itself, another is refused naming both, a check
// records nothing, reown hands the table over, and a registry with
// versions but no owner is adopted.
func testSinkOwner(t *testing.T, be sinkBackend) {
	ctx := context.Background()
	dsn := be.fresh(t)
	cfg := SinkConfig{Driver: be.driver, DSN: dsn, Table: "owned"}
	if c, err := OwnSink(ctx, cfg, "a", "a.yaml", OwnCheck); err != nil || c.Owner != "" {
		t.Fatalf("check of a fresh database: %+v %v", c, err)
	}
	if c, err := OwnSink(ctx, cfg, "a", "a.yaml", OwnClaim); err != nil || !c.Claimed || c.Adopted || c.Owner != "a" {
		t.Fatalf("first claim: %+v %v", c, err)
	}
	if c, err := OwnSink(ctx, cfg, "a", "a.yaml", OwnClaim); err != nil || c.Claimed {
		t.Fatalf("the owner again: %+v %v", c, err)
	}
	for _, action := range []OwnAction{OwnCheck, OwnClaim} {
		_, err := OwnSink(ctx, cfg, "b", "b.yaml", action)
		if !errors.Is(err, ErrOwner) || !contains(err.Error(), `"a"`, `"b"`, "owned") {
			t.Errorf("another job (action %d): %v", action, err)
		}
	}
	if c, err := OwnSink(ctx, cfg, "b", "b.yaml", OwnReown); err != nil || c.Reowned != "a" {
		t.Fatalf("reown: %+v %v", c, err)
	}
	if got := be.query(t, dsn, "SELECT job, job_file FROM owned_owner"); len(got) != 1 || got[0][0] != "b" || got[0][1] != "b.yaml" {
		t.Errorf("owner rows %v", got)
	}

	// A registry from before owners: a version published, no owner table.
	s, err := OpenSink(ctx, SinkConfig{Driver: be.driver, DSN: dsn, Table: "legacy"}, resultSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	load, err := s.Begin(ctx, "v1", "2026-11-20")
	if err != nil {
		t.Fatal(err)
	}
	rec := resultRecord(t, 0, 3, "2026-11-20", "r1")
	defer rec.Release()
	if err := load.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := load.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	legacy := SinkConfig{Driver: be.driver, DSN: dsn, Table: "legacy"}
	if c, err := OwnSink(ctx, legacy, "a", "a.yaml", OwnClaim); err != nil || !c.Adopted {
		t.Errorf("claim of a registry with versions: %+v %v", c, err)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
