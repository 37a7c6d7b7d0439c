package shard

import (
	"fmt"
	"sort"
	"strings"

	"github.com/batchscore/batchscore/jobs/report"
)

// noModel is the method a shard whose champion did not load records: it
// explained nothing, and its rows went to the fallback.
const noModel = "none: the model did not load"

// mergeExplain adds up the shards' explain sections (nil when no shard
// has one): rows, skipped and fallback rows summed, the largest
// additivity error of any shard, each column's importance the mean of
// the shards' mean |contribution| weighted by their rows, reason counts
// summed. A shard whose champion did not load counts its fallback rows;
// shards that explained with different methods or covers are ErrShards.
// Files are left to Link.
func mergeExplain(shards []*State) (*report.Explanation, error) {
	var out *report.Explanation
	absSum := map[string]float64{}
	var order []string
	var methods []string
	for k, st := range shards {
		s := st.Manifest.Explain
		if s == nil {
			if out != nil {
				return nil, fmt.Errorf("%w: shard %d of %d explained no rows where shard 0 did: the shards ran with different job files", ErrShards, k, len(shards))
			}
			continue
		}
		if out == nil {
			if k > 0 {
				return nil, fmt.Errorf("%w: shard %d of %d explained rows where shard 0 did not: the shards ran with different job files", ErrShards, k, len(shards))
			}
			out = &report.Explanation{Space: s.Space, Reasons: map[string]int64{}}
		}
		methods = append(methods, fmt.Sprintf("shard %d: %s %s", k, s.Method, s.CoversSHA256))
		switch {
		case s.Method == noModel:
			out.FallbackRows += st.Manifest.Counts.Fallback
			continue
		case out.Method == "":
			out.Method, out.Covers, out.CoversSHA256 = s.Method, s.Covers, s.CoversSHA256
		case s.Method != out.Method || s.CoversSHA256 != out.CoversSHA256:
			return nil, fmt.Errorf("%w: the shards explained with different methods or covers (%s): run them again with the same covers file, then commit again",
				ErrShards, strings.Join(methods, "; "))
		}
		out.Rows += s.Rows
		out.Skipped += s.Skipped
		out.FallbackRows += s.FallbackRows
		out.MaxAdditivityError = max(out.MaxAdditivityError, s.MaxAdditivityError)
		for _, imp := range s.Importance {
			if _, seen := absSum[imp.Column]; !seen {
				order = append(order, imp.Column)
			}
			absSum[imp.Column] += imp.MeanAbs * float64(s.Rows)
		}
		for c, n := range s.Reasons {
			out.Reasons[c] += n
		}
	}
	if out == nil {
		return nil, nil
	}
	if out.Method == "" {
		out.Method = noModel
	}
	if out.Rows > 0 {
		for _, c := range order {
			out.Importance = append(out.Importance, report.Importance{Column: c, MeanAbs: absSum[c] / float64(out.Rows)})
		}
		sort.SliceStable(out.Importance, func(a, b int) bool { return out.Importance[a].MeanAbs > out.Importance[b].MeanAbs })
	}
	return out, nil
}
