package keyhash

import (
	"errors"
	"math"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// The hash of one row of cols.
func rowHash(t *testing.T, k Hasher, cols ...arrow.Array) []uint64 {
	t.Helper()
	h := make([]uint64, cols[0].Len())
	null, err := k.Rows(cols, h)
	if err != nil {
		t.Fatal(err)
	}
	for i := range null {
		if null[i] {
			h[i] = 0
		}
	}
	return h
}

// Keys that are one value agree across widths and units, and apart from
// the formula's seed they are the package doc's formula; nulls are marked.
func TestRows(t *testing.T) {
	mem := memory.DefaultAllocator
	i64 := array.NewInt64Builder(mem)
	i64.AppendValues([]int64{-1, 7, 86_400_000}, []bool{true, true, false})
	i32 := array.NewInt32Builder(mem)
	i32.AppendValues([]int32{-1, 7, 0}, nil)
	f := array.NewFloat64Builder(mem)
	f.AppendValues([]float64{0, math.Copysign(0, -1), 1}, nil)
	d32 := array.NewDate32Builder(mem)
	d32.AppendValues([]arrow.Date32{1, 2, 3}, nil)
	d64 := array.NewDate64Builder(mem)
	d64.AppendValues([]arrow.Date64{86_400_000, 2 * 86_400_000, 3 * 86_400_000}, nil)
	s := array.NewStringBuilder(mem)
	s.AppendValues([]string{"a", "b", "a"}, nil)
	a64, a32, af, ad32, ad64, as := i64.NewArray(), i32.NewArray(), f.NewArray(), d32.NewArray(), d64.NewArray(), s.NewArray()

	k := Hasher{Seed: 99}
	h64, h32 := rowHash(t, k, a64, as), rowHash(t, k, a32, as)
	if h64[0] != h32[0] || h64[1] != h32[1] {
		t.Errorf("int64 and int32 keys hash apart: %x %x", h64, h32)
	}
	if h64[2] != 0 {
		t.Errorf("a null key part is not marked")
	}
	if hf := rowHash(t, k, af); hf[0] != hf[1] || hf[0] == hf[2] {
		t.Errorf("-0 and 0 hash apart, or 0 and 1 alike: %x", hf)
	}
	if hs := rowHash(t, k, as); hs[0] != hs[2] || hs[0] == hs[1] {
		t.Errorf("strings: %x", hs)
	}
	seed := uint64(99)
	want := Mix(Mix(seed*phi^Mix(7^seed))*phi ^ Mix(7^seed))
	if got := rowHash(t, k, a32, a32)[1]; got != want {
		t.Errorf("(7, 7) hashes to %x, want %x", got, want)
	}
	if hd32, hd64 := rowHash(t, Hasher{Seed: 99, Instants: true}, ad32), rowHash(t, Hasher{Seed: 99, Instants: true}, ad64); hd32[0] != hd64[0] {
		t.Errorf("with Instants, date32 and date64 of one day hash apart")
	}
	if hd32, hd64 := rowHash(t, k, ad32), rowHash(t, k, ad64); hd32[0] == hd64[0] {
		t.Errorf("without Instants, a date64 hashes by its day")
	}

	b := array.NewFloat16Builder(mem)
	b.AppendNulls(3)
	bad := b.NewArray()
	_, err := k.Rows([]arrow.Array{a64, bad}, make([]uint64, 3))
	var te *TypeError
	if !errors.As(err, &te) || te.Column != 1 {
		t.Errorf("a float16 key: %v, want a TypeError of column 1", err)
	}
}
