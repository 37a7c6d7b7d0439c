#!/usr/bin/env bash
# Reuse across runs, part of make bench: what a process that runs a job
# many times (a backfill, serve) pays per run and holds in memory, against
# one run. The GBM job (configs/churn_nightly.yaml) on N small dates
# (BENCH_REUSE_DATES, default 30, of BENCH_REUSE_ROWS rows each, default
# 10,000; 2,000 under bench-smoke's small BENCH_ROWS).
#
# In each of BENCH_ROUNDS rounds (default 3), interleaved, every process
# under /usr/bin/time -v:
#   one     bin/batchscore run of one small date;
#   bf      bin/batchscore run --from --to: the N dates in one process
#           (--reprocess all, so each date scores);
#   big     bin/batchscore run of one date of N x rows rows (the backfill's
#           rows in one run: what the rows cost without the per-date work);
#   serve1  bin/batchscore serve catching up 1 missed date (catchup: 1),
#           stopped with SIGTERM once it is published;
#   serveN  the same catching up N missed dates (catchup: N): the job run
#           N times by one daemon.
# Ratios (reuse.md, medians and best of the rounds): peak RSS bf / one and
# serveN / serve1 (the issue's aim: <= 1.1), and rows per CPU-second of the
# backfill against the big run.
#
# Called by run.sh with BENCH_RES; standalone it makes its own results
# folder under BENCH_OUT/results. Settings: BENCH_OUT (default out/bench),
# BENCH_ROUNDS, BENCH_ROWS (only to detect bench-smoke), BENCH_REUSE_DATES,
# BENCH_REUSE_ROWS, BATCHSCORE_ORT_LIB. Prints "skipped: ..." without
# /usr/bin/time or /usr/bin/python3.
source "$(dirname "$0")/common.sh"
N=${BENCH_REUSE_DATES:-30}
SMALL=${BENCH_REUSE_ROWS:-10000}
if [ -z "${BENCH_REUSE_ROWS:-}" ] && [ "$ROWS" -lt 2000000 ]; then
	SMALL=2000
fi
log() { printf '[bench reuse %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

for tool in "$TIME" "$PY"; do
	if [ ! -x "$tool" ]; then
		echo "skipped: reuse bench needs $tool"
		exit 0
	fi
done
for tool in bin/batchscore bin/gensnapshot; do
	[ -x "$tool" ] || { echo "bench reuse: $tool is missing (run 'make build')" >&2; exit 1; }
done
RES=${BENCH_RES:-$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"
W="$OUT/reuse"
mkdir -p "$W/jobs"

# Dates: the N days up to the last 02:00 UTC fire (serve catches them
# up; before 02:00 that is yesterday's), and the day before them, which
# the serve variants publish first as their history.
FIRE=$(date -u -d "now - 2 hours" +%F)
day() { date -u -d "$FIRE - $1 days" +%F; }
FIRST=$(day $((N - 1)))
LAST=$(day 0)
HIST=$(day "$N")
stamp="rows=$SMALL dates=$N last=$LAST"
if [ "$(cat "$W/.stamp" 2>/dev/null)" != "$stamp" ]; then
	log "snapshots: $N dates of $SMALL rows, one of $((N * SMALL))"
	rm -rf "$W/snap" "$W/big"
	for k in $(seq 0 "$N"); do
		bin/gensnapshot --date "$(day "$k")" --rows "$SMALL" --out "$W/snap" -q
	done
	bin/gensnapshot --date "$LAST" --rows $((N * SMALL)) --files $(((N * SMALL + 499999) / 500000)) --out "$W/big" -q
	echo "$stamp" >"$W/.stamp"
fi

# job <name> <snapshot root> [catchup]: the repository's job with the
# paths changed; dates differ in size from none to the next, so the row
# change check goes.
job() {
	sed -e "s#^\(  parquet: \).*#\1$W/$2/snapshot_date={{ .Date }}/*.parquet#" \
		-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
		-e "s#^\(  table: \).*#\1$W/tables/$1#" \
		-e "s#^\(  baseline: \)\.\./#\1$ROOT/#" \
		-e "/max_row_change_pct/d" \
		-e "s#^timezone: UTC#timezone: UTC\ncatchup: ${3:-1}#" \
		configs/churn_nightly.yaml >"$W/jobs/$1.yaml"
}
job one snap
job bf snap
job big big
mkdir -p "$W/serve1" "$W/serveN"
job serve1 snap 1
job serveN snap "$N"
mv "$W/jobs/serve1.yaml" "$W/serve1/job.yaml"
mv "$W/jobs/serveN.yaml" "$W/serveN/job.yaml"

timed() { # timed <tag> args...: one bin/batchscore under /usr/bin/time -v
	local tag=$1
	shift
	if ! "$TIME" -v -o "$RES/reuse-$tag.time" bin/batchscore "$@" >"$RES/reuse-$tag.out" 2>"$RES/reuse-$tag.log"; then
		echo "bench reuse: bin/batchscore $* failed; see $RES/reuse-$tag.log" >&2
		tail -5 "$RES/reuse-$tag.log" >&2
		exit 1
	fi
}

# serve <variant> <runs> <round>: a daemon that catches up <runs> dates,
# stopped with SIGTERM once they are published.
serve() {
	local v=$1 runs=$2 tag="$1-$3" table="$W/tables/$1"
	rm -rf "$table"
	bin/batchscore run "$W/$v/job.yaml" --date "$HIST" >/dev/null 2>&1
	"$TIME" -v -o "$RES/reuse-$tag.time" bin/batchscore serve --jobs "$W/$v" --listen 127.0.0.1:0 --grace 1s \
		>"$RES/reuse-$tag.out" 2>"$RES/reuse-$tag.log" &
	local tpid=$! child="" waited=0
	while [ "$(ls "$table/current" 2>/dev/null | wc -l)" -lt $((runs + 1)) ]; do
		sleep 0.5
		waited=$((waited + 1))
		if [ "$waited" -gt 1200 ] || ! kill -0 "$tpid" 2>/dev/null || grep -q '"run failed"' "$RES/reuse-$tag.log"; then
			echo "bench reuse: serve did not publish $runs dates; see $RES/reuse-$tag.log" >&2
			kill -TERM "$(pgrep -P "$tpid")" 2>/dev/null || true
			wait "$tpid" || true
			exit 1
		fi
	done
	child=$(pgrep -P "$tpid")
	kill -TERM "$child"
	wait "$tpid" || true
	rm -rf "$table"
}

for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS"
	rm -rf "$W/tables"
	timed "one-$r" run "$W/jobs/one.yaml" --date "$LAST" --force
	timed "bf-$r" run "$W/jobs/bf.yaml" --from "$FIRST" --to "$LAST" --reprocess all
	timed "big-$r" run "$W/jobs/big.yaml" --date "$LAST" --force
	serve serve1 1 "$r"
	serve serveN "$N" "$r"
done
rm -rf "$W/tables"

"$PY" - "$RES" "$ROUNDS" "$N" "$SMALL" <<'EOF' | tee "$RES/reuse.md"
import re, statistics, sys
res, rounds, n, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def read(tag):
    t = open(f"{res}/reuse-{tag}.time").read()
    g = lambda k: float(re.search(k + r".*: ([0-9.]+)", t).group(1))
    return {"cpu": g("User time") + g("System time"), "rss": g("Maximum resident") / 1024}
runs = {v: [read(f"{v}-{r}") for r in range(1, rounds + 1)] for v in ("one", "bf", "big", "serve1", "serveN")}
def stat(xs, best):
    return statistics.median(xs), best(xs)
print(f"### Reuse across runs ({n} dates of {small:,} rows; {rounds} rounds)\n")
print("| variant | CPU s (median / best) | peak RSS MiB (median / best) |")
print("|---|---|---|")
for v, rs in runs.items():
    c, r = stat([x["cpu"] for x in rs], min), stat([x["rss"] for x in rs], min)
    print(f"| {v} | {c[0]:.2f} / {c[1]:.2f} | {r[0]:.0f} / {r[1]:.0f} |")
def ratio(a, b, key, best):
    xs = [x[key] / y[key] for x, y in zip(runs[a], runs[b])]
    return statistics.median(xs), best(xs)
bf = ratio("bf", "one", "rss", min)
sv = ratio("serveN", "serve1", "rss", min)
rps = [(n * small / x["cpu"]) / (n * small / y["cpu"]) for x, y in zip(runs["bf"], runs["big"])]
print()
print(f"- peak RSS, {n}-date backfill / one date: {bf[0]:.2f} (best {bf[1]:.2f}); aim <= 1.1")
print(f"- peak RSS, serve running the job {n} times / once: {sv[0]:.2f} (best {sv[1]:.2f}); aim <= 1.1")
print(f"- rows per CPU-second, backfill of {n} small dates / one run of their rows: {statistics.median(rps):.2f} (best {max(rps):.2f})")
print(f"- backfill: {statistics.median([n * small / x['cpu'] for x in runs['bf']]) / 1e3:.0f} k rows per CPU-second; big run: {statistics.median([n * small / x['cpu'] for x in runs['big']]) / 1e3:.0f} k")
EOF
