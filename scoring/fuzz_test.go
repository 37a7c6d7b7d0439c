package scoring

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// fuzzTypes are the column types a chunk may bring; the last three only
// some inputs take, so CheckSchema has something to refuse.
var fuzzTypes = []arrow.DataType{
	arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64, arrow.BinaryTypes.String,
}

var fuzzFloats = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, -math.MaxFloat64,
	math.SmallestNonzeroFloat64, math.MaxFloat32 * 2, math.Copysign(0, -1), 1 << 62}

var fuzzInts = []int64{math.MinInt64, math.MaxInt64, math.MinInt32, math.MaxInt32, 1<<53 + 1, -1, 0}

// fuzzColumn draws n values of typ; nullPct of them null, some extreme.
func fuzzColumn(r *rand.Rand, mem memory.Allocator, typ arrow.DataType, n, nullPct int) arrow.Array {
	b := array.NewBuilder(mem, typ)
	defer b.Release()
	for range n {
		if r.IntN(100) < nullPct {
			b.AppendNull()
			continue
		}
		extreme := r.IntN(4) == 0
		f := r.NormFloat64() * 1e3
		if extreme {
			f = fuzzFloats[r.IntN(len(fuzzFloats))]
		}
		i := r.Int64N(2000) - 1000
		if extreme {
			i = fuzzInts[r.IntN(len(fuzzInts))]
		}
		switch b := b.(type) {
		case *array.Float32Builder:
			b.Append(float32(f))
		case *array.Float64Builder:
			b.Append(f)
		case *array.Int32Builder:
			b.Append(int32(i))
		case *array.Int64Builder:
			b.Append(i)
		case *array.BooleanBuilder:
			b.Append(i%2 == 0)
		case *array.Uint32Builder:
			b.Append(uint32(i))
		case *array.Uint64Builder:
			b.Append(uint64(i))
		case *array.StringBuilder:
			b.Append(fmt.Sprint(i))
		}
	}
	return b.NewArray()
}

// fuzzCase is one binding and one chunk, drawn from the fuzzer's bytes.
type fuzzCase struct {
	sig   Signature
	model Wiring
	rec   arrow.Record
}

// byteAt reads the fuzzer's layout bytes, cycling, 0 when there are none.
func byteAt(layout []byte, i int) int {
	if len(layout) == 0 {
		return 0
	}
	return int(layout[i%len(layout)])
}

func drawCase(seed uint64, layout []byte, mem memory.Allocator) fuzzCase {
	r := rand.New(rand.NewPCG(seed, uint64(len(layout))))
	ncols := 1 + byteAt(layout, 0)%5
	rows := byteAt(layout, 1) * byteAt(layout, 2) % 3000 // often past fillTile
	nullPct := []int{0, 0, 1, 50}[byteAt(layout, 3)%4]
	fields := make([]arrow.Field, ncols)
	cols := make([]arrow.Array, ncols)
	for j := range ncols {
		typ := fuzzTypes[byteAt(layout, 4+j)%len(fuzzTypes)]
		fields[j] = arrow.Field{Name: fmt.Sprintf("c%d", j), Type: typ, Nullable: true}
		cols[j] = fuzzColumn(r, mem, typ, rows+3, nullPct)
		// A slice, as a chunk cut from a larger batch is.
		off := byteAt(layout, 9+j) % 4
		sliced := array.NewSlice(cols[j], int64(off), int64(off+rows))
		cols[j].Release()
		cols[j] = sliced
	}
	rec := array.NewRecord(arrow.NewSchema(fields, nil), cols, int64(rows))
	for _, c := range cols {
		c.Release()
	}

	// Inputs take the columns in a drawn order, one input or two.
	elems := []string{Float, Double, Int64, Int32}
	var inputs []Port
	feeds := map[string][]string{}
	for k := range 1 + byteAt(layout, 14)%2 {
		name := fmt.Sprintf("in%d", k)
		var use []string
		for j := range ncols {
			if byteAt(layout, 15+k*8+j)%3 != 0 {
				use = append(use, fields[j].Name)
			}
		}
		if len(use) == 0 {
			use = []string{fields[k%ncols].Name}
		}
		shape := []int64{-1, int64(len(use))}
		switch byteAt(layout, 31+k) % 6 {
		case 0:
			shape = []int64{-1}
		case 1:
			shape[1] = -1
		case 2:
			shape[1] = int64(byteAt(layout, 33+k) % 4) // often the wrong width
		case 3:
			shape = []int64{int64(byteAt(layout, 35+k) % 3), int64(len(use))} // a fixed batch
		}
		inputs = append(inputs, Port{Name: name, Kind: KindTensor, Elem: elems[byteAt(layout, 37+k)%len(elems)], Shape: shape})
		feeds[name] = use
	}
	return fuzzCase{
		sig: Signature{
			Inputs:  inputs,
			Outputs: []Port{{Name: "score", Kind: KindTensor, Elem: Float, Shape: []int64{-1}}},
		},
		model: Wiring{Inputs: feeds, Score: OutputRef{Output: "score"}},
		rec:   rec,
	}
}

// FuzzBind drives random chunks through Bind, CheckSchema and the
// Arrow→tensor fill. Nothing may panic; every error is an *InputError or
// wraps ErrSignature or ErrBadInput; a chunk CheckSchema passes fills
// tensors with exactly Go's conversion of each value, or names its first null.
func FuzzBind(f *testing.F) {
	f.Add(uint64(1), []byte{0, 7, 9, 0, 1})
	f.Add(uint64(2), []byte{3, 200, 11, 3, 0, 1, 2, 3, 4, 1, 2, 3, 0, 1, 0, 1, 1, 1, 1})
	f.Add(uint64(3), []byte{4, 255, 255, 2, 4, 5, 6, 7, 8, 3, 3, 3, 3, 3, 1, 2, 2, 2, 2, 2})
	f.Add(uint64(4), []byte{1, 31, 33, 1, 2, 3, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 1, 2, 1, 3, 0})
	f.Fuzz(func(t *testing.T, seed uint64, layout []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		c := drawCase(seed, layout, mem)
		defer c.rec.Release()

		b, err := Bind(c.sig, c.model)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("Bind: %v does not wrap ErrSignature", err)
			}
			return
		}
		checked := b.CheckSchema(c.rec.Schema(), "fuzz.parquet")
		if checked != nil && (!errors.Is(checked, ErrBadInput) || !strings.Contains(checked.Error(), "fuzz.parquet")) {
			t.Fatalf("CheckSchema: %v does not wrap ErrBadInput or name the file", checked)
		}
		var buf Buffers
		// A full chunk, then a shorter one through the same buffers, as a
		// worker does chunk after chunk.
		half := c.rec.NewSlice(0, c.rec.NumRows()/2)
		defer half.Release()
		for _, rec := range []arrow.Record{c.rec, half} {
			ts, err := b.tensors(rec, &buf)
			var ie *InputError
			if err != nil && !errors.As(err, &ie) && !errors.Is(err, ErrSignature) {
				t.Fatalf("tensors: %v is neither an *InputError nor ErrSignature", err)
			}
			if checked != nil {
				continue // unchecked chunks must only not panic
			}
			checkTensors(t, b, rec, ts, ie)
		}
	})
}

// checkTensors holds a checked chunk's tensors to its columns.
func checkTensors(t *testing.T, b *Binding, rec arrow.Record, ts []Tensor, ie *InputError) {
	t.Helper()
	firstNull := func() (string, int64, bool) {
		for _, in := range b.Inputs {
			for _, name := range in.Columns {
				col := rec.Column(rec.Schema().FieldIndices(name)[0])
				for i := range col.Len() {
					if col.IsNull(i) {
						return name, int64(i), true
					}
				}
			}
		}
		return "", 0, false
	}
	if name, row, ok := firstNull(); ok {
		if ie == nil {
			t.Fatalf("column %q row %d is null, and tensors took it", name, row)
		}
		col := rec.Column(rec.Schema().FieldIndices(ie.Column)[0])
		if ie.Row >= int64(col.Len()) || !col.IsNull(int(ie.Row)) {
			t.Fatalf("%v: that row is not null", ie)
		}
		return
	}
	if ie != nil {
		t.Fatalf("tensors refused a checked chunk without nulls: %v", ie)
	}
	n := int(rec.NumRows())
	for k, in := range b.Inputs {
		tn, width := ts[k], len(in.Columns)
		if tn.Shape[0] != int64(n) || (in.Rank == 2 && tn.Shape[1] != int64(width)) {
			t.Fatalf("input %s: shape %v for %d rows of %d columns", in.Name, tn.Shape, n, width)
		}
		for j, name := range in.Columns {
			col := rec.Column(rec.Schema().FieldIndices(name)[0])
			for i := range n {
				wantF, wantI := fillValue(col, i, in.Elem)
				gotF, gotI := tensorAt(tn, i*width+j)
				if !(wantF == gotF || math.IsNaN(wantF) && math.IsNaN(gotF)) || wantI != gotI {
					t.Fatalf("input %s row %d column %q (%s): %v/%d, want %v/%d",
						in.Name, i, name, col.DataType(), gotF, gotI, wantF, wantI)
				}
			}
		}
	}
}

// fillValue is Go's conversion of one value to the input's element type,
// as a float for float inputs and exactly for integer ones.
func fillValue(col arrow.Array, i int, elem string) (float64, int64) {
	var f float64
	var n int64
	isInt := true
	switch a := col.(type) {
	case *array.Float32:
		f, isInt = float64(a.Value(i)), false
	case *array.Float64:
		f, isInt = a.Value(i), false
	case *array.Int32:
		n = int64(a.Value(i))
	case *array.Int64:
		n = a.Value(i)
	case *array.Uint32:
		n = int64(a.Value(i))
	case *array.Uint64: // only float inputs take it
		u := a.Value(i)
		if elem == Float {
			return float64(float32(u)), 0
		}
		return float64(u), 0
	case *array.Boolean:
		if a.Value(i) {
			n = 1
		}
	default:
		panic(fmt.Sprintf("no expectation for %s", col.DataType()))
	}
	switch {
	case elem == Float && isInt:
		return float64(float32(n)), 0
	case elem == Float:
		return float64(float32(f)), 0
	case elem == Double && isInt:
		return float64(n), 0
	case elem == Double:
		return f, 0
	case elem == Int32:
		return 0, int64(int32(n))
	}
	return 0, n
}

func tensorAt(t Tensor, i int) (float64, int64) {
	switch {
	case t.Float32 != nil:
		return float64(t.Float32[i]), 0
	case t.Float64 != nil:
		return t.Float64[i], 0
	case t.Int64 != nil:
		return 0, t.Int64[i]
	case t.Int32 != nil:
		return 0, int64(t.Int32[i])
	}
	panic("tensor without values")
}
