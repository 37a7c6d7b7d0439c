package parquetio

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/apache/arrow/go/v17/parquet/metadata"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"golang.org/x/sync/errgroup"
)

// WithHashWorkers sets how many files Fingerprint hashes at a time; the
// default is GOMAXPROCS.
func WithHashWorkers(n int) Option {
	return func(o *openOptions) { o.hashWorkers = n }
}

// FingerprintVersion prefixes every Parquet fingerprint: a fingerprint
// made by another rule has another prefix, so it never equals one of
// these by accident (a table's runs made before the rule changed run once
// more, under a new run id).
const FingerprintVersion = "v2:"

// FingerprintColumns names the columns the caller will Read: Fingerprint
// then hashes those columns' chunks and not the others, and Read refuses
// a column outside them. Without it Fingerprint hashes every column.
func (s *Source) FingerprintColumns(cols []string) {
	s.hashCols = nil
	if cols != nil {
		s.hashCols = append([]string{}, cols...)
	}
}

// Fingerprint returns v2:sha256:<hex>, one sha256 over the files' names,
// sizes and checksums, and sets each File's SHA256 to its checksum. A
// local file's checksum covers what determines the rows Read returns:
// its footer (schema, row groups, chunk offsets, key-value metadata)
// and the bytes of every column chunk of the columns Read takes
// (FingerprintColumns), every row group, whichever shard Read is
// restricted to, so that every shard has the same fingerprint. Any byte
// Read decodes, or of the footer, changes it; bytes of other columns,
// page indexes or bloom filters do not. A file this rule cannot map
// (an encrypted footer; a writer before PARQUET-816, whose chunks arrow
// reads past their stated end) is hashed whole: sha256:<hex> of its
// content. An object is not downloaded: its checksum is etag:<ETag> (see
// objectFiles.checksum). WithHashWorkers files are hashed at a time.
func (s *Source) Fingerprint(ctx context.Context) (string, error) {
	workers := s.opts.hashWorkers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range s.files {
		f := &s.files[i]
		g.Go(func() error {
			sum, err := f.loc.checksum(ctx, f, s.hashCols) // location.go
			if err != nil {
				return err
			}
			f.SHA256 = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	s.hashed = true
	h := sha256.New()
	for _, f := range s.files {
		// Partition folders the glob's wildcards matched are in Name; those
		// above them come from the job's template, so the logical date and
		// the job file, both in the run id, fix them.
		fmt.Fprintf(h, "%s\x00%d\x00%s\n", f.Name, f.Size, f.SHA256)
	}
	return FingerprintVersion + "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// checkFingerprinted holds Read to the columns Fingerprint hashed.
func (s *Source) checkFingerprinted(cols []string) error {
	if !s.hashed || s.hashCols == nil {
		return nil
	}
	for _, c := range cols {
		if !slices.Contains(s.hashCols, c) {
			return fmt.Errorf("%w: column %q is read but was not fingerprinted (FingerprintColumns)", ErrSchema, c)
		}
	}
	return nil
}

// hashRead is a local file's checksum: "read:<hex>" over its footer and
// the chunks of cols (every column when cols is nil), or "sha256:<hex>"
// of its content when the footer cannot be mapped to byte ranges.
func hashRead(ctx context.Context, path string, size int64, cols []string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil {
		return "", err
	} else if st.Size() != size {
		return "", fmt.Errorf("%s: size changed from %d to %d bytes while the run started", path, size, st.Size())
	}
	ranges, ok := readRanges(fh, size, cols)
	if !ok {
		return hashWhole(ctx, fh, path, size)
	}
	h := sha256.New()
	buf := make([]byte, 32<<10) // one for the file's ranges: io.Copy would allocate one per range
	for _, r := range ranges {
		if err := hashRange(ctx, h, fh, r, buf); err != nil {
			return "", fmt.Errorf("hashing %s: %w", path, err)
		}
	}
	return "read:" + hex.EncodeToString(h.Sum(nil)), nil
}

// byteRange is [start, start+size) of a file.
type byteRange struct{ start, size int64 }

func hashRange(ctx context.Context, h hash.Hash, r io.ReaderAt, br byteRange, buf []byte) error {
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(br.start))
	binary.LittleEndian.PutUint64(hdr[8:], uint64(br.size))
	h.Write(hdr[:])
	n, err := io.CopyBuffer(h, ctxReader{ctx, io.NewSectionReader(r, br.start, br.size)}, buf)
	if err == nil && n != br.size {
		err = fmt.Errorf("bytes [%d, +%d): read %d", br.start, br.size, n)
	}
	return err
}

// readRanges are the byte ranges the checksum covers: the footer with its
// length and magic, then the chunks of cols, row group by row group. ok
// is false when the footer does not say where they are (encrypted, not
// parseable, a writer arrow reads past chunk ends for, a range outside
// the file): the caller hashes the whole file, which Read then rejects or
// reads as it may.
func readRanges(r io.ReaderAt, size int64, cols []string) (ranges []byteRange, ok bool) {
	defer func() {
		if recover() != nil { // a footer that panics the Thrift decoder
			ranges, ok = nil, false
		}
	}()
	if size < 12 {
		return nil, false
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil || string(tail[4:]) != "PAR1" {
		return nil, false
	}
	footerLen := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footerLen > size-12 {
		return nil, false
	}
	footer := make([]byte, footerLen)
	if _, err := r.ReadAt(footer, size-8-footerLen); err != nil {
		return nil, false
	}
	md, err := metadata.NewFileMetaData(footer, nil)
	if err != nil || md.WriterVersion().LessThan(metadata.Parquet816FixedVersion) {
		return nil, false
	}
	leaves, ok := hashedLeaves(md, cols)
	if !ok {
		return nil, false
	}
	ranges = []byteRange{{size - 8 - footerLen, footerLen + 8}}
	for rg := range len(md.RowGroups) {
		meta := md.RowGroup(rg)
		for _, leaf := range leaves {
			cc, err := meta.ColumnChunk(leaf)
			if err != nil {
				return nil, false
			}
			start := cc.DataPageOffset()
			if d := cc.DictionaryPageOffset(); cc.HasDictionaryPage() && d > 0 && d < start {
				start = d
			}
			n := cc.TotalCompressedSize()
			if start < 0 || n < 0 || start > size || n > size-start {
				return nil, false
			}
			ranges = append(ranges, byteRange{start, n})
		}
	}
	return ranges, true
}

// hashedLeaves are the leaf columns under the top-level fields cols names
// (every leaf when cols is nil), in schema order. A name that is no field
// of the file (a partition column, or one Read will report missing) adds
// nothing.
func hashedLeaves(md *metadata.FileMetaData, cols []string) ([]int, bool) {
	if cols == nil {
		all := make([]int, md.Schema.NumColumns())
		for i := range all {
			all[i] = i
		}
		return all, true
	}
	m, err := pqarrow.NewSchemaManifest(md.Schema, md.KeyValueMetadata(), nil)
	if err != nil {
		return nil, false
	}
	var leaves []int
	var add func(f *pqarrow.SchemaField)
	add = func(f *pqarrow.SchemaField) {
		if f.IsLeaf() {
			leaves = append(leaves, f.ColIndex)
		}
		for i := range f.Children {
			add(&f.Children[i])
		}
	}
	for i := range m.Fields {
		if slices.Contains(cols, m.Fields[i].Field.Name) {
			add(&m.Fields[i])
		}
	}
	slices.Sort(leaves)
	return slices.Compact(leaves), true
}

func hashWhole(ctx context.Context, r io.ReaderAt, path string, size int64) (string, error) {
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(r, 0, size+1)})
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	if n != size {
		return "", fmt.Errorf("%s: size changed from %d to %d bytes while the run started", path, size, n)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops a long hash when the run is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
