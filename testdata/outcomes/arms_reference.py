"""Reference AUCs per arm (scikit-learn) and a seeded bootstrap of the AUC
difference of each arm against a reference arm (NumPy), for the tests of
batchscore outcomes' arms.

Usage: arms_reference.py REFERENCE_ARM SEED REPLICATES < rows.csv
Reads CSV rows "arm,score,label"; prints one JSON object:
{"auc": {arm: auc}, "bootstrap": {arm: {"lower", "upper", "sd"}}}
where lower and upper are the 2.5 and 97.5 percentiles of
AUC(arm) - AUC(reference) over REPLICATES resamples, each arm resampled on
its own (the arms are independent samples) and within its classes
(positives and negatives drawn with replacement at their own counts, the
setting DeLong's variance describes), and sd their standard deviation.
Run with Debian's /usr/bin/python3.
"""
import csv
import json
import sys

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

ref, seed, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
arms = {}
for row in csv.reader(sys.stdin):
    a = arms.setdefault(row[0], ([], []))
    a[0].append(float(row[1]))
    a[1].append(int(row[2]))

rng = np.random.default_rng(seed)


def boot(scores, labels):
    """AUCs of reps class-stratified resamples (Mann-Whitney, average ranks)."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    m, n = len(pos), len(neg)
    p = pos[rng.integers(0, m, size=(reps, m))]
    q = neg[rng.integers(0, n, size=(reps, n))]
    r = rankdata(np.concatenate([p, q], axis=1), axis=1)
    return (r[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)


out = {"auc": {}, "bootstrap": {}}
boots = {}
for name in sorted(arms):
    s, y = np.array(arms[name][0]), np.array(arms[name][1])
    out["auc"][name] = float(roc_auc_score(y, s))
    boots[name] = boot(s, y)
for name in sorted(arms):
    if name == ref:
        continue
    d = boots[name] - boots[ref]
    out["bootstrap"][name] = {
        "lower": float(np.percentile(d, 2.5)),
        "upper": float(np.percentile(d, 97.5)),
        "sd": float(np.std(d, ddof=1)),
    }
json.dump(out, sys.stdout)
