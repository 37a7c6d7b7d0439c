#!/usr/bin/env bash
# SQL part of make bench: batchscore's PostgreSQL source and sink against
# psql's \copy on the same throwaway PostgreSQL 15 server, in one run.
# See BENCHMARKS.md, section SQL.
#
#   1. starts a server under a temp dir (initdb -A trust --no-sync, pg_ctl on
#      a free port, fsync off, as the postgres user when run as root; the
#      approach of internal/testkit/pgtest) and stops it on exit;
#   2. loads the 2M-row snapshot (bin/gensnapshot --csv, 36 columns of which
#      30 features) into table customers with psql \copy, then VACUUM
#      (FREEZE, ANALYZE) so no reader pays for hint bits;
#   then in each of BENCH_ROUNDS rounds:
#   3. read: psql \copy (SELECT * FROM customers) TO /dev/null, timed (the
#      limit), and io/sqlio BenchmarkPGRead (the same query into Arrow);
#   4. write: io/sqlio BenchmarkPGWrite (2M result rows through the sink,
#      publish included), and psql \copy of the same rows, exported once as
#      CSV, into scores_copy (LIKE the sink's table, its index included);
#   5. memory: io/sqlio BenchmarkPGFlat, a 1M and a 10M-row generate_series
#      query, peak HeapInuse;
#   6. end to end: bin/batchscore run of the GBM job with source.sql on the
#      2M table, and the same job on the Parquet snapshot (no validation
#      section in either).
#
# Called by run.sh with BENCH_RES (its results folder); standalone it makes
# its own under BENCH_OUT/results. Without PostgreSQL 15 it prints
# "skipped: no PostgreSQL" and exits 0. BENCH_SQL_SKIP_E2E=1 skips step 6.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${BENCH_OUT:-out/bench}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROUNDS=${BENCH_ROUNDS:-3}
DATE=2026-12-01
GO=${GO:-go}
PGBIN=/usr/lib/postgresql/15/bin
TIME=/usr/bin/time
export BATCHSCORE_ORT_LIB=${BATCHSCORE_ORT_LIB:-$ROOT/third_party/onnxruntime-1.24.1/libonnxruntime.so.1}
log() { printf '[bench sql %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

if [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pg_ctl" ] || ! command -v psql >/dev/null; then
	echo "bench sql: skipped: no PostgreSQL (want $PGBIN/initdb, pg_ctl and psql; apt-get install postgresql-15)"
	exit 0
fi
for tool in "$TIME" bin/gensnapshot bin/batchscore; do
	[ -x "$tool" ] || { echo "bench sql: $tool is missing (run 'make build')" >&2; exit 1; }
done

RES=${BENCH_RES:-}
if [ -z "$RES" ]; then
	RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-sql"
	mkdir -p "$RES"
fi

# --- 1. server --------------------------------------------------------------
PGDIR=$(mktemp -d /tmp/bench-pg-XXXXXX)
chmod 700 "$PGDIR"
AS=()
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || { echo "bench sql: running as root needs the postgres user" >&2; exit 1; }
	chown postgres: "$PGDIR"
	AS=(runuser -u postgres --)
fi
stop_pg() {
	if [ -f "$PGDIR/data/postmaster.pid" ]; then
		"${AS[@]}" "$PGBIN/pg_ctl" stop -D "$PGDIR/data" -m immediate -w >/dev/null 2>&1 || true
	fi
	rm -rf "$PGDIR"
}
trap stop_pg EXIT
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "starting PostgreSQL 15 on 127.0.0.1:$PORT in $PGDIR"
(cd "$PGDIR" && LC_ALL=C "${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$PGDIR/initdb.log" 2>&1) ||
	{ cat "$PGDIR/initdb.log" >&2; exit 1; }
"${AS[@]}" mkdir -p "$PGDIR/sock"
(cd "$PGDIR" && LC_ALL=C "${AS[@]}" "$PGBIN/pg_ctl" start -w -D "$PGDIR/data" -l "$PGDIR/log" \
	-o "-F -p $PORT -k $PGDIR/sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off" >/dev/null) ||
	{ cat "$PGDIR/log" >&2; exit 1; }
export BENCH_DSN="postgres://postgres@127.0.0.1:$PORT/bench?sslmode=disable"
export BATCHSCORE_BENCH_PG_DSN=$BENCH_DSN
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench"
PSQL+=(-d bench)
"${PSQL[@]}" -At -c "SELECT version()" >"$RES/sql-server.txt"

# --- 2. load ----------------------------------------------------------------
CSVDIR="$OUT/snap-2m-csv"
CSVFLAGS="--date $DATE --rows 2000000 --files 4 --csv"
if [ "$(cat "$CSVDIR/.gensnapshot-flags" 2>/dev/null)" = "$CSVFLAGS" ] &&
	[ "$(ls "$CSVDIR/snapshot_date=$DATE"/part-*.csv 2>/dev/null | wc -l)" -eq 4 ]; then
	log "reusing $CSVDIR"
else
	log "generating the 2M snapshot with CSVs ($CSVFLAGS)"
	rm -rf "$CSVDIR"
	# shellcheck disable=SC2086
	bin/gensnapshot $CSVFLAGS --out "$CSVDIR" -q
	echo "$CSVFLAGS" >"$CSVDIR/.gensnapshot-flags"
fi
# The columns and types of cmd/gensnapshot/features.go.
"${PSQL[@]}" -c "CREATE TABLE customers (
	customer_id bigint, snapshot_date date,
	tenure_months int, age int, is_senior boolean, has_partner boolean, num_dependents int,
	monthly_charges float8, total_charges float8, num_products bigint, avg_monthly_data_gb float8,
	avg_call_minutes float8, dropped_call_rate float8, network_quality_score float8,
	num_support_calls bigint, tech_support_hours float8, satisfaction_score float8,
	late_payment_ratio float8, outstanding_balance float8, discount_pct float8,
	price_increase_pct_12m float8, bill_variability float8, paperless_billing boolean,
	has_streaming boolean, app_sessions_per_week float8, avg_session_minutes float8,
	days_since_last_login bigint, email_open_rate float8, credit_score float8,
	household_income_k float8, distance_to_store_km float8, months_to_contract_end float8,
	contract_type text, payment_method text, region text, churned boolean)"
log "loading customers (psql \\copy of 4 CSV files)"
t0=$(date +%s.%N)
for f in "$CSVDIR/snapshot_date=$DATE"/part-*.csv; do
	"${PSQL[@]}" -c "\\copy customers FROM '$f' CSV HEADER"
done
t1=$(date +%s.%N)
"${PSQL[@]}" -c "VACUUM (FREEZE, ANALYZE) customers"
ROWS=$("${PSQL[@]}" -At -c "SELECT count(*) FROM customers")
echo "load rows=$ROWS seconds=$(/usr/bin/python3 -c "print(round($t1 - $t0, 2))") table=$("${PSQL[@]}" -At -c "SELECT pg_size_pretty(pg_total_relation_size('customers'))")" >"$RES/sql-load.txt"
[ "$ROWS" = 2000000 ] || { echo "bench sql: customers has $ROWS rows, want 2000000" >&2; exit 1; }

# --- test binary and job files ----------------------------------------------
mkdir -p "$OUT/bin" "$OUT/jobs"
log "building io/sqlio test binary"
$GO test -c -o "$OUT/bin/sqlio.test" ./io/sqlio
SQLJOB="$OUT/jobs/sql-gbm-2m.yaml"
PQJOB="$OUT/jobs/sql-gbm-2m-parquet.yaml"
sed -e "s#^  parquet: .*#  sql: {driver: postgres, dsn_env: BENCH_DSN, query: \"SELECT * FROM customers WHERE snapshot_date = :date\"}#" \
	-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
	-e "s#^\(  table: \).*#\1$OUT/tables/sql-gbm-2m#" \
	-e '/^validation:/,$d' configs/churn_nightly.yaml >"$SQLJOB"
sed -e "s#^\(  parquet: \).*#\1$OUT/snap-2m-csv/snapshot_date={{ .Date }}/*.parquet#" \
	-e "s#^\(  path: \)\.\./#\1$ROOT/#" \
	-e "s#^\(  table: \).*#\1$OUT/tables/sql-gbm-2m-parquet#" \
	-e '/^validation:/,$d' configs/churn_nightly.yaml >"$PQJOB"
grep -q 'dsn_env: BENCH_DSN' "$SQLJOB" && grep -q "$OUT/tables/sql-gbm-2m-parquet" "$PQJOB" ||
	{ echo "bench sql: could not rewrite configs/churn_nightly.yaml" >&2; exit 1; }

# timed <file> <command...>: wall, user and system seconds of one command.
timed() {
	local f=$1
	shift
	$TIME -f '%e %U %S' -o "$f" "$@"
}

e2e() { # e2e <name> <round>
	local name=$1 r=$2 t="$RES/e2e-$1-$2"
	rm -rf "$OUT/tables/$name"
	if ! $TIME -v -o "$t.time" bin/batchscore run "$OUT/jobs/$name.yaml" --date "$DATE" --json >"$t.json" 2>"$t.log"; then
		echo "bench sql: bin/batchscore run $name failed; see $t.log" >&2
		tail -5 "$t.log" >&2
		exit 1
	fi
	rm -rf "$OUT/tables/$name"
}

# --- rounds -----------------------------------------------------------------
for r in $(seq 1 "$ROUNDS"); do
	echo "sql round $r start $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
	log "round $r/$ROUNDS: read, psql \\copy TO /dev/null"
	timed "$RES/sql-psqlread-$r.time" "${PSQL[@]}" -c "\\copy (SELECT * FROM customers) TO '/dev/null'"
	log "round $r/$ROUNDS: read, BenchmarkPGRead"
	"$OUT/bin/sqlio.test" -test.run '^$' -test.bench '^BenchmarkPGRead$' -test.benchtime 1x >"$RES/sql-read-$r.txt"

	log "round $r/$ROUNDS: write, BenchmarkPGWrite"
	"$OUT/bin/sqlio.test" -test.run '^$' -test.bench '^BenchmarkPGWrite$' -test.benchtime 1x >"$RES/sql-write-$r.txt"
	if [ "$r" = 1 ]; then
		# The rows the sink wrote, all columns (version and scored_at too).
		"${PSQL[@]}" -c "\\copy (SELECT * FROM bench_scores) TO '$PGDIR/results.csv' CSV"
		"${PSQL[@]}" -c "CREATE TABLE scores_copy (LIKE bench_scores INCLUDING ALL)"
		ls -l "$PGDIR/results.csv" | awk '{print "results.csv bytes=" $5}' >>"$RES/sql-load.txt"
	fi
	"${PSQL[@]}" -c "TRUNCATE scores_copy"
	log "round $r/$ROUNDS: write, psql \\copy FROM results.csv"
	timed "$RES/sql-psqlwrite-$r.time" "${PSQL[@]}" -c "\\copy scores_copy FROM '$PGDIR/results.csv' CSV"

	log "round $r/$ROUNDS: memory, BenchmarkPGFlat (1M, 10M rows)"
	"$OUT/bin/sqlio.test" -test.run '^$' -test.bench '^BenchmarkPGFlat$' -test.benchtime 1x >"$RES/sql-flat-$r.txt"

	if [ "${BENCH_SQL_SKIP_E2E:-}" != 1 ]; then
		log "round $r/$ROUNDS: end to end sql-gbm-2m, sql-gbm-2m-parquet"
		e2e sql-gbm-2m "$r"
		e2e sql-gbm-2m-parquet "$r"
	fi
	echo "sql round $r end   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES/load.txt"
done
echo "$ROWS" >"$RES/sql-rows.txt"
if [ -z "${BENCH_RES:-}" ]; then
	/usr/bin/python3 "$ROOT/testdata/bench/summarize.py" "$RES" | tee "$RES/summary.md"
	log "raw results: $RES"
fi
