"""Export by several ranks (mpirun -np P halorec export): each rank writes its
own rows to a part file and model.h5 joins them with HDF5 virtual datasets.
The vectors equal a one-process export of the same checkpoint, by original id,
at P = 2 (the run's partition) and P = 3 (a partition made on the fly);
evaluate, recommend, interests and h5py read it like any model.h5; fp16 and
pseudonymized exports work; re-exporting replaces the parts and leaves other
files alone; a missing part, --interests and --parts without mpirun are clear
errors; the model and its parts folder move together."""
import json
import os
import shutil
import tempfile

import h5py

from servetest import BIN, MPIRUN, REPO, model_rows, run, worst_row_difference

D = tempfile.mkdtemp(prefix="halorec-sharded-export-")


def hr(*args, expect=0):
    return run(BIN, *args, expect=expect)


def mpi(P, *args, expect=0):
    return run(MPIRUN, "-np", P, "--oversubscribe", BIN, *args, expect=expect)


ds = f"{D}/d.h5"
hr("synth", "--users", 900, "--items", 700, "--interactions", 30000, "--communities", 6,
   "--seed", 4, "--out", ds)
mpi(2, "train", "--config", f"{REPO}/configs/quickstart.yaml", "--set", f"data.dataset={ds}",
    "--set", f"data.parts={D}/parts", "--set", f"output.dir={D}/run", "--set", "train.epochs=3",
    "--set", "eval.every=0", "--set", "train.threads=1")
ckpt = f"{D}/run/checkpoints"

# 1. One process and P = 2, 3 ranks: the same vectors for the same ids.
hr("export", "--checkpoint", ckpt, "--out", f"{D}/one.h5")
one = model_rows(f"{D}/one.h5")
r2 = json.loads(mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/two.h5", "--json").stdout)
assert r2["parts"] == 2 and r2["users"] == 900, r2
p3 = mpi(3, "export", "--checkpoint", ckpt, "--out", f"{D}/three.h5", "--parts", f"{D}/parts3")
assert os.path.exists(f"{D}/parts3/meta.h5"), p3.stderr
for name in ("two", "three"):
    worst = worst_row_difference(one, model_rows(f"{D}/{name}.h5"))
    print(f"{name}: largest difference from the one-process export {worst:.2e}")
    assert worst <= 1e-5, (name, worst)
with h5py.File(f"{D}/two.h5") as f:
    assert f.attrs["parts"] == 2 and f["users/vector"].is_virtual, dict(f.attrs)
    assert f["users/vector"].shape == (900, 64), f["users/vector"].shape
parts = sorted(os.listdir(f"{D}/two.h5.parts"))
assert [p.endswith(("-rank-00000-of-00002.h5", "-rank-00001-of-00002.h5")) for p in parts
        if p.endswith(".h5")] == [True, True], parts

# 2. Served and evaluated like the one-process export.
e1 = json.loads(hr("evaluate", "--model", f"{D}/one.h5", "--dataset", ds, "--json").stdout)
e2 = json.loads(hr("evaluate", "--model", f"{D}/two.h5", "--dataset", ds, "--json").stdout)
for k in ("recall@20", "ndcg@20"):
    assert abs(e1[k] - e2[k]) <= 1e-9, (k, e1, e2)
users = [u for (kind, u) in one if kind == "users"][:5]
for u in users:
    a = json.loads(hr("recommend", "--model", f"{D}/one.h5", "--user", u, "--k", 10,
                      "--exclude-seen", ds, "--json").stdout)
    b = json.loads(hr("recommend", "--model", f"{D}/two.h5", "--user", u, "--k", 10,
                      "--exclude-seen", ds, "--json").stdout)
    assert a["recommendations"][0]["items"] == b["recommendations"][0]["items"], u
# Interests recomputed from the dataset: the same as from the one-process export.
a = hr("interests", "--model", f"{D}/one.h5", "--dataset", ds, "--user", users[0], "--json")
b = hr("interests", "--model", f"{D}/two.h5", "--dataset", ds, "--user", users[0], "--json")
assert json.loads(a.stdout) == json.loads(b.stdout)

# 3. fp16 and pseudonymized exports.
mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/half.h5", "--dtype", "fp16")
hr("export", "--checkpoint", ckpt, "--out", f"{D}/half1.h5", "--dtype", "fp16")
with h5py.File(f"{D}/half.h5") as f:
    assert f["items/vector"].dtype == "float16"
worst = worst_row_difference(model_rows(f"{D}/half1.h5"), model_rows(f"{D}/half.h5"))
assert worst == 0, worst
key = f"{D}/key"
with open(key, "wb") as f:
    f.write(os.urandom(32))
os.chmod(key, 0o600)
mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/private.h5", "--pseudonymize", key)
with h5py.File(f"{D}/private.h5") as f:
    assert f.attrs["user_ids"] == "hmac-sha256"
    stored = {x.decode() for x in f["users/original_id"][:]}
assert not stored & set(users) and len(stored) == 900
a = json.loads(hr("recommend", "--model", f"{D}/one.h5", "--user", users[0], "--k", 10,
                  "--exclude-seen", ds, "--json").stdout)
b = json.loads(hr("recommend", "--model", f"{D}/private.h5", "--user", users[0], "--k", 10,
                  "--exclude-seen", ds, "--key", key, "--json").stdout)
assert a["recommendations"][0]["items"] == b["recommendations"][0]["items"]

# 4. Re-export: new parts replace the old ones; a file of the user's stays.
with open(f"{D}/two.h5.parts/notes.txt", "w") as f:
    f.write("mine\n")
mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/two.h5")
now = sorted(p for p in os.listdir(f"{D}/two.h5.parts") if p.endswith(".h5"))
assert len(now) == 2 and now != [p for p in parts if p.endswith(".h5")], (parts, now)
assert open(f"{D}/two.h5.parts/notes.txt").read() == "mine\n"
assert worst_row_difference(one, model_rows(f"{D}/two.h5")) <= 1e-5

# 5. The model moves with its parts folder; without it, a clear error.
os.makedirs(f"{D}/moved")
shutil.move(f"{D}/two.h5", f"{D}/moved/two.h5")
shutil.move(f"{D}/two.h5.parts", f"{D}/moved/two.h5.parts")
e3 = json.loads(hr("evaluate", "--model", f"{D}/moved/two.h5", "--dataset", ds, "--json").stdout)
assert e3["recall@20"] == e2["recall@20"], (e2, e3)
shutil.copy(f"{D}/moved/two.h5", f"{D}/alone.h5")
p = hr("recommend", "--model", f"{D}/alone.h5", "--user", users[0], expect=None)
assert p.returncode != 0 and "missing" in p.stderr and "alone.h5.parts" not in p.stderr, p.stderr
assert "two.h5.parts" in p.stderr, p.stderr

# 6. Clear errors, nothing written.
p = mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/x.h5", "--interests", expect=None)
assert p.returncode != 0 and "--interests" in p.stderr, p.stderr
assert not os.path.exists(f"{D}/x.h5")
p = hr("export", "--checkpoint", ckpt, "--out", f"{D}/y.h5", "--parts", f"{D}/parts", expect=2)
assert "mpirun" in p.stderr, p.stderr
os.makedirs(f"{D}/z.h5.parts")
with open(f"{D}/z.h5.parts/data.csv", "w") as f:
    f.write("a user's file\n")
p = mpi(2, "export", "--checkpoint", ckpt, "--out", f"{D}/z.h5", expect=None)
assert p.returncode != 0 and "z.h5.parts" in p.stderr, p.stderr
assert os.listdir(f"{D}/z.h5.parts") == ["data.csv"] and not os.path.exists(f"{D}/z.h5")
print("ok")
