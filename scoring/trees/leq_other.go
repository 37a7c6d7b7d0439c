//go:build !amd64 || purego

package trees

var hasAVX2 = false

func leqAVX2(xt *float32, nodes *cnode, leaves *float32, acc *float32, groups, trees, depth, inner int) {
	panic("leqAVX2 without amd64")
}
