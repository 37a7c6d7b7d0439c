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
# The variants' order turns by one each round (no variant always runs first
# or after the same one). The table: wall and CPU seconds (median and best),
# peak RSS; then, per round and paired within it, rows explained per
# CPU-second for batchscore (explain's CPU minus score's: the explanation's
# own cost) and for XGBoost (its call alone, DMatrix and pred_contribs, as
# the peer times it, and its whole process), their ratio (goal >= 4) as the
# median and the best of the rounds' ratios, and the where variant's extra
# cost as a share of explain's (expected about its row share). Every run's
# manifest is checked (published, rows explained) before it counts.
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

check_bs() { # check_bs NAME ROUND: the run published and explained rows
	"$PY" - "$RES/explain-$1-$2.json" "$1" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
x = m.get("explain") or {}
ok = m.get("output", {}).get("published") and (sys.argv[2] == "score" or x.get("rows", 0) > 0)
if not ok:
    sys.exit("explain: %s: run not published or nothing explained: status %s, explain %s" % (sys.argv[1], m.get("status"), x))
PYEOF
}
run_xgb() { # run_xgb ROUND
	"$TIME" -v -o "$RES/explain-xgb-$1.time" "$PY" testdata/bench/explain_peer.py contribs "$T/models/xgb_bench.json" "$SNAP/rows.f32" >"$RES/explain-xgb-$1.log" 2>&1
}
VARIANTS=(score explain xgb where)
for r in $(seq 1 "$ROUNDS"); do
	log "round $r of $ROUNDS"
	for i in 0 1 2 3; do
		v=${VARIANTS[$(((i + r - 1) % 4))]}
		case $v in
		score) run_bs score "$SCORE_JOB" "$r"; check_bs score "$r" ;;
		explain) run_bs explain "$EXPLAIN_JOB" "$r"; check_bs explain "$r" ;;
		where) run_bs where "$WHERE_JOB" "$r"; check_bs where "$r" ;;
		xgb) run_xgb "$r" ;;
		esac
	done
done

"$PY" - "$RES" "$ROUNDS" "$ROWS" <<'PYEOF' | tee "$RES/explain.md"
import json, re, statistics, sys
res, rounds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, "testdata/bench")
from summarize import parse_time
def parse(path):
    t = parse_time(path)
    return t["wall"], t["user"] + t["sys"], t["rss_kb"] / 1024
names = {"score": "batchscore run, no explain", "explain": "batchscore run, explain every row",
         "where": "batchscore run, explain score >= median", "xgb": "XGBoost pred_contribs nthread=2 (whole process)"}
R = range(1, rounds + 1)
print("| %s rows | wall s median (best) | CPU s median (best) | peak RSS MiB |" % f"{rows:,}")
print("|---|---|---|---|")
cpu = {}
for v in ("score", "explain", "where", "xgb"):
    runs = [parse("%s/explain-%s-%d.time" % (res, v, r)) for r in R]
    w = [x[0] for x in runs]; c = [x[1] for x in runs]; m = [x[2] for x in runs]
    cpu[v] = c
    print("| %s | %.2f (%.2f) | %.2f (%.2f) | %.0f |" % (names[v], statistics.median(w), min(w), statistics.median(c), min(c), statistics.median(m)))
call = []
for r in R:
    m = re.search(r"call: cpu_s ([0-9.]+) wall_s ([0-9.]+)", open("%s/explain-xgb-%d.log" % (res, r)).read())
    call.append(float(m.group(1)))
print("| XGBoost pred_contribs call alone (DMatrix + predict) | | %.2f (%.2f) | |" % (statistics.median(call), min(call)))
explained = {v: json.load(open("%s/explain-%s-1.json" % (res, v)))["explain"]["rows"] for v in ("explain", "where")}
# Paired within each round: the explanation's own CPU is explain's minus
# score's of the same round; a round where noise makes it <= 0 is left out.
own = [cpu["explain"][i] - cpu["score"][i] for i in range(rounds)]
bs = [explained["explain"] / o if o > 0 else None for o in own]
xc = [rows / c for c in call]
xp = [rows / c for c in cpu["xgb"]]
ok = [i for i in range(rounds) if bs[i] is not None]
print()
print("rows explained per CPU-second, median (best) of %d rounds:" % rounds)
if not ok:
    print("  batchscore: n/a (explain's CPU never above score's: too few rows for the noise)")
else:
    b = [bs[i] for i in ok]
    print("  batchscore, the explanation alone (explain minus score, per round): %.0f (%.0f)%s" % (
        statistics.median(b), max(b), "" if len(ok) == rounds else "; %d noisy rounds left out" % (rounds - len(ok))))
    print("  XGBoost pred_contribs, the call alone: %.0f (%.0f); whole process: %.0f (%.0f)" % (
        statistics.median(xc), max(xc), statistics.median(xp), max(xp)))
    ratio = [bs[i] / xc[i] for i in ok]
    print("  ratio against the call alone, paired per round: median %.2fx, best %.2fx, worst %.2fx; goal >= 4x" % (
        statistics.median(ratio), max(ratio), min(ratio)))
    whole = [explained["explain"] / cpu["explain"][i] for i in range(rounds)]
    print("  whole batchscore run with explanations: %.0f (%.0f), %.2fx XGBoost's call alone (medians)" % (
        statistics.median(whole), max(whole), statistics.median(whole) / statistics.median(xc)))
    share = explained["where"] / max(explained["explain"], 1)
    extra = [(cpu["where"][i] - cpu["score"][i]) / own[i] for i in ok]
    print("where: %.0f%% of the rows explained, %.0f%% of explain's extra CPU (median of rounds)" % (100 * share, 100 * statistics.median(extra)))
PYEOF
