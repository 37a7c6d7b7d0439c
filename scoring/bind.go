package scoring

import (
	"fmt"
	"maps"
	"slices"

	"github.com/apache/arrow/go/v17/arrow"
)

// Binding says how a job feeds a model and reads it back: which columns
// fill which input, and which outputs hold the score and the label.
type Binding struct {
	Inputs []InputBinding
	Score  OutputBinding
	Label  *OutputBinding
	// Outputs are the output names to request from the session, in order.
	Outputs []string
	// Key is the job file's section for the model ("model", "challenger",
	// "fallback.model"): messages name the keys the user wrote.
	Key string
}

// Wiring is what a job says about one model: which columns fill each
// input, in order, and which outputs hold the score and the label. The
// job file's model section converts to it field for field.
type Wiring struct {
	Inputs map[string][]string
	Score  OutputRef
	Label  *OutputRef
}

// OutputRef picks a model output and, for a per-class output, the class.
type OutputRef struct {
	Output string
	// Class is the column of an [N,C] output, or the key of a ZipMap output.
	// Nil means a single-valued (regression or label) output.
	Class *int64
}

// InputBinding fills one model input with Columns, one row per table row.
type InputBinding struct {
	Name    string
	Columns []string
	Elem    string
	Rank    int // 1: [N] from one column; 2: [N,len(Columns)]
}

// OutputBinding reads one output; Index points into Binding.Outputs.
type OutputBinding struct {
	Port  Port
	Index int
	Class *int64
}

var inputElems = []string{Float, Double, Int64, Int32}

// Bind checks the model's signature against the job file's model:
// section (as a Wiring) before any data is read. Errors wrap ErrSignature and name the
// input and its columns.
func Bind(sig Signature, m Wiring) (*Binding, error) { return BindAs("model", sig, m) }

// BindAs is Bind for the model of the job file's section key
// ("challenger", "fallback.model"), which its messages name.
func BindAs(key string, sig Signature, m Wiring) (*Binding, error) {
	b := &Binding{Key: key}
	for _, name := range slices.Sorted(maps.Keys(m.Inputs)) {
		if _, ok := findPort(sig.Inputs, name); !ok {
			return nil, fmt.Errorf("%w: %s.inputs names %q but the model's inputs are %v",
				ErrSignature, key, name, portNames(sig.Inputs))
		}
	}
	for _, p := range sig.Inputs {
		cols, ok := m.Inputs[p.Name]
		if !ok {
			return nil, fmt.Errorf("%w: model input %s is not fed: add it under %s.inputs with its columns",
				ErrSignature, p, key)
		}
		in, err := bindInput(p, cols, key)
		if err != nil {
			return nil, err
		}
		b.Inputs = append(b.Inputs, in)
	}

	score, err := b.bindOutput(sig, m.Score, key+".score", []string{Float, Double}, true)
	if err != nil {
		return nil, err
	}
	b.Score = score
	if m.Label != nil {
		label, err := b.bindOutput(sig, *m.Label, key+".label", []string{Int64, Int32, String, Float, Double}, false)
		if err != nil {
			return nil, err
		}
		b.Label = &label
	}
	return b, nil
}

func bindInput(p Port, cols []string, key string) (InputBinding, error) {
	in := InputBinding{Name: p.Name, Columns: cols, Elem: p.Elem, Rank: len(p.Shape)}
	if p.Kind != KindTensor || !slices.Contains(inputElems, p.Elem) {
		return in, fmt.Errorf("%w: model input %s: only tensors of %v can be fed from table columns",
			ErrSignature, p, inputElems)
	}
	if len(p.Shape) > 0 && p.Shape[0] >= 0 {
		return in, fmt.Errorf("%w: model input %s has a fixed batch size of %d; batchscore needs a free first dimension",
			ErrSignature, p, p.Shape[0])
	}
	switch len(p.Shape) {
	case 1:
		if len(cols) != 1 {
			return in, fmt.Errorf("%w: model input %s takes one value per row but %s.inputs.%s lists %d columns %v",
				ErrSignature, p, key, p.Name, len(cols), cols)
		}
	case 2:
		if width := p.Shape[1]; width >= 0 && width != int64(len(cols)) {
			return in, fmt.Errorf("%w: model input %s takes %d values per row but %s.inputs.%s lists %d columns %v",
				ErrSignature, p, width, key, p.Name, len(cols), cols)
		}
	default:
		return in, fmt.Errorf("%w: model input %s: only [N] and [N,F] inputs can be fed from table columns",
			ErrSignature, p)
	}
	return in, nil
}

// bindOutput checks one output reference; only a score may come from a
// ZipMap sequence, whose values are probabilities.
func (b *Binding) bindOutput(sig Signature, ref OutputRef, key string, elems []string, zipMapOK bool) (OutputBinding, error) {
	p, ok := findPort(sig.Outputs, ref.Output)
	if !ok {
		return OutputBinding{}, fmt.Errorf("%w: %s.output is %q but the model's outputs are %v",
			ErrSignature, key, ref.Output, portNames(sig.Outputs))
	}
	ob := OutputBinding{Port: p, Class: ref.Class}
	switch p.Kind {
	case KindSequence: // ZipMap: seq(map(int64, float))
		if !zipMapOK {
			return ob, fmt.Errorf("%w: %s: output %s is a sequence of maps (ZipMap); a label must come from a tensor output",
				ErrSignature, key, p.Name)
		}
		if ref.Class == nil {
			return ob, fmt.Errorf("%w: %s: output %s is a sequence of maps (ZipMap): set class to the map key to read",
				ErrSignature, key, p.Name)
		}
	case KindTensor:
		if !slices.Contains(elems, p.Elem) {
			return ob, fmt.Errorf("%w: %s: output %s has elements of %s; %s needs one of %v",
				ErrSignature, key, p, p.Elem, key, elems)
		}
		if err := checkOutputShape(p, ref.Class, key); err != nil {
			return ob, err
		}
	default:
		return ob, fmt.Errorf("%w: %s: output %s cannot be read as a score", ErrSignature, key, p)
	}
	ob.Index = slices.Index(b.Outputs, p.Name)
	if ob.Index < 0 {
		ob.Index = len(b.Outputs)
		b.Outputs = append(b.Outputs, p.Name)
	}
	return ob, nil
}

func checkOutputShape(p Port, class *int64, key string) error {
	switch len(p.Shape) {
	case 1:
		if class != nil {
			return fmt.Errorf("%w: %s: output %s has one value per row: remove class", ErrSignature, key, p)
		}
	case 2:
		width := p.Shape[1]
		if class == nil && width > 1 {
			return fmt.Errorf("%w: %s: output %s has %d columns: set class to the column to read",
				ErrSignature, key, p, width)
		}
		if class != nil && (*class < 0 || (width >= 0 && *class >= width)) {
			return fmt.Errorf("%w: %s: class %d is outside output %s", ErrSignature, key, *class, p)
		}
	default:
		return fmt.Errorf("%w: %s: output %s must be [N] or [N,C]", ErrSignature, key, p)
	}
	return nil
}

// Columns lists every table column the binding reads, in first-use order.
func (b *Binding) Columns() []string {
	var cols []string
	for _, in := range b.Inputs {
		for _, c := range in.Columns {
			if !slices.Contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// CheckSchema checks, before any row is scored, that every bound column is
// in the snapshot with a type its input can take. where names the file.
func (b *Binding) CheckSchema(schema *arrow.Schema, where string) error {
	for _, in := range b.Inputs {
		for _, col := range in.Columns {
			idx := schema.FieldIndices(col)
			if len(idx) == 0 {
				return fmt.Errorf("%w: %s: column %q (model input %s) is not in the snapshot; %s lists it",
					ErrBadInput, where, col, in.Name, b.inputKey(in.Name))
			}
			typ := schema.Field(idx[0]).Type
			if !castable(typ, in.Elem) {
				return fmt.Errorf("%w: %s: column %q is %s, which model input %s (%s) cannot take; %s lists it",
					ErrBadInput, where, col, typ, in.Name, in.Elem, b.inputKey(in.Name))
			}
		}
	}
	return nil
}

// inputKey is the job file key that lists an input's columns.
func (b *Binding) inputKey(input string) string {
	key := b.Key
	if key == "" {
		key = "model"
	}
	return key + ".inputs." + input
}

// ColumnKey is the job file key that lists column among a model's
// inputs ("challenger.inputs.features"), "" if none does.
func (b *Binding) ColumnKey(column string) string {
	for _, in := range b.Inputs {
		if slices.Contains(in.Columns, column) {
			return b.inputKey(in.Name)
		}
	}
	return ""
}

// castable says which column types feed which elements: any number or bool
// feeds a float input; an integer input takes only the integers it can
// hold whole, since truncating or wrapping would silently change the data.
func castable(t arrow.DataType, elem string) bool {
	switch elem {
	case Float, Double:
		return fitsInt64[t.ID()] || t.ID() == arrow.UINT64 || t.ID() == arrow.FLOAT32 || t.ID() == arrow.FLOAT64
	case Int64:
		return fitsInt64[t.ID()]
	case Int32:
		return fitsInt64[t.ID()] && t.ID() != arrow.INT64 && t.ID() != arrow.UINT32
	}
	return false
}

// fitsInt64 lists the column types every value of which an int64 holds.
var fitsInt64 = map[arrow.Type]bool{
	arrow.INT8: true, arrow.INT16: true, arrow.INT32: true, arrow.INT64: true,
	arrow.UINT8: true, arrow.UINT16: true, arrow.UINT32: true, arrow.BOOL: true,
}
