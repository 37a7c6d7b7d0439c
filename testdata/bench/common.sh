# Sourced by the bench scripts: what every one of them sets up the same way
# (run.sh's header says what each setting means). $0 is the sourcing script.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
ROWS=${BENCH_ROWS:-2000000}
DATE=2026-12-01
TIME=/usr/bin/time
PY=/usr/bin/python3
export BATCHSCORE_ORT_LIB=${BATCHSCORE_ORT_LIB:-$ROOT/third_party/onnxruntime-1.24.1/libonnxruntime.so.1}

# --- helpers ------------------------------------------------------------------
# Scripts that use these set WHO (e.g. WHO="bench gbm") before sourcing
# this file: their log lines and error messages are named by it.

# log <message>: on stderr, stamped with the time (UTC).
log() { printf '[%s %s] %s\n' "$WHO" "$(date -u +%H:%M:%S)" "$*" >&2; }

# need_built: bin/batchscore and bin/gensnapshot, else exit 1.
need_built() {
	local tool
	for tool in bin/batchscore bin/gensnapshot; do
		[ -x "$tool" ] || { echo "$WHO: $tool is missing (run 'make build')" >&2; exit 1; }
	done
}

# need_ort: ONNX Runtime's library, else exit 1.
need_ort() {
	[ -f "$BATCHSCORE_ORT_LIB" ] || { echo "$WHO: no ONNX Runtime at $BATCHSCORE_ORT_LIB (make ort)" >&2; exit 1; }
}

# need_time_or_skip: /usr/bin/time, else print "skipped" and exit 0.
need_time_or_skip() {
	if [ ! -x "$TIME" ]; then
		echo "skipped: no $TIME (apt-get install time)"
		exit 0
	fi
}

# check_timing: SUMMARY=1, or empty (said on stderr) without /usr/bin/time
# or /usr/bin/python3: the runs still run, untimed, and there is no table.
check_timing() {
	local tool
	SUMMARY=1
	for tool in "$TIME" "$PY"; do
		[ -x "$tool" ] || { echo "$WHO: skipped: $tool is missing: no timing, no table" >&2; SUMMARY=; }
	done
}

# table_or_skip: after the runs, without SUMMARY print "skipped" and exit 0.
table_or_skip() {
	if [ -z "$SUMMARY" ]; then
		echo "skipped: no /usr/bin/time or /usr/bin/python3: no table"
		exit 0
	fi
}

# snap <tag> <rows> <files>: $OUT/snap-<tag>/snapshot_date=DATE/*.parquet
# (run.sh's snapshots), reused when its stamp says it was made with the
# same flags.
snap() {
	local tag=$1 rows=$2 files=$3 dir="$OUT/snap-$1"
	local flags="--date $DATE --rows $rows --files $files"
	local part="$dir/snapshot_date=$DATE"
	if [ "$(cat "$dir/.gensnapshot-flags" 2>/dev/null)" = "$flags" ] &&
		[ "$(ls "$part"/part-*.parquet 2>/dev/null | wc -l)" -eq "$files" ]; then
		log "snapshot $tag: reusing $part ($flags)"
	else
		log "snapshot $tag: generating ($flags)"
		rm -rf "$dir"
		# shellcheck disable=SC2086
		bin/gensnapshot $flags --out "$dir" -q
		echo "$flags" >"$dir/.gensnapshot-flags"
	fi
}

# gensnap_once <dir> <what> <gensnapshot flags...>: the snapshot in <dir>,
# generated (and logged as <what>) unless the flags it was made with match.
gensnap_once() {
	local dir=$1 what=$2
	shift 2
	if [ "$(cat "$dir/.flags" 2>/dev/null)" != "$*" ]; then
		log "$what: $*"
		rm -rf "$dir"
		bin/gensnapshot "$@" --out "$dir" -q
		echo "$*" >"$dir/.flags"
	fi
}

# job_yaml <config> <snapshot folder> <table> [sed args...]: the job file
# on stdout with only its paths changed (the snapshot's, the table's, and
# the model's and baseline's made absolute) and what the sed args change.
job_yaml() {
	local cfg=$1 snapdir=$2 table=$3
	shift 3
	sed -e "s#^\(  parquet: \).*#\1$snapdir/snapshot_date={{ .Date }}/*.parquet#" \
		-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
		-e "s#^\(  table: \).*#\1$table#" \
		-e "s#^\(  baseline: \)\.\./#\1$ROOT/#" \
		"$@" "$cfg"
}

# job <config> <name> <snapshot tag>: $OUT/jobs/<name>.yaml (run.sh's job
# files), the config on snapshot <tag> writing $OUT/tables/<name>.
job() {
	local cfg=$1 name=$2 tag=$3
	job_yaml "$cfg" "$OUT/snap-$tag" "$OUT/tables/$name" >"$OUT/jobs/$name.yaml"
	grep -q "$OUT/snap-$tag" "$OUT/jobs/$name.yaml" && grep -q "$OUT/tables/$name" "$OUT/jobs/$name.yaml" ||
		{ echo "$WHO: could not rewrite the paths of $cfg" >&2; exit 1; }
}

# run_json <prefix> <variant> <binary> <job file> <round>: one run of the
# date under /usr/bin/time -v (when there is one) into
# $RES/<prefix>-<variant>-<round>.{time,json,log}, the job's table removed
# before and after; a failed run exits 1.
run_json() {
	local v=$2 bin=$3 jobf=$4 b="$RES/$1-$2-$5" table
	table=$(sed -n 's#^  table: ##p' "$jobf")
	rm -rf "$table"
	local timed=()
	[ -x "$TIME" ] && timed=("$TIME" -v -o "$b.time")
	if ! "${timed[@]}" "$bin" run "$jobf" --date "$DATE" --json >"$b.json" 2>"$b.log"; then
		echo "$WHO: $v failed; see $b.log" >&2
		tail -5 "$b.log" >&2
		rm -rf "$table"
		exit 1
	fi
	rm -rf "$table"
}

# run_logged <file base> <what> <table> <job file>: one run of the date
# under /usr/bin/time -v into <base>.time and <base>.log (both streams),
# the table removed before and after; a failed run exits 1 naming <what>.
run_logged() {
	local t=$1 what=$2 table=$3 jobf=$4
	rm -rf "$table"
	if ! "$TIME" -v -o "$t.time" bin/batchscore run "$jobf" --date "$DATE" >"$t.log" 2>&1; then
		echo "$WHO: $what failed; see $t.log" >&2
		tail -5 "$t.log" >&2
		exit 1
	fi
	rm -rf "$table"
}

# rounds <function>: BENCH_ROUNDS rounds over VARIANTS, interleaved (the
# order turns by one each round); <function> <variant> <round> runs one.
rounds() {
	local r i nv v
	for r in $(seq 1 "$ROUNDS"); do
		nv=${#VARIANTS[@]}
		for i in $(seq 0 $((nv - 1))); do
			v=${VARIANTS[$(((i + r - 1) % nv))]}
			log "round $r/$ROUNDS: $v"
			"$1" "$v" "$r"
		done
	done
}

# tree_setup <name> <hint>: what trees.sh and explain.sh need first: RES
# (BENCH_RES, else a new results folder); "<name>: skipped: ..." and exit 0
# without /usr/bin/time, /usr/bin/python3, or python3-xgboost,
# python3-sklearn and python3-onnx (<hint> ends that line); bin/batchscore;
# T=$OUT/trees with the bench models of build_tree_families.py --bench,
# trained once (the caller's log says so).
tree_setup() {
	RES=${BENCH_RES:-$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)}
	mkdir -p "$RES"
	if [ ! -x "$TIME" ] || [ ! -x "$PY" ]; then
		echo "$1: skipped: no /usr/bin/time or /usr/bin/python3"
		exit 0
	fi
	if ! "$PY" -c 'import xgboost, sklearn, numpy, onnx' 2>/dev/null; then
		echo "$1: skipped: python3-xgboost, python3-sklearn or python3-onnx missing$2"
		exit 0
	fi
	[ -x bin/batchscore ] || { echo "$1: bin/batchscore is missing (make build)" >&2; exit 1; }
	T=$OUT/trees
	mkdir -p "$T"
	if [ ! -f "$T/models/xgb_bench.json" ] || [ ! -f "$T/models/rf_bench.pkl" ]; then
		log "training the bench models (build_tree_families.py --bench)"
		"$PY" testdata/models/build_tree_families.py --bench "$T/models" 2>"$T/models.log"
	fi
}
