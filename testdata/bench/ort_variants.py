#!/usr/bin/python3
"""Export variants of churn_gbm.onnx for the ONNX Runtime tuning runs.

Usage: /usr/bin/python3 testdata/bench/ort_variants.py OUTDIR

Takes the GBM that testdata/bench/sklearn_peer.py retrained and pickled
(out/bench/peer/churn_gbm.pkl, the same trees as churn_gbm.onnx) and writes,
with build_models.py's functions where they apply:

  base.onnx          export_gbm() as build_models.py writes it (checked
                     byte-identical to testdata/models/churn_gbm.onnx)
  bfs.onnx           the same trees, nodes numbered breadth-first instead of
                     sklearn's depth-first order
  thr_tensor.onnx    thresholds in nodes_values_as_tensor (float) instead of
                     the float attribute
  double.onnx        double input [N,30] and double thresholds (sklearn's
                     exact float64 thresholds, as nodes_values_as_tensor):
                     ORT then instantiates TreeEnsemble<double, double, float>
  regressor.onnx     TreeEnsembleRegressor (no label, one column) + Sigmoid
                     -> 'p1' [N,1]
  te5.onnx           ai.onnx.ml opset 5 TreeEnsemble + Add(base) + Sigmoid
                     -> 'p1' [N,1]. onnx 1.12 has no schema for it, so the
                     node is written by hand and check_model is skipped.
Prints one line per file. Not committed: OUTDIR is a temp folder.
"""
import os
import pickle
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "testdata", "models"))

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import build_models as bm  # noqa: E402


def features():
    return list(bm.arrow_types())  # model order, from cmd/gensnapshot/features.go


def save(model, path, check=True):
    if check:
        onnx.checker.check_model(model)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    print("%s\t%d bytes" % (path, os.path.getsize(path)))


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def classifier_model(name, node, inputs, outputs, opsets=None):
    graph = helper.make_graph([node] if not isinstance(node, list) else node, name, inputs, outputs)
    m = helper.make_model(graph, opset_imports=opsets or bm.OPSETS, producer_name="ort_variants.py")
    m.ir_version = bm.IR_VERSION
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    gbm = pickle.load(open(os.path.join(REPO, "out", "bench", "peer", "churn_gbm.pkl"), "rb"))
    feats = features()
    n = len(feats)

    base, _, _ = bm.export_gbm(gbm, feats)
    p = os.path.join(out, "base.onnx")
    save(base, p)
    same = open(p, "rb").read() == open(os.path.join(REPO, "testdata", "models", "churn_gbm.onnx"), "rb").read()
    print("base.onnx identical to testdata/models/churn_gbm.onnx: %s" % same)

    node, _, _ = bm.tree_ensemble_node(gbm, "features", n)
    a = attrs(node)
    fin = [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, n])]
    outs = [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])]

    # --- breadth-first node numbering
    b = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         "class_treeids", "class_nodeids", "class_ids", "class_weights"]}
    leaf_w = {(t, i): w for t, i, w in zip(a["class_treeids"], a["class_nodeids"], a["class_weights"])}
    by_tree = {}
    for i, t in enumerate(a["nodes_treeids"]):
        by_tree.setdefault(t, {})[a["nodes_nodeids"][i]] = i
    for t, nodes in sorted(by_tree.items()):
        order, q = [], [0]
        while q:
            nid = q.pop(0)
            order.append(nid)
            i = nodes[nid]
            if a["nodes_modes"][i] != b"LEAF" and a["nodes_modes"][i] != "LEAF":
                q += [a["nodes_truenodeids"][i], a["nodes_falsenodeids"][i]]
        new = {old: k for k, old in enumerate(order)}
        for old in order:
            i = nodes[old]
            leaf = a["nodes_modes"][i] in (b"LEAF", "LEAF")
            b["nodes_treeids"].append(t)
            b["nodes_nodeids"].append(new[old])
            b["nodes_featureids"].append(a["nodes_featureids"][i])
            b["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            b["nodes_values"].append(a["nodes_values"][i])
            b["nodes_truenodeids"].append(0 if leaf else new[a["nodes_truenodeids"][i]])
            b["nodes_falsenodeids"].append(0 if leaf else new[a["nodes_falsenodeids"][i]])
            b["nodes_missing_value_tracks_true"].append(0)
            if leaf:
                b["class_treeids"].append(t)
                b["class_nodeids"].append(new[old])
                b["class_ids"].append(0)
                b["class_weights"].append(leaf_w[(t, old)])
    common = dict(classlabels_int64s=[0, 1], post_transform="LOGISTIC", base_values=a["base_values"])
    bfs = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"],
                           domain="ai.onnx.ml", **common, **b)
    save(classifier_model("bfs", bfs, fin, outs), os.path.join(out, "bfs.onnx"))

    # --- thresholds as a float tensor
    plain = {k: v for k, v in a.items() if k not in ("nodes_values", "classlabels_int64s", "post_transform", "base_values")}
    for k in ("nodes_modes",):
        plain[k] = [x.decode() if isinstance(x, bytes) else x for x in plain[k]]
    tt = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"], domain="ai.onnx.ml",
                          nodes_values_as_tensor=numpy_helper.from_array(np.array(a["nodes_values"], dtype=np.float32)),
                          **common, **plain)
    save(classifier_model("thr_tensor", tt, fin, outs), os.path.join(out, "thr_tensor.onnx"))

    # --- double input, exact double thresholds (sklearn's)
    thr64 = []
    for t, est in enumerate(gbm.estimators_[:, 0]):
        tr = est.tree_
        for nid in range(tr.node_count):
            thr64.append(float(tr.threshold[nid]) if tr.children_left[nid] != -1 else 0.0)
    assert len(thr64) == len(a["nodes_values"])
    dn = helper.make_node("TreeEnsembleClassifier", ["features"], ["label", "probabilities"], domain="ai.onnx.ml",
                          nodes_values_as_tensor=numpy_helper.from_array(np.array(thr64, dtype=np.float64)),
                          **common, **plain)
    din = [helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, n])]
    save(classifier_model("double", dn, din, outs), os.path.join(out, "double.onnx"))

    # --- regressor + sigmoid
    reg = {k[len("nodes_"):]: v for k, v in plain.items() if k.startswith("nodes_")}
    rn = helper.make_node(
        "TreeEnsembleRegressor", ["features"], ["raw"], domain="ai.onnx.ml", n_targets=1, post_transform="NONE",
        base_values=a["base_values"], target_ids=[0] * len(a["class_ids"]), target_nodeids=a["class_nodeids"],
        target_treeids=a["class_treeids"], target_weights=a["class_weights"],
        **{"nodes_" + k: v for k, v in reg.items()}, nodes_values=a["nodes_values"])
    sig = helper.make_node("Sigmoid", ["raw"], ["p1"])
    p1 = [helper.make_tensor_value_info("p1", TensorProto.FLOAT, [None, 1])]
    save(classifier_model("regressor", [rn, sig], fin, p1), os.path.join(out, "regressor.onnx"))

    # --- ai.onnx.ml opset 5 TreeEnsemble (onnx >= 1.16 has its schema)
    # Nodes: only interior nodes get ids; a child is either an interior node
    # id (trueleafs=0) or a leaf id (trueleafs=1).
    splits, feat, modes, tids, tl, fids, fl, roots, lw, ltid = [], [], [], [], [], [], [], [], [], []
    for t, est in enumerate(gbm.estimators_[:, 0]):
        tr = est.tree_
        inner = {}
        leaves = {}
        for nid in range(tr.node_count):
            if tr.children_left[nid] == -1:
                leaves[nid] = len(lw)
                lw.append(float(tr.value[nid, 0, 0]) * gbm.learning_rate)
                ltid.append(0)
            else:
                inner[nid] = None
        for nid in inner:
            inner[nid] = len(splits)
            splits.append(0.0)
            feat.append(0)
            modes.append(0)
            tids.append(0)
            tl.append(0)
            fids.append(0)
            fl.append(0)
        roots.append(inner[0])
        for nid, k in inner.items():
            thr, _ = bm.f32_floor(float(tr.threshold[nid]))
            splits[k] = float(thr)
            feat[k] = int(tr.feature[nid])
            modes[k] = 0  # BRANCH_LEQ
            for child, ids, isleaf in ((tr.children_left[nid], tids, tl), (tr.children_right[nid], fids, fl)):
                if child in inner:
                    ids[k], isleaf[k] = inner[child], 0
                else:
                    ids[k], isleaf[k] = leaves[child], 1
    te = helper.make_node(
        "TreeEnsemble", ["features"], ["raw"], domain="ai.onnx.ml", aggregate_function=1, post_transform=0,
        n_targets=1, tree_roots=roots, nodes_featureids=feat,
        nodes_splits=numpy_helper.from_array(np.array(splits, dtype=np.float32)),
        nodes_modes=numpy_helper.from_array(np.array(modes, dtype=np.uint8)),
        nodes_truenodeids=tids, nodes_trueleafs=tl, nodes_falsenodeids=fids, nodes_falseleafs=fl,
        leaf_targetids=ltid, leaf_weights=numpy_helper.from_array(np.array(lw, dtype=np.float32)))
    base_c = helper.make_node("Constant", [], ["base"],
                              value=numpy_helper.from_array(np.array([a["base_values"][0]], dtype=np.float32)))
    add = helper.make_node("Add", ["raw", "base"], ["z"])
    sig = helper.make_node("Sigmoid", ["z"], ["p1"])
    m = classifier_model("te5", [te, base_c, add, sig], fin, p1,
                         opsets=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    try:
        onnx.checker.check_model(m)
        print("te5.onnx: onnx %s's checker accepts it" % onnx.__version__)
    except Exception as e:  # expected with onnx 1.12
        print("te5.onnx: onnx %s's checker rejects it (%s); written unchecked" % (
            onnx.__version__, str(e).splitlines()[0][:120]))
    save(m, os.path.join(out, "te5.onnx"), check=False)


if __name__ == "__main__":
    main()
