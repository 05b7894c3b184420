"""halorec baseline: each method against a brute-force reference computed
here with numpy on a small matrix (ranked with torch.topk, the ranking
LibTorch does), the same numbers at P=1, P=2 and P=4 (user ranges and a
partition), and bad arguments exit 2."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
D = tempfile.mkdtemp(prefix="halorec-baseline-")
atexit.register(shutil.rmtree, D, ignore_errors=True)
failures = []


def run(args, expect=0):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                       env=ENV)
    if p.returncode != expect:
        sys.exit(f"rc {p.returncode} != {expect}: {' '.join(map(str, args))}\n"
                 f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def baseline(method, *extra, np_=1):
    cmd = [BIN, "--log-level", "warn", "baseline", "--method", method, "--dataset",
           f"{D}/d.h5", "--threads", 1, "--k", 5, "--k", 20, "--json", *extra]
    if np_ > 1:
        cmd = [MPIRUN, "-np", np_] + cmd
    return json.loads(run(cmd).stdout)


run([BIN, "synth", "--users", 300, "--items", 160, "--communities", 5, "--interactions", 7000,
     "--seed", 11, "--out", f"{D}/all.tsv"])
run([BIN, "prepare", "--format", "tsv", "--header", "--input", f"{D}/all.tsv", "--seed", 3,
     "--out", f"{D}/d.h5"])
with h5py.File(f"{D}/d.h5", "r") as f:
    U, I = int(f.attrs["num_users"]), int(f.attrs["num_items"])
    R = np.zeros((U, I))
    R[f["train/user"][:], f["train/item"][:]] = 1
    T = np.zeros((U, I), dtype=bool)
    T[f["test/user"][:], f["test/item"][:]] = True


def metrics(scores, ks=(5, 20)):
    """Training's evaluator: rank all items, train items excluded."""
    s = torch.tensor(scores, dtype=torch.float32)
    s[torch.tensor(R > 0)] = float("-inf")
    users = [u for u in range(U) if T[u].any()]
    top = torch.topk(s[users], max(ks), dim=1).indices.numpy()
    out = {}
    for k in ks:
        rec = ndcg = prec = hit = 0.0
        covered = set()
        for row, u in zip(top, users):
            rel = T[u]
            hits = rel[row[:k]]
            n = rel.sum()
            rec += hits.sum() / n
            dcg = (hits / np.log2(np.arange(2, k + 2))).sum()
            idcg = (1 / np.log2(np.arange(2, min(n, k) + 2))).sum()
            ndcg += dcg / idcg
            prec += hits.sum() / k
            hit += hits.any()
            covered.update(row[:k].tolist())
        n_u = len(users)
        out.update({f"recall@{k}": rec / n_u, f"ndcg@{k}": ndcg / n_u,
                    f"precision@{k}": prec / n_u, f"hitrate@{k}": hit / n_u,
                    f"coverage@{k}": len(covered) / I})
    return out


def compare(name, got, want, tol):
    bad = {k: (got[k], v) for k, v in want.items() if abs(got[k] - v) > tol}
    print(f"{name}: recall@20 {got['recall@20']:.5f} (reference {want['recall@20']:.5f})"
          + (f"  MISMATCH {bad}" if bad else ""))
    if bad:
        failures.append(name)


n_i = R.sum(0)
n_u = R.sum(1)

# popularity: train counts.
compare("popularity", baseline("popularity"), metrics(np.tile(n_i, (U, 1))), 1e-9)

# itemknn: cosine of co-occurrence, each item keeps its K most similar items.
K, shrink = 25, 2.0
C = R.T @ R
S = C / (np.sqrt(np.outer(n_i, n_i)) + shrink)
np.fill_diagonal(S, 0)
keep = np.zeros_like(S)
for j in range(I):
    col = S[:, j]
    order = sorted([i for i in range(I) if col[i] > 0], key=lambda i: (-col[i], i))[:K]
    keep[order, j] = col[order]
compare("itemknn", baseline("itemknn", "--neighbors", K, "--shrink", shrink),
        metrics(R @ keep), 2e-3)

# ease: B = I - P diag(1/diag P), P = (R^T R + lambda I)^-1, diag B = 0.
lam = 30.0
P = np.linalg.inv(C + lam * np.eye(I))
B = -P / np.diag(P)[None, :]
np.fill_diagonal(B, 0)
compare("ease", baseline("ease", "--lambda", lam), metrics(R @ B), 2e-3)

# gfcf: r R~^T R~ + alpha r D^-1/2 V V^T D^1/2 (V: top right singular vectors
# of R~ = D_u^-1/2 R D_i^-1/2). With rank + oversample = items the subspace
# iteration is exact.
Rn = R / np.sqrt(np.maximum(n_u, 1))[:, None]
d = np.where(n_i > 0, 1 / np.sqrt(np.maximum(n_i, 1e-300)), 0)
Rn = Rn * d[None, :]
_, sv, vt = np.linalg.svd(Rn, full_matrices=False)
rank, alpha = 12, 0.3
V = vt[:rank].T
ref = R @ Rn.T @ Rn + alpha * ((R * d[None, :]) @ V @ V.T) * np.sqrt(n_i)[None, :]
want = metrics(ref)
got = baseline("gfcf", "--rank", rank, "--oversample", I - rank, "--power-iters", 2,
               "--alpha", alpha)
compare("gfcf (exact subspace)", got, want, 2e-3)
if abs(got["sigma_rank"] - sv[rank - 1]) > 1e-6 or abs(got["sigma_max"] - sv[0]) > 1e-6:
    failures.append("gfcf singular values")
    print(f"gfcf singular values {got['sigma_max']} {got['sigma_rank']} vs {sv[0]} {sv[rank - 1]}")
# The default iteration (a subspace of rank + 64, 24 products) on the same data.
got = baseline("gfcf", "--rank", rank, "--alpha", alpha)
compare("gfcf (subspace iteration)", got, want, 5e-3)

# --out: popularity's model.h5 gives the same numbers through evaluate; gfcf's
# holds its low-pass term (alpha r D^-1/2 V V^T D^1/2), exported from 2 ranks.
def evaluate(model):
    return json.loads(run([BIN, "--log-level", "warn", "evaluate", "--model", model, "--dataset",
                           f"{D}/d.h5", "--k", 5, "--k", 20, "--json"]).stdout)


pop = baseline("popularity", "--out", f"{D}/pop.h5")
served = evaluate(f"{D}/pop.h5")
compare("popularity model.h5 (evaluate)", served,
        {k: v for k, v in pop.items() if "@" in k and not k.startswith("coverage")}, 1e-9)
baseline("gfcf", "--rank", rank, "--oversample", I - rank, "--alpha", alpha, "--out",
         f"{D}/gfcf.h5", np_=2)
low = alpha * ((R * d[None, :]) @ V @ V.T) * np.sqrt(n_i)[None, :]
served = evaluate(f"{D}/gfcf.h5")
compare("gfcf low-pass model.h5 (evaluate)",
        {**served, **{k: 0 for k in ("coverage@5", "coverage@20")}},
        {k: v for k, v in metrics(low).items() if not k.startswith("coverage")}, 2e-3)
with h5py.File(f"{D}/gfcf.h5", "r") as f:
    if f.attrs["model_type"] != "gfcf-lowpass":
        failures.append("gfcf model_type")
run([BIN, "baseline", "--method", "itemknn", "--dataset", f"{D}/d.h5", "--out", f"{D}/x.h5"],
    expect=2)
run([BIN, "baseline", "--method", "popularity", "--dataset", f"{D}/d.h5", "--out", D], expect=2)

# The same numbers on 2 and 4 ranks, by user ranges and by a partition.
run([BIN, "--log-level", "warn", "partition", "--dataset", f"{D}/d.h5", "--parts", 4,
     "--out", f"{D}/p4"])
for method, extra in [("popularity", []), ("itemknn", ["--neighbors", K]),
                      ("ease", ["--lambda", lam]), ("gfcf", ["--rank", rank])]:
    one = baseline(method, *extra)
    for np_, more in [(2, []), (4, []), (4, ["--parts", f"{D}/p4"])]:
        many = baseline(method, *extra, *more, np_=np_)
        diff = {k: (one[k], many[k]) for k in one
                if "@" in k and abs(one[k] - many[k]) > 1e-5}
        if diff or many["ranks"] != np_:
            failures.append(f"{method} P={np_} {more}")
            print(f"{method} P={np_} {more}: differs from P=1: {diff}")
    print(f"{method}: P=1 == P=2 == P=4 (ranges and --parts)")

# Bad arguments: exit 2 with a message naming the option.
for args, words in [(["--method", "svd"], "--method"),
                    (["--method", "gfcf", "--rank", 0], "--rank"),
                    (["--method", "itemknn", "--neighbors", -3], "--neighbors"),
                    (["--method", "popularity", "--k", 0], "--k"),
                    (["--method", "ease", "--max-memory", 0.00001], "GiB"),
                    (["--method", "ease", "--lambda", -1], "--lambda")]:
    p = run([BIN, "baseline", "--dataset", f"{D}/d.h5", *args], expect=2)
    if words not in p.stderr:
        failures.append(f"message for {args}")
        print(f"{args}: stderr does not name {words}: {p.stderr}")
p = run([BIN, "baseline", "--method", "gfcf", "--dataset", f"{D}/missing.h5"], expect=2)
run([MPIRUN, "-np", 2, BIN, "baseline", "--method", "gfcf", "--dataset", f"{D}/d.h5",
     "--parts", f"{D}/p4"], expect=2)
print("bad arguments: exit 2")

if failures:
    sys.exit(f"FAILED: {failures}")
print("ok")
