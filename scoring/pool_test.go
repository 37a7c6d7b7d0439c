package scoring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sumSession is a fake model: p1 = sigmoid(sum of a row's inputs), label
// = p1 > 0.5. It sleeps a random moment so chunks finish out of order,
// and fails on a chosen chunk size.
type sumSession struct {
	failRows int64
	mu       sync.Mutex
	rng      *rand.Rand
}

func (s *sumSession) Run(ctx context.Context, inputs []Tensor) ([]Output, error) {
	n := inputs[0].Shape[0]
	if n == s.failRows {
		return nil, errors.New("inference failed")
	}
	s.mu.Lock()
	d := time.Duration(s.rng.IntN(3)) * time.Millisecond
	s.mu.Unlock()
	time.Sleep(d)
	probs := make([]float32, 2*n)
	labels := make([]int64, n)
	for i := int64(0); i < n; i++ {
		var sum float64
		for _, t := range inputs {
			w := t.Shape[len(t.Shape)-1]
			if len(t.Shape) == 1 {
				w = 1
			}
			for j := int64(0); j < w; j++ {
				switch {
				case t.Float32 != nil:
					sum += float64(t.Float32[i*w+j])
				case t.Int64 != nil:
					sum += float64(t.Int64[i*w+j])
				}
			}
		}
		p := float32(1 / (1 + math.Exp(-sum)))
		probs[2*i], probs[2*i+1] = 1-p, p
		if p > 0.5 {
			labels[i] = 1
		}
	}
	return []Output{{Float32: probs}, {Int64: labels}}, nil
}

func (s *sumSession) Close() error { return nil }

var poolSignature = Signature{
	Inputs: []Port{
		{Name: "f", Kind: "tensor", Elem: Float, Shape: []int64{-1, 2}},
		{Name: "i", Kind: "tensor", Elem: Int64, Shape: []int64{-1, 1}},
	},
	Outputs: []Port{
		{Name: "probabilities", Kind: "tensor", Elem: Float, Shape: []int64{-1, 2}},
		{Name: "label", Kind: "tensor", Elem: Int64, Shape: []int64{-1}},
	},
}

func poolBinding(t *testing.T) *Binding {
	b, err := Bind(poolSignature, Wiring{
		Inputs: map[string][]string{"f": {"x", "flag"}, "i": {"n"}},
		Score:  OutputRef{Output: "probabilities", Class: cls(1)},
		Label:  &OutputRef{Output: "label"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chunk builds rows start..start+n-1 with x = row/100, flag = odd row, n = -row%3.
func chunk(mem memory.Allocator, start, n int, nullAt int) arrow.Record {
	xs := array.NewFloat64Builder(mem)
	flags := array.NewBooleanBuilder(mem)
	ns := array.NewInt32Builder(mem)
	defer xs.Release()
	defer flags.Release()
	defer ns.Release()
	for r := start; r < start+n; r++ {
		if r-start == nullAt {
			xs.AppendNull()
		} else {
			xs.Append(float64(r) / 100)
		}
		flags.Append(r%2 == 1)
		ns.Append(-int32(r % 3))
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean},
		{Name: "n", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
	cols := []arrow.Array{xs.NewArray(), flags.NewArray(), ns.NewArray()}
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	return array.NewRecord(schema, cols, int64(n))
}

func expected(r int) float64 {
	flag := 0.0
	if r%2 == 1 {
		flag = 1
	}
	sum := float64(float32(float64(r)/100)) + flag - float64(r%3)
	return float64(float32(1 / (1 + math.Exp(-sum))))
}

func runPool(t *testing.T, mem memory.Allocator, sess Session, chunks []Chunk, workers int) ([]Scored, error) {
	t.Helper()
	in := make(chan Chunk, len(chunks))
	for _, c := range chunks {
		in <- c
	}
	close(in)
	out := make(chan Scored, len(chunks))
	scorer := &Scorer{Session: sess, Binding: poolBinding(t), Mem: mem}
	err := scorer.Pool(context.Background(), workers, in, out)
	close(out)
	for c := range in { // what the pool did not take is the caller's
		c.Record.Release()
	}
	var got []Scored
	for s := range out {
		got = append(got, s)
	}
	return got, err
}

func TestPoolScoresEveryChunk(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	var chunks []Chunk
	row := 0
	for seq, n := range []int{7, 64, 1, 33, 64, 12, 5, 64} {
		chunks = append(chunks, Chunk{Seq: int64(seq), Record: chunk(mem, row, n, -1), File: "f.parquet", Offset: int64(row)})
		row += n
	}
	got, err := runPool(t, mem, &sumSession{rng: rand.New(rand.NewPCG(1, 2))}, chunks, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chunks) {
		t.Fatalf("got %d chunks back, want %d", len(got), len(chunks))
	}
	for _, s := range got {
		if s.Score.Len() != int(s.Record.NumRows()) || s.Label.Len() != s.Score.Len() {
			t.Fatalf("chunk %d: %d rows, %d scores, %d labels", s.Seq, s.Record.NumRows(), s.Score.Len(), s.Label.Len())
		}
		for i := 0; i < s.Score.Len(); i++ {
			r := int(s.Offset) + i
			if want := expected(r); math.Abs(s.Score.Value(i)-want) > 1e-7 {
				t.Errorf("row %d: score %v, want %v", r, s.Score.Value(i), want)
			}
			if wantLabel := int64(0); s.Score.Value(i) > 0.5 != (s.Label.(*array.Int64).Value(i) == 1) {
				t.Errorf("row %d: label %d disagrees with score %v (%d)", r, s.Label.(*array.Int64).Value(i), s.Score.Value(i), wantLabel)
			}
		}
		s.Release()
	}
}

func TestPoolErrors(t *testing.T) {
	tests := []struct {
		name      string
		nullAt    int
		failRows  int64
		want      []string
		wantBadIn bool
	}{
		{"null in an input names file, row and column", 5, -1, []string{"day.parquet", "row 105", `column "x"`, "null value"}, true},
		{"inference error names the rows", -1, 20, []string{"day.parquet", "rows 100-119", "inference failed"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			chunks := []Chunk{
				{Seq: 0, Record: chunk(mem, 0, 100, -1), File: "day.parquet"},
				{Seq: 1, Record: chunk(mem, 100, 20, tc.nullAt), File: "day.parquet", Offset: 100},
				{Seq: 2, Record: chunk(mem, 120, 50, -1), File: "day.parquet", Offset: 120},
			}
			got, err := runPool(t, mem, &sumSession{failRows: tc.failRows, rng: rand.New(rand.NewPCG(3, 4))}, chunks, 2)
			for _, s := range got {
				s.Release()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
			if errors.Is(err, ErrBadInput) != tc.wantBadIn {
				t.Errorf("errors.Is(err, ErrBadInput) = %v, want %v", !tc.wantBadIn, tc.wantBadIn)
			}
		})
	}
}

func TestPoolStopsOnCancel(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	in := make(chan Chunk)
	out := make(chan Scored)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		done <- (&Scorer{Session: &sumSession{rng: rand.New(rand.NewPCG(5, 6))}, Binding: poolBinding(t), Mem: mem}).Pool(ctx, 2, in, out)
	}()
	in <- Chunk{Record: chunk(mem, 0, 10, -1)}
	cancel() // nobody reads out: the worker must give up and release
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Pool = %v, want context.Canceled", err)
	}
}

func TestDecodeZipMapAndNaN(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	b := &Binding{Score: OutputBinding{Port: Port{Name: "zip", Kind: "sequence"}, Class: cls(7)}}
	zip := Output{ClassKeys: []int64{3, 7}, Float32: []float32{0.9, 0.1, 0.2, 0.8}}
	score, _, err := b.decode([]Output{zip}, 2, false, mem)
	if err != nil {
		t.Fatal(err)
	}
	if score.Value(0) != float64(float32(0.1)) || score.Value(1) != float64(float32(0.8)) {
		t.Errorf("zipmap class 7 = %v", score.Float64Values())
	}
	score.Release()

	b.Score.Class = cls(4)
	if _, _, err := b.decode([]Output{zip}, 2, false, mem); err == nil || !strings.Contains(err.Error(), "no class 4") {
		t.Errorf("missing class: %v", err)
	}

	b = &Binding{Score: OutputBinding{Port: Port{Name: "variable"}}}
	nan := Output{Float32: []float32{1, float32(math.NaN())}}
	var ie *InputError
	if _, _, err := b.decode([]Output{nan}, 2, false, mem); !errors.As(err, &ie) || ie.Row != 1 {
		t.Errorf("NaN score: %v, want an InputError at row 1", err)
	}
}

func TestTensorsFillRowMajor(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rec := chunk(mem, 0, 4, -1)
	defer rec.Release()
	var buf Buffers
	ts, err := poolBinding(t).tensors(rec, &buf)
	if err != nil {
		t.Fatal(err)
	}
	wantF := []float32{0, 0, 0.01, 1, 0.02, 0, 0.03, 1}
	for i, v := range wantF {
		if ts[0].Float32[i] != v {
			t.Fatalf("f = %v, want %v", ts[0].Float32, wantF)
		}
	}
	wantI := []int64{0, -1, -2, 0}
	for i, v := range wantI {
		if ts[1].Int64[i] != v {
			t.Fatalf("i = %v, want %v", ts[1].Int64, wantI)
		}
	}
	if ts[0].Shape[0] != 4 || ts[0].Shape[1] != 2 || ts[1].Shape[1] != 1 {
		t.Errorf("shapes %v %v", ts[0].Shape, ts[1].Shape)
	}
}

// Tiles of fillTile rows must join up: compare a matrix wider than one
// tile with the plain row-by-row definition.
func TestTensorsAcrossTiles(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	n := 2*fillTile + 77
	rec := chunk(mem, 5, n, -1)
	defer rec.Release()
	var buf Buffers
	ts, err := poolBinding(t).tensors(rec, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r := 5 + i
		flag := float32(0)
		if r%2 == 1 {
			flag = 1
		}
		if ts[0].Float32[2*i] != float32(float64(r)/100) || ts[0].Float32[2*i+1] != flag || ts[1].Int64[i] != -int64(r%3) {
			t.Fatalf("row %d: f = %v, i = %d", i, ts[0].Float32[2*i:2*i+2], ts[1].Int64[i])
		}
	}
}

// failFrom fails every chunk from row 30 on, the one of row 30 slowly: a
// worker on a later chunk fails first.
type failFrom struct{}

func (failFrom) Run(_ context.Context, inputs []Tensor) ([]Output, error) {
	start := int(math.Round(float64(inputs[0].Float32[0]) * 100))
	if start == 30 {
		time.Sleep(20 * time.Millisecond)
	}
	if start >= 30 {
		return nil, fmt.Errorf("session failed at row %d", start)
	}
	return (&sumSession{failRows: -1, rng: rand.New(rand.NewPCG(1, 1))}).Run(context.Background(), inputs)
}

func (failFrom) Close() error { return nil }

// The error of a pool is the first failing chunk's in Seq order, however
// many workers race through the later ones.
func TestPoolNamesTheFirstFailingChunk(t *testing.T) {
	for workers := 1; workers <= 6; workers++ {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		var chunks []Chunk
		for seq := range 12 {
			chunks = append(chunks, Chunk{Seq: int64(seq), Record: chunk(mem, seq*10, 10, -1), File: "day.parquet", Offset: int64(seq * 10)})
		}
		got, err := runPool(t, mem, failFrom{}, chunks, workers)
		for _, s := range got {
			s.Release()
		}
		if err == nil || !strings.Contains(err.Error(), "rows 30-39") {
			t.Fatalf("%d workers: err = %v, want the failure of rows 30-39", workers, err)
		}
		mem.AssertSize(t, 0)
	}
}
