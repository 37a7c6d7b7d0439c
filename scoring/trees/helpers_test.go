package trees

// Test helpers: ONNX Runtime as the reference (raw onnxruntime_go, the model
// bytes as they are: no rewrite), the committed sample snapshots as a
// float32 matrix, and a builder for small tree models.

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/scoring/onnxwire"
)

// initORT loads ONNX Runtime: skipped on a developer's machine without it,
// a failure in CI.
func initORT(t testing.TB) {
	t.Helper()
	lib := onnxtest.Lib(t)
	ortOnce.Do(func() {
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if ortErr != nil {
		t.Fatalf("ONNX Runtime %s: %v", lib, ortErr)
	}
}

var (
	ortOnce sync.Once
	ortErr  error
)

// ortSession is one ONNX Runtime session on model bytes as they are, with
// batchscore's settings: one intra-op and one inter-op thread.
type ortSession struct {
	s       *ort.DynamicAdvancedSession
	outputs []string
}

func newORTSession(t testing.TB, model []byte, input string, outputs []string) *ortSession {
	t.Helper()
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetIntraOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{input}, outputs, so)
	if err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	return &ortSession{s: s, outputs: outputs}
}

func (o *ortSession) Close() { o.s.Destroy() }

// ortOut is one output of a run: float32 or int64 data, or a ZipMap's
// seq(map(int64, float)) flattened row by row.
type ortOut struct {
	f32  []float32
	i64  []int64
	keys []int64 // ZipMap keys of row 0
}

func (o *ortSession) run(t testing.TB, x []float32, rows, width int) []ortOut {
	t.Helper()
	in, err := ort.NewTensor(ort.NewShape(int64(rows), int64(width)), x)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Destroy()
	outs := make([]ort.Value, len(o.outputs))
	if err := o.s.Run([]ort.Value{in}, outs); err != nil {
		t.Fatalf("ONNX Runtime run: %v", err)
	}
	res := make([]ortOut, len(outs))
	for i, v := range outs {
		defer v.Destroy()
		switch v := v.(type) {
		case *ort.Tensor[float32]:
			res[i].f32 = append([]float32(nil), v.GetData()...)
		case *ort.Tensor[int64]:
			res[i].i64 = append([]int64(nil), v.GetData()...)
		case *ort.Sequence:
			maps, err := v.GetValues()
			if err != nil {
				t.Fatal(err)
			}
			for r, m := range maps {
				k, vals, err := m.(*ort.Map).GetKeysAndValues()
				if err != nil {
					t.Fatal(err)
				}
				if r == 0 {
					res[i].keys = append([]int64(nil), k.(*ort.Tensor[int64]).GetData()...)
				}
				res[i].f32 = append(res[i].f32, vals.(*ort.Tensor[float32]).GetData()...)
			}
		default:
			t.Fatalf("output %s: %T", o.outputs[i], v)
		}
	}
	return res
}

// sameFloat is bit equality, any NaN equal to any NaN (ORT and Go may
// carry different NaN payloads through arithmetic).
func sameFloat(a, b float32) bool {
	if a != a && b != b {
		return true
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// ulps is the distance between two floats in units in the last place (0
// for equal, NaN pairs included).
func ulps(a, b float32) int64 {
	if sameFloat(a, b) {
		return 0
	}
	if a != a || b != b {
		return math.MaxInt64
	}
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

func repoRoot(t testing.TB) string { return onnxtest.Root(t) }

func modelPath(t testing.TB, name string) string {
	return filepath.Join(repoRoot(t), "testdata", "models", name)
}

var (
	customersOnce sync.Once
	customersX    []float32
	customersErr  error
)

// churnFeatures are the GBM's inputs in order, from the model's metadata.
func churnFeatures(t testing.TB) []string {
	t.Helper()
	initORT(t)
	md, err := ort.GetModelMetadata(modelPath(t, "churn_gbm.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer md.Destroy()
	features, _, err := md.LookupCustomMetadataMap("features")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(features, ",")
	if len(f) != 30 {
		t.Fatalf("model metadata lists %d features", len(f))
	}
	return f
}

// customers is every row of testdata/customers/snapshot_date=*/*.parquet
// as a row-major float32 [N,30] matrix, converted as the scoring pool
// converts (Go's conversion to float32 of each value).
func customers(t testing.TB) ([]float32, int) {
	t.Helper()
	cols := churnFeatures(t)
	customersOnce.Do(func() {
		customersX, customersErr = readMatrix(filepath.Join(repoRoot(t), "testdata", "customers", "snapshot_date=*", "*.parquet"), cols)
	})
	if customersErr != nil {
		t.Fatal(customersErr)
	}
	return customersX, len(customersX) / len(cols)
}

func readMatrix(glob string, cols []string) ([]float32, error) {
	src, err := parquetio.Open(glob)
	if err != nil {
		return nil, err
	}
	var vals []float32
	w := len(cols)
	err = src.Read(context.Background(), cols, 1<<16, memory.NewGoAllocator(), func(rec arrow.Record, _ string, _ int64) error {
		defer rec.Release()
		n := int(rec.NumRows())
		base := len(vals)
		vals = append(vals, make([]float32, n*w)...)
		for j := range cols {
			for i := range n {
				var v float32
				switch a := rec.Column(j).(type) {
				case *array.Float64:
					v = float32(a.Value(i))
				case *array.Float32:
					v = a.Value(i)
				case *array.Int64:
					v = float32(a.Value(i))
				case *array.Int32:
					v = float32(a.Value(i))
				case *array.Boolean:
					if a.Value(i) {
						v = 1
					}
				default:
					return fmt.Errorf("column %s: type %s", cols[j], a.DataType())
				}
				vals[base+i*w+j] = v
			}
		}
		return nil
	})
	return vals, err
}

// ---- building models ----

// Shorthands for onnxwire.
type field = onnxwire.Field

var fields = onnxwire.Fields

const (
	attrInt      = onnxwire.AttrInt
	attrString   = onnxwire.AttrString
	attrTensor   = onnxwire.AttrTensor
	attrFloats   = onnxwire.AttrFloats
	attrInts     = onnxwire.AttrInts
	attrStrings  = onnxwire.AttrStrings
	tensorFloat  = onnxwire.Float
	tensorDouble = onnxwire.Double
)

func pbStr(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func pbMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func pbVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func intsAttr(name string, v ...int64) []byte {
	a := pbStr(nil, 1, name)
	for _, x := range v {
		a = pbVarint(a, 8, uint64(x))
	}
	return pbVarint(a, 20, attrInts)
}

func intAttr(name string, v int64) []byte {
	return pbVarint(pbVarint(pbStr(nil, 1, name), 3, uint64(v)), 20, attrInt)
}

func floatsAttr(name string, v ...float32) []byte {
	a := pbStr(nil, 1, name)
	var packed []byte
	for _, x := range v {
		packed = binary.LittleEndian.AppendUint32(packed, math.Float32bits(x))
	}
	a = pbMsg(a, 7, packed)
	return pbVarint(a, 20, attrFloats)
}

// floatTensorAttr is name as a float TensorProto of rank 1 (raw_data).
func floatTensorAttr(name string, v ...float32) []byte {
	var raw []byte
	for _, x := range v {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
	}
	tensor := pbVarint(nil, 1, uint64(len(v)))
	tensor = pbVarint(tensor, 2, tensorFloat)
	tensor = pbMsg(tensor, 9, raw)
	return pbVarint(pbMsg(pbStr(nil, 1, name), 5, tensor), 20, attrTensor)
}

func stringsAttr(name string, v ...string) []byte {
	a := pbStr(nil, 1, name)
	for _, s := range v {
		a = pbStr(a, 9, s)
	}
	return pbVarint(a, 20, attrStrings)
}

func stringAttr(name, v string) []byte {
	return pbVarint(pbStr(pbStr(nil, 1, name), 4, v), 20, attrString)
}

func tensorType(elem uint64, dims ...int64) []byte {
	var shape []byte
	for _, d := range dims {
		if d < 0 {
			shape = pbMsg(shape, 1, pbStr(nil, 2, "N"))
		} else {
			shape = pbMsg(shape, 1, pbVarint(nil, 1, uint64(d)))
		}
	}
	return pbMsg(nil, 1, pbMsg(pbVarint(nil, 1, elem), 2, shape))
}

// tnode is one node of a test tree.
type tnode struct {
	id       int64
	mode     string // "LEAF" or a BRANCH_ mode
	feat     int64
	thr      float32
	tru, fal int64
	tracks   bool
	weight   float32
	// cols and ws, when cols is set, are the leaf's weights by class or
	// target instead of weight in column 0.
	cols []int64
	ws   []float32
}

type ttree struct {
	id    int64
	nodes []tnode // in listing order; ORT starts at the first
}

// spec is a test model with one tree node reading X float[N,width].
type spec struct {
	op         string // Classifier or Regressor
	trees      []ttree
	labels     []int64
	post       string
	base       []float32
	aggregate  string
	width      int
	asTensors  bool     // thresholds, weights and base values as float tensors
	extraAttrs [][]byte // appended as they are
	mlOpset    uint64
	targets    int64 // regressor's n_targets; 0 means 1
}

func (s spec) model() []byte {
	var tr, id, feat, tru, fal, tracks []int64
	var modes []string
	var thr []float32
	var wt, wn, wid []int64
	var ww []float32
	for _, t := range s.trees {
		for _, n := range t.nodes {
			tr, id, feat = append(tr, t.id), append(id, n.id), append(feat, n.feat)
			modes, thr = append(modes, n.mode), append(thr, n.thr)
			tru, fal = append(tru, n.tru), append(fal, n.fal)
			tracks = append(tracks, map[bool]int64{false: 0, true: 1}[n.tracks])
			switch {
			case n.mode == "LEAF" && n.cols != nil:
				for j, c := range n.cols {
					wt, wn, wid, ww = append(wt, t.id), append(wn, n.id), append(wid, c), append(ww, n.ws[j])
				}
			case n.mode == "LEAF":
				wt, wn, wid, ww = append(wt, t.id), append(wn, n.id), append(wid, 0), append(ww, n.weight)
			}
		}
	}
	prefix := "class_"
	if s.op == Regressor {
		prefix = "target_"
	}
	attrs := [][]byte{
		intsAttr("nodes_treeids", tr...), intsAttr("nodes_nodeids", id...),
		intsAttr("nodes_featureids", feat...), stringsAttr("nodes_modes", modes...),
		intsAttr("nodes_truenodeids", tru...), intsAttr("nodes_falsenodeids", fal...),
		intsAttr("nodes_missing_value_tracks_true", tracks...),
		intsAttr(prefix+"treeids", wt...), intsAttr(prefix+"nodeids", wn...), intsAttr(prefix+"ids", wid...),
	}
	floats := floatsAttr
	suffix := ""
	if s.asTensors {
		floats, suffix = floatTensorAttr, "_as_tensor"
	}
	attrs = append(attrs, floats("nodes_values"+suffix, thr...), floats(prefix+"weights"+suffix, ww...))
	if s.base != nil {
		attrs = append(attrs, floats("base_values"+suffix, s.base...))
	}
	if s.post != "" {
		attrs = append(attrs, stringAttr("post_transform", s.post))
	}
	var outputs []string
	graphOut := [][]byte{}
	if s.op == Regressor {
		attrs = append(attrs, intAttr("n_targets", max(s.targets, 1)))
		if s.aggregate != "" {
			attrs = append(attrs, stringAttr("aggregate_function", s.aggregate))
		}
		outputs = []string{"Y"}
		graphOut = append(graphOut, pbMsg(pbStr(nil, 1, "Y"), 2, tensorType(tensorFloat, -1, max(s.targets, 1))))
	} else {
		attrs = append(attrs, intsAttr("classlabels_int64s", s.labels...))
		outputs = []string{"label", "probabilities"}
		graphOut = append(graphOut,
			pbMsg(pbStr(nil, 1, "label"), 2, tensorType(7, -1)),
			pbMsg(pbStr(nil, 1, "probabilities"), 2, tensorType(tensorFloat, -1, int64(max(len(s.labels), 2)))))
	}
	attrs = append(attrs, s.extraAttrs...)
	node := pbStr(nil, 1, "X")
	for _, o := range outputs {
		node = pbStr(node, 2, o)
	}
	node = pbStr(pbStr(node, 3, "trees"), 4, s.op)
	for _, a := range attrs {
		node = pbMsg(node, 5, a)
	}
	node = pbStr(node, 7, mlDomain)
	graph := pbMsg(nil, 1, node)
	graph = pbStr(graph, 2, "test_trees")
	graph = pbMsg(graph, 11, pbMsg(pbStr(nil, 1, "X"), 2, tensorType(tensorFloat, -1, int64(s.width))))
	for _, o := range graphOut {
		graph = pbMsg(graph, 12, o)
	}
	ml := s.mlOpset
	if ml == 0 {
		ml = 3
	}
	var model []byte
	model = pbVarint(model, 1, 8) // ir_version
	model = pbMsg(model, 8, pbVarint(pbStr(nil, 1, ""), 2, 15))
	model = pbMsg(model, 8, pbVarint(pbStr(nil, 1, mlDomain), 2, ml))
	model = pbStr(model, 2, "batchscore trees test")
	return pbMsg(model, 7, graph)
}

// outputs are the node's outputs in the order spec.model declares them.
func (s spec) outputs() []string {
	if s.op == Regressor {
		return []string{"Y"}
	}
	return []string{"label", "probabilities"}
}

// editTreeAttr returns model with the tree node's attribute name replaced
// by attr (or removed when attr is nil, or added when absent).
func editTreeAttr(t testing.TB, model []byte, name string, attr []byte) []byte {
	t.Helper()
	top, err := fields(model)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, f := range top {
		if f.Num != 7 {
			out = appendField(out, f)
			continue
		}
		gfs, err := fields(f.Val)
		if err != nil {
			t.Fatal(err)
		}
		var g []byte
		for _, gf := range gfs {
			n, _ := onnxwire.ParseNode(gf.Val)
			if gf.Num != 1 || (n.Op != Classifier && n.Op != Regressor) {
				g = appendField(g, gf)
				continue
			}
			nfs, _ := fields(gf.Val)
			var nb []byte
			done := false
			for _, nf := range nfs {
				if nf.Num == 5 {
					a, _ := onnxwire.ParseAttribute(nf.Val)
					if a.Name == name {
						if attr != nil {
							nb = pbMsg(nb, 5, attr)
						}
						done = true
						continue
					}
				}
				nb = appendField(nb, nf)
			}
			if !done && attr != nil {
				nb = pbMsg(nb, 5, attr)
			}
			g = pbMsg(g, 1, nb)
		}
		out = pbMsg(out, 7, g)
	}
	return out
}

func appendField(b []byte, f field) []byte {
	return append(b, f.Raw...)
}
