#!/usr/bin/env bash
# Tree families, part of make bench: batchscore end to end (Parquet in,
# result table out, the native engine) against each model's own framework
# as a whole Python process scoring the same rows already in memory
# (memory-mapped float32), on the same cores:
#   xgb  XGBoost binary:logistic, 120 trees, depth 5, 12 features, missing
#        values tracked, exported as onnxmltools writes it (BRANCH_LT), on
#        rows with NaNs; peer: xgboost.Booster.inplace_predict, nthread=2;
#   rf   scikit-learn RandomForestClassifier, 3 classes, 100 trees, depth 8,
#        exported as skl2onnx writes it, on NaN-free rows (scikit-learn's
#        forests take no NaN); peer: predict_proba with n_jobs=2.
# The models come from testdata/models/build_tree_families.py --bench, the
# rows from testdata/bench/treesnap (Parquet for batchscore, rows.f32 for the
# peers), both made once under BENCH_OUT/trees and reused.
#
# In each of BENCH_ROUNDS rounds (default 3) the four processes run one
# after another, interleaved (bs-xgb, py-xgb, bs-rf, py-rf), each under
# /usr/bin/time -v. The table: per variant the median and best of wall
# seconds and CPU seconds (user + system), peak RSS, and the peer/batchscore
# ratios (above 1: batchscore faster). Settings: BENCH_OUT (default
# out/bench), BENCH_ROUNDS, BENCH_ROWS (default 2,000,000), BENCH_RES (the
# results folder; standalone: BENCH_OUT/results/<time>). Prints "skipped: ..."
# without /usr/bin/time, /usr/bin/python3, python3-xgboost or python3-sklearn.
source "$(dirname "$0")/common.sh"
log() { echo "trees: $*" >&2; }
tree_setup trees " (apt-get install python3-xgboost python3-sklearn python3-onnx)"
# Snapshots, once per row count.
for kind in xgb rf; do
	snap=$T/snap-$kind-$ROWS
	if [ ! -f "$snap/rows.f32" ]; then
		nan=0.08
		[ "$kind" = rf ] && nan=0
		log "snapshot $kind: $ROWS rows"
		rm -rf "$snap"
		go run ./testdata/bench/treesnap -rows "$ROWS" -nan "$nan" -out "$snap" -date "$DATE"
	fi
done

job() { # job KIND MODEL SCORE: a job file reading snap-KIND
	local kind=$1 model=$2 score=$3
	local f=$T/$kind.yaml
	{
		echo "name: trees_$kind"
		echo "source:"
		echo "  parquet: \"$T/snap-$kind-$ROWS/snapshot_date={{ .Date }}/*.parquet\""
		echo "model:"
		echo "  path: \"$T/models/$model\""
		echo "  inputs:"
		echo "    X: [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11]"
		echo "  score: $score"
		echo "  label: {output: label}"
		echo "output:"
		echo "  table: \"$T/table-$kind\""
		echo "  keys: [row_id]"
	} >"$f"
	echo "$f"
}
XGB_JOB=$(job xgb xgb_bench.onnx "{output: probabilities, class: 1}")
RF_JOB=$(job rf rf_bench.onnx "{output: probabilities, class: 2}")

run_bs() { # run_bs KIND JOB ROUND
	rm -rf "$T/table-$1"
	"$TIME" -v -o "$RES/trees-bs-$1-$3.time" bin/batchscore run "$2" --date "$DATE" --json >"$RES/trees-bs-$1-$3.json" 2>"$RES/trees-bs-$1-$3.log"
	rm -rf "$T/table-$1"
}
run_py() { # run_py KIND MODEL ROUND
	"$TIME" -v -o "$RES/trees-py-$1-$3.time" "$PY" testdata/bench/trees_peer.py "$1" "$2" "$T/snap-$1-$ROWS/rows.f32" >"$RES/trees-py-$1-$3.log" 2>&1
}

for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS"
	run_bs xgb "$XGB_JOB" "$r"
	run_py xgb "$T/models/xgb_bench.json" "$r"
	run_bs rf "$RF_JOB" "$r"
	run_py rf "$T/models/rf_bench.pkl" "$r"
done
grep -h '"engine"' "$RES"/trees-bs-*-1.json | sed 's/^ */trees: /' >&2 || true

"$PY" - "$RES" "$ROUNDS" "$ROWS" <<'PYEOF' | tee "$RES/trees.md"
import statistics, sys
res, rounds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, "testdata/bench")
from summarize import parse_time
def parse(path):
    t = parse_time(path)
    return t["wall"], t["user"] + t["sys"], t["rss_kb"] / 1024
print("| %s rows | variant | wall s median (best) | CPU s median (best) | peak RSS MiB |" % f"{rows:,}")
print("|---|---|---|---|---|")
med = {}
for kind in ("xgb", "rf"):
    for who in ("bs", "py"):
        runs = [parse("%s/trees-%s-%s-%d.time" % (res, who, kind, r)) for r in range(1, rounds + 1)]
        w = [x[0] for x in runs]; c = [x[1] for x in runs]; m = [x[2] for x in runs]
        med[who, kind] = (statistics.median(w), min(w), statistics.median(c), min(c))
        name = {"bs": "batchscore run (native)", "py": {"xgb": "Booster.inplace_predict nthread=2", "rf": "predict_proba n_jobs=2"}[kind]}[who]
        print("| %s | %s | %.2f (%.2f) | %.2f (%.2f) | %.0f |" % (kind, name, statistics.median(w), min(w), statistics.median(c), min(c), statistics.median(m)))
print()
for kind in ("xgb", "rf"):
    b, p = med["bs", kind], med["py", kind]
    print("%s: peer/batchscore wall %.2fx median (%.2fx best), CPU %.2fx median (%.2fx best); goal >= 1.2x" % (kind, p[0] / b[0], p[1] / b[1], p[2] / b[2], p[3] / b[3]))
PYEOF
