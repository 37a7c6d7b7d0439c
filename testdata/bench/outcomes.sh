#!/usr/bin/env bash
# Outcomes, part of make bench: what `batchscore outcomes` costs for a date
# of BENCH_ROWS scored rows (default 2,000,000), against what scoring them
# cost. In each of BENCH_ROUNDS rounds (default 3), interleaved: run --force
# of the GBM job on the snapshot (the scoring), then outcomes of that date
# with every scored row labelled (the version's own files as the labels,
# column "label": the join, the metrics and the files are the same work
# whatever the labels say), under /usr/bin/time -v. Reports CPU seconds
# (user+sys) and peak RSS, medians and best, and the ratio outcomes / run
# (aim: below 1). A second outcomes per round with BENCH_OUTCOMES_SPILL
# rows in memory per side (default 100,000) measures the spilled join.
#
# Called by run.sh with BENCH_RES; standalone it makes its own folder under
# BENCH_OUT/results. Raw files: outcomes-<what>-<round>.time; the table goes
# to stdout and outcomes.md. Without /usr/bin/time: "skipped: ...".
source "$(dirname "$0")/common.sh"
log() { printf '[bench outcomes %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
for tool in bin/batchscore bin/gensnapshot; do
	[ -x "$tool" ] || { echo "bench outcomes: $tool is missing (run 'make build')" >&2; exit 1; }
done
[ -x "$TIME" ] || { echo "skipped: no /usr/bin/time"; exit 0; }
[ -x "$PY" ] || { echo "skipped: no $PY for the summary"; exit 0; }
RES=${BENCH_RES:-$OUT/results/outcomes-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"
W="$OUT/outcomes"
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT

bin/gensnapshot --date "$DATE" --rows "$ROWS" --out "$W/snap" -q
JOB="$W/job.yaml"
sed -e "s#^\(  parquet: \).*#\1$W/snap/snapshot_date={{ .Date }}/*.parquet#" \
	-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
	-e "s#^\(  table: \).*#\1$W/table#" \
	-e "s#^\(  baseline: \)\.\./#\1$ROOT/#" \
	-e '/check: date_range/d' -e '/freshness:/d' \
	configs/churn_nightly.yaml >"$JOB"
grep -q "$W/table" "$JOB" || { echo "bench outcomes: could not rewrite configs/churn_nightly.yaml" >&2; exit 1; }
LABELS="$W/labels/*.parquet"

timed() {
	local f=$1
	shift
	"$TIME" -v -o "$RES/outcomes-$f.time" bin/batchscore "$@" >/dev/null 2>"$RES/outcomes-$f.log" ||
		{ echo "bench outcomes: bin/batchscore $* failed; see $RES/outcomes-$f.log" >&2; exit 1; }
}
for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS"
	timed "run-$r" run "$JOB" --date "$DATE" --force
	rm -rf "$W/labels"
	mkdir -p "$W/labels"
	cp "$W/table/current/$DATE"/part-*.parquet "$W/labels/"
	timed "eval-$r" outcomes "$JOB" --date "$DATE" --labels "$LABELS" --label label
	timed "spill-$r" outcomes "$JOB" --date "$DATE" --labels "$LABELS" --label label --spill-rows "${BENCH_OUTCOMES_SPILL:-100000}"
done

"$PY" - "$RES" "$ROUNDS" "$ROWS" <<'PYEOF' | tee "$RES/outcomes.md"
import re, statistics, sys
res, rounds, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def read(tag):
    t = open(f"{res}/outcomes-{tag}.time").read()
    g = lambda k: float(re.search(k + r".*: ([0-9.]+)", t).group(1))
    return {"cpu": g("User time") + g("System time"), "rss": g("Maximum resident") / 1024}
runs = {v: [read(f"{v}-{r}") for r in range(1, rounds + 1)] for v in ("run", "eval", "spill")}
print(f"### Outcomes of {rows:,} scored rows ({rounds} rounds)\n")
print("| step | CPU s (median / best) | peak RSS MiB (median / best) |")
print("|---|---|---|")
for v, rs in runs.items():
    c, m = [x["cpu"] for x in rs], [x["rss"] for x in rs]
    print(f"| {v} | {statistics.median(c):.2f} / {min(c):.2f} | {statistics.median(m):.0f} / {min(m):.0f} |")
for v in ("eval", "spill"):
    xs = [e["cpu"] / s["cpu"] for e, s in zip(runs[v], runs["run"])]
    print(f"\n- CPU, outcomes ({v}) / scoring run: {statistics.median(xs):.2f} (best {min(xs):.2f}); aim < 1")
PYEOF
