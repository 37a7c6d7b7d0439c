package route

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// nullWhere keeps the values and nulls of the rows not in need, on a
// sliced array too (labels are slices of a chunk's outputs).
func TestNullWhere(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := array.NewStringBuilder(mem)
	b.AppendValues([]string{"skip", "a", "b", "", "d", "e"}, []bool{true, true, true, false, true, true})
	full := b.NewArray()
	b.Release()
	defer full.Release()
	sliced := array.NewSlice(full, 1, 6) // a b null d e
	defer sliced.Release()
	got := nullWhere(sliced, []bool{false, true, false, false, true}, mem)
	defer got.Release()
	want := []string{"a", "(null)", "(null)", "d", "(null)"}
	if got.Len() != len(want) || got.NullN() != 3 {
		t.Fatalf("got %v (%d nulls), want %v", got, got.NullN(), want)
	}
	for i, w := range want {
		if got.ValueStr(i) != w {
			t.Errorf("row %d: %q, want %q", i, got.ValueStr(i), w)
		}
	}
}
