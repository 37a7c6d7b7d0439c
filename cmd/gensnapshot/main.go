// Command gensnapshot writes a reproducible, synthetic churn-like customer
// snapshot as Parquet (and optionally CSV):
//
//	gensnapshot --date 2026-11-20 --rows 2000 --files 2 --out testdata/customers
//
// writes testdata/customers/snapshot_date=2026-11-20/part-00000.parquet and
// part-00001.parquet. The same flags always produce byte-identical files.
// Rows are generated from a single PCG stream (math/rand/v2) in customer_id
// order, so the row contents do not depend on --files, only on --seed (by
// default derived from --date) and --rows. Rows are streamed in batches, so
// millions of rows need little memory.
//
// See testdata/README.md for the schema.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/compress"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	// Its zstd codec keeps one encoder per level; arrow's builds one per
	// page, which made a snapshot of many small files cost seconds a file.
	_ "github.com/batchscore/batchscore/io/parquetio"
)

const (
	// rowGroupRows is the number of rows per Parquet row group.
	rowGroupRows = 65536
	// batchRows is the number of rows generated and handed to the Parquet
	// writer at a time. It divides rowGroupRows.
	batchRows = 8192
	// generatorVersion is recorded in the file metadata. Bump it when the
	// generated data changes.
	generatorVersion = "gensnapshot/1"
)

// Options are the generator's settings (the command-line flags).
type Options struct {
	Date  string // logical snapshot date, YYYY-MM-DD
	Rows  int64  // total rows across all files
	Files int    // number of part files
	Out   string // root directory; files go to Out/snapshot_date=Date/
	Seed  uint64 // PCG seed
	CSV   bool   // also write part-NNNNN.csv next to each Parquet file
	// RowGroupRows is the rows per row group (default rowGroupRows); a
	// multiple of batchRows.
	RowGroupRows int64
}

// DefaultSeed derives the default seed from the date, so each date gets
// different but reproducible data.
func DefaultSeed(date string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, "batchscore/gensnapshot/"+date)
	return h.Sum64()
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gensnapshot:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gensnapshot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.StringVar(&o.Date, "date", "", "logical snapshot date YYYY-MM-DD (required; also written as the snapshot_date column)")
	fs.Int64Var(&o.Rows, "rows", 1000, "number of rows in the snapshot")
	fs.IntVar(&o.Files, "files", 1, "number of part files to split the rows over")
	fs.StringVar(&o.Out, "out", "", "output root; files are written to OUT/snapshot_date=DATE/part-NNNNN.parquet (required)")
	fs.Uint64Var(&o.Seed, "seed", 0, "random seed (default: derived from --date)")
	fs.BoolVar(&o.CSV, "csv", false, "also write part-NNNNN.csv next to each Parquet file")
	fs.Int64Var(&o.RowGroupRows, "row-group-rows", rowGroupRows, "rows per Parquet row group, a multiple of 8192")
	list := fs.Bool("list-features", false, "print the 30 model feature names, one per line, and exit")
	quiet := fs.Bool("q", false, "do not print the written files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *list {
		for _, n := range FeatureNames {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	seedSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			seedSet = true
		}
	})
	if !seedSet {
		o.Seed = DefaultSeed(o.Date)
	}
	paths, err := Generate(o)
	if err != nil {
		return err
	}
	if !*quiet {
		for _, p := range paths {
			fmt.Fprintln(stdout, p)
		}
	}
	return nil
}

// Generate writes the snapshot described by o and returns the paths written.
// Existing part-*.parquet / part-*.csv files in the partition directory are
// removed first, so a smaller --files does not leave stale parts behind.
func Generate(o Options) ([]string, error) {
	if o.Date == "" {
		return nil, errors.New("--date is required")
	}
	day, err := time.Parse(time.DateOnly, o.Date)
	if err != nil {
		return nil, fmt.Errorf("--date: %w", err)
	}
	if o.Out == "" {
		return nil, errors.New("--out is required")
	}
	if o.Rows < 1 {
		return nil, errors.New("--rows must be at least 1")
	}
	if o.RowGroupRows == 0 {
		o.RowGroupRows = rowGroupRows
	}
	if o.RowGroupRows < batchRows || o.RowGroupRows%batchRows != 0 {
		return nil, fmt.Errorf("--row-group-rows must be a positive multiple of %d", batchRows)
	}
	if o.Files < 1 || int64(o.Files) > o.Rows {
		return nil, fmt.Errorf("--files must be between 1 and --rows (%d)", o.Rows)
	}

	dir := filepath.Join(o.Out, "snapshot_date="+o.Date)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, pat := range []string{"part-*.parquet", "part-*.csv"} {
		old, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return nil, err
			}
		}
	}

	g := &generator{
		opts: o,
		date: arrow.Date32FromTime(day),
		rng:  rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
	}
	var paths []string
	for k := range o.Files {
		// File k holds rows [k*N/K, (k+1)*N/K).
		lo := int64(k) * o.Rows / int64(o.Files)
		hi := int64(k+1) * o.Rows / int64(o.Files)
		base := filepath.Join(dir, fmt.Sprintf("part-%05d", k))
		if err := g.writeFile(base, lo, hi); err != nil {
			return nil, err
		}
		paths = append(paths, base+".parquet")
		if o.CSV {
			paths = append(paths, base+".csv")
		}
	}
	return paths, nil
}

type generator struct {
	opts Options
	date arrow.Date32
	rng  *rand.Rand
}

// writerProperties: zstd, one row group per groupRows rows (65,536 unless
// --row-group-rows says otherwise), no dictionary
// encoding except for the low-cardinality string columns.
func writerProperties(groupRows int64) *parquet.WriterProperties {
	props := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Zstd),
		parquet.WithMaxRowGroupLength(groupRows),
		parquet.WithDictionaryDefault(false),
		parquet.WithDictionaryFor(colContractType, true),
		parquet.WithDictionaryFor(colPayment, true),
		parquet.WithDictionaryFor(colRegion, true),
		parquet.WithCreatedBy("batchscore " + generatorVersion),
	}
	return parquet.NewWriterProperties(props...)
}

func (g *generator) writeFile(base string, lo, hi int64) (err error) {
	pf, err := os.Create(base + ".parquet")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(pf, 1<<20)

	var cw *csvWriter
	if g.opts.CSV {
		cf, err := os.Create(base + ".csv")
		if err != nil {
			return err
		}
		defer func() {
			if cerr := cf.Close(); err == nil {
				err = cerr
			}
		}()
		cw = newCSVWriter(cf)
		if err := cw.header(Schema()); err != nil {
			return err
		}
	}

	mem := memory.NewGoAllocator()
	schema := Schema()
	fw, err := pqarrow.NewFileWriter(schema, bw, writerProperties(g.opts.RowGroupRows), pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema()))
	if err != nil {
		return err
	}
	for _, kv := range [][2]string{
		{"batchscore.generator", generatorVersion},
		{"batchscore.snapshot_date", g.opts.Date},
		{"batchscore.seed", strconv.FormatUint(g.opts.Seed, 10)},
	} {
		if err := fw.AppendKeyValueMetadata(kv[0], kv[1]); err != nil {
			return err
		}
	}

	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for start := lo; start < hi; {
		// Batches never straddle a row-group boundary (counted from the
		// start of the file), so row groups are exactly rowGroupRows rows.
		n := min(int64(batchRows), hi-start)
		for i := range n {
			c := newCustomer(g.rng, customerIDBase+start+i)
			c.appendTo(rb, g.date)
			if cw != nil {
				cw.row(&c, g.opts.Date)
			}
		}
		rec := rb.NewRecord()
		err := fw.WriteBuffered(rec)
		rec.Release()
		if err != nil {
			return err
		}
		start += n
	}
	if err := fw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if cw != nil {
		return cw.flush()
	}
	return nil
}

// appendTo appends c as one row to rb (whose schema is Schema()).
func (c *customer) appendTo(rb *array.RecordBuilder, date arrow.Date32) {
	c.visit(&arrowRow{rb: rb, date: date})
}

// arrowRow appends each visited value to the next field's builder.
type arrowRow struct {
	rb   *array.RecordBuilder
	i    int
	date arrow.Date32
}

func (r *arrowRow) next() array.Builder { b := r.rb.Field(r.i); r.i++; return b }
func (r *arrowRow) snapshotDate()       { r.next().(*array.Date32Builder).Append(r.date) }
func (r *arrowRow) i32(v int32)         { r.next().(*array.Int32Builder).Append(v) }
func (r *arrowRow) i64(v int64)         { r.next().(*array.Int64Builder).Append(v) }
func (r *arrowRow) f64(v float64)       { r.next().(*array.Float64Builder).Append(v) }
func (r *arrowRow) bool(v bool)         { r.next().(*array.BooleanBuilder).Append(v) }
func (r *arrowRow) str(v string)        { r.next().(*array.StringBuilder).Append(v) }
