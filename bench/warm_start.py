#!/usr/bin/python3
"""Keeping a model current: warm start against a full retrain, side by side.

A synthetic log (planted communities, `halorec synth`) is split in time: the
first 80% of it (without the users and items that arrive late) is prepared
and a model trained on it; the rest is appended (`prepare --append-to`).
Then, on the grown dataset and with the same config:
  - a full retrain from scratch for --epochs epochs,
  - a warm start from the first model (`train --init-from`) for
    --warm-epochs epochs,
and one markdown row each gives the wall seconds of `halorec train` (the
evaluation at its last epoch included), Recall@20 and NDCG@20 on the grown
dataset's test split, and the ratios to the retrain.

  bench/warm_start.py [--users 20000 --items 8000 --interactions 600000]
                      [--epochs 20 --warm-epochs 4] [--ranks 2] [--set key=value ...]

Environment: BUILD_DIR (default build), WORK (default a temporary folder).
"""
import argparse
import json
import os
import tempfile
import time

import h5py

from benchlib import hr, final  # bench/ is on sys.path


def time_split_logs(synth, work, late_users, late_items):
    """old.csv: the first 80% in time of the records of early users and
    items; new.csv: the rest. Returns the record counts."""
    rows = []
    with h5py.File(synth, "r") as f:
        uid = [x.decode() if isinstance(x, bytes) else x for x in f["users"]["original_id"][:]]
        iid = [x.decode() if isinstance(x, bytes) else x for x in f["items"]["original_id"][:]]
        for part in ("train", "test"):
            g = f[part]
            for u, i, t in zip(g["user"][:], g["item"][:], g["time"][:]):
                rows.append((int(t), uid[u], iid[i]))
    rows.sort()
    late_u = set(uid[len(uid) - late_users:]) if late_users else set()
    late_i = set(iid[len(iid) - late_items:]) if late_items else set()
    early = [r for r in rows if r[1] not in late_u and r[2] not in late_i]
    cut = int(len(early) * 0.8)
    parts = {"old": early[:cut],
             "new": early[cut:] + [r for r in rows if r[1] in late_u or r[2] in late_i]}
    for name, part in parts.items():
        with open(os.path.join(work, f"{name}.csv"), "w") as f:
            f.write("user,item,time\n")
            for t, u, i in part:
                f.write(f"{u},{i},{t}\n")
    return {k: len(v) for k, v in parts.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=8000)
    ap.add_argument("--interactions", type=int, default=600000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--warm-epochs", type=int, default=4)
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    a = ap.parse_args()
    work = os.environ.get("WORK") or tempfile.mkdtemp(prefix="halorec-warm-")
    os.makedirs(work, exist_ok=True)
    synth = os.path.join(work, "synth.h5")
    hr("synth", "--users", a.users, "--items", a.items, "--interactions", a.interactions,
       "--communities", 16, "--seed", 5, "--out", synth)
    counts = time_split_logs(synth, work, a.users // 20, a.items // 20)
    csv = ["--format", "csv", "--header", "--user-col", "user", "--item-col", "item",
           "--time-col", "time"]
    old, grown = os.path.join(work, "old.h5"), os.path.join(work, "grown.h5")
    hr("prepare", *csv, "--input", os.path.join(work, "old.csv"), "--split", "random:0.2",
       "--seed", 3, "--out", old)
    rep = json.loads(hr("prepare", *csv, "--input", os.path.join(work, "new.csv"),
                        "--append-to", old, "--out", grown, "--json"))
    sets = ["--set", "train.threads=0", "--set", "checkpoint.every=0"]
    for s in a.set:
        sets += ["--set", s]

    def train(dataset, out, epochs, *extra):
        t0 = time.time()
        hr("train", "--set", f"data.dataset={dataset}", "--set", f"output.dir={out}",
           "--set", f"train.epochs={epochs}", "--set", f"eval.every={epochs}", *sets, *extra,
           ranks=a.ranks)
        return time.time() - t0, final(out)

    first_s, _ = train(old, os.path.join(work, "first"), a.epochs)
    full_s, full = train(grown, os.path.join(work, "retrain"), a.epochs)
    warm_s, warm = train(grown, os.path.join(work, "warm"), a.warm_epochs, "--init-from",
                         os.path.join(work, "first", "checkpoints"))
    print(f"log: {counts['old']} records first, {counts['new']} appended "
          f"({rep['new_users']} new users, {rep['new_items']} new items); "
          f"first model {first_s:.1f} s; {a.ranks} rank(s)\n")
    print("| on the grown dataset | epochs | wall s | Recall@20 | NDCG@20 | time vs retrain "
          "| Recall vs retrain |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, epochs, secs, m in (("full retrain", a.epochs, full_s, full),
                                   ("warm start (--init-from)", a.warm_epochs, warm_s, warm)):
        print(f"| {label} | {epochs} | {secs:.1f} | {m['recall@20']:.4f} | {m['ndcg@20']:.4f} "
              f"| {secs / full_s:.2f} | {m['recall@20'] / full['recall@20']:.3f} |")


if __name__ == "__main__":
    main()
