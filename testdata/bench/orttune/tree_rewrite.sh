#!/usr/bin/env bash
# The tree classifier rewrite (scoring/onnx/treeclassifier.go) measured on
# ONNX Runtime alone: BenchmarkTreeRewrite (scoring/onnx) on churn_gbm.onnx
# as the file has it ("classifier"), as Open rewrites it ("regressor") and
# as an ai.onnx.ml opset 5 TreeEnsemble ("te5"); raw ORT Run, 2 goroutines
# x 1 intra-op thread, 65,536-row chunks from the first rows of the 2M
# snapshot of make bench. Each of TREE_ROUNDS (default 5) rounds runs every
# variant once, in an order rotated from round to round; the summary gives
# the best and median rows/s and the median rows per CPU-second.
#
#   testdata/bench/orttune/tree_rewrite.sh     # results in out/bench/results/<UTC>-tree/
#
# TREE_SETTINGS=1 adds session settings on the rewritten graph (orttune),
# see below. Settings: TREE_ROUNDS, TREE_TIME (go benchtime, default 3s), TREE_VARIANTS
# (default "classifier regressor te5"), BENCH_OUT, BATCHSCORE_ORT_LIB, and
# scoring/onnx's BATCHSCORE_BENCH_* (chunk rows, workers, threads).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
OUT=$(cd "$OUT" && pwd)
ROUNDS=${TREE_ROUNDS:-5}
T=${TREE_TIME:-3s}
read -r -a VARIANTS <<<"${TREE_VARIANTS:-classifier regressor te5}"
GO=${GO:-go}
export BATCHSCORE_ORT_LIB=${BATCHSCORE_ORT_LIB:-$ROOT/third_party/onnxruntime-1.24.1/libonnxruntime.so.1}
export BATCHSCORE_BENCH_SNAPSHOT=${BATCHSCORE_BENCH_SNAPSHOT:-$OUT/snap-2m/snapshot_date=2026-12-01/*.parquet}
RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-tree"
mkdir -p "$RES" "$OUT/bin"
$GO test -c -o "$OUT/bin/onnx-tree.test" ./scoring/onnx
log() { printf '[tree_rewrite %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

n=${#VARIANTS[@]}
for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
	for k in $(seq 0 $((n - 1))); do
		v=${VARIANTS[$(((k + r - 1) % n))]}
		"$OUT/bin/onnx-tree.test" -test.run '^$' -test.bench "^BenchmarkTreeRewrite\$/^$v\$" \
			-test.benchtime "$T" | grep '^Benchmark' | sed "s/^/round=$r load=$(cut -d' ' -f1 /proc/loadavg) /" |
			tee -a "$RES/bench.txt"
	done
done

# Summary: best and median rows/s, median rows/CPU-s per variant.
/usr/bin/python3 - "$RES/bench.txt" <<'EOF' | tee "$RES/summary.txt"
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.search(r'BenchmarkTreeRewrite/(\S+?)(?:-\d+)?\s.*?([\d.e+]+) rows/cpu-s.*?', line)
    rs = re.search(r'([\d.e+]+) rows/s', line)
    cs = re.search(r'([\d.e+]+) rows/cpu-s', line)
    if m and rs and cs:
        rows.setdefault(m.group(1), []).append((float(rs.group(1)), float(cs.group(1))))
base = rows.get("classifier")
print("%-12s %6s %12s %12s %14s  %s" % ("variant", "rounds", "best rows/s", "median rows/s", "median rows/cpu-s", "vs classifier (best / median / cpu)"))
for v, xs in rows.items():
    best = max(x[0] for x in xs)
    med = statistics.median(x[0] for x in xs)
    cpu = statistics.median(x[1] for x in xs)
    rel = ""
    if base and v != "classifier":
        b0, m0, c0 = max(x[0] for x in base), statistics.median(x[0] for x in base), statistics.median(x[1] for x in base)
        rel = "%+.1f%% / %+.1f%% / %+.1f%%" % (100 * (best / b0 - 1), 100 * (med / m0 - 1), 100 * (cpu / c0 - 1))
    print("%-12s %6d %12.0f %12.0f %14.0f  %s" % (v, len(xs), best, med, cpu, rel))
EOF
# Optional (TREE_SETTINGS=1): session settings on the rewritten graph with
# orttune (raw onnxruntime_go on the .npy rows that sklearn_peer.py caches),
# interleaved the same way. The rewritten and te5 models are written by
# TestDumpTreeVariants.
if [ "${TREE_SETTINGS:-}" = 1 ]; then
	NPY="$OUT/peer/snap-2m-features.npy"
	[ -f "$NPY" ] || { echo "tree_rewrite: $NPY is missing (make bench)" >&2; exit 1; }
	VAR=$(mktemp -d /tmp/tree_variants.XXXXXX)
	trap 'rm -rf "$VAR"' EXIT
	BATCHSCORE_TREE_DUMP=$VAR "$OUT/bin/onnx-tree.test" -test.run '^TestDumpTreeVariants$' >/dev/null
	$GO build -o "$OUT/bin/orttune" ./testdata/bench/orttune
	CLF=testdata/models/churn_gbm.onnx REG=$VAR/regressor.onnx
	settings=(
		"classifier -model $CLF"
		"regressor -model $REG"
		"regressor-probabilities-only -model $REG -outputs probabilities"
		"regressor-opt-basic -model $REG -opt basic"
		"regressor-opt-disabled -model $REG -opt disabled"
		"regressor-no-arena -model $REG -arena=false"
		"regressor-no-mempattern -model $REG -mempattern=false"
		"regressor-1x2-nospin -model $REG -workers 1 -threads 2 -config session.intra_op.allow_spinning=0"
		"te5 -model $VAR/te5.onnx"
	)
	m=${#settings[@]}
	for r in $(seq 1 "$ROUNDS"); do
		log "settings round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
		for k in $(seq 0 $((m - 1))); do
			# shellcheck disable=SC2086
			"$OUT/bin/orttune" -npy "$NPY" -time "$T" -label ${settings[$(((k + r - 1) % m))]} |
				sed "s/^/round=$r load=$(cut -d' ' -f1 /proc/loadavg) /" | tee -a "$RES/orttune.txt"
		done
	done
	/usr/bin/python3 - "$RES/orttune.txt" <<'EOF' | tee "$RES/settings.txt"
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rs = re.search(r'([\d.]+) rows/s', line)
    cs = re.search(r'([\d.]+) rows/cpu-s', line)
    if len(f) > 1 and rs and cs:
        rows.setdefault(f[1], []).append((float(rs.group(1)), float(cs.group(1))))
c0 = statistics.median(x[1] for x in rows["classifier"])
r0 = statistics.median(x[1] for x in rows["regressor"])
print("%-30s %6s %12s %13s %17s  %s" % ("setting (2 x 1 unless said)", "rounds", "best rows/s", "median rows/s", "median rows/cpu-s", "cpu vs classifier / vs regressor"))
for v, xs in rows.items():
    cpu = statistics.median(x[1] for x in xs)
    print("%-30s %6d %12.0f %13.0f %17.0f  %+.1f%% / %+.1f%%" % (v, len(xs), max(x[0] for x in xs),
          statistics.median(x[0] for x in xs), cpu, 100 * (cpu / c0 - 1), 100 * (cpu / r0 - 1)))
EOF
fi
log "results: $RES"
