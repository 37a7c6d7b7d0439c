#!/usr/bin/env bash
# Run history, part of make bench: what a run costs as the result table's
# history grows, and what each execution leaves in runs/.
#
# One table is grown date by date with backfills of small snapshots (one
# gensnapshot file of BENCH_HISTORY_ROWS rows, default 2,000, copied under
# every date), up to each history length H of BENCH_HISTORY (default
# "30 90 180 365"; under bench-smoke's small BENCH_ROWS, "10 30"). At each H,
# in each of BENCH_ROUNDS rounds (default 3):
#   noop   bin/batchscore run of the newest date, already current: what a
#          run reads of the history before it finds it has nothing to do;
#   force  the newest date again with --force: a whole run, a new version;
#   dry    run --dry-run over every date so far (each already current);
# under /usr/bin/time -v (CPU seconds user+sys; medians and best). The
# backfills that grew the table are timed too: CPU per date of each step
# (dates H_prev+1..H) shows whether a backfill's per-date cost grows with
# the dates before it (quadratic overall) or not. Bytes per execution:
# runs/ over the manifests in it, and the HTML report of the newest run.
#
# Growth is stated as the slope of the no-op's CPU against H, in µs per
# past execution, from the smallest to the largest H.
#
# Raw files in the results folder: history-<H>-<what>-<round>.time and
# history-grow-<H>.time; the table goes to stdout and to history.md.
# Called by run.sh with BENCH_RES; standalone it makes its own folder under
# BENCH_OUT/results. Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS,
# BENCH_ROWS (only to pick the smoke defaults), BENCH_HISTORY,
# BENCH_HISTORY_ROWS, BENCH_HISTORY_BIN (the binary, default bin/batchscore:
# to measure another build the same way), BATCHSCORE_ORT_LIB. Without
# /usr/bin/time the runs still run, untimed ("skipped: no /usr/bin/time").
source "$(dirname "$0")/common.sh"
if [ "$ROWS" -lt 1000000 ]; then
	HIST=${BENCH_HISTORY:-"10 30"}
else
	HIST=${BENCH_HISTORY:-"30 90 180 365"}
fi
HROWS=${BENCH_HISTORY_ROWS:-2000}
BIN=${BENCH_HISTORY_BIN:-$ROOT/bin/batchscore}
log() { printf '[bench history %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

for tool in "$BIN" bin/gensnapshot; do
	[ -x "$tool" ] || { echo "bench history: $tool is missing (run 'make build')" >&2; exit 1; }
done
[ -f "$BATCHSCORE_ORT_LIB" ] || { echo "bench history: no ONNX Runtime at $BATCHSCORE_ORT_LIB (make ort)" >&2; exit 1; }
TIMED=1
[ -x "$TIME" ] || { echo "skipped: no /usr/bin/time (history runs untimed)"; TIMED=; }

RES=${BENCH_RES:-$OUT/results/history-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES"
WORK="$OUT/history"
rm -rf "$WORK"
mkdir -p "$WORK/snap"
trap 'rm -rf "$WORK"' EXIT

# One snapshot, copied under every date: the cost measured is the table's,
# not the snapshot's. Its snapshot_date column says the base date, so the
# job drops the rules that compare it with the logical date.
BASE=2024-01-01
bin/gensnapshot --date "$BASE" --rows "$HROWS" --out "$WORK/gen" -q
day() { date -u -d "$BASE +$1 day" +%F; }
JOB="$WORK/job.yaml"
sed -e "s#^\(  parquet: \).*#\1$WORK/snap/snapshot_date={{ .Date }}/*.parquet#" \
	-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
	-e "s#^\(  table: \).*#\1$WORK/table#" \
	-e "s#^\(  baseline: \)\.\./#\1$ROOT/#" \
	-e '/check: date_range/d' -e '/freshness:/d' -e '/snapshot_date: {type: date}/d' \
	configs/churn_nightly.yaml >"$JOB"
grep -q "$WORK/table" "$JOB" || { echo "bench history: could not rewrite configs/churn_nightly.yaml" >&2; exit 1; }

# timed <file> <args...>: bin/batchscore under /usr/bin/time -v.
timed() {
	local f=$1
	shift
	if [ -n "$TIMED" ]; then
		"$TIME" -v -o "$f" "$BIN" "$@" >/dev/null 2>"$f.log"
	else
		"$BIN" "$@" >/dev/null 2>"$f.log"
	fi
}
cpu() { awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.3f", u+s}' "$1"; }

prev=0
for h in $HIST; do
	for ((i = prev; i < h; i++)); do
		mkdir -p "$WORK/snap/snapshot_date=$(day "$i")"
		cp "$WORK/gen/snapshot_date=$BASE/"*.parquet "$WORK/snap/snapshot_date=$(day "$i")/"
	done
	log "history $h: backfill of $(day "$prev") .. $(day $((h - 1)))"
	timed "$RES/history-grow-$h.time" run "$JOB" --from "$(day "$prev")" --to "$(day $((h - 1)))" ||
		{ echo "bench history: the backfill to $h dates failed (see $RES/history-grow-$h.time.log)" >&2; exit 1; }
	last=$(day $((h - 1)))
	for ((r = 1; r <= ROUNDS; r++)); do
		log "history $h: round $r/$ROUNDS"
		timed "$RES/history-$h-noop-$r.time" run "$JOB" --date "$last"
		timed "$RES/history-$h-force-$r.time" run "$JOB" --date "$last" --force
		timed "$RES/history-$h-dry-$r.time" run "$JOB" --from "$BASE" --to "$last" --dry-run
	done
	execs=$(find "$WORK/table/runs" -name '*.json' ! -name '*.*.*.json' | wc -l)
	bytes=$(du -sb "$WORK/table/runs" | cut -f1)
	html=$(find "$WORK/table/runs/$last" -name '*.report.html' -printf '%s\n' | sort -n | tail -1)
	echo "$h $((h - prev)) $execs $bytes $html" >>"$RES/history-sizes.txt"
	prev=$h
done

[ -n "$TIMED" ] || exit 0
# The table: CPU seconds per run at each H (median, best of the rounds).
{
	echo "| dates (H) | no-op run CPU-s med / best | --force run CPU-s med / best | --dry-run over H dates CPU-s med | backfill step CPU-s per date | runs/ bytes per execution | report.html bytes |"
	echo "|---|---|---|---|---|---|---|"
	while read -r h step execs bytes html; do
		row="| $h"
		for what in noop force; do
			vals=$(for f in "$RES"/history-"$h"-"$what"-*.time; do cpu "$f"; echo; done | sort -n)
			med=$(echo "$vals" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
			best=$(echo "$vals" | head -1)
			row="$row | $med / $best"
		done
		dry=$(for f in "$RES"/history-"$h"-dry-*.time; do cpu "$f"; echo; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
		grow=$(awk -v n="$step" '{printf "%.3f", $0 / n}' <<<"$(cpu "$RES/history-grow-$h.time")")
		row="$row | $dry | $grow | $((bytes / execs)) | $html |"
		echo "$row"
	done <"$RES/history-sizes.txt"
	# Slope of the no-op's median CPU from the smallest to the largest H,
	# per past execution (each date has 1 + 2 x rounds executions by then).
	read -r h0 _ e0 _ <"$RES/history-sizes.txt"
	last_line=$(tail -1 "$RES/history-sizes.txt")
	h1=$(cut -d' ' -f1 <<<"$last_line")
	e1=$(cut -d' ' -f3 <<<"$last_line")
	med() { for f in "$RES"/history-"$1"-noop-*.time; do cpu "$f"; echo; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
	m0=$(med "$h0")
	m1=$(med "$h1")
	if [ "$e1" -gt "$e0" ]; then
		awk -v a="$m0" -v b="$m1" -v e0="$e0" -v e1="$e1" -v h0="$h0" -v h1="$h1" \
			'BEGIN {printf "\nno-op growth: %.1f µs of CPU per past execution (%d → %d dates, %d → %d executions; /usr/bin/time counts in 10 ms steps)\n", (b - a) * 1e6 / (e1 - e0), h0, h1, e0, e1}'
	fi
	# A backfill step's CPU per date against the mean number of dates
	# before its dates: flat when a run reads only what it needs.
	awk -v dir="$RES" 'NR == 1 {p0 = 0; h0 = $1} {step[NR] = $1 - prev; mid[NR] = (prev + $1) / 2; h[NR] = $1; prev = $1}
		END {
			for (i = 1; i <= NR; i++) {
				cmd = "awk -F\": \" \x27/User time/ {u=$2} /System time/ {s=$2} END {print u+s}\x27 " dir "/history-grow-" h[i] ".time"
				cmd | getline c; close(cmd); per[i] = c / step[i]
			}
			if (NR > 1) printf "backfill growth: %.1f µs of CPU per date per date before it (%.3f CPU-s per date with a mean of %d dates before, %.3f with %d)\n", (per[NR] - per[1]) * 1e6 / (mid[NR] - mid[1]), per[1], mid[1], per[NR], mid[NR]
		}' "$RES/history-sizes.txt"
} | tee "$RES/history.md"
