#!/usr/bin/python3
"""Train the tree-family test models in testdata/models/families and write
their frameworks' own predictions.

Run with Debian's python3 (python3-sklearn 1.2.x, python3-xgboost 1.7.x,
python3-onnx 1.12, python3-numpy):

    /usr/bin/python3 testdata/models/build_tree_families.py   (make models-families)

Every model is exported by hand with onnx.helper (no skl2onnx or
onnxmltools) in the form those converters write:

  scikit-learn (trained on NaN-free rows; thresholds stored as the largest
  float32 not above scikit-learn's float64 threshold, BRANCH_LEQ):
    sk_gbm_binary    GradientBoostingClassifier, 2 classes: one score column
                     (class_ids 0), base_values = init log-odds, LOGISTIC
    sk_gbm_multi     GradientBoostingClassifier, 3 classes: tree (stage, k)
                     weighs class k, base_values = init raw scores, SOFTMAX
    sk_gbm_reg       GradientBoostingRegressor: SUM, base_values = init mean
    sk_rf_binary     RandomForestClassifier, 2 classes: class 1's
                     probability / n_trees in class 0, NONE
    sk_rf_multi      RandomForestClassifier, 3 classes: each leaf's class
                     probabilities / n_trees, SUM, NONE
    sk_rf_reg        RandomForestRegressor: leaf value / n_trees, SUM
    sk_et_multi      ExtraTreesClassifier, 3 classes (as sk_rf_multi)
    sk_et_reg        ExtraTreesRegressor (as sk_rf_reg)
  XGBoost (trained with NaNs; BRANCH_LT, x < split_condition, NaN goes to
  the default direction: nodes_missing_value_tracks_true = default_left):
    xgb_binary       binary:logistic: class_ids 0, base_values = logit(base_score), LOGISTIC
    xgb_multi        multi:softprob, 3 classes: tree i weighs class i % 3,
                     base_values = base_score per class, SOFTMAX
    xgb_reg          reg:squarederror: SUM, base_values = base_score
  hand-built (no framework; compared with ONNX Runtime only):
    hand_modes       one tree per branch mode, with and without missing-value
                     tracking, 3 classes, per-class weights, SOFTMAX_ZERO
    hand_eq_chain    LightGBM-style categorical splits: chains of BRANCH_EQ
                     whose true branches share one child, LOGISTIC
    hand_min         regressor, 2 targets, MIN, base values
    hand_max         regressor, 1 target, MAX
    v5_xgb_reg       xgb_reg's trees as an ai.onnx.ml opset-5 TreeEnsemble
                     (no base value) plus a tree of one leaf
    v5_xgb_multi     xgb_multi's trees likewise, 3 targets, SOFTMAX

Files written to testdata/models/families/:
  inputs.f32            3,000 rows x 12 features, float32 little-endian,
                        row-major; features 0, 3 and 7 are NaN in about 8 %
                        of the rows
  <model>.onnx          the model
  <model>.expected.f32  the framework's outputs on every row, float32
                        little-endian, rows x columns: predict_proba for
                        classifiers, predict for regressors (XGBoost:
                        Booster.predict); NaN on rows the framework cannot
                        score (scikit-learn 1.2 refuses NaN inputs)
  families.json         per model: kind, columns, class labels, framework

Options: --bench DIR writes the benchmark models (xgb_bench: 120 trees,
depth 5, 12 features, missing values tracked; rf_bench: RandomForest 3
classes, 100 trees, depth 8) and their training data to DIR instead.
The script is deterministic (fixed seeds, one thread).
"""

import argparse
import json
import os
import sys

import numpy as np
import onnx
import sklearn
import xgboost as xgb
from onnx import TensorProto, helper
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, GradientBoostingClassifier,
                              GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "families")
FEATURES = 12
TEST_ROWS = 3000
TRAIN_ROWS = 6000
NAN_FEATURES = (0, 3, 7)
PRODUCER = "batchscore build_tree_families.py"


# --------------------------------------------------------------------------
# Data


def make_data(rng, rows, nan_rate):
    """Rows of 12 features: 9 continuous, feature 4 an integer category 0..5,
    features 10 and 11 small integers; NaN in features 0, 3, 7."""
    X = rng.normal(size=(rows, FEATURES))
    X[:, 4] = rng.integers(0, 6, size=rows)
    X[:, 10] = rng.integers(0, 4, size=rows)
    X[:, 11] = np.round(rng.uniform(0, 100, size=rows), 1)
    X = X.astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1] ** 2 - X[:, 2] * X[:, 3] + 0.3 * (X[:, 4] == 2) + 0.01 * X[:, 11] - 0.5
    noise = rng.normal(scale=0.5, size=rows)
    y_bin = (score + noise > 0).astype(np.int64)
    third = np.stack([X[:, 0] - X[:, 5], X[:, 1] + 0.5 * X[:, 6], 0.4 * X[:, 2] + (X[:, 4] >= 3)], axis=1)
    y_multi = np.argmax(third + rng.normal(scale=0.4, size=third.shape), axis=1).astype(np.int64)
    y_reg = (2 * X[:, 0] + np.sin(X[:, 1]) + 0.1 * X[:, 11] + noise).astype(np.float64)
    if nan_rate:
        for f in NAN_FEATURES:
            X[rng.random(rows) < nan_rate, f] = np.nan
    return X, y_bin, y_multi, y_reg


# --------------------------------------------------------------------------
# ONNX


def f32_floor(t):
    """The largest float32 not above t: float32(x) <= it iff x <= t."""
    t32 = np.float32(t)
    if float(t32) > t:
        t32 = np.nextafter(t32, np.float32(-np.inf), dtype=np.float32)
    return float(t32)


class Ensemble:
    """Attribute lists of a TreeEnsembleClassifier or TreeEnsembleRegressor."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.p = "class_" if classifier else "target_"
        self.a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                                  "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                                  "nodes_missing_value_tracks_true"]}
        self.w = {self.p + k: [] for k in ["treeids", "nodeids", "ids", "weights"]}

    def branch(self, tree, node, feat, mode, thr, true, false, tracks=0):
        a = self.a
        a["nodes_treeids"].append(tree)
        a["nodes_nodeids"].append(node)
        a["nodes_featureids"].append(int(feat))
        a["nodes_modes"].append(mode)
        a["nodes_values"].append(float(thr))
        a["nodes_truenodeids"].append(int(true))
        a["nodes_falsenodeids"].append(int(false))
        a["nodes_missing_value_tracks_true"].append(int(tracks))

    def leaf(self, tree, node, weights):
        """weights: (column, value) pairs, in the order they are listed."""
        self.branch(tree, node, 0, "LEAF", 0.0, 0, 0)
        for col, w in weights:
            self.w[self.p + "treeids"].append(tree)
            self.w[self.p + "nodeids"].append(node)
            self.w[self.p + "ids"].append(int(col))
            self.w[self.p + "weights"].append(float(w))

    def node(self, name, post, base=None, labels=None, targets=1, aggregate=None):
        attrs = dict(self.a)
        attrs.update(self.w)
        attrs["post_transform"] = post
        if base is not None:
            attrs["base_values"] = [float(b) for b in base]
        if self.classifier:
            attrs["classlabels_int64s"] = [int(c) for c in labels]
            return helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"],
                                    name=name, domain="ai.onnx.ml", **attrs)
        attrs["n_targets"] = targets
        if aggregate:
            attrs["aggregate_function"] = aggregate
        return helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], name=name,
                                domain="ai.onnx.ml", **attrs)


def save_model(node, name, columns, doc, classifier, out=OUT):
    outputs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, columns])]
    if classifier:
        outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, columns])]
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, FEATURES])],
                              outputs, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name=PRODUCER, producer_version="1", doc_string=doc)
    model.ir_version = 8
    model.model_version = 1
    helper.set_model_props(model, {"model_name": name, "sklearn_version": sklearn.__version__,
                                   "xgboost_version": xgb.__version__, "onnx_version": onnx.__version__})
    onnx.checker.check_model(model)
    path = os.path.join(out, name + ".onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)), file=sys.stderr)


def sk_tree(e, tid, tree, leaf_weights):
    """Adds a scikit-learn tree; leaf_weights(node) gives its (column, weight) pairs."""
    for nid in range(tree.node_count):
        left, right = int(tree.children_left[nid]), int(tree.children_right[nid])
        if left == -1:
            e.leaf(tid, nid, leaf_weights(nid))
        else:
            e.branch(tid, nid, tree.feature[nid], "BRANCH_LEQ", f32_floor(float(tree.threshold[nid])), left, right)


def export_sk_gbm_binary(m):
    e = Ensemble(True)
    init = float(m._raw_predict_init(np.zeros((1, FEATURES), dtype=np.float32))[0, 0])
    for tid, est in enumerate(m.estimators_[:, 0]):
        t = est.tree_
        sk_tree(e, tid, t, lambda n: [(0, float(t.value[n, 0, 0]) * m.learning_rate)])
    return e.node("sk_gbm_binary", "LOGISTIC", base=[init], labels=m.classes_)


def export_sk_gbm_multi(m):
    e = Ensemble(True)
    init = m._raw_predict_init(np.zeros((1, FEATURES), dtype=np.float32))[0]
    tid = 0
    for stage in range(m.estimators_.shape[0]):
        for k in range(m.estimators_.shape[1]):
            t = m.estimators_[stage, k].tree_
            sk_tree(e, tid, t, lambda n: [(k, float(t.value[n, 0, 0]) * m.learning_rate)])
            tid += 1
    return e.node("sk_gbm_multi", "SOFTMAX", base=init, labels=m.classes_)


def export_sk_gbm_reg(m):
    e = Ensemble(False)
    init = float(m._raw_predict_init(np.zeros((1, FEATURES), dtype=np.float32))[0, 0])
    for tid, est in enumerate(m.estimators_[:, 0]):
        t = est.tree_
        sk_tree(e, tid, t, lambda n: [(0, float(t.value[n, 0, 0]) * m.learning_rate)])
    return e.node("sk_gbm_reg", "NONE", base=[init], aggregate="SUM")


def export_sk_forest_classifier(m, name):
    """skl2onnx: weights = class counts / their sum / n_trees; a binary
    model keeps class 1's weight only, in column 0."""
    e = Ensemble(True)
    n = len(m.estimators_)
    binary = len(m.classes_) == 2
    for tid, est in enumerate(m.estimators_):
        t = est.tree_

        def weights(node, t=t):
            v = t.value[node, 0]
            factor = (1.0 / n) / (float(v.sum()) or 1.0)
            w = [float(c) * factor for c in v]
            return [(0, w[1])] if binary else list(enumerate(w))
        sk_tree(e, tid, t, weights)
    return e.node(name, "NONE", labels=m.classes_)


def export_sk_forest_regressor(m, name):
    e = Ensemble(False)
    n = len(m.estimators_)
    for tid, est in enumerate(m.estimators_):
        t = est.tree_
        sk_tree(e, tid, t, lambda node, t=t: [(0, float(t.value[node, 0, 0]) / n)])
    return e.node(name, "NONE", aggregate="SUM")


def xgb_trees(e, booster, column_of):
    """Adds a booster's trees: BRANCH_LT on split_conditions, NaN to the
    default side; leaf values from split_conditions."""
    model = json.loads(booster.save_raw(raw_format="json"))
    for tid, t in enumerate(model["learner"]["gradient_booster"]["model"]["trees"]):
        left, right = t["left_children"], t["right_children"]
        for nid in range(len(left)):
            if left[nid] == -1:
                e.leaf(tid, nid, [(column_of(tid), float(np.float32(t["split_conditions"][nid])))])
            else:
                e.branch(tid, nid, t["split_indices"][nid], "BRANCH_LT", float(np.float32(t["split_conditions"][nid])),
                         left[nid], right[nid], tracks=t["default_left"][nid])
    return float(model["learner"]["learner_model_param"]["base_score"])


def export_xgb(booster, objective, name, classes=2):
    if objective == "binary:logistic":
        e = Ensemble(True)
        base = xgb_trees(e, booster, lambda tid: 0)
        return e.node(name, "LOGISTIC", base=[np.log(base / (1 - base))], labels=[0, 1])
    if objective == "multi:softprob":
        e = Ensemble(True)
        base = xgb_trees(e, booster, lambda tid: tid % classes)
        return e.node(name, "SOFTMAX", base=[base] * classes, labels=list(range(classes)))
    e = Ensemble(False)
    base = xgb_trees(e, booster, lambda tid: 0)
    return e.node(name, "NONE", base=[base], aggregate="SUM")


# --------------------------------------------------------------------------
# Hand-built models


def hand_modes():
    """One depth-2 tree per (mode, tracking); leaves weigh a few of the 3
    classes, some 0 or tiny (SOFTMAX_ZERO's special case); every class is
    weighed on every leaf of some tree."""
    e = Ensemble(True)
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    rng = np.random.default_rng(5)
    tid = 0
    for mode in modes:
        for tracks in (0, 1):
            f0, f1 = int(rng.integers(0, FEATURES)), int(rng.integers(0, FEATURES))
            thr = [0.0, 0.5, 2.0, 3.0, 1.0][tid % 5] if mode in ("BRANCH_EQ", "BRANCH_NEQ") else float(np.float32(rng.normal()))
            e.branch(tid, 0, 4 if mode in ("BRANCH_EQ", "BRANCH_NEQ") else f0, mode, thr, 1, 2, tracks)
            e.branch(tid, 1, f1, mode, float(np.float32(rng.normal())), 3, 4, tracks)
            cols = [tid % 3, (tid + 1) % 3]
            for nid in (2, 3, 4):
                ws = [float(np.float32(rng.normal())) if rng.random() < 0.7 else [0.0, 1e-8, -2e-8][int(rng.integers(0, 3))]
                      for _ in cols]
                e.leaf(tid, nid, list(zip(cols, ws)))
            tid += 1
    return e.node("hand_modes", "SOFTMAX_ZERO", labels=[10, 20, 30])


def hand_eq_chain():
    """Categorical splits as LightGBM exports them: x4 in {1, 3, 5} is a
    chain of BRANCH_EQ nodes whose true branches all point at one subtree."""
    e = Ensemble(True)
    rng = np.random.default_rng(6)
    for tid in range(8):
        cats = sorted(rng.choice(6, size=int(rng.integers(1, 4)), replace=False).tolist())
        # nodes: chain 0..len-1, shared true subtree at s, false leaf at f
        s = len(cats)
        f = s + 3
        for i, c in enumerate(cats):
            false = i + 1 if i + 1 < len(cats) else f
            e.branch(tid, i, 4, "BRANCH_EQ", float(c), s, false)
        e.branch(tid, s, int(rng.integers(0, FEATURES)), "BRANCH_LEQ", float(np.float32(rng.normal())), s + 1, s + 2,
                 tracks=int(rng.integers(0, 2)))
        e.leaf(tid, s + 1, [(0, float(np.float32(rng.normal())))])
        e.leaf(tid, s + 2, [(0, float(np.float32(rng.normal())))])
        e.leaf(tid, f, [(0, float(np.float32(rng.normal())))])
    return e.node("hand_eq_chain", "LOGISTIC", base=[0.1], labels=[0, 1])


def hand_extreme(name, aggregate, targets):
    e = Ensemble(False)
    rng = np.random.default_rng(7 + targets)
    for tid in range(10):
        feats = rng.integers(0, FEATURES, size=3)
        e.branch(tid, 0, feats[0], "BRANCH_LEQ", float(np.float32(rng.normal())), 1, 2)
        e.branch(tid, 1, feats[1], "BRANCH_LT", float(np.float32(rng.normal())), 3, 4, tracks=1)
        e.branch(tid, 2, feats[2], "BRANCH_GTE", float(np.float32(rng.normal())), 5, 6)
        for nid in range(3, 7):
            e.leaf(tid, nid, [(k, float(np.float32(rng.normal()))) for k in range(targets)])
    base = [0.25 * (k + 1) for k in range(targets)]
    return e.node(name, "NONE", base=base, targets=targets, aggregate=aggregate)


def v5_from_xgb(booster, name, targets, post):
    """An ai.onnx.ml opset-5 TreeEnsemble with a booster's trees (tree i
    weighs target i % targets; no base value: opset 5 has none), plus a
    last tree of one leaf (a root whose branches are the same leaf: ORT
    reads its weight at the root's own index). post and aggregate are ORT's
    enum values (post_transform 2 = SOFTMAX)."""
    model = json.loads(booster.save_raw(raw_format="json"))
    a = {k: [] for k in ["nodes_featureids", "nodes_splits", "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_trueleafs", "nodes_falseleafs", "nodes_missing_value_tracks_true", "leaf_targetids",
                         "leaf_weights", "tree_roots"]}
    for tid, t in enumerate(model["learner"]["gradient_booster"]["model"]["trees"]):
        left, right = t["left_children"], t["right_children"]
        index, leaves = {}, {}
        for nid in range(len(left)):
            if left[nid] == -1:
                leaves[nid] = len(a["leaf_weights"])
                a["leaf_targetids"].append(tid % targets)
                a["leaf_weights"].append(float(np.float32(t["split_conditions"][nid])))
            else:
                index[nid] = len(a["nodes_featureids"]) + len(index)
        base = len(a["nodes_featureids"])
        for nid in range(len(left)):
            if left[nid] == -1:
                continue
            a["nodes_featureids"].append(t["split_indices"][nid])
            a["nodes_splits"].append(float(np.float32(t["split_conditions"][nid])))
            a["nodes_modes"].append(1)  # BRANCH_LT
            a["nodes_missing_value_tracks_true"].append(t["default_left"][nid])
            for side, child in (("true", left[nid]), ("false", right[nid])):
                leaf = child in leaves
                a["nodes_%snodeids" % side].append(leaves[child] if leaf else index[child])
                a["nodes_%sleafs" % side].append(int(leaf))
        a["tree_roots"].append(index[0] if 0 in index else base)
    r = len(a["nodes_featureids"])  # a tree of one leaf
    for k, v in (("nodes_featureids", 0), ("nodes_splits", 0.0), ("nodes_modes", 0), ("nodes_truenodeids", 0),
                 ("nodes_falsenodeids", 0), ("nodes_trueleafs", 1), ("nodes_falseleafs", 1),
                 ("nodes_missing_value_tracks_true", 0)):
        a[k].append(v)
    a["tree_roots"].append(r)
    for k in ("nodes_splits", "leaf_weights"):
        a[k] = helper.make_tensor(k, TensorProto.FLOAT, [len(a[k])], a[k])
    a["nodes_modes"] = helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(a["nodes_modes"])], a["nodes_modes"])
    node = helper.make_node("TreeEnsemble", ["X"], ["variable"], name=name, domain="ai.onnx.ml",
                            n_targets=targets, aggregate_function=1, post_transform=post, **a)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, FEATURES])],
                              [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, targets])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
                          producer_name=PRODUCER, producer_version="1")
    m.ir_version = 10
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())  # onnx 1.12's checker does not know opset 5


# --------------------------------------------------------------------------


def write_f32(path, a):
    np.ascontiguousarray(a, dtype="<f4").tofile(path)


def sk_predict(fn, X):
    """fn on the NaN-free rows; NaN elsewhere (scikit-learn 1.2 refuses NaN)."""
    ok = ~np.isnan(X).any(axis=1)
    first = np.asarray(fn(X[ok][:1]), dtype=np.float64)
    cols = 1 if first.ndim == 1 else first.shape[1]
    out = np.full((len(X), cols), np.nan)
    out[ok] = np.asarray(fn(X[ok]), dtype=np.float64).reshape(-1, cols)
    return out


def impute(X):
    X = X.copy()
    X[np.isnan(X)] = 0
    return X


def train_all():
    rng = np.random.default_rng(20261207)
    X, yb, ym, yr = make_data(rng, TRAIN_ROWS, 0.08)
    Xs = impute(X)  # scikit-learn 1.2 trees take no NaN
    sk = {
        "sk_gbm_binary": GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(Xs, yb),
        "sk_gbm_multi": GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(Xs, ym),
        "sk_gbm_reg": GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(Xs, yr),
        "sk_rf_binary": RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xs, yb),
        "sk_rf_multi": RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xs, ym),
        "sk_rf_reg": RandomForestRegressor(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xs, yr),
        "sk_et_multi": ExtraTreesClassifier(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xs, ym),
        "sk_et_reg": ExtraTreesRegressor(n_estimators=8, max_depth=6, random_state=0, n_jobs=1).fit(Xs, yr),
    }
    params = {"max_depth": 4, "eta": 0.3, "seed": 0, "nthread": 1}
    xg = {
        "xgb_binary": ("binary:logistic", xgb.train(dict(params, objective="binary:logistic"), xgb.DMatrix(X, yb), 30)),
        "xgb_multi": ("multi:softprob", xgb.train(dict(params, objective="multi:softprob", num_class=3),
                                                  xgb.DMatrix(X, ym), 15)),
        "xgb_reg": ("reg:squarederror", xgb.train(dict(params, objective="reg:squarederror"), xgb.DMatrix(X, yr), 30)),
    }
    return sk, xg


def build_families():
    os.makedirs(OUT, exist_ok=True)
    sk, xg = train_all()
    Xt = make_data(np.random.default_rng(20261208), TEST_ROWS, 0.08)[0]
    write_f32(os.path.join(OUT, "inputs.f32"), Xt)
    meta = {"rows": TEST_ROWS, "features": FEATURES, "models": {}}

    def record(name, node, kind, columns, labels, framework, expected):
        save_model(node, name, columns, "%s exported by hand as skl2onnx/onnxmltools would" % framework,
                   kind == "classifier")
        entry = {"kind": kind, "columns": columns, "framework": framework}
        if labels is not None:
            entry["labels"] = [int(c) for c in labels]
        if expected is not None:
            write_f32(os.path.join(OUT, name + ".expected.f32"), expected)
            entry["expected"] = name + ".expected.f32"
        meta["models"][name] = entry

    fw = "scikit-learn " + sklearn.__version__
    exporters = {
        "sk_gbm_binary": export_sk_gbm_binary, "sk_gbm_multi": export_sk_gbm_multi, "sk_gbm_reg": export_sk_gbm_reg,
        "sk_rf_binary": lambda m: export_sk_forest_classifier(m, "sk_rf_binary"),
        "sk_rf_multi": lambda m: export_sk_forest_classifier(m, "sk_rf_multi"),
        "sk_et_multi": lambda m: export_sk_forest_classifier(m, "sk_et_multi"),
        "sk_rf_reg": lambda m: export_sk_forest_regressor(m, "sk_rf_reg"),
        "sk_et_reg": lambda m: export_sk_forest_regressor(m, "sk_et_reg"),
    }
    for name, m in sk.items():
        if hasattr(m, "classes_"):
            record(name, exporters[name](m), "classifier", len(m.classes_), m.classes_, fw, sk_predict(m.predict_proba, Xt))
        else:
            record(name, exporters[name](m), "regressor", 1, None, fw, sk_predict(m.predict, Xt))
    fw = "xgboost " + xgb.__version__
    for name, (objective, b) in xg.items():
        p = b.predict(xgb.DMatrix(Xt))
        if objective == "binary:logistic":
            record(name, export_xgb(b, objective, name), "classifier", 2, [0, 1], fw, np.stack([1 - p, p], axis=1))
        elif objective == "multi:softprob":
            record(name, export_xgb(b, objective, name, 3), "classifier", 3, [0, 1, 2], fw, p)
        else:
            record(name, export_xgb(b, objective, name), "regressor", 1, None, fw, p.reshape(-1, 1))
    record("hand_modes", hand_modes(), "classifier", 3, [10, 20, 30], "hand-built", None)
    record("hand_eq_chain", hand_eq_chain(), "classifier", 2, [0, 1], "hand-built", None)
    record("hand_min", hand_extreme("hand_min", "MIN", 2), "regressor", 2, None, "hand-built", None)
    record("hand_max", hand_extreme("hand_max", "MAX", 1), "regressor", 1, None, "hand-built", None)
    v5_from_xgb(xg["xgb_reg"][1], "v5_xgb_reg", 1, 0)
    meta["models"]["v5_xgb_reg"] = {"kind": "regressor", "columns": 1, "framework": "hand-built (opset 5)"}
    v5_from_xgb(xg["xgb_multi"][1], "v5_xgb_multi", 3, 2)
    meta["models"]["v5_xgb_multi"] = {"kind": "regressor", "columns": 3, "framework": "hand-built (opset 5)"}
    with open(os.path.join(OUT, "families.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


def build_bench(out, rows):
    """The benchmark models and rows: xgb_bench (binary:logistic, 120 trees,
    depth 5, 12 features, trained with NaNs) and rf_bench
    (RandomForestClassifier, 3 classes, 100 trees, depth 8), plus rows.f32
    (rows x 12 float32, with NaNs) for the peers."""
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1207)
    X, yb, ym, _ = make_data(rng, 20000, 0.08)
    b = xgb.train({"objective": "binary:logistic", "max_depth": 5, "eta": 0.1, "seed": 0, "nthread": 2},
                  xgb.DMatrix(X, yb), 120)
    b.save_model(os.path.join(out, "xgb_bench.json"))
    save_model(export_xgb(b, "binary:logistic", "xgb_bench"), "xgb_bench", 2, "xgboost bench model", True, out)
    rf = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=2).fit(impute(X), ym)
    import pickle
    with open(os.path.join(out, "rf_bench.pkl"), "wb") as f:
        pickle.dump(rf, f)
    save_model(export_sk_forest_classifier(rf, "rf_bench"), "rf_bench", 3, "random forest bench model", True, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", metavar="DIR", help="write the benchmark models to DIR instead")
    ap.add_argument("--rows", type=int, default=0, help="(with --bench) unused; rows come from the snapshot")
    args = ap.parse_args()
    if args.bench:
        build_bench(args.bench, args.rows)
    else:
        build_families()


if __name__ == "__main__":
    main()
