package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

func newInspectCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL.onnx",
		Short: "Print a model's inputs, outputs and metadata, to help write a job file",
		Long: `inspect loads a model with ONNX Runtime and prints its inputs and outputs
(names, element types, shapes; N is a free dimension such as the batch) and
the metadata the model carries (producer, graph, version, custom keys).

Each input is fed from table columns under model.inputs in the job file: an
input of shape [N,F] takes F columns, an input of shape [N,1] or [N] one.
The score comes from a float output: [N,C] with a class, [N] or [N,1] as is,
or a ZipMap sequence of maps with the class as the key.

The last line says whether the native tree engine can score the model
(scoring.engine in the job file; README "Scoring engines"), or why not.`,
		Example: `  batchscore inspect testdata/models/churn_gbm.onnx
  batchscore inspect testdata/models/churn_gbm.onnx --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := resolveORTLib(g.ortLib)
			if err != nil {
				return err
			}
			if err := onnx.Init(lib); err != nil {
				return err
			}
			model, err := onnx.Load(args[0])
			if err != nil {
				return err
			}
			sig, md, err := model.Inspect()
			if err != nil {
				return err
			}
			// ONNX Runtime reports a model without model_version as
			// INT64_MAX (its "no version"); a user wrote none, or 0.
			if md.Version == math.MaxInt64 {
				md.Version = 0
			}
			sum := model.SHA256
			native, ok := model.Native()
			if asJSON {
				return printInspectJSON(cmd.OutOrStdout(), args[0], sum, sig, md, native, ok)
			}
			printInspect(cmd.OutOrStdout(), args[0], sum, sig, md)
			if ok {
				fmt.Fprintf(cmd.OutOrStdout(), "\nnative engine: yes: %s\n", native)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "\nnative engine: no (ONNX Runtime scores it): %s\n", native)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func printInspectJSON(w io.Writer, path, sum string, sig scoring.Signature, md onnx.Metadata, native string, nativeOK bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"path": path, "sha256": sum, "signature": sig, "metadata": md,
		"native_engine": map[string]any{"eligible": nativeOK, "detail": native}})
}

func printInspect(w io.Writer, path, sum string, sig scoring.Signature, md onnx.Metadata) {
	fmt.Fprintf(w, "model:  %s\nsha256: %s\n\ninputs:\n", path, sum)
	for _, p := range sig.Inputs {
		fmt.Fprintf(w, "  %s\n", p)
	}
	fmt.Fprintln(w, "outputs:")
	for _, p := range sig.Outputs {
		fmt.Fprintf(w, "  %s\n", p)
	}
	fmt.Fprintln(w, "\nmetadata:")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "  %-12s %s\n", k+":", v)
		}
	}
	row("producer", md.Producer)
	row("graph", md.GraphName)
	row("domain", md.Domain)
	row("description", md.Description)
	if md.Version != 0 { // 0: the model has no model_version
		row("version", fmt.Sprint(md.Version))
	}
	keys := make([]string, 0, len(md.Custom))
	for k := range md.Custom {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", k, md.Custom[k])
	}
}
