package main

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

func newProfileCommand() *cobra.Command {
	var out, columns string
	var chunkRows int
	cmd := &cobra.Command{
		Use:   "profile DATA.parquet --out baseline.json",
		Short: "Profile training data into a baseline that runs measure drift against",
		Long: `profile reads Parquet files (a path or a glob) and writes a column profile:
counts, nulls, NaN and infinities, min/max/mean/std, quantiles from a
mergeable KLL sketch (no sort of everything), histogram bins on the deciles,
and the most frequent values of string and bool columns. Name the file in a
job's validation.baseline: each run then profiles its snapshot on the same
bins and reports drift (PSI and the share of values outside the training
range), and impute rules can use the baseline's median or mode.`,
		Example: `  batchscore profile 'training/*.parquet' --out testdata/baseline.json
  batchscore profile train.parquet --columns tenure_months,monthly_charges --out baseline.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("%w: --out is required", jobs.ErrUsage)
			}
			var cols []string
			if columns != "" {
				cols = strings.Split(columns, ",")
			}
			p, err := profile.FromParquet(cmd.Context(), args[0], cols, chunkRows, memory.DefaultAllocator)
			if err != nil {
				return err
			}
			if err := p.Save(out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "profiled %d rows, %d columns of %s into %s\n", p.Rows, len(p.Columns), args[0], out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "the baseline file to write (JSON)")
	cmd.Flags().StringVar(&columns, "columns", "", "comma-separated columns to profile (default: every supported column)")
	cmd.Flags().IntVar(&chunkRows, "chunk-rows", spec.DefaultChunkRows, "rows per record batch while reading")
	return cmd
}
