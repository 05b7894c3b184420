"""Social edges (data.social): user-user edges in the interest graph.

1. The graph: partitions at P = 1 and 4 with `--social` hold, between them,
   every user-item edge and every social pair once per direction (repeats in
   either direction merged, weights summed; unknown users and self pairs
   skipped); user-item edges valued w / sqrt(D_u D_i) by the interactions'
   degrees alone, social edges beta w / sqrt(S_u S_v) by the social degrees
   (beta = --social-weight, 0.35 by default; 0 leaves them out); meta.h5
   records the social relation's id (file SHA-256 and weight) and the count.
2. Partition invariance (mpirun -np 1, 2, 4): LightGCN with social edges gives
   the same losses and metrics; so do NGCF and minibatch propagation at P = 1
   and 4.
3. They matter: on planted homophily (friends mostly share the user's
   community) LightGCN with social edges ranks better than without at equal
   epochs, and a random social graph of the same size does not.
4. Export rebuilds the same graph: `evaluate` on the export gives training's
   test metrics; a changed or missing social file is refused (`--social`
   names a copy); a resume with other social edges is refused; a partition
   given by hand without them is remade with them.
5. Bad files: a malformed line names file:line; exit 2.
"""
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict

import h5py
import numpy as np

from traintest import (BIN, MPIRUN, PERTURBATIONS, check_invariant, rounding_envelope,
                       run)


def train(d, out, P, *sets, check=True, dataset="d.h5", perturb=0):
    args = [BIN, "train", "--set", f"data.dataset={d}/{dataset}", "--set", f"output.dir={out}",
            "--set", "model.layers=2", "--set", "train.threads=1", "--set", "train.lr=0.02",
            "--set", "train.epochs=3"]
    for s in sets:
        args += ["--set", s]
    if P > 1:
        args = [MPIRUN, "-np", str(P), "--oversubscribe"] + args
    env = {**os.environ, "HALOREC_TEST_PERTURB_INIT": str(perturb)} if perturb else None
    p = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    if check and p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


def rows(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if '"epoch"' in line]


def losses(out):
    with open(os.path.join(out, "steps.csv")) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def same_run(a, b, twins, what):
    """Run `a` matches the P = 1 run `b` within the rounding bound that b's
    perturbed twins measure (traintest.py); returns difference / bound."""
    env = rounding_envelope(losses(b), [losses(t) for t in twins])
    return check_invariant((losses(b), rows(b)[-1]), (losses(a), rows(a)[-1]), env, what,
                           ("recall@20", "ndcg@20"))


def global_graph(parts):
    """{(u, v): value} over global node ids, from every shard of `parts`."""
    edges = {}
    for name in sorted(os.listdir(parts)):
        if not name.startswith("rank-"):
            continue
        with h5py.File(os.path.join(parts, name), "r") as f:
            owned = f["owned/global_id"][:]
            ids = np.concatenate([owned, f["halo/global_id"][:]])
            indptr, col, val = f["adj/indptr"][:], f["adj/col"][:], f["adj/value"][:]
        for k, v in enumerate(owned):
            cols = ids[col[indptr[k]:indptr[k + 1]]]
            if int(v) < U:  # a user's row: social neighbours (users) first, then items
                users = cols[cols < U]
                assert (cols[:len(users)] == users).all() and (np.diff(users) > 0).all()
            for c, x in zip(cols, val[indptr[k]:indptr[k + 1]]):
                edges[(int(v), int(c))] = float(x)
    return edges


with tempfile.TemporaryDirectory() as d:
    run(BIN, "synth", "--users", "3000", "--items", "1200", "--interactions", "24000",
        "--communities", "12", "--in-community", "0.7", "--seed", "5", "--social-degree", "4",
        "--homophily", "0.85", "--out", f"{d}/d.h5")
    run(BIN, "synth", "--users", "3000", "--items", "1200", "--interactions", "24000",
        "--communities", "12", "--in-community", "0.7", "--seed", "5", "--social-degree", "4",
        "--homophily", "0", "--out", f"{d}/control.h5")
    social = f"{d}/s.tsv"
    with open(f"{d}/d.social.tsv") as src, open(social, "w") as out:
        out.write(src.read())
        # Hand-made lines: a repeat the other way round with a weight, a
        # comma-separated pair, an unknown user, a self pair, a comment.
        out.write("u1\tu0\t2.5\nu0,u1\nu2 nobody\nu3 u3\n# the end\n")
    with h5py.File(f"{d}/d.h5", "r") as f:
        uid = [x.decode() for x in f["users/original_id"][:]]
        U, I = len(uid), len(f["items/original_id"])
        tu, ti, tw = f["train/user"][:], f["train/item"][:], f["train/weight"][:]
    dense = {u: k for k, u in enumerate(uid)}

    # 1. The graph.
    want_social = defaultdict(float)
    for line in open(social):
        f = line.replace(",", "\t").split()
        if not f or f[0].startswith("#") or f[0] not in dense or f[1] not in dense or f[0] == f[1]:
            continue
        a, b = sorted((dense[f[0]], dense[f[1]]))
        want_social[(a, b)] += float(f[2]) if len(f) > 2 else 1.0
    assert want_social[tuple(sorted((dense["u0"], dense["u1"])))] >= 3.5
    # Interactions by their own degrees, social edges by the social degrees
    # times data.social_weight (0.35 by default).
    deg = np.zeros(U + I)
    np.add.at(deg, tu, tw)
    np.add.at(deg, U + ti, tw)
    sdeg = np.zeros(U)
    for (a, b), w in want_social.items():
        sdeg[a] += w
        sdeg[b] += w

    def want_graph(beta):
        want = {}
        for u, i, w in zip(tu.tolist(), ti.tolist(), tw.tolist()):
            want[(u, U + i)] = want[(U + i, u)] = w / np.sqrt(deg[u] * deg[U + i])
        if beta > 0:
            for (a, b), w in want_social.items():
                want[(a, b)] = want[(b, a)] = beta * w / np.sqrt(sdeg[a] * sdeg[b])
        return want

    sha = hashlib.sha256(open(social, "rb").read()).hexdigest()

    def graph_id(w):
        return hashlib.sha256(
            f"social relation v2, own degrees, weight {w:.17g}, file {sha}".encode()).hexdigest()
    for P, beta in ((1, None), (4, None), (4, 1.0), (2, 0)):
        out = f"{d}/p{P}" if beta is None else f"{d}/p{P}-w{beta}"
        extra = [] if beta is None else ["--social-weight", str(beta)]
        run(BIN, "partition", "--dataset", f"{d}/d.h5", "--parts", str(P), "--social", social,
            "--out", out, *extra)
        w = 0.35 if beta is None else beta
        want = want_graph(w)
        got = global_graph(out)
        assert got.keys() == want.keys(), (P, w, len(got), len(want))
        worst = max(abs(got[k] - want[k]) / want[k] for k in want)
        assert worst < 1e-6, (P, w, worst)
        with h5py.File(f"{out}/meta.h5", "r") as f:
            assert f.attrs["social_fingerprint"] == graph_id(w), (w, f.attrs["social_fingerprint"])
            assert f.attrs["num_social"] == len(want_social)
    want = want_graph(0.35)
    print(f"graph ok: {len(want_social)} social edges, {len(want) // 2} edges in all")

    # 2. Invariance.
    S = f"data.social={social}"
    for P in (1, 2, 4):
        train(d, f"{d}/r{P}", P, S)
    twins = [f"{d}/r1-p{k}" for k in PERTURBATIONS]
    for k, t in zip(PERTURBATIONS, twins):
        train(d, t, 1, S, perturb=k)
    worst = max(same_run(f"{d}/r{P}", f"{d}/r1", twins, f"lightgcn P={P}") for P in (2, 4))
    for label, sets in (("ngcf", ["model.type=ngcf"]),
                        ("minibatch", ["train.propagation=minibatch", "train.fanouts=[5,3]"])):
        for P in (1, 4):
            train(d, f"{d}/{label}{P}", P, S, *sets, "train.epochs=2")
        twins = [f"{d}/{label}1-p{k}" for k in PERTURBATIONS]
        for k, t in zip(PERTURBATIONS, twins):
            train(d, t, 1, S, *sets, "train.epochs=2", perturb=k)
        worst = max(worst, same_run(f"{d}/{label}4", f"{d}/{label}1", twins, label))
    print(f"invariance ok: worst difference {worst:.2f} of its rounding bound")

    # 3. Social edges matter, when they carry interests.
    recall = {}
    for label, sets in (("none", []), ("homophily", [S]),
                        ("random", [f"data.social={d}/control.social.tsv"])):
        train(d, f"{d}/m-{label}", 1, *sets, "train.epochs=12", "eval.every=12")
        recall[label] = rows(f"{d}/m-{label}")[-1]["recall@20"]
    print("recall@20 after 12 epochs:", recall)
    assert recall["homophily"] > 1.03 * recall["none"], recall
    assert recall["random"] < recall["homophily"], recall

    # 4. Export, resume and partition checks.
    final = rows(f"{d}/r1")[-1]
    run(BIN, "export", "--checkpoint", f"{d}/r1/checkpoints", "--out", f"{d}/m.h5")
    ev = json.loads(run(BIN, "evaluate", "--model", f"{d}/m.h5", "--dataset", f"{d}/d.h5",
                        "--k", "20", "--json").stdout)
    assert abs(ev["recall@20"] - final["recall@20"]) < 1e-5, (ev["recall@20"], final["recall@20"])
    assert abs(ev["ndcg@20"] - final["ndcg@20"]) < 1e-5
    # 2 ranks: the sharded export through the run's partition.
    run(MPIRUN, "-np", "2", "--oversubscribe", BIN, "export", "--checkpoint",
        f"{d}/r2/checkpoints", "--out", f"{d}/m2.h5")
    ev2 = json.loads(run(BIN, "evaluate", "--model", f"{d}/m2.h5", "--dataset", f"{d}/d.h5",
                         "--k", "20", "--json").stdout)
    assert abs(ev2["recall@20"] - final["recall@20"]) < 1e-5, ev2["recall@20"]
    shutil.copy(social, f"{d}/copy.tsv")
    shutil.move(social, f"{d}/moved.tsv")
    p = subprocess.run([BIN, "export", "--checkpoint", f"{d}/r1/checkpoints", "--out",
                        f"{d}/x.h5"], capture_output=True, text=True)
    assert p.returncode == 2 and "is not there: give --social" in p.stderr, p.stderr
    with open(f"{d}/copy.tsv", "a") as f:
        f.write("u5 u6\n")
    p = subprocess.run([BIN, "export", "--checkpoint", f"{d}/r1/checkpoints", "--out",
                        f"{d}/x.h5", "--social", f"{d}/copy.tsv"], capture_output=True, text=True)
    assert p.returncode == 2 and "is not the social relation" in p.stderr, p.stderr
    run(BIN, "export", "--checkpoint", f"{d}/r1/checkpoints", "--out", f"{d}/m3.h5", "--social",
        f"{d}/moved.tsv")
    ev3 = json.loads(run(BIN, "evaluate", "--model", f"{d}/m3.h5", "--dataset", f"{d}/d.h5",
                         "--k", "20", "--json").stdout)
    assert ev3["recall@20"] == ev["recall@20"]
    p = subprocess.run([BIN, "export", "--checkpoint", f"{d}/m-none/checkpoints", "--out",
                        f"{d}/x.h5", "--social", f"{d}/moved.tsv"], capture_output=True, text=True)
    assert p.returncode == 2 and "trained without social edges" in p.stderr, p.stderr
    shutil.move(f"{d}/moved.tsv", social)
    for sets in ([f"data.social={d}/copy.tsv"], []):
        p = train(d, f"{d}/r1", 1, *sets, "checkpoint.resume=latest", "train.epochs=4",
                  check=False)
        assert p.returncode == 2 and "trained on a graph with social edges" in p.stderr, p.stderr
    train(d, f"{d}/r1", 1, S, "checkpoint.resume=latest", "train.epochs=4")
    assert [r["epoch"] for r in rows(f"{d}/r1")] == [1, 2, 3, 4]
    # A partition given by hand without the social edges is remade with them.
    run(BIN, "partition", "--dataset", f"{d}/d.h5", "--parts", "1", "--out", f"{d}/hand")
    p = train(d, f"{d}/h", 1, S, f"data.parts={d}/hand", "train.epochs=1")
    assert "partitioning" in p.stderr, p.stderr
    with h5py.File(f"{d}/hand/meta.h5", "r") as f:
        assert f.attrs["social_fingerprint"] == graph_id(0.35)
    # ... and again for another data.social_weight.
    p = train(d, f"{d}/h2", 1, S, f"data.parts={d}/hand", "train.epochs=1",
              "data.social_weight=0.1")
    assert "partitioning" in p.stderr, p.stderr
    with h5py.File(f"{d}/hand/meta.h5", "r") as f:
        assert f.attrs["social_fingerprint"] == graph_id(0.1)
    print("export, resume and partition checks ok")

    # 5. Bad files.
    with open(f"{d}/bad.tsv", "w") as f:
        f.write("u1 u2\nu3\n")
    p = train(d, f"{d}/bad", 1, f"data.social={d}/bad.tsv", check=False)
    assert p.returncode == 2 and f"{d}/bad.tsv:2: expected 'USER USER [WEIGHT]'" in p.stderr, \
        p.stderr
    p = train(d, f"{d}/bad", 1, f"data.social={d}/absent.tsv", check=False)
    assert p.returncode == 2 and "absent.tsv" in p.stderr and "cannot open" in p.stderr, p.stderr
print("ok")
