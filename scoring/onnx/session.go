package onnx

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
)

// Options are the session settings batchscore sets on purpose.
type Options struct {
	// Engine is EngineAuto, EngineNative or EngineONNXRuntime; empty means
	// ONNX Runtime (see native.go).
	Engine string
	// IntraOpThreads per Run call; 0 lets ONNX Runtime use every core.
	// On 2 cores, two workers sharing a session with one thread each
	// measured faster than one worker with two threads.
	IntraOpThreads int
	// Optimization is all, extended, basic or disabled.
	Optimization string
	// keepZipMap scores ZipMap outputs through sequence decoding instead
	// of rewriting them to tensors (tests and benchmarks compare the two).
	keepZipMap bool
	// keepTrees scores binary tree classifiers as they are instead of
	// rewriting them (see package rewrite).
	keepTrees bool
	// keepConcat feeds a Concat of graph inputs input by input instead of
	// rewriting it to one input (see package rewrite).
	keepConcat bool
}

var optimizationLevels = map[string]ort.GraphOptimizationLevel{
	"all":      ort.GraphOptimizationLevelEnableAll,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"disabled": ort.GraphOptimizationLevelDisableAll,
}

// Session is a loaded model shared by all workers: an ONNX Runtime
// session, which allows concurrent Run calls, or the native engine.
type Session struct {
	s       *ort.DynamicAdvancedSession
	native  *nativeEngine
	outputs []scoring.Port
	// classKeys[i] names the columns of output i where a ZipMap was
	// rewritten to a tensor (see package rewrite); nil elsewhere.
	classKeys [][]int64
	rewrites  []string
	engine    string // ONNX Runtime sessions; a native one asks native
	feed      *scoring.Binding
	// release, set on a session a Cache shares, gives it back instead of
	// destroying what it holds.
	release func()
	closed  sync.Once
}

// share is a session of its own on what s holds (see Cache): ONNX
// Runtime's session, which allows concurrent Run calls, or the native
// engine with fresh run state. Closing it calls release.
func (s *Session) share(release func()) *Session {
	v := &Session{
		s: s.s, outputs: s.outputs, classKeys: s.classKeys, rewrites: s.rewrites,
		engine: s.engine, feed: s.feed, release: release,
	}
	if s.native != nil {
		v.native = s.native.fresh()
	}
	return v
}

// Open makes a session for the inputs and outputs of a binding.
func (m *Model) Open(b *scoring.Binding, opts Options) (*Session, error) {
	data, feed, concat, err := m.data, b, (*rewrite.Concat)(nil), error(nil)
	if !opts.keepConcat {
		if data, feed, concat, err = rewrite.ConcatInputs(m.data, b); err != nil {
			return nil, m.unreadable(err)
		}
	}
	sess, err := m.open(data, b, feed, opts)
	if err != nil && concat != nil && !errors.Is(err, ErrRuntime) {
		// The rewritten graph failed: score the model as it is.
		concat = nil
		sess, err = m.open(m.data, b, b, opts)
	}
	if err != nil {
		return nil, err
	}
	if concat != nil {
		sess.rewrites = append([]string{concat.String()}, sess.rewrites...)
	}
	return sess, nil
}

// unreadable is the error for model bytes a rewrite could not read.
func (m *Model) unreadable(err error) error {
	return fmt.Errorf("%s: %w: reading the ONNX protobuf: %w", m.Path, ErrModel, err)
}

// open is Open on model bytes data (the file's, or rewritten by
// rewrite.ConcatInputs), fed through feed; b is the job's binding.
func (m *Model) open(data []byte, b, feed *scoring.Binding, opts Options) (*Session, error) {
	ports := map[string]scoring.Port{b.Score.Port.Name: b.Score.Port}
	if b.Label != nil {
		ports[b.Label.Port.Name] = b.Label.Port
	}
	orig, zipMaps, err := data, []rewrite.ZipMap(nil), error(nil)
	if !opts.keepZipMap {
		var sequences []string
		for _, name := range b.Outputs {
			if ports[name].Kind == scoring.KindSequence {
				sequences = append(sequences, name)
			}
		}
		data, zipMaps, err = rewrite.ZipMapOutputs(orig, sequences)
		if err != nil {
			return nil, m.unreadable(err)
		}
	}
	declined := ""
	if opts.Engine == EngineAuto || opts.Engine == EngineNative {
		native, err := openNative(data, feed, zipMaps, opts)
		if errors.Is(err, ErrRuntime) {
			return nil, err
		}
		if err == nil {
			sess := &Session{native: native, feed: feed}
			for _, z := range zipMaps {
				sess.rewrites = append(sess.rewrites, z.String())
			}
			return sess, nil
		}
		if opts.Engine == EngineNative && errors.Is(err, ErrModel) {
			// A broken model, not a job setting: exit 1, and a fallback may score.
			return nil, fmt.Errorf("%w: %s: %v", ErrModel, m.Path, err)
		}
		if opts.Engine == EngineNative {
			return nil, fmt.Errorf("%s: scoring.engine is native: %w", m.Path, err)
		}
		declined = "; native engine declined: " + err.Error()
	}
	withZipMaps, trees := data, []rewrite.TreeClassifier(nil)
	if !opts.keepTrees {
		data, trees, err = rewrite.TreeClassifiers(withZipMaps)
		if err != nil {
			return nil, m.unreadable(err)
		}
	}
	sess, err := openORT(data, feed, zipMaps, opts)
	if errors.Is(err, ErrRuntime) {
		return nil, err
	}
	if err != nil && trees != nil {
		// ONNX Runtime refused the rewritten trees: keep the classifier.
		trees = nil
		sess, err = openORT(withZipMaps, feed, zipMaps, opts)
	}
	if err != nil && zipMaps != nil {
		// ONNX Runtime refused the rewritten graph: score the model as it is.
		zipMaps = nil
		sess, err = openORT(orig, feed, nil, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrModel, m.Path, err)
	}
	for _, z := range zipMaps {
		sess.rewrites = append(sess.rewrites, z.String())
	}
	for _, t := range trees {
		sess.rewrites = append(sess.rewrites, t.String())
	}
	sess.engine = "onnxruntime " + Version() + declined
	sess.feed = feed
	return sess, nil
}

// openORT makes an ONNX Runtime session on model bytes data.
func openORT(data []byte, b *scoring.Binding, zipMaps []rewrite.ZipMap, opts Options) (*Session, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("%w: session options: %v", ErrRuntime, err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(opts.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("%w: intra-op threads: %v", ErrRuntime, err)
	}
	if opts.IntraOpThreads != 1 {
		// Spinning threads wait for work by burning the core the other
		// workers need: measured, it costs far more than it saves.
		if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
			return nil, fmt.Errorf("%w: thread spinning: %v", ErrRuntime, err)
		}
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("%w: inter-op threads: %v", ErrRuntime, err)
	}
	level, ok := optimizationLevels[opts.Optimization]
	if !ok {
		level = ort.GraphOptimizationLevelEnableAll
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("%w: graph optimization: %v", ErrRuntime, err)
	}
	inputs := make([]string, len(b.Inputs))
	for i, in := range b.Inputs {
		inputs[i] = in.Name
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, inputs, b.Outputs, so)
	if err != nil {
		return nil, err
	}
	ports := map[string]scoring.Port{b.Score.Port.Name: b.Score.Port}
	if b.Label != nil {
		ports[b.Label.Port.Name] = b.Label.Port
	}
	sess := &Session{s: s, outputs: make([]scoring.Port, len(b.Outputs)), classKeys: make([][]int64, len(b.Outputs))}
	for i, name := range b.Outputs {
		sess.outputs[i] = ports[name]
		for _, z := range zipMaps {
			if z.Output == name {
				sess.outputs[i] = scoring.Port{Name: name, Kind: scoring.KindTensor, Elem: scoring.Float,
					Shape: []int64{-1, int64(len(z.Keys))}}
				sess.classKeys[i] = z.Keys
			}
		}
	}
	return sess, nil
}

// Engine says what scores the model and, for ONNX Runtime under
// EngineAuto, why the native engine did not. It can change once, when a
// chunk's check against ONNX Runtime fails (see native.go).
func (s *Session) Engine() string {
	if s.native != nil {
		return s.native.String()
	}
	return s.engine
}

// Rewrites describes how the graph ONNX Runtime runs differs from the
// model file, one line per change; nil when it is the file as is.
func (s *Session) Rewrites() []string { return s.rewrites }

// Feed is the binding the session's inputs are filled through: the one
// Open was given, or its rewrite when a Concat of inputs became one input.
func (s *Session) Feed() *scoring.Binding { return s.feed }

// Close releases the session.
func (s *Session) Close() error {
	if s.release != nil {
		s.closed.Do(func() {
			if s.native != nil {
				s.native.close()
			}
			s.release()
		})
		return nil
	}
	if s.native != nil {
		return s.native.close()
	}
	return s.s.Destroy()
}

// Run scores one chunk. Inputs are in binding order.
func (s *Session) Run(ctx context.Context, inputs []scoring.Tensor) ([]scoring.Output, error) {
	if s.native != nil {
		return s.native.Run(ctx, inputs)
	}
	values := make([]ort.Value, len(inputs))
	defer destroyAll(values)
	for i, t := range inputs {
		v, err := newTensor(t)
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	rows := int64(0)
	if len(inputs) > 0 && len(inputs[0].Shape) > 0 {
		rows = inputs[0].Shape[0]
	}
	results := make([]ort.Value, len(s.outputs))
	defer destroyAll(results)
	for i, p := range s.outputs {
		v, err := preallocate(p, rows)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", p.Name, err)
		}
		results[i] = v // nil: ONNX Runtime allocates it
	}
	if err := s.s.Run(values, results); err != nil {
		return nil, fmt.Errorf("running model: %w", err)
	}
	outs := make([]scoring.Output, len(results))
	for i, v := range results {
		o, err := decodeValue(v)
		if err != nil {
			return nil, fmt.Errorf("output %s: %w", s.outputs[i].Name, err)
		}
		if k := s.classKeys[i]; k != nil {
			o.ClassKeys = k // a rewritten ZipMap: columns are these classes
		}
		outs[i] = o
	}
	return outs, nil
}

// preallocate makes a Go-backed tensor for an output whose shape is known
// once the batch size is: ONNX Runtime then writes into it directly, where
// an output it allocates itself has to be copied into Go memory after.
// Other outputs (sequences, free inner dimensions) get nil.
func preallocate(p scoring.Port, rows int64) (ort.Value, error) {
	if p.Kind != scoring.KindTensor || len(p.Shape) == 0 || p.Shape[0] >= 0 {
		return nil, nil
	}
	dims := append([]int64{rows}, p.Shape[1:]...)
	for _, d := range dims[1:] {
		if d < 0 {
			return nil, nil
		}
	}
	shape := ort.NewShape(dims...)
	switch p.Elem {
	case scoring.Float:
		return ort.NewEmptyTensor[float32](shape)
	case scoring.Double:
		return ort.NewEmptyTensor[float64](shape)
	case scoring.Int64:
		return ort.NewEmptyTensor[int64](shape)
	case scoring.Int32:
		return ort.NewEmptyTensor[int32](shape)
	}
	return nil, nil
}

func destroyAll(values []ort.Value) {
	for _, v := range values {
		if v != nil {
			v.Destroy()
		}
	}
}

func newTensor(t scoring.Tensor) (ort.Value, error) {
	shape := ort.NewShape(t.Shape...)
	switch {
	case t.Float32 != nil:
		return ort.NewTensor(shape, t.Float32)
	case t.Float64 != nil:
		return ort.NewTensor(shape, t.Float64)
	case t.Int64 != nil:
		return ort.NewTensor(shape, t.Int64)
	case t.Int32 != nil:
		return ort.NewTensor(shape, t.Int32)
	}
	return nil, fmt.Errorf("empty input tensor")
}

// decodeValue copies an output into Go slices. Data of the tensors that
// onnxruntime_go returns lives in Go memory, so it outlives Destroy.
func decodeValue(v ort.Value) (scoring.Output, error) {
	var o scoring.Output
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		o.Float32 = t.GetData()
	case *ort.Tensor[float64]:
		o.Float64 = t.GetData()
	case *ort.Tensor[int64]:
		o.Int64 = t.GetData()
	case *ort.Tensor[int32]:
		o.Int64 = widen(t.GetData())
	case *ort.StringTensor:
		s, err := t.GetContents()
		if err != nil {
			return o, err
		}
		o.Strings = s
	case *ort.Sequence:
		return decodeZipMap(t)
	default:
		return o, fmt.Errorf("unsupported output value %T", v)
	}
	return o, nil
}

func widen(v []int32) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// decodeZipMap turns seq(map(int64, float)), one map per row, into an
// [N,C] matrix whose columns are the first row's keys.
func decodeZipMap(seq *ort.Sequence) (scoring.Output, error) {
	maps, err := seq.GetValues()
	if err != nil {
		return scoring.Output{}, err
	}
	o := scoring.Output{}
	for row, v := range maps {
		m, ok := v.(*ort.Map)
		if !ok {
			return o, fmt.Errorf("row %d: sequence holds %T, not a map", row, v)
		}
		kv, vv, err := m.GetKeysAndValues()
		if err != nil {
			return o, err
		}
		keys, ok1 := kv.(*ort.Tensor[int64])
		vals, ok2 := vv.(*ort.Tensor[float32])
		if !ok1 || !ok2 {
			return o, fmt.Errorf("row %d: map is %T -> %T, want int64 -> float", row, kv, vv)
		}
		k, x := keys.GetData(), vals.GetData()
		if row == 0 {
			o.ClassKeys = append([]int64(nil), k...)
			o.Float32 = make([]float32, 0, len(maps)*len(k))
		} else if !slices.Equal(o.ClassKeys, k) {
			return o, fmt.Errorf("row %d: map keys %v differ from row 0's %v", row, k, o.ClassKeys)
		}
		o.Float32 = append(o.Float32, x...)
	}
	return o, nil
}
