#!/usr/bin/python3
"""Summarize a testdata/bench/tricks.sh results folder as Markdown.

Usage: tricks.py RESULTS_DIR

Reads <job>-<build>-<round>.time (/usr/bin/time -v) and .json (manifests).
Per job and build: best and median wall seconds, median CPU seconds, and the
time of the build over default's in the same round (median of the rounds'
ratios, wall and CPU): above 1 the build is slower than default.
"""
import glob
import json
import os
import re
import statistics
import sys


def parse_time(path):
    t = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            secs = 0.0
            for part in line.rsplit(": ", 1)[1].split(":"):
                secs = secs * 60 + float(part)
            t["wall"] = secs
        elif line.startswith("User time (seconds)"):
            t["user"] = float(line.rsplit(": ", 1)[1])
        elif line.startswith("System time (seconds)"):
            t["sys"] = float(line.rsplit(": ", 1)[1])
    t["cpu"] = t.get("user", 0) + t.get("sys", 0)
    return t


def main(res):
    runs = {}  # (job, build) -> {round: times}
    for p in glob.glob(os.path.join(res, "*.time")):
        m = re.match(r"(.+)-(default|nocheck|purego)-(\d+)\.time$", os.path.basename(p))
        if not m:
            continue
        job, build, r = m.group(1), m.group(2), int(m.group(3))
        t = parse_time(p)
        try:
            man = json.load(open(p[:-5] + ".json"))
            t["engine"] = man.get("model", {}).get("engine", "")
            t["rows"] = man.get("counts", {}).get("read") or man.get("counts", {}).get("valid")
        except (OSError, ValueError):
            pass
        runs.setdefault((job, build), {})[r] = t
    print("| job | build | rounds | wall best s | wall median s | CPU median s | wall / default | CPU / default |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for job in ["gbm-2m", "logreg-2m", "gbm-2m-ort", "logreg-2m-ort"]:
        base = runs.get((job, "default"), {})
        for build in ["default", "nocheck", "purego"]:
            rs = runs.get((job, build))
            if not rs:
                continue
            wall = [t["wall"] for t in rs.values()]
            cpu = [t["cpu"] for t in rs.values()]
            rw = [rs[r]["wall"] / base[r]["wall"] for r in rs if r in base]
            rc = [rs[r]["cpu"] / base[r]["cpu"] for r in rs if r in base]
            ratio = lambda v: "%.3f" % statistics.median(v) if v and build != "default" else "1"
            print("| %s | %s | %d | %.2f | %.2f | %.2f | %s | %s |" % (
                job, build, len(rs), min(wall), statistics.median(wall), statistics.median(cpu), ratio(rw), ratio(rc)))
    engines = sorted({(j, b, t.get("engine", "")[:60]) for (j, b), rs in runs.items() for t in rs.values()})
    print()
    print("Engines (model.engine, first 60 characters):")
    for j, b, e in engines:
        print("- %s %s: %s" % (j, b, e))
    print()
    for line in open(os.path.join(res, "load.txt")):
        print("    " + line.rstrip())


main(sys.argv[1])
