#!/usr/bin/env bash
# What the checks cost end to end, part of make bench: the GBM job on the
# main ("2m") snapshot with the demo job's validation (configs/
# churn_nightly.yaml: its rules, table checks, unique keys and drift against
# the baseline) against the same job file with its validation section
# removed. The aim: the checks cost at most 10 % (ratio <= 1.10).
#
# In each of BENCH_ROUNDS rounds (default 3), interleaved (the order turns
# each round so neither variant always goes first), every run under
# /usr/bin/time -v. The table, printed and written to checks.md, gives per
# variant the median and best of wall and CPU seconds (user + system) and
# peak RSS, and the ratio checks / nochecks of the medians and of the bests.
#
# BENCH_CHECKS_BASE=path/to/another/batchscore adds the same two variants
# run by that binary (base-checks, base-nochecks) in the same rounds: the
# ratio before and after a change, measured side by side.
#
# Raw files in the results folder: checks-<variant>-<round>.{time,json,log}.
# Called by run.sh with BENCH_RES (its results folder); standalone it makes
# its own under BENCH_OUT/results, and the snapshot and job files with
# run.sh's rules (reused when they match).
# Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS, BENCH_ROWS (rows of
# the "2m" snapshot, default 2,000,000), BENCH_CHECKS_BASE,
# BATCHSCORE_ORT_LIB. Without /usr/bin/time or /usr/bin/python3 the runs
# still run, untimed, and there is no table ("skipped: ...").
WHO="bench checks"
source "$(dirname "$0")/common.sh"
BASE=${BENCH_CHECKS_BASE:-}

need_built
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "bench checks: BENCH_CHECKS_BASE=$BASE is not executable" >&2; exit 1; }
need_ort
check_timing

RES=${BENCH_RES:-}
if [ -z "$RES" ]; then
	RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-checks"
	mkdir -p "$RES"
	echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >"$RES/machine.txt"
fi

# --- snapshot and job files: run.sh's rules ----------------------------------
snap 2m "$ROWS" $(((ROWS + 499999) / 500000))
mkdir -p "$OUT/jobs"
CHECKS="$OUT/jobs/checks-on.yaml"
NOCHECKS="$OUT/jobs/checks-off.yaml"
job_yaml configs/churn_nightly.yaml "$OUT/snap-2m" "$OUT/tables/checks-on" >"$CHECKS"
sed -e '/^validation:/,$d' -e "s#/tables/checks-on#/tables/checks-off#" "$CHECKS" >"$NOCHECKS"
grep -q "$OUT/snap-2m" "$CHECKS" && grep -q "^validation:" "$CHECKS" && grep -q "baseline: $ROOT/" "$CHECKS" &&
	! grep -q "^validation:" "$NOCHECKS" && grep -q "$OUT/tables/checks-off" "$NOCHECKS" ||
	{ echo "bench checks: could not make the job files from configs/churn_nightly.yaml" >&2; exit 1; }

# --- the rounds ---------------------------------------------------------------
variant() { # variant <variant> <round>
	case $1 in
	checks) run_json checks "$1" bin/batchscore "$CHECKS" "$2" ;;
	nochecks) run_json checks "$1" bin/batchscore "$NOCHECKS" "$2" ;;
	base-checks) run_json checks "$1" "$BASE" "$CHECKS" "$2" ;;
	base-nochecks) run_json checks "$1" "$BASE" "$NOCHECKS" "$2" ;;
	esac
}
VARIANTS=(checks nochecks)
[ -z "$BASE" ] || VARIANTS+=(base-checks base-nochecks)
rounds variant

table_or_skip
"$PY" - "$RES" "$ROUNDS" "${VARIANTS[@]}" <<'EOF' | tee "$RES/checks.md"
import re, statistics, sys
res, rounds, variants = sys.argv[1], int(sys.argv[2]), sys.argv[3:]

def parse(path):
    t = open(path).read()
    def f(key):
        return float(re.search(re.escape(key) + r":\s*(\S+)", t).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return secs, f("User time (seconds)") + f("System time (seconds)"), f("Maximum resident set size (kbytes)") / 1024

runs = {v: [parse(f"{res}/checks-{v}-{r}.time") for r in range(1, rounds + 1)] for v in variants}
print(f"Checks end to end: the demo job's validation against none, {rounds} interleaved round(s)\n")
print("| variant | wall median (s) | wall best (s) | CPU median (s) | CPU best (s) | peak RSS median (MB) |")
print("|---|---|---|---|---|---|")
for v in variants:
    w, c, m = zip(*runs[v])
    print(f"| {v} | {statistics.median(w):.2f} | {min(w):.2f} | {statistics.median(c):.2f} | {min(c):.2f} | {statistics.median(m):.0f} |")
print()
for prefix in ("", "base-"):
    on, off = prefix + "checks", prefix + "nochecks"
    if on not in runs:
        continue
    (w1, c1, _), (w0, c0, _) = (zip(*runs[on]), zip(*runs[off]))
    print(f"{prefix or 'this '}binary: checks/nochecks CPU median {statistics.median(c1) / statistics.median(c0):.3f}, "
          f"best {min(c1) / min(c0):.3f}; wall median {statistics.median(w1) / statistics.median(w0):.3f}, "
          f"best {min(w1) / min(w0):.3f} (aim <= 1.10)")
EOF
[ -n "${BENCH_RES:-}" ] || log "raw results: $RES"
