package parquetio

// Hive-style partition folders. A file at
//
//	snap/snapshot_date=2026-11-20/region=eu/part-0.parquet
//
// matched by snap/*/*/*.parquet carries the columns snapshot_date and
// region in its path, as DuckDB, Spark, pandas and Ray read it. Only the
// folders below the partition root count: by default the glob's fixed
// folder (the part before its first wildcard), or the root a caller
// names with WithPartitionRoot (a job's source template, whose {{ .Date }}
// folder changes from run to run). Each key=value folder is a column of
// every row of the file: typed date (YYYY-MM-DD) when every file's value
// is one, int64 when every value is an integer (without leading zeros or
// a plus sign), else string; a type the
// caller declares (WithPartitionTypes) wins, and a value that does not
// parse as it is an error naming the file. Folders without '=' are
// ignored. Spark's __HIVE_DEFAULT_PARTITION__ is null. Values are
// URL-unescaped, as Hive and Spark escape them.

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/scalar"
)

// Option changes how Open reads a snapshot.
type Option func(*openOptions)

type openOptions struct {
	root        string
	types       map[string]arrow.DataType
	hashWorkers int // fingerprint.go
}

// WithPartitionRoot names where partition folders start: root is a prefix
// of the pattern Open gets (for a job, its source template up to the
// first {{ action, rendered), and the folders of a file's path after it
// are read as partitions, as if root were followed by a wildcard. A root
// that is not a prefix of the pattern is ignored.
func WithPartitionRoot(root string) Option {
	return func(o *openOptions) { o.root = root }
}

// WithPartitionTypes declares partition columns' types; undeclared ones
// are inferred. Supported: int64, float64, bool, string, date32 and
// timestamps.
func WithPartitionTypes(types map[string]arrow.DataType) Option {
	return func(o *openOptions) { o.types = types }
}

// hiveNull is the folder value Hive and Spark write for a null.
const hiveNull = "__HIVE_DEFAULT_PARTITION__"

// partition is one key=value folder of a file's path.
type partition struct {
	name, raw string
	null      bool
	value     scalar.Scalar // typed as the column: the file's own when inFile
	err       error         // the value does not parse as the file's own column
	inFile    bool          // the file has a column of that name too
}

func typedValue(typ arrow.DataType, p partition) (scalar.Scalar, error) {
	if p.null {
		return scalar.MakeNullScalar(typ), nil
	}
	return parseValue(typ, p.raw)
}

// partitionBase is the folder (local) or key prefix (object) below which
// path segments are partitions: below the partition root, when it is a
// prefix of the pattern, else below the pattern's first wildcard.
func partitionBase(loc location, pattern string, o openOptions) string {
	marked := pattern
	if o.root != "" && strings.HasPrefix(pattern, o.root) {
		marked = o.root + "*" + pattern[len(o.root):]
	}
	return loc.partitionBase(marked)
}

// parsePartitions reads the key=value folders of rel, a file's path below
// the partition root.
func parsePartitions(file, rel string) ([]partition, error) {
	segs := strings.Split(rel, "/")
	var parts []partition
	seen := map[string]bool{}
	for _, seg := range segs[:len(segs)-1] { // the last is the file's name
		key, raw, ok := strings.Cut(seg, "=")
		if !ok || key == "" {
			continue
		}
		if v, err := url.PathUnescape(raw); err == nil {
			raw = v
		}
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: %s: partition folder %q appears twice in the path", ErrSchema, file, key)
		}
		seen[key] = true
		parts = append(parts, partition{name: key, raw: raw, null: raw == hiveNull})
	}
	return parts, nil
}

// typePartitions gives every file's partitions their type and value, and
// adds to each file's schema the partition columns the file does not hold
// itself. Every file must have the same partition folders.
func (s *Source) typePartitions(declared map[string]arrow.DataType) error {
	first := s.files[0]
	for _, f := range s.files[1:] {
		if !sameKeys(first.parts, f.parts) {
			return fmt.Errorf("%w: %s has partition folders %s but %s has %s: every file of a snapshot needs the same ones",
				ErrSchema, f.Path, keyList(f.parts), first.Path, keyList(first.parts))
		}
	}
	for i, p := range first.parts {
		typ, ok := declared[p.name]
		if !ok {
			typ = s.inferType(i)
		}
		for j := range s.files {
			f := &s.files[j]
			fp := &f.parts[i]
			if idx := f.schema.FieldIndices(fp.name); len(idx) > 0 {
				// Read from the file and held to the folder's value when
				// read (checkPartition), in the file's type.
				fp.inFile = true
				fp.value, fp.err = typedValue(f.schema.Field(idx[0]).Type, *fp)
				continue
			}
			v, err := typedValue(typ, *fp)
			if err != nil {
				how := "inferred from every file's folder"
				if ok {
					how = "declared in validation.columns"
				}
				return fmt.Errorf("%w: %s: partition folder %s=%s: %q is not a %s (%s)", ErrSchema, f.Path, fp.name, fp.raw, fp.raw, typ, how)
			}
			fp.value = v
			fields := append(f.schema.Fields(), arrow.Field{Name: fp.name, Type: typ, Nullable: true})
			md := f.schema.Metadata()
			f.schema = arrow.NewSchema(fields, &md)
		}
	}
	for j := range s.files {
		f := &s.files[j]
		if len(f.parts) > 0 {
			f.Partition = map[string]string{}
			for _, p := range f.parts {
				f.Partition[p.name] = p.raw
			}
		}
	}
	return nil
}

// inferType is the type of partition column i: date when every non-null
// value is YYYY-MM-DD, int64 when every one is an integer written as
// int64 writes it, else string.
func (s *Source) inferType(i int) arrow.DataType {
	dates, ints := true, true
	for _, f := range s.files {
		p := f.parts[i]
		if p.null {
			continue
		}
		if _, err := time.Parse(time.DateOnly, p.raw); err != nil || len(p.raw) != len(time.DateOnly) {
			dates = false
		}
		// Only as written back: 010 stays a string (a code's leading
		// zero), as DuckDB keeps it.
		if v, err := strconv.ParseInt(p.raw, 10, 64); err != nil || strconv.FormatInt(v, 10) != p.raw {
			ints = false
		}
	}
	switch {
	case dates:
		return arrow.FixedWidthTypes.Date32
	case ints:
		return arrow.PrimitiveTypes.Int64
	}
	return arrow.BinaryTypes.String
}

// parseValue reads a folder's value as typ. Integers are base 10 only:
// scalar.ParseScalar would read 010 as octal.
func parseValue(typ arrow.DataType, raw string) (scalar.Scalar, error) {
	switch typ.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64:
		width := typ.(arrow.FixedWidthDataType).BitWidth()
		v, err := strconv.ParseInt(raw, 10, width)
		if err != nil {
			return nil, err
		}
		return scalar.MakeIntegerScalar(v, width)
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		width := typ.(arrow.FixedWidthDataType).BitWidth()
		v, err := strconv.ParseUint(raw, 10, width)
		if err != nil {
			return nil, err
		}
		return scalar.MakeUnsignedIntegerScalar(v, width)
	case arrow.DATE32, arrow.DATE64:
		if len(raw) != len(time.DateOnly) {
			return nil, fmt.Errorf("not YYYY-MM-DD")
		}
	case arrow.LARGE_STRING:
		return scalar.NewLargeStringScalar(raw), nil
	}
	return scalar.ParseScalar(typ, raw)
}

func sameKeys(a, b []partition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name {
			return false
		}
	}
	return true
}

func keyList(parts []partition) string {
	if len(parts) == 0 {
		return "(none)"
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	return "[" + strings.Join(names, " ") + "]"
}
