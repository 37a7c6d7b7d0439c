// Package profile summarises a table's columns in a mergeable profile
// (counts, moments, quantiles from a KLL sketch, histograms, top
// categories) and measures drift between two profiles (PSI, share out of
// the training range).
//
// A Builder profiles Arrow records chunk by chunk; one Builder per
// goroutine, merged at the end. Profiles are saved as JSON: the baseline
// from `batchscore profile`, and each run's, embedded in its report.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/batchscore/batchscore/internal/atomicfile"
)

// FormatVersion is written in every saved profile.
const FormatVersion = 1

// Quantile probabilities every numeric column reports.
var QuantileProbs = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99}

// Column types, as in the job file's validation.columns.
const (
	TypeInt       = "int"
	TypeFloat     = "float"
	TypeBool      = "bool"
	TypeString    = "string"
	TypeDate      = "date"
	TypeTimestamp = "timestamp"
)

// Profile is a mergeable summary of a table's columns.
type Profile struct {
	Version int       `json:"version"`
	Rows    int64     `json:"rows"`
	Columns []*Column `json:"columns"` // in schema order
}

// Column is one column's summary.
//
// Numeric columns (int, float, date, timestamp) have the moments,
// quantiles, histogram and sketch; dates and timestamps are in days since
// 1970-01-01 (fractional for timestamps). NaN and ±Inf are counted in NaN
// and Inf and left out of everything else. String and bool columns have
// Top and Other.
type Column struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Count int64  `json:"count"` // non-null values, NaN and Inf included
	Nulls int64  `json:"nulls"`
	NaN   int64  `json:"nan"`
	Inf   int64  `json:"inf"`

	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Mean *float64 `json:"mean,omitempty"`
	Std  *float64 `json:"std,omitempty"` // sample standard deviation (n-1)

	Quantiles []Quantile `json:"quantiles,omitempty"`
	Histogram *Histogram `json:"histogram,omitempty"`
	// Fine holds exact counts on fixed fine bins, for columns profiled
	// WithFineCounts (a run's scores): what score drift compares.
	Fine *Fine `json:"fine,omitempty"`

	// Top holds up to MaxTop most frequent values, most frequent first
	// (ties by value), plus, when a baseline was given, the baseline's top
	// values so that drift can be measured on them. Other counts the
	// non-null values not in Top.
	Top   []Category `json:"top,omitempty"`
	Other int64      `json:"other,omitempty"`
	// Distinct is the number of distinct values. When TopCapped, counting
	// stopped at MaxDistinct (values first seen after that are in Other
	// only): Distinct is 0 and DistinctAtLeast says "at least MaxDistinct".
	Distinct        int  `json:"distinct,omitempty"`
	DistinctAtLeast int  `json:"distinct_at_least,omitempty"`
	TopCapped       bool `json:"top_capped,omitempty"`

	Sketch json.RawMessage `json:"sketch,omitempty"`
}

// Quantile is one estimated quantile of a numeric column.
type Quantile struct {
	P     float64 `json:"p"`
	Value float64 `json:"value"`
}

// Histogram counts a numeric column's finite values in bins.
// Bin i is [Edges[i], Edges[i+1]), the last one closed. Below and Above
// count values outside [Edges[0], Edges[len-1]].
//
// Estimated histograms (no baseline edges or fixed bins were given) take
// their edges from the sketch's deciles and their counts from the
// sketch's ranks. Sampled ones (WithRowSample) counted Sampled values of
// a row sample between the edges, scaled to the exact number there; Below
// and Above are exact. The others are exact.
type Histogram struct {
	Edges     []float64 `json:"edges"`
	Counts    []int64   `json:"counts"`
	Below     int64     `json:"below,omitempty"`
	Above     int64     `json:"above,omitempty"`
	Estimated bool      `json:"estimated,omitempty"`
	Sampled   int64     `json:"sampled,omitempty"`
}

// Category is one value of a string or bool column with its count.
type Category struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// Limits on categorical tracking.
const (
	MaxTop      = 20
	MaxDistinct = 10_000
)

func (c *Column) numeric() bool {
	switch c.Type {
	case TypeInt, TypeFloat, TypeDate, TypeTimestamp:
		return true
	}
	return false
}

// Column finds a column by name, or nil.
func (p *Profile) Column(name string) *Column {
	if p == nil {
		return nil
	}
	for _, c := range p.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Median is a numeric column's estimated median, for impute rules.
func (p *Profile) Median(column string) (float64, bool) {
	c := p.Column(column)
	if c == nil || !c.numeric() {
		return 0, false
	}
	for _, q := range c.Quantiles {
		if q.P == 0.5 {
			return q.Value, true
		}
	}
	return 0, false
}

// Mode is a string or bool column's most frequent value, for impute rules.
func (p *Profile) Mode(column string) (string, bool) {
	c := p.Column(column)
	if c == nil || len(c.Top) == 0 {
		return "", false
	}
	return c.Top[0].Value, true
}

// Save writes the profile as indented JSON, atomically: a temporary file
// in the same folder, synced, then renamed over path.
func (p *Profile) Save(path string) (err error) {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	// Owner and group (atomicfile.Mode), like the other outputs: a
	// baseline describes data that not everyone on the machine may read.
	if err := atomicfile.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return nil
}

// ErrFormat marks a file that is not a profile this version can read.
var ErrFormat = errors.New("not a batchscore profile")

// Load reads a profile saved by Save.
func Load(path string) (*Profile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	if p.Version != FormatVersion {
		return nil, fmt.Errorf("%w: %s: version %d, want %d", ErrFormat, path, p.Version, FormatVersion)
	}
	for i, c := range p.Columns {
		if c == nil || c.Name == "" {
			return nil, fmt.Errorf("%w: %s: column %d has no name", ErrFormat, path, i+1)
		}
		if h := c.Histogram; h != nil && (len(h.Edges) < 2 || len(h.Counts) != len(h.Edges)-1) {
			return nil, fmt.Errorf("%w: %s: column %s: histogram has %d edges and %d counts", ErrFormat, path, c.Name, len(h.Edges), len(h.Counts))
		}
		if c.Fine != nil {
			if err := c.Fine.valid(); err != nil {
				return nil, fmt.Errorf("%w: %s: column %s: %v", ErrFormat, path, c.Name, err)
			}
		}
		if len(c.Sketch) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, c.Sketch); err == nil {
				c.Sketch = buf.Bytes()
			}
			if err := new(kll).UnmarshalJSON(c.Sketch); err != nil {
				return nil, fmt.Errorf("%w: %s: column %s: %v", ErrFormat, path, c.Name, err)
			}
		}
	}
	return &p, nil
}
