package trees

// BenchmarkChurn: churn_gbm.onnx on one 65,536-row chunk, one goroutine,
// this package against ONNX Runtime (one session, one intra-op thread).
// The chunk is the first rows of $BATCHSCORE_BENCH_SNAPSHOT (a glob of
// Parquet files with the model's 30 feature columns), or by default the
// 6,000 committed sample rows repeated. Each variant reports rows/s of
// wall time and rows per CPU-second of the process (getrusage), the
// figure that other load on a shared machine disturbs less.
//
//	trees           Classify: raw score, label and both probabilities
//	trees-score     Scores only (the leaf sums plus the base value)
//	trees-tables    Scores with the splits compiled as truth tables (the
//	                kernel models with other modes or NaN tracking get)
//	trees-walk      Scores with the node walk (the layout of deep trees)
//	ort-classifier  raw onnxruntime_go Run of the file as it is
//	                (TreeEnsembleClassifier), outputs preallocated
//
// scoring/onnx's BenchmarkEngines compares the two engines through the
// Session batchscore runs.
//
// Run the variants in interleaved rounds, one process per variant and
// round, e.g.
//
//	go test -c -o /tmp/trees.test ./scoring/trees
//	for r in 1 2 3; do for v in trees trees-score ort-classifier ort-batchscore; do
//	  (cd scoring/trees && /tmp/trees.test -test.run '^$' -test.bench "Churn/$v\$" -test.benchtime 3s)
//	done; done

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

const benchRows = 65536

func benchChunk(b *testing.B) []float32 {
	b.Helper()
	cols := churnFeatures(b)
	var src []float32
	if glob := os.Getenv("BATCHSCORE_BENCH_SNAPSHOT"); glob != "" {
		x, err := readMatrix(glob, cols)
		if err != nil {
			b.Fatal(err)
		}
		src = x
	} else {
		src, _ = customers(b)
	}
	x := make([]float32, 0, benchRows*30)
	for len(x) < benchRows*30 {
		x = append(x, src[:min(len(src), benchRows*30-len(x))]...)
	}
	return x
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs call b.N times and reports rows/s and rows/cpu-s.
func measure(b *testing.B, call func() error) {
	b.Helper()
	if err := call(); err != nil { // warm-up: ORT's first Run allocates
		b.Fatal(err)
	}
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	for range b.N {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	wall, used := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	rows := float64(b.N) * benchRows
	b.ReportMetric(rows/wall.Seconds(), "rows/s")
	if used > 0 {
		b.ReportMetric(rows/used.Seconds(), "rows/cpu-s")
	}
}

func BenchmarkChurn(b *testing.B) {
	initORT(b)
	model := readModel(b, "churn_gbm.onnx")
	x := benchChunk(b)
	var ts treeSet
	captureTrees = func(t treeSet) { ts = t }
	e, err := Load(model)
	captureTrees = nil
	if err != nil {
		b.Fatal(err)
	}
	tables, walk := *e, *e
	ts.tablesOnly = true
	tables.c, walk.c = ts.build(), ts.buildWalk()
	score, label, prob := make([]float32, benchRows), make([]int64, benchRows), make([]float32, 2*benchRows)

	b.Run("trees", func(b *testing.B) {
		measure(b, func() error { return e.Classify(x, 30, score, label, prob) })
	})
	b.Run("trees-score", func(b *testing.B) {
		measure(b, func() error { return e.Scores(x, 30, score) })
	})
	b.Run("trees-tables", func(b *testing.B) {
		measure(b, func() error { return tables.Scores(x, 30, score) })
	})
	b.Run("trees-walk", func(b *testing.B) {
		measure(b, func() error { return walk.Scores(x, 30, score) })
	})
	b.Run("ort-classifier", func(b *testing.B) {
		so, err := ort.NewSessionOptions()
		if err != nil {
			b.Fatal(err)
		}
		defer so.Destroy()
		if err := so.SetIntraOpNumThreads(1); err != nil {
			b.Fatal(err)
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			b.Fatal(err)
		}
		s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"features"}, []string{"label", "probabilities"}, so)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Destroy()
		in, err := ort.NewTensor(ort.NewShape(benchRows, 30), x)
		if err != nil {
			b.Fatal(err)
		}
		defer in.Destroy()
		lt, err := ort.NewEmptyTensor[int64](ort.NewShape(benchRows))
		if err != nil {
			b.Fatal(err)
		}
		defer lt.Destroy()
		pt, err := ort.NewEmptyTensor[float32](ort.NewShape(benchRows, 2))
		if err != nil {
			b.Fatal(err)
		}
		defer pt.Destroy()
		ins, outs := []ort.Value{in}, []ort.Value{lt, pt}
		measure(b, func() error { return s.Run(ins, outs) })
	})
}

// BenchmarkFamilies: Predict on 65,536 rows (the committed family inputs
// repeated, NaNs included) for each model in $BATCHSCORE_BENCH_TREES (a
// folder of .onnx files with 12-feature inputs, e.g. what
// build_tree_families.py --bench writes), or by default the committed
// families.
func BenchmarkFamilies(b *testing.B) {
	dir := os.Getenv("BATCHSCORE_BENCH_TREES")
	if dir == "" {
		dir = filepath.Join(repoRoot(b), "testdata", "models", "families")
	}
	src := readF32(b, filepath.Join(repoRoot(b), "testdata", "models", "families", "inputs.f32"))
	x := make([]float32, 0, benchRows*12)
	for len(x) < benchRows*12 {
		x = append(x, src[:min(len(src), benchRows*12-len(x))]...)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	for _, f := range files {
		model, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		e, err := Load(model)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]float32, benchRows*e.Columns())
		var label []int64
		if e.Op == Classifier {
			label = make([]int64, benchRows)
		}
		b.Run(strings.TrimSuffix(filepath.Base(f), ".onnx"), func(b *testing.B) {
			b.Log(e)
			measure(b, func() error { return e.Predict(x, 12, label, out) })
		})
	}
}
