package onnx

// The native engine: tree ensembles scored by scoring/trees in Go instead
// of by ONNX Runtime (BENCHMARKS.md has what that earns), with ONNX
// Runtime's results to the bit. Every other model, linear ones included,
// is ONNX Runtime's.
//
// A model is scored natively only when all of this holds, otherwise ONNX
// Runtime scores it and Session.Engine says why:
//
//   - scoring/trees compiles its tree node (the classifiers and
//     regressors it reproduces bit for bit; see its package doc);
//   - the job feeds one input, the node's own float [N,F] graph input;
//   - every output the job reads is one of the node's outputs, directly or
//     through Identity nodes (a rewritten ZipMap is one) or Casts to the
//     type the output already has;
//   - on probe rows (aimed at the model's thresholds), every such output equals ONNX
//     Runtime's, bit for bit, with the model as it is (no tree rewrite)
//     and one intra-op thread.
//
// The first chunk of real rows is checked the same way before any native
// output leaves Run: its first rows go through that ONNX Runtime session
// too, while other workers wait. After that, every chunk is checked before
// its outputs leave Run: a sample of its rows (crossCheck) goes through
// the same session and must give the native outputs for those rows, bit
// for bit. Should any differ, the session scores that chunk and every one
// after it with ONNX Runtime and Engine says why.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
	"github.com/batchscore/batchscore/scoring/onnxwire"
	"github.com/batchscore/batchscore/scoring/trees"
)

// Engines a job may ask for.
const (
	EngineAuto        = "auto"        // native when the model qualifies, else ONNX Runtime
	EngineONNXRuntime = "onnxruntime" // always ONNX Runtime
	EngineNative      = "native"      // native or an error
)

// ErrNotNative marks a model the native engine declined.
var ErrNotNative = errors.New("native engine cannot score this model")

const (
	nativeORT = "1.24." // the release whose kernels scoring/trees follows
	probeRows = 4096
	checkRows = 4096       // of the first real chunk, checked against ONNX Runtime
	probeSeed = 0x62617463 // fixed: every run and shard probes the same rows
)

// crossCheckSample is how many rows of every chunk ONNX Runtime scores
// too (crossCheck); "0" turns the check off. It is a string so that
// make bench can build a binary without the check (go build -ldflags
// -X), to measure what the check costs; jobs have no setting for it.
var crossCheckSample = "64"

var crossCheckRows = func() int {
	k, err := strconv.Atoi(crossCheckSample)
	if err != nil || k < 0 {
		panic("scoring/onnx: crossCheckSample is not a row count: " + crossCheckSample)
	}
	if k == 1 {
		k = 2 // the first and last rows
	}
	return k
}()

// nativeModel is a model the native engine scores.
type nativeModel interface {
	String() string
	who() string           // the evaluator, for Engine
	input() string         // the graph input it reads
	nodeOutputs() []string // label (or Y), probabilities
	regressor() bool
	columns() int // the width of the float output (classes or targets)
	scores(x []float32, width int, out []float32) error
	classify(x []float32, width int, label []int64, prob []float32) error
	probe(rows, width int, seed uint64) []float32
}

// treeModel is a compiled tree ensemble.
type treeModel struct{ e *trees.Ensemble }

func (t treeModel) String() string        { return t.e.String() }
func (t treeModel) who() string           { return "batchscore's Go tree evaluator" }
func (t treeModel) input() string         { return t.e.Input }
func (t treeModel) nodeOutputs() []string { return t.e.Outputs }
func (t treeModel) regressor() bool       { return t.e.Op == trees.Regressor }
func (t treeModel) columns() int          { return t.e.Columns() }
func (t treeModel) scores(x []float32, width int, out []float32) error {
	return t.e.Predict(x, width, nil, out)
}
func (t treeModel) classify(x []float32, width int, label []int64, prob []float32) error {
	if prob == nil {
		prob = make([]float32, t.e.Columns()*(len(x)/max(width, 1)))
	}
	return t.e.Predict(x, width, label, prob)
}
func (t treeModel) probe(rows, width int, seed uint64) []float32 { return t.e.Probe(rows, width, seed) }

// loadNative compiles data's tree node.
func loadNative(data []byte) (nativeModel, error) {
	e, err := trees.Load(data)
	if err == nil {
		return treeModel{e}, nil
	}
	if errors.Is(err, trees.ErrModel) {
		return nil, fmt.Errorf("%w: %w: %v", ErrNotNative, ErrModel, err)
	}
	return nil, fmt.Errorf("%w: %v", ErrNotNative, err)
}

// nativeEngine is a native model with the job's outputs mapped onto it.
type nativeEngine struct {
	e nativeModel
	// outputs[i] is the node output (0: label or Y, 1: probabilities)
	// behind the job's i-th output; keys the ZipMap classes of column j.
	outputs []int
	keys    [][]int64
	names   []string // the job's outputs, for messages

	// ref is ONNX Runtime on the same bytes at one thread: the reference
	// every chunk is checked against, and what scores once useORT is set.
	ref      *Session
	shared   bool         // ref belongs to a Cache's entry: never closed here
	checked  sync.Once    // the first chunk's check
	chunks   atomic.Int64 // chunks that reached Run
	switched sync.Once
	useORT   atomic.Bool
	mismatch string // why useORT was set; read after useORT
	// skew and perturb, set by tests only, make the native outputs wrong:
	// skew every value, perturb those of the chunk-th chunk it is given.
	skew    float32
	perturb func(chunk int64, outs []scoring.Output)
}

// openNative compiles data's tree node for b or says why not. data is the
// model after the ZipMap rewrite.
func openNative(data []byte, b *scoring.Binding, zipMaps []rewrite.ZipMap, opts Options) (*nativeEngine, error) {
	if v := Version(); !strings.HasPrefix(v, nativeORT) {
		return nil, fmt.Errorf("%w: it reproduces ONNX Runtime %s.x, the library loaded is %s", ErrNotNative, nativeORT, v)
	}
	e, err := loadNative(data)
	if err != nil {
		return nil, err
	}
	if len(b.Inputs) != 1 || b.Inputs[0].Name != e.input() || b.Inputs[0].Rank != 2 || b.Inputs[0].Elem != scoring.Float {
		return nil, fmt.Errorf("%w: the job must feed exactly the node's input %s as float [N,F]", ErrNotNative, e.input())
	}
	outs, err := nodeOutputs(data, e, b.Outputs)
	if err != nil {
		return nil, err
	}
	n := &nativeEngine{e: e, outputs: outs, keys: make([][]int64, len(b.Outputs)), names: b.Outputs}
	for i, name := range b.Outputs {
		for _, z := range zipMaps {
			if z.Output == name {
				n.keys[i] = z.Keys
			}
		}
	}
	if err := n.probe(data, b, opts); err != nil {
		return nil, err
	}
	return n, nil
}

// Native says whether the native engine can compile the model's tree
// node, and describes the node or why not, on the
// file as it is. Whether a job then scores with it also depends on the
// job's binding (a Concat of its columns is rewritten first) and the
// probe (see Open).
func (m *Model) Native() (string, bool) {
	e, err := loadNative(m.data)
	if err != nil {
		return err.Error(), false
	}
	return fmt.Sprintf("%s; a job scores it natively when it feeds %s as float [N,F] and reads the node's outputs (%s), directly or through a ZipMap, Identity or same-type Cast",
		e, e.input(), strings.Join(e.nodeOutputs(), ", ")), true
}

func (n *nativeEngine) String() string {
	s := fmt.Sprintf("native (%s): %s; matched ONNX Runtime %s bit for bit on %d probe rows",
		n.e.who(), n.e, Version(), probeRows)
	if n.useORT.Load() {
		s = "onnxruntime " + Version() + " (one intra-op thread, the model as it is): " + n.mismatch + "; " + s
	}
	return s
}

// nodeOutputs maps each wanted graph output to the tree node output it
// passes on unchanged.
func nodeOutputs(data []byte, e nativeModel, want []string) ([]int, error) {
	producers, err := graphProducers(data)
	if err != nil {
		return nil, err
	}
	outs := make([]int, len(want))
	for i, name := range want {
		at := -1
		for hops := 0; at < 0 && hops < 16; hops++ {
			for j, o := range e.nodeOutputs() {
				if o == name {
					at = j
				}
			}
			if at >= 0 {
				break
			}
			p, ok := producers[name]
			if !ok || !p.passThrough {
				return nil, fmt.Errorf("%w: output %s is not the node's own output", ErrNotNative, want[i])
			}
			name = p.input
		}
		if at < 0 {
			return nil, fmt.Errorf("%w: output %s is not the node's own output", ErrNotNative, want[i])
		}
		elem := uint64(onnxwire.Float)
		if !e.regressor() && at == 0 {
			elem = onnxwire.Int64
		}
		if producers.castsTo(want[i], elem) {
			return nil, fmt.Errorf("%w: output %s changes type on its way from the node", ErrNotNative, want[i])
		}
		outs[i] = at
	}
	return outs, nil
}

// producer is the node making a value: passThrough when it is an Identity
// or a Cast (cast to type to) of its single input.
type producer struct {
	input       string
	passThrough bool
	to          uint64
}

type producerMap map[string]producer

// castsTo says whether a Cast to another type than to sits on the chain
// ending at name; a Cast to to itself passes the value on unchanged.
func (m producerMap) castsTo(name string, to uint64) bool {
	for hops := 0; hops < 16; hops++ {
		p, ok := m[name]
		if !ok || !p.passThrough {
			return false
		}
		if p.to != 0 && p.to != to {
			return true
		}
		name = p.input
	}
	return false
}

func graphProducers(data []byte) (producerMap, error) {
	bad := func(err error) (producerMap, error) {
		return nil, fmt.Errorf("%w: reading the ONNX protobuf: %v", ErrModel, err)
	}
	model, err := onnxwire.Fields(data)
	if err != nil {
		return bad(err)
	}
	m := producerMap{}
	for _, f := range model {
		if f.Num != 7 || f.Typ != protowire.BytesType {
			continue
		}
		graph, err := onnxwire.ReadGraph(f.Val)
		if err != nil {
			return bad(err)
		}
		for _, n := range graph.Nodes {
			defaultDomain := onnxwire.DefaultDomain(n.Domain)
			p := producer{passThrough: defaultDomain && len(n.Inputs) == 1 && (n.Op == "Identity" || n.Op == "Cast")}
			if p.passThrough {
				p.input = n.Inputs[0]
			}
			if p.passThrough && n.Op == "Cast" {
				p.to = n.CastTo()
			}
			for _, o := range n.Outputs {
				m[o] = p
			}
		}
	}
	return m, nil
}

// Run scores one chunk natively, and checks a sample of its rows against
// ONNX Runtime before its outputs leave (see crossCheck).
func (n *nativeEngine) Run(ctx context.Context, inputs []scoring.Tensor) ([]scoring.Output, error) {
	if len(inputs) != 1 || len(inputs[0].Shape) != 2 || inputs[0].Shape[0] == 0 {
		if n.useORT.Load() && len(inputs) == 1 && len(inputs[0].Shape) == 2 {
			return n.runORT(ctx, inputs)
		}
		return n.run(inputs)
	}
	chunk := n.chunks.Add(1)
	var err error
	n.checked.Do(func() { err = n.checkFirst(ctx, inputs) })
	if err != nil {
		return nil, err
	}
	if n.useORT.Load() {
		return n.runORT(ctx, inputs)
	}
	outs, err := n.run(inputs)
	if err == nil && n.perturb != nil {
		n.perturb(chunk, outs)
	}
	if err != nil || crossCheckRows == 0 {
		return outs, err
	}
	if err := n.crossCheck(ctx, chunk, inputs[0], outs); err != nil {
		return nil, err
	}
	if n.useORT.Load() {
		// This chunk or one scored at the same time differed: ONNX
		// Runtime scores it again, so that every chunk after the switch is
		// ONNX Runtime's.
		return n.runORT(ctx, inputs)
	}
	return outs, nil
}

// runORT scores inputs with the reference session.
func (n *nativeEngine) runORT(ctx context.Context, inputs []scoring.Tensor) ([]scoring.Output, error) {
	return n.ref.Run(ctx, inputs)
}

// headRows is the first rows of the [N,F] float tensor t.
func headRows(t scoring.Tensor, rows int64) scoring.Tensor {
	width := t.Shape[1]
	return scoring.Tensor{Shape: []int64{rows, width}, Float32: t.Float32[:rows*width]}
}

// checkFirst compares the first rows of the first chunk with ONNX
// Runtime's outputs for them.
func (n *nativeEngine) checkFirst(ctx context.Context, inputs []scoring.Tensor) error {
	rows := min(inputs[0].Shape[0], checkRows)
	want, err := n.ref.Run(ctx, []scoring.Tensor{headRows(inputs[0], rows)})
	if err == nil {
		var got []scoring.Output
		if got, err = n.run([]scoring.Tensor{headRows(inputs[0], rows)}); err == nil {
			return n.compareFirst(want, got)
		}
	}
	// Unchecked, the native engine scores nothing: ONNX Runtime goes on.
	n.switchToORT(fmt.Sprintf("the first chunk could not be checked against ONNX Runtime (%v), so ONNX Runtime scored every row", err))
	return err
}

// compareFirst settles the engine from the first chunk's outputs.
func (n *nativeEngine) compareFirst(want, got []scoring.Output) error {
	for i := range want {
		if err := sameOutput(want[i], got[i]); err != nil {
			n.switchToORT(fmt.Sprintf("the native engine's output %s differed from ONNX Runtime's on the first chunk (%v), so ONNX Runtime scored every row", n.names[i], err))
			return nil
		}
	}
	if crossCheckRows == 0 {
		if !n.shared {
			n.ref.Close()
		}
		n.ref = nil
	}
	return nil
}

// crossCheck compares the native outputs of a chunk (the n-th to reach
// Run) at sampled rows with ONNX Runtime's for those rows. A difference,
// or a failure of the reference, switches the engine to ONNX Runtime for
// the rest of the run; only a failure is returned.
func (n *nativeEngine) crossCheck(ctx context.Context, chunk int64, in scoring.Tensor, outs []scoring.Output) error {
	rows := sampleRows(in, crossCheckRows)
	want, err := n.ref.Run(ctx, []scoring.Tensor{pickRows(in, rows)})
	if err != nil {
		n.switchToORT(fmt.Sprintf("chunk %d could not be checked against ONNX Runtime (%v), so ONNX Runtime scored it and every chunk after it", chunk, err))
		return err
	}
	total := int(in.Shape[0])
	for i := range want {
		for j, r := range rows {
			if err := sameOutput(rowOf(want[i], j, len(rows)), rowOf(outs[i], r, total)); err != nil {
				n.switchToORT(fmt.Sprintf("the native engine's output %s differed from ONNX Runtime's at row %d of chunk %d (%v), so ONNX Runtime scored that chunk and every one after it", n.names[i], r, chunk, err))
				return nil
			}
		}
	}
	return nil
}

// switchToORT makes ONNX Runtime score every chunk from now on; the first
// reason given is the one Engine reports.
func (n *nativeEngine) switchToORT(why string) {
	n.switched.Do(func() {
		n.mismatch = why
		n.useORT.Store(true)
	})
}

// sampleRows picks the rows of t that crossCheck compares: all of them up
// to k, else the first, the last (the native kernels score a chunk's tail
// on another path) and k-2 at pseudo-random positions, ascending. The
// positions depend only on the chunk (its row count and values at its
// ends), so a rerun of the same snapshot checks the same rows.
func sampleRows(t scoring.Tensor, k int) []int {
	n := int(t.Shape[0])
	if n <= k {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	seed := uint64(n)
	if len(t.Float32) > 0 {
		seed ^= uint64(math.Float32bits(t.Float32[0]))<<32 | uint64(math.Float32bits(t.Float32[len(t.Float32)-1]))
	}
	r := rand.New(rand.NewPCG(probeSeed, seed))
	rows := []int{0, n - 1}
	for len(rows) < k {
		rows = append(rows, 1+r.IntN(n-2))
	}
	slices.Sort(rows)
	return slices.Compact(rows)
}

// pickRows is rows of the [N,F] float tensor t, copied.
func pickRows(t scoring.Tensor, rows []int) scoring.Tensor {
	width := int(t.Shape[1])
	out := scoring.Tensor{Shape: []int64{int64(len(rows)), int64(width)}, Float32: make([]float32, len(rows)*width)}
	for j, i := range rows {
		copy(out.Float32[j*width:(j+1)*width], t.Float32[i*width:(i+1)*width])
	}
	return out
}

// rowOf is row i of o, an output of n rows.
func rowOf(o scoring.Output, i, n int) scoring.Output {
	row := scoring.Output{ClassKeys: o.ClassKeys}
	if w := len(o.Float32) / n; w > 0 {
		row.Float32 = o.Float32[i*w : i*w+w]
	}
	if w := len(o.Int64) / n; w > 0 {
		row.Int64 = o.Int64[i*w : i*w+w]
	}
	return row
}

// fresh is n for another run: the compiled model and the reference
// session that passed the probe, shared; the first-chunk check, the chunk
// count and the switch to ONNX Runtime, its own.
func (n *nativeEngine) fresh() *nativeEngine {
	return &nativeEngine{e: n.e, outputs: n.outputs, keys: n.keys, names: n.names, ref: n.ref, shared: true}
}

// close releases the reference session if it is still open.
func (n *nativeEngine) close() error {
	n.checked.Do(func() {}) // no Run can start the check any more
	if n.ref != nil && !n.shared {
		return n.ref.Close()
	}
	return nil
}

// run scores inputs natively: inputs[0] is [rows, width] float32.
func (n *nativeEngine) run(inputs []scoring.Tensor) ([]scoring.Output, error) {
	if len(inputs) != 1 || len(inputs[0].Shape) != 2 || inputs[0].Float32 == nil && inputs[0].Shape[0] != 0 {
		return nil, errors.New("native engine: the binding gave other than one float [N,F] tensor")
	}
	x, rows, width := inputs[0].Float32, int(inputs[0].Shape[0]), int(inputs[0].Shape[1])
	var score []float32
	var label []int64
	var prob []float32
	if n.e.regressor() {
		score = make([]float32, rows*n.e.columns())
		if err := n.e.scores(x, width, score); err != nil {
			return nil, err
		}
	} else {
		for _, at := range n.outputs {
			if at == 0 && label == nil {
				label = make([]int64, rows)
			}
			if at == 1 && prob == nil {
				prob = make([]float32, n.e.columns()*rows)
			}
		}
		if err := n.e.classify(x, width, label, prob); err != nil {
			return nil, err
		}
	}
	if n.skew != 0 {
		for i := range prob {
			prob[i] += n.skew
		}
		for i := range score {
			score[i] += n.skew
		}
	}
	outs := make([]scoring.Output, len(n.outputs))
	for i, at := range n.outputs {
		switch {
		case n.e.regressor():
			outs[i] = scoring.Output{Float32: score}
		case at == 0:
			outs[i] = scoring.Output{Int64: label}
		default:
			outs[i] = scoring.Output{Float32: prob, ClassKeys: n.keys[i]}
		}
	}
	return outs, nil
}

// probe compares the native outputs with ONNX Runtime's on rows aimed at
// the model's splits.
func (n *nativeEngine) probe(data []byte, b *scoring.Binding, opts Options) error {
	width := b.Inputs[0].Columns
	x := n.e.probe(probeRows, len(width), probeSeed)
	in := []scoring.Tensor{{Shape: []int64{probeRows, int64(len(width))}, Float32: x}}
	opts.IntraOpThreads = 1 // the native sums are ONNX Runtime's at one thread
	ref, err := openORT(data, b, n.zipMaps(), opts)
	if errors.Is(err, ErrRuntime) {
		return err
	}
	if err != nil {
		return fmt.Errorf("%w: %w: ONNX Runtime for the probe: %v", ErrNotNative, ErrModel, err)
	}
	want, err := ref.Run(context.Background(), in)
	if err != nil {
		ref.Close()
		return fmt.Errorf("%w: %w: ONNX Runtime on the probe rows: %v", ErrNotNative, ErrModel, err)
	}
	got, err := n.run(in)
	if err != nil {
		ref.Close()
		return fmt.Errorf("%w: probe: %v", ErrNotNative, err)
	}
	for i := range want {
		if err := sameOutput(want[i], got[i]); err != nil {
			ref.Close()
			return fmt.Errorf("%w: output %s differs from ONNX Runtime's on probe rows: %v", ErrNotNative, b.Outputs[i], err)
		}
	}
	n.ref = ref
	return nil
}

// zipMaps are the ZipMap rewrites behind the job's outputs, so that the
// reference session returns the same class keys as the native engine.
func (n *nativeEngine) zipMaps() []rewrite.ZipMap {
	var z []rewrite.ZipMap
	for i, k := range n.keys {
		if k != nil {
			z = append(z, rewrite.ZipMap{Output: n.names[i], Keys: k})
		}
	}
	return z
}

// sameOutput compares two outputs bit for bit (any NaN equals any NaN).
func sameOutput(want, got scoring.Output) error {
	if len(want.Float32) != len(got.Float32) || len(want.Int64) != len(got.Int64) || want.Strings != nil || want.Float64 != nil {
		return fmt.Errorf("shape or type: %d/%d floats, %d/%d ints", len(want.Float32), len(got.Float32), len(want.Int64), len(got.Int64))
	}
	for i, w := range want.Float32 {
		g := got.Float32[i]
		if math.Float32bits(w) != math.Float32bits(g) && !(w != w && g != g) {
			return fmt.Errorf("value %d: ONNX Runtime %g, native %g", i, w, g)
		}
	}
	for i, w := range want.Int64 {
		if got.Int64[i] != w {
			return fmt.Errorf("value %d: ONNX Runtime %d, native %d", i, w, got.Int64[i])
		}
	}
	return nil
}
