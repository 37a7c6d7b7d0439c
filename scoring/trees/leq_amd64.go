//go:build amd64 && !purego

package trees

import "golang.org/x/sys/cpu"

// hasAVX2 turns on leqAVX2 (tests turn it off to compare).
var hasAVX2 = cpu.X86.HasAVX2

// leqAVX2 adds the leaves of trees complete to depth 1..4, all x <= t
// splits, to acc for groups × 8 rows of the feature-major block xt. nodes
// and leaves are the first tree's; leaves has 8 readable values past the
// last tree's. groups, trees and depth are at least 1.
//
//go:noescape
func leqAVX2(xt *float32, nodes *cnode, leaves *float32, acc *float32, groups, trees, depth, inner int)
