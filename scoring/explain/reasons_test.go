package explain

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestTop checks Top against a sort of every contribution.
func TestTop(t *testing.T) {
	phi := []float64{0.5, -1, 2, 0, 0.5, -3, 1e-9, 2}
	for _, tc := range []struct {
		inc  bool
		k    int
		want []int
	}{
		{true, 3, []int{2, 7, 0}},
		{true, 7, []int{2, 7, 0, 4, 6, -1, -1}},
		{false, 3, []int{5, 1, -1}},
		{true, 1, []int{2}},
	} {
		idx := make([]int, tc.k)
		Top(phi, tc.inc, idx)
		if !slices.Equal(idx, tc.want) {
			t.Errorf("increase=%v k=%d: %v, want %v", tc.inc, tc.k, idx, tc.want)
		}
		// The same by a stable sort.
		order := []int{0, 1, 2, 3, 4, 5, 6, 7}
		sign := 1.0
		if !tc.inc {
			sign = -1
		}
		sort.SliceStable(order, func(a, b int) bool { return sign*phi[order[a]] > sign*phi[order[b]] })
		for i, j := range tc.want {
			if j >= 0 && j != order[i] {
				t.Errorf("place %d: %d, sort %d", i, j, order[i])
			}
		}
	}
}

func TestReadReasons(t *testing.T) {
	d := t.TempDir()
	cols := []string{"age", "income"}
	for _, tc := range []struct{ name, body, want string }{
		{"ok", "column,code,text\nage,R01,Age\n", ""},
		{"unknown", "tenure,R02,x\n", `line 1: "tenure" is not a model input column`},
		{"twice", "age,R1,a\nage,R2,b\n", `line 2: column "age" is listed twice`},
		{"empty", "age,,a\n", "empty code"},
		{"fields", "age,R1\n", "wrong number of fields"},
	} {
		p := filepath.Join(d, tc.name+".csv")
		os.WriteFile(p, []byte(tc.body), 0o644)
		codes, err := ReadReasons(p, cols)
		if tc.want == "" {
			if err != nil || codes["age"] != "R01" || len(codes) != 1 {
				t.Errorf("%s: %v %v", tc.name, codes, err)
			}
			continue
		}
		if !errors.Is(err, ErrReasons) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
