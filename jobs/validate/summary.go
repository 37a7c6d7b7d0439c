package validate

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/batchscore/batchscore/jobs/numfmt"
	"github.com/batchscore/batchscore/jobs/spec"
)

// Result is the validation of a whole snapshot: JSON-friendly, it goes
// into the manifest and the report.
type Result struct {
	Rows            int64         `json:"rows"`
	Valid           int64         `json:"valid"`
	Rejected        int64         `json:"rejected"`
	Imputed         int64         `json:"imputed"`
	Clipped         int64         `json:"clipped"`
	InvalidFraction float64       `json:"invalid_fraction"`
	Rules           []RuleResult  `json:"rules"`
	Table           []TableResult `json:"table"`
	Passed          bool          `json:"passed"`
	Breaches        []string      `json:"breaches,omitempty"`
	// Warnings are findings that do not fail the gate: a newest date after
	// the logical date without freshness.max_days_ahead.
	Warnings []string `json:"warnings,omitempty"`
}

// RuleResult is one rule over the whole snapshot.
type RuleResult struct {
	Name               string   `json:"name"`
	Column             string   `json:"column"`
	Check              string   `json:"check"`
	Action             string   `json:"action"`
	Failed             int64    `json:"failed"`
	Fraction           float64  `json:"fraction"`
	MaxInvalidFraction *float64 `json:"max_invalid_fraction,omitempty"`
	Passed             bool     `json:"passed"`
	Samples            []Sample `json:"samples,omitempty"`
}

// TableResult is one table-level rule.
type TableResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
	// NullKeys, for the unique rule, counts the rows whose key has a null
	// part: never duplicates of each other, as in SQL's UNIQUE.
	NullKeys *int64 `json:"null_keys,omitempty"`
}

// DefaultSpillKeys is how many key hashes a Summary holds in memory (8 MB)
// before it spills them to bucket files.
const DefaultSpillKeys = 1 << 20

// Summary accumulates chunk stats and runs the table rules and the quality
// gate. Add and Finish are called from one goroutine, in chunk order.
type Summary struct {
	e       *Engine
	rows    int64
	valid   int64
	reject  int64
	imputed int64
	clipped int64
	nullKey int64 // rows whose unique key has a null part
	rules   []RuleResult
	maxDate *time.Time
	keys    *keySet
}

// NewSummary starts a Summary; key hashes beyond DefaultSpillKeys spill
// to files under tempDir, removed by Finish or Close.
func (e *Engine) NewSummary(tempDir string) *Summary {
	s := &Summary{e: e, rules: make([]RuleResult, len(e.rules))}
	for i, r := range e.rules {
		action := r.spec.Action
		if action == "" {
			action = "reject"
		}
		s.rules[i] = RuleResult{Name: r.name, Column: r.column, Check: r.spec.Check, Action: action, MaxInvalidFraction: r.spec.MaxInvalidFraction}
	}
	if len(e.unique) > 0 {
		s.keys = newKeySet(tempDir, DefaultSpillKeys)
	}
	return s
}

// Add adds one chunk's stats.
func (s *Summary) Add(c ChunkStats) error {
	if len(c.Rules) != len(s.rules) {
		return fmt.Errorf("chunk stats have %d rules, the engine %d", len(c.Rules), len(s.rules))
	}
	s.rows += c.Rows
	s.valid += c.Valid
	s.reject += c.Rejected
	s.imputed += c.Imputed
	s.clipped += c.Clipped
	s.nullKey += c.NullKeys
	for i, r := range c.Rules {
		s.rules[i].Failed += r.Failed
		if room := s.e.sampleRows - len(s.rules[i].Samples); room > 0 && len(r.Samples) > 0 {
			s.rules[i].Samples = append(s.rules[i].Samples, r.Samples[:min(room, len(r.Samples))]...)
		}
	}
	if c.MaxDate != nil && (s.maxDate == nil || c.MaxDate.After(*s.maxDate)) {
		t := *c.MaxDate
		s.maxDate = &t
	}
	if s.keys != nil {
		if err := s.keys.add(c.KeyHashes); err != nil {
			return fmt.Errorf("keeping unique keys: %w", err)
		}
	}
	return nil
}

// CountKeys counts the duplicate keys now, once every chunk has been
// added, so that Finish has the answer ready: the pipeline calls it while
// the last chunks are still being scored and written. Not for a shard,
// whose keys State exports.
func (s *Summary) CountKeys() {
	if s.keys != nil {
		_, _ = s.keys.duplicates() // Finish reports the error
	}
}

// Close removes the Summary's temporary files; Finish calls it. Safe to
// call more than once.
func (s *Summary) Close() error {
	if s.keys == nil {
		return nil
	}
	return s.keys.close()
}

// Finish runs the table rules (prevRows < 0: no previous run) and the
// quality gate. It always returns the Result; when the gate fails the
// error wraps ErrGate and lists every breach.
func (s *Summary) Finish(prevRows int64) (Result, error) {
	v := s.e.v
	res := s.counts()
	if res.InvalidFraction > v.MaxInvalidFraction {
		got, limit := numfmt.Pair(res.InvalidFraction, v.MaxInvalidFraction)
		res.Breaches = append(res.Breaches, fmt.Sprintf("%d of %d rows rejected (%s), above max_invalid_fraction %s", s.reject, s.rows, got, limit))
	}
	for i := range res.Rules {
		r := &res.Rules[i]
		if !r.Passed {
			got, limit := numfmt.Pair(r.Fraction, *r.MaxInvalidFraction)
			res.Breaches = append(res.Breaches, fmt.Sprintf("rule %s: %d of %d rows failed (%s), above its max_invalid_fraction %s", r.Name, r.Failed, s.rows, got, limit))
		}
	}
	table := func(name string, passed bool, format string, args ...any) {
		t := TableResult{Name: name, Passed: passed, Detail: fmt.Sprintf(format, args...)}
		res.Table = append(res.Table, t)
		if !passed {
			res.Breaches = append(res.Breaches, name+": "+t.Detail)
		}
	}
	var errs []error
	t := v.Table
	if t.MinRows != nil {
		table("min_rows", s.rows >= *t.MinRows, "%d rows, at least %d required", s.rows, *t.MinRows)
	}
	if t.MaxRows != nil {
		table("max_rows", s.rows <= *t.MaxRows, "%d rows, at most %d allowed", s.rows, *t.MaxRows)
	}
	if t.MaxRowChangePct != nil {
		if prevRows < 0 {
			table("max_row_change_pct", true, "no previous successful run to compare with")
		} else {
			change := 0.0
			switch {
			case prevRows > 0:
				change = 100 * float64(s.rows-prevRows) / float64(prevRows)
			case s.rows > 0:
				change = math.Inf(1)
			}
			size, limit := numfmt.Pair(math.Abs(change), *t.MaxRowChangePct)
			sign := "+"
			if change < 0 {
				sign = "-"
			}
			table("max_row_change_pct", math.Abs(change) <= *t.MaxRowChangePct, "%d rows against %d in the previous run (%s%s%%, at most ±%s%%)", s.rows, prevRows, sign, size, limit)
		}
	}
	if s.keys != nil {
		name := "unique:" + strings.Join(t.Unique, ",")
		dups, err := s.keys.duplicates()
		if err != nil {
			// An I/O failure says nothing about the data: no breach, so the
			// run fails as a retryable error rather than a data error.
			errs = append(errs, fmt.Errorf("checking %s: %w", name, err))
			res.Table = append(res.Table, TableResult{Name: name, Detail: fmt.Sprintf("could not be checked: %v", err)})
		} else {
			detail := fmt.Sprintf("%d duplicate keys (rows whose key repeats an earlier row's) in %d rows", dups, s.rows)
			if s.nullKey > 0 {
				detail += fmt.Sprintf("; %d rows with a null key are not compared (a null equals no key, as in SQL's UNIQUE; a not_null rule on the key decides about them)", s.nullKey)
			}
			table(name, dups == 0, "%s", detail)
			nulls := s.nullKey
			res.Table[len(res.Table)-1].NullKeys = &nulls
		}
	}
	if f := t.Freshness; f != nil {
		s.freshness(&res, f, table)
	}
	if err := s.Close(); err != nil {
		errs = append(errs, err)
	}
	res.Passed = len(res.Breaches) == 0
	if !res.Passed {
		errs = append([]error{fmt.Errorf("%w: %s", ErrGate, strings.Join(res.Breaches, "; "))}, errs...)
	}
	return res, errors.Join(errs...)
}

// counts is the Result's counts and rule fractions, without the table
// rules and the gate.
func (s *Summary) counts() Result {
	res := Result{Rows: s.rows, Valid: s.valid, Rejected: s.reject, Imputed: s.imputed, Clipped: s.clipped, Rules: s.rules}
	res.InvalidFraction = fraction(s.reject, s.rows)
	for i := range res.Rules {
		r := &res.Rules[i]
		r.Fraction = fraction(r.Failed, s.rows)
		r.Passed = r.MaxInvalidFraction == nil || r.Fraction <= *r.MaxInvalidFraction
	}
	return res
}

// Partial is the Result of a run that stopped before every row was
// checked (a fail rule fired): the counts so far, and no table rules or
// gate, which judge a whole snapshot (a row count of the rows read before
// the stop says nothing of the snapshot's). It removes the temporary
// files, as Finish does.
func (s *Summary) Partial() Result {
	res := s.counts()
	s.Close()
	return res
}

// freshness judges the newest value of the freshness column among the
// rows that passed the rules: not older than max_age_days, and not after
// the logical date by more than max_days_ahead (a warning when unset).
func (s *Summary) freshness(res *Result, f *spec.Freshness, table func(string, bool, string, ...any)) {
	name := "freshness:" + f.Column
	if s.maxDate == nil {
		table(name, false, "no non-null value in %s among the rows that passed the rules", f.Column)
		return
	}
	logical, newest := civilDay(s.e.logical), civilDay(*s.maxDate)
	day, lday := s.maxDate.Format(time.DateOnly), s.e.logical.Format(time.DateOnly)
	if newest <= logical {
		table(name, logical-newest <= int64(f.MaxAgeDays), "newest %s is %s, %d days before the logical date %s (at most %d)",
			f.Column, day, logical-newest, lday, f.MaxAgeDays)
		return
	}
	ahead := newest - logical
	if f.MaxDaysAhead != nil {
		table(name, ahead <= int64(*f.MaxDaysAhead), "newest %s is %s, %d days after the logical date %s (at most %d ahead)",
			f.Column, day, ahead, lday, *f.MaxDaysAhead)
		return
	}
	table(name, true, "newest %s is %s, %d days after the logical date %s", f.Column, day, ahead, lday)
	res.Warnings = append(res.Warnings, fmt.Sprintf("freshness: the newest %s, %s, is %d days after the logical date %s (set validation.table.freshness.max_days_ahead to fail the gate on it)",
		f.Column, day, ahead, lday))
}

func fraction(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}
