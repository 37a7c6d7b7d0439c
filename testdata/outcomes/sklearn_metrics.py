"""Reference metrics for batchscore outcomes, from scikit-learn and SciPy.

Reads CSV rows "group,score,label" on stdin; prints one JSON object:
{group: {"rows", "auc", "brier", "log_loss", "ks"}}, null where a metric is
undefined (one class only). Run with Debian's /usr/bin/python3.
"""
import csv
import json
import sys

import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

groups = {}
for row in csv.reader(sys.stdin):
    g = groups.setdefault(row[0], ([], []))
    g[0].append(float(row[1]))
    g[1].append(int(row[2]))

out = {}
for name, (s, y) in groups.items():
    s, y = np.array(s), np.array(y)
    two = len(set(y.tolist())) == 2
    out[name] = {
        "rows": int(len(s)),
        "auc": float(roc_auc_score(y, s)) if two else None,
        "ks": float(ks_2samp(s[y == 1], s[y == 0]).statistic) if two else None,
        "brier": float(brier_score_loss(y, s)),
        "log_loss": float(log_loss(y, s, eps=1e-15, labels=[0, 1])),
    }
json.dump(out, sys.stdout)
