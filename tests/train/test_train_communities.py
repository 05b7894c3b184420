"""On synthetic data with planted communities, LightGCN's Recall@20 beats a
popularity ranking by a wide margin.

Why the margin: users interact inside their own community 80% of the time
(8 communities), so a community-blind popularity list spends most of its 20
slots on other communities' items, while a model that learned the communities
ranks the user's own community first. We require LightGCN >= 1.5x popularity;
measured 2.2x (0.490 vs 0.221) when this test was written."""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = os.environ["HALOREC_BIN"]


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


def popularity_recall(path, k=20):
    with h5py.File(path, "r") as f:
        I = int(f.attrs["num_items"])
        tu, ti = f["train/user"][:], f["train/item"][:]
        su, si = f["test/user"][:], f["test/item"][:]
    pop = np.bincount(ti, minlength=I).astype(np.float64)
    order = np.argsort(-pop, kind="stable")
    train = {}
    for u, i in zip(tu, ti):
        train.setdefault(int(u), set()).add(int(i))
    test = {}
    for u, i in zip(su, si):
        test.setdefault(int(u), set()).add(int(i))
    total = 0.0
    for u, items in test.items():
        seen = train.get(u, set())
        top = [int(i) for i in order if int(i) not in seen][:k]
        total += len(items.intersection(top)) / len(items)
    return total / len(test)


with tempfile.TemporaryDirectory() as d:
    ds = os.path.join(d, "d.h5")
    run(BIN, "synth", "--users", "1500", "--items", "800", "--interactions", "45000",
        "--communities", "8", "--seed", "5", "--out", ds)
    out = os.path.join(d, "run")
    p = run(BIN, "train", "--set", f"data.dataset={ds}", "--set", f"output.dir={out}",
            "--set", "train.epochs=15", "--set", "train.lr=0.01", "--set", "eval.every=15",
            "--json")
    ours = json.loads(p.stdout)["recall@20"]
    pop = popularity_recall(ds)
    print(f"recall@20: lightgcn {ours:.4f}, popularity {pop:.4f}, ratio {ours / pop:.2f}")
    assert ours >= 1.5 * pop, (ours, pop)
print("ok")
