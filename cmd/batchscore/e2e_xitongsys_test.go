package main

// A second, independent Parquet reader: github.com/xitongsys/parquet-go,
// through its column reader. After every batchscore run that names a job
// file, the manifests the run left in the job's table are read, and every
// column of every published result, quarantine, shadow and review file is
// read with xitongsys: its row count must be the manifest's, and its values
// those arrow-go (pqarrow) reads from the same bytes.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	xcommon "github.com/xitongsys/parquet-go/common"
	xreader "github.com/xitongsys/parquet-go/reader"
	xsource "github.com/xitongsys/parquet-go/source"
	"gopkg.in/yaml.v3"

	"github.com/batchscore/batchscore/io/blob"
	"github.com/batchscore/batchscore/jobs/report"
)

// Totals over the whole test binary, printed by TestMain.
var xitongsysFiles, xitongsysDistinct, xitongsysTables, xitongsysRows atomic.Int64

// xitongsysRead holds the SHA-256 of every file both readers agreed on:
// a rerun that publishes the same bytes again (the crash and idempotency
// tests do, dozens of times) is not read again.
var xitongsysRead sync.Map

// memFile is a Parquet file held in memory, as xitongsys's source wants
// it: every column buffer Opens a reader of its own.
type memFile struct {
	*bytes.Reader
	data []byte
}

func newMemFile(data []byte) *memFile { return &memFile{Reader: bytes.NewReader(data), data: data} }

func (f *memFile) Open(string) (xsource.ParquetFile, error)   { return newMemFile(f.data), nil }
func (f *memFile) Create(string) (xsource.ParquetFile, error) { return nil, fmt.Errorf("read only") }
func (f *memFile) Write([]byte) (int, error)                  { return 0, fmt.Errorf("read only") }
func (f *memFile) Close() error                               { return nil }

// xColumns reads every leaf column of a Parquet file with xitongsys's
// column reader, in schema order: name -> values (nil for a null). A
// panic inside xitongsys is an error naming the column.
func xColumns(data []byte) (names []string, cols map[string][]any, rows int64, err error) {
	col := "(footer)"
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("column %s: xitongsys panicked: %v", col, r)
		}
	}()
	pr, err := xreader.NewParquetColumnReader(newMemFile(data), 1)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("footer: %w", err)
	}
	defer pr.ReadStop()
	rows = pr.GetNumRows()
	cols = map[string][]any{}
	sh := pr.SchemaHandler
	for _, in := range sh.ValueColumns {
		ex := sh.InPathToExPath[in]
		_, col, _ = strings.Cut(ex, xcommon.PAR_GO_PATH_DELIMITER) // without the root's name
		var vals []any
		if rows > 0 {
			if vals, _, _, err = pr.ReadColumnByPath(ex, rows); err != nil {
				return nil, nil, 0, fmt.Errorf("column %s: %w", col, err)
			}
		}
		if int64(len(vals)) != rows {
			return nil, nil, 0, fmt.Errorf("column %s: xitongsys read %d values, the footer says %d rows", col, len(vals), rows)
		}
		names = append(names, col)
		cols[col] = vals
	}
	return names, cols, rows, nil
}

// arrowTable reads the same bytes with arrow-go.
func arrowTable(data []byte) (arrow.Table, error) {
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	return fr.ReadTable(context.Background())
}

// xitongsysCheck reads one Parquet file with both readers; wantRows < 0
// skips the row-count check. compareAll compares every column's values;
// otherwise the first, "score" and the first string column (big files,
// where a few columns tell as much and cost far less).
func xitongsysCheck(data []byte, wantRows int64, compareAll bool) (int64, error) {
	names, xcols, rows, err := xColumns(data)
	if err != nil {
		return 0, err
	}
	if wantRows >= 0 && rows != wantRows {
		return 0, fmt.Errorf("xitongsys reads %d rows, the manifest says %d", rows, wantRows)
	}
	tbl, err := arrowTable(data)
	if err != nil {
		return 0, fmt.Errorf("arrow: %w", err)
	}
	defer tbl.Release()
	if tbl.NumRows() != rows {
		return 0, fmt.Errorf("xitongsys reads %d rows, arrow %d", rows, tbl.NumRows())
	}
	if int(tbl.NumCols()) != len(names) {
		return 0, fmt.Errorf("xitongsys reads %d columns %v, arrow %d", len(names), names, tbl.NumCols())
	}
	pickedString := false
	for i := 0; i < int(tbl.NumCols()); i++ {
		f := tbl.Schema().Field(i)
		if names[i] != f.Name {
			return 0, fmt.Errorf("column %d: xitongsys names it %q, arrow %q", i, names[i], f.Name)
		}
		isString := f.Type.ID() == arrow.STRING || f.Type.ID() == arrow.DICTIONARY
		if !compareAll && i != 0 && f.Name != "score" && (!isString || pickedString) {
			continue
		}
		pickedString = pickedString || isString
		if err := sameValues(tbl.Column(i), xcols[f.Name]); err != nil {
			return 0, fmt.Errorf("column %s (%s): %w", f.Name, f.Type, err)
		}
	}
	return rows, nil
}

// sameValues compares an arrow column with xitongsys's values of it.
func sameValues(col *arrow.Column, xs []any) error {
	row := 0
	for _, chunk := range col.Data().Chunks() {
		for i := 0; i < chunk.Len(); i, row = i+1, row+1 {
			want, known := arrowValue(chunk, i)
			got := xs[row]
			switch {
			case chunk.IsNull(i) || got == nil:
				if chunk.IsNull(i) != (got == nil) {
					return fmt.Errorf("row %d: arrow null %v, xitongsys %v", row, chunk.IsNull(i), got)
				}
			case !known:
				// A type without a mapping here: nulls compared, values not.
			case !sameValue(got, want):
				return fmt.Errorf("row %d: xitongsys %#v, arrow %#v", row, got, want)
			}
		}
	}
	return nil
}

func sameValue(got, want any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && (g == w || math.IsNaN(g) && math.IsNaN(w))
	case float32:
		g, ok := got.(float32)
		return ok && (g == w || g != g && w != w)
	}
	return got == want
}

// arrowValue is value i of arr as xitongsys gives a Parquet physical
// value: INT32 int32, INT64 int64, BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY
// string, and so on. known is false for a type not mapped here.
func arrowValue(arr arrow.Array, i int) (v any, known bool) {
	switch a := arr.(type) {
	case *array.Boolean:
		return a.Value(i), true
	case *array.Int8:
		return int32(a.Value(i)), true
	case *array.Int16:
		return int32(a.Value(i)), true
	case *array.Int32:
		return a.Value(i), true
	case *array.Int64:
		return a.Value(i), true
	case *array.Uint8:
		return int32(a.Value(i)), true
	case *array.Uint16:
		return int32(a.Value(i)), true
	case *array.Uint32:
		return int32(a.Value(i)), true
	case *array.Uint64:
		return int64(a.Value(i)), true
	case *array.Float32:
		return a.Value(i), true
	case *array.Float64:
		return a.Value(i), true
	case *array.String:
		return a.Value(i), true
	case *array.LargeString:
		return a.Value(i), true
	case *array.Binary:
		return string(a.Value(i)), true
	case *array.Date32:
		return int32(a.Value(i)), true
	case *array.Time32:
		return int32(a.Value(i)), true
	case *array.Time64:
		return int64(a.Value(i)), true
	case *array.Timestamp:
		v := int64(a.Value(i))
		if a.DataType().(*arrow.TimestampType).Unit == arrow.Second {
			v *= 1000 // Parquet has no seconds: written as milliseconds
		}
		return v, true
	case *array.Decimal128:
		return decimalBytes(a.Value(i), a.DataType().(*arrow.Decimal128Type).Precision), true
	case *array.Dictionary:
		return arrowValue(a.Dictionary(), a.GetValueIndex(i))
	}
	return nil, false
}

// decimalBytes is a decimal as Parquet's FIXED_LEN_BYTE_ARRAY holds it:
// big-endian two's complement in the fewest bytes for the precision.
func decimalBytes(n decimal128.Num, precision int32) string {
	size := int(math.Ceil((float64(precision)*math.Log2(10) + 1) / 8))
	bi := n.BigInt()
	if bi.Sign() < 0 {
		bi.Add(bi, new(big.Int).Lsh(big.NewInt(1), uint(8*size)))
	}
	b := bi.FillBytes(make([]byte, size))
	return string(b)
}

// ---------------------------------------------------------------------------
// The hook: the tables a run's job files name, before and after the run.

// tableWatch holds the manifests a table had before a run.
type tableWatch struct {
	table string // a folder, or an object URL with its query
	seen  map[string]string
}

var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// watchTables finds the job files among a batchscore run's arguments and
// lists their tables' manifests. A job file it cannot read is passed
// over: the run itself says what is wrong with it.
func watchTables(t *testing.T, env []string, args []string) []*tableWatch {
	t.Helper()
	var out []*tableWatch
	for _, a := range args {
		if !strings.HasSuffix(a, ".yaml") && !strings.HasSuffix(a, ".yml") {
			continue
		}
		table := jobTable(a, env)
		if table == "" {
			continue
		}
		out = append(out, &tableWatch{table: table, seen: listManifests(t, table)})
	}
	return out
}

// watchJobsDir watches the tables of the job files in a daemon's folder.
func watchJobsDir(t *testing.T, env []string, dir string) []*tableWatch {
	t.Helper()
	jobs, _ := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	return watchTables(t, env, jobs)
}

// checkJobsDir checks what a daemon published, in the tables of the job
// files in its folder now (some may have come since watchJobsDir).
func checkJobsDir(t *testing.T, env []string, dir string, before []*tableWatch) {
	t.Helper()
	seen := map[string]bool{}
	for _, w := range before {
		seen[w.table] = true
		w.checkPublished(t)
	}
	for _, w := range watchJobsDir(t, env, dir) {
		if !seen[w.table] {
			seen[w.table] = true
			w.seen = nil
			w.checkPublished(t)
		}
	}
}

// jobTable is output.table of the job file, as the binary resolves it.
func jobTable(path string, env []string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var doc struct {
		Output struct {
			Table string `yaml:"table"`
		} `yaml:"output"`
	}
	if yaml.Unmarshal(data, &doc) != nil || doc.Output.Table == "" {
		return ""
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	table := envRefRE.ReplaceAllStringFunc(doc.Output.Table, func(m string) string { return vars[envRefRE.FindStringSubmatch(m)[1]] })
	if !blob.IsURL(table) && !filepath.IsAbs(table) {
		table = filepath.Join(filepath.Dir(path), table)
	}
	return table
}

// listManifests is runs/<date>/<version>.json of a table -> a stamp that
// changes when the file is rewritten.
func listManifests(t *testing.T, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	isManifest := func(p string) bool {
		return strings.HasSuffix(p, ".json") && !strings.HasSuffix(p, ".report.json") && !strings.HasSuffix(p, ".profile.json")
	}
	if blob.IsURL(table) {
		bucketURL, key, err := blob.Split(table)
		if err != nil {
			return out
		}
		b, err := blob.Open(context.Background(), bucketURL)
		if err != nil {
			return out
		}
		defer b.Close()
		objs, _ := b.List(context.Background(), key+"/runs/")
		for _, o := range objs {
			if isManifest(o.Key) {
				out[o.Key] = o.ETag + "/" + o.ModTime.String()
			}
		}
		return out
	}
	paths, _ := filepath.Glob(filepath.Join(table, "runs", "*", "*.json"))
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && isManifest(p) {
			out[p] = fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return out
}

// checkPublished reads, with xitongsys, every file of every manifest that
// is new or rewritten since watchTables.
func (w *tableWatch) checkPublished(t *testing.T) {
	t.Helper()
	var files, tables, rows int64
	for name, stamp := range listManifests(t, w.table) {
		if w.seen[name] == stamp {
			continue
		}
		data, err := w.read(name)
		if err != nil {
			continue // gone again (a later date's retention, say)
		}
		var m report.Manifest
		if json.Unmarshal(data, &m) != nil || !m.Output.Published {
			continue
		}
		if _, err := os.Stat(m.Output.Path); m.Output.URL == "" && os.IsNotExist(err) {
			continue // removed since by the run itself (retention)
		}
		for _, set := range publishedSets(&m) {
			tables++
			for _, f := range set.files {
				n, err := w.checkFile(set.dir+"/"+f.Name, f.Rows, f.Rows <= 20000)
				if err != nil {
					t.Errorf("xitongsys: %s table of %s version %s: %s: %v", set.kind, w.name(), m.Version, f.Name, err)
					continue
				}
				files++
				rows += n
			}
		}
	}
	if files > 0 {
		xitongsysFiles.Add(files)
		xitongsysTables.Add(tables)
		xitongsysRows.Add(rows)
		t.Logf("xitongsys read %d Parquet files of %d published tables (%d rows) in %s", files, tables, rows, w.name())
	}
}

type fileSet struct {
	kind  string
	dir   string // a folder, or a key in the table's bucket
	files []report.File
}

// publishedSets are a published manifest's tables: the results and, when
// they hold rows, its quarantine, shadow and review tables.
func publishedSets(m *report.Manifest) []fileSet {
	dir := m.Output.Path
	if m.Output.URL != "" {
		_, dir, _ = blob.Split(m.Output.URL)
	}
	side := func(local, name string) string {
		if local != "" && m.Output.URL == "" {
			return local
		}
		return dir + "/" + name
	}
	sets := []fileSet{{"result", dir, m.Output.Files}}
	if len(m.Output.QuarantineFiles) > 0 {
		sets = append(sets, fileSet{"quarantine", side(m.Output.QuarantinePath, "_quarantine"), m.Output.QuarantineFiles})
	}
	if c := m.Challenger; c != nil && len(c.Files) > 0 {
		sets = append(sets, fileSet{"shadow", side(c.Path, "_shadow"), c.Files})
	}
	if r := m.Review; r != nil && len(r.Files) > 0 {
		sets = append(sets, fileSet{"review", side(r.Path, "_review"), r.Files})
	}
	return sets
}

// name is the table for a message: an object URL without its query.
func (w *tableWatch) name() string {
	if blob.IsURL(w.table) {
		return blob.Redact(w.table)
	}
	return w.table
}

func (w *tableWatch) read(name string) ([]byte, error) {
	if !blob.IsURL(w.table) {
		return os.ReadFile(name)
	}
	bucketURL, _, err := blob.Split(w.table)
	if err != nil {
		return nil, err
	}
	b, err := blob.Open(context.Background(), bucketURL)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	return b.ReadAll(context.Background(), name)
}

func (w *tableWatch) checkFile(name string, wantRows int64, compareAll bool) (int64, error) {
	data, err := w.read(name)
	if err != nil {
		return 0, err
	}
	sum := sha256.Sum256(data)
	if n, ok := xitongsysRead.Load(sum); ok && n.(int64) == wantRows {
		return n.(int64), nil
	}
	n, err := xitongsysCheck(data, wantRows, compareAll)
	if err != nil {
		return 0, err
	}
	if _, dup := xitongsysRead.LoadOrStore(sum, n); !dup {
		xitongsysDistinct.Add(1)
	}
	return n, nil
}

// ---------------------------------------------------------------------------
// Every output type, value by value

// withEveryType adds to a snapshot record a column of each type a result,
// quarantine, shadow or review table can carry (the keys and the
// quarantined input rows are copied with their types), each with nulls,
// and nulls monthly_charges in nullRows rows so those are quarantined.
func withEveryType(t *testing.T, rec arrow.Record, nullRows int) arrow.Record {
	t.Helper()
	mem := memory.DefaultAllocator
	n := int(rec.NumRows())
	ids := rec.Column(rec.Schema().FieldIndices("customer_id")[0]).(*array.Int64)
	tsType := &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	decType := &arrow.Decimal128Type{Precision: 12, Scale: 2}
	bigDecType := &arrow.Decimal128Type{Precision: 30, Scale: 4}
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int32, ValueType: arrow.BinaryTypes.String}
	ts := array.NewTimestampBuilder(mem, tsType)
	dec := array.NewDecimal128Builder(mem, decType)
	bigDec := array.NewDecimal128Builder(mem, bigDecType)
	i32 := array.NewInt32Builder(mem)
	u16 := array.NewUint16Builder(mem)
	f32 := array.NewFloat32Builder(mem)
	b := array.NewBooleanBuilder(mem)
	s := array.NewStringBuilder(mem)
	d := array.NewDate32Builder(mem)
	dict := array.NewDictionaryBuilder(mem, dictType).(*array.BinaryDictionaryBuilder)
	base := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := 0; i < n; i++ {
		id := ids.Value(i)
		if id%7 == 3 {
			for _, bl := range []array.Builder{ts, dec, bigDec, i32, u16, f32, b, s, d, dict} {
				bl.AppendNull()
			}
			continue
		}
		ts.Append(arrow.Timestamp(base - id*1_000_003))
		dec.Append(decimal128.FromI64(id*137 - 50_000))
		bigDec.Append(decimal128.FromBigInt(new(big.Int).Mul(big.NewInt(-id-1), big.NewInt(1e15))))
		i32.Append(int32(id % 1000))
		u16.Append(uint16(60000 + id%5000))
		f32.Append(float32(id) / 3)
		b.Append(id%2 == 0)
		s.Append(fmt.Sprintf("naïve-%d", id%13))
		d.Append(arrow.Date32(20000 + id%400))
		must(t, dict.AppendString([]string{"gold", "silver", "bronze"}[id%3]))
	}
	fields := append([]arrow.Field(nil), rec.Schema().Fields()...)
	cols := append([]arrow.Array(nil), rec.Columns()...)
	for _, c := range []struct {
		name string
		b    array.Builder
	}{{"x_ts", ts}, {"x_dec", dec}, {"x_bigdec", bigDec}, {"x_i32", i32}, {"x_u16", u16}, {"x_f32", f32}, {"x_bool", b}, {"x_str", s}, {"x_date", d}, {"x_dict", dict}} {
		arr := c.b.NewArray()
		t.Cleanup(arr.Release)
		fields = append(fields, arrow.Field{Name: c.name, Type: arr.DataType(), Nullable: true})
		cols = append(cols, arr)
	}
	out := array.NewRecord(arrow.NewSchema(fields, nil), cols, rec.NumRows())
	t.Cleanup(out.Release)
	for row := 0; row < nullRows; row++ {
		out = nullAt(t, out, "monthly_charges", row*97)
	}
	return out
}

var everyTypeKeys = []string{"customer_id", "x_ts", "x_dec", "x_bigdec", "x_i32", "x_u16", "x_f32", "x_bool", "x_str", "x_date", "x_dict"}

// One table with every output type the writer produces (nulls, strings,
// dictionary-encoded strings, timestamps, dates, decimals, small and
// unsigned integers, float32, booleans) in its results, quarantine,
// shadow and review tables, under each output.compression: xitongsys's
// column reader reads every value as arrow-go does.
func TestXitongsysReadsEveryOutputType(t *testing.T) {
	root := t.TempDir()
	dir := copySamples(t, root, date20)
	rewriteSnapshot(t, dir, func(_ string, rec arrow.Record) arrow.Record { return withEveryType(t, rec, 5) })
	source := filepath.Join(root, "snapshot_date={{ .Date }}", "*.parquet")
	sections := "challenger:\n  path: " + strconv.Quote(modelPath(t, "churn_logreg.onnx")) + "\n  threshold: 0.3\n" + inputsBlock(t, "churn_logreg.yaml", "  ") +
		"\nreview:\n  band: [0.3, 0.7]\n"
	for _, codec := range []string{"zstd", "snappy", "gzip", "none"} {
		t.Run(codec, func(t *testing.T) {
			table := filepath.Join(t.TempDir(), "scores")
			edit := func(text string) string {
				text = strings.Replace(text, "  keys: [customer_id]", "  keys: ["+strings.Join(everyTypeKeys, ", ")+"]\n  compression: "+codec, 1)
				return appendSection(sections)(text)
			}
			job := writeJob(t, "churn_nightly.yaml", jobOpts{table: table, source: source, edit: edit})
			if res := bs(t, "run", job, "--date", date20); res.code != 0 {
				t.Fatalf("run: %s", res)
			}
			m := onlyManifest(t, table, date20)
			sets := publishedSets(m)
			kinds := map[string]bool{}
			for _, set := range sets {
				kinds[set.kind] = true
				for _, f := range set.files {
					checkEveryType(t, set.kind, filepath.Join(set.dir, f.Name), f.Rows, codec)
				}
			}
			if len(kinds) != 4 {
				t.Fatalf("published tables %v, want result, quarantine, shadow and review", kinds)
			}
		})
	}
}

// checkEveryType reads one file value by value with both readers, and
// checks that it holds what the test says it covers.
func checkEveryType(t *testing.T, kind, path string, rows int64, codec string) {
	t.Helper()
	data := mustRead(t, path)
	if _, err := xitongsysCheck(data, rows, true); err != nil {
		t.Fatalf("xitongsys: %s table %s: %v", kind, path, err)
	}
	// Every column's type is one arrowValue maps: compared, not only its nulls.
	tbl, err := arrowTable(data)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	for i := 0; i < int(tbl.NumCols()); i++ {
		if _, known := arrowValue(tbl.Column(i).Data().Chunk(0), 0); !known {
			t.Errorf("%s table: column %s (%s): its values are not compared", kind, tbl.Schema().Field(i).Name, tbl.Schema().Field(i).Type)
		}
	}
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	md := pf.MetaData()
	have := map[string]bool{}
	for i := 0; i < md.Schema.NumColumns(); i++ {
		have[md.Schema.Column(i).Name()] = true
	}
	for _, k := range everyTypeKeys {
		if !have[k] {
			t.Errorf("%s table %s has no column %s", kind, path, k)
		}
	}
	if pf.NumRowGroups() == 0 {
		t.Fatalf("%s table %s: no row groups", kind, path)
	}
	rg := md.RowGroup(0)
	dict := false
	for i := 0; i < rg.NumColumns(); i++ {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ToLower(cc.Compression().String()); got != codec && !(codec == "none" && got == "uncompressed") {
			t.Errorf("%s table %s column %d: compression %s, want %s", kind, path, i, got, codec)
		}
		dict = dict || cc.HasDictionaryPage()
	}
	if !dict {
		t.Errorf("%s table %s: no dictionary-encoded column", kind, path)
	}
}
