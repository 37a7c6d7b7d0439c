#!/usr/bin/python3
"""Train the test models in testdata/models and write their reference outputs.

Run from anywhere (paths are relative to this file), with Debian's python3
(python3-sklearn 1.2.x, python3-onnx 1.12, python3-numpy); Go must be on PATH:

    /usr/bin/python3 testdata/models/build_models.py

What it does:

1. Builds cmd/gensnapshot and generates a TRAINING snapshot (20,000 rows,
   date 2026-10-31, seed 20261031) as CSV in a temporary directory.
2. Trains four scikit-learn models and exports them by hand with
   onnx.helper (no skl2onnx), mimicking skl2onnx's graphs:
     churn_gbm.onnx         GradientBoostingClassifier -> TreeEnsembleClassifier
     churn_gbm_zipmap.onnx  the same plus ZipMap (skl2onnx's default outputs)
     churn_logreg.onnx      StandardScaler+LogisticRegression, one input per column
     ltv_linear.onnx        LinearRegression, float64 input
3. Regenerates the committed sample snapshots (testdata/customers, 3 dates x
   2,000 rows x 2 files) as CSV in the temporary directory, checks that the
   Parquet files it produces alongside are byte-identical to the committed
   ones, and writes testdata/models/reference_<date>.csv with scikit-learn's
   outputs for every row.

Options: --gensnapshot PATH uses a prebuilt generator binary instead of
building one; --keep-tmp DIR keeps the generated CSVs in DIR;
--update-samples rewrites testdata/customers instead of failing when it
differs from what the generator produces.
"""

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import sklearn
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CUSTOMERS = os.path.join(REPO, "testdata", "customers")

TRAIN_DATE = "2026-10-31"
TRAIN_SEED = "20261031"
TRAIN_ROWS = "20000"
SAMPLE_DATES = ["2026-11-18", "2026-11-19", "2026-11-20"]
SAMPLE_ROWS = "2000"
SAMPLE_FILES = "2"

PRODUCER = "batchscore build_models.py"
OPSETS = [helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)]
IR_VERSION = 8

# The regression model's inputs (all float64 columns) and target.
LTV_FEATURES = [
    "monthly_charges",
    "avg_monthly_data_gb",
    "satisfaction_score",
    "household_income_k",
    "months_to_contract_end",
]
LTV_TARGET = "total_charges"
LTV_SCALE = 1000.0  # the model predicts total_charges / 1000 ("LTV in thousands")


# --------------------------------------------------------------------------
# Data


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def build_generator(tmp):
    exe = os.path.join(tmp, "gensnapshot")
    run(["go", "build", "-o", exe, "./cmd/gensnapshot"], cwd=REPO)
    return exe


def feature_names(gen):
    out = subprocess.run([gen, "--list-features"], check=True, capture_output=True, text=True).stdout
    names = out.split()
    assert len(names) == 30, names
    return names


def arrow_types():
    """Column name -> kind ('f' float64, 'i' int32/int64, 'b' bool), read
    from the generator source so it cannot drift."""
    src = open(os.path.join(REPO, "cmd", "gensnapshot", "features.go")).read()
    start = src.index("var FeatureNames")
    kinds = {}
    for line in src[start:src.index("}", start)].splitlines():
        line = line.strip()
        if line.startswith('"'):
            name = line.split('"')[1]
            ty = line.split("//")[1].split()[0]
            kinds[name] = {"float64": "f", "int32": "i", "int64": "i", "bool": "b"}[ty]
    return kinds


def load_csv(paths):
    """Read generator CSVs into a dict of column name -> list of strings."""
    cols = None
    for p in paths:
        with open(p, newline="") as f:
            r = csv.reader(f)
            header = next(r)
            if cols is None:
                cols = {h: [] for h in header}
            for row in r:
                for h, v in zip(header, row):
                    cols[h].append(v)
    return cols


def column(cols, name, kind):
    v = cols[name]
    if kind == "b":
        return np.array([x == "true" for x in v], dtype=np.float64)
    if kind == "i":
        return np.array([int(x) for x in v], dtype=np.float64)
    return np.array([float(x) for x in v], dtype=np.float64)


def matrix(cols, names, kinds):
    return np.column_stack([column(cols, n, kinds[n]) for n in names])


def generate(gen, out, date, rows, files, seed=None):
    cmd = [gen, "-q", "--csv", "--date", date, "--rows", rows, "--files", files, "--out", out]
    if seed is not None:
        cmd += ["--seed", seed]
    run(cmd)
    d = os.path.join(out, "snapshot_date=" + date)
    return d, sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".csv"))


# --------------------------------------------------------------------------
# ONNX helpers


def f32_floor(t):
    """The largest float32 not above the float64 t.

    scikit-learn trees compare float32(x) <= threshold (float64); ONNX
    Runtime compares float32(x) <= float32 threshold. They agree for every
    float32 x iff the float32 threshold is the largest float32 <= t."""
    t32 = np.float32(t)
    if float(t32) > t:
        return np.nextafter(t32, np.float32(-np.inf), dtype=np.float32), True
    return t32, False


def finish(graph, name, version, doc, extra_props):
    model = helper.make_model(graph, opset_imports=OPSETS, producer_name=PRODUCER,
                              producer_version="1", doc_string=doc)
    model.ir_version = IR_VERSION
    model.model_version = version
    model.domain = "ai.batchscore"
    props = {
        "model_name": name,
        "model_version": str(version),
        "trained_on": "gensnapshot --date %s --seed %s --rows %s" % (TRAIN_DATE, TRAIN_SEED, TRAIN_ROWS),
        "sklearn_version": sklearn.__version__,
        "onnx_version": onnx.__version__,
    }
    props.update(extra_props)
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def save(model, filename):
    path = os.path.join(HERE, filename)
    # Deterministic serialization (protobuf maps are not used, so this is stable).
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print("wrote %s (%d bytes)" % (os.path.relpath(path, REPO), os.path.getsize(path)), file=sys.stderr)


def tree_ensemble_node(gbm, input_name, n_features):
    """TreeEnsembleClassifier node for a binary GradientBoostingClassifier,
    the way skl2onnx writes it: a single score column (class_ids all 0),
    classlabels [0, 1], base_values = the init estimator's raw prediction,
    leaf weights = tree value * learning_rate, post_transform LOGISTIC."""
    assert list(gbm.classes_) == [0, 1] and gbm.estimators_.shape[1] == 1
    init = float(gbm._raw_predict_init(np.zeros((1, n_features), dtype=np.float32))[0, 0])
    lr = gbm.learning_rate
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                         "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true", "class_treeids", "class_nodeids",
                         "class_ids", "class_weights"]}
    adjusted = 0
    total = 0
    for tid, est in enumerate(gbm.estimators_[:, 0]):
        t = est.tree_
        for nid in range(t.node_count):
            a["nodes_treeids"].append(tid)
            a["nodes_nodeids"].append(nid)
            a["nodes_missing_value_tracks_true"].append(0)
            left, right = int(t.children_left[nid]), int(t.children_right[nid])
            if left == -1:
                a["nodes_featureids"].append(0)
                a["nodes_modes"].append("LEAF")
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["class_treeids"].append(tid)
                a["class_nodeids"].append(nid)
                a["class_ids"].append(0)
                a["class_weights"].append(float(t.value[nid, 0, 0]) * lr)
            else:
                thr, adj = f32_floor(float(t.threshold[nid]))
                adjusted += adj
                total += 1
                a["nodes_featureids"].append(int(t.feature[nid]))
                a["nodes_modes"].append("BRANCH_LEQ")
                a["nodes_values"].append(float(thr))
                a["nodes_truenodeids"].append(left)
                a["nodes_falsenodeids"].append(right)
    node = helper.make_node(
        "TreeEnsembleClassifier", [input_name], ["label", "probabilities"],
        name="TreeEnsembleClassifier", domain="ai.onnx.ml",
        classlabels_int64s=[0, 1], post_transform="LOGISTIC", base_values=[init], **a)
    return node, adjusted, total


def zipmap_type():
    """seq(map(int64, tensor(float)))"""
    m = onnx.TypeProto()
    m.map_type.key_type = TensorProto.INT64
    m.map_type.value_type.tensor_type.elem_type = TensorProto.FLOAT
    return helper.make_sequence_type_proto(m)


# --------------------------------------------------------------------------
# Models


def export_gbm(gbm, features):
    n = len(features)
    node, adjusted, total = tree_ensemble_node(gbm, "features", n)
    doc = ("Churn propensity: scikit-learn GradientBoostingClassifier (%d trees, max_depth %d) "
           "exported as ai.onnx.ml TreeEnsembleClassifier. Input 'features' float32 [N,30] in "
           "gensnapshot --list-features order. Outputs 'label' int64 [N] (1 = churn) and "
           "'probabilities' float32 [N,2] = [1-p, p]." % (gbm.n_estimators, gbm.max_depth))
    graph = helper.make_graph(
        [node], "churn_gbm",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        doc_string=doc)
    model = finish(graph, "churn_gbm", 1, doc, {"features": ",".join(features), "positive_class": "1"})
    return model, adjusted, total


def export_gbm_zipmap(gbm, features):
    n = len(features)
    node, _, _ = tree_ensemble_node(gbm, "float_input", n)
    nodes = [
        node,
        helper.make_node("Cast", ["label"], ["output_label"], name="Cast", to=TensorProto.INT64),
        helper.make_node("ZipMap", ["probabilities"], ["output_probability"], name="ZipMap",
                         domain="ai.onnx.ml", classlabels_int64s=[0, 1]),
    ]
    doc = ("Churn propensity, same trees as churn_gbm.onnx, with skl2onnx's default outputs: "
           "input 'float_input' float32 [N,30]; outputs 'output_label' int64 [N] and "
           "'output_probability' seq(map(int64, float)) with keys 0 and 1.")
    graph = helper.make_graph(
        nodes, "churn_gbm_zipmap",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, n])],
        [helper.make_tensor_value_info("output_label", TensorProto.INT64, [None]),
         helper.make_value_info("output_probability", zipmap_type())],
        doc_string=doc)
    return finish(graph, "churn_gbm_zipmap", 1, doc, {"features": ",".join(features), "positive_class": "1"})


def export_logreg(pipe, features, kinds):
    scaler, lr = pipe[0], pipe[-1]
    assert list(lr.classes_) == [0, 1]
    inputs, nodes, concat_in = [], [], []
    for name in features:
        if kinds[name] == "f":
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]))
            concat_in.append(name)
        else:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, [None, 1]))
            nodes.append(helper.make_node("Cast", [name], [name + "_float"], name="Cast_" + name,
                                          to=TensorProto.FLOAT))
            concat_in.append(name + "_float")
    coef = [float(c) for c in lr.coef_[0]]
    b = float(lr.intercept_[0])
    nodes += [
        helper.make_node("Concat", concat_in, ["merged_features"], name="Concat", axis=1),
        helper.make_node("Scaler", ["merged_features"], ["scaled"], name="Scaler", domain="ai.onnx.ml",
                         offset=[float(m) for m in scaler.mean_],
                         scale=[float(1.0 / s) for s in scaler.scale_]),
        # Binary: two coefficient rows [-w, w] and intercepts [-b, b] (as
        # skl2onnx does), so LOGISTIC yields [sigmoid(-z), sigmoid(z)] = [1-p, p].
        helper.make_node("LinearClassifier", ["scaled"], ["label", "probabilities"],
                         name="LinearClassifier", domain="ai.onnx.ml",
                         classlabels_ints=[0, 1], coefficients=[-c for c in coef] + coef,
                         intercepts=[-b, b], multi_class=0, post_transform="LOGISTIC"),
    ]
    doc = ("Churn propensity: StandardScaler + LogisticRegression, exported like skl2onnx exports a "
           "DataFrame through a ColumnTransformer: one input per column, shape [N,1], named after the "
           "column; float32 for float64 columns, int64 for int32/int64/bool columns (bool as 0/1). "
           "Cast + Concat (axis 1, gensnapshot feature order) + Scaler + LinearClassifier. Outputs "
           "'label' int64 [N] and 'probabilities' float32 [N,2] = [1-p, p].")
    graph = helper.make_graph(
        nodes, "churn_logreg", inputs,
        [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        doc_string=doc)
    return finish(graph, "churn_logreg", 1, doc, {"features": ",".join(features), "positive_class": "1"})


def export_ltv(reg):
    n = len(LTV_FEATURES)
    doc = ("Lifetime value in thousands (total_charges / 1000): scikit-learn LinearRegression on %d "
           "float64 columns (%s), exported as Cast(to float) + ai.onnx.ml LinearRegressor. Input 'X' double [N,%d]; "
           "output 'variable' float32 [N,1]." % (n, ", ".join(LTV_FEATURES), n))
    # ONNX Runtime implements LinearRegressor for float32 only ("Could not
    # find an implementation for LinearRegressor(1)" with a double input),
    # so the double input is cast to float first.
    nodes = [
        helper.make_node("Cast", ["X"], ["X_float"], name="Cast", to=TensorProto.FLOAT),
        helper.make_node("LinearRegressor", ["X_float"], ["variable"], name="LinearRegressor",
                         domain="ai.onnx.ml", coefficients=[float(c) for c in reg.coef_],
                         intercepts=[float(reg.intercept_)], targets=1, post_transform="NONE"),
    ]
    graph = helper.make_graph(
        nodes, "ltv_linear",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        doc_string=doc)
    return finish(graph, "ltv_linear", 1, doc, {"features": ",".join(LTV_FEATURES),
                                                 "target": "total_charges/1000"})


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gensnapshot", help="prebuilt gensnapshot binary (default: go build ./cmd/gensnapshot)")
    ap.add_argument("--keep-tmp", metavar="DIR", help="write the generated CSVs to DIR and keep them")
    ap.add_argument("--update-samples", action="store_true",
                    help="overwrite testdata/customers if it differs from the generator's output")
    args = ap.parse_args()

    if args.keep_tmp:
        tmp = os.path.abspath(args.keep_tmp)
        os.makedirs(tmp, exist_ok=True)
        cleanup = None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="build_models.")
        tmp = cleanup.name
    try:
        gen = os.path.abspath(args.gensnapshot) if args.gensnapshot else build_generator(tmp)
        features = feature_names(gen)
        kinds = arrow_types()
        assert list(kinds) == features, "features.go and --list-features disagree"

        # ---- training data
        _, train_csv = generate(gen, os.path.join(tmp, "train"), TRAIN_DATE, TRAIN_ROWS, "1", TRAIN_SEED)
        cols = load_csv(train_csv)
        X = matrix(cols, features, kinds)
        X32 = X.astype(np.float32)  # what ONNX sees
        y = column(cols, "churned", "b").astype(np.int64)
        print("training rows: %d, churn rate %.3f" % (len(y), y.mean()), file=sys.stderr)

        gbm = GradientBoostingClassifier(n_estimators=200, max_depth=4, learning_rate=0.1, random_state=0)
        gbm.fit(X32, y)
        logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        logreg.fit(X32.astype(np.float64), y)
        Xl = matrix(cols, LTV_FEATURES, {n: "f" for n in LTV_FEATURES})
        yl = column(cols, LTV_TARGET, "f") / LTV_SCALE
        ltv = LinearRegression().fit(Xl, yl)
        print("train accuracy: gbm %.4f logreg %.4f; ltv R^2 %.4f" % (
            gbm.score(X32, y), logreg.score(X32.astype(np.float64), y), ltv.score(Xl, yl)), file=sys.stderr)

        # ---- export
        m, adjusted, total = export_gbm(gbm, features)
        save(m, "churn_gbm.onnx")
        print("thresholds: %d of %d moved down to the float32 below (nextafter)" % (adjusted, total),
              file=sys.stderr)
        save(export_gbm_zipmap(gbm, features), "churn_gbm_zipmap.onnx")
        save(export_logreg(logreg, features, kinds), "churn_logreg.onnx")
        save(export_ltv(ltv), "ltv_linear.onnx")

        # ---- reference outputs for the committed samples
        for date in SAMPLE_DATES:
            d, sample_csv = generate(gen, os.path.join(tmp, "samples"), date, SAMPLE_ROWS, SAMPLE_FILES)
            committed = os.path.join(CUSTOMERS, "snapshot_date=" + date)
            for pq in sorted(f for f in os.listdir(d) if f.endswith(".parquet")):
                new = open(os.path.join(d, pq), "rb").read()
                dst = os.path.join(committed, pq)
                old = open(dst, "rb").read() if os.path.exists(dst) else None
                if new != old:
                    if not args.update_samples:
                        sys.exit("%s differs from what gensnapshot writes now; regenerate the samples "
                                 "(see testdata/README.md) or pass --update-samples" % dst)
                    os.makedirs(committed, exist_ok=True)
                    shutil.copyfile(os.path.join(d, pq), dst)
                    print("updated", os.path.relpath(dst, REPO), file=sys.stderr)

            cols = load_csv(sample_csv)
            X32 = matrix(cols, features, kinds).astype(np.float32)
            gbm_p1 = gbm.predict_proba(X32)[:, 1]
            gbm_label = gbm.predict(X32)
            lr_p1 = logreg.predict_proba(X32.astype(np.float64))[:, 1]
            lr_label = logreg.predict(X32.astype(np.float64))
            ltv_pred = ltv.predict(matrix(cols, LTV_FEATURES, {n: "f" for n in LTV_FEATURES}))
            ref = os.path.join(HERE, "reference_%s.csv" % date)
            with open(ref, "w", newline="") as f:
                f.write("customer_id,gbm_p1,gbm_label,logreg_p1,logreg_label,ltv\n")
                for i, cid in enumerate(cols["customer_id"]):
                    f.write("%s,%r,%d,%r,%d,%r\n" % (cid, float(gbm_p1[i]), gbm_label[i],
                                                     float(lr_p1[i]), lr_label[i], float(ltv_pred[i])))
            print("wrote %s (%d rows)" % (os.path.relpath(ref, REPO), len(cols["customer_id"])),
                  file=sys.stderr)
    finally:
        if cleanup is not None:
            cleanup.cleanup()


if __name__ == "__main__":
    main()
