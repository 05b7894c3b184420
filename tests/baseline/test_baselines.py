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

# bspm: blurring dx/dt = x (P - I), the ideal low-pass term weighted in, then
# sharpening dx/dt = -x P (P = R~^T R~), here with textbook solvers: Euler and
# the classic four-stage Runge-Kutta.
Pm = Rn.T @ Rn
low_pass = (R * d[None, :]) @ V @ V.T * np.sqrt(n_i)[None, :]


def solve(y, f, t, steps, solver):
    h = t / steps
    for _ in range(steps):
        if solver == "euler":
            y = y + h * f(y)
        else:
            k1 = f(y)
            k2 = f(y + h / 2 * k1)
            k3 = f(y + h / 2 * k2)
            k4 = f(y + h * k3)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def bspm_ref(alpha, t_b, k_b, s_b, t_s, k_s, s_s):
    y = solve(R, lambda x: x @ Pm - x, t_b, k_b, s_b) + alpha * low_pass
    return solve(y, lambda x: -(x @ Pm), t_s, k_s, s_s)


exact = ["--rank", rank, "--oversample", I - rank, "--power-iters", 2]
compare("bspm (Gowalla's published setting)",
        baseline("bspm", *exact, "--alpha", 0.2),
        metrics(bspm_ref(0.2, 1, 1, "euler", 2.5, 1, "rk4")), 2e-3)
compare("bspm (rk4 blurring, 2 + 3 steps)",
        baseline("bspm", *exact, "--alpha", 0.5, "--t-blur", 0.8, "--blur-steps", 2,
                 "--blur-solver", "rk4", "--t-sharpen", 1.2, "--sharpen-steps", 3,
                 "--sharpen-solver", "euler"),
        metrics(bspm_ref(0.5, 0.8, 2, "rk4", 1.2, 3, "euler")), 2e-3)

# chebycf: the published construction, written out here: the plateau's values
# at cos((K - j) pi / K) rounded to 3 decimals, interpolated at the Chebyshev
# nodes; sum_k c_k T_k(L~) x~ + alpha x~ V V^T with L~ = I - 2P, x~ = x D^-beta,
# the sum times D^beta.
def chebycf_ref(order, phi, alpha, beta):
    j = np.arange(order + 1)
    x = np.round(np.cos((order - j) / order * np.pi), 3)
    target = np.round(np.where(x < 0, 0.5 + 0.5 * np.abs(x) ** phi,
                               0.5 - 0.5 * np.abs(x) ** phi), 3)
    nodes = np.cos(((order + 1) + 0.5 - np.arange(1, order + 2)) / (order + 1) * np.pi)
    T = [np.ones_like(nodes), nodes]
    for _ in range(2, order + 1):
        T.append(2 * nodes * T[-1] - T[-2])
    c = np.array([(T[k] * target).sum() for k in range(order + 1)]) * 2 / (order + 1)
    c[0] /= 2
    L = np.eye(I) - 2 * Pm
    xn = R * np.where(n_i > 0, np.maximum(n_i, 1) ** -beta, 0)[None, :]
    bases = [xn, xn @ L]
    for _ in range(2, order + 1):
        bases.append(2 * bases[-1] @ L - bases[-2])
    out = sum(ck * b for ck, b in zip(c, bases)) + alpha * xn @ V @ V.T
    return out * np.where(n_i > 0, n_i ** beta, 0)[None, :]


compare("chebycf (Gowalla's published setting)",
        baseline("chebycf", *exact, "--alpha", 0.2),
        metrics(chebycf_ref(8, 1.5, 0.2, 0.4)), 2e-3)
compare("chebycf (LastFM's published setting)",
        baseline("chebycf", *exact, "--alpha", 0.1, "--flatness", 15, "--beta", 0.2),
        metrics(chebycf_ref(8, 15, 0.1, 0.2)), 2e-3)
compare("chebycf (order 3, no ideal term)",
        baseline("chebycf", "--order", 3, "--flatness", 2, "--alpha", 0, "--beta", 0),
        metrics(chebycf_ref(3, 2, 0.0, 0.0)), 2e-3)

# --out: popularity's model.h5 gives the same numbers through evaluate; gfcf's
# holds its low-pass term (alpha r D^-1/2 V V^T D^1/2), exported from 2 ranks.
def evaluate(model):
    return json.loads(run([BIN, "--log-level", "warn", "evaluate", "--model", model, "--dataset",
                           f"{D}/d.h5", "--k", 5, "--k", 20, "--json"]).stdout)


pop = baseline("popularity", "--out", f"{D}/pop.h5")
served = evaluate(f"{D}/pop.h5")
compare("popularity model.h5 (evaluate)", served,
        {k: v for k, v in pop.items() if "@" in k and not k.startswith("coverage")}, 1e-9)
# A filter's model.h5 is the whole filter (its train matrix, item counts and
# basis): evaluate gives the baseline's numbers, exported from 1 and 2 ranks.
for method, np_, extra in [("gfcf", 2, ["--alpha", alpha]), ("bspm", 1, []),
                           ("chebycf", 2, ["--flatness", 3])]:
    fitted = baseline(method, *exact, *extra, "--out", f"{D}/{method}.h5", np_=np_)
    served = evaluate(f"{D}/{method}.h5")
    compare(f"{method} model.h5 (evaluate, exported by {np_} ranks)", served,
            {k: v for k, v in fitted.items() if "@" in k and not k.startswith("coverage")},
            1e-5)
    with h5py.File(f"{D}/{method}.h5", "r") as f:
        if f.attrs["model_type"] != method or f["filter"].attrs["kind"] != method:
            failures.append(f"{method} model_type")

# recommend from a filter's model: a user's list equals a new user's with the
# same history (a filter needs no training to fold in), and both are the
# filter's best unseen items, by the numpy reference's scores.
with h5py.File(f"{D}/d.h5", "r") as f:
    user_ids = [x.decode() if isinstance(x, bytes) else x for x in f["users/original_id"][:]]
    item_ids = [x.decode() if isinstance(x, bytes) else x for x in f["items/original_id"][:]]
u = int(np.argmax(n_u))
hist = ",".join(item_ids[i] for i in np.nonzero(R[u])[0])
ref = chebycf_ref(8, 3, 0.2, 0.4)[u]
ref[R[u] > 0] = -np.inf
want = [item_ids[i] for i in np.argsort(-ref, kind="stable")[:10]]
for args in (["--user", user_ids[u], "--exclude-seen", f"{D}/d.h5"], ["--history", hist]):
    got = json.loads(run([BIN, "--log-level", "warn", "recommend", "--model", f"{D}/chebycf.h5",
                          "--k", 10, "--json", *args]).stdout)
    rec = got["recommendations"][0]["items"] if "recommendations" in got else got["items"]
    listed = [r["item"] for r in rec]
    if listed[:5] != want[:5]:
        failures.append(f"chebycf recommend {args[0]}")
        print(f"chebycf recommend {args[0]}: {listed} != {want}")
print("chebycf model.h5: recommend --user == --history == the filter's best items")
run([BIN, "recommend", "--model", f"{D}/chebycf.h5", "--user", user_ids[u], "--strategy",
     "multi"], expect=2)
run([BIN, "baseline", "--method", "itemknn", "--dataset", f"{D}/d.h5", "--out", f"{D}/x.h5"],
    expect=2)
run([BIN, "baseline", "--method", "popularity", "--dataset", f"{D}/d.h5", "--out", D], expect=2)

# The same numbers on 2 and 4 ranks, by user ranges and by a partition.
run([BIN, "--log-level", "warn", "partition", "--dataset", f"{D}/d.h5", "--parts", 4,
     "--out", f"{D}/p4"])
for method, extra in [("popularity", []), ("itemknn", ["--neighbors", K]),
                      ("ease", ["--lambda", lam]), ("gfcf", ["--rank", rank]),
                      ("bspm", ["--rank", rank]), ("chebycf", ["--rank", rank])]:
    one = baseline(method, *extra)
    for np_, more in [(2, []), (4, []), (4, ["--parts", f"{D}/p4"])]:
        many = baseline(method, *extra, *more, np_=np_)
        diff = {k: (one[k], many[k]) for k in one
                if "@" in k and abs(one[k] - many[k]) > 1e-5}
        if diff or many["ranks"] != np_:
            failures.append(f"{method} P={np_} {more}")
            print(f"{method} P={np_} {more}: differs from P=1: {diff}")
    print(f"{method}: P=1 == P=2 == P=4 (ranges and --parts)")

# Settings chosen on a validation carve of train: a coordinate sweep from the
# given settings (chebycf: flatness, then alpha, then beta), the best by
# validation recall@5 (the first --k); the test numbers are the choice's,
# and the given settings' are reported beside them. The same on 2 ranks.
def chosen_run(np_):
    return baseline("chebycf", "--rank", rank, "--select-on-validation", 0.2,
                    "--select-users", 0, np_=np_)


sel = chosen_run(1)
trials = sel["selection"]["trials"]
vals = [t["validation"]["recall@5"] for t in trials]
best = trials[vals.index(max(vals))]["settings"]
if sel["selection"]["chosen"] != best or len(trials) != 1 + 5 + 3 + 3:
    failures.append("selection: chosen is not the best trial, or trials were repeated")
    print(f"selection: chosen {sel['selection']['chosen']}, best {best}, {len(trials)} trials")
for k in ("flatness", "alpha", "beta"):
    if sel[k] != best[k]:
        failures.append(f"selection: the test run used {k} {sel[k]}, not {best[k]}")
given = baseline("chebycf", "--rank", rank)
if abs(sel["selection"]["given_test"]["recall@20"] - given["recall@20"]) > 1e-9:
    failures.append("selection: the given settings' test numbers")
sel2 = chosen_run(2)
if sel2["selection"]["chosen"] != sel["selection"]["chosen"] or \
        abs(sel2["recall@20"] - sel["recall@20"]) > 1e-5:
    failures.append("selection differs at P=2")
print(f"selection: chose {best} on validation ({len(trials)} trials); test recall@20 "
      f"{sel['recall@20']:.5f}, given settings {given['recall@20']:.5f}; P=2 the same")

# Bad arguments: exit 2 with a message naming the option.
for args, words in [(["--method", "svd"], "--method"),
                    (["--method", "gfcf", "--rank", 0], "--rank"),
                    (["--method", "itemknn", "--neighbors", -3], "--neighbors"),
                    (["--method", "popularity", "--k", 0], "--k"),
                    (["--method", "ease", "--max-memory", 0.00001], "GiB"),
                    (["--method", "ease", "--lambda", -1], "--lambda"),
                    (["--method", "bspm", "--blur-solver", "rk5"], "--blur-solver"),
                    (["--method", "bspm", "--sharpen-steps", 0], "--sharpen-steps"),
                    (["--method", "chebycf", "--order", 0], "--order"),
                    (["--method", "chebycf", "--alpha", -0.1], "--alpha"),
                    (["--method", "chebycf", "--max-memory", 0.00001], "--max-memory"),
                    (["--method", "bspm", "--alpha", 0, "--out", f"{D}/b.h5"], "--alpha"),
                    (["--method", "itemknn", "--select-on-validation", 0.1],
                     "--select-on-validation"),
                    (["--method", "gfcf", "--select-on-validation", 1.5],
                     "--select-on-validation")]:
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
