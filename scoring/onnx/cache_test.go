package onnx_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx"
)

// cacheRows is a [rows, width] tensor of varied feature values.
func cacheRows(rows, width int) scoring.Tensor {
	x := make([]float32, rows*width)
	for i := range x {
		x[i] = float32((i*7919)%1000) / 10
	}
	return scoring.Tensor{Shape: []int64{int64(rows), int64(width)}, Float32: x}
}

func runProbs(t *testing.T, s *onnx.Session, in scoring.Tensor) []float32 {
	t.Helper()
	outs, err := s.Run(context.Background(), []scoring.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	return outs[0].Float32
}

// TestCacheReusesByContent: a second Open of the same bytes, binding and
// options shares the compiled engine and its probed reference session
// but not the run state (a switch to ONNX Runtime stays in its run); a
// file that now holds other bytes is opened afresh and its old entry
// closed; idle entries beyond the bound are closed.
func TestCacheReusesByContent(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(onnxtest.Root(t), "testdata", "models", "churn_gbm.onnx")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, binding, features := bindFile(t, "churn_gbm.onnx", "features", "probabilities", "label")
	opts := onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1}
	in := cacheRows(300, len(features))

	cache := onnx.NewCache(1)
	defer cache.Close()
	open := func() *onnx.Session {
		t.Helper()
		m, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := cache.Open(m, binding, opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := open()
	want := runProbs(t, first, in)
	if !strings.HasPrefix(first.Engine(), "native") {
		t.Fatalf("engine %q, want native", first.Engine())
	}

	// A run whose native outputs are wrong switches to ONNX Runtime...
	second := open()
	if !onnx.SharesEngine(first, second) {
		t.Error("a second Open of the same bytes compiled and probed the model again")
	}
	onnx.SkewNative(second, 0.5)
	if got := runProbs(t, second, in); sameBits(want, got) != -1 || !strings.HasPrefix(second.Engine(), "onnxruntime") {
		t.Errorf("skewed run: engine %q, outputs equal to the first run's: %v", second.Engine(), sameBits(want, got) == -1)
	}
	first.Close()
	second.Close()
	second.Close() // twice is harmless
	if n := cache.Len(); n != 1 {
		t.Errorf("after two runs of one model the cache holds %d entries, want 1", n)
	}
	// ...and the next run starts native again, with the same results.
	third := open()
	if got := runProbs(t, third, in); sameBits(want, got) != -1 || !strings.HasPrefix(third.Engine(), "native") {
		t.Errorf("third run: engine %q, same outputs %v", third.Engine(), sameBits(want, got) == -1)
	}
	third.Close()

	// The file changes (an unknown protobuf field appended: same model,
	// other bytes): a new entry, and the stale one is closed.
	if err := os.WriteFile(path, append(append([]byte(nil), data...), 0xa0, 0x06, 0x01), 0o644); err != nil {
		t.Fatal(err)
	}
	fourth := open()
	if onnx.SharesEngine(third, fourth) {
		t.Error("a file with other bytes was scored with the session of the old ones")
	}
	if got := runProbs(t, fourth, in); sameBits(want, got) != -1 {
		t.Error("the rewritten file scores differently")
	}
	fourth.Close()
	if n := cache.Len(); n != 1 {
		t.Errorf("after the file changed the cache holds %d entries, want 1 (the stale one closed)", n)
	}

	// Another binding of the same bytes is another entry; the bound
	// closes the least recently used idle one.
	other := *binding
	other.Key = "challenger"
	m, _ := onnx.Load(path)
	s, err := cache.Open(m, &other, opts)
	if err != nil {
		t.Fatal(err)
	}
	if onnx.SharesEngine(fourth, s) {
		t.Error("another binding shared an entry")
	}
	s.Close()
	if n := cache.Len(); n != 1 {
		t.Errorf("bound 1: the cache holds %d idle entries", n)
	}
}

// TestCacheConcurrentOpen: runs opening one model at once share one
// entry, and a nil cache opens a session of its own each time.
func TestCacheConcurrentOpen(t *testing.T) {
	if err := onnx.Init(onnxtest.Lib(t)); err != nil {
		t.Fatal(err)
	}
	model, binding, features := bindFile(t, "churn_gbm.onnx", "features", "probabilities", "label")
	opts := onnx.Options{Engine: onnx.EngineAuto, IntraOpThreads: 1}
	cache := onnx.NewCache(onnx.DefaultCacheModels)
	defer cache.Close()
	sessions := make([]*onnx.Session, 4)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cache.Open(model, binding, opts)
			if err != nil {
				t.Error(err)
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	in := cacheRows(100, len(features))
	want := runProbs(t, sessions[0], in)
	for _, s := range sessions[1:] {
		if !onnx.SharesEngine(sessions[0], s) {
			t.Error("concurrent Opens of one model made two entries")
		}
		if sameBits(want, runProbs(t, s, in)) != -1 {
			t.Error("shared sessions score differently")
		}
	}
	for _, s := range sessions {
		s.Close()
	}
	if n := cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
	var none *onnx.Cache
	a, err := none.Open(model, binding, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := none.Open(model, binding, opts)
	if err != nil {
		t.Fatal(err)
	}
	if onnx.SharesEngine(a, b) {
		t.Error("a nil cache shared a session")
	}
	a.Close()
	b.Close()
}
