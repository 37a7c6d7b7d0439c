package profile

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

var fuzzSchema = arrow.NewSchema([]arrow.Field{
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
}, nil)

// fuzzRecords turns bytes into chunks: 9 bytes a row (8 of value, 1 of
// flags), a chunk ending every time the flags say so.
func fuzzRecords(data []byte) []arrow.Record {
	var recs []arrow.Record
	b := array.NewRecordBuilder(memory.DefaultAllocator, fuzzSchema)
	defer b.Release()
	flush := func() {
		recs = append(recs, b.NewRecord())
	}
	for len(data) >= 9 {
		bits, flags := binary.LittleEndian.Uint64(data), data[8]
		data = data[9:]
		f := math.Float64frombits(bits)
		if flags&1 != 0 {
			b.Field(0).AppendNull()
		} else {
			b.Field(0).(*array.Float64Builder).Append(f)
		}
		if flags&2 != 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Int64Builder).Append(int64(bits))
		}
		if flags&4 != 0 {
			b.Field(2).AppendNull()
		} else {
			b.Field(2).(*array.StringBuilder).Append(string(rune('a' + bits%7)))
		}
		b.Field(3).(*array.BooleanBuilder).Append(flags&8 != 0)
		if flags&0x80 != 0 {
			flush()
		}
	}
	flush()
	return recs
}

func FuzzBuilder(f *testing.F) {
	seed := func(vals ...float64) []byte {
		var out []byte
		for i, v := range vals {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
			out = append(out, byte(i*37))
		}
		return out
	}
	f.Add(seed(1, 2, 3))
	f.Add(seed(math.NaN(), math.Inf(1), math.Inf(-1), 0, -0.0, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		recs := fuzzRecords(data)
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		var baseline *Profile
		whole := NewBuilder(fuzzSchema, nil, nil)
		halves := []*Builder{NewBuilder(fuzzSchema, nil, nil), NewBuilder(fuzzSchema, nil, nil)}
		var rows int64
		for i, r := range recs {
			rows += r.NumRows()
			if err := whole.Add(r); err != nil {
				t.Fatal(err)
			}
			if err := halves[i%2].Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := halves[0].Merge(halves[1]); err != nil {
			t.Fatal(err)
		}
		for _, p := range []*Profile{whole.Profile(), halves[0].Profile()} {
			if p.Rows != rows {
				t.Fatalf("rows %d, want %d", p.Rows, rows)
			}
			for _, c := range p.Columns {
				if c.Count+c.Nulls != rows || c.NaN+c.Inf > c.Count {
					t.Fatalf("%s: count %d nulls %d nan %d inf %d of %d rows", c.Name, c.Count, c.Nulls, c.NaN, c.Inf, rows)
				}
				if h := c.Histogram; h != nil {
					var n int64
					for _, k := range h.Counts {
						n += k
					}
					if n+h.Below+h.Above != c.Count-c.NaN-c.Inf {
						t.Fatalf("%s: histogram holds %d of %d finite", c.Name, n, c.Count-c.NaN-c.Inf)
					}
				}
				if c.Top != nil {
					var n int64
					for _, k := range c.Top {
						n += k.Count
					}
					if n+c.Other != c.Count {
						t.Fatalf("%s: top %d + other %d != %d", c.Name, n, c.Other, c.Count)
					}
				}
			}
			baseline = p
		}
		// drift of the data against itself, with and without bins, must not panic
		again := NewBuilder(fuzzSchema, nil, baseline)
		for _, r := range recs {
			if err := again.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range Compare(baseline, again.Profile()) {
			if math.IsNaN(d.PSI) || d.PSI < 0 || d.OutOfRange < 0 || d.OutOfRange > 1 {
				t.Fatalf("%s: PSI %v out of range %v", d.Column, d.PSI, d.OutOfRange)
			}
		}
	})
}
