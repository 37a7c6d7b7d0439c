package distinct

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// strings of every length from 0 to 40 that differ in one byte only, at
// the start, the middle or the end: what the two words and the middle
// compare must tell apart.
func alphabet() []string {
	var out []string
	for n := range 41 {
		base := strings.Repeat("a", n)
		out = append(out, base)
		for _, at := range []int{0, n / 2, n - 1} {
			if n > 0 {
				b := []byte(base)
				b[at] = 'b'
				out = append(out, string(b))
			}
		}
	}
	return out
}

func build(t testing.TB, vals []string, null func(int) bool) *array.String {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for i, v := range vals {
		if null != nil && null(i) {
			b.AppendNull()
		} else {
			b.Append(v)
		}
	}
	return b.NewStringArray()
}

// check compares Code with the row values themselves.
func check(t *testing.T, a *array.String, wantOK bool) {
	t.Helper()
	var c Coder
	codes, values, ok := c.Code(a)
	if ok != wantOK {
		t.Fatalf("ok = %v, want %v", ok, wantOK)
	}
	if !ok {
		return
	}
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			t.Fatalf("value %q listed twice", v)
		}
		seen[v] = true
	}
	for i := range a.Len() {
		switch {
		case a.IsNull(i) && codes[i] != Null:
			t.Fatalf("row %d is null, coded %d", i, codes[i])
		case a.IsValid(i) && (int(codes[i]) >= len(values) || values[codes[i]] != a.Value(i)):
			t.Fatalf("row %d is %q, coded %d", i, a.Value(i), codes[i])
		}
	}
}

func TestCode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	al := alphabet()
	for _, tc := range []struct {
		name     string
		distinct int
		null     func(int) bool
		ok       bool
	}{
		{"three", 3, nil, true},
		{"with nulls", 5, func(i int) bool { return i%7 == 3 }, true},
		{"Max", Max, nil, true},
		{"Max+1", Max + 1, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Several draws of Max values from the alphabet: near-equal
			// values of every length meet in one table.
			for draw := range 20 {
				pool := make([]string, tc.distinct)
				for k := range pool {
					pool[k] = al[(draw*7+k*13)%len(al)]
				}
				pool = dedupe(pool, al, draw)
				vals := make([]string, 5000)
				for i := range vals {
					vals[i] = pool[r.IntN(len(pool))]
				}
				copy(vals, pool) // every value at least once
				a := build(t, vals, tc.null)
				check(t, a, tc.ok)
				// A slice of the array: offsets that do not start at 0.
				s := array.NewSlice(a, 1000, 4000).(*array.String)
				if tc.ok {
					check(t, s, true)
				}
				s.Release()
				a.Release()
			}
		})
	}
}

// dedupe replaces repeated values by unused ones of al, so that the pool
// has exactly len(pool) distinct values.
func dedupe(pool, al []string, draw int) []string {
	seen := map[string]bool{}
	next := draw
	for k, v := range pool {
		for seen[v] {
			v = al[next%len(al)]
			next++
		}
		pool[k] = v
		seen[v] = true
	}
	return pool
}

// TestCodeShortAtEnd: a value shorter than 8 bytes at the very end of the
// buffer cannot be read as a whole word.
func TestCodeShortAtEnd(t *testing.T) {
	a := build(t, []string{"abcdefghij", "x", "abcdefghij", "xy", "x"}, nil)
	defer a.Release()
	check(t, a, true)
}

func TestCodeReuse(t *testing.T) {
	var c Coder
	for k := range 3 {
		vals := make([]string, 100)
		for i := range vals {
			vals[i] = fmt.Sprintf("v%d-%d", k, i%(k+2))
		}
		a := build(t, vals, nil)
		codes, values, ok := c.Code(a)
		if !ok || len(values) != k+2 {
			t.Fatalf("chunk %d: ok %v, %d values, want %d", k, ok, len(values), k+2)
		}
		for i := range vals {
			if values[codes[i]] != vals[i] {
				t.Fatalf("chunk %d row %d: %q, want %q", k, i, values[codes[i]], vals[i])
			}
		}
		a.Release()
	}
}

// BenchmarkCode codes a 65,536-row chunk of five categories in random
// order.
func BenchmarkCode(b *testing.B) {
	names := []string{"south", "north", "west", "east", "central"}
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]string, 65536)
	for i := range vals {
		vals[i] = names[r.IntN(len(names))]
	}
	a := build(b, vals, nil)
	defer a.Release()
	var c Coder
	for b.Loop() {
		c.Code(a)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(vals)), "ns/row")
}
