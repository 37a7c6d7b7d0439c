package notices

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// binary is the batchscore binary to check: BATCHSCORE_BIN, else the one
// in the release archive BATCHSCORE_DIST (make test-release), else one
// built here from the repository (the module set does not depend on flags).
func binary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("BATCHSCORE_BIN"); b != "" {
		return b
	}
	if dist := os.Getenv("BATCHSCORE_DIST"); dist != "" {
		dir := t.TempDir()
		cmd := exec.Command("tar", "-xzf", dist, "-C", dir, "--wildcards", "*/batchscore")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("batchscore from %s: %v\n%s", dist, err, out)
		}
		m, _ := filepath.Glob(filepath.Join(dir, "*", "batchscore"))
		if len(m) != 1 {
			t.Fatalf("%s: %d batchscore binaries at its top", dist, len(m))
		}
		return m[0]
	}
	bin := filepath.Join(t.TempDir(), "batchscore")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/batchscore")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/batchscore: %v\n%s", err, out)
	}
	return bin
}

// ortNpm is the onnxruntime-node tarball: ORT_NPM (make sets it), else
// the one make fetched into third_party/.
func ortNpm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ORT_NPM"); p != "" {
		return p
	}
	m, _ := filepath.Glob("../../third_party/onnxruntime-*/onnxruntime-node-*.tgz")
	if len(m) == 0 {
		t.Fatal("no ORT_NPM and no third_party/onnxruntime-*/onnxruntime-node-*.tgz: run make notices")
	}
	return m[len(m)-1]
}

// Every module the binary links has a licence in THIRD_PARTY_NOTICES, and
// the committed file is what the generator writes for the binary today.
func TestNoticesCoverLinkedModules(t *testing.T) {
	goVersion, mods, err := Linked(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) < 10 {
		t.Fatalf("only %d modules in the build info", len(mods))
	}
	if err := Locate("go", mods); err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile("../licenses/onnxruntime-LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	ort, err := ORTFromNpm(ortNpm(t), text)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	missing, err := Write(&b, goVersion, strings.TrimSpace(string(goroot)), "../licenses/modules", mods, []Native{ort})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("%s is linked but has no licence file: copy the licence it states elsewhere into release/licenses/modules/<module path>/", m)
	}
	for _, m := range mods {
		if !strings.Contains(b.String(), "\n"+m.Path+" "+m.Version+"\n") {
			t.Errorf("no section for %s %s", m.Path, m.Version)
		}
	}
	committed, err := os.ReadFile("../../THIRD_PARTY_NOTICES")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Errorf("THIRD_PARTY_NOTICES is not what the linked modules give today: run make notices and commit it")
	}
}

// A module without a licence file is reported, unless its licence is kept
// in the repository; a source file named license.go is no licence.
func TestMissingLicenceIsReported(t *testing.T) {
	dir := t.TempDir()
	goroot := filepath.Join(dir, "goroot")
	with := filepath.Join(dir, "with")
	without := filepath.Join(dir, "without")
	kept := filepath.Join(dir, "kept")
	for p, text := range map[string]string{
		filepath.Join(goroot, "LICENSE"):                   "Go's licence",
		filepath.Join(with, "LICENSE.txt"):                 "the licence of example.com/with",
		filepath.Join(without, "license.go"):               "package without",
		filepath.Join(kept, "example.com/kept", "LICENSE"): "kept licence",
		filepath.Join(dir, "keptmod", "README.md"):         "licence in the README",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mods := []Module{
		{Path: "example.com/with", Version: "v1.0.0", Dir: with},
		{Path: "example.com/without", Version: "v0.1.0", Dir: without},
		{Path: "example.com/kept", Version: "v2.0.0", Dir: filepath.Join(dir, "keptmod")},
	}
	var b bytes.Buffer
	missing, err := Write(&b, "go1.x", goroot, kept, mods, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0] != "example.com/without@v0.1.0" {
		t.Errorf("missing %v, want [example.com/without@v0.1.0]", missing)
	}
	for _, want := range []string{"Go's licence", "the licence of example.com/with", "kept licence"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the notices lack %q", want)
		}
	}
}
