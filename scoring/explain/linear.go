package explain

import (
	"errors"
	"fmt"

	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// Feature is what one contribution is of: element Index of the model's
// graph input Input (a row's [N,F] input, or Index 0 of a per-column
// input).
type Feature struct {
	Input string
	Index int
}

// Linear explains a LinearClassifier or LinearRegressor (with a Scaler in
// front where there is one) for one margin column: input j contributes
// w_j·(x_j − E[x_j]), w_j the coefficient times the Scaler's scale, E[x]
// the means the caller gives (the job's baseline).
type Linear struct {
	features []Feature
	w        []float64 // effective weight of each feature, sign applied
	offset   []float64 // the Scaler's offset of each feature
	mean     []float64
	sign     float64
	icept    float64 // the intercept, sign applied
	bias     float64
	outputs  []string
}

// LinearModel reads the linear model in an ONNX file and returns its
// explainer of class (the position in the class labels; the target of a
// regressor), before SetMeans. A graph of another shape is an error
// wrapping ErrUnsupported that says what is not explained.
func LinearModel(model []byte, class int) (*Linear, error) {
	m, err := onnxwire.ReadModel(model)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	if m.Graph < 0 {
		return nil, fmt.Errorf("%w: no graph", ErrUnsupported)
	}
	g, err := onnxwire.ReadGraph(m.GraphBytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	byOutput := map[string]*onnxwire.Node{}
	var lin *onnxwire.Node
	for i := range g.Nodes {
		n := &g.Nodes[i]
		for _, o := range n.Outputs {
			byOutput[o] = n
		}
		if n.Domain == onnxwire.MLDomain && (n.Op == "LinearClassifier" || n.Op == "LinearRegressor") {
			if lin != nil {
				return nil, fmt.Errorf("%w: more than one linear node", ErrUnsupported)
			}
			lin = n
		}
	}
	if lin == nil || len(lin.Inputs) != 1 {
		return nil, fmt.Errorf("%w: no LinearClassifier or LinearRegressor node with one input", ErrUnsupported)
	}
	a, err := attrs(*lin)
	if err != nil {
		return nil, err
	}
	l := &Linear{sign: 1, outputs: lin.Outputs}
	coef, icept := a["coefficients"].Floats, a["intercepts"].Floats
	rows := len(icept)
	if rows == 0 || len(coef)%rows != 0 {
		return nil, fmt.Errorf("%w: %d coefficients for %d intercepts", ErrUnsupported, len(coef), rows)
	}
	width := len(coef) / rows
	row := class
	if lin.Op == "LinearClassifier" && rows == 1 && class <= 1 {
		// One score s for two classes: class 0's margin is -s.
		row = 0
		if class == 0 {
			l.sign = -1
		}
	}
	if row < 0 || row >= rows {
		return nil, fmt.Errorf("%w: class or target %d of a model with %d score rows", ErrUnsupported, class, rows)
	}
	l.w = make([]float64, width)
	l.offset = make([]float64, width)
	for j := range width {
		l.w[j] = l.sign * float64(coef[row*width+j])
	}
	l.icept = l.sign * float64(icept[row])
	in := lin.Inputs[0]
	if sc := byOutput[in]; sc != nil && sc.Op == "Scaler" {
		sa, err := attrs(*sc)
		if err != nil {
			return nil, err
		}
		if err := l.scale(sa["scale"].Floats, sa["offset"].Floats); err != nil {
			return nil, err
		}
		in = sc.Inputs[0]
	}
	if l.features, err = featuresOf(g, byOutput, in); err != nil {
		return nil, err
	}
	if len(l.features) != width {
		return nil, fmt.Errorf("%w: %d input features for %d coefficients per row", ErrUnsupported, len(l.features), width)
	}
	return l, nil
}

// scale folds a Scaler ((x − offset)·scale; one value applies to every
// feature) into the weights.
func (l *Linear) scale(scale, offset []float32) error {
	at := func(v []float32, j int, def float64) (float64, error) {
		switch len(v) {
		case 0:
			return def, nil
		case 1:
			return float64(v[0]), nil
		case len(l.w):
			return float64(v[j]), nil
		}
		return 0, fmt.Errorf("%w: Scaler with %d values for %d features", ErrUnsupported, len(v), len(l.w))
	}
	for j := range l.w {
		s, err := at(scale, j, 1)
		if err != nil {
			return err
		}
		o, err := at(offset, j, 0)
		if err != nil {
			return err
		}
		l.w[j] *= s
		l.offset[j] = o
	}
	return nil
}

// featuresOf follows a feature vector back to graph inputs: one [N,F]
// input, or a Concat of inputs (each perhaps through a Cast).
func featuresOf(g onnxwire.Graph, byOutput map[string]*onnxwire.Node, name string) ([]Feature, error) {
	inputs := map[string]onnxwire.ValueInfo{}
	for _, v := range g.Inputs {
		inputs[v.Name] = v
	}
	width := func(name string) (string, int, error) {
		if n := byOutput[name]; n != nil && n.Op == "Cast" {
			name = n.Inputs[0]
		}
		v, ok := inputs[name]
		switch {
		case !ok || g.Initializers[name]:
			return "", 0, fmt.Errorf("%w: the linear node reads %q, computed by the graph (only graph inputs, a Concat of them, Casts and a Scaler are followed)", ErrUnsupported, name)
		case !v.HasShape || len(v.Shape) == 1:
			return name, 1, nil
		case len(v.Shape) == 2 && v.Shape[1] > 0:
			return name, int(v.Shape[1]), nil
		}
		return "", 0, fmt.Errorf("%w: input %q has no fixed width", ErrUnsupported, name)
	}
	parts := []string{name}
	if n := byOutput[name]; n != nil && n.Op == "Concat" {
		parts = n.Inputs
	}
	var out []Feature
	for _, p := range parts {
		in, w, err := width(p)
		if err != nil {
			return nil, err
		}
		for k := range w {
			out = append(out, Feature{Input: in, Index: k})
		}
	}
	return out, nil
}

func attrs(n onnxwire.Node) (map[string]onnxwire.Values, error) {
	out := map[string]onnxwire.Values{}
	for _, a := range n.Attrs {
		v, err := a.Decode()
		if err != nil {
			return nil, fmt.Errorf("%w: node %q: %v", ErrUnsupported, n.Name, err)
		}
		if a.Name == "post_transform" && v.S != "NONE" && v.S != "LOGISTIC" && v.S != "SOFTMAX" && v.S != "" {
			return nil, fmt.Errorf("%w: post_transform %s", ErrUnsupported, v.S)
		}
		out[a.Name] = v
	}
	return out, nil
}

// Outputs are the linear node's outputs (label and scores, or Y).
func (l *Linear) Outputs() []string { return l.outputs }

// Features is what each contribution is of, in order.
func (l *Linear) Features() []Feature { return l.features }

// SetMeans sets E[x], one mean per feature, and with it the bias.
func (l *Linear) SetMeans(mean []float64) error {
	if len(mean) != len(l.w) {
		return errors.New("explain: one mean per feature")
	}
	l.mean = mean
	l.bias = l.icept
	for j, w := range l.w {
		l.bias += w * (mean[j] - l.offset[j])
	}
	return nil
}

// Inputs implements Explainer.
func (l *Linear) Inputs() int { return len(l.w) }

// Method implements Explainer.
func (l *Linear) Method() string { return "linear" }

// Explain implements Explainer: x holds the features in Features' order.
func (l *Linear) Explain(x []float32, _ *Scratch, phi []float64) (bias, margin float64) {
	margin = l.icept
	for j, w := range l.w {
		v := float64(x[j])
		phi[j] = w * (v - l.mean[j])
		margin += w * (v - l.offset[j])
	}
	return l.bias, margin
}
