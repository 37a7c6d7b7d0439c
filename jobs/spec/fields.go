package spec

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Every number and every string of a job file says in a struct tag what it
// accepts, so that one table serves the check below and the tests that feed
// every field a wrong value:
//
//	range:"lo,hi"   a number (or each number of a list) from lo to hi; an
//	                empty bound is open; hi "cores" is MaxWorkers()
//	kind:"..."      a string: path, column, enum, text, duration
//	keys:"..."      the kind of a mapping's keys (column or text)
//
// yaml.v3 truncates 0.9 into an int and turns an empty value into "leave
// the default"; checkFields runs on the YAML tree before decoding so that
// neither can happen silently.

// WorkersPerCore caps scoring.workers (and intra_op_threads): more workers
// than this per core only add memory and context switches.
const WorkersPerCore = 4

// MaxWorkers is the largest scoring.workers this machine accepts.
func MaxWorkers() int { return WorkersPerCore * runtime.NumCPU() }

// numRange is a parsed range tag.
type numRange struct {
	lo, hi       *big.Float // nil: open
	cores        bool       // hi is MaxWorkers()
	integer      bool
	loText, hiTx string
}

func parseRange(tag string, integer bool) (numRange, error) {
	lo, hi, ok := strings.Cut(tag, ",")
	if !ok {
		return numRange{}, fmt.Errorf("range tag %q is not lo,hi", tag)
	}
	r := numRange{integer: integer, loText: lo, hiTx: hi}
	parse := func(s string) (*big.Float, error) {
		f, ok := new(big.Float).SetString(s)
		if !ok {
			return nil, fmt.Errorf("range tag %q: %q is not a number", tag, s)
		}
		return f, nil
	}
	var err error
	if lo != "" {
		if r.lo, err = parse(lo); err != nil {
			return r, err
		}
	}
	switch hi {
	case "":
	case "cores":
		r.cores = true
		r.hi = new(big.Float).SetInt64(int64(MaxWorkers()))
		r.hiTx = strconv.Itoa(MaxWorkers())
	default:
		if r.hi, err = parse(hi); err != nil {
			return r, err
		}
	}
	if integer && r.lo == nil {
		return r, fmt.Errorf("range tag %q: an integer field needs a lower bound", tag)
	}
	return r, nil
}

// allowed words the range for a message.
func (r numRange) allowed() string {
	what := "numbers"
	if r.integer {
		what = "whole numbers"
	}
	var s string
	switch {
	case r.lo != nil && r.hi != nil:
		s = fmt.Sprintf("allowed: %s from %s to %s", what, r.loText, r.hiTx)
	case r.lo != nil:
		s = fmt.Sprintf("allowed: %s from %s up", what, r.loText)
	case r.hi != nil:
		s = fmt.Sprintf("allowed: %s up to %s", what, r.hiTx)
	default:
		s = "allowed: any finite number"
	}
	if r.cores {
		s += fmt.Sprintf(" (%d per core; this machine has %d cores)", WorkersPerCore, runtime.NumCPU())
	}
	return s
}

func (r numRange) contains(v *big.Float) bool {
	return (r.lo == nil || v.Cmp(r.lo) >= 0) && (r.hi == nil || v.Cmp(r.hi) <= 0)
}

// fieldError names the line and the key of a bad value.
func fieldError(n *yaml.Node, key string, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s: %s", ErrInvalid, n.Line, key, fmt.Sprintf(format, args...))
}

var durationType = reflect.TypeOf(Duration(0))

// checkFields walks the document with the type it decodes into and checks
// every value against its field's tags.
func checkFields(root *yaml.Node) error {
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	w := &walker{budget: maxWalk}
	return w.field(root, reflect.TypeOf(Job{}), "", "")
}

// maxWalk bounds the values visited: aliases and merge keys can make a
// small file stand for a huge (or, with a merge of itself, endless) tree.
const (
	maxWalk   = 100_000
	maxMerges = 8
)

// walker walks the YAML tree with the Go type it decodes into.
type walker struct{ budget int }

// spend counts one node visited and refuses once the budget is spent.
func (w *walker) spend(n *yaml.Node, key string) error {
	w.budget--
	if w.budget < 0 {
		return fieldError(n, key, "the file expands to more than %d values through aliases or merge keys", maxWalk)
	}
	return nil
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (w *walker) field(n *yaml.Node, t reflect.Type, key string, tag reflect.StructTag) error {
	n = resolveAlias(n)
	if err := w.spend(n, key); err != nil {
		return err
	}
	if t == durationType {
		return checkDuration(n, key)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		return w.structure(n, t, key, 0)
	case reflect.Map:
		return w.mapping(n, t, key, tag, 0)
	case reflect.Slice:
		if n.ShortTag() == "!!null" {
			return fieldError(n, key, "is empty: give a list, e.g. [a, b], or remove the key")
		}
		if n.Kind != yaml.SequenceNode {
			return fieldError(n, key, "must be a list, e.g. [a, b]")
		}
		for i, el := range n.Content {
			if err := w.field(el, t.Elem(), fmt.Sprintf("%s[%d]", key, i+1), tag); err != nil {
				return err
			}
		}
		return nil
	case reflect.Int, reflect.Int64, reflect.Float64:
		return checkNumber(n, key, tag, t.Kind() != reflect.Float64)
	case reflect.Bool:
		return checkBool(n, key)
	case reflect.String:
		return checkString(n, key, tag.Get("kind"))
	}
	return fmt.Errorf("%w: %s: field of type %s has no check", ErrInvalid, key, t)
}

func (w *walker) structure(n *yaml.Node, t reflect.Type, key string, merges int) error {
	if n.ShortTag() == "!!null" {
		return nil // an empty section: yaml.v3 leaves it as it was
	}
	if n.Kind != yaml.MappingNode {
		if key == "" {
			return nil // the decoder says what the document is
		}
		return fieldError(n, key, "must be a section of keys, e.g. %s: {key: value}", key[strings.LastIndex(key, ".")+1:])
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			if err := w.merge(v, key, merges, func(m *yaml.Node) error { return w.structure(m, t, key, merges+1) }); err != nil {
				return err
			}
			continue
		}
		f, ok := fieldByName(t, k.Value)
		if !ok {
			continue // the decoder names the unknown key
		}
		if err := w.field(v, f.Type, joinKey(key, k.Value), f.Tag); err != nil {
			return err
		}
	}
	return nil
}

// merge walks the mapping (or list of mappings) of a "<<" merge key.
func (w *walker) merge(v *yaml.Node, key string, merges int, walk func(*yaml.Node) error) error {
	v = resolveAlias(v)
	if merges >= maxMerges {
		return fieldError(v, key, "merge keys (<<) nest more than %d deep or merge a mapping into itself", maxMerges)
	}
	if v.Kind != yaml.SequenceNode {
		return walk(v)
	}
	for _, m := range v.Content {
		if err := walk(resolveAlias(m)); err != nil {
			return err
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// fieldByName finds the field that a YAML key decodes into, looking
// through inline embedded structs.
func fieldByName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		yname, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			if g, ok := fieldByName(f.Type, name); ok {
				return g, true
			}
			continue
		}
		if yname == name && yname != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, key string, tag reflect.StructTag, merges int) error {
	n = resolveAlias(n)
	if n.ShortTag() == "!!null" {
		return fieldError(n, key, "is empty: give a mapping, e.g. {name: value}, or remove the key")
	}
	if n.Kind != yaml.MappingNode {
		return fieldError(n, key, "must be a mapping, e.g. {name: value}")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			if err := w.merge(v, key, merges, func(m *yaml.Node) error { return w.mapping(m, t, key, tag, merges+1) }); err != nil {
				return err
			}
			continue
		}
		if k.Kind == yaml.ScalarNode && tag.Get("keys") == KindColumn && (k.Value == "" || k.ShortTag() == "!!null") {
			return fieldError(k, key, "a key is empty: give a column name")
		}
		if err := checkString(k, key, tag.Get("keys")); err != nil {
			return err
		}
		if err := w.field(v, t.Elem(), joinKey(key, k.Value), tag); err != nil {
			return err
		}
	}
	return nil
}

// describe words what a scalar that is not a number is.
func describe(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "is a mapping"
	case n.Kind == yaml.SequenceNode:
		return "is a list"
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		return fmt.Sprintf("%q is quoted text", n.Value)
	case n.ShortTag() == "!!bool":
		return fmt.Sprintf("%s is a boolean", n.Value)
	}
	return fmt.Sprintf("%q is text", n.Value)
}

func checkNumber(n *yaml.Node, key string, tag reflect.StructTag, integer bool) error {
	spec, ok := tag.Lookup("range")
	if !ok {
		return fmt.Errorf("%w: %s: field has no range", ErrInvalid, key)
	}
	r, err := parseRange(spec, integer)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, key, err)
	}
	if n.ShortTag() == "!!null" {
		return fieldError(n, key, "is empty: give a number or remove the key; %s", r.allowed())
	}
	what := "a number"
	if integer {
		what = "a whole number"
	}
	isNum := n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float")
	if !isNum {
		return fieldError(n, key, "%s, not %s; %s", describe(n), what, r.allowed())
	}
	v, ok := yamlNumber(n)
	if !ok {
		return fieldError(n, key, "%q is not %s; %s", n.Value, what, r.allowed())
	}
	if v.IsInf() {
		return fieldError(n, key, "%s is not a finite number; %s", n.Value, r.allowed())
	}
	if integer && !v.IsInt() {
		return fieldError(n, key, "%s has a fraction; %s", n.Value, r.allowed())
	}
	if !r.contains(v) {
		return fieldError(n, key, "%s is out of range; %s", n.Value, r.allowed())
	}
	if integer && n.ShortTag() != "!!int" {
		return fieldError(n, key, "write %s as a plain whole number; %s", n.Value, r.allowed())
	}
	return nil
}

// yamlNumber reads an !!int or !!float scalar exactly, without yaml.v3's
// truncation; NaN is not a number.
func yamlNumber(n *yaml.Node) (*big.Float, bool) {
	s := strings.ReplaceAll(n.Value, "_", "")
	if n.ShortTag() == "!!int" {
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimLeft(s, "+-")
		if strings.HasPrefix(s, "0o") {
			s = "0" + s[2:]
		}
		i, ok := new(big.Int).SetString(s, 0)
		if !ok {
			return nil, false
		}
		if neg {
			i.Neg(i)
		}
		return new(big.Float).SetInt(i), true
	}
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case ".nan":
		return nil, false
	case ".inf":
		return new(big.Float).SetInf(strings.HasPrefix(s, "-")), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return nil, false
	}
	return new(big.Float).SetFloat64(f), true
}

func checkBool(n *yaml.Node, key string) error {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return nil
	}
	return fieldError(n, key, "%s, not true or false", describe(n))
}

// Kinds of string fields.
const (
	KindPath     = "path"
	KindColumn   = "column"
	KindEnum     = "enum"
	KindText     = "text"
	KindDuration = "duration"
)

func checkString(n *yaml.Node, key, kind string) error {
	switch kind {
	case KindPath, KindColumn, KindEnum, KindText:
	default:
		return fmt.Errorf("%w: %s: field has no kind", ErrInvalid, key)
	}
	if n.Kind != yaml.ScalarNode {
		return fieldError(n, key, "%s; give a single value", describe(n))
	}
	if kind == KindText {
		return nil
	}
	if n.ShortTag() == "!!null" || n.Value == "" {
		word := map[string]string{KindPath: "a path", KindColumn: "a column name", KindEnum: "a value"}[kind]
		if strings.HasSuffix(key, "]") {
			return fieldError(n, key, "is empty: give %s", word)
		}
		return fieldError(n, key, "is empty: give %s or remove the key", word)
	}
	return nil
}

func checkDuration(n *yaml.Node, key string) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return fieldError(n, key, "%s, not a duration such as 90s or 10m", describe(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return fieldError(n, key, "%q is not a duration such as 90s or 10m", n.Value)
	}
	if d < 0 {
		return fieldError(n, key, "%s is negative; give 0 (none) or more, e.g. 90s", n.Value)
	}
	return nil
}
