package explain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/batchscore/batchscore/scoring/trees"
)

// Cover is one node's cover: the weight of the reference data (training
// rows, or their hessian sum) that reaches node Node of tree Tree, the
// ONNX nodes_treeids and nodes_nodeids. A covers file is a JSON list of
// them: what XGBoost's get_dump(with_stats=True) gives as cover,
// scikit-learn as tree_.weighted_n_node_samples, LightGBM as
// internal_count, `batchscore covers` as a row count.
type Cover struct {
	Tree  int64   `json:"tree"`
	Node  int64   `json:"node"`
	Cover float64 `json:"cover"`
}

// ReadCovers reads a covers file strictly (unknown keys, a node listed
// twice and trailing data are errors wrapping ErrCovers) and returns its
// covers and the sha256 of its bytes.
func ReadCovers(path string) ([]Cover, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("reading covers: %w", err)
	}
	sum := sha256.Sum256(b)
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var covers []Cover
	if err := d.Decode(&covers); err != nil {
		return nil, "", fmt.Errorf("%w: %s: %v", ErrCovers, path, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, "", fmt.Errorf("%w: %s: data after the list", ErrCovers, path)
	}
	seen := make(map[[2]int64]bool, len(covers))
	for _, c := range covers {
		k := [2]int64{c.Tree, c.Node}
		if seen[k] {
			return nil, "", fmt.Errorf("%w: %s: tree %d node %d listed twice", ErrCovers, path, c.Tree, c.Node)
		}
		seen[k] = true
	}
	return covers, hex.EncodeToString(sum[:]), nil
}

// WriteCovers writes covers as a covers file.
func WriteCovers(w io.Writer, covers []Cover) error {
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for i, c := range covers {
		sep := ",\n"
		if i == len(covers)-1 {
			sep = "\n"
		}
		if _, err := fmt.Fprintf(w, `{"tree":%d,"node":%d,"cover":%s}%s`, c.Tree, c.Node, formatCover(c.Cover), sep); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]\n")
	return err
}

func formatCover(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// coverSlack is the rounding allowed when children's covers sum to more
// than their parent's (dumps print covers with a few digits).
const coverSlack = 1e-5

// nodeCovers returns each listed node's cover, checked against the
// forest as the explainer reads it (ch): every node has one, above 0 and
// finite; a branch's children sum to no more than it, up to rounding; no
// cover names a node the model does not have. A chain's nodes after its
// head need none (one given is not read). Errors wrap ErrCovers and name
// tree and node.
func nodeCovers(f *trees.Forest, ch *chains, covers []Cover) ([]float64, error) {
	index := make(map[[2]int64]int, len(f.TreeIDs))
	for i := range f.TreeIDs {
		index[[2]int64{f.TreeIDs[i], f.NodeIDs[i]}] = i
	}
	cov := make([]float64, len(f.TreeIDs))
	has := make([]bool, len(f.TreeIDs))
	for _, c := range covers {
		i, ok := index[[2]int64{c.Tree, c.Node}]
		if !ok {
			return nil, fmt.Errorf("%w: tree %d node %d is not in the model", ErrCovers, c.Tree, c.Node)
		}
		cov[i], has[i] = c.Cover, true
	}
	for i := range cov {
		switch {
		case ch.interior[i]:
		case !has[i]:
			return nil, fmt.Errorf("%w: tree %d node %d has no cover", ErrCovers, f.TreeIDs[i], f.NodeIDs[i])
		case !(cov[i] > 0) || math.IsInf(cov[i], 1):
			return nil, fmt.Errorf("%w: tree %d node %d has cover %v (a node of the model needs a cover above 0)", ErrCovers, f.TreeIDs[i], f.NodeIDs[i], cov[i])
		}
	}
	for i := range cov {
		if f.Leaf[i] || ch.interior[i] {
			continue
		}
		if kids := cov[f.True[i]] + cov[ch.fal[i]]; kids > cov[i]*(1+coverSlack) {
			return nil, fmt.Errorf("%w: tree %d node %d: its children's covers sum to %v, more than its own %v",
				ErrCovers, f.TreeIDs[i], f.NodeIDs[i], kids, cov[i])
		}
	}
	return cov, nil
}
