#!/usr/bin/python3
"""Build the categorical-chain explanation test model in
testdata/models/explain (chain.*), by hand with onnx.helper.

LightGBM splits a categorical feature by set membership, x in {c1, ..., ck};
onnxmltools (modify_tree_for_rule_in_set, then _parse_tree_structure) writes
such a split as a chain of k BRANCH_EQ nodes on x whose true branches all
point at ONE child node (a node with k parents) and whose false branches
lead on, the last one to the split's false child. This script writes trees
of set-membership splits twice:

  chain.onnx          TreeEnsembleRegressor (SUM, base value 0.25, post NONE)
                      with each set split unrolled into such a chain, node
                      ids given as onnxmltools gives them; some splits send
                      NaN to their true child (missing value tracked on every
                      node of the chain, as onnxmltools copies it), some a
                      one-value set (one BRANCH_EQ node, no sharing), some a
                      chain whose true child heads another chain
  chain.settree.json  the same trees as plain trees of set splits (no node
                      shared): [[{kind, feature, values | threshold, nan,
                      true, false, value, cover}, ...], ...] with children
                      as indexes in the tree's list, kind "set", "leq",
                      "lt" or "leaf", nan whether NaN goes to the true
                      child, cover the training rows reaching the node
  chain.covers.json   the covers as LightGBM's internal_count would give
                      them: a set split's count on its first chain node,
                      its children's on theirs; no cover for the chain's
                      other nodes
  chain_train.f32     the 1,000 training rows the covers count (x 6 features)
  chain_inputs.f32    300 fresh rows (NaN in features 0, 1 and 3; unseen
                      categories)
  chain_bad.onnx      a node that is the true child of two splits on
                      different features: a shape no chain explains

Run: /usr/bin/python3 testdata/models/build_chain.py [OUT]
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "explain")
F = 6


def S(f, values, nan, t, fl):
    return {"kind": "set", "feature": f, "values": [float(v) for v in values], "nan": nan, "true": t, "false": fl}


def N(f, kind, thr, nan, t, fl):
    return {"kind": kind, "feature": f, "threshold": float(np.float32(thr)), "nan": nan, "true": t, "false": fl}


def L(v):
    return {"kind": "leaf", "value": float(np.float32(v))}


TREES = [
    S(0, [1, 3, 5], True,
      N(1, "leq", 0.3, True, L(0.4), L(-0.2)),
      S(0, [0, 2], False, L(0.7), N(2, "lt", 0.5, False, L(-0.5), L(0.1)))),
    N(1, "leq", 0.1, False,
      S(3, [0, 4], True, S(0, [2, 6, 7], False, L(0.3), L(-0.1)), L(0.05)),
      N(2, "lt", -0.2, False, L(-0.3), S(3, [1], False, L(0.2), L(0.6)))),
    S(0, [0, 1, 4, 6], False, L(1.1),
      S(3, [2, 3], True, N(4, "leq", 0.0, False, L(-0.4), L(0.25)), L(-0.8))),
    N(5, "leq", 0.5, False,
      S(0, [7, 5], True, N(0, "leq", 6.0, False, L(0.15), L(-0.15)), L(-0.05)),
      L(0.3)),
]


def goes_true(n, x):
    v = np.float32(x[n["feature"]])
    if np.isnan(v):
        return n["nan"]
    if n["kind"] == "set":
        return any(v == np.float32(c) for c in n["values"])
    if n["kind"] == "leq":
        return v <= np.float32(n["threshold"])
    return v < np.float32(n["threshold"])


def count(tree, X):
    def walk(n, x):
        n["cover"] = n.get("cover", 0) + 1
        if n["kind"] != "leaf":
            walk(n["true"] if goes_true(n, x) else n["false"], x)
    for x in X:
        walk(tree, x)


def predict(x):
    s = np.float32(0.25)
    for t in TREES:
        n = t
        while n["kind"] != "leaf":
            n = n["true"] if goes_true(n, x) else n["false"]
        s += np.float32(n["value"])
    return s


def unroll(n):
    """The set splits as onnxmltools writes them: chains of BRANCH_EQ nodes
    sharing their true child. Returns the ONNX-side node of n."""
    if n["kind"] == "leaf":
        n["onnx"] = {"mode": "LEAF", "value": n["value"], "src": n}
        return n["onnx"]
    t, fl = unroll(n["true"]), unroll(n["false"])
    if n["kind"] != "set":
        mode = {"leq": "BRANCH_LEQ", "lt": "BRANCH_LT"}[n["kind"]]
        n["onnx"] = {"mode": mode, "feature": n["feature"], "thr": n["threshold"], "nan": n["nan"],
                     "true": t, "false": fl, "src": n}
        return n["onnx"]
    nxt = fl
    for c in reversed(n["values"]):
        nxt = {"mode": "BRANCH_EQ", "feature": n["feature"], "thr": c, "nan": n["nan"], "true": t, "false": nxt}
    nxt["src"] = n
    n["onnx"] = nxt
    return nxt


def number(root):
    """Node ids as onnxmltools' _parse_node gives them: a node's children
    get the next free ids (true, then false) unless already numbered, then
    the true child is parsed, then the false one."""
    ids, out = {id(root): 0}, []
    nxt = [1]

    def parse(n):
        if n["mode"] == "LEAF":
            out.append(n)
            return
        fresh = []
        for c in (n["true"], n["false"]):
            if id(c) not in ids:
                ids[id(c)] = nxt[0]
                nxt[0] += 1
                fresh.append(c)
        out.append(n)
        for c in fresh:
            parse(c)
    parse(root)
    for n in out:
        n["id"] = ids[id(n)]
    return sorted(out, key=lambda n: n["id"])


def flatten(root):
    nodes = []

    def add(n):
        i = len(nodes)
        d = {k: v for k, v in n.items() if k not in ("true", "false", "onnx")}
        nodes.append(d)
        if n["kind"] != "leaf":
            d["true"] = add(n["true"])
            d["false"] = add(n["false"])
        return i
    add(root)
    return nodes


def save(nodes_by_tree, name):
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         "target_treeids", "target_nodeids", "target_ids", "target_weights"]}
    for tid, nodes in enumerate(nodes_by_tree):
        for n in nodes:
            leaf = n["mode"] == "LEAF"
            a["nodes_treeids"].append(tid)
            a["nodes_nodeids"].append(n["id"])
            a["nodes_featureids"].append(0 if leaf else n["feature"])
            a["nodes_modes"].append(n["mode"])
            a["nodes_values"].append(0.0 if leaf else n["thr"])
            a["nodes_truenodeids"].append(0 if leaf else n["true"]["id"])
            a["nodes_falsenodeids"].append(0 if leaf else n["false"]["id"])
            a["nodes_missing_value_tracks_true"].append(int(not leaf and n["nan"]))
            if leaf:
                a["target_treeids"].append(tid)
                a["target_nodeids"].append(n["id"])
                a["target_ids"].append(0)
                a["target_weights"].append(n["value"])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], name=name, domain="ai.onnx.ml",
                            n_targets=1, aggregate_function="SUM", post_transform="NONE", base_values=[0.25], **a)
    graph = helper.make_graph([node], name, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, F])],
                              [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
                              doc_string="categorical BRANCH_EQ chains as onnxmltools writes LightGBM's set splits")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="batchscore build_chain.py", producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def rows(rng, n, unseen):
    X = np.empty((n, F), dtype=np.float32)
    X[:, 0] = rng.integers(0, 9 if unseen else 8, n)
    X[:, 1] = rng.normal(size=n)
    X[:, 2] = rng.normal(size=n)
    X[:, 3] = rng.integers(0, 6 if unseen else 5, n)
    X[:, 4] = rng.normal(size=n)
    X[:, 5] = rng.random(n)
    for j, rate in ((0, 0.1), (1, 0.08), (3, 0.08)):
        X[rng.random(n) < rate, j] = np.nan
    return X


def main():
    os.makedirs(OUT, exist_ok=True)
    train = rows(np.random.default_rng(2222), 1000, False)
    fresh = rows(np.random.default_rng(2223), 300, True)
    for t in TREES:
        count(t, train)
    flat = [flatten(t) for t in TREES]
    for tid, nodes in enumerate(flat):
        for i, n in enumerate(nodes):
            assert n["cover"] > 0, "tree %d node %d unreached" % (tid, i)
    save([number(unroll(t)) for t in TREES], "chain")
    covers = []
    for tid, t in enumerate(TREES):
        stack = [t]
        while stack:
            n = stack.pop()
            covers.append({"tree": tid, "node": n["onnx"]["id"], "cover": float(n["cover"])})
            if n["kind"] != "leaf":
                stack += [n["true"], n["false"]]
    covers.sort(key=lambda c: (c["tree"], c["node"]))
    with open(os.path.join(OUT, "chain.covers.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c) for c in covers) + "\n]\n")
    with open(os.path.join(OUT, "chain.settree.json"), "w") as f:
        json.dump({"base": 0.25, "trees": flat, "predict": [float(predict(x)) for x in fresh]}, f, indent=0)
        f.write("\n")
    train.astype("<f4").tofile(os.path.join(OUT, "chain_train.f32"))
    fresh.astype("<f4").tofile(os.path.join(OUT, "chain_inputs.f32"))

    # A node shared by splits on two features (0 and 1): not a chain.
    bad = {"mode": "BRANCH_LEQ", "feature": 0, "thr": 2.0, "nan": False,
           "true": {"mode": "LEAF", "value": 0.5}, "false": None}
    shared = bad["true"]
    bad["false"] = {"mode": "BRANCH_LEQ", "feature": 1, "thr": 0.0, "nan": False,
                    "true": shared, "false": {"mode": "LEAF", "value": -0.5}}
    save([number(bad)], "chain_bad")


if __name__ == "__main__":
    main()
