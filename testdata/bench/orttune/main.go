// Command orttune measures ONNX Runtime alone on one model with settings
// that batchscore does not expose: session config entries, model variants
// (other operators, double inputs), chunk size, workers × intra-op
// threads. It is BenchmarkORT (scoring/onnx/bench_test.go) without the job
// file: the loop is ort Run on tensors made once, outputs allocated by the
// first Run and reused. Rows come from the float32 [N,30] .npy that
// testdata/bench/sklearn_peer.py caches, so ORT and the sklearn peer score
// the same rows. Used by testdata/bench/ort_tuning.sh; see BENCHMARKS.md.
//
//	go run ./testdata/bench/orttune -model M.onnx -npy out/bench/peer/snap-2m-features.npy \
//	    -chunk 65536 -workers 2 -threads 1 -config session.intra_op.allow_spinning=0
//
// -arena=false and -mempattern=false turn off ORT's CPU memory arena and
// memory pattern planning (both on by default, as in batchscore).
// testdata/bench/orttune/tree_rewrite.sh uses it for the tree classifier
// rewrite's settings.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

type configs []string

func (c *configs) String() string     { return strings.Join(*c, ",") }
func (c *configs) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	lib := flag.String("lib", os.Getenv("BATCHSCORE_ORT_LIB"), "libonnxruntime.so")
	model := flag.String("model", "testdata/models/churn_gbm.onnx", "model file")
	npy := flag.String("npy", "out/bench/peer/snap-2m-features.npy", "float32 [N,F] C-order .npy")
	input := flag.String("input", "features", "input name")
	outputs := flag.String("outputs", "label,probabilities", "output names, comma-separated")
	double := flag.Bool("double", false, "feed a float64 input")
	chunk := flag.Int("chunk", 65536, "rows per Run")
	workers := flag.Int("workers", 2, "goroutines sharing the session")
	threads := flag.Int("threads", 1, "intra-op threads")
	opt := flag.String("opt", "all", "graph optimization: all, extended, basic, disabled")
	dur := flag.Duration("time", 3*time.Second, "how long to run")
	label := flag.String("label", "", "name printed with the result")
	arena := flag.Bool("arena", true, "CPU memory arena (SetCpuMemArena)")
	memPattern := flag.Bool("mempattern", true, "memory pattern planning (SetMemPattern)")
	var cfg configs
	flag.Var(&cfg, "config", "session config entry key=value (repeatable)")
	flag.Parse()
	if err := run(*lib, *model, *npy, *input, strings.Split(*outputs, ","), *double, *chunk, *workers, *threads, *opt, *dur, *label, cfg, *arena, *memPattern); err != nil {
		fmt.Fprintln(os.Stderr, "orttune:", err)
		os.Exit(1)
	}
}

// readNpy reads a float32 C-order 2-D .npy.
func readNpy(path string) ([]float32, int, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, err
	}
	if len(b) < 10 || string(b[1:6]) != "NUMPY" {
		return nil, 0, 0, fmt.Errorf("%s: not a .npy", path)
	}
	var hlen, off int
	if b[6] == 1 {
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	} else {
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	}
	header := string(b[off : off+hlen])
	if !strings.Contains(header, "'<f4'") || strings.Contains(header, "'fortran_order': True") {
		return nil, 0, 0, fmt.Errorf("%s: want little-endian float32 C order, header %s", path, header)
	}
	m := regexp.MustCompile(`'shape': \((\d+), (\d+)\)`).FindStringSubmatch(header)
	if m == nil {
		return nil, 0, 0, fmt.Errorf("%s: want a 2-D array, header %s", path, header)
	}
	rows, _ := strconv.Atoi(m[1])
	cols, _ := strconv.Atoi(m[2])
	data := b[off+hlen:]
	out := make([]float32, rows*cols)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
	}
	return out, rows, cols, nil
}

var levels = map[string]ort.GraphOptimizationLevel{
	"all":      ort.GraphOptimizationLevelEnableAll,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"disabled": ort.GraphOptimizationLevelDisableAll,
}

func run(lib, model, npy, input string, outputs []string, double bool, chunk, workers, threads int,
	opt string, dur time.Duration, label string, cfg []string, arena, memPattern bool) error {
	x, n, f, err := readNpy(npy)
	if err != nil {
		return err
	}
	if workers*chunk > n {
		return fmt.Errorf("%d workers × %d rows > %d rows in %s", workers, chunk, n, npy)
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return err
	}
	defer ort.DestroyEnvironment()
	so, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	defer so.Destroy()
	// batchscore's settings (scoring/onnx/session.go), then the extras.
	if err := so.SetIntraOpNumThreads(threads); err != nil {
		return err
	}
	if err := so.SetInterOpNumThreads(1); err != nil {
		return err
	}
	level, ok := levels[opt]
	if !ok {
		return fmt.Errorf("-opt %q", opt)
	}
	if err := so.SetGraphOptimizationLevel(level); err != nil {
		return err
	}
	if err := so.SetCpuMemArena(arena); err != nil {
		return err
	}
	if err := so.SetMemPattern(memPattern); err != nil {
		return err
	}
	for _, kv := range cfg {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("-config %q: want key=value", kv)
		}
		if err := so.AddSessionConfigEntry(k, v); err != nil {
			return fmt.Errorf("config %s: %w", kv, err)
		}
	}
	sess, err := ort.NewDynamicAdvancedSession(model, []string{input}, outputs, so)
	if err != nil {
		return err
	}
	defer sess.Destroy()

	// Worker w scores rows [w·chunk, (w+1)·chunk) of the array, again and
	// again; its input and outputs are made once.
	ins := make([][]ort.Value, workers)
	outs := make([][]ort.Value, workers)
	var meanP1 float64
	for w := range workers {
		rows := x[w*chunk*f : (w+1)*chunk*f]
		shape := ort.NewShape(int64(chunk), int64(f))
		var v ort.Value
		if double {
			d := make([]float64, len(rows))
			for i, r := range rows {
				d[i] = float64(r)
			}
			v, err = ort.NewTensor(shape, d)
		} else {
			v, err = ort.NewTensor(shape, append([]float32(nil), rows...))
		}
		if err != nil {
			return err
		}
		defer v.Destroy()
		ins[w] = []ort.Value{v}
		outs[w] = make([]ort.Value, len(outputs))
		if err := sess.Run(ins[w], outs[w]); err != nil { // allocates the outputs
			return err
		}
		for _, o := range outs[w] {
			defer o.Destroy()
		}
		if w == 0 {
			meanP1 = mean(outs[w][len(outs[w])-1])
		}
	}

	var calls, stop atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	start, cpu0 := time.Now(), cpuTime()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for stop.Load() == 0 {
				if err := sess.Run(ins[w], outs[w]); err != nil {
					errs[w] = err
					return
				}
				calls.Add(1)
			}
		}()
	}
	time.Sleep(dur)
	stop.Store(1)
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	total := float64(calls.Load()) * float64(chunk)
	if label == "" {
		label = model
	}
	fmt.Printf("orttune\t%s\tchunk=%d\tworkers=%d\tthreads=%d\topt=%s\tarena=%t\tmempattern=%t\tconfig=%s\t%.0f rows/s\t%.0f rows/cpu-s\tcalls=%d\tmean_p1_chunk0=%.6f\n",
		label, chunk, workers, threads, opt, arena, memPattern, strings.Join(cfg, ";"), total/elapsed.Seconds(), total/cpu.Seconds(), calls.Load(), meanP1)
	return nil
}

// mean of the last column of a float32 [N,k] or [N] tensor: the positive
// class's probability, to check that model variants agree.
func mean(v ort.Value) float64 {
	t, ok := v.(*ort.Tensor[float32])
	if !ok {
		return math.NaN()
	}
	d, s := t.GetData(), t.GetShape()
	k := 1
	if len(s) == 2 {
		k = int(s[1])
	}
	var sum float64
	for i := k - 1; i < len(d); i += k {
		sum += float64(d[i])
	}
	return sum / float64(len(d)/k)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
