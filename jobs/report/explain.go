package report

// Explanation methods and spaces.
const (
	ExplainSpaceMargin = "margin"
)

// Explanation is the explain section: how the rows were explained, how
// many, and what the explanations said overall.
type Explanation struct {
	// Method is tree_shap_path_dependent or linear; Space is margin (the
	// model's raw score before LOGISTIC or SOFTMAX).
	Method string `json:"method"`
	Space  string `json:"space"`
	// Covers and CoversSHA256 name a tree model's covers file.
	Covers       string `json:"covers,omitempty"`
	CoversSHA256 string `json:"covers_sha256,omitempty"`
	// Rows explained; Skipped are rows the model scored outside
	// explain.where; FallbackRows are rows a fallback scored, which are
	// never explained.
	Rows         int64 `json:"rows"`
	Skipped      int64 `json:"skipped"`
	FallbackRows int64 `json:"fallback_rows"`
	// MaxAdditivityError is the largest |bias + Σ contributions − margin|
	// of an explained row.
	MaxAdditivityError float64 `json:"max_additivity_error"`
	// Importance is each input column's mean |contribution| over the
	// explained rows, largest first.
	Importance []Importance `json:"importance,omitempty"`
	// Reasons counts how often each reason code was given.
	Reasons map[string]int64 `json:"reasons"`
	Path    string           `json:"path,omitempty"` // the _explanations table, once published
	Files   []File           `json:"files,omitempty"`
}

// Importance is one input column's mean |contribution|.
type Importance struct {
	Column  string  `json:"column"`
	MeanAbs float64 `json:"mean_abs"`
}
