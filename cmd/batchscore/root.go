package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/batchscore/batchscore/jobs"
)

type globalFlags struct {
	ortLib     string
	logFormat  string
	logLevel   string
	cpuProfile string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "batchscore",
		Short: "Run scheduled batch scoring jobs with ONNX models",
		Long: `batchscore reads one logical date's snapshot (Parquet files, local or on
S3-compatible storage, or a SQL query: postgres, mysql or sqlite), scores
every row with an ONNX model (ONNX Runtime, or the native tree engine),
and publishes a new immutable version of a result table (Parquet,
local or on S3, optionally a SQL table too) with a run manifest. A job file
(YAML) says what to read, which model to use, how columns feed it and where
results go.

Exit codes:
  0    success (or already current)
  1    failure: I/O, database, model or runtime (retry once the cause is gone)
  2    usage or job-file error, missing model, model signature mismatch (no retry)
  3    the data failed its checks or cannot be scored; nothing was published
  4    locked: another execution of the same job and date is running (retry later)
  130  interrupted (SIGINT/SIGTERM); nothing was published`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
		// Without these, cobra reports a mistyped command as a plain error
		// (exit 1); a scheduler must see a usage error (exit 2).
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unknown command %q (see 'batchscore --help')", jobs.ErrUsage, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate("batchscore {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.ortLib, "ort-lib", "", "path to libonnxruntime.so (default: $BATCHSCORE_ORT_LIB, then next to the binary)")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format on stderr: auto (text on a terminal, JSON otherwise), text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	pf.StringVar(&g.cpuProfile, "cpu-profile", "", "write a Go CPU profile of the command to this file")
	_ = pf.MarkHidden("cpu-profile")
	pf.StringVar(&memProfile, "mem-profile", "", "write a Go allocation profile of the command to this file when it ends")
	_ = pf.MarkHidden("mem-profile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return g.startProfile() }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		flagsFailed = true
		return fmt.Errorf("%w: %v", jobs.ErrUsage, err)
	})
	root.AddCommand(newRunCommand(g), newServeCommand(g), newValidateCommand(g), newProfileCommand(), newRunsCommand(), newShowCommand(), newInspectCommand(g), newModelsCommand(g), newCommitCommand(g), newReownCommand(g), newCoversCommand(), newOutcomesCommand(g), newTrendsCommand(), newVersionCommand())
	return root
}

func (g *globalFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", jobs.ErrUsage, g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	format := strings.ToLower(g.logFormat)
	if format == "auto" {
		format = "json"
		if stderrIsTerminal() {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want auto, text or json", jobs.ErrUsage, g.logFormat)
}

func (g *globalFlags) startProfile() error {
	if g.cpuProfile == "" {
		return nil
	}
	f, err := os.Create(g.cpuProfile)
	if err != nil {
		return fmt.Errorf("%w: --cpu-profile: %v", jobs.ErrUsage, err)
	}
	return pprof.StartCPUProfile(f)
}

// memProfile is --mem-profile, written by main when the command ends.
var memProfile string

func writeMemProfile() {
	if memProfile == "" {
		return
	}
	runtime.GC() // the profile shows the heap as of the last collection
	f, err := os.Create(memProfile)
	if err == nil {
		err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "batchscore: --mem-profile: %v\n", err)
	}
}

func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// usageArgs wraps cobra's argument checks so a wrong count exits 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return fmt.Errorf("%w: %v (see 'batchscore help %s')", jobs.ErrUsage, err, cmd.Name())
		}
		return nil
	}
}
