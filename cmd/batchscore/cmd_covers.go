package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/internal/atomicfile"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/scoring/explain"
	"github.com/batchscore/batchscore/scoring/trees"
)

func newCoversCommand() *cobra.Command {
	var data, inputs, out string
	cmd := &cobra.Command{
		Use:   "covers MODEL.onnx --data GLOB --inputs COL,COL,... --out FILE",
		Short: "Count reference rows through every node of a tree model: the covers explain: needs",
		Long: `covers reads a reference dataset (the model's training data, as Parquet) and
counts its rows through every node of the model's tree ensemble. The counts
are the node covers that path-dependent TreeSHAP (the job file's explain:
section) weighs each branch by, written as the covers file explain.covers
names: a JSON list of {"tree", "node", "cover"} with the ONNX
nodes_treeids and nodes_nodeids.

--inputs lists the columns that fill the trees' input, in the model's
feature order (the job file's model.inputs for that input). Every node must
be reached by some row: a node no row reaches would have no cover, and the
command fails naming it (exit 3). A categorical chain (BRANCH_EQ nodes on
one feature sharing their true child, as onnxmltools writes LightGBM's set
splits) is counted as the one split it is: its first node, its shared true
child and its false child get covers, its other nodes none.`,
		Example: `  batchscore covers models/churn_gbm.onnx --data 'train/*.parquet' \
      --inputs tenure_months,age,monthly_charges --out models/churn_gbm.covers.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			cols := splitList(inputs)
			if data == "" || out == "" || len(cols) == 0 {
				return fmt.Errorf("%w: covers needs --data, --inputs and --out", jobs.ErrUsage)
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return &jobs.CodeError{Code: jobs.ExitUsage, Err: err}
			}
			e, err := trees.Load(b)
			if err != nil {
				return &jobs.CodeError{Code: jobs.ExitUsage, Err: fmt.Errorf("%s: %w", args[0], err)}
			}
			if len(cols) < e.Features || e.Width >= 0 && len(cols) != e.Width {
				return fmt.Errorf("%w: --inputs names %d columns; the trees' input %q has %d (they read %d)", jobs.ErrUsage, len(cols), e.Input, e.Width, e.Features)
			}
			src, err := parquetio.Open(data)
			if err != nil {
				return err
			}
			defer src.Close()
			if err := src.CheckColumns(cols); err != nil {
				return err
			}
			count, err := explain.NewCoverCounter(e)
			if err != nil {
				return &jobs.CodeError{Code: jobs.ExitUsage, Err: fmt.Errorf("%s: %w", args[0], err)}
			}
			row := make([]float32, len(cols))
			rows := int64(0)
			err = src.Read(cmd.Context(), cols, 65536, memory.DefaultAllocator, func(rec arrow.Record, _ string, _ int64) error {
				defer rec.Release()
				in := make([]arrow.Array, len(cols))
				for j, c := range cols {
					in[j] = rec.Column(rec.Schema().FieldIndices(c)[0])
				}
				for i := range int(rec.NumRows()) {
					for j, col := range in {
						row[j] = explain.Float32At(col, i)
					}
					count.Add(row)
				}
				rows += rec.NumRows()
				return nil
			})
			if err != nil {
				return err
			}
			covers, unreached := count.Covers()
			if len(unreached) > 0 {
				var names []string
				for _, u := range unreached[:min(5, len(unreached))] {
					names = append(names, fmt.Sprintf("tree %d node %d", u.Tree, u.Node))
				}
				return &jobs.CodeError{Code: jobs.ExitDataQuality, Err: fmt.Errorf(
					"%d nodes are reached by none of the %d rows of %s (%s): give reference data that reaches every node, such as the training data",
					len(unreached), rows, data, strings.Join(names, ", "))}
			}
			var buf bytes.Buffer
			if err := explain.WriteCovers(&buf, covers); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(out, buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: covers of %d nodes in %d trees from %d rows\n", out, len(covers), e.Trees, rows)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "Parquet files of the reference data (a glob)")
	cmd.Flags().StringVar(&inputs, "inputs", "", "the columns that fill the trees' input, in order, comma-separated")
	cmd.Flags().StringVar(&out, "out", "", "the covers file to write")
	return cmd
}
