package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
)

// flagsFailed is set when the command line's flags did not parse: --json
// may not have been read, so nothing is printed on stdout for it.
var flagsFailed bool

// jsonFailure is what --json prints when a command fails before it has a
// manifest (or outcomes, or a listing) to print: a job file that does not
// load, a bad --date, a model that is missing. A scheduler that parses
// stdout always gets one JSON object saying how the command ended.
type jsonFailure struct {
	Status   string `json:"status"` // failed or interrupted
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error"`
	Command  string `json:"command"`
	JobFile  string `json:"job_file,omitempty"`
	Model    string `json:"model,omitempty"`
}

// printJSONFailure prints a jsonFailure on stdout when cmd failed with
// err, had --json set, and did not print its own JSON (alreadyReported).
func printJSONFailure(cmd *cobra.Command, err error, code int) {
	var reported *alreadyReported
	if err == nil || cmd == nil || flagsFailed || errors.As(err, &reported) {
		return
	}
	if f := cmd.Flags().Lookup("json"); f == nil || f.Value.String() != "true" {
		return
	}
	out := jsonFailure{Status: "failed", ExitCode: code, Error: err.Error(),
		Command: strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")}
	if code == jobs.ExitInterrupted {
		out.Status = "interrupted"
	}
	if args := cmd.Flags().Args(); len(args) > 0 {
		// The first argument of a command that takes a job file (or a
		// model) names it, as its Use line says.
		abs, aerr := filepath.Abs(args[0])
		if aerr != nil {
			abs = args[0]
		}
		switch use := strings.Fields(cmd.Use); {
		case len(use) > 1 && use[1] == "JOB.yaml":
			out.JobFile = abs
		case len(use) > 1 && use[1] == "MODEL.onnx":
			out.Model = abs
		}
	}
	data, jerr := json.Marshal(out)
	if jerr == nil {
		os.Stdout.Write(append(data, '\n'))
	}
}
