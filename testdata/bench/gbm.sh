#!/usr/bin/env bash
# Where the GBM job's wall time goes, part of make bench: is the job's
# ratio to the scikit-learn peer bound by the CPU it spends, or by cores
# left idle? The GBM job (configs/churn_nightly.yaml) runs on the main
# ("2m") snapshot, and the same job file on a 1,000-row snapshot, whose
# CPU is the job's fixed cost (process start, the model's load and check
# against ONNX Runtime, footers, the run's records).
#
# In each of BENCH_ROUNDS rounds (default 3), interleaved (the order turns
# each round), every run under /usr/bin/time -v, its manifest from --json.
# The table, printed and written to gbm.md, gives the median and best of:
# wall and CPU seconds (user + system); cores busy end to end (CPU / wall);
# the start-up's wall (the manifest's model and source stages) and the
# pipeline's (check_score_write); cores busy in the pipeline, estimated as
# (CPU - the small job's CPU) / the pipeline's wall; the reader's busy
# share of the pipeline. With the peer's results in the same results
# folder (run.sh's peer-<r>.json: two processes, one predict_proba call
# each, on the rows already in memory), also the ratio peer / job in wall
# (the ratio run.sh's summary reports) and in CPU, and the wall and the
# CPU on these cores that a ratio of 2.5 would need.
#
# BENCH_GBM_BASE=path/to/another/batchscore runs the same two jobs with that
# binary in the same rounds (base, base-small): before and after a change.
#
# Raw files in the results folder: gbm-<variant>-<round>.{time,json,log}.
# Called by run.sh with BENCH_RES (its results folder); standalone it makes
# its own under BENCH_OUT/results, and the snapshot with run.sh's rules
# (reused when it matches).
# Settings: BENCH_OUT (default out/bench), BENCH_ROUNDS, BENCH_ROWS (rows of
# the "2m" snapshot, default 2,000,000), BENCH_GBM_BASE, BATCHSCORE_ORT_LIB.
# Without /usr/bin/time or /usr/bin/python3 the runs still run, untimed,
# and there is no table ("skipped: ...").
WHO="bench gbm"
source "$(dirname "$0")/common.sh"
BASE=${BENCH_GBM_BASE:-}

need_built
[ -z "$BASE" ] || [ -x "$BASE" ] || { echo "bench gbm: BENCH_GBM_BASE=$BASE is not executable" >&2; exit 1; }
need_ort
check_timing

RES=${BENCH_RES:-}
if [ -z "$RES" ]; then
	RES="$OUT/results/$(date -u +%Y%m%dT%H%M%SZ)-gbm"
	mkdir -p "$RES"
fi

# --- snapshots and job files: run.sh's ----------------------------------------
snap 2m "$ROWS" $(((ROWS + 499999) / 500000))
snap 1k 1000 1
mkdir -p "$OUT/jobs"
job configs/churn_nightly.yaml gbm-main 2m
job configs/churn_nightly.yaml gbm-small 1k

# --- the rounds ---------------------------------------------------------------
variant() { # variant <variant> <round>
	case $1 in
	job) run_json gbm "$1" bin/batchscore "$OUT/jobs/gbm-main.yaml" "$2" ;;
	small) run_json gbm "$1" bin/batchscore "$OUT/jobs/gbm-small.yaml" "$2" ;;
	base) run_json gbm "$1" "$BASE" "$OUT/jobs/gbm-main.yaml" "$2" ;;
	base-small) run_json gbm "$1" "$BASE" "$OUT/jobs/gbm-small.yaml" "$2" ;;
	esac
}
VARIANTS=(job small)
[ -z "$BASE" ] || VARIANTS+=(base base-small)
rounds variant

table_or_skip
"$PY" - "$RES" "$ROUNDS" "$ROWS" "${VARIANTS[@]}" <<'EOF' | tee "$RES/gbm.md"
import glob, json, os, re, statistics, sys
res, rounds, rows, variants = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
AIM = 2.5  # issue 21: the GBM job 2.5x the two-process scikit-learn peer


def timed(path):
    t = open(path).read()
    f = lambda key: float(re.search(re.escape(key) + r":\s*(\S+)", t).group(1))
    secs = 0.0
    for part in re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":"):
        secs = secs * 60 + float(part)
    return secs, f("User time (seconds)") + f("System time (seconds)")


def run(v, r):
    wall, cpu = timed(f"{res}/gbm-{v}-{r}.time")
    m = json.load(open(f"{res}/gbm-{v}-{r}.json"))
    stages = {s["name"]: s["seconds"] for s in m.get("stages") or []}
    busy = {b["stage"]: b["share"] for b in m.get("busy") or []}
    return {"wall": wall, "cpu": cpu, "start": stages.get("model", 0) + stages.get("source", 0),
            "pipeline": stages.get("check_score_write", 0), "read": busy.get("read", 0)}


def med_best(xs, best):
    return statistics.median(xs), best(xs)


peers = [json.load(open(p))["pair"] for p in sorted(glob.glob(os.path.join(res, "peer-*.json")))]
print(f"GBM job: where the wall time goes, {rows:,} rows, {rounds} interleaved round(s), {os.cpu_count()} cores\n")
print("| binary | wall s | CPU s | cores busy, end to end | fixed CPU s (1,000 rows) | start-up wall s | pipeline wall s "
      "| cores busy in the pipeline | reader busy share |")
print("|---|---|---|---|---|---|---|---|---|")
notes = []
for name, big, small in (("this", "job", "small"), ("base", "base", "base-small")):
    if big not in variants:
        continue
    b = [run(big, r) for r in range(1, rounds + 1)]
    s = [run(small, r) for r in range(1, rounds + 1)]
    fixed = statistics.median(x["cpu"] for x in s)
    cols = [med_best([x["wall"] for x in b], min), med_best([x["cpu"] for x in b], min),
            med_best([x["cpu"] / x["wall"] for x in b], max), med_best([x["cpu"] for x in s], min),
            med_best([x["start"] for x in b], min), med_best([x["pipeline"] for x in b], min),
            med_best([(x["cpu"] - fixed) / x["pipeline"] for x in b if x["pipeline"] > 0] or [0], max),
            med_best([x["read"] for x in b], max)]
    print(f"| {name} | " + " | ".join(f"{m:.2f} ({bst:.2f})" for m, bst in cols) + " |")
    if peers and name == "this" and all(p["rows"] == rows for p in peers):
        pw, pc = med_best([p["wall"] for p in peers], min), med_best([p["cpu"] for p in peers], min)
        jw, jc = med_best([x["wall"] for x in b], min), med_best([x["cpu"] for x in b], min)
        notes += [f"Peer (two processes, one predict_proba call each, rows in memory): wall {pw[0]:.2f} ({pw[1]:.2f}) s, "
                  f"CPU {pc[0]:.2f} ({pc[1]:.2f}) s.",
                  f"Peer / job: wall {pw[0] / jw[0]:.2f} median, {pw[1] / jw[1]:.2f} best/best; "
                  f"CPU {pc[0] / jc[0]:.2f} median, {pc[1] / jc[1]:.2f} best/best.",
                  f"A ratio of {AIM} needs the job in {pw[1] / AIM:.2f} s of wall: at most "
                  f"{pw[1] / AIM * os.cpu_count():.2f} CPU-s on these {os.cpu_count()} cores with every core busy "
                  f"(the job's best round spent {jc[1]:.2f})."]
print("\nmedian (best) over the rounds; cores busy in the pipeline counts the small job's CPU as start-up.")
if notes:
    print("\n" + "\n".join(notes))
EOF
[ -n "${BENCH_RES:-}" ] || log "raw results: $RES"
