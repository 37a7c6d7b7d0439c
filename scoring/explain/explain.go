// Package explain gives each scored row its explanation in the model's
// margin space (before a LOGISTIC or SOFTMAX post-transform): a bias and
// one contribution per model input such that bias + Σ contributions is the
// row's margin.
//
// Tree ensembles (Tree) are explained by exact path-dependent TreeSHAP:
// Algorithm 2 of Lundberg, Erion and Lee, "Consistent Individualized
// Feature Attribution for Tree Ensembles" (2018, arXiv:1802.03888), as
// shap's tree_shap.h and XGBoost's TreeShap implement it, with the node
// covers the caller supplies (ReadCovers) as the path-dependent
// distribution; computed as Fast TreeSHAP v2 (Yang 2021,
// arXiv:2109.09847: fast.go) when the per-leaf tables fit, by Algorithm 2
// itself otherwise. Linear models (Linear) give w_j·(x_j − E[x_j]) with E[x]
// the caller's baseline means.
//
// Reasons turns contributions into a row's top-k reason codes.
package explain

import (
	"errors"
	"math"
)

var (
	// ErrUnsupported marks a model the package does not explain.
	ErrUnsupported = errors.New("model not supported by the explainer")
	// ErrCovers marks a covers file that does not fit the model.
	ErrCovers = errors.New("bad node covers")
)

// Explainer explains rows of one model for one scored column. It is
// read-only once built: Explain may be called from many goroutines at
// once, each with its own Scratch.
type Explainer interface {
	// Inputs is the number of input columns a row has and contributions
	// are given for.
	Inputs() int
	// Features says what each contribution is of, in order.
	Features() []Feature
	// Explain writes row x's contribution of each input to phi (len
	// Inputs(), overwritten) and returns the bias (the margin expected
	// under the explainer's reference) and the row's margin computed in
	// float64.
	Explain(x []float32, s *Scratch, phi []float64) (bias, margin float64)
	// Method names the method for the manifest ("tree_shap_path_dependent",
	// "linear").
	Method() string
}

// Scratch is one goroutine's working memory for Explain.
type Scratch struct {
	path  []pathElement
	stack []node
}

// Additivity returns |bias + Σ phi − margin|, the additivity error of one
// explained row.
func Additivity(bias float64, phi []float64, margin float64) float64 {
	s := bias
	for _, v := range phi {
		s += v
	}
	return math.Abs(s - margin)
}
