package onnx

// Benchmarks of ONNX Runtime alone: the rows/s a job can reach at best,
// since every other stage of a run only adds to it. Run by
// testdata/bench/run.sh (make bench); see BENCHMARKS.md.
//
// The setup is batchscore's: one session, intra-op threads 1, inter-op 1,
// graph optimization "all", two goroutines sharing the session, chunks of
// 65,536 rows. The input tensors are filled once, before the clock starts,
// from the first rows of a snapshot ($BATCHSCORE_BENCH_SNAPSHOT, a glob;
// default: the small sample of testdata/customers, repeated to fill a
// chunk). Every figure is reported as rows/s. Sessions come from Open with
// scoring.engine onnxruntime, so the graph is the one a run on ONNX Runtime
// scores with, in-memory rewrites included (scoring/onnx/rewrite;
// BenchmarkTreeRewrite compares them); BenchmarkNative is the native engine.
//
//	BenchmarkORT/<model>      raw onnxruntime_go: ort tensors made once,
//	                          outputs preallocated, Run only (the floor).
//	BenchmarkSession/<model>  this package's Session.Run on prebuilt
//	                          scoring.Tensors: what the scoring pool calls,
//	                          with its per-call tensor wrapping and output copy.
//	BenchmarkNative/<model>   Session.Run on the native tree engine
//	                          (native.go); skipped for models it declines.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	ort "github.com/yalue/onnxruntime_go"
	"gopkg.in/yaml.v3"

	"github.com/batchscore/batchscore/internal/testkit/onnxtest"
	"github.com/batchscore/batchscore/io/parquetio"
	"github.com/batchscore/batchscore/scoring"
	"github.com/batchscore/batchscore/scoring/onnx/rewrite"
)

// benchModels are the job files whose model and inputs are benchmarked.
var benchModels = []struct{ name, job string }{
	{"gbm", "configs/churn_nightly.yaml"},
	{"logreg", "configs/churn_logreg.yaml"},
}

// envInt reads a positive integer setting, or def.
func envInt(b testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

type benchSetup struct {
	binding      *scoring.Binding
	path         string
	tensors      []scoring.Tensor
	rows         int
	workers      int
	threads      int
	optimization string
}

func setup(b testing.TB, jobFile string) benchSetup {
	b.Helper()
	root := onnxtest.Root(b)
	if err := Init(onnxtest.Lib(b)); err != nil {
		b.Fatal(err)
	}
	job := loadBenchJob(b, filepath.Join(root, jobFile))
	sig, _, err := Inspect(job.Model.Path)
	if err != nil {
		b.Fatal(err)
	}
	binding, err := scoring.Bind(sig, job.Model.wiring())
	if err != nil {
		b.Fatal(err)
	}
	// The tensors a session is fed: one input for a Concat of them (rewrite.ConcatInputs).
	model, err := Load(job.Model.Path)
	if err != nil {
		b.Fatal(err)
	}
	_, feed, _, err := rewrite.ConcatInputs(model.data, binding)
	if err != nil {
		b.Fatal(err)
	}
	rows := envInt(b, "BATCHSCORE_BENCH_CHUNK_ROWS", job.Scoring.ChunkRows)
	rec := firstRows(b, root, binding.Columns(), rows)
	defer rec.Release()
	tensors := make([]scoring.Tensor, len(feed.Inputs))
	for i, in := range feed.Inputs {
		tensors[i] = fillTensor(b, rec, in)
	}
	return benchSetup{
		binding: binding, path: job.Model.Path, tensors: tensors, rows: rows,
		workers:      envInt(b, "BATCHSCORE_BENCH_WORKERS", 2),
		threads:      envInt(b, "BATCHSCORE_BENCH_INTRA_OP_THREADS", job.Scoring.IntraOpThreads),
		optimization: job.Scoring.Optimization,
	}
}

// firstRows returns rows rows of cols: the first rows of the snapshot, the
// snapshot repeated if it is smaller.
func firstRows(b testing.TB, root string, cols []string, rows int) arrow.Record {
	b.Helper()
	pattern := os.Getenv("BATCHSCORE_BENCH_SNAPSHOT")
	if pattern == "" {
		pattern = filepath.Join(root, "testdata/customers/snapshot_date=2026-11-20/*.parquet")
	}
	src, err := parquetio.Open(pattern)
	if err != nil {
		b.Fatal(err)
	}
	mem := memory.NewGoAllocator()
	var recs []arrow.Record
	var have int
	errEnough := fmt.Errorf("enough rows")
	for have < rows {
		err := src.Read(context.Background(), cols, rows, mem, func(rec arrow.Record, _ string, _ int64) error {
			n := min(int(rec.NumRows()), rows-have)
			recs = append(recs, rec.NewSlice(0, int64(n)))
			rec.Release()
			have += n
			if have == rows {
				return errEnough
			}
			return nil
		})
		if err != nil && err != errEnough {
			b.Fatal(err)
		}
	}
	tbl := array.NewTableFromRecords(recs[0].Schema(), recs)
	defer tbl.Release()
	for _, r := range recs {
		r.Release()
	}
	// Concatenate into one record of contiguous columns.
	arrs := make([]arrow.Array, tbl.NumCols())
	for i := range arrs {
		a, err := array.Concatenate(tbl.Column(i).Data().Chunks(), mem)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Release()
		arrs[i] = a
	}
	return array.NewRecord(tbl.Schema(), arrs, int64(rows))
}

// fillTensor builds one input the way the scoring pool does: row-major,
// columns converted to the input's element type.
func fillTensor(b testing.TB, rec arrow.Record, in scoring.InputBinding) scoring.Tensor {
	b.Helper()
	n, w := int(rec.NumRows()), len(in.Columns)
	t := scoring.Tensor{Shape: []int64{int64(n), int64(w)}}
	if in.Rank == 1 {
		t.Shape = t.Shape[:1]
	}
	vals := make([]float64, n*w)
	for j, name := range in.Columns {
		idx := rec.Schema().FieldIndices(name)
		if len(idx) == 0 {
			b.Fatalf("column %s missing", name)
		}
		col := rec.Column(idx[0])
		for i := 0; i < n; i++ {
			var v float64
			switch a := col.(type) {
			case *array.Float64:
				v = a.Value(i)
			case *array.Float32:
				v = float64(a.Value(i))
			case *array.Int64:
				v = float64(a.Value(i))
			case *array.Int32:
				v = float64(a.Value(i))
			case *array.Boolean:
				if a.Value(i) {
					v = 1
				}
			default:
				b.Fatalf("column %s: type %s not handled by the benchmark", name, col.DataType())
			}
			vals[i*w+j] = v
		}
	}
	switch in.Elem {
	case scoring.Float:
		t.Float32 = convert[float32](vals)
	case scoring.Double:
		t.Float64 = vals
	case scoring.Int64:
		t.Int64 = convert[int64](vals)
	case scoring.Int32:
		t.Int32 = convert[int32](vals)
	default:
		b.Fatalf("input %s: element type %s", in.Name, in.Elem)
	}
	return t
}

func convert[T float32 | int64 | int32](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// runParallel calls run b.N times in total from workers goroutines and
// reports rows/s over the wall time of all calls, and rows per CPU-second.
func runParallel(b *testing.B, workers, rows int, run func(worker int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := run(w); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	total := float64(b.N) * float64(rows)
	b.ReportMetric(total/elapsed.Seconds(), "rows/s")
	if cpu > 0 {
		// Per CPU-second of the whole process: less sensitive to other
		// processes on a busy machine than rows/s.
		b.ReportMetric(total/cpu.Seconds(), "rows/cpu-s")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkSession(b *testing.B) { benchSessions(b, EngineONNXRuntime) }
func BenchmarkNative(b *testing.B)  { benchSessions(b, EngineNative) }

// BenchmarkNativeUnchecked is BenchmarkNative without the per-chunk check
// against ONNX Runtime (crossCheck): the two give what the check costs
// the model runtime alone.
func BenchmarkNativeUnchecked(b *testing.B) {
	defer func(k int) { crossCheckRows = k }(crossCheckRows)
	crossCheckRows = 0
	benchSessions(b, EngineNative)
}

// benchSessions measures Session.Run on each model with engine; a model
// the engine declines is skipped.
func benchSessions(b *testing.B, engine string) {
	for _, m := range benchModels {
		b.Run(m.name, func(b *testing.B) {
			s, sess := openBench(b, m.job, engine)
			ctx := context.Background()
			tensors := s.tensors
			// One warm-up call: the first Run allocates ORT's arenas (and
			// makes the native engine's first-chunk check).
			if _, err := sess.Run(ctx, tensors); err != nil {
				b.Fatal(err)
			}
			runParallel(b, s.workers, s.rows, func(int) error {
				_, err := sess.Run(ctx, tensors)
				return err
			})
		})
	}
}

func BenchmarkORT(b *testing.B) {
	for _, m := range benchModels {
		b.Run(m.name, func(b *testing.B) {
			s, model := loadBench(b, m.job)
			runORT(b, s, model, Options{IntraOpThreads: s.threads, Optimization: s.optimization})
		})
	}
}

// loadBench reads jobFile's set-up and loads its model.
func loadBench(b *testing.B, jobFile string) (benchSetup, *Model) {
	b.Helper()
	s := setup(b, jobFile)
	model, err := Load(s.path)
	if err != nil {
		b.Fatal(err)
	}
	return s, model
}

// openBench opens a session on jobFile's model with engine, closed when b
// ends; a model the engine declines skips b.
func openBench(b *testing.B, jobFile, engine string) (benchSetup, *Session) {
	b.Helper()
	s, model := loadBench(b, jobFile)
	sess, err := model.Open(s.binding, Options{Engine: engine, IntraOpThreads: s.threads, Optimization: s.optimization})
	if errors.Is(err, ErrNotNative) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sess.Close() })
	return s, sess
}

// runORT opens model for s's binding and measures raw ORT Run on it.
func runORT(b *testing.B, s benchSetup, model *Model, opts Options) {
	b.Helper()
	sess, err := model.Open(s.binding, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	// Each worker owns its inputs and preallocated outputs, made
	// once: the loop is ORT's Run and nothing else.
	ins := make([][]ort.Value, s.workers)
	outs := make([][]ort.Value, s.workers)
	for w := range s.workers {
		for _, t := range s.tensors {
			v, err := newTensor(t)
			if err != nil {
				b.Fatal(err)
			}
			defer v.Destroy()
			ins[w] = append(ins[w], v)
		}
		outs[w] = make([]ort.Value, len(s.binding.Outputs))
		if err := sess.s.Run(ins[w], outs[w]); err != nil { // allocates outputs
			b.Fatal(err)
		}
		for _, v := range outs[w] {
			if _, ok := v.(*ort.Sequence); ok {
				b.Skip("model has a sequence output; outputs cannot be preallocated")
			}
			defer v.Destroy()
		}
	}
	runParallel(b, s.workers, s.rows, func(w int) error {
		return sess.s.Run(ins[w], outs[w])
	})
}

// benchJob is the part of a job file the benchmarks read, with the job
// file's defaults. Parsed here, not by jobs/spec: scoring imports nothing
// from jobs.
type benchJob struct {
	Model   benchModel `yaml:"model"`
	Scoring struct {
		ChunkRows      int    `yaml:"chunk_rows"`
		IntraOpThreads int    `yaml:"intra_op_threads"`
		Optimization   string `yaml:"graph_optimization"`
	} `yaml:"scoring"`
}

type benchModel struct {
	Path   string              `yaml:"path"`
	Inputs map[string][]string `yaml:"inputs"`
	Score  benchOutput         `yaml:"score"`
	Label  *benchOutput        `yaml:"label"`
}

type benchOutput struct {
	Output string `yaml:"output"`
	Class  *int64 `yaml:"class"`
}

func (m benchModel) wiring() scoring.Wiring {
	w := scoring.Wiring{Inputs: m.Inputs, Score: scoring.OutputRef{Output: m.Score.Output, Class: m.Score.Class}}
	if m.Label != nil {
		w.Label = &scoring.OutputRef{Output: m.Label.Output, Class: m.Label.Class}
	}
	return w
}

func loadBenchJob(b testing.TB, path string) benchJob {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var job benchJob
	job.Scoring.ChunkRows, job.Scoring.IntraOpThreads, job.Scoring.Optimization = 65536, 1, "all"
	if err := yaml.Unmarshal(data, &job); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	if !filepath.IsAbs(job.Model.Path) {
		job.Model.Path = filepath.Join(filepath.Dir(path), job.Model.Path)
	}
	return job
}

// BenchmarkCrossCheck is the per-chunk check alone (crossCheck on one
// chunk's native outputs): ONNX Runtime on the sampled rows and the
// comparison. Its ns/op against BenchmarkNative's is the check's share of
// the model runtime; times the chunks of a run, of the run's CPU.
func BenchmarkCrossCheck(b *testing.B) {
	for _, m := range benchModels {
		b.Run(m.name, func(b *testing.B) {
			s, sess := openBench(b, m.job, EngineNative)
			ctx := context.Background()
			tensors := s.tensors
			outs, err := sess.Run(ctx, tensors)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := sess.native.crossCheck(ctx, 2, tensors[0], outs); err != nil {
					b.Fatal(err)
				}
			}
			if sess.native.useORT.Load() {
				b.Fatalf("the check failed: %s", sess.Engine())
			}
		})
	}
}
