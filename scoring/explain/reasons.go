package explain

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// ErrReasons marks a reason-codes file that cannot be used.
var ErrReasons = errors.New("bad reason codes file")

// ReadReasons reads a reason-codes CSV (column,code,text; a first line
// "column,code,text" is a header) and returns each listed column's code,
// checked: three fields a line, a non-empty code, each column once and
// one of columns. Errors wrap ErrReasons and name the line.
func ReadReasons(path string, columns []string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading reason codes: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 3
	codes := map[string]string{}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			return codes, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrReasons, path, err)
		}
		col, code := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		switch {
		case line == 1 && col == "column" && code == "code":
			continue
		case code == "":
			return nil, fmt.Errorf("%w: %s line %d: column %q has an empty code", ErrReasons, path, line, col)
		case !slices.Contains(columns, col):
			return nil, fmt.Errorf("%w: %s line %d: %q is not a model input column (%s)", ErrReasons, path, line, col, strings.Join(columns, ", "))
		case codes[col] != "":
			return nil, fmt.Errorf("%w: %s line %d: column %q is listed twice", ErrReasons, path, line, col)
		}
		codes[col] = code
	}
}

// Top writes to idx (its length is k) the features whose contributions
// move the margin most in one direction (increase: the largest positive
// ones; else the most negative), largest first, ties in feature order;
// -1 fills the places no feature moved that way. It returns how many it
// found.
func Top(phi []float64, increase bool, idx []int) int {
	n := 0
	for j, v := range phi {
		if !increase {
			v = -v
		}
		if !(v > 0) {
			continue
		}
		// Insert into the sorted prefix; a tie keeps feature order.
		p := n
		if p == len(idx) {
			if lo := phi[idx[p-1]]; !increase && -lo >= v || increase && lo >= v {
				continue
			}
			p--
		} else {
			n++
		}
		for p > 0 {
			prev := phi[idx[p-1]]
			if !increase {
				prev = -prev
			}
			if prev >= v {
				break
			}
			idx[p] = idx[p-1]
			p--
		}
		idx[p] = j
	}
	for i := n; i < len(idx); i++ {
		idx[i] = -1
	}
	return n
}
