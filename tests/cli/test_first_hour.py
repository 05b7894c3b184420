"""A new user's first hour (issue 40): the traps a user met on LastFM-shaped
files, each now a clear error, a warning or the expected default.

1. `prepare --format lightgcn` on 'user item count' records refuses with the
   right command; --skip-bad-lines refuses past --max-skipped, nothing written.
2. --weight-col keeps the count as the interaction weight (raw, log1p),
   values <= 0 dropped and counted.
3. recommend leaves out seen items by default (the dataset export recorded),
   --include-seen keeps them, a moved dataset warns.
4. recommend --users-file with unknown users answers the rest (--strict: exit 2).
5. train's progress and epoch lines: no \\r on stdout, epochs "k/E" with an ETA.
6. export from another folder finds the checkpoint's relative data.dataset;
   a missing one names --dataset.
8. halorec config, info --model, train --help naming it, key synonyms, --log-level after the
   subcommand, required options without a default in --help.
10. completion (bash) and a man page from the CLI; docs/python.md's example runs."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from clitest import BIN, run  # noqa: E402,F401

BIN = os.path.abspath(BIN)  # commands below run in other folders

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
D = tempfile.mkdtemp(prefix="halorec-first-hour-")


def ok(*args, cwd=None):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=600,
                       cwd=cwd)
    assert p.returncode == 0, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def fails(*args, rc=2, cwd=None):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=600,
                       cwd=cwd)
    assert p.returncode == rc, (args, p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


# A LastFM-shaped log: 'user item count', tab-separated, users repeating
# across lines, one count in scientific notation (as data1.txt has).
rng = np.random.default_rng(7)
rows = []
for u in range(120):
    for i in rng.choice(300, size=12, replace=False):
        rows.append((u, int(i), int(rng.integers(1, 5000))))
records = f"{D}/plays.txt"
with open(records, "w") as f:
    for k, (u, i, c) in enumerate(rows):
        f.write(f"{u}\t{i}\t{'3.2466e+05' if k == 500 else c}\n")

# 1. The LightGCN reader refuses the records, naming the format that reads them.
p = fails("prepare", "--format", "lightgcn", "--train", records, "--out", f"{D}/bad.h5")
assert "plays.txt:501:" in p.stderr and "--weight-col 2" in p.stderr, p.stderr
p = fails("prepare", "--format", "lightgcn", "--train", records, "--out", f"{D}/bad.h5",
          "--skip-bad-lines")
assert "exactly 3 fields" in p.stderr and "users repeat" in p.stderr, p.stderr
assert "--format tsv" in p.stderr and not os.path.exists(f"{D}/bad.h5")
# Integer counts alone (nothing malformed) are refused the same way.
ints = f"{D}/plays_int.txt"
with open(ints, "w") as f:
    for u, i, c in rows:
        f.write(f"{u} {i} {c}\n")
p = fails("prepare", "--format", "lightgcn", "--train", ints, "--out", f"{D}/bad.h5")
assert "user item value" in p.stderr, p.stderr
# A real LightGCN file with three fields on some lines only is read.
lg = f"{D}/lg.txt"
with open(lg, "w") as f:
    f.write("0 1 2\n1 2 3 4\n2 0 5\n3 1 2\n")
ok("prepare", "--format", "lightgcn", "--train", lg, "--out", f"{D}/lg.h5", "--split", "none")

# --skip-bad-lines: a few bad lines are skipped and counted, a wrong format
# (most lines bad) is refused with the count and nothing is written.
mixed = f"{D}/mixed.csv"
with open(mixed, "w") as f:
    for k, (u, i, c) in enumerate(rows):
        f.write(f"{u},{i}\n" if k % 200 else f"{u};{i}\n")
j = json.loads(ok("prepare", "--format", "csv", "--input", mixed, "--out", f"{D}/mixed.h5",
                  "--skip-bad-lines", "--json").stdout)
bad = len(range(0, len(rows), 200))
assert j["dropped"]["malformed"] == bad, j["dropped"]
semi = f"{D}/semi.txt"
with open(semi, "w") as f:
    for u, i, c in rows:
        f.write(f"{u};{i}\n")
p = fails("prepare", "--format", "csv", "--input", semi, "--out", f"{D}/semi.h5",
          "--skip-bad-lines")
assert f"{len(rows)} of its {len(rows)} records" in p.stderr and "--max-skipped" in p.stderr, \
    p.stderr
assert not os.path.exists(f"{D}/semi.h5")
fails("prepare", "--format", "csv", "--input", mixed, "--out", f"{D}/m2.h5", "--skip-bad-lines",
      "--max-skipped", "1.5")

# 2. --weight-col: the count is the weight; log1p; zero counts dropped.
with open(f"{D}/plays0.tsv", "w") as f:
    for k, (u, i, c) in enumerate(rows):
        f.write(f"{u}\t{i}\t{0 if k == 7 else c}\n")
for transform, fn in (("raw", float), ("log1p", math.log1p)):
    out = f"{D}/w_{transform}.h5"
    j = json.loads(ok("prepare", "--format", "tsv", "--input", f"{D}/plays0.tsv", "--out", out,
                      "--split", "none", "--weight-col", 2, "--weight-transform", transform,
                      "--json").stdout)
    assert j["dropped"]["nonpositive_weight"] == 1 and j["train"] == len(rows) - 1, j
    with h5py.File(out) as f:
        users = [x.decode() for x in f["users/original_id"][:]]
        items = [x.decode() for x in f["items/original_id"][:]]
        got = {(users[u], items[i]): w for u, i, w in
               zip(f["train/user"][:], f["train/item"][:], f["train/weight"][:])}
    want = {(str(u), str(i)): fn(c) for k, (u, i, c) in enumerate(rows) if k != 7}
    assert got.keys() == want.keys()
    worst = max(abs(got[k] - want[k]) / want[k] for k in want)
    assert worst < 1e-6, (transform, worst)  # float32 storage: 6e-8 relative
fails("prepare", "--format", "lightgcn", "--train", lg, "--out", f"{D}/x.h5", "--weight-col", 2)
fails("prepare", "--format", "tsv", "--input", records, "--out", f"{D}/x.h5",
      "--weight-transform", "log1p")
print("prepare: triples refused, --max-skipped, --weight-col raw/log1p checked")

# A model: MF on the weighted records, trained from its own folder with a
# relative data.dataset.
work = f"{D}/work"
os.makedirs(work)
ok("prepare", "--format", "tsv", "--input", records.replace("plays.txt", "plays0.tsv"),
   "--out", f"{work}/plays.h5", "--weight-col", 2, "--weight-transform", "log1p",
   "--split", "random:0.2", cwd=work)
p = subprocess.run([BIN, "train", "--config", f"{REPO}/configs/quickstart.yaml", "--set",
                    "data.dataset=plays.h5", "--set", "data.parts=parts", "--set",
                    "output.dir=run", "--set", "model.type=mf", "--set", "model.layers=0",
                    "--set", "train.epochs=3", "--set", "eval.every=1", "--set",
                    "train.threads=1"], capture_output=True, text=True, timeout=600, cwd=work)
assert p.returncode == 0, p.stderr[-3000:]
# 5. stdout holds no progress line, epochs show their total and the ETA.
assert "\r" not in p.stdout, repr(p.stdout[:300])
lines = [x for x in p.stdout.splitlines() if x.startswith("epoch")]
assert [x.split()[1] for x in lines] == ["1/3", "2/3", "3/3"], lines
assert "ETA" in lines[0] and "ETA" not in lines[-1], lines

# 6. export from another folder: the relative data.dataset is found where
# train ran; gone, the error names --dataset.
model = f"{D}/model.h5"
p = ok("export", "--checkpoint", f"{work}/run/checkpoints", "--out", model, cwd=D)
assert "where train ran" in p.stderr, p.stderr
with h5py.File(model) as f:
    assert f.attrs["dataset"] == os.path.realpath(f"{work}/plays.h5"), f.attrs["dataset"]
    n_users, dim = f["users/vector"].shape
# info reads a model.h5 too.
j = json.loads(ok("info", "--model", model, "--json").stdout)
assert (j["model_type"], j["dim"], j["users"], j["dataset"]) == \
    ("mf", dim, n_users, os.path.realpath(f"{work}/plays.h5")), j
assert "recall@20" in j["metrics"], j
assert "mf  score" in ok("info", "--model", model).stdout
fails("info")

# 10. docs/python.md's example runs as written (its paths replaced).
with open(f"{REPO}/docs/python.md") as f:
    doc = f.read()
code = doc.split("```python\n", 1)[1].split("```", 1)[0]
for name, value in (("HALOREC", BIN), ("MODEL", model), ("RUN", f"{work}/run")):
    line = next(x for x in code.splitlines() if x.startswith(f"{name} = "))
    code = code.replace(line, f"{name} = {value!r}")
p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
assert p.returncode == 0, p.stderr
assert "'model_type': 'mf'" in p.stdout, p.stdout
assert sum(1 for x in p.stdout.splitlines() if x.split()[0] in ("1", "2", "3", "final")) == 4, \
    p.stdout  # three evaluated epochs and the final record

# 3. recommend leaves out seen items by default; --include-seen keeps them.
with h5py.File(f"{work}/plays.h5") as f:
    users = [x.decode() for x in f["users/original_id"][:]]
    items = [x.decode() for x in f["items/original_id"][:]]
    seen = {}
    for u, i in zip(f["train/user"][:], f["train/item"][:]):
        seen.setdefault(users[u], set()).add(items[i])
with h5py.File(model) as f:
    uvec = dict(zip((x.decode() for x in f["users/original_id"][:]), f["users/vector"][:]))
    ivec = f["items/vector"][:]
    iids = [x.decode() for x in f["items/original_id"][:]]
k = 10
total_seen_in_lists = 0
for user in ("0", "5", "17"):
    scores = ivec @ uvec[user]
    order = [iids[r] for r in np.argsort(-scores, kind="stable")]
    default = json.loads(ok("recommend", "--model", model, "--user", user, "--k", k,
                            "--json").stdout)
    got = [x["item"] for x in default["recommendations"][0]["items"]]
    assert default["seen_excluded"] and not set(got) & seen[user], (user, got)
    assert got == [i for i in order if i not in seen[user]][:k], user
    keep = json.loads(ok("recommend", "--model", model, "--user", user, "--k", k,
                         "--include-seen", "--json").stdout)
    kept = [x["item"] for x in keep["recommendations"][0]["items"]]
    assert not keep["seen_excluded"] and kept == order[:k], user
    total_seen_in_lists += len(set(kept) & seen[user])
assert total_seen_in_lists > 0  # MF ranks its own train items high: the trap is real
fails("recommend", "--model", model, "--user", "0", "--include-seen", "--dataset",
      f"{work}/plays.h5")
# The dataset moved away: a warning says seen items may come back.
shutil.move(f"{work}/plays.h5", f"{D}/plays_moved.h5")
p = ok("recommend", "--model", model, "--user", "0", "--json")
assert "seen (train) items may be recommended" in p.stderr and "--dataset" in p.stderr, p.stderr
assert not json.loads(p.stdout)["seen_excluded"]
p = ok("recommend", "--model", model, "--user", "0", "--dataset", f"{D}/plays_moved.h5",
       "--json")
assert json.loads(p.stdout)["seen_excluded"] and "may be recommended" not in p.stderr
# ... and export no longer finds it: the error names --dataset.
p = fails("export", "--checkpoint", f"{work}/run/checkpoints", "--out", f"{D}/m2.h5", cwd=D)
assert "--dataset" in p.stderr and "plays.h5" in p.stderr, p.stderr
assert not os.path.exists(f"{D}/m2.h5")
shutil.move(f"{D}/plays_moved.h5", f"{work}/plays.h5")

# 4. --users-file with unknown users: reported, skipped, the rest answered.
ufile = f"{D}/users.txt"
with open(ufile, "w") as f:
    f.write("0\nnobody\n5\nghost\n")
p = ok("recommend", "--model", model, "--users-file", ufile, "--k", 3, "--json")
j = json.loads(p.stdout)
assert [r["user"] for r in j["recommendations"]] == ["0", "5"], j
assert j["unknown_users"] == ["nobody", "ghost"], j
assert "2 of its 4 users are not in the model" in p.stderr, p.stderr
p = ok("recommend", "--model", model, "--users-file", ufile, "--k", 3)
assert {x.split("\t")[0] for x in p.stdout.splitlines()[1:]} == {"0", "5"}, p.stdout
p = fails("recommend", "--model", model, "--users-file", ufile, "--strict")
assert p.stdout == "" and "--strict" in p.stderr, p.stderr
with open(ufile, "w") as f:
    f.write("nobody\nghost\n")
p = fails("recommend", "--model", model, "--users-file", ufile)
assert "2 of its 2 users" in p.stderr
fails("recommend", "--model", model, "--user", "nobody")
print("recommend: seen left out by default, --include-seen, unknown users skipped")

# 8. Discoverability.
p = ok("config", "train.lr")
assert p.stdout.startswith("train.lr  (") and "default 0.001" in p.stdout, p.stdout
keys = json.loads(ok("config", "--json").stdout)
assert {"train.lr", "model.dim", "data.dataset"} <= {x["key"] for x in keys}
assert all(x["meaning"] for x in keys)
with open(f"{REPO}/docs/config.md") as f:
    assert ok("config", "--markdown").stdout.strip() in f.read()
fails("config", "nope.")
p = ok("train", "--help")
assert "halorec config" in p.stdout and "train.lr" in p.stdout, p.stdout
p = fails("train", "--set", "data.dataset=x", "--set", "train.learning_rate=0.1")
assert "did you mean 'train.lr'" in p.stderr, p.stderr
p = ok("info", "--dataset", f"{work}/plays.h5", "--log-level", "warn")
p = ok("partition", "--help")
assert "REQUIRED" in p.stdout and "=1 REQUIRED" not in p.stdout, p.stdout
# Shell completion and a man page from the CLI's own definitions.
comp = ok("completion", "bash").stdout
assert "    train) opts=" in comp and "--weight-col" in comp and "--include-seen" in comp
p = subprocess.run(["bash", "-c", f"source <({BIN} completion bash) && complete -p halorec && "
                    "COMP_WORDS=(halorec recommend --incl) COMP_CWORD=2 && _halorec && "
                    "echo \"${COMPREPLY[@]}\""], capture_output=True, text=True, timeout=60)
assert p.returncode == 0 and "--include-seen" in p.stdout, (p.stdout, p.stderr)
man = ok("completion", "man").stdout
assert man.startswith(".TH HALOREC 1") and ".SS train" in man and "\\-\\-config" in man, man[:500]
print("config, help, synonyms, --log-level after the subcommand, completion, man checked")
shutil.rmtree(D)
print("first hour: ok")
