package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/spf13/cobra"

	"github.com/batchscore/batchscore/jobs"
	"github.com/batchscore/batchscore/jobs/spec"
	"github.com/batchscore/batchscore/jobs/validate/profile"
)

type profileFlags struct {
	out, columns, pii, job string
	chunkRows              int
}

func newProfileCommand() *cobra.Command {
	f := &profileFlags{}
	cmd := &cobra.Command{
		Use:   "profile DATA.parquet --out baseline.json",
		Short: "Profile training data into a baseline that runs measure drift against",
		Long: `profile reads Parquet files (a path or a glob, local or an s3:// URL as in a
job's source.parquet) and writes a column profile:
counts, nulls, NaN and infinities, min/max/mean/std, quantiles from a
mergeable KLL sketch (no sort of everything), histogram bins at the
quantiles (a value held by 5% or more of the rows in a bin of its own, so
that a change in its share shows in the PSI), and the most frequent values
of string and bool columns. Name the file in a
job's validation.baseline: each run then profiles its snapshot on the same
bins and reports drift (PSI and the share of values outside the training
range), and impute rules can use the baseline's median or mode.

A baseline is read by more people than the data: personal data stays out.
Columns declared pii (validation.columns in the job file given with --job,
or named in --pii) are left out of the file, since every statistic holds
some of their values; in the other columns, a top value seen in only one
row is left out (a column unique per row, such as an id, keeps no top
values). The file is written 0640, like the run's other outputs.`,
		Example: `  batchscore profile 'training/*.parquet' --out testdata/baseline.json --job configs/churn_nightly.yaml
  batchscore profile train.parquet --columns tenure_months,monthly_charges --out baseline.json
  batchscore profile train.parquet --pii email,customer_name --out baseline.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0])
		},
	}
	cmd.Flags().StringVar(&f.out, "out", "", "the baseline file to write (JSON)")
	cmd.Flags().StringVar(&f.columns, "columns", "", "comma-separated columns to profile (default: every supported column)")
	cmd.Flags().StringVar(&f.pii, "pii", "", "comma-separated columns holding personal data, left out of the baseline")
	cmd.Flags().StringVar(&f.job, "job", "", "the job file whose validation.columns declare which columns are pii")
	cmd.Flags().IntVar(&f.chunkRows, "chunk-rows", spec.DefaultChunkRows, "rows per record batch while reading")
	return cmd
}

func (f *profileFlags) run(cmd *cobra.Command, data string) error {
	if f.out == "" {
		return fmt.Errorf("%w: --out is required", jobs.ErrUsage)
	}
	if f.chunkRows < 1 {
		return fmt.Errorf("%w: --chunk-rows must be 1 or more", jobs.ErrUsage)
	}
	named := splitList(f.pii)
	pii := slices.Clone(named)
	if f.job != "" {
		job, err := spec.Load(f.job)
		if err != nil {
			return err
		}
		for name, c := range job.Validation.Columns {
			if c.PII {
				pii = append(pii, name)
			}
		}
	}
	p, err := profile.FromParquet(cmd.Context(), data, splitList(f.columns), f.chunkRows, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	// A --pii name that is no profiled column is a typo that would leave
	// the column it meant in the file.
	for _, name := range named {
		if p.Column(name) == nil {
			return fmt.Errorf("%w: --pii names column %q, which is not among the profiled columns of %s", jobs.ErrUsage, name, data)
		}
	}
	removed, singletons := p.Redact(pii)
	if err := p.Save(f.out); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "profiled %d rows, %d columns of %s into %s\n", p.Rows, len(p.Columns), data, f.out)
	printList(out, "  left out (pii): ", removed)
	printList(out, "  top values seen in one row only left out: ", singletons)
	var capped []string
	for _, c := range p.Columns {
		if c.DistinctAtLeast > 0 {
			capped = append(capped, fmt.Sprintf("%s (≥ %s distinct values: counting stops there)", c.Name, groupThousands(c.DistinctAtLeast)))
		}
	}
	printList(out, "  distinct values not all counted: ", capped)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func printList(w io.Writer, label string, names []string) {
	if len(names) > 0 {
		sort.Strings(names)
		fmt.Fprintf(w, "%s%s\n", label, strings.Join(names, ", "))
	}
}

// groupThousands writes 10000 as 10,000.
func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
