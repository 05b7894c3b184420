"""A growing dataset and warm start (issue 18): prepare --append-to and
train --init-from.

1. A synthetic log split in time: the first 80% prepared (random:0.2), the
   last 20% and every record of 100 late users and 40 late items appended. The grown dataset's id tables start with the parent's,
   byte for byte; the parent's train and test records are all still there;
   it records the parent's fingerprint; new users and items come after.
   A log repeating the parent's pairs drops them as duplicates; --split,
   --kcore and a log without the parent's time column are refused.
2. Warm start across rank counts: MF trained at P=2 on the parent, then
   P=3 on the grown dataset --init-from that checkpoint with a learning rate
   too small to move a float (1e-30): every old user and item has exactly
   its row from the checkpoint (compared by original id through both
   exports); a resumable checkpoint of the run wins over --init-from; a
   checkpoint of another dimension is refused.
"""
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from traintest import BIN, MPIRUN, run


def model(path):
    with h5py.File(path, "r") as f:
        out = {}
        for side in ("users", "items"):
            ids = [x.decode() if isinstance(x, bytes) else x for x in f[side]["original_id"][:]]
            out[side] = dict(zip(ids, f[side]["vector"][:].astype(np.float32)))
        return out


def ids(path, side):
    with h5py.File(path, "r") as f:
        return [x.decode() if isinstance(x, bytes) else x for x in f[side]["original_id"][:]]


def pairs(path, part):
    with h5py.File(path, "r") as f:
        users, items = ids(path, "users"), ids(path, "items")
        return {(users[u], items[i]) for u, i in zip(f[part]["user"][:], f[part]["item"][:])}


with tempfile.TemporaryDirectory() as d:
    run(BIN, "synth", "--users", "1500", "--items", "800", "--interactions", "40000",
        "--communities", "6", "--seed", "11", "--out", f"{d}/s.h5")
    # The synthetic interactions as a log with times, in time order.
    rows = []
    with h5py.File(f"{d}/s.h5", "r") as f:
        uid = [x.decode() if isinstance(x, bytes) else x for x in f["users"]["original_id"][:]]
        iid = [x.decode() if isinstance(x, bytes) else x for x in f["items"]["original_id"][:]]
        for part in ("train", "test"):
            for u, i, t in zip(f[part]["user"][:], f[part]["item"][:], f[part]["time"][:]):
                rows.append((int(t), uid[u], iid[i]))
    rows.sort()
    # Users and items that arrive late (the last 100 users, the last 40
    # items of the id tables) appear in the new part only.
    late_u, late_i = set(uid[-100:]), set(iid[-40:])
    early = [r for r in rows if r[1] not in late_u and r[2] not in late_i]
    cut = int(len(early) * 0.8)
    parts = (("old", early[:cut]),
             ("new", early[cut:] + [r for r in rows if r[1] in late_u or r[2] in late_i]))
    for name, part in parts:
        with open(f"{d}/{name}.csv", "w") as f:
            f.write("user,item,time\n")
            for t, u, i in part:
                f.write(f"u{u},i{i},{t}\n")
    csv = ["--format", "csv", "--header", "--user-col", "user", "--item-col", "item",
           "--time-col", "time"]
    run(BIN, "prepare", *csv, "--input", f"{d}/old.csv", "--split", "random:0.2", "--seed", "3",
        "--out", f"{d}/old.h5")
    rep = json.loads(run(BIN, "prepare", *csv, "--input", f"{d}/new.csv", "--append-to",
                         f"{d}/old.h5", "--out", f"{d}/grown.h5", "--json").stdout)

    # 1. Stable ids, the parent's records kept, the parent recorded.
    for side in ("users", "items"):
        old, grown = ids(f"{d}/old.h5", side), ids(f"{d}/grown.h5", side)
        assert grown[:len(old)] == old, side
        assert len(grown) > len(old), (side, len(old), len(grown))
    with h5py.File(f"{d}/old.h5", "r") as f:
        parent_fp = f.attrs["fingerprint"]
    with h5py.File(f"{d}/grown.h5", "r") as f:
        assert f.attrs["parent_fingerprint"] == parent_fp
        assert f.attrs["split"] == "random:0.2"
    for part in ("train", "test"):
        assert pairs(f"{d}/old.h5", part) <= pairs(f"{d}/grown.h5", part), part
    added = (len(pairs(f"{d}/grown.h5", "train")) + len(pairs(f"{d}/grown.h5", "test"))
             - len(pairs(f"{d}/old.h5", "train")) - len(pairs(f"{d}/old.h5", "test")))
    assert added == rep["records_kept"] > 0 and rep["new_users"] > 0, rep
    assert rep["parent_fingerprint"] == parent_fp, rep
    print(f"append ok: +{added} records, +{rep['new_users']} users, +{rep['new_items']} items")
    # Repeats of the parent's pairs are duplicates; refusals.
    rep = json.loads(run(BIN, "prepare", *csv, "--input", f"{d}/old.csv", "--append-to",
                         f"{d}/old.h5", "--out", f"{d}/again.h5", "--json").stdout)
    assert rep["records_kept"] == 0 and rep["dropped"]["duplicate"] == rep["records_read"], rep
    for extra, words in ((["--split", "random:0.1"], "--split"), (["--kcore", "5"], "--kcore")):
        p = subprocess.run([BIN, "prepare", *csv, "--input", f"{d}/new.csv", "--append-to",
                            f"{d}/old.h5", "--out", f"{d}/bad.h5", *extra],
                           capture_output=True, text=True)
        assert p.returncode == 2 and words in p.stderr, (extra, p.stderr)
    p = subprocess.run([BIN, "prepare", "--format", "csv", "--header", "--user-col", "user",
                        "--item-col", "item", "--input", f"{d}/new.csv", "--append-to",
                        f"{d}/old.h5", "--out", f"{d}/bad.h5"], capture_output=True, text=True)
    assert p.returncode == 2 and "time" in p.stderr, p.stderr
    assert not os.path.exists(f"{d}/bad.h5")

    # 2. Warm start P=2 -> P=3, every old row exactly.
    common = ["--set", "model.type=mf", "--set", "train.threads=1", "--set", "eval.every=0"]
    run(MPIRUN, "-np", "2", "--oversubscribe", BIN, "train", "--set", f"data.dataset={d}/old.h5",
        "--set", f"output.dir={d}/a", "--set", "train.epochs=2", "--set", "train.lr=0.01", *common)
    p = run(MPIRUN, "-np", "3", "--oversubscribe", BIN, "train", "--set",
            f"data.dataset={d}/grown.h5", "--set", f"output.dir={d}/b", "--set", "train.epochs=1",
            "--set", "train.lr=1e-30", "--set", "train.weight_decay=0", *common, "--init-from",
            f"{d}/a/checkpoints")
    assert "warm start from" in p.stderr, p.stderr[-2000:]
    run(BIN, "export", "--checkpoint", f"{d}/a/checkpoints", "--out", f"{d}/a.h5")
    run(BIN, "export", "--checkpoint", f"{d}/b/checkpoints", "--out", f"{d}/b.h5")
    a, b = model(f"{d}/a.h5"), model(f"{d}/b.h5")
    for side in ("users", "items"):
        assert set(a[side]) < set(b[side]), side
        worst = max(float(np.abs(a[side][k] - b[side][k]).max()) for k in a[side])
        assert worst == 0.0, (side, worst)
        # New nodes start as a fresh run would: not all zero, not an old row.
        new = [k for k in b[side] if k not in a[side]]
        assert new and all(np.abs(b[side][k]).sum() > 0 for k in new), side
    print(f"warm start ok: {len(a['users'])} users and {len(a['items'])} items exactly")
    # A resumable checkpoint of the run itself wins over --init-from.
    p = run(MPIRUN, "-np", "3", "--oversubscribe", BIN, "train", "--set",
            f"data.dataset={d}/grown.h5", "--set", f"output.dir={d}/b", "--set", "train.epochs=2",
            "--set", "train.lr=1e-30", "--set", "train.weight_decay=0", *common, "--init-from",
            f"{d}/a/checkpoints", "--resume", "latest")
    assert "resumed from" in p.stderr and "warm start from" not in p.stderr, p.stderr[-2000:]
    # Another dimension: refused, naming the keys.
    p = subprocess.run([BIN, "train", "--set", f"data.dataset={d}/grown.h5", "--set",
                        f"output.dir={d}/c", "--set", "model.dim=32", *common, "--init-from",
                        f"{d}/a/checkpoints"], capture_output=True, text=True)
    assert p.returncode == 2 and "model.dim" in p.stderr, p.stderr[-1000:]
print("ok")
