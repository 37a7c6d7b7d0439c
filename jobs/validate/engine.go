// Package validate is batchscore's rule engine: it checks each Arrow chunk
// of a snapshot against the job file's validation rules as the chunk
// streams, splits it into rows to score and rows to quarantine, and
// accumulates the counts that the table rules and the quality gate judge
// at the end of the run.
package validate

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/batchscore/batchscore/jobs/spec"
)

// Sentinel errors; the command maps each to exit code 3.
var (
	ErrSchema   = errors.New("snapshot does not match the declared schema")
	ErrFailRule = errors.New("a rule with action fail fired")
	ErrGate     = errors.New("quality gate failed")
)

// Baseline gives impute rules their medians and modes (a profile
// implements it). It is read only in New.
type Baseline interface {
	Median(column string) (float64, bool)
	Mode(column string) (string, bool)
}

type action uint8

const (
	actReject action = iota
	actImpute
	actClip
	actWarn
	actFail
)

func parseAction(s string) action {
	switch s {
	case "impute":
		return actImpute
	case "clip":
		return actClip
	case "warn":
		return actWarn
	case "fail":
		return actFail
	}
	return actReject
}

// compiled is one rule bound to its column's Arrow type.
type compiled struct {
	spec   spec.Rule
	name   string
	column string
	dtype  arrow.DataType
	action action
	// eval sets, in bits, the rows of col that fail the rule.
	eval func(col arrow.Array, bits []uint64)
	// For clip: bounds. For impute: the replacement in the column's type.
	lo, hi float64
	fill   replacement
}

// Engine checks chunks against compiled rules. Apply may be called from
// several goroutines at once; the Engine is not modified after New.
type Engine struct {
	v          spec.Validation
	logical    time.Time
	mem        memory.Allocator
	rules      []compiled
	columns    []string
	pii        map[string]bool
	unique     []string
	fresh      string
	seed       uint64 // of the key hashes: random per run, shared by a run's shards
	sampleRows int
	freshAge   int
	used       []string // columns the job reads outside the rules
}

// Option configures an Engine in New.
type Option func(*Engine)

// UsedColumns names the columns the job uses outside its rules (model
// inputs, output keys…): validation.extra_columns: reject lets them be.
func UsedColumns(cols ...string) Option {
	return func(e *Engine) { e.used = append(e.used, cols...) }
}

// New compiles the rules against the snapshot's Arrow schema (from the
// file footers), before any row is read. Errors wrap ErrSchema, or
// spec.ErrInvalid for a rule that cannot apply to its column's type, and
// name the column.
//
// Type compatibility of declared columns (ColumnSchema.Type):
//
//	int        int8, int16, int32, int64, uint8, uint16, uint32 (not uint64: it may not fit)
//	float      float32, float64 and every type int accepts
//	bool       bool
//	string     utf8, large_utf8, dictionary of utf8 or large_utf8
//	date       date32, date64
//	timestamp  timestamp of any unit and zone
//	(empty)    any type
func New(v spec.Validation, schema *arrow.Schema, logicalDate time.Time, baseline Baseline, mem memory.Allocator, opts ...Option) (*Engine, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	e := &Engine{
		v:          v,
		logical:    logicalDate,
		mem:        mem,
		pii:        map[string]bool{},
		unique:     v.Table.Unique,
		seed:       maphash.String(maphash.MakeSeed(), "batchscore"),
		sampleRows: v.SampleRows,
	}
	for _, o := range opts {
		o(e)
	}
	field := func(name string) (arrow.Field, bool) {
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			return arrow.Field{}, false
		}
		return schema.Field(idx[0]), true
	}
	for _, name := range sortedKeys(v.Columns) {
		c := v.Columns[name]
		if c.PII {
			e.pii[name] = true
		}
		f, ok := field(name)
		if !ok {
			if c.Required == nil || *c.Required {
				return nil, fmt.Errorf("%w: required column %q is missing", ErrSchema, name)
			}
			continue
		}
		if !compatible(c.Type, f.Type) {
			return nil, fmt.Errorf("%w: column %q is %s, which is not compatible with %s (%s)", ErrSchema, name, f.Type, c.Type, allowedCasts[c.Type])
		}
	}
	use := func(name string) {
		if !slices.Contains(e.columns, name) {
			e.columns = append(e.columns, name)
		}
	}
	for _, r := range v.Rules {
		f, ok := field(r.Column)
		if !ok {
			return nil, fmt.Errorf("%w: rule %s: column %q is not in the snapshot", ErrSchema, r.RuleName(), r.Column)
		}
		c, err := e.compile(r, f.Type, baseline)
		if err != nil {
			return nil, err
		}
		e.rules = append(e.rules, c)
		use(r.Column)
	}
	for _, k := range v.Table.Unique {
		f, ok := field(k)
		if !ok {
			return nil, fmt.Errorf("%w: unique key column %q is not in the snapshot", ErrSchema, k)
		}
		if !hashable(f.Type) {
			return nil, fmt.Errorf("%w: unique key column %q has type %s, which cannot be a key", spec.ErrInvalid, k, f.Type)
		}
		use(k)
	}
	if fr := v.Table.Freshness; fr != nil {
		f, ok := field(fr.Column)
		if !ok {
			return nil, fmt.Errorf("%w: freshness column %q is not in the snapshot", ErrSchema, fr.Column)
		}
		if !isDateLike(f.Type) {
			return nil, fmt.Errorf("%w: freshness column %q has type %s, not a date or timestamp", spec.ErrInvalid, fr.Column, f.Type)
		}
		e.fresh, e.freshAge = fr.Column, fr.MaxAgeDays
		use(fr.Column)
	}
	if err := e.rejectExtra(schema); err != nil {
		return nil, err
	}
	return e, nil
}

// rejectExtra fails, under validation.extra_columns: reject, on the
// snapshot's columns that are neither declared nor used: by a rule, a
// table rule, or the job (UsedColumns).
func (e *Engine) rejectExtra(schema *arrow.Schema) error {
	if e.v.ExtraColumns != "reject" {
		return nil
	}
	var extra []string
	for _, f := range schema.Fields() {
		_, declared := e.v.Columns[f.Name]
		if !declared && !slices.Contains(e.columns, f.Name) && !slices.Contains(e.used, f.Name) {
			extra = append(extra, f.Name)
		}
	}
	if len(extra) > 0 {
		return fmt.Errorf("%w: extra columns %q are neither declared in validation.columns nor used by the model, the keys or a rule (validation.extra_columns is reject)", ErrSchema, extra)
	}
	return nil
}

// SetKeySeed fixes the seed of the unique keys' hashes, random otherwise:
// the shards of one run hash alike, so that their commit counts the keys
// repeated across them. Call it before the first Apply.
func (e *Engine) SetKeySeed(seed uint64) { e.seed = seed }

// Columns lists the snapshot columns the rules and table rules read, in
// the order they are first named; the caller adds them to what it reads.
func (e *Engine) Columns() []string { return slices.Clone(e.columns) }

var allowedCasts = map[string]string{
	"int":       "int accepts int8..int64 and uint8..uint32",
	"float":     "float accepts float32, float64 and the int types",
	"bool":      "bool accepts bool",
	"string":    "string accepts utf8, large_utf8 and dictionaries of strings",
	"date":      "date accepts date32 and date64",
	"timestamp": "timestamp accepts timestamps of any unit and zone",
}

func compatible(declared string, t arrow.DataType) bool {
	switch declared {
	case "":
		return true
	case "int":
		return isIntType(t)
	case "float":
		return isIntType(t) || t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64
	case "bool":
		return t.ID() == arrow.BOOL
	case "string":
		return isStringType(t)
	case "date":
		return t.ID() == arrow.DATE32 || t.ID() == arrow.DATE64
	case "timestamp":
		return t.ID() == arrow.TIMESTAMP
	}
	return false
}

func isIntType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32:
		return true
	}
	return false
}

// isNumeric is every type range, finite and clip work on.
func isNumeric(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
		arrow.FLOAT32, arrow.FLOAT64:
		return true
	}
	return false
}

func isStringType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.STRING, arrow.LARGE_STRING:
		return true
	case arrow.DICTIONARY:
		v := t.(*arrow.DictionaryType).ValueType.ID()
		return v == arrow.STRING || v == arrow.LARGE_STRING
	}
	return false
}

func isDateLike(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP:
		return true
	}
	return false
}

func hashable(t arrow.DataType) bool {
	return isNumeric(t) || isStringType(t) || isDateLike(t) || t.ID() == arrow.BOOL
}

// compile binds one rule to its column's type.
func (e *Engine) compile(r spec.Rule, t arrow.DataType, baseline Baseline) (compiled, error) {
	c := compiled{spec: r, name: r.RuleName(), column: r.Column, dtype: t, action: parseAction(r.Action)}
	cannot := func(what string) (compiled, error) {
		return c, fmt.Errorf("%w: rule %s: %s does not apply to column %q of type %s", spec.ErrInvalid, c.name, what, r.Column, t)
	}
	switch r.Check {
	case "not_null":
		c.eval = evalNotNull
	case "range":
		if !isNumeric(t) {
			return cannot("range")
		}
		c.lo, c.hi = math.Inf(-1), math.Inf(1)
		if r.Min != nil {
			c.lo = *r.Min
		}
		if r.Max != nil {
			c.hi = *r.Max
		}
		c.eval = rangeEval(c.lo, c.hi, r.AllowNaN)
	case "finite":
		if !isNumeric(t) {
			return cannot("finite")
		}
		c.eval = evalFinite
	case "allowed":
		f, err := allowedEval(t, r.Values)
		if err != nil {
			return cannot("allowed")
		}
		c.eval = f
	case "length":
		if !isStringType(t) {
			return cannot("length")
		}
		lo, hi := 0, math.MaxInt
		if r.MinLength != nil {
			lo = *r.MinLength
		}
		if r.MaxLength != nil {
			hi = *r.MaxLength
		}
		c.eval = stringEval(func(s string) bool { return !lengthOK(s, lo, hi) })
	case "pattern":
		if !isStringType(t) {
			return cannot("pattern")
		}
		re, err := regexp.Compile(`^(?:` + r.Pattern + `)$`)
		if err != nil {
			return c, fmt.Errorf("%w: rule %s: pattern %q: %v", spec.ErrInvalid, c.name, r.Pattern, err)
		}
		c.eval = stringEval(func(s string) bool { return !validUTF8(s) || !re.MatchString(s) })
	case "date_range":
		if !isDateLike(t) {
			return cannot("date_range")
		}
		c.eval = dateRangeEval(t, e.logical, r.MaxDaysBefore, r.MaxDaysAfter)
	default:
		return c, fmt.Errorf("%w: rule %s: unknown check %q", spec.ErrInvalid, c.name, r.Check)
	}
	switch c.action {
	case actClip:
		if r.Check != "range" {
			return cannot("clip (it needs a range check)")
		}
	case actImpute:
		if r.Impute == nil {
			return c, fmt.Errorf("%w: rule %s: impute needs impute.value or impute.from", spec.ErrInvalid, c.name)
		}
		text, err := imputeText(r, baseline, t)
		if err != nil {
			return c, err
		}
		c.fill, err = parseReplacement(t, text)
		if err != nil {
			return c, fmt.Errorf("%w: rule %s: impute value %q for column %q of type %s: %v", spec.ErrInvalid, c.name, text, r.Column, t, err)
		}
	}
	return c, nil
}

// imputeText is the replacement, as text, that an impute rule writes. A
// baseline without the value is the job's error, not the data's: the
// runner checks it before opening the snapshot, and so does this.
func imputeText(r spec.Rule, baseline Baseline, t arrow.DataType) (string, error) {
	if r.Impute.Value != nil {
		return *r.Impute.Value, nil
	}
	if baseline == nil {
		return "", fmt.Errorf("%w: rule %s imputes the %s of column %q but there is no baseline", spec.ErrInvalid, r.RuleName(), r.Impute.From, r.Column)
	}
	switch r.Impute.From {
	case "median":
		if !isNumeric(t) {
			return "", fmt.Errorf("%w: rule %s: a median does not apply to column %q of type %s", spec.ErrInvalid, r.RuleName(), r.Column, t)
		}
		m, ok := baseline.Median(r.Column)
		if !ok {
			return "", fmt.Errorf("%w: rule %s: the baseline has no median for column %q", spec.ErrInvalid, r.RuleName(), r.Column)
		}
		if isFloat(t) {
			return strconv.FormatFloat(m, 'g', -1, 64), nil
		}
		return strconv.FormatFloat(math.Round(m), 'f', 0, 64), nil
	case "mode":
		if isNumeric(t) || isDateLike(t) {
			return "", fmt.Errorf("%w: rule %s: a mode does not apply to column %q of type %s (the baseline keeps the most frequent value of string and bool columns only): use impute.from: median", spec.ErrInvalid, r.RuleName(), r.Column, t)
		}
		m, ok := baseline.Mode(r.Column)
		if !ok {
			return "", fmt.Errorf("%w: rule %s: the baseline has no mode for column %q", spec.ErrInvalid, r.RuleName(), r.Column)
		}
		return m, nil
	}
	return "", fmt.Errorf("%w: rule %s: impute.from %q is not median or mode", spec.ErrInvalid, r.RuleName(), r.Impute.From)
}

func isFloat(t arrow.DataType) bool { return t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64 }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
