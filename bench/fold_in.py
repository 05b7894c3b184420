#!/usr/bin/python3
"""Fold-in at serving against the same users trained in, side by side.

A planted-community dataset (`halorec synth`); a share of its users is held
out. Model A is trained on everything; model B (same config) without the
held-out users' train records. The held-out users' Recall@20 and NDCG@20 on
their test items: from A's trained vectors (`recommend --exclude-seen`) and
from B by fold-in of their train items (`recommend --histories`), one
markdown row each.

  bench/fold_in.py [--users 20000 --items 8000 --interactions 600000]
                   [--held-out 0.1] [--epochs 10] [--set key=value ...]

Environment: BUILD_DIR (default build), WORK (default a temporary folder).
"""
import argparse
import json
import math
import os
import random
import tempfile

import h5py

from benchlib import hr  # bench/ is on sys.path


def strs(a):
    return [x.decode() if isinstance(x, bytes) else x for x in a]


def metrics(lists, truth, k=20):
    """Mean Recall@k and NDCG@k (ideal DCG over min(|test|, k) hits)."""
    recall = ndcg = 0.0
    for user, items in lists.items():
        t = truth[user]
        hits = [1 if i in t else 0 for i in items[:k]]
        recall += sum(hits) / len(t)
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        ndcg += dcg / sum(1 / math.log2(r + 2) for r in range(min(len(t), k)))
    return recall / len(lists), ndcg / len(lists)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=8000)
    ap.add_argument("--interactions", type=int, default=600000)
    ap.add_argument("--held-out", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    a = ap.parse_args()
    work = os.environ.get("WORK") or tempfile.mkdtemp(prefix="halorec-fold-")
    os.makedirs(work, exist_ok=True)
    full = os.path.join(work, "full.h5")
    hr("synth", "--users", a.users, "--items", a.items, "--interactions", a.interactions,
       "--communities", 16, "--seed", 9, "--out", full)
    with h5py.File(full, "r") as f:
        uid, iid = strs(f["users"]["original_id"][:]), strs(f["items"]["original_id"][:])
        train = list(zip(f["train"]["user"][:], f["train"]["item"][:], f["train"]["weight"][:]))
        test = list(zip(f["test"]["user"][:], f["test"]["item"][:]))
    rng = random.Random(4)
    with_test = sorted({u for u, _ in test})
    held = set(rng.sample(with_test, int(len(with_test) * a.held_out)))
    truth = {}
    for u, i in test:
        if u in held:
            truth.setdefault(uid[u], set()).add(iid[i])
    # B's data: everything but the held-out users' train records (and all test
    # records, which B never evaluates).
    kept = os.path.join(work, "kept.csv")
    history = {}
    with open(kept, "w") as f:
        f.write("user,item,weight\n")
        for u, i, w in train:
            if u in held:
                history.setdefault(uid[u], []).extend([iid[i]] * int(w))
            else:
                for _ in range(int(w)):
                    f.write(f"{uid[u]},{iid[i]},1\n")
    b_data = os.path.join(work, "kept.h5")
    hr("prepare", "--format", "csv", "--header", "--user-col", "user", "--item-col", "item",
       "--input", kept, "--split", "none", "--out", b_data)
    with h5py.File(b_data, "r") as f:
        b_items = set(strs(f["items"]["original_id"][:]))
    sets = ["--set", f"train.epochs={a.epochs}", "--set", "eval.every=0", "--set",
            "checkpoint.every=0", "--set", "train.threads=0"]
    for s in a.set:
        sets += ["--set", s]
    for name, data in (("a", full), ("b", b_data)):
        hr("train", "--set", f"data.dataset={data}", "--set",
           f"output.dir={os.path.join(work, name)}", *sets)
        hr("export", "--checkpoint", os.path.join(work, name, "checkpoints"), "--out",
           os.path.join(work, f"{name}.h5"))
    users = sorted(truth)
    with open(os.path.join(work, "held.txt"), "w") as f:
        f.write("\n".join(users) + "\n")
    out = json.loads(hr("recommend", "--model", os.path.join(work, "a.h5"), "--users-file",
                        os.path.join(work, "held.txt"), "--exclude-seen", full, "--k", 20,
                        "--json"))
    trained = {r["user"]: [x["item"] for x in r["items"]] for r in out["recommendations"]}
    with open(os.path.join(work, "histories.txt"), "w") as f:
        for u in users:
            # Items B never saw have no vector to fold in.
            f.write(u + " " + " ".join(i for i in history[u] if i in b_items) + "\n")
    out = json.loads(hr("recommend", "--model", os.path.join(work, "b.h5"), "--histories",
                        os.path.join(work, "histories.txt"), "--k", 20, "--json"))
    folded = {r["user"]: [x["item"] for x in r["items"]] for r in out["recommendations"]}
    ra, na = metrics(trained, truth)
    rb, nb = metrics(folded, truth)
    print(f"{len(users)} held-out users of {a.users}; {a.epochs} epochs; {out['seconds']:.3f} s to "
          f"fold in and rank them all\n")
    print("| held-out users' vectors | Recall@20 | NDCG@20 | Recall vs trained in |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| trained in (model A) | {ra:.4f} | {na:.4f} | 1.000 |")
    print(f"| folded in from their items (model B) | {rb:.4f} | {nb:.4f} | {rb / ra:.3f} |")


if __name__ == "__main__":
    main()
