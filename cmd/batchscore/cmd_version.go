package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

	"github.com/batchscore/batchscore/scoring/onnx"
)

// version and commit are set at build time with -ldflags
// "-X main.version=... -X main.commit=..." (make build, make dist).
var (
	version = ""
	commit  = ""
)

func buildVersion() string {
	if version != "" {
		return version
	}
	rev, dirty := vcsRevision()
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev[:min(12, len(rev))] + dirty
}

// vcsRevision is the commit Go stamped into the binary, if it did.
func vcsRevision() (rev, dirty string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", ""
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	return rev, dirty
}

func buildCommit() string {
	if commit != "" {
		return commit
	}
	if rev, dirty := vcsRevision(); rev != "" {
		return rev + dirty
	}
	return "unknown"
}

// buildTags are the -tags the binary was built with.
func buildTags() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit, the Go and ONNX Runtime versions and the native engines this CPU runs",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "batchscore %s\ncommit %s\ngo %s %s/%s\n",
				buildVersion(), buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			flag := ""
			if f := cmd.Flag("ort-lib"); f != nil {
				flag = f.Value.String()
			}
			printORT(w, flag)
			printEngines(w)
			return nil
		},
	}
}

// printORT loads the library a run would load and prints its version;
// without one, what is expected and why it was not found. Either way the
// command succeeds: the native engine needs no ONNX Runtime.
func printORT(w io.Writer, flag string) {
	lib, err := resolveORTLib(flag)
	if err == nil {
		err = onnx.Init(lib)
	}
	if err != nil {
		fmt.Fprintf(w, "onnxruntime %s expected, not loaded: %v\n", onnx.WantVersion, err)
		return
	}
	v := onnx.Version()
	note := ""
	if v != onnx.WantVersion {
		note = "; batchscore expects " + onnx.WantVersion
	}
	fmt.Fprintf(w, "onnxruntime %s (%s%s)\n", v, lib, note)
}

// printEngines says which native kernels this CPU and build run, by the
// check scoring/trees makes (cpu.X86.HasAVX2, off under the purego tag).
func printEngines(w io.Writer) {
	avx2 := "no: this CPU has no AVX2"
	switch {
	case runtime.GOARCH != "amd64":
		avx2 = "no: not x86-64"
	case strings.Contains(","+buildTags()+",", ",purego,"):
		avx2 = "no: built with the purego tag"
	case cpu.X86.HasAVX2:
		avx2 = "yes"
	}
	fmt.Fprintf(w, "native engines:\n  trees (TreeEnsembleClassifier/Regressor, engine native or auto): yes, portable kernels\n  trees AVX2 kernel (complete trees of depth 1 to 4): %s\n", avx2)
}
