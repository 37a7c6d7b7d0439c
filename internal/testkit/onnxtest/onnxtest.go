// Package onnxtest finds what tests that need real components use: the
// ONNX Runtime library, the repository root, DuckDB for Node. A missing
// component skips the test on a developer's machine and fails it in CI
// (CI=true), so that CI never counts a skipped test as a pass.
package onnxtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the repository root (the folder holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// Lib returns the ONNX Runtime library: $BATCHSCORE_ORT_LIB, or the copy
// 'make ort' puts under third_party/.
func Lib(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BATCHSCORE_ORT_LIB"); p != "" {
		return p
	}
	p := filepath.Join(Root(t), "third_party", "onnxruntime-1.24.1", "libonnxruntime.so.1")
	if _, err := os.Stat(p); err != nil {
		Missing(t, "ONNX Runtime library (run 'make ort' or set BATCHSCORE_ORT_LIB)")
	}
	return p
}

// DuckDBNodeModules returns the node_modules folder holding @duckdb/node-api.
func DuckDBNodeModules(t testing.TB) string {
	t.Helper()
	p := os.Getenv("BATCHSCORE_DUCKDB_NODE_MODULES")
	if p == "" {
		p = filepath.Join(Root(t), "third_party", "node", "node_modules")
	}
	if _, err := os.Stat(filepath.Join(p, "@duckdb", "node-api")); err != nil {
		Missing(t, "DuckDB for Node (run 'make interop')")
	}
	return p
}

// Missing skips outside CI and fails inside it.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing, and CI must not skip this test", what)
	}
	t.Skipf("%s is missing", what)
}
