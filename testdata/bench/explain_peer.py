#!/usr/bin/python3
"""XGBoost's own exact TreeSHAP on the tree bench's rows, for explain.sh.

    explain_peer.py covers MODEL.json OUT.json    write the booster's covers (get_dump with_stats)
    explain_peer.py contribs MODEL.json ROWS.f32  Booster.predict(pred_contribs=True), nthread=2
    explain_peer.py median MODEL.json ROWS.f32    print the median predicted probability

ROWS.f32 is treesnap's float32 row-major matrix of 12 columns. contribs prints
the row count, a checksum and the CPU and wall seconds of the call alone
(DMatrix and pred_contribs). Run it under /usr/bin/time -v.
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def main():
    cmd, model, arg = sys.argv[1:4]
    b = xgb.Booster(model_file=model)
    b.set_param({"nthread": 2})
    if cmd == "covers":
        covers = []
        for tid, dump in enumerate(b.get_dump(with_stats=True, dump_format="json")):
            stack = [json.loads(dump)]
            while stack:
                n = stack.pop()
                covers.append({"tree": tid, "node": n["nodeid"], "cover": n["cover"]})
                stack.extend(n.get("children", []))
        with open(arg, "w") as f:
            json.dump(covers, f)
        return
    X = np.memmap(arg, dtype="<f4", mode="r").reshape(-1, 12)
    if cmd == "median":
        print(repr(float(np.median(b.inplace_predict(X)))))
        return
    X = np.array(X)  # read in before the clocks start
    cpu, wall = time.process_time(), time.perf_counter()
    c = b.predict(xgb.DMatrix(X, nthread=2), pred_contribs=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print("contribs: %d rows, checksum %.6f" % (len(X), float(np.asarray(c, dtype=np.float64).sum())))
    # The call alone (DMatrix and pred_contribs, every thread's CPU): what
    # explain.sh divides the rows by, without Python's start and imports.
    print("call: cpu_s %.6f wall_s %.6f" % (cpu, wall))


if __name__ == "__main__":
    main()
