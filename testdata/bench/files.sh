#!/usr/bin/env bash
# Cost that follows the rows, not the shape of the files: the GBM job
# (configs/churn_nightly.yaml) end to end under /usr/bin/time -v on
# snapshots of the same rows laid out differently, and the fingerprint by
# columns read. Curves (rows R = BENCH_ROWS, default 2,000,000):
#   rg    rows in ONE row group: R/4, R/2, R (peak RSS should stay flat:
#         growth in MB per million rows);
#   files R rows split into 4, 64 and 512 files (growth in KB per file);
#   gsize R rows in one file, row groups of 8,192, 65,536 and 524,288 rows
#         (CPU per row group);
#   chunk the 4-file snapshot with scoring.chunk_rows 8,192, 16,384,
#         32,768, 65,536 (what the default is chosen by);
#   fp    io/parquetio BenchmarkFingerprintColumns on the 4-file snapshot:
#         1, a quarter and all of its columns (hashed MB and time).
# Every point runs once per round, rounds interleaved (BENCH_ROUNDS,
# default 3); the table gives the median and the best (lowest) CPU
# seconds (user+sys) and peak RSS, and each curve's growth between its
# first and last point. Raw files: files-<curve>-<point>-<round>.time.
# Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS, BENCH_ROWS,
# BENCH_RES (run.sh's results folder), BATCHSCORE_ORT_LIB.
WHO="bench files"
source "$(dirname "$0")/common.sh"
GO=${GO:-go}

need_built
need_time_or_skip
RES=${BENCH_RES:-$OUT/results/files-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$RES" "$OUT/files"

# snap <tag> <rows> <files> <row-group rows>, reused while its flags match.
snap() {
	gensnap_once "$OUT/files/snap-$1" "snapshot $1" --date "$DATE" --rows "$2" --files "$3" --row-group-rows "$4"
}
# A row group a multiple of 8,192 rows, at least n.
group() { echo $((($1 + 8191) / 8192 * 8192)); }
# job <tag> <chunk_rows>: the GBM job on snapshot <tag>.
job() {
	job_yaml configs/churn_nightly.yaml "$OUT/files/snap-$1" "$OUT/files/table-$1-$2" \
		-e "s#^\(  chunk_rows: \)[0-9]*#\1$2#" >"$OUT/files/job-$1-$2.yaml"
}

POINTS=()
add() { # add <curve> <point> <snapshot tag> <chunk_rows>
	job "$3" "$4"
	POINTS+=("$1 $2 $3 $4")
}
for n in $((ROWS / 4)) $((ROWS / 2)) "$ROWS"; do
	snap "rg$n" "$n" 1 "$(group "$n")"
	add rg "$n" "rg$n" 65536
done
for k in 4 64 512; do
	snap "f$k" "$ROWS" "$k" 65536
	add files "$k" "f$k" 65536
done
for g in 8192 65536 524288; do
	snap "g$g" "$ROWS" 1 "$g"
	add gsize "$g" "g$g" 65536
done
for c in 8192 16384 32768 65536; do
	add chunk "$c" f4 "$c"
done

for r in $(seq 1 "$ROUNDS"); do
	for p in "${POINTS[@]}"; do
		read -r curve point tag chunk <<<"$p"
		log "round $r/$ROUNDS: $curve $point"
		run_logged "$RES/files-$curve-$point-$r" "$curve $point" "$OUT/files/table-$tag-$chunk" "$OUT/files/job-$tag-$chunk.yaml"
	done
	log "round $r/$ROUNDS: fingerprint by columns"
	BATCHSCORE_BENCH_SNAPSHOT="$OUT/files/snap-f4/snapshot_date=$DATE/*.parquet" \
		$GO test -run '^$' -bench '^BenchmarkFingerprintColumns$' -benchtime 1x ./io/parquetio >"$RES/files-fp-$r.txt"
done

# The table: per point, median and best CPU seconds and peak RSS (MB).
table() {
	printf '%-6s %9s %10s %10s %10s %10s\n' curve point cpu-med cpu-best rss-med rss-best
	for p in "${POINTS[@]}"; do
		read -r curve point _ _ <<<"$p"
		cat "$RES"/files-"$curve"-"$point"-*.time | awk -v c="$curve" -v p="$point" '
			function sort(a, k,  i, j, t) { for (i = 0; i < k; i++) for (j = i + 1; j < k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } }
			function med(a, k) { sort(a, k); return (k % 2) ? a[int(k / 2)] : (a[k / 2 - 1] + a[k / 2]) / 2 }
			/User time/ { u = $NF } /System time/ { cpu[n + 0] = u + $NF }
			/Maximum resident/ { rss[n + 0] = $NF / 1024; n++ }
			END { printf "%-6s %9s %10.2f %10.2f %10.0f %10.0f\n", c, p, med(cpu, n), cpu[0], med(rss, n), rss[0] }'
	done
}
{
	table >"$RES/files-table.txt"
	cat "$RES/files-table.txt"
	echo
	echo "growth between the first and last point of each curve (medians):"
	awk 'NR > 1 { if (!($1 in first)) { first[$1] = $0; order[n++] = $1 } last[$1] = $0 }
		END { for (i = 0; i < n; i++) { c = order[i]; split(first[c], a, " "); split(last[c], b, " ")
			dx = b[2] - a[2]; if (dx == 0) continue
			unit = (c == "rg") ? 1e6 : 1; what = (c == "rg") ? "per million rows in the group" : "per unit of " c
			printf "  %-6s %+9.3f MB peak RSS, %+9.6f CPU-s %s (%s -> %s)\n", c, (b[5] - a[5]) / dx * unit, (b[3] - a[3]) / dx * unit, what, a[2], b[2] } }' \
		"$RES/files-table.txt"
	echo
	echo "fingerprint by columns read (BenchmarkFingerprintColumns, last round):"
	grep -h '^BenchmarkFingerprintColumns' "$RES/files-fp-$ROUNDS.txt" |
		awk '{ for (i = 1; i <= NF; i++) if ($i == "hashed-MB/op") mb = $(i - 1); printf "  %-44s %8.1f ms %10s hashed MB\n", $1, $3 / 1e6, mb }'
} | tee "$RES/files.md"
