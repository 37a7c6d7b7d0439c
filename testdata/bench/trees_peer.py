#!/usr/bin/python3
"""The frameworks' own predictors on the tree bench's rows, for trees.sh.

    trees_peer.py xgb MODEL.json ROWS.f32   xgboost.Booster.inplace_predict, nthread=2
    trees_peer.py rf  MODEL.pkl  ROWS.f32   RandomForestClassifier.predict_proba, n_jobs=2

ROWS.f32 is treesnap's float32 row-major matrix of 12 columns, memory-mapped
(the rows already in memory: no Parquet reading). Prints the row count and a
checksum of the outputs. Run it under /usr/bin/time -v.
"""
import pickle
import sys

import numpy as np


def main():
    kind, model, rows = sys.argv[1:4]
    X = np.memmap(rows, dtype="<f4", mode="r").reshape(-1, 12)
    if kind == "xgb":
        import xgboost as xgb
        b = xgb.Booster(model_file=model)
        b.set_param({"nthread": 2})
        p = b.inplace_predict(X)
    else:
        with open(model, "rb") as f:
            m = pickle.load(f)
        m.n_jobs = 2
        p = m.predict_proba(X)
    print("%s: %d rows, checksum %.6f" % (kind, len(X), float(np.asarray(p, dtype=np.float64).sum())))


if __name__ == "__main__":
    main()
