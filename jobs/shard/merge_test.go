package shard

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/batchscore/batchscore/jobs/report"
)

// The reference a disagreeing shard is named against: the value most
// shards have, shard 0's on a tie.
func TestMostCommon(t *testing.T) {
	for _, tc := range []struct {
		name      string
		values    []string
		want, who string
	}{
		{"all agree", []string{"a", "a", "a"}, "a", "shards 0, 1, 2 have"},
		{"one differs", []string{"a", "b", "a"}, "a", "shards 0, 2 have"},
		{"shard 0 differs", []string{"b", "a", "a"}, "a", "shards 1, 2 have"},
		{"tie goes to shard 0", []string{"b", "a", "a", "b"}, "b", "shards 0, 3 have"},
		{"all differ", []string{"x", "y"}, "x", "shard 0 has"},
	} {
		got, who := mostCommon(tc.values)
		if got != tc.want || who != tc.who {
			t.Errorf("%s: %q, %q; want %q, %q", tc.name, got, who, tc.want, tc.who)
		}
	}
}

// The shards' explain sections add up: rows, skipped and fallback rows
// summed (a shard whose model did not load counts its fallback rows), the
// largest additivity error, reason counts summed, importance weighted by
// rows; different covers are named.
func TestMergeExplain(t *testing.T) {
	sec := func(rows int64, maxErr float64, sha string, imp map[string]float64, reasons map[string]int64) *report.Explanation {
		x := &report.Explanation{Method: "tree_shap_path_dependent", Space: "margin", CoversSHA256: sha, Rows: rows, Skipped: 2 * rows,
			MaxAdditivityError: maxErr, Reasons: reasons}
		for c, v := range imp {
			x.Importance = append(x.Importance, report.Importance{Column: c, MeanAbs: v})
		}
		return x
	}
	st := func(x *report.Explanation, fallback int64) *State {
		return &State{Manifest: &report.Manifest{Explain: x, Counts: report.Counts{Fallback: fallback}}}
	}
	shards := []*State{
		st(sec(10, 1e-12, "c", map[string]float64{"a": 1, "b": 0.5}, map[string]int64{"A": 7}), 0),
		st(sec(30, 3e-12, "c", map[string]float64{"a": 2, "b": 0.1}, map[string]int64{"A": 1, "B": 20}), 0),
		st(&report.Explanation{Method: noModel, Space: "margin"}, 5),
	}
	got, err := mergeExplain(shards)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != "tree_shap_path_dependent" || got.Rows != 40 || got.Skipped != 80 || got.FallbackRows != 5 || got.MaxAdditivityError != 3e-12 {
		t.Fatalf("%+v", got)
	}
	if got.Reasons["A"] != 8 || got.Reasons["B"] != 20 || len(got.Reasons) != 2 {
		t.Fatalf("reasons %v", got.Reasons)
	}
	want := []report.Importance{{Column: "a", MeanAbs: (10*1 + 30*2) / 40.0}, {Column: "b", MeanAbs: (10*0.5 + 30*0.1) / 40.0}}
	if len(got.Importance) != 2 || got.Importance[0] != want[0] || math.Abs(got.Importance[1].MeanAbs-want[1].MeanAbs) > 1e-15 {
		t.Fatalf("importance %v, want %v", got.Importance, want)
	}
	shards[1].Manifest.Explain.CoversSHA256 = "d"
	if _, err := mergeExplain(shards); !errors.Is(err, ErrShards) || !strings.Contains(err.Error(), "shard 1: tree_shap_path_dependent d") {
		t.Fatalf("different covers: %v", err)
	}
	shards[1].Manifest.Explain = nil
	if _, err := mergeExplain(shards); !errors.Is(err, ErrShards) {
		t.Fatalf("a shard without explanations: %v", err)
	}
}
