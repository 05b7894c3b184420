"""data.validation: a per-user carve from train that training leaves out,
evaluated beside test; reduce-on-plateau and checkpoint.keep_best on it.

1. The carve: every rank's validation records plus its train records are the
   dataset's train records of its users, disjoint; each user with n train
   records gives round(0.1 n) (at most n - 1); the same carve at P = 1 and 4.
2. Partition invariance (mpirun -np 1, 2, 4): the same losses, val_ and test
   metrics, and learning rates under plateau.
3. Test ranking masks the carved records too: the best checkpoint's export,
   evaluated by `halorec evaluate` on the dataset, gives that epoch's test
   metrics; the best checkpoint is the epoch of the highest val_recall@20.
4. Plateau: the rate decays by train.lr_decay after plateau_patience
   evaluations without improvement, never below train.lr_min, and a run
   stopped mid-way and resumed ends with the uninterrupted run's numbers.
5. Refusals: plateau or keep_best without data.validation, a resume with
   another carve, a hand-made partition with another carve.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

from traintest import BIN, MPIRUN, run


def records(path, group):
    with h5py.File(path, "r") as f:
        return set(zip(f[group]["user"][:].tolist(), f[group]["item"][:].tolist()))


def rows(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if '"epoch"' in line]


def train(d, out, P, *sets, check=True):
    args = [BIN, "train", "--set", f"data.dataset={d}/d.h5", "--set", f"output.dir={out}",
            "--set", "model.type=lightgcn", "--set", "model.layers=2", "--set",
            "train.threads=1", "--set", "data.validation=0.1", "--set", "train.lr=0.02"]
    for s in sets:
        args += ["--set", s]
    if P > 1:
        args = [MPIRUN, "-np", str(P), "--oversubscribe"] + args
    p = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


with tempfile.TemporaryDirectory() as d:
    run(BIN, "synth", "--users", "1500", "--items", "800", "--interactions", "40000",
        "--communities", "6", "--seed", "5", "--out", f"{d}/d.h5")
    with h5py.File(f"{d}/d.h5", "r") as f:
        users = f["train"]["user"][:]
        train_all = set(zip(users.tolist(), f["train"]["item"][:].tolist()))
        num_users = len(f["users"]["original_id"])
    counts = np.bincount(users, minlength=num_users)

    # 2. Invariance (these runs also give 1.'s partitions).
    plateau = ["train.epochs=6", "eval.every=1", "train.lr_schedule=plateau",
               "train.plateau_patience=1", "train.lr_min=0.004", "checkpoint.keep_best=true"]
    for P in (1, 2, 4):
        train(d, f"{d}/r{P}", P, *plateau)
    keys = ["loss", "lr", "recall@20", "ndcg@20", "val_recall@20", "val_ndcg@20"]
    base = rows(f"{d}/r1")
    assert len(base) == 6 and all(k in r for r in base for k in keys), base[0]
    for P in (2, 4):
        other = rows(f"{d}/r{P}")
        for a, b in zip(base, other):
            for k in keys:
                assert abs(a[k] - b[k]) <= 1e-4 * max(1.0, abs(a[k])), (P, a["epoch"], k, a[k], b[k])
    print("invariance ok:", [(r["epoch"], round(r["val_recall@20"], 4), round(r["recall@20"], 4),
                              r["lr"]) for r in base])

    # 1. The carve.
    for P in (1, 4):
        carved, kept = set(), set()
        for shard in sorted(glob.glob(f"{d}/r{P}/parts/rank-*.h5")):
            v, t = records(shard, "validation"), records(shard, "train")
            assert not (v & t)
            carved |= v
            kept |= t
        assert carved | kept == train_all and not (carved & kept)
        if P == 1:
            carve1 = carved
        else:
            assert carved == carve1, "the carve depends on the rank count"
        with h5py.File(f"{d}/r{P}/parts/meta.h5", "r") as f:
            assert f.attrs["validation"] == 0.1 and f.attrs["num_validation"] == len(carved)
    per_user = np.bincount(np.array([u for u, _ in carve1]), minlength=num_users)
    want = np.minimum(counts - 1, np.floor(0.1 * counts + 0.5)).clip(min=0)
    assert (per_user == want).all(), "per-user carve sizes"
    print(f"carve ok: {len(carve1)} of {len(train_all)} records")

    # 4. Plateau: decays after each evaluation without improvement, floor lr_min.
    lrs, best, since, scale = [r["lr"] for r in base], -1.0, 0, 1.0
    for r, lr in zip(base, lrs):
        assert abs(lr - max(0.004, 0.02 * scale)) < 1e-12, (r["epoch"], lr, scale)
        if r["val_recall@20"] > best:
            best, since = r["val_recall@20"], 0
        else:
            since += 1
            scale = max(0.2, scale * 0.5)
    assert min(lrs) < 0.02, f"no decay happened: {lrs}"

    # 3. keep_best: one checkpoint, at the best validation epoch; its export's
    # test metrics (halorec evaluate masks all dataset train records) are that
    # epoch's.
    best_dirs = glob.glob(f"{d}/r1/checkpoints/best/step-*")
    assert len(best_dirs) == 1, best_dirs
    top = max(base, key=lambda r: r["val_recall@20"])
    assert 1 < top["epoch"] < 6, "the best epoch should be neither the first nor the last here"
    assert int(best_dirs[0].rsplit("-", 1)[1]) == top["step"], (best_dirs, top["step"])
    run(BIN, "export", "--checkpoint", f"{d}/r1/checkpoints/best", "--out", f"{d}/best.h5")
    ev = json.loads(run(BIN, "evaluate", "--model", f"{d}/best.h5", "--dataset", f"{d}/d.h5",
                        "--k", "20", "--json").stdout)
    got = ev["recall@20"]
    assert abs(got - top["recall@20"]) < 1e-5, (got, top["recall@20"])
    print(f"best ok: epoch {top['epoch']} test recall@20 {got:.4f}")

    # 4b. Stopped after 13 steps (inside epoch 2... of 6) and resumed: the same end.
    steps = base[0]["step"]
    train(d, f"{d}/s", 1, *plateau, f"train.max_steps={3 * steps + 2}")
    train(d, f"{d}/s", 1, *plateau, "checkpoint.resume=latest")
    resumed = rows(f"{d}/s")
    for a, b in zip(base[-3:], resumed[-3:]):
        for k in keys:
            assert abs(a[k] - b[k]) <= 1e-6 * max(1.0, abs(a[k])), ("resume", a["epoch"], k)
    print("resume ok")

    # 5. Refusals.
    for sets, words in (
            (["data.validation=0", "train.lr_schedule=plateau"], "data.validation"),
            (["data.validation=0", "checkpoint.keep_best=true"], "data.validation"),
            (["data.validation=0.7"], "data.validation"),
            (["data.validation=0.2", "checkpoint.resume=latest"], "resume with the same carve")):
        p = train(d, f"{d}/r1", 1, *sets, check=False)
        assert p.returncode == 2 and words in p.stderr, (sets, p.returncode, p.stderr)
    run(BIN, "partition", "--dataset", f"{d}/d.h5", "--parts", "1", "--validation", "0.1",
        "--validation-seed", "3", "--out", f"{d}/parts3")
    assert records(f"{d}/parts3/rank-00000.h5", "validation") != carve1
    with h5py.File(f"{d}/parts3/meta.h5", "r") as f:
        assert f.attrs["validation_seed"] == 3
print("ok")
