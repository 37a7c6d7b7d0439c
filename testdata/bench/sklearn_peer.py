#!/usr/bin/python3
"""The sklearn peer of make bench: what a user's plain Python batch job does.

Usage (run.sh calls it each round):

    /usr/bin/python3 testdata/bench/sklearn_peer.py --out out/bench --json FILE

It needs Debian's python3-sklearn (apt-get install python3-sklearn); pyenv's
python3 cannot see it. It

1. retrains the GBM of testdata/models/churn_gbm.onnx exactly as
   testdata/models/build_models.py does (same generator run, same features,
   GradientBoostingClassifier(n_estimators=200, max_depth=4,
   learning_rate=0.1, random_state=0) on float32), checks it against the
   committed reference outputs of 2026-11-20 (gbm_p1 equal to the last bit),
   and pickles it to OUT/peer/churn_gbm.pkl (reused while the stamp matches);
2. loads the 30 features of the bench's 2M snapshot (the CSVs that
   gensnapshot --csv writes next to the same Parquet files,
   OUT/snap-2m-csv, made if missing) into a float32 array, cached as
   OUT/peer/snap-2m-features.npy;
3. times predict_proba (sklearn's tree predict uses one thread):
   - "one": one process on the first half of the rows, alone;
   - "pair": two processes started together, each on its half, each array
     copied into the process's memory and warmed up before a barrier; rate =
     all rows / (last end - first start);
   - "one_chunked", "pair_chunked": the same in calls of --chunk rows
     (default 8,192). One call over a million rows streams the 120 MB array
     from memory once per tree; calls of 8k rows keep it in cache and are
     about 1.4x faster here. A careful user's script would do that, so it is
     the stronger peer.

Prints one JSON object (also to --json FILE).
"""

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

# sklearn's tree predict is single-threaded; keep numpy's BLAS the same.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "testdata", "models"))

try:
    import numpy as np
    import sklearn
    from sklearn.ensemble import GradientBoostingClassifier
except ImportError as e:  # run.sh checks first; this is for direct use
    sys.exit("sklearn_peer: %s (apt-get install python3-sklearn, run with /usr/bin/python3)" % e)

import multiprocessing as mp

import build_models as bm  # noqa: E402  (needs onnx too: Debian's python3-onnx)

BENCH_DATE = "2026-12-01"
BENCH_ROWS = 2000000
BENCH_FILES = 4
GBM_PARAMS = dict(n_estimators=200, max_depth=4, learning_rate=0.1, random_state=0)
CHECK_DATE = "2026-11-20"


def log(msg):
    print("[sklearn_peer] " + msg, file=sys.stderr, flush=True)


def train(gen, peer_dir):
    """The GBM of build_models.py, pickled; reused while the stamp matches."""
    stamp = json.dumps({"sklearn": sklearn.__version__, "numpy": np.__version__,
                        "params": GBM_PARAMS, "train": [bm.TRAIN_DATE, bm.TRAIN_SEED, bm.TRAIN_ROWS],
                        "gensnapshot": hashlib.sha256(open(gen, "rb").read()).hexdigest()}, sort_keys=True)
    pkl, stamp_file = os.path.join(peer_dir, "churn_gbm.pkl"), os.path.join(peer_dir, "churn_gbm.stamp")
    if os.path.exists(pkl) and os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        log("model: reusing " + pkl)
        with open(pkl, "rb") as f:
            return pickle.load(f)
    features = bm.feature_names(gen)
    kinds = bm.arrow_types()
    with tempfile.TemporaryDirectory(prefix="sklearn_peer.") as tmp:
        _, train_csv = bm.generate(gen, os.path.join(tmp, "train"), bm.TRAIN_DATE, bm.TRAIN_ROWS, "1", bm.TRAIN_SEED)
        cols = bm.load_csv(train_csv)
        X32 = bm.matrix(cols, features, kinds).astype(np.float32)
        y = bm.column(cols, "churned", "b").astype(np.int64)
        t0 = time.perf_counter()
        gbm = GradientBoostingClassifier(**GBM_PARAMS).fit(X32, y)
        log("model: trained in %.1f s" % (time.perf_counter() - t0))
        # Same model as the committed ONNX one: sklearn's outputs on a
        # committed sample must equal the reference file build_models.py wrote.
        _, sample_csv = bm.generate(gen, os.path.join(tmp, "sample"), CHECK_DATE, bm.SAMPLE_ROWS, bm.SAMPLE_FILES)
        scols = bm.load_csv(sample_csv)
        p1 = gbm.predict_proba(bm.matrix(scols, features, kinds).astype(np.float32))[:, 1]
        ref = os.path.join(REPO, "testdata", "models", "reference_%s.csv" % CHECK_DATE)
        want = [float(line.split(",")[1]) for line in open(ref).read().splitlines()[1:]]
        if len(want) != len(p1) or any(float(a) != b for a, b in zip(p1, want)):
            sys.exit("sklearn_peer: the retrained GBM differs from %s (sklearn %s); not the same model"
                     % (os.path.relpath(ref, REPO), sklearn.__version__))
        log("model: matches %s on %d rows" % (os.path.relpath(ref, REPO), len(want)))
    with open(pkl + ".tmp", "wb") as f:
        pickle.dump(gbm, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(pkl + ".tmp", pkl)
    open(stamp_file, "w").write(stamp)
    return gbm


def features_npy(gen, out, peer_dir):
    """float32 [2M,30] of the bench snapshot, in model feature order."""
    csv_dir = os.path.join(out, "snap-2m-csv")
    flags = "--date %s --rows %d --files %d --csv" % (BENCH_DATE, BENCH_ROWS, BENCH_FILES)
    part = os.path.join(csv_dir, "snapshot_date=" + BENCH_DATE)
    npy, stamp_file = os.path.join(peer_dir, "snap-2m-features.npy"), os.path.join(peer_dir, "snap-2m-features.stamp")
    gen_hash = hashlib.sha256(open(gen, "rb").read()).hexdigest()
    stamp = flags + " " + gen_hash
    if os.path.exists(npy) and os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
        log("data: reusing " + npy)
        return npy
    have = open(os.path.join(csv_dir, ".gensnapshot-flags")).read().strip() if os.path.exists(
        os.path.join(csv_dir, ".gensnapshot-flags")) else None
    csvs = sorted(os.path.join(part, f) for f in os.listdir(part) if f.endswith(".csv")) if os.path.isdir(part) else []
    if have != flags or len(csvs) != BENCH_FILES:
        # The same layout and stamp as testdata/bench/sql.sh, which shares it.
        log("data: generating %s (%s)" % (csv_dir, flags))
        subprocess.run(["rm", "-rf", csv_dir], check=True)
        subprocess.run([gen, "-q", *flags.split(), "--out", csv_dir], check=True)
        open(os.path.join(csv_dir, ".gensnapshot-flags"), "w").write(flags + "\n")
        csvs = sorted(os.path.join(part, f) for f in os.listdir(part) if f.endswith(".csv"))
    features = bm.feature_names(gen)
    kinds = bm.arrow_types()
    t0 = time.perf_counter()
    parts = []
    for p in csvs:
        header = open(p).readline().rstrip("\n").split(",")
        use = [header.index(n) for n in features]
        conv = {header.index(n): (lambda s: 1.0 if s == "true" else 0.0) for n in features if kinds[n] == "b"}
        # Parse as float64 (the CSV holds exact float64 values), then round
        # to float32 once, as batchscore and build_models.py do.
        parts.append(np.loadtxt(p, delimiter=",", skiprows=1, usecols=use, converters=conv,
                                dtype=np.float64, encoding="utf-8").astype(np.float32))
    X = np.ascontiguousarray(np.concatenate(parts))
    assert X.shape == (BENCH_ROWS, len(features)), X.shape
    np.save(npy + ".tmp.npy", X)
    os.replace(npy + ".tmp.npy", npy)
    open(stamp_file, "w").write(stamp)
    log("data: %d rows parsed from CSV in %.1f s, cached in %s" % (len(X), time.perf_counter() - t0, npy))
    return npy


def worker(pkl, npy, lo, hi, chunk, barrier, q):
    with open(pkl, "rb") as f:
        gbm = pickle.load(f)
    X = np.array(np.load(npy, mmap_mode="r")[lo:hi])  # a private in-memory copy
    gbm.predict_proba(X[:2000])  # warm-up
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    if chunk:
        p = np.concatenate([gbm.predict_proba(X[i:i + chunk]) for i in range(0, len(X), chunk)])
    else:
        p = gbm.predict_proba(X)
    t1, c1 = time.perf_counter(), time.process_time()
    q.put({"lo": lo, "rows": hi - lo, "start": t0, "end": t1, "cpu": c1 - c0, "mean_p1": float(p[:, 1].mean())})


def timed(pkl, npy, ranges, chunk=0):
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(len(ranges)), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(pkl, npy, lo, hi, chunk, barrier, q)) for lo, hi in ranges]
    for pr in procs:
        pr.start()
    res = [q.get() for _ in procs]
    for pr in procs:
        pr.join()
        if pr.exitcode != 0:
            sys.exit("sklearn_peer: a worker failed")
    rows = sum(r["rows"] for r in res)
    wall = max(r["end"] for r in res) - min(r["start"] for r in res)
    cpu = sum(r["cpu"] for r in res)
    return {"processes": len(ranges), "chunk": chunk, "rows": rows, "wall": wall, "rows_s": rows / wall,
            "cpu": cpu, "rows_cpu_s": rows / cpu if cpu else 0,
            "per_process_rows_s": [r["rows"] / (r["end"] - r["start"]) for r in sorted(res, key=lambda r: r["lo"])],
            "mean_p1": sum(r["mean_p1"] * r["rows"] for r in res) / rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(REPO, "out", "bench"), help="bench folder (default out/bench)")
    ap.add_argument("--gensnapshot", default=os.path.join(REPO, "bin", "gensnapshot"))
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--prepare", action="store_true", help="train/pickle the model and cache the array, then exit")
    ap.add_argument("--skip-one", action="store_true", help="only the two-process runs")
    ap.add_argument("--chunk", type=int, default=8192,
                    help="rows per predict_proba call of the *_chunked runs (default 8192, sklearn's best here)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    peer_dir = os.path.join(out, "peer")
    os.makedirs(peer_dir, exist_ok=True)
    gen = os.path.abspath(args.gensnapshot)

    train(gen, peer_dir)
    npy = features_npy(gen, out, peer_dir)
    pkl = os.path.join(peer_dir, "churn_gbm.pkl")
    if args.prepare:
        return
    half = BENCH_ROWS // 2
    result = {"sklearn": sklearn.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
              "model": "GradientBoostingClassifier %s" % GBM_PARAMS, "rows": BENCH_ROWS}
    pair = [(0, half), (half, BENCH_ROWS)]
    runs = [("pair", pair, 0), ("pair_chunked", pair, args.chunk)]
    if not args.skip_one:
        runs = [("one", [(0, half)], 0), ("one_chunked", [(0, half)], args.chunk)] + runs
    for key, ranges, chunk in runs:
        r = result[key] = timed(pkl, npy, ranges, chunk)
        log("%s: %d process(es), %d rows, %s: %.0f rows/s (per process %s)" % (
            key, len(ranges), r["rows"], "%d-row calls" % chunk if chunk else "one call per process",
            r["rows_s"], ", ".join("%.0f" % x for x in r["per_process_rows_s"])))
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        open(args.json, "w").write(text + "\n")


if __name__ == "__main__":
    main()
