package onnx

import "github.com/batchscore/batchscore/scoring"

// Hooks for the package's external tests.

// KeepZipMap returns opts with the ZipMap rewrite turned off.
func KeepZipMap(opts Options) Options {
	opts.keepZipMap = true
	return opts
}

// KeepTrees returns opts with the tree classifier rewrite turned off.
func KeepTrees(opts Options) Options {
	opts.keepTrees = true
	return opts
}

// ModelFromBytes is a Model of bytes that are not in a file.
func ModelFromBytes(data []byte) *Model { return &Model{Path: "(bytes)", data: data} }

// SkewNative makes a native session's outputs wrong by d from now on, as a
// native engine that disagreed with ONNX Runtime would be.
func SkewNative(s *Session, d float32) { s.native.skew = d }

// KeepConcat returns opts with the Concat rewrite turned off.
func KeepConcat(opts Options) Options {
	opts.keepConcat = true
	return opts
}

// PerturbNative calls f on the native outputs of every chunk (the chunk-th
// to reach Run) before they are checked, as a native engine that went
// wrong on some chunks would be.
func PerturbNative(s *Session, f func(chunk int64, outs []scoring.Output)) { s.native.perturb = f }

// CrossCheckSample is the rows of t the native engine checks against ONNX
// Runtime.
func CrossCheckSample(t scoring.Tensor) []int { return sampleRows(t, crossCheckRows) }

// SharesEngine says whether two sessions score with the same compiled
// native model and reference session (one Cache entry).
func SharesEngine(a, b *Session) bool {
	return a.native != nil && b.native != nil && a.native.ref == b.native.ref && a.native.e == b.native.e
}
