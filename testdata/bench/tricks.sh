#!/usr/bin/env bash
# make bench-tricks: what each speed trick and the native engines' per-chunk
# check against ONNX Runtime cost or earn end to end, as ratios of
# bin/batchscore builds that differ only in that, on the bench jobs of
# run.sh (its 2M-row snapshot, made here if missing; BENCH_ROWS as there).
# The builds:
#
#   default  what make build makes;
#   nocheck  the per-chunk check off (-ldflags -X ...crossCheckSample=0);
#   purego   -tags purego: the Go kernel instead of the amd64 assembly
#            (scoring/trees leq_amd64.s, for the GBM).
#
# BENCH_TRICKS_BUILDS (e.g. "default nocheck") runs only those builds.
#
# Jobs: gbm-2m, logreg-2m (on ONNX Runtime: the native engine scores
# trees only), and with the default build only, for scale, none on
# ONNX Runtime unless asked (scoring.engine: onnxruntime; set
# BENCH_TRICKS_ORT="gbm-2m-ort" for the GBM's). Every build runs every job in each of
# BENCH_TRICKS_ROUNDS rounds (default 5), interleaved, each round starting
# with the next build; tricks.py prints,
# per job and build, best and median wall and CPU seconds and the ratios
# to default (medians of the per-round ratios).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
OUT=$(cd "$OUT" && pwd)
ROUNDS=${BENCH_TRICKS_ROUNDS:-5}
DATE=2026-12-01
GO=${GO:-go}
PKG=github.com/batchscore/batchscore
ROWS=${BENCH_ROWS:-2000000}
FILES=$(((ROWS + 499999) / 500000))
SNAP="$OUT/snap-2m"
# The 2M-row snapshot of make bench, made the same way if it is not there.
if [ "$(cat "$SNAP/.gensnapshot-flags" 2>/dev/null)" != "--date $DATE --rows $ROWS --files $FILES" ]; then
	rm -rf "$SNAP"
	bin/gensnapshot --date "$DATE" --rows "$ROWS" --files "$FILES" --out "$SNAP" -q
	echo "--date $DATE --rows $ROWS --files $FILES" >"$SNAP/.gensnapshot-flags"
fi
# The job files as run.sh writes them: the repository's, paths changed.
mkdir -p "$OUT/jobs"
for j in gbm-2m:churn_nightly logreg-2m:churn_logreg; do
	sed -e "s#^\(  parquet: \).*#\1$SNAP/snapshot_date={{ .Date }}/*.parquet#" \
		-e "s#^\(  path: \)\.\./#\1$ROOT/#" -e "s#^\(  table: \).*#\1$OUT/tables/${j%%:*}#" \
		-e "s#^\(  baseline: \)\.\./#\1$ROOT/#" "configs/${j#*:}.yaml" >"$OUT/jobs/${j%%:*}.yaml"
done
RES="$OUT/results/tricks-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RES" "$OUT/bin"
log() { printf '[tricks %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# The builds, each next to the ONNX Runtime library it loads.
B="$OUT/bin/tricks"
mkdir -p "$B"
cp -f "$ROOT/bin/libonnxruntime.so" "$B/libonnxruntime.so"
log "building"
$GO build -o "$B/default" ./cmd/batchscore
$GO build -ldflags "-X $PKG/scoring/onnx.crossCheckSample=0" -o "$B/nocheck" ./cmd/batchscore
$GO build -tags purego -o "$B/purego" ./cmd/batchscore
BUILDS=${BENCH_TRICKS_BUILDS:-default nocheck purego}

# The ONNX Runtime twins of the two jobs (BENCH_TRICKS_ORT: which run).
ORTJOBS=${BENCH_TRICKS_ORT-}
for j in gbm-2m logreg-2m; do
	sed -e '/^  engine: /d' -e 's#^scoring:$#scoring:\n  engine: onnxruntime#' -e "s#/tables/$j#/tables/$j-ort#" "$OUT/jobs/$j.yaml" >"$OUT/jobs/$j-ort.yaml"
	grep -q "^  engine: onnxruntime" "$OUT/jobs/$j-ort.yaml" || { echo "bench-tricks: no scoring section in $j.yaml" >&2; exit 1; }
done

echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >"$RES/machine.txt"
echo "go: $($GO env GOVERSION); commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')" >>"$RES/machine.txt"
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r start $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
	for j in gbm-2m logreg-2m $ORTJOBS; do
		# Each round starts with another build, so that none is always first.
		set -- $BUILDS
		for _ in $(seq 2 "$r"); do set -- "${@:2}" "$1"; done
		for b in "$@"; do
			case "$j" in *-ort) [ "$b" = default ] || continue ;; esac # for scale: default only
			log "round $r/$ROUNDS: $j with $b"
			rm -rf "$OUT/tables/$j"*
			t="$RES/$j-$b-$r"
			/usr/bin/time -v -o "$t.time" "$B/$b" run "$OUT/jobs/$j.yaml" --date "$DATE" --json >"$t.json" 2>"$t.log" ||
				{ echo "bench-tricks: $b run $j failed; see $t.log" >&2; exit 1; }
		done
	done
	echo "round $r end   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
done
rm -rf "$OUT/tables"
/usr/bin/python3 "$ROOT/testdata/bench/tricks.py" "$RES" | tee "$RES/summary.md"
