package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/internal/testkit/miniotest"
	"github.com/batchscore/batchscore/io/blob"
)

// hiveSnapshot writes date20's samples as Spark writes a partitioned
// table: root/snapshot_date=<date>/num_products=<n>/part-*.parquet, the
// two partition columns left out of the files. It returns root.
func hiveSnapshot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	writeHive(t, root)
	return root
}

// writeHive writes hiveSnapshot's files under root.
func writeHive(t *testing.T, root string) {
	t.Helper()
	ctx := compute.WithAllocator(context.Background(), memory.DefaultAllocator)
	for _, part := range []string{"part-00000.parquet", "part-00001.parquet"} {
		rec := sampleRecord(t, date20, part)
		n := column(t, tableOf(rec), "num_products").(*array.Int64)
		values := map[int64]bool{}
		for i := range n.Len() {
			values[n.Value(i)] = true
		}
		for v := range values {
			mask := array.NewBooleanBuilder(memory.DefaultAllocator)
			for i := range n.Len() {
				mask.Append(n.Value(i) == v)
			}
			m := mask.NewArray()
			mask.Release()
			out, err := compute.FilterRecordBatch(ctx, dropColumns(rec, "snapshot_date", "num_products"), m, compute.DefaultFilterOptions())
			m.Release()
			if err != nil {
				t.Fatal(err)
			}
			writeParquet(t, filepath.Join(root, "snapshot_date="+date20, fmt.Sprintf("num_products=%d", v), part), out)
			out.Release()
		}
	}
}

func tableOf(rec arrow.Record) arrow.Table {
	return array.NewTableFromRecords(rec.Schema(), []arrow.Record{rec})
}

func dropColumns(rec arrow.Record, names ...string) arrow.Record {
	var fields []arrow.Field
	var cols []arrow.Array
	for i, f := range rec.Schema().Fields() {
		if !contains(names, f.Name) {
			fields = append(fields, f)
			cols = append(cols, rec.Column(i))
		}
	}
	return array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

// hiveJob is churn_nightly over a partitioned snapshot, with the two
// partition columns as pass-through keys; snapshot_date is also the
// column of its date_range and freshness rules, and num_products a model
// input.
func hiveJob(t *testing.T, table, source string, edit func(string) string) string {
	return writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source, edit: func(s string) string {
		s = strings.Replace(s, "keys: [customer_id]", "keys: [customer_id, snapshot_date, num_products]", 1)
		if edit != nil {
			s = edit(s)
		}
		return s
	}})
}

// keyValues reads customer_id → "snapshot_date|num_products" from a version.
func keyValues(t *testing.T, dir string) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	paths, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	for _, p := range paths {
		tbl := readParquet(t, p)
		ids := column(t, tbl, "customer_id").(*array.Int64)
		days := column(t, tbl, "snapshot_date")
		n := column(t, tbl, "num_products")
		if !arrow.TypeEqual(days.DataType(), arrow.FixedWidthTypes.Date32) || !arrow.TypeEqual(n.DataType(), arrow.PrimitiveTypes.Int64) {
			t.Fatalf("%s: snapshot_date is %s, num_products %s: want date32 and int64", p, days.DataType(), n.DataType())
		}
		for i := range ids.Len() {
			out[ids.Value(i)] = days.ValueStr(i) + "|" + n.ValueStr(i)
		}
	}
	return out
}

// scoresOf reads customer_id → score bits from a version.
func scoresOf(t *testing.T, dir string) map[int64]float64 {
	t.Helper()
	out := map[int64]float64{}
	paths, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	for _, p := range paths {
		tbl := readParquet(t, p)
		ids := column(t, tbl, "customer_id").(*array.Int64)
		scores := column(t, tbl, "score").(*array.Float64)
		for i := range ids.Len() {
			out[ids.Value(i)] = scores.Value(i)
		}
	}
	return out
}

// Spark's layout: the partition columns are only in the folder names. A
// job whose rules, keys and model read them runs, scores as the flat
// snapshot does, and publishes the folders' values; sharded and chunked
// reads give the same; validate and profile see the columns.
func TestI18HivePartitions(t *testing.T) {
	t.Parallel()
	root := hiveSnapshot(t)
	source := filepath.Join(root, "snapshot_date={{ .Date }}", "*", "*.parquet")

	flatTable := filepath.Join(t.TempDir(), "flat")
	flat := hiveJob(t, flatTable, "", nil)
	if res := bs(t, "run", flat, "--date", date20); res.code != 0 {
		t.Fatalf("run on the flat samples: %s", res)
	}
	want := scoresOf(t, onlyManifest(t, flatTable, date20).Output.Path)
	wantKeys := keyValues(t, onlyManifest(t, flatTable, date20).Output.Path)

	table := filepath.Join(t.TempDir(), "hive")
	job := hiveJob(t, table, source, nil)
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run on the partitioned snapshot: %s", res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if len(m.Source.Files) == 0 || m.Source.Files[0].Partition["snapshot_date"] != date20 || m.Source.Files[0].Partition["num_products"] == "" {
		t.Errorf("manifest source files %+v: want each file's partition folders", m.Source.Files)
	}
	gotKeys, got := keyValues(t, m.Output.Path), scoresOf(t, m.Output.Path)
	if len(got) != len(want) || len(gotKeys) != len(wantKeys) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w || gotKeys[id] != wantKeys[id] {
			t.Fatalf("customer %d: score %v and keys %s, want %v and %s (as from the flat files)", id, got[id], gotKeys[id], w, wantKeys[id])
		}
	}

	t.Run("chunked and sharded", func(t *testing.T) {
		table := filepath.Join(t.TempDir(), "shards")
		job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source, chunkRows: 7, edit: func(s string) string {
			return strings.Replace(s, "keys: [customer_id]", "keys: [customer_id, snapshot_date, num_products]", 1)
		}})
		for k, r := range runShards(t, job, 3, []int{0, 1, 2}, nil) {
			if r.code != 0 {
				t.Fatalf("shard %d: %s", k, r)
			}
		}
		res := bs(t, "commit", job, "--date", date20, "--shards", "3", "--json")
		if res.code != 0 {
			t.Fatalf("commit: %s", res)
		}
		c := parseManifest(t, []byte(res.stdout))
		got := keyValues(t, c.Output.Path)
		if len(got) != len(wantKeys) {
			t.Fatalf("%d rows, want %d", len(got), len(wantKeys))
		}
		for id, w := range wantKeys {
			if got[id] != w {
				t.Fatalf("customer %d: %s, want %s", id, got[id], w)
			}
		}
	})

	t.Run("validate", func(t *testing.T) {
		res := bs(t, "validate", job, "--date", date20)
		if res.code != 0 {
			t.Fatalf("validate: %s", res)
		}
	})

	t.Run("profile", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "p.json")
		res := bs(t, "profile", filepath.Join(root, "*", "*", "*.parquet"), "--columns", "snapshot_date,num_products,tenure_months", "--out", out)
		if res.code != 0 {
			t.Fatalf("profile: %s", res)
		}
		b := string(mustRead(t, out))
		if !strings.Contains(b, `"snapshot_date"`) || !strings.Contains(b, `"num_products"`) {
			t.Errorf("profile has no partition columns:\n%s", clip(b))
		}
	})

	t.Run("renamed folder changes the run id", func(t *testing.T) {
		copyRoot := hiveSnapshot(t)
		source := filepath.Join(copyRoot, "snapshot_date={{ .Date }}", "*", "*.parquet")
		// Declared int: num_products=01 is 1 (undeclared, a string).
		job := hiveJob(t, filepath.Join(t.TempDir(), "t"), source, func(s string) string {
			return strings.Replace(s, "    snapshot_date: {type: date}", "    snapshot_date: {type: date}\n    num_products: {type: int}", 1)
		})
		first := bs(t, "run", job, "--date", date20, "--json")
		if first.code != 0 {
			t.Fatalf("first run: %s", first)
		}
		day := filepath.Join(copyRoot, "snapshot_date="+date20)
		must(t, os.Rename(filepath.Join(day, "num_products=1"), filepath.Join(day, "num_products=01"))) // the same value
		second := bs(t, "run", job, "--date", date20, "--json")
		if second.code != 0 {
			t.Fatalf("second run: %s", second)
		}
		a, b := parseManifest(t, []byte(first.stdout)), parseManifest(t, []byte(second.stdout))
		if a.RunID == b.RunID || a.Source.Fingerprint == b.Source.Fingerprint {
			t.Errorf("run id %s and fingerprint %s kept after renaming a partition folder", b.RunID, b.Source.Fingerprint)
		}
		for id, v := range keyValues(t, b.Output.Path) {
			if v != wantKeys[id] {
				t.Fatalf("customer %d: %s after num_products=1 became num_products=01, want %s", id, v, wantKeys[id])
			}
		}
	})
}

// A file that holds the partition column itself: its value stands when
// it equals the folder's in every row, else exit 3 naming file and column;
// a folder value that is not the declared type is exit 3 naming the file.
func TestI18HivePartitionConflicts(t *testing.T) {
	t.Parallel()
	t.Run("file agrees with its folder", func(t *testing.T) {
		root := t.TempDir()
		copySamples(t, filepath.Join(root, "feed=crm"), date20) // snapshot_date inside and in the folder
		job := hiveJob(t, filepath.Join(t.TempDir(), "t"), filepath.Join(root, "*", "snapshot_date={{ .Date }}", "*.parquet"), func(s string) string {
			return strings.Replace(s, "keys: [customer_id, snapshot_date, num_products]", "keys: [customer_id, feed, snapshot_date]", 1)
		})
		if res := bs(t, "run", job, "--date", date20); res.code != 0 {
			t.Fatalf("run: %s", res)
		}
	})
	t.Run("file disagrees with its folder", func(t *testing.T) {
		root := t.TempDir()
		dir := copySamples(t, root, date19)
		must(t, os.Rename(dir, filepath.Join(root, "snapshot_date="+date20))) // the 19th's rows in the 20th's folder
		table := filepath.Join(t.TempDir(), "t")
		job := hiveJob(t, table, filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet"), func(s string) string {
			return strings.Replace(s, "keys: [customer_id, snapshot_date, num_products]", "keys: [customer_id]", 1)
		})
		res := bs(t, "run", job, "--date", date20)
		file := filepath.Join(root, "snapshot_date="+date20, "part-00000.parquet")
		msg := res.messages()
		if res.code != 3 || !strings.Contains(msg, file) || !strings.Contains(msg, `column "snapshot_date"`) || !strings.Contains(msg, date19) {
			t.Fatalf("want exit 3 naming %s, the column and both values: %s", file, res)
		}
		if fileExists(filepath.Join(table, "current")) {
			t.Error("a version was published")
		}
	})
	t.Run("folder value is not the declared type", func(t *testing.T) {
		root := hiveSnapshot(t)
		job := hiveJob(t, filepath.Join(t.TempDir(), "t"), filepath.Join(root, "snapshot_date={{ .Date }}", "*", "*.parquet"), func(s string) string {
			return strings.Replace(s, "    snapshot_date: {type: date}", "    snapshot_date: {type: date}\n    num_products: {type: bool}", 1)
		})
		res := bs(t, "run", job, "--date", date20)
		msg := res.messages()
		if res.code != 3 || !strings.Contains(msg, "num_products=") || !strings.Contains(msg, "declared in validation.columns") ||
			!strings.Contains(msg, filepath.Join(root, "snapshot_date="+date20)) {
			t.Fatalf("want exit 3 naming the file and the declared type: %s", res)
		}
	})
}

// DuckDB's read_parquet(..., hive_partitioning=true) reads the same
// values from the folders as batchscore publishes in its key columns.
func TestI18HiveMatchesDuckDB(t *testing.T) {
	t.Parallel()
	if !duckdbAvailable() {
		t.Skip("DuckDB for Node is not installed")
	}
	// feed=007: a zero-padded code, which both keep as a string.
	root := t.TempDir()
	writeHive(t, filepath.Join(root, "feed=007"))
	table := filepath.Join(t.TempDir(), "hive")
	job := hiveJob(t, table, filepath.Join(root, "*", "snapshot_date={{ .Date }}", "*", "*.parquet"), func(s string) string {
		return strings.Replace(s, "keys: [customer_id, snapshot_date, num_products]", "keys: [customer_id, snapshot_date, num_products, feed]", 1)
	})
	if res := bs(t, "run", job, "--date", date20); res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	dir := onlyManifest(t, table, date20).Output.Path
	got := keyValues(t, dir)
	feeds := map[int64]string{}
	paths, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	for _, p := range paths {
		tbl := readParquet(t, p)
		ids, feed := column(t, tbl, "customer_id").(*array.Int64), column(t, tbl, "feed")
		for i := range ids.Len() {
			feeds[ids.Value(i)] = feed.DataType().String() + ":" + feed.ValueStr(i)
		}
	}
	rows := duckdb(t, "SELECT customer_id, CAST(snapshot_date AS VARCHAR) AS d, typeof(snapshot_date) AS td, num_products, typeof(num_products) AS tn, feed, typeof(feed) AS tf FROM read_parquet("+
		sqlPath(filepath.Join(root, "*", "*", "*", "*.parquet"))+", hive_partitioning=true)")
	if len(rows) != len(got) {
		t.Fatalf("DuckDB reads %d rows, batchscore published %d", len(rows), len(got))
	}
	for _, r := range rows {
		id := asInt(t, r["customer_id"])
		if want := fmt.Sprintf("%v|%v", r["d"], r["num_products"]); got[id] != want || r["td"] != "DATE" || r["tn"] != "BIGINT" {
			t.Fatalf("customer %d: batchscore %s, DuckDB %s (%v, %v)", id, got[id], want, r["td"], r["tn"])
		}
		if want := fmt.Sprintf("utf8:%v", r["feed"]); feeds[id] != want || r["tf"] != "VARCHAR" {
			t.Fatalf("customer %d: batchscore feed %s, DuckDB %s (%v)", id, feeds[id], want, r["tf"])
		}
	}
}

// The same partitioned snapshot on S3 (MinIO). Not parallel: the bucket
// sets the environment.
func TestI18HivePartitionsOnS3(t *testing.T) {
	root := hiveSnapshot(t)
	bucketURL := miniotest.Bucket(t)
	ctx := context.Background()
	b, err := blob.Open(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	paths, _ := filepath.Glob(filepath.Join(root, "*", "*", "*.parquet"))
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		if err := b.Upload(ctx, "lake/customers/"+filepath.ToSlash(rel), p); err != nil {
			t.Fatal(err)
		}
	}
	base, query, _ := strings.Cut(bucketURL, "?")
	source := base + "/lake/customers/snapshot_date={{ .Date }}/*/*.parquet?" + query

	localTable := filepath.Join(t.TempDir(), "local")
	if res := bs(t, "run", hiveJob(t, localTable, filepath.Join(root, "snapshot_date={{ .Date }}", "*", "*.parquet"), nil), "--date", date20); res.code != 0 {
		t.Fatalf("local run: %s", res)
	}
	want := keyValues(t, onlyManifest(t, localTable, date20).Output.Path)
	table := filepath.Join(t.TempDir(), "s3")
	res := bs(t, "run", hiveJob(t, table, source, nil), "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("run from S3: %s", res)
	}
	got := keyValues(t, parseManifest(t, []byte(res.stdout)).Output.Path)
	if len(got) != len(want) {
		t.Fatalf("%d rows from S3, %d from disk", len(got), len(want))
	}
	for id, w := range want {
		if got[id] != w {
			t.Fatalf("customer %d: %s from S3, %s from disk", id, got[id], w)
		}
	}
}

// A key=value folder the job's source.parquet reads through is a column the
// job itself named: extra_columns: reject lets it be, as it did before such
// folders were columns.
func TestI18HivePartitionsAreNotExtraColumns(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	day := copySamples(t, root, date20)
	batch := filepath.Join(day, "batch=1")
	must(t, os.MkdirAll(batch, 0o755))
	files, err := filepath.Glob(filepath.Join(day, "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		must(t, os.Rename(f, filepath.Join(batch, filepath.Base(f))))
	}
	table := filepath.Join(t.TempDir(), "scores")
	job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table,
		source: filepath.Join(root, "snapshot_date={{ .Date }}", "*", "*.parquet"),
		edit: edits(replaceText(t, "  columns:\n", "  extra_columns: reject\n  columns:\n"), func(s string) string {
			// The samples' own unused columns are declared: only the folder is left.
			return insertAfter(t, s, "    monthly_charges: {type: float}",
				"    payment_method: {type: string}\n    region: {type: string}\n    churned: {type: bool}")
		})})
	res := bs(t, "run", job, "--date", date20, "--json")
	if res.code != 0 {
		t.Fatalf("exit %d, want 0: the partition folders are the job's own\n%s", res.code, res)
	}
	m := parseManifest(t, []byte(res.stdout))
	if m.Counts.Quarantined != 0 || m.Counts.Written != 2000 {
		t.Errorf("counts %+v: want 2000 written, none quarantined", m.Counts)
	}
}
