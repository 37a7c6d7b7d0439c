// Command notices writes THIRD_PARTY_NOTICES for a batchscore binary:
//
//	notices -bin bin/batchscore -ort-npm onnxruntime-node-1.24.1.tgz \
//	        -ort-license release/licenses/onnxruntime-LICENSE -o THIRD_PARTY_NOTICES
//
// It exits 1 naming every linked module that has no licence file.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/batchscore/batchscore/release/notices"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin/batchscore", "the batchscore binary")
	ortNpm := flag.String("ort-npm", "", "the onnxruntime-node npm tarball the library comes from")
	ortLicense := flag.String("ort-license", "release/licenses/onnxruntime-LICENSE", "ONNX Runtime's licence text")
	kept := flag.String("kept", "release/licenses/modules", "licence texts of modules that have no licence file, by module path")
	out := flag.String("o", "THIRD_PARTY_NOTICES", "where to write")
	flag.Parse()

	goVersion, mods, err := notices.Linked(*bin)
	if err != nil {
		return err
	}
	if err := notices.Locate("go", mods); err != nil {
		return err
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	text, err := os.ReadFile(*ortLicense)
	if err != nil {
		return err
	}
	ort, err := notices.ORTFromNpm(*ortNpm, text)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	missing, err := notices.Write(&b, goVersion, strings.TrimSpace(string(goroot)), *kept, mods, []notices.Native{ort})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("notices: no licence file in these linked modules (copy the licence the module states elsewhere into -kept/<module path>/, or replace the module): %s", strings.Join(missing, ", "))
	}
	return os.WriteFile(*out, b.Bytes(), 0o644)
}
