package registry

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	sha1 = strings.Repeat("a1", 32)
	sha2 = strings.Repeat("b2", 32)
)

// goodYAML is in the form encodeRegistry writes, aliases not sorted.
var goodYAML = `models:
  churn:
    versions:
      - version: v1
        file: churn/v1/model.onnx
        sha256: ` + sha1 + `
        created: 2026-11-01T10:00:00Z
        metadata: {auc: "0.81", trained_on: 2026-10}
      - version: v2
        file: churn/v2/model.onnx
        sha256: ` + sha2 + `
        created: 2026-11-02T10:00:00Z
    aliases:
      staging: v2
      prod: v1
  ltv:
    versions: []
`

// writeRegistry puts registry.yaml text into a new folder.
func writeRegistry(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "registry.yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestParseGoodKeepsOrder(t *testing.T) {
	dir := writeRegistry(t, goodYAML)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	aliases, _ := r.Aliases("churn")
	if aliases["prod"] != "v1" || aliases["staging"] != "v2" {
		t.Fatalf("aliases %v", aliases)
	}
	if got := r.Models(); strings.Join(got, ",") != "churn,ltv" {
		t.Fatalf("models %v", got)
	}
	// A rewrite changes only the alias line that changed.
	if _, err := r.Promote("churn", "v2", "prod", ""); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "registry.yaml"))
	want := strings.Replace(goodYAML, "prod: v1", "prod: v2", 1)
	if string(data) != want {
		t.Fatalf("rewritten registry.yaml:\n%s\nwant:\n%s", data, want)
	}
}

func TestParseBad(t *testing.T) {
	version := func(extra string) string {
		return "models:\n  churn:\n    versions:\n      - version: v1\n        file: churn/v1/model.onnx\n        sha256: " + sha1 +
			"\n        created: 2026-11-01T10:00:00Z\n" + extra
	}
	cases := []struct {
		name string
		text string
		want []string // in the error, besides the file's path
	}{
		{"syntax", "models:\n  churn: [\n", []string{"line 2"}},
		{"tab indentation", "models:\n\tchurn: {}\n", []string{"line 2"}},
		{"unknown top-level key", "models: {}\nowner: me\n", []string{"line 2", `unknown key "owner"`, "top level"}},
		{"unknown version key", version("        sha265: abc\n"), []string{"line 8", `unknown key "sha265"`, "in a version"}},
		{"unknown model key", version("    alias:\n      prod: v1\n"), []string{"line 8", `unknown key "alias"`, "in a model"}},
		{"absolute file", strings.Replace(version(""), "churn/v1/model.onnx", "/etc/passwd", 1), []string{"line 4:", "inside the registry folder"}},
		{"file escapes", strings.Replace(version(""), "churn/v1/model.onnx", "../../secret.onnx", 1), []string{"line 4:", "inside the registry folder"}},
		{"short sha256", strings.Replace(version(""), sha1, "abc", 1), []string{"line 4:", "64 hex digits"}},
		{"no created", strings.Replace(version(""), "        created: 2026-11-01T10:00:00Z\n", "", 1), []string{"line 4:", "created is required"}},
		{"bad created", strings.Replace(version(""), "2026-11-01T10:00:00Z", "yesterday", 1), []string{"line 7"}},
		{"duplicate version", version("      - version: v1\n        file: b.onnx\n        sha256: " + sha2 + "\n        created: 2026-11-02T10:00:00Z\n"), []string{"line 8:", "listed twice"}},
		{"alias to nothing", version("    aliases:\n      prod: v9\n"), []string{"line 9:", `"v9"`}},
		{"bad alias name", version("    aliases:\n      ../prod: v1\n"), []string{"line 9:", `"../prod"`}},
		{"bad model name", "models:\n  ../churn:\n    versions: []\n", []string{"line 2:", `"../churn"`}},
		{"duplicate model", "models:\n  churn: {}\n  churn: {}\n", []string{"line 3", "already defined"}},
		{"list at top", "- churn\n", []string{"line 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeRegistry(t, tc.text)
			_, err := Open(dir)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			for _, want := range append([]string{filepath.Join(dir, "registry.yaml")}, tc.want...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "models:\n", "models: {}\n", "# nothing yet\n"} {
		r, err := Open(writeRegistry(t, text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(r.Models()) != 0 {
			t.Fatalf("%q: models %v", text, r.Models())
		}
	}
}

func TestBadLogLineIsNamed(t *testing.T) {
	r, _ := newRegistry(t)
	addVersions(t, r, 1)
	f, err := os.OpenFile(filepath.Join(r.Dir(), "registry.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{not json\n")
	f.Close()
	_, err = r.Log()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "registry.log:2:") {
		t.Fatalf("got %v, want ErrInvalid naming registry.log:2", err)
	}
}
