"""Fold-in at serving (issue 18): recommend --history / --histories.

1. LightGCN (2 layers, dot and cosine scores): every sampled user of the
   model refolded from their own train items (an item repeated by its
   weight) gets their exported vector back to 1e-5.
2. A new user: their history is left out of the list; the list is the top
   of the folded vector's scores over the other items.
3. MF folds in (least squares over its item vectors). Refusals: an unknown
   item (exit 2, names it), a model without fold-in data (NGCF; a sharded
   LightGCN export), fold-in with --exclude-seen.
5. Friends: a LightGCN trained with social edges; users refolded from their
   items and friends (recommend --friends) get their exported vectors back
   to 1e-5, and not without the friends; refusals (an unknown friend, a
   model without social fold-in data, --friends without --history).
4. bench/fold_in.py on tiny data (LightGCN and MF): both rows, fold-in
   within reach of the trained-in users (planted communities).
"""
import json
import os
import subprocess
import tempfile

import h5py
import numpy as np

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, expect=0):
    p = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=300)
    assert p.returncode == expect, (args, p.returncode, p.stdout[-1500:], p.stderr[-1500:])
    return p


def strs(a):
    return [x.decode() if isinstance(x, bytes) else x for x in a]


with tempfile.TemporaryDirectory() as d:
    ds = f"{d}/d.h5"
    run(BIN, "synth", "--users", "1200", "--items", "600", "--interactions", "30000",
        "--communities", "6", "--seed", "13", "--out", ds)
    with h5py.File(ds, "r") as f:
        uid, iid = strs(f["users"]["original_id"][:]), strs(f["items"]["original_id"][:])
        tu, ti, tw = f["train"]["user"][:], f["train"]["item"][:], f["train"]["weight"][:]
    assert tw.max() > 1, "the check wants weighted edges"
    sample = list(range(0, 1200, 97))
    with open(f"{d}/own.txt", "w") as f:
        for u in sample:
            items = [iid[i] for i, w in zip(ti[tu == u], tw[tu == u]) for _ in range(int(w))]
            f.write(uid[u] + " " + " ".join(items) + "\n")
    for score in ("dot", "cosine"):
        out = f"{d}/run-{score}"
        run(BIN, "train", "--set", f"data.dataset={ds}", "--set", f"output.dir={out}", "--set",
            "model.layers=2", "--set", f"model.score={score}", "--set", "train.epochs=2",
            "--set", "train.lr=0.01", "--set", "eval.every=0", "--set", "train.threads=2")
        model = f"{d}/{score}.h5"
        run(BIN, "export", "--checkpoint", f"{out}/checkpoints", "--out", model)
        with h5py.File(model, "r") as f:
            mu = strs(f["users"]["original_id"][:])
            mv = f["users"]["vector"][:]
            assert f["fold_in"].attrs["layers"] == 2
        got = json.loads(run(BIN, "recommend", "--model", model, "--histories", f"{d}/own.txt",
                             "--k", "10", "--json").stdout)
        worst = 0.0
        for r in got["recommendations"]:
            ref = mv[mu.index(r["user"])]
            worst = max(worst, float(np.abs(np.array(r["vector"]) - ref).max()))
        assert len(got["recommendations"]) == len(sample) and worst <= 1e-5, (score, worst)
        print(f"{score}: {len(sample)} users refolded, worst difference {worst:.2e}")

    # 2. A new user: history excluded, the list is the top of the scores.
    model = f"{d}/dot.h5"
    hist = [iid[i] for i in (3, 5, 8, 13)]
    got = json.loads(run(BIN, "recommend", "--model", model, "--history", ",".join(hist),
                         "--k", "15", "--json").stdout)["recommendations"][0]
    assert got["user"] == "history"
    listed = [x["item"] for x in got["items"]]
    assert len(listed) == 15 and not set(listed) & set(hist), listed
    with h5py.File(model, "r") as f:
        items, iv = strs(f["items"]["original_id"][:]), f["items"]["vector"][:]
    scores = iv @ np.array(got["vector"], dtype=np.float32)
    order = [items[k] for k in np.argsort(-scores) if items[k] not in hist][:15]
    top = {items[k]: scores[k] for k in range(len(items))}
    assert [round(float(top[i]), 4) for i in listed] == [round(float(top[i]), 4) for i in order]
    tsv = run(BIN, "recommend", "--model", model, "--history", ",".join(hist), "--k", "3").stdout
    assert tsv.splitlines()[0] == "user\trank\titem\tscore" and len(tsv.splitlines()) == 4, tsv

    # 3. Refusals.
    p = run(BIN, "recommend", "--model", model, "--history", "nosuchitem," + hist[0], expect=2)
    assert "nosuchitem" in p.stderr, p.stderr
    p = run(BIN, "recommend", "--model", model, "--history", hist[0], "--exclude-seen", ds,
            expect=2)
    assert "--exclude-seen" in p.stderr, p.stderr
    # MF folds in by least squares over its item vectors; NGCF has no fold-in.
    for kind in ("mf", "ngcf"):
        run(BIN, "train", "--set", f"data.dataset={ds}", "--set", f"output.dir={d}/{kind}",
            "--set", f"model.type={kind}", "--set", "train.epochs=1", "--set", "eval.every=0",
            "--set", "model.layers=1")
        run(BIN, "export", "--checkpoint", f"{d}/{kind}/checkpoints", "--out", f"{d}/{kind}.h5")
    got = json.loads(run(BIN, "recommend", "--model", f"{d}/mf.h5", "--history", ",".join(hist),
                         "--k", "15", "--json").stdout)["recommendations"][0]
    assert len(got["items"]) == 15 and not {x["item"] for x in got["items"]} & set(hist), got
    assert np.isfinite(got["vector"]).all() and np.abs(got["vector"]).sum() > 0
    p = run(BIN, "recommend", "--model", f"{d}/ngcf.h5", "--history", hist[0], expect=2)
    assert "no fold-in data" in p.stderr and "ngcf" in p.stderr, p.stderr
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    subprocess.run([MPIRUN, "-np", "2", "--oversubscribe", BIN, "export", "--checkpoint",
                    f"{d}/run-dot/checkpoints", "--out", f"{d}/sharded.h5"], check=True,
                   capture_output=True, env=env)
    p = run(BIN, "recommend", "--model", f"{d}/sharded.h5", "--history", hist[0], expect=2)
    assert "no fold-in data" in p.stderr, p.stderr

    # 5. Friends (recommend --friends): a LightGCN trained with social edges;
    # a user of the model refolded with their own items and friends gets
    # their exported vector back, without the friends not.
    with h5py.File(ds, "r") as f:
        community = f["planted"]["user_community"][:]
    rng = np.random.default_rng(5)
    pairs = set()
    for u in range(len(uid)):
        peers = np.flatnonzero(community == community[u])
        for v in rng.choice(peers, size=3, replace=False):
            if v != u:
                pairs.add((min(u, v), max(u, v)))
    friends_of = {}
    with open(f"{d}/friends.tsv", "w") as f:
        for a, b in sorted(pairs):  # each pair both ways, as LastFM's trust network: weight 2
            f.write(f"{uid[a]}\t{uid[b]}\n{uid[b]}\t{uid[a]}\n")
            friends_of.setdefault(a, []).append(uid[b])
            friends_of.setdefault(b, []).append(uid[a])
    run(BIN, "train", "--set", f"data.dataset={ds}", "--set", f"output.dir={d}/run-social",
        "--set", "model.layers=2", "--set", "train.epochs=2", "--set", "train.lr=0.01",
        "--set", "eval.every=0", "--set", "train.threads=2", "--set",
        f"data.social={d}/friends.tsv", "--set", f"data.parts={d}/parts-social")
    social = f"{d}/social.h5"
    run(BIN, "export", "--checkpoint", f"{d}/run-social/checkpoints", "--out", social)
    with h5py.File(social, "r") as f:
        mu = strs(f["users"]["original_id"][:])
        mv = f["users"]["vector"][:]
        assert f["fold_in"].attrs["social_weight"] == 0.35
        assert f["fold_in"].attrs["social_edge_weight"] == 2.0
        assert f["fold_in"]["user_layers"].shape == (2 * len(mu) * mv.shape[1],)
    worst, without = 0.0, 1.0
    for u in sample[:6]:
        items = [iid[i] for i, w in zip(ti[tu == u], tw[tu == u]) for _ in range(int(w))]
        ref = mv[mu.index(uid[u])]
        args = [BIN, "recommend", "--model", social, "--user", uid[u], "--history",
                ",".join(items), "--k", "5", "--json"]
        got = json.loads(run(*args, "--friends", ",".join(friends_of[u])).stdout)
        worst = max(worst, float(np.abs(np.array(got["recommendations"][0]["vector"]) - ref).max()))
        alone = json.loads(run(*args).stdout)
        without = min(without, float(np.abs(
            np.array(alone["recommendations"][0]["vector"]) - ref).max()))
    assert worst <= 1e-5 and without > 1e-3, (worst, without)
    print(f"friends: 6 users refolded with their friends, worst difference {worst:.2e} "
          f"(without them at least {without:.2e})")
    p = run(BIN, "recommend", "--model", social, "--history", hist[0], "--friends", "nobody",
            expect=2)
    assert "user 'nobody' is not in the model" in p.stderr, p.stderr
    p = run(BIN, "recommend", "--model", model, "--history", hist[0], "--friends", uid[1],
            expect=2)
    assert "kept no social fold-in data" in p.stderr, p.stderr
    p = run(BIN, "recommend", "--model", social, "--user", uid[1], "--friends", uid[2], expect=2)
    assert "--friends" in p.stderr and "--history" in p.stderr, p.stderr

    # 4. The bench script.
    for kind in ("lightgcn", "mf"):
        env = {**os.environ, "BUILD_DIR": os.path.dirname(os.path.dirname(BIN)),
               "WORK": f"{d}/b-{kind}"}
        p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "fold_in.py"),
                            "--users", "1500", "--items", "800", "--interactions", "30000",
                            "--epochs", "3", "--set", f"model.type={kind}", "--set",
                            "model.layers=2", "--set", "train.lr=0.01", "--set",
                            "train.threads=2"], capture_output=True, text=True, env=env,
                           timeout=600)
        assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:])
        print(kind, p.stdout)
        rows = [[c.strip() for c in line.split("|")[1:-1]] for line in p.stdout.splitlines()
                if line.startswith("| ") and "---" not in line][1:]
        assert len(rows) == 2 and rows[0][3] == "1.000", rows
        assert float(rows[1][3]) > 0.8, (kind, rows)
print("ok")
