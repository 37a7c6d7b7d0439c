#!/usr/bin/env bash
# Explanations, part of make bench: exact TreeSHAP in batchscore against
# XGBoost's own (Booster.predict(pred_contribs=True), nthread=2) on trees.sh's
# XGBoost model (binary:logistic, 120 trees, depth 5, 12 features, missing
# values tracked) and rows, on the same cores. Variants, interleaved in each
# of BENCH_ROUNDS rounds, each under /usr/bin/time -v:
#   score     batchscore run, no explain: section (the baseline)
#   explain   the same run with explain: {top: 4, values: true}, every row
#   where     explain: only rows with score >= the median score (half)
#   xgb       XGBoost pred_contribs on the same rows already in memory
# The table: wall and CPU seconds (median and best), peak RSS; then rows
# explained per CPU-second for batchscore (explain's CPU minus score's: the
# explanation's own cost) and XGBoost, their ratio (goal >= 4), and the where
# variant's extra cost as a share of explain's (expected about its row share).
# Settings as trees.sh: BENCH_OUT, BENCH_ROUNDS, BENCH_ROWS, BENCH_RES. Prints
# "skipped: ..." without /usr/bin/time, /usr/bin/python3 or python3-xgboost.
source "$(dirname "$0")/common.sh"
log() { echo "explain: $*" >&2; }
tree_setup explain ""
SNAP=$T/snap-xgb-$ROWS
if [ ! -f "$SNAP/rows.f32" ]; then
	log "snapshot: $ROWS rows"
	rm -rf "$SNAP"
	go run ./testdata/bench/treesnap -rows "$ROWS" -nan 0.08 -out "$SNAP" -date "$DATE"
fi
"$PY" testdata/bench/explain_peer.py covers "$T/models/xgb_bench.json" "$T/xgb_bench.covers.json"

job() { # job NAME EXPLAIN-LINES
	local f=$T/explain-$1.yaml
	{
		echo "name: explain_$1"
		echo "source:"
		echo "  parquet: \"$SNAP/snapshot_date={{ .Date }}/*.parquet\""
		echo "model:"
		echo "  path: \"$T/models/xgb_bench.onnx\""
		echo "  inputs:"
		echo "    X: [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11]"
		echo "  score: {output: probabilities, class: 1}"
		echo "output:"
		echo "  table: \"$T/table-explain-$1\""
		echo "  keys: [row_id]"
		printf '%b' "$2"
	} >"$f"
	echo "$f"
}
run_bs() { # run_bs NAME JOB ROUND
	rm -rf "$T/table-explain-$1"
	"$TIME" -v -o "$RES/explain-$1-$3.time" bin/batchscore run "$2" --date "$DATE" --json >"$RES/explain-$1-$3.json" 2>"$RES/explain-$1-$3.log"
	rm -rf "$T/table-explain-$1"
}
SCORE_JOB=$(job score "")
# The median score (XGBoost's own prediction) sets where's threshold.
MEDIAN=$("$PY" testdata/bench/explain_peer.py median "$T/models/xgb_bench.json" "$SNAP/rows.f32")
EXPLAIN_JOB=$(job explain "explain:\n  top: 4\n  covers: \"$T/xgb_bench.covers.json\"\n  values: true\n")
WHERE_JOB=$(job where "explain:\n  top: 4\n  covers: \"$T/xgb_bench.covers.json\"\n  values: true\n  where: {score_min: $MEDIAN}\n")

for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS"
	run_bs score "$SCORE_JOB" "$r"
	run_bs explain "$EXPLAIN_JOB" "$r"
	"$TIME" -v -o "$RES/explain-xgb-$r.time" "$PY" testdata/bench/explain_peer.py contribs "$T/models/xgb_bench.json" "$SNAP/rows.f32" >"$RES/explain-xgb-$r.log" 2>&1
	run_bs where "$WHERE_JOB" "$r"
done

"$PY" - "$RES" "$ROUNDS" "$ROWS" <<'PYEOF' | tee "$RES/explain.md"
import json, statistics, sys
res, rounds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, "testdata/bench")
from summarize import parse_time
def parse(path):
    t = parse_time(path)
    return t["wall"], t["user"] + t["sys"], t["rss_kb"] / 1024
names = {"score": "batchscore run, no explain", "explain": "batchscore run, explain every row",
         "where": "batchscore run, explain score >= median", "xgb": "XGBoost pred_contribs nthread=2"}
print("| %s rows | wall s median (best) | CPU s median (best) | peak RSS MiB |" % f"{rows:,}")
print("|---|---|---|---|")
cpu = {}
for v in ("score", "explain", "where", "xgb"):
    runs = [parse("%s/explain-%s-%d.time" % (res, v, r)) for r in range(1, rounds + 1)]
    w = [x[0] for x in runs]; c = [x[1] for x in runs]; m = [x[2] for x in runs]
    cpu[v] = (statistics.median(c), min(c))
    print("| %s | %.2f (%.2f) | %.2f (%.2f) | %.0f |" % (names[v], statistics.median(w), min(w), statistics.median(c), min(c), statistics.median(m)))
explained = {}
for v in ("explain", "where"):
    m = json.load(open("%s/explain-%s-1.json" % (res, v)))
    explained[v] = m.get("explain", {}).get("rows", 0)
own = cpu["explain"][0] - cpu["score"][0]
print()
if own > 0:
    bs_rate = explained["explain"] / own
    xgb_rate = rows / cpu["xgb"][0]
    print("explanation alone: batchscore %.0f rows per CPU-s (explain CPU minus score CPU, medians), XGBoost %.0f: %.2fx; goal >= 4x" % (bs_rate, xgb_rate, bs_rate / xgb_rate))
    whole = explained["explain"] / cpu["explain"][0]
    print("whole run with explanations: %.0f rows per CPU-s, %.2fx XGBoost's pred_contribs alone" % (whole, whole / xgb_rate))
    share = explained["where"] / max(explained["explain"], 1)
    print("where: %.0f%% of the rows explained, %.0f%% of explain's extra CPU" % (100 * share, 100 * (cpu["where"][0] - cpu["score"][0]) / own))
PYEOF
