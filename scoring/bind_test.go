package scoring

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
)

func cls(c int64) *int64 { return &c }

var gbmSignature = Signature{
	Inputs: []Port{{Name: "features", Kind: "tensor", Elem: Float, Shape: []int64{-1, 3}}},
	Outputs: []Port{
		{Name: "label", Kind: "tensor", Elem: Int64, Shape: []int64{-1}},
		{Name: "probabilities", Kind: "tensor", Elem: Float, Shape: []int64{-1, 2}},
		{Name: "zip", Kind: "sequence"},
	},
}

func TestBind(t *testing.T) {
	three := map[string][]string{"features": {"a", "b", "c"}}
	tests := []struct {
		name  string
		sig   Signature
		model Wiring
		want  string // "" means success
	}{
		{"ok", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "probabilities", Class: cls(1)}, Label: &OutputRef{Output: "label"}}, ""},
		{"zipmap with class", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "zip", Class: cls(1)}}, ""},
		{"too few columns", gbmSignature, Wiring{Inputs: map[string][]string{"features": {"a", "b"}}, Score: OutputRef{Output: "probabilities", Class: cls(1)}},
			"model input features: float[N,3] takes 3 values per row but model.inputs.features lists 2 columns [a b]"},
		{"unknown input", gbmSignature, Wiring{Inputs: map[string][]string{"features": {"a", "b", "c"}, "extra": {"d"}}, Score: OutputRef{Output: "probabilities", Class: cls(1)}},
			`model.inputs names "extra" but the model's inputs are [features]`},
		{"unfed input", gbmSignature, Wiring{Inputs: map[string][]string{}, Score: OutputRef{Output: "probabilities", Class: cls(1)}},
			"model input features: float[N,3] is not fed"},
		{"unknown output", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "proba"}},
			`model.score.output is "proba" but the model's outputs are [label probabilities zip]`},
		{"class missing", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "probabilities"}},
			"has 2 columns: set class"},
		{"class out of range", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "probabilities", Class: cls(2)}},
			"class 2 is outside output"},
		{"zipmap without class", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "zip"}},
			"sequence of maps (ZipMap): set class"},
		{"label from a ZipMap", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "probabilities", Class: cls(1)}, Label: &OutputRef{Output: "zip", Class: cls(1)}},
			"a label must come from a tensor output"},
		{"fixed batch size", Signature{Inputs: []Port{{Name: "features", Kind: "tensor", Elem: Float, Shape: []int64{1, 3}}}, Outputs: gbmSignature.Outputs},
			Wiring{Inputs: three, Score: OutputRef{Output: "probabilities", Class: cls(1)}}, "fixed batch size of 1"},
		{"label as score", gbmSignature, Wiring{Inputs: three, Score: OutputRef{Output: "label"}},
			"has elements of int64"},
		{"string input", Signature{Inputs: []Port{{Name: "s", Kind: "tensor", Elem: String, Shape: []int64{-1, 1}}}, Outputs: gbmSignature.Outputs},
			Wiring{Inputs: map[string][]string{"s": {"a"}}, Score: OutputRef{Output: "probabilities", Class: cls(1)}},
			"only tensors of [float double int64 int32]"},
		{"rank 1 input with two columns", Signature{Inputs: []Port{{Name: "x", Kind: "tensor", Elem: Double, Shape: []int64{-1}}}, Outputs: gbmSignature.Outputs},
			Wiring{Inputs: map[string][]string{"x": {"a", "b"}}, Score: OutputRef{Output: "probabilities", Class: cls(1)}},
			"takes one value per row"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Bind(tc.sig, tc.model)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Outputs) == 0 || b.Outputs[b.Score.Index] != tc.model.Score.Output {
					t.Errorf("outputs %v, score index %d", b.Outputs, b.Score.Index)
				}
				return
			}
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("err = %v, want ErrSignature", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCheckSchema(t *testing.T) {
	b, err := Bind(Signature{
		Inputs: []Port{
			{Name: "f", Kind: "tensor", Elem: Float, Shape: []int64{-1, 2}},
			{Name: "i", Kind: "tensor", Elem: Int64, Shape: []int64{-1, 1}},
		},
		Outputs: gbmSignature.Outputs,
	}, Wiring{Inputs: map[string][]string{"f": {"x", "flag"}, "i": {"n"}}, Score: OutputRef{Output: "probabilities", Class: cls(1)}})
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string, typ arrow.DataType) arrow.Field { return arrow.Field{Name: name, Type: typ} }
	tests := []struct {
		name   string
		fields []arrow.Field
		want   string
	}{
		{"ok", []arrow.Field{field("x", arrow.PrimitiveTypes.Float64), field("flag", arrow.FixedWidthTypes.Boolean), field("n", arrow.PrimitiveTypes.Int32)}, ""},
		{"missing", []arrow.Field{field("x", arrow.PrimitiveTypes.Float64), field("n", arrow.PrimitiveTypes.Int32)}, `column "flag" (model input f) is not in the snapshot`},
		{"string", []arrow.Field{field("x", arrow.BinaryTypes.String), field("flag", arrow.FixedWidthTypes.Boolean), field("n", arrow.PrimitiveTypes.Int32)}, `column "x" is utf8, which model input f (float) cannot take`},
		{"float into int", []arrow.Field{field("x", arrow.PrimitiveTypes.Float64), field("flag", arrow.FixedWidthTypes.Boolean), field("n", arrow.PrimitiveTypes.Float64)}, `column "n" is float64, which model input i (int64) cannot take`},
		{"uint64 into int64 could wrap", []arrow.Field{field("x", arrow.PrimitiveTypes.Float64), field("flag", arrow.FixedWidthTypes.Boolean), field("n", arrow.PrimitiveTypes.Uint64)}, `column "n" is uint64, which model input i (int64) cannot take`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := b.CheckSchema(arrow.NewSchema(tc.fields, nil), "part-0.parquet")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "part-0.parquet") {
				t.Errorf("err = %v, want ErrBadInput containing %q and the file", err, tc.want)
			}
		})
	}
}
