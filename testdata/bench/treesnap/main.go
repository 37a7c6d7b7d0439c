// Command treesnap writes the tree-family bench snapshot: ROWS rows of
// row_id and twelve float64 columns f0..f11 (each value a float32, so the
// model's float input is the same number), drawn as
// build_tree_families.py draws its training rows (normal features, f4 a
// category 0..5, f10 0..3, f11 0..100 to one decimal, NaN in f0, f3 and
// f7 in about 8 % of rows, -nan), as Parquet files of 500,000 rows in
// OUT/snapshot_date=DATE/, and the same rows as one little-endian float32
// row-major matrix in OUT/rows.f32 for the Python peers (np.memmap).
//
//	go run ./testdata/bench/treesnap -rows 2000000 -out DIR -date 2026-12-01
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
)

const width = 12

func main() {
	rows := flag.Int("rows", 2000000, "rows")
	out := flag.String("out", "", "output folder")
	date := flag.String("date", "2026-12-01", "snapshot date (folder name)")
	nanRate := flag.Float64("nan", 0.08, "share of rows with NaN in f0, f3 and f7 (scikit-learn's forests take none)")
	flag.Parse()
	if *out == "" {
		log.Fatal("treesnap: -out is required")
	}
	dir := filepath.Join(*out, "snapshot_date="+*date)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	raw, err := os.Create(filepath.Join(*out, "rows.f32"))
	if err != nil {
		log.Fatal(err)
	}
	bw := bufio.NewWriterSize(raw, 1<<20)
	r := rand.New(rand.NewPCG(1207, 2))
	fields := []arrow.Field{{Name: "row_id", Type: arrow.PrimitiveTypes.Int64}}
	for f := range width {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", f), Type: arrow.PrimitiveTypes.Float64, Nullable: true})
	}
	schema := arrow.NewSchema(fields, nil)
	const perFile = 500000
	var buf [4]byte
	for part, start := 0, 0; start < *rows; part, start = part+1, start+perFile {
		n := min(perFile, *rows-start)
		b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
		for i := range n {
			b.Field(0).(*array.Int64Builder).Append(int64(start + i))
			for f := range width {
				v := float32(r.NormFloat64())
				switch f {
				case 4:
					v = float32(r.IntN(6))
				case 10:
					v = float32(r.IntN(4))
				case 11:
					v = float32(math.Round(r.Float64()*1000) / 10)
				case 0, 3, 7:
					if r.Float64() < *nanRate {
						v = float32(math.NaN())
					}
				}
				b.Field(1 + f).(*array.Float64Builder).Append(float64(v))
				binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
				bw.Write(buf[:])
			}
		}
		rec := b.NewRecord()
		write(filepath.Join(dir, fmt.Sprintf("part-%05d.parquet", part)), rec)
		rec.Release()
		b.Release()
	}
	if err := bw.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		log.Fatal(err)
	}
}

func write(path string, rec arrow.Record) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	props := parquet.NewWriterProperties(parquet.WithMaxRowGroupLength(131072))
	w, err := pqarrow.NewFileWriter(rec.Schema(), f, props, pqarrow.DefaultWriterProps())
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		log.Fatal(err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
}
