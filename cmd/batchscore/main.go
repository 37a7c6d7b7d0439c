// Command batchscore runs scheduled batch scoring jobs: it reads a snapshot
// (Parquet files, local or on S3, or a SQL query), scores it with an ONNX
// model and publishes a versioned result table with a run manifest.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"syscall"
	_ "time/tzdata" // job time zones must not depend on the host's tz database

	"github.com/batchscore/batchscore/jobs"
)

func main() {
	ctx, stop := signalContext()
	setGCPercent()
	cmd, err := newRootCommand().ExecuteContextC(ctx)
	pprof.StopCPUProfile() // flushes --cpu-profile, whatever the outcome
	writeMemProfile()
	stop()
	code := exitCode(err)
	printJSONFailure(cmd, err, code)
	os.Exit(code)
}

// signalContext turns SIGINT and SIGTERM into one context cancellation,
// here and nowhere else, whose cause names the signal (jobs.Interrupted):
// a run's manifest and log then say what stopped it. After the first
// signal the next one gets the default behaviour and ends the process: a
// second Ctrl-C must work even if a model call hangs.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			signal.Stop(sigs)
			cancel(&jobs.Interrupted{Signal: signalName(sig)})
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(sigs)
			close(done)
			cancel(nil)
		})
	}
}

func signalName(sig os.Signal) string {
	switch sig {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// exitCode is the only place the process's exit code is chosen.
func exitCode(err error) int {
	if err == nil {
		return jobs.ExitOK
	}
	var quiet *alreadyReported
	if !errors.As(err, &quiet) {
		fmt.Fprintln(os.Stderr, "batchscore:", err)
	}
	return jobs.ExitCode(err)
}

// alreadyReported wraps an error the command has logged itself.
type alreadyReported struct{ err error }

func (a *alreadyReported) Error() string { return a.err.Error() }
func (a *alreadyReported) Unwrap() error { return a.err }

// setGCPercent makes the heap goal 1.5× the live heap, not Go's 2×, unless
// GOGC is set: a run's heap grows once to its peak, and the page faults of
// that fresh memory cost more than the extra collections (BENCHMARKS.md).
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
}
