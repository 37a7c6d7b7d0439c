#!/usr/bin/python3
"""Train the explanation test models in testdata/models/explain and write
XGBoost's own exact TreeSHAP (Booster.predict(pred_contribs=True)) for fresh
rows, with each model's node covers.

Run with Debian's python3 (python3-xgboost 1.7.x, python3-sklearn 1.2.x,
python3-onnx 1.12, python3-numpy):

    /usr/bin/python3 testdata/models/build_explain.py   (make models-explain)

Models are exported by hand as build_tree_families.py does (its functions):
  xgb_bin     binary:logistic, 25 trees, depth 4, trained with NaNs
              (BRANCH_LT, missing values tracked), LOGISTIC
  xgb_multi   multi:softprob, 3 classes, 8 rounds, depth 3, SOFTMAX
  xgb_reg     reg:squarederror, 20 trees, depth 4
  sk_gbm      GradientBoostingClassifier, 10 trees, depth 3 (NaN-free rows)
  sk_logreg   StandardScaler + LogisticRegression as Scaler + LinearClassifier
              (two score rows, LOGISTIC); linear.means.f64 holds the
              training means (E[x]), sk_logreg.contribs.f64 NumPy's
              w_j*scale_j*(x_j - mean_j) then the bias and the margin
              (decision_function) per row

Files in testdata/models/explain/:
  inputs.f32             200 fresh rows x 12 features, float32, row-major
                         (NaN in features 0, 3, 7 in about 8 % of rows)
  <model>.onnx           the model
  <model>.covers.json    [{"tree","node","cover"}]: XGBoost's cover from
                         get_dump(with_stats=True, dump_format="json"),
                         scikit-learn's tree_.weighted_n_node_samples
  <model>.contribs.f32   XGBoost's pred_contribs, rows x 13 (12 features,
                         then the bias); xgb_multi: class 1's
"""

import json
import os
import sys

import numpy as np
import xgboost as xgb
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_tree_families as fam  # noqa: E402

# A folder given on the command line instead (the live XGBoost test in
# scoring/explain writes to a temporary one).
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "explain")


def xgb_covers(booster):
    covers = []
    for tid, dump in enumerate(booster.get_dump(with_stats=True, dump_format="json")):
        stack = [json.loads(dump)]
        while stack:
            n = stack.pop()
            covers.append({"tree": tid, "node": n["nodeid"], "cover": n["cover"]})
            stack.extend(n.get("children", []))
    return sorted(covers, key=lambda c: (c["tree"], c["node"]))


def sk_covers(m):
    covers = []
    for tid, est in enumerate(m.estimators_[:, 0]):
        t = est.tree_
        for nid in range(t.node_count):
            covers.append({"tree": tid, "node": nid, "cover": float(t.weighted_n_node_samples[nid])})
    return covers


def write_covers(name, covers):
    with open(os.path.join(OUT, name + ".covers.json"), "w") as f:
        json.dump(covers, f)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    X, yb, ym, yr = fam.make_data(np.random.default_rng(2212), 4000, 0.08)
    Xt = fam.make_data(np.random.default_rng(2213), 200, 0.08)[0]
    fam.write_f32(os.path.join(OUT, "inputs.f32"), Xt)
    p = {"eta": 0.3, "seed": 0, "nthread": 1}
    models = {
        "xgb_bin": ("binary:logistic", 2, xgb.train(dict(p, objective="binary:logistic", max_depth=4), xgb.DMatrix(X, yb), 25)),
        "xgb_multi": ("multi:softprob", 3, xgb.train(dict(p, objective="multi:softprob", num_class=3, max_depth=3),
                                                     xgb.DMatrix(X, ym), 8)),
        "xgb_reg": ("reg:squarederror", 1, xgb.train(dict(p, objective="reg:squarederror", max_depth=4), xgb.DMatrix(X, yr), 20)),
    }
    for name, (objective, classes, b) in models.items():
        kind = classes > 1
        fam.save_model(fam.export_xgb(b, objective, name, classes), name, classes, "xgboost explain test model", kind, OUT)
        write_covers(name, xgb_covers(b))
        c = b.predict(xgb.DMatrix(Xt), pred_contribs=True)
        if c.ndim == 3:
            c = c[:, 1, :]
        fam.write_f32(os.path.join(OUT, name + ".contribs.f32"), c)
    Xs = fam.impute(X)
    gbm = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(Xs, yb)
    node = fam.export_sk_gbm_binary(gbm)
    node.name = "sk_gbm"
    fam.save_model(node, "sk_gbm", 2, "scikit-learn explain test model", True, OUT)
    write_covers("sk_gbm", sk_covers(gbm))
    linear(Xs, yb, fam.impute(Xt))


def linear(X, y, Xt):
    sc = StandardScaler().fit(X)
    lr = LogisticRegression(max_iter=500).fit(sc.transform(X), y)
    w = lr.coef_[0].astype(np.float32)
    b = np.float32(lr.intercept_[0])
    offset, scale = sc.mean_.astype(np.float32), (1 / sc.scale_).astype(np.float32)
    nodes = [helper.make_node("Scaler", ["X"], ["scaled"], domain="ai.onnx.ml", offset=offset.tolist(), scale=scale.tolist()),
             helper.make_node("LinearClassifier", ["scaled"], ["label", "probabilities"], domain="ai.onnx.ml",
                              coefficients=np.concatenate([-w, w]).tolist(), intercepts=[float(-b), float(b)],
                              classlabels_ints=[0, 1], post_transform="LOGISTIC")]
    graph = helper.make_graph(nodes, "sk_logreg", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, fam.FEATURES])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                               helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 8
    with open(os.path.join(OUT, "sk_logreg.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    means = X.astype(np.float64).mean(axis=0)
    weff = w.astype(np.float64) * scale.astype(np.float64)
    contribs = weff * (Xt.astype(np.float64) - means)
    bias = float(b) + np.sum(weff * (means - offset.astype(np.float64)))
    margin = float(b) + (weff * (Xt.astype(np.float64) - offset.astype(np.float64))).sum(axis=1)
    out = np.concatenate([contribs, np.full((len(Xt), 1), bias), margin[:, None]], axis=1)
    np.ascontiguousarray(means, dtype="<f8").tofile(os.path.join(OUT, "linear.means.f64"))
    np.ascontiguousarray(out, dtype="<f8").tofile(os.path.join(OUT, "sk_logreg.contribs.f64"))


if __name__ == "__main__":
    main()
