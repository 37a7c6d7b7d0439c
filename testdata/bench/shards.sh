#!/usr/bin/env bash
# Sharded runs, part of make bench: the GBM job on the main ("2m") snapshot
# as one process against the same job split into shards that run as
# concurrent processes (bin/batchscore run --shard K/N, split by row groups)
# and are then published as one version (bin/batchscore commit --shards N).
#
# In each of BENCH_ROUNDS rounds (default 3), interleaved (the order turns
# by one variant each round so no variant always goes first):
#   one  bin/batchscore run, default workers (scoring.workers 0: one per
#        core), as run.sh's end-to-end gbm-2m;
#   s2   2 shards, 2 concurrent processes with --workers 1 each, then the
#        commit; wall time from starting the shards to the end of the commit;
#   s4   4 shards with --workers 1, likewise: more processes than cores on a
#        2-core machine (BENCH_SHARDS_SKIP_4=1 skips it).
# Every process runs under /usr/bin/time -v; CPU seconds of a variant are the
# sum of user + system of all its processes (the shards and the commit), so
# what each shard does for the whole snapshot (it fingerprints all of it, and
# loads the model and the baseline) shows next to the one process.
# The table is removed before and after every variant, as run.sh's e2e does.
#
# Raw files in the results folder: shards-<variant>-<round>.wall (start,
# end of the shards, end of the commit: seconds since the epoch), and per
# process shards-one-<r>.{time,json,log}, shards-sN-<r>-k<K>.{time,json,log},
# shards-sN-<r>-commit.{time,json,log} (/usr/bin/time -v, the --json
# manifest, the log). The table (summarize.py --shards) goes to stdout and
# to shards.md.
#
# Called by run.sh with BENCH_RES (its results folder), after its rounds;
# standalone it makes its own under BENCH_OUT/results and makes the snapshot
# and the job file with run.sh's helpers (reused when they match).
# Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS, BENCH_ROWS (rows of
# the "2m" snapshot, default 2,000,000), BENCH_SHARDS_SKIP_4=1,
# BATCHSCORE_ORT_LIB. Without /usr/bin/time the runs still run, untimed, and
# there is no table.
WHO="bench shards"
source "$(dirname "$0")/common.sh"
NAME=gbm-2m
JOB="$OUT/jobs/$NAME.yaml"

need_built
bin/batchscore commit --help >/dev/null 2>&1 ||
	{ echo "bench shards: bin/batchscore has no commit command (rebuild it: make build)" >&2; exit 1; }
need_ort
SUMMARY=1
for tool in "$TIME" "$PY"; do
	[ -x "$tool" ] || { echo "bench shards: $tool is missing: no timing, no table" >&2; SUMMARY=; }
done

RES=${BENCH_RES:-}
if [ -z "$RES" ]; then
	RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-shards"
	mkdir -p "$RES"
	echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >"$RES/machine.txt"
	grep MemTotal /proc/meminfo >>"$RES/machine.txt"
fi

# --- snapshot and job file: run.sh's (common.sh), the same flags -------------
snap 2m "$ROWS" $(((ROWS + 499999) / 500000))
mkdir -p "$OUT/jobs"
job configs/churn_nightly.yaml "$NAME" 2m

# --- the variants -----------------------------------------------------------
# timed <file> <command...>: under /usr/bin/time -v when there is one.
timed() {
	local f=$1
	shift
	if [ -x "$TIME" ]; then
		"$TIME" -v -o "$f" "$@"
	else
		"$@"
	fi
}
now() { date +%s.%N; }
failed() { # failed <what> <log>
	echo "bench shards: $1 failed; see $2" >&2
	tail -5 "$2" >&2
	rm -rf "$OUT/tables/$NAME"
	exit 1
}

one() { # one <round>
	local b="$RES/shards-one-$1" t0 t1
	rm -rf "$OUT/tables/$NAME"
	t0=$(now)
	timed "$b.time" bin/batchscore run "$JOB" --date "$DATE" --json >"$b.json" 2>"$b.log" ||
		failed "bin/batchscore run $NAME" "$b.log"
	t1=$(now)
	echo "start=$t0 shards_end=$t1 end=$t1" >"$b.wall"
	rm -rf "$OUT/tables/$NAME"
}

sharded() { # sharded <shards> <round>
	local n=$1 b="$RES/shards-s$1-$2" k t0 t1 t2 bad=
	local pids=()
	rm -rf "$OUT/tables/$NAME"
	t0=$(now)
	for k in $(seq 0 $((n - 1))); do
		timed "$b-k$k.time" bin/batchscore run "$JOB" --date "$DATE" --shard "$k/$n" --workers 1 --json \
			>"$b-k$k.json" 2>"$b-k$k.log" &
		pids+=($!)
	done
	for k in $(seq 0 $((n - 1))); do
		wait "${pids[$k]}" || bad="$bad $k"
	done
	t1=$(now)
	[ -z "$bad" ] || failed "shard(s)$bad of $n" "$b-k${bad##* }.log"
	timed "$b-commit.time" bin/batchscore commit "$JOB" --date "$DATE" --shards "$n" --json \
		>"$b-commit.json" 2>"$b-commit.log" || failed "bin/batchscore commit --shards $n" "$b-commit.log"
	t2=$(now)
	echo "start=$t0 shards_end=$t1 end=$t2" >"$b.wall"
	rm -rf "$OUT/tables/$NAME"
}

VARIANTS=(one 2)
[ "${BENCH_SHARDS_SKIP_4:-}" = 1 ] || VARIANTS+=(4)
for r in $(seq 1 "$ROUNDS"); do
	echo "shards round $r start $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
	nv=${#VARIANTS[@]}
	for i in $(seq 0 $((nv - 1))); do
		v=${VARIANTS[$(((i + r - 1) % nv))]}
		if [ "$v" = one ]; then
			log "round $r/$ROUNDS: $NAME, one process, default workers"
			one "$r"
		else
			log "round $r/$ROUNDS: $NAME, $v shards × --workers 1, then commit"
			sharded "$v" "$r"
		fi
	done
	echo "shards round $r end   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
done

if [ -n "$SUMMARY" ]; then
	"$PY" "$ROOT/testdata/bench/summarize.py" --shards "$RES" | tee "$RES/shards.md"
else
	log "no table: /usr/bin/time or /usr/bin/python3 is missing"
fi
[ -n "${BENCH_RES:-}" ] || log "raw results: $RES"
