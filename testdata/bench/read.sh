#!/usr/bin/env bash
# The read path: rows per CPU-second of io/parquetio's Read alone
# (BenchmarkRead) on R = BENCH_ROWS rows (default 2,000,000) in 4 files,
# and the GBM job (configs/churn_nightly.yaml) end to end on the same rows
# in 4 and in 512 files (512 files: about 3,900 rows each at the default
# R, joined across files into chunks of chunk_rows). Every point runs
# once per round, rounds interleaved (BENCH_ROUNDS, default 3); the table
# gives the median and the best: rows per CPU-s for BenchmarkRead, CPU
# seconds (user+sys) and peak RSS for the job, and the job's CPU per
# million rows in 512 files against 4. Raw files: read-<point>-<round>.*.
# Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS, BENCH_ROWS,
# BENCH_RES (run.sh's results folder), BATCHSCORE_ORT_LIB.
WHO="bench read"
source "$(dirname "$0")/common.sh"
GO=${GO:-go}

need_built
need_time_or_skip
RES=${BENCH_RES:-$OUT/results/read-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES" "$OUT/read"

# snap <files>: R rows in that many files, reused while its flags match.
snap() {
	local dir="$OUT/read/snap-f$1"
	gensnap_once "$dir" "snapshot of $1 files" --date "$DATE" --rows "$ROWS" --files "$1"
	job_yaml configs/churn_nightly.yaml "$dir" "$OUT/read/table-f$1" >"$OUT/read/job-f$1.yaml"
}
snap 4
snap 512
$GO test -c -o "$OUT/read/parquetio.test" ./io/parquetio

for r in $(seq 1 "$ROUNDS"); do
	log "round $r/$ROUNDS: BenchmarkRead"
	BATCHSCORE_BENCH_SNAPSHOT="$OUT/read/snap-f4/snapshot_date=$DATE/*.parquet" \
		"$OUT/read/parquetio.test" -test.run '^$' -test.bench '^BenchmarkRead$' -test.benchtime 3x >"$RES/read-bench-$r.txt"
	for k in 4 512; do
		log "round $r/$ROUNDS: GBM job, $k files"
		run_logged "$RES/read-f$k-$r" "the job on $k files" "$OUT/read/table-f$k" "$OUT/read/job-f$k.yaml"
	done
done

stats() { # median and best (highest when $1 = hi, else lowest) of stdin's numbers
	sort -g | awk -v hi="$1" '{ v[n++] = $1 } END { m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
		printf "%s %s\n", m, (hi == "hi") ? v[n - 1] : v[0] }'
}
{
	read -r med best < <(cat "$RES"/read-bench-*.txt | awk '/^BenchmarkRead/ { for (i = 1; i <= NF; i++) if ($i == "rows/cpu-s") print $(i - 1) }' | stats hi)
	printf 'BenchmarkRead, %d rows in 4 files: %.0f rows/CPU-s median, %.0f best\n' "$ROWS" "$med" "$best"
	for k in 4 512; do
		read -r cmed cbest < <(cat "$RES"/read-f"$k"-*.time | awk '/User time/ { u = $NF } /System time/ { print u + $NF }' | stats lo)
		read -r rmed rbest < <(cat "$RES"/read-f"$k"-*.time | awk '/Maximum resident/ { print $NF / 1024 }' | stats lo)
		printf 'GBM job, %d files: CPU %.2f s median, %.2f best; peak RSS %.0f MB median, %.0f best\n' "$k" "$cmed" "$cbest" "$rmed" "$rbest"
		eval "cpu$k=$cmed"
	done
	# shellcheck disable=SC2154
	awk -v a="$cpu4" -v b="$cpu512" -v r="$ROWS" 'BEGIN { printf "512 files against 4: %+.3f CPU-s per million rows (%.2fx)\n", (b - a) / r * 1e6, b / a }'
} | tee "$RES/read.md"
