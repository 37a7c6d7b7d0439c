package explain

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func readF64(t *testing.T, name string) []float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

// TestLinearAgainstNumPy compares contributions, bias and margin of a
// Scaler + LinearClassifier with NumPy's w_j·scale_j·(x_j − mean_j).
func TestLinearAgainstNumPy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(dir, "sk_logreg.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := LinearModel(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeans(readF64(t, "linear.means.f64")); err != nil {
		t.Fatal(err)
	}
	if f := l.Features(); len(f) != features || f[3] != (Feature{"X", 3}) {
		t.Fatalf("features %v", f)
	}
	x := readF32(t, "inputs.f32")
	want := readF64(t, "sk_logreg.contribs.f64")
	phi := make([]float64, features)
	for r := range len(x) / features {
		row := append([]float32(nil), x[r*features:(r+1)*features]...)
		for j := range row {
			if row[j] != row[j] {
				row[j] = 0
			}
		}
		bias, margin := l.Explain(row, nil, phi)
		w := want[r*(features+2) : (r+1)*(features+2)]
		for j := range features {
			if math.Abs(phi[j]-w[j]) > 1e-9 {
				t.Fatalf("row %d feature %d: %v, NumPy %v", r, j, phi[j], w[j])
			}
		}
		if math.Abs(bias-w[features]) > 1e-9 || math.Abs(margin-w[features+1]) > 1e-9 {
			t.Fatalf("row %d: bias %v margin %v, NumPy %v %v", r, bias, margin, w[features], w[features+1])
		}
		if a := Additivity(bias, phi, margin); a > 1e-9 {
			t.Fatalf("row %d: additivity %g", r, a)
		}
	}
	// Class 0 is the negated margin.
	l0, err := LinearModel(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	l0.SetMeans(readF64(t, "linear.means.f64"))
	_, m0 := l0.Explain(make([]float32, features), nil, phi)
	_, m1 := l.Explain(make([]float32, features), nil, phi)
	if math.Abs(m0+m1) > 1e-9 {
		t.Fatalf("class 0 margin %v, class 1 %v", m0, m1)
	}
}

// TestLinearPerColumnInputs reads the project's skl2onnx-shaped logistic
// model: one [N,1] input per column, Casts, a Concat and a Scaler.
func TestLinearPerColumnInputs(t *testing.T) {
	b, err := os.ReadFile("../../testdata/models/churn_logreg.onnx")
	if err != nil {
		t.Fatal(err)
	}
	l, err := LinearModel(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	f := l.Features()
	if len(f) != 30 || f[0] != (Feature{"tenure_months", 0}) || f[29] != (Feature{"months_to_contract_end", 0}) {
		t.Fatalf("features %v", f)
	}
	if _, err := LinearModel(b, 2); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("class 2: %v", err)
	}
	gbm, err := os.ReadFile(filepath.Join(dir, "sk_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LinearModel(gbm, 1); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a tree model: %v", err)
	}
}
