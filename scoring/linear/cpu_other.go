//go:build !amd64

package linear

// hasFMA is false: MLAS runs other kernels than the ones the package
// repeats.
var hasFMA = false
