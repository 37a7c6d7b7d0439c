package spec

import (
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// leafField is one key of the job file that holds a value, as the
// reflection of Job sees it: its type path (list items as [], map keys as
// *) and its tags.
type leafField struct {
	path string
	typ  reflect.Type
	tag  reflect.StructTag
}

// leafFields lists every value-holding key of the job file by reflection,
// so that a field added to the spec is in the list without anyone adding it.
func leafFields(t reflect.Type, path string, tag reflect.StructTag, out *[]leafField) {
	if t == durationType {
		*out = append(*out, leafField{path, t, tag})
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch {
			case name == "-" || !f.IsExported():
			case opts == "inline":
				leafFields(f.Type, path, f.Tag, out)
			default:
				leafFields(f.Type, joinKey(path, name), f.Tag, out)
			}
		}
	case reflect.Map:
		*out = append(*out, leafField{path + ".<key>", reflect.TypeOf(""), reflect.StructTag(`kind:"` + tag.Get("keys") + `"`)})
		leafFields(t.Elem(), path+".*", tag, out)
	case reflect.Slice:
		leafFields(t.Elem(), path+"[]", tag, out)
	default:
		*out = append(*out, leafField{path, t, tag})
	}
}

func allLeafFields(t *testing.T) []leafField {
	t.Helper()
	var out []leafField
	leafFields(reflect.TypeOf(Job{}), "", "", &out)
	if len(out) < 50 {
		t.Fatalf("only %d fields found by reflection", len(out))
	}
	return out
}

func isNumber(k reflect.Kind) bool {
	return k == reflect.Int || k == reflect.Int64 || k == reflect.Float64
}

// Every number has a range and every string a kind: a new field without
// either fails here before it can load a wrong value silently.
func TestEveryFieldHasItsTag(t *testing.T) {
	for _, f := range allLeafFields(t) {
		switch {
		case f.typ == durationType:
			if f.tag.Get("kind") != KindDuration {
				t.Errorf("%s: a duration needs kind:\"duration\"", f.path)
			}
		case isNumber(f.typ.Kind()):
			spec, ok := f.tag.Lookup("range")
			if !ok {
				t.Errorf("%s: number without a range tag", f.path)
				continue
			}
			if _, err := parseRange(spec, f.typ.Kind() != reflect.Float64); err != nil {
				t.Errorf("%s: %v", f.path, err)
			}
		case f.typ.Kind() == reflect.String:
			switch f.tag.Get("kind") {
			case KindPath, KindColumn, KindEnum, KindText:
			default:
				t.Errorf("%s: string without a kind tag (path, column, enum or text)", f.path)
			}
		case f.typ.Kind() == reflect.Bool:
		default:
			t.Errorf("%s: type %s has no check in fields.go", f.path, f.typ)
		}
	}
}

// The full good files set every key; typePath turns a key path of a file
// into the type path leafFields uses.
var (
	mapKeyInPath = regexp.MustCompile(`^(model|challenger|fallback\.model|arms\.models\[\d*\])\.inputs\.[^.\[]+|^validation\.columns\.[^.\[]+`)
	itemInPath   = regexp.MustCompile(`\[\d+\]`)
)

func typePath(key string) string {
	key = itemInPath.ReplaceAllString(key, "[]")
	return mapKeyInPath.ReplaceAllStringFunc(key, func(m string) string {
		return m[:strings.LastIndex(m, ".")] + ".*"
	})
}

// step is one step from a node to a child: a mapping key or a list item.
type step struct {
	key  string
	item int // 1-based; 0: key
}

type leafNode struct {
	steps  []step
	key    string // as messages write it
	mapKey bool   // the leaf is the key of a mapping entry, not a value
}

// leafNodes lists the scalar values (and the keys of maps of columns or
// inputs) of a YAML tree.
func leafNodes(n *yaml.Node, steps []step, key string, out *[]leafNode) {
	switch n.Kind {
	case yaml.DocumentNode:
		leafNodes(n.Content[0], steps, key, out)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			s := append(cloneSteps(steps), step{key: k})
			child := joinKey(key, k)
			if mapKeyInPath.MatchString(child) && mapKeyInPath.FindString(child) == child {
				*out = append(*out, leafNode{steps: s, key: child, mapKey: true})
			}
			leafNodes(n.Content[i+1], s, child, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			leafNodes(c, append(cloneSteps(steps), step{item: i + 1}), fmt.Sprintf("%s[%d]", key, i+1), out)
		}
	default:
		*out = append(*out, leafNode{steps: steps, key: key})
	}
}

func cloneSteps(s []step) []step { return append([]step(nil), s...) }

// nodeAt follows steps; for a map key it returns the key node.
func nodeAt(root *yaml.Node, steps []step, mapKey bool) *yaml.Node {
	n := root.Content[0]
	for i, s := range steps {
		if s.item > 0 {
			n = n.Content[s.item-1]
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == s.key {
				if mapKey && i == len(steps)-1 {
					return n.Content[j]
				}
				n = n.Content[j+1]
				break
			}
		}
	}
	return n
}

// wrongValues are values of YAML text that a field of this type and tag
// must refuse.
func wrongValues(t *testing.T, f leafField) []string {
	t.Helper()
	if f.typ == durationType {
		return []string{"5 minutes", "-1s", "1.5", "true", "[1s]"}
	}
	switch kind := f.typ.Kind(); {
	case isNumber(kind):
		integer := kind != reflect.Float64
		r, err := parseRange(f.tag.Get("range"), integer)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		vals := []string{`"1"`, "true", "~", "[1]", "{a: 1}", "many"}
		if integer {
			vals = append(vals, "0.5", "1.5", "-2.5", "1e3")
		} else {
			vals = append(vals, ".nan", ".inf", "-.inf")
		}
		one := big.NewFloat(1)
		if r.lo != nil {
			vals = append(vals, new(big.Float).Sub(r.lo, one).Text('f', -1))
		}
		if r.hi != nil {
			vals = append(vals, new(big.Float).Add(r.hi, one).Text('f', -1))
		}
		return vals
	case kind == reflect.Bool:
		return []string{"maybe", "1", `"true"`, "~", "[true]"}
	case kind == reflect.String:
		switch f.tag.Get("kind") {
		case KindPath:
			return []string{`""`, "~", "{a: 1}", "[a, b]"}
		case KindColumn:
			return []string{`""`, "~", "{a: 1}", "[a, b]"}
		case KindEnum:
			return []string{"not_a_value", `""`, "~", "{a: 1}", "[a]"}
		case KindText:
			return []string{"{a: 1}", "[a, b]"}
		}
	}
	t.Fatalf("%s: no wrong values for %s", f.path, f.typ)
	return nil
}

// Every key of the job file that holds a number, a path, a column name, an
// enum, a duration or a flag is fed wrong values: each must be refused,
// naming the key and the line. Fields come from reflection, values from
// the full good files, so a field missing from those files fails too.
func TestEveryFieldRefusesAWrongValue(t *testing.T) {
	setTestEnv(t)
	fields := map[string]leafField{}
	for _, f := range allLeafFields(t) {
		fields[f.path] = f
	}
	covered := map[string]bool{}
	for _, file := range []string{"testdata/full_parquet.good.yml", "testdata/full_sql.good.yml", "testdata/full_registry.good.yml", "testdata/full_arms.good.yml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, "/jobs"); err != nil {
			t.Fatalf("%s does not load: %v", file, err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			t.Fatal(err)
		}
		var leaves []leafNode
		leafNodes(&root, nil, "", &leaves)
		for _, leaf := range leaves {
			tp := typePath(leaf.key)
			if leaf.mapKey {
				tp = strings.TrimSuffix(tp, ".*") + ".<key>"
			}
			f, ok := fields[tp]
			if !ok {
				t.Errorf("%s: %s (%s) is not a field of the spec", file, leaf.key, tp)
				continue
			}
			covered[tp] = true
			if f.typ.Kind() == reflect.String && f.tag.Get("kind") == KindText && leaf.mapKey {
				continue // an input name may be anything the model calls it
			}
			for _, wrong := range wrongValues(t, f) {
				checkWrongValue(t, file, &root, leaf, wrong)
			}
		}
	}
	for path := range fields {
		// A challenger and a fallback model give scores only: any label
		// there is refused (challenger_label.bad.yml).
		if strings.HasPrefix(path, "challenger.label.") || strings.HasPrefix(path, "fallback.model.label.") {
			continue
		}
		if !covered[path] {
			t.Errorf("%s is set by no full good file: add it to testdata/full_*.good.yml", path)
		}
	}
}

// checkWrongValue puts wrong in place of leaf in a copy of the file and
// wants a load error naming the key and the line.
func checkWrongValue(t *testing.T, file string, root *yaml.Node, leaf leafNode, wrong string) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(wrong), &doc); err != nil {
		t.Fatalf("wrong value %q: %v", wrong, err)
	}
	var copyRoot yaml.Node
	data, _ := yaml.Marshal(root)
	if err := yaml.Unmarshal(data, &copyRoot); err != nil {
		t.Fatal(err)
	}
	target := nodeAt(&copyRoot, leaf.steps, leaf.mapKey)
	if leaf.mapKey {
		if doc.Content[0].Kind != yaml.ScalarNode {
			return // a mapping key is text
		}
		target.Value, target.Tag, target.Style = doc.Content[0].Value, doc.Content[0].Tag, doc.Content[0].Style
	} else {
		*target = *doc.Content[0]
	}
	bad, err := yaml.Marshal(&copyRoot)
	if err != nil {
		t.Fatal(err)
	}
	// The line of the wrong value in the text that is loaded.
	var reread yaml.Node
	if err := yaml.Unmarshal(bad, &reread); err != nil {
		t.Fatalf("%s: %s = %s: %v", file, leaf.key, wrong, err)
	}
	line := nodeAt(&reread, leaf.steps, leaf.mapKey).Line
	want := lastKey(leaf.key)
	if leaf.mapKey { // the key itself is what is wrong: its map is named
		want = lastKey(leaf.key[:strings.LastIndex(leaf.key, ".")])
	}
	job, err := Parse(bad, "/jobs")
	name := fmt.Sprintf("%s: %s: %s", file, leaf.key, wrong)
	switch {
	case err == nil:
		t.Errorf("%s: loaded silently (%+v)", name, job)
	case !errors.Is(err, ErrInvalid):
		t.Errorf("%s: error does not wrap ErrInvalid: %v", name, err)
	case !strings.Contains(err.Error(), "line "+strconv.Itoa(line)+": "):
		t.Errorf("%s: error does not name line %d: %v", name, line, err)
	case !strings.Contains(err.Error(), want):
		t.Errorf("%s: error does not name the key %s: %v", name, want, err)
	}
}

// lastKey is the last mapping key of a key path: "keys" for output.keys[1].
func lastKey(key string) string {
	key = itemInPath.ReplaceAllString(key, "")
	return key[strings.LastIndex(key, ".")+1:]
}

// The integer settings the issue names, and every other integer field:
// a fraction, a string, a boolean and a value out of range, each with the
// allowed range in the message.
func TestEveryIntegerFieldRefusesFractionsStringsBoolsAndOutOfRange(t *testing.T) {
	n := 0
	for _, f := range allLeafFields(t) {
		if k := f.typ.Kind(); k != reflect.Int && k != reflect.Int64 || f.typ == durationType {
			continue
		}
		n++
		r, err := parseRange(f.tag.Get("range"), true)
		if err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		below := new(big.Float).Sub(r.lo, big.NewFloat(1)).Text('f', -1)
		for _, v := range []string{"0.9", "2.5", `"3"`, "three", "true", "false", below} {
			node := &yaml.Node{}
			if err := yaml.Unmarshal([]byte("x: "+v), node); err != nil {
				t.Fatal(err)
			}
			err := checkNumber(node.Content[0].Content[1], f.path, f.tag, true)
			if err == nil {
				t.Errorf("%s: %s accepted", f.path, v)
				continue
			}
			if !strings.Contains(err.Error(), r.allowed()) || !strings.Contains(err.Error(), "line 1: "+f.path) {
				t.Errorf("%s: %s: %v lacks the key, line or %q", f.path, v, err, r.allowed())
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d integer fields found", n)
	}
}

func TestLeapDayAndNeverFiringSchedules(t *testing.T) {
	for _, tt := range []struct {
		expr string
		ok   bool
	}{
		{"0 0 29 2 *", true}, {"0 0 30 2 *", false}, {"0 0 31 4 *", false}, {"0 0 31 * *", true},
		{"@every 1h", true}, {"@every 1s", true}, {"@every 500ms", false}, {"@every 0s", false}, {"@every -1h", false}, {"@yearly", true},
		{"0 0 31 2,4 *", false}, {"0 0 31 2,5 *", true},
	} {
		got := checkSchedule(tt.expr)
		if (got == "") != tt.ok {
			t.Errorf("checkSchedule(%q) = %q, want ok=%v", tt.expr, got, tt.ok)
		}
	}
}

// Anchors, aliases and merge keys are checked like values written out.
func TestFieldsThroughAliasesAndMerges(t *testing.T) {
	tests := []struct {
		name, extra, want string
	}{
		{name: "anchored section", extra: "scoring: &d {workers: 1}\n", want: ""},
		{name: "merged fraction", extra: "scoring:\n  <<: [{chunk_rows: 2.5}]\n", want: "scoring.chunk_rows: 2.5 has a fraction"},
		{name: "aliased fraction", extra: "catchup: &c 0.5\n", want: "catchup: 0.5 has a fraction"},
		{name: "merged columns", extra: "validation:\n  columns:\n    <<: {a: {type: int}}\n    b: {type: float}\n", want: ""},
		{name: "merge of itself", extra: "scoring: &s\n  <<: *s\n", want: "merge a mapping into itself"},
		{name: "merge of itself in a map", extra: "validation:\n  columns: &c\n    <<: *c\n", want: "merge a mapping into itself"},
		{name: "merged empty column", extra: "validation:\n  columns:\n    <<: {\"\": {type: int}}\n", want: "a key is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimalJob+tt.extra), "/d")
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
