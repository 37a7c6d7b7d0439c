// Package notices writes THIRD_PARTY_NOTICES: the licence texts of the Go
// modules a batchscore binary links, of the Go standard library, and of the
// native libraries shipped next to it (ONNX Runtime).
package notices

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Module is one Go module a binary was built from.
type Module struct {
	Path    string
	Version string
	Dir     string // in the module cache, once Locate found it
}

// Linked reads the Go version and the modules a binary was built from, as
// `go version -m` lists them: replacements applied, the main module left
// out. A module replaced by a local folder has no version to fetch: an error.
func Linked(bin string) (goVersion string, mods []Module, err error) {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", nil, fmt.Errorf("notices: build info of %s: %w", bin, err)
	}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		if d.Version == "" || d.Version == "(devel)" {
			return "", nil, fmt.Errorf("notices: %s links %s from a local folder: no released licence to cite", bin, d.Path)
		}
		mods = append(mods, Module{Path: d.Path, Version: d.Version})
	}
	slices.SortFunc(mods, func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	return info.GoVersion, mods, nil
}

// Locate finds each module in the module cache with `go mod download
// -json`, which fetches what the cache lacks.
func Locate(gobin string, mods []Module) error {
	if len(mods) == 0 {
		return nil
	}
	args := []string{"mod", "download", "-json"}
	for _, m := range mods {
		args = append(args, m.Path+"@"+m.Version)
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = os.TempDir() // outside any module: the versions asked for, not a go.mod's
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && len(out) == 0 {
		return fmt.Errorf("notices: go mod download: %w: %s", err, stderr.String())
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var r struct{ Path, Version, Dir, Error string }
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("notices: go mod download output: %w", err)
		}
		if r.Error != "" {
			return fmt.Errorf("notices: %s@%s: %s", r.Path, r.Version, r.Error)
		}
		dirs[r.Path+"@"+r.Version] = r.Dir
	}
	for i, m := range mods {
		d, ok := dirs[m.Path+"@"+m.Version]
		if !ok || d == "" {
			return fmt.Errorf("notices: go mod download did not report %s@%s", m.Path, m.Version)
		}
		mods[i].Dir = d
	}
	return nil
}

// reLicence names the files whose text a module's licence asks to keep.
var reLicence = regexp.MustCompile(`(?i)^(licen[cs]e|copying|copyright|notice|patents|unlicense)([.\-_].*)?$`)

// LicenceFiles lists the licence and notice files at the top of a module's
// folder, sorted; source files named like one (license.go) are not.
func LicenceFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && reLicence.MatchString(n) && !strings.HasSuffix(n, ".go") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Native is a native library shipped next to the binary.
type Native struct {
	Name, Version, License string // License: an SPDX identifier
	Text                   []byte
}

// ORTFromNpm reads ONNX Runtime's version and declared licence from the
// onnxruntime-node npm tarball it is shipped from; the package carries no
// licence text, so text is ONNX Runtime's LICENSE, kept in the repository,
// whose first line must name the declared licence.
func ORTFromNpm(tgz string, text []byte) (Native, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return Native{}, fmt.Errorf("notices: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return Native{}, fmt.Errorf("notices: %s: %w", tgz, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return Native{}, fmt.Errorf("notices: %s: no package/package.json: %w", tgz, err)
		}
		if h.Name != "package/package.json" {
			continue
		}
		var pkg struct{ Name, Version, License string }
		if err := json.NewDecoder(tr).Decode(&pkg); err != nil {
			return Native{}, fmt.Errorf("notices: %s: package.json: %w", tgz, err)
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(text)), "\n")
		if pkg.License == "" || !strings.HasPrefix(first, pkg.License+" ") {
			return Native{}, fmt.Errorf("notices: %s declares licence %q but the ONNX Runtime licence text starts %q: replace the text", tgz, pkg.License, first)
		}
		return Native{Name: "ONNX Runtime (" + pkg.Name + ")", Version: pkg.Version, License: pkg.License, Text: text}, nil
	}
}

const rule = "================================================================================\n"

// Write writes the notices: Go's own licence (goroot), each module's
// licence files, then the native libraries. A module whose folder has no
// licence file takes the files under kept/<module path>/ (its licence as
// the module states it elsewhere, say in its README, copied into the
// repository). It returns the modules that have neither, which the notices
// cannot cover.
func Write(w io.Writer, goVersion, goroot, kept string, mods []Module, natives []Native) (missing []string, err error) {
	var b bytes.Buffer
	b.WriteString("THIRD-PARTY SOFTWARE NOTICES\n\n" +
		"batchscore is licensed under the Apache License 2.0 (LICENSE). The batchscore\n" +
		"binary includes the Go standard library and the Go modules below, and ships\n" +
		"the native libraries below next to it. Their licences follow, as their\n" +
		"authors wrote them. This file is generated (make notices) from the build\n" +
		"information of the binary (go version -m) and the module cache.\n\n")
	section := func(title, files string, texts ...[]byte) {
		b.WriteString(rule + title + "\n")
		if files != "" {
			b.WriteString("(" + files + ")\n")
		}
		b.WriteString(rule + "\n")
		for _, t := range texts {
			b.Write(bytes.TrimRight(t, "\n\t "))
			b.WriteString("\n\n")
		}
	}
	goLicence, err := os.ReadFile(filepath.Join(goroot, "LICENSE"))
	if err != nil {
		return nil, fmt.Errorf("notices: Go's licence: %w", err)
	}
	section("Go standard library "+goVersion, "LICENSE", goLicence)
	for _, m := range mods {
		dir := m.Dir
		files, err := LicenceFiles(dir)
		if err != nil {
			return nil, fmt.Errorf("notices: %s@%s: %w", m.Path, m.Version, err)
		}
		if len(files) == 0 && kept != "" {
			dir = filepath.Join(kept, filepath.FromSlash(m.Path))
			if entries, err := os.ReadDir(dir); err == nil {
				for _, e := range entries {
					if e.Type().IsRegular() {
						files = append(files, e.Name())
					}
				}
			}
		}
		if len(files) == 0 {
			missing = append(missing, m.Path+"@"+m.Version)
			continue
		}
		var texts [][]byte
		for _, f := range files {
			t, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return nil, fmt.Errorf("notices: %s@%s: %w", m.Path, m.Version, err)
			}
			texts = append(texts, t)
		}
		section(m.Path+" "+m.Version, strings.Join(files, ", "), texts...)
	}
	for _, n := range natives {
		section(n.Name+" "+n.Version, n.License, n.Text)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return missing, fmt.Errorf("notices: %w", err)
	}
	return missing, nil
}
