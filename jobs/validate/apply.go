package validate

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/compute/exec"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Checked is one chunk after the rules.
type Checked struct {
	// Valid holds the rows to score, in chunk order, with clip and impute
	// applied; nil if none. Same schema as the chunk. Caller releases.
	Valid arrow.Record
	// Quarantine holds the rejected rows with their original values, then
	// _reasons (utf8, reason codes joined by ","), _source_file (utf8) and
	// _source_row (int64, the absolute row in the file). nil if none.
	// Caller releases.
	Quarantine arrow.Record
	// Marks, when the engine Marks, holds for each row of Valid the reason
	// codes of the impute, clip and warn rules it failed, joined by ","
	// ("" for none): scored rows say what was changed or doubted. Caller
	// releases.
	Marks arrow.Array
	Stats ChunkStats
}

// Release releases both records; safe on a zero Checked.
func (c *Checked) Release() {
	if c.Valid != nil {
		c.Valid.Release()
		c.Valid = nil
	}
	if c.Quarantine != nil {
		c.Quarantine.Release()
		c.Quarantine = nil
	}
	if c.Marks != nil {
		c.Marks.Release()
		c.Marks = nil
	}
}

// ChunkStats are one chunk's counts, which a Summary adds up.
type ChunkStats struct {
	Rows, Valid, Rejected, Imputed, Clipped int64
	// Rules has one entry per rule, in rule order.
	Rules []RuleStats
	// KeyHashes, when table.unique is set, holds a 64-bit hash of each
	// row's key tuple, in row order, for uniqueness across chunks; rows
	// whose key has a null are left out and counted in NullKeys.
	KeyHashes []uint64
	NullKeys  int64
	// MaxDate, when table.freshness is set, is the newest non-null value of
	// its column in the chunk.
	MaxDate *time.Time
}

// RuleStats is one rule's failures in one chunk.
type RuleStats struct {
	Name    string   `json:"name"`
	Failed  int64    `json:"failed"`
	Samples []Sample `json:"samples,omitempty"`
}

// Sample is an offending row: the rule's column and the unique key
// columns, formatted as text, with PII columns masked as "***".
type Sample struct {
	File   string            `json:"file"`
	Row    int64             `json:"row"`
	Values map[string]string `json:"values"`
}

// QuarantineColumns are the columns Quarantine adds after the chunk's.
var QuarantineColumns = []arrow.Field{
	{Name: "_reasons", Type: arrow.BinaryTypes.String},
	{Name: "_source_file", Type: arrow.BinaryTypes.String},
	{Name: "_source_row", Type: arrow.PrimitiveTypes.Int64},
}

// QuarantineSchema is the schema of Checked.Quarantine for chunks of the
// given schema.
func QuarantineSchema(s *arrow.Schema) *arrow.Schema {
	fields := append(append([]arrow.Field(nil), s.Fields()...), QuarantineColumns...)
	md := s.Metadata()
	return arrow.NewSchema(fields, &md)
}

var scratch = sync.Pool{New: func() any { return new([]uint64) }}

// Apply checks one chunk, columnar: one pass per rule over its column into
// a row bitmap. It does not take ownership of rec. file and offset locate
// rec's first row. A fail rule that fires makes it return an error wrapping
// ErrFailRule that names the rule, file and absolute row, with the chunk's
// Stats (and no records), so that a stopped run can say what it read.
// Safe for concurrent use.
//
// Every rule sees the chunk's original values; clip and impute then apply
// in rule order to the rows that are not rejected.
func (e *Engine) Apply(rec arrow.Record, file string, offset int64) (Checked, error) {
	n := int(rec.NumRows())
	nw := words(n)
	k := len(e.rules)
	buf := scratch.Get().(*[]uint64)
	defer scratch.Put(buf)
	need := nw * (k + 3)
	if cap(*buf) < need {
		*buf = make([]uint64, need)
	}
	all := (*buf)[:need]
	clear(all)
	ruleBits := func(i int) []uint64 { return all[i*nw : (i+1)*nw] }
	reject, imputed, clipped := ruleBits(k), ruleBits(k+1), ruleBits(k+2)

	stats := ChunkStats{Rows: int64(n), Rules: make([]RuleStats, k)}
	cols := make([]arrow.Array, k)
	var failErr error // the first fail rule that fired, in rule order
	for i := range e.rules {
		r := &e.rules[i]
		col, err := e.column(rec, r.column, r.dtype)
		if err != nil {
			return Checked{}, err
		}
		cols[i] = col
		b := ruleBits(i)
		r.eval(col, b)
		failed := popcount(b)
		stats.Rules[i] = RuleStats{Name: r.name, Failed: failed}
		if failed == 0 {
			continue
		}
		switch r.action {
		case actReject:
			or(reject, b)
		case actImpute:
			or(imputed, b)
		case actClip:
			or(clipped, b)
			if isFloat(r.dtype) {
				nanBits(col, b, reject) // NaN cannot be clamped into a range
			}
		case actFail:
			if failErr == nil {
				row := first(b)
				failErr = fmt.Errorf("%w: rule %s: %s row %d (%s = %s)", ErrFailRule, r.name, file, offset+int64(row), r.column, e.format(col, r.column, row))
			}
		}
		stats.Rules[i].Samples = e.samples(rec, col, r.column, b, n, file, offset)
	}
	andNot(imputed, reject)
	andNot(clipped, reject)
	stats.Rejected = popcount(reject)
	stats.Valid = int64(n) - stats.Rejected
	stats.Imputed = popcount(imputed)
	stats.Clipped = popcount(clipped)
	if failErr != nil {
		// The run stops here; the chunk's counts say what it held.
		return Checked{Stats: stats}, failErr
	}
	var err error
	if len(e.unique) > 0 {
		if stats.KeyHashes, stats.NullKeys, err = e.keyHashes(rec); err != nil {
			return Checked{}, err
		}
	}
	if e.fresh != "" {
		if stats.MaxDate, err = e.maxDate(rec, reject); err != nil {
			return Checked{}, err
		}
	}

	out := Checked{Stats: stats}
	if stats.Valid > 0 {
		if out.Valid, err = e.valid(rec, cols, all, nw, reject, stats); err != nil {
			return Checked{}, err
		}
		if e.Marks() {
			out.Marks = e.marks(all, nw, reject, n, stats)
		}
	}
	if stats.Rejected > 0 {
		if out.Quarantine, err = e.quarantine(rec, all, nw, reject, file, offset); err != nil {
			out.Release()
			return Checked{}, err
		}
	}
	return out, nil
}

// column finds a rule's column in the chunk and checks it has the type the
// rule was compiled for.
func (e *Engine) column(rec arrow.Record, name string, t arrow.DataType) (arrow.Array, error) {
	idx := rec.Schema().FieldIndices(name)
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: column %q is missing from this chunk", ErrSchema, name)
	}
	col := rec.Column(idx[0])
	if !arrow.TypeEqual(col.DataType(), t) {
		return nil, fmt.Errorf("%w: column %q is %s in this chunk but %s in the schema", ErrSchema, name, col.DataType(), t)
	}
	return col, nil
}

// valid builds the rows to score: clip and impute applied, rejected rows
// filtered out. With nothing to change it is rec itself, retained.
func (e *Engine) valid(rec arrow.Record, cols []arrow.Array, all []uint64, nw int, reject []uint64, stats ChunkStats) (arrow.Record, error) {
	n := int(rec.NumRows())
	// The clip and impute ops of each column, in rule order.
	var byCol map[string][]modOp
	for i := range e.rules {
		r := &e.rules[i]
		if (r.action == actImpute || r.action == actClip) && stats.Rules[i].Failed > 0 {
			if byCol == nil {
				byCol = map[string][]modOp{}
			}
			byCol[r.column] = append(byCol[r.column], modOp{rule: r, bits: all[i*nw : (i+1)*nw]})
		}
	}
	mem := e.mem
	columns := rec.Columns()
	var replaced []arrow.Array
	defer func() {
		for _, a := range replaced {
			a.Release()
		}
	}()
	if len(byCol) > 0 {
		columns = append([]arrow.Array(nil), columns...)
		for j, f := range rec.Schema().Fields() {
			ops := byCol[f.Name]
			if len(ops) == 0 {
				continue
			}
			a, err := modify(mem, columns[j], ops)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", f.Name, err)
			}
			replaced = append(replaced, a)
			columns[j] = a
		}
	}
	cur := array.NewRecord(rec.Schema(), columns, int64(n))
	if stats.Rejected == 0 {
		return cur, nil
	}
	defer cur.Release()
	keep := make([]uint64, nw)
	for w := range keep {
		keep[w] = ^reject[w]
	}
	return e.filter(cur, keep)
}

// filter keeps the rows whose bit is set.
func (e *Engine) filter(rec arrow.Record, keep []uint64) (arrow.Record, error) {
	n := int(rec.NumRows())
	mask := memory.NewResizableBuffer(e.mem)
	mask.Resize((n + 7) / 8)
	b := mask.Bytes()
	var tmp [8]byte
	for w, word := range keep {
		binary.LittleEndian.PutUint64(tmp[:], word)
		copy(b[w*8:], tmp[:])
	}
	filter := array.NewBoolean(n, mask, nil, 0)
	mask.Release()
	defer filter.Release()
	ctx := exec.WithAllocator(context.Background(), e.mem)
	ec := compute.DefaultExecCtx()
	ec.NumParallel = 1 // Apply already runs in the pipeline's workers
	ctx = compute.SetExecCtx(ctx, ec)
	cols := make([]arrow.Array, 0, rec.NumCols())
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for j, c := range rec.Columns() {
		if out := filterFixed(e.mem, c, keep); out != nil {
			cols = append(cols, out)
			continue
		}
		out, err := FilterArray(ctx, c, filter)
		if err != nil {
			return nil, fmt.Errorf("filtering column %q: %w", rec.Schema().Field(j).Name, err)
		}
		cols = append(cols, out)
	}
	return array.NewRecord(rec.Schema(), cols, int64(popcountN(keep, n))), nil
}

// FilterArray is compute's filter, which has no kernel for dictionaries:
// those filter their indices and keep their dictionary.
func FilterArray(ctx context.Context, c arrow.Array, filter arrow.Array) (arrow.Array, error) {
	opts := *compute.DefaultFilterOptions()
	d, ok := c.(*array.Dictionary)
	if !ok {
		return compute.FilterArray(ctx, c, filter, opts)
	}
	idx, err := compute.FilterArray(ctx, d.Indices(), filter, opts)
	if err != nil {
		return nil, err
	}
	defer idx.Release()
	return array.NewDictionaryArray(d.DataType(), idx, d.Dictionary()), nil
}

// filterFixed copies the kept runs of a fixed-width column (numbers,
// dates, timestamps) with copy and CopyBitmap: with few rejected rows
// that is a handful of memmoves. nil for other types.
func filterFixed(mem memory.Allocator, c arrow.Array, keep []uint64) arrow.Array {
	fw, ok := c.DataType().(arrow.FixedWidthDataType)
	if !ok || fw.BitWidth() < 8 || fw.BitWidth()%8 != 0 || c.DataType().ID() == arrow.DICTIONARY || len(c.Data().Buffers()) != 2 {
		return nil
	}
	width := fw.BitWidth() / 8
	n := c.Len()
	kept := popcountN(keep, n)
	data := c.Data()
	src := data.Buffers()[1].Bytes()[data.Offset()*width:]
	values := memory.NewResizableBuffer(mem)
	values.Resize(kept * width)
	dst := values.Bytes()
	var valid *memory.Buffer
	var vw, srcValid []uint64
	if c.NullN() > 0 {
		valid = memory.NewResizableBuffer(mem)
		valid.Resize(words(kept) * 8)
		vw = wordsOf(valid.Bytes())
		clear(vw)
		srcValid = make([]uint64, words(n))
		validity(c, srcValid)
	}
	at := 0
	forRuns(keep, n, func(lo, hi int) {
		copy(dst[at*width:], src[lo*width:hi*width])
		if vw != nil {
			copyBits(vw, at, srcValid, lo, hi)
		}
		at += hi - lo
	})
	return finish(c.DataType(), kept, valid, values)
}

// popcountN counts the set bits below n.
func popcountN(b []uint64, n int) int {
	c := 0
	for w, word := range b {
		if rest := n - w*64; rest < 64 {
			if rest <= 0 {
				break
			}
			word &= 1<<uint(rest) - 1
		}
		c += bits.OnesCount64(word)
	}
	return c
}

// Marks says whether the engine has rules that mark scored rows: impute,
// clip and warn.
func (e *Engine) Marks() bool {
	for i := range e.rules {
		switch e.rules[i].action {
		case actImpute, actClip, actWarn:
			return true
		}
	}
	return false
}

// marks are the reason codes of the marking rules each kept row failed.
func (e *Engine) marks(all []uint64, nw int, reject []uint64, n int, stats ChunkStats) arrow.Array {
	var marking []int
	for i := range e.rules {
		if a := e.rules[i].action; (a == actImpute || a == actClip || a == actWarn) && stats.Rules[i].Failed > 0 {
			marking = append(marking, i)
		}
	}
	if len(marking) == 0 { // the usual chunk: nothing to say about any row
		return emptyStrings(e.mem, n-int(stats.Rejected))
	}
	b := array.NewStringBuilder(e.mem)
	defer b.Release()
	var sb strings.Builder
	for i := 0; i < n; i++ {
		if reject[i/64]&(1<<(uint(i)%64)) != 0 {
			continue
		}
		sb.Reset()
		for _, r := range marking {
			if all[r*nw+i/64]&(1<<(uint(i)%64)) != 0 {
				if sb.Len() > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(e.rules[r].name)
			}
		}
		b.Append(sb.String())
	}
	return b.NewArray()
}

// emptyStrings is n empty strings, made from zeroed offsets rather than
// appended one by one.
func emptyStrings(mem memory.Allocator, n int) arrow.Array {
	offsets := memory.NewResizableBuffer(mem)
	offsets.Resize((n + 1) * arrow.Int32SizeBytes)
	clear(offsets.Bytes())
	values := memory.NewResizableBuffer(mem)
	data := array.NewData(arrow.BinaryTypes.String, n, []*memory.Buffer{nil, offsets, values}, nil, 0, 0)
	offsets.Release()
	values.Release()
	defer data.Release()
	return array.NewStringData(data)
}

// quarantine builds the rejected rows with their reasons and positions.
func (e *Engine) quarantine(rec arrow.Record, all []uint64, nw int, reject []uint64, file string, offset int64) (arrow.Record, error) {
	n := int(rec.NumRows())
	rows, err := e.filter(rec, reject)
	if err != nil {
		return nil, err
	}
	defer rows.Release()
	reasons := array.NewStringBuilder(e.mem)
	files := array.NewStringBuilder(e.mem)
	positions := array.NewInt64Builder(e.mem)
	defer reasons.Release()
	defer files.Release()
	defer positions.Release()
	var sb strings.Builder
	forBits(reject, n, func(i int) {
		sb.Reset()
		for r := range e.rules {
			if all[r*nw+i/64]&(1<<(uint(i)%64)) != 0 {
				if sb.Len() > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(e.rules[r].name)
			}
		}
		reasons.Append(sb.String())
		files.Append(file)
		positions.Append(offset + int64(i))
	})
	extra := []arrow.Array{reasons.NewArray(), files.NewArray(), positions.NewArray()}
	defer func() {
		for _, a := range extra {
			a.Release()
		}
	}()
	cols := append(append([]arrow.Array(nil), rows.Columns()...), extra...)
	return array.NewRecord(QuarantineSchema(rec.Schema()), cols, rows.NumRows()), nil
}

// samples are the first SampleRows failing rows of a rule.
func (e *Engine) samples(rec arrow.Record, col arrow.Array, column string, b []uint64, n int, file string, offset int64) []Sample {
	if e.sampleRows <= 0 {
		return nil
	}
	var out []Sample
	for w, word := range b {
		for word != 0 && len(out) < e.sampleRows {
			i := w*64 + bits.TrailingZeros64(word)
			word &= word - 1
			if i >= n {
				break
			}
			s := Sample{File: file, Row: offset + int64(i), Values: map[string]string{column: e.format(col, column, i)}}
			for _, k := range e.unique {
				if idx := rec.Schema().FieldIndices(k); len(idx) > 0 {
					s.Values[k] = e.format(rec.Column(idx[0]), k, i)
				}
			}
			out = append(out, s)
		}
	}
	return out
}

// format is a value as text for samples and errors; PII is masked.
func (e *Engine) format(col arrow.Array, column string, i int) string {
	switch {
	case e.pii[column]:
		return "***"
	case col.IsNull(i):
		return "null"
	}
	return col.ValueStr(i)
}

func popcount(b []uint64) int64 {
	var n int
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return int64(n)
}

func or(dst, src []uint64) {
	for i := range dst {
		dst[i] |= src[i]
	}
}

func andNot(dst, src []uint64) {
	for i := range dst {
		dst[i] &^= src[i]
	}
}

func first(b []uint64) int {
	for w, word := range b {
		if word != 0 {
			return w*64 + bits.TrailingZeros64(word)
		}
	}
	return -1
}
