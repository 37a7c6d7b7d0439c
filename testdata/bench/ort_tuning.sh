#!/usr/bin/env bash
# ONNX Runtime tuning for the GBM (issue 8, item 2). Not part of make bench:
# run by hand after it (it needs out/bench/snap-2m and the .npy and pickled
# model that testdata/bench/sklearn_peer.py caches in out/bench/peer):
#
#   testdata/bench/ort_tuning.sh            # results in out/bench/results/<UTC>-ort/
#
# 1. BenchmarkORT (scoring/onnx/bench_test.go) with its env knobs: chunk rows
#    8k/32k/65k/256k (2 workers × 1 thread), workers × intra-op threads
#    2×1, 1×2, 4×1, 1×1 (65,536 rows);
# 2. testdata/bench/orttune (raw onnxruntime_go, settings batchscore does not
#    expose) on model variants that testdata/bench/ort_variants.py exports
#    into a temp folder, and session config entries / optimisation levels;
# every configuration in each of ORT_TUNE_ROUNDS (default 2) interleaved
# rounds. Rows/CPU-second is the figure to compare: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
OUT=$(cd "$OUT" && pwd)
ROUNDS=${ORT_TUNE_ROUNDS:-2}
T=${ORT_TUNE_TIME:-3s}
GO=${GO:-go}
export BATCHSCORE_ORT_LIB=${BATCHSCORE_ORT_LIB:-$ROOT/third_party/onnxruntime-1.24.1/libonnxruntime.so.1}
SNAP="$OUT/snap-2m/snapshot_date=2026-12-01/*.parquet"
NPY="$OUT/peer/snap-2m-features.npy"
[ -f "$NPY" ] && [ -f "$OUT/peer/churn_gbm.pkl" ] || { echo "ort_tuning: run testdata/bench/sklearn_peer.py (or make bench) first" >&2; exit 1; }
RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-ort"
mkdir -p "$RES" "$OUT/bin"
VAR=$(mktemp -d /tmp/ort_variants.XXXXXX)
trap 'rm -rf "$VAR"' EXIT
/usr/bin/python3 testdata/bench/ort_variants.py "$VAR" | tee "$RES/variants.txt"
$GO test -c -o "$OUT/bin/onnx.test" ./scoring/onnx
$GO build -o "$OUT/bin/orttune" ./testdata/bench/orttune
log() { printf '[ort_tuning %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

bort() { # bort <label> <chunk> <workers> <threads>
	echo "== $1 chunk=$2 workers=$3 threads=$4" >>"$RES/benchort.txt"
	BATCHSCORE_BENCH_SNAPSHOT="$SNAP" BATCHSCORE_BENCH_CHUNK_ROWS=$2 BATCHSCORE_BENCH_WORKERS=$3 \
		BATCHSCORE_BENCH_INTRA_OP_THREADS=$4 "$OUT/bin/onnx.test" -test.run '^$' \
		-test.bench '^BenchmarkORT$/^gbm$' -test.benchtime "$T" | grep '^Benchmark' |
		sed "s/^/$1 chunk=$2 workers=$3 threads=$4 /" | tee -a "$RES/benchort.txt"
}
tune() { # tune <label> <orttune flags...>
	"$OUT/bin/orttune" -npy "$NPY" -time "$T" -label "$@" | tee -a "$RES/orttune.txt"
}
for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS: BenchmarkORT chunk sizes and threads (load $(cut -d' ' -f1 /proc/loadavg))"
	for c in 8192 32768 65536 262144; do bort chunk $c 2 1; done
	bort threads 65536 1 2
	bort threads 65536 4 1
	bort percore 65536 1 1
	log "round $r/$ROUNDS: orttune variants and session settings"
	tune base -model "$VAR/base.onnx" -workers 1
	tune base-p-only -model "$VAR/base.onnx" -workers 1 -outputs probabilities
	tune bfs -model "$VAR/bfs.onnx" -workers 1
	tune thr_tensor -model "$VAR/thr_tensor.onnx" -workers 1
	tune double -model "$VAR/double.onnx" -workers 1 -double
	tune regressor -model "$VAR/regressor.onnx" -workers 1 -outputs p1
	tune te5 -model "$VAR/te5.onnx" -workers 1 -outputs p1
	tune opt-disabled -model "$VAR/base.onnx" -workers 1 -opt disabled
	tune base-2x1 -model "$VAR/base.onnx" -workers 2
	tune regressor-2x1 -model "$VAR/regressor.onnx" -workers 2 -outputs p1
	tune 1x2-spin -model "$VAR/base.onnx" -workers 1 -threads 2 -config session.intra_op.allow_spinning=1
	tune 1x2-nospin -model "$VAR/base.onnx" -workers 1 -threads 2 -config session.intra_op.allow_spinning=0
	tune 2x1-nospin -model "$VAR/base.onnx" -workers 2 -config session.intra_op.allow_spinning=0
	tune 2x1-denormal0 -model "$VAR/base.onnx" -workers 2 -config session.set_denormal_as_zero=1
done
log "results: $RES"
