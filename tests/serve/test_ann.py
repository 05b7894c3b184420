"""ANN indexes for serving (export --index, recommend --index): a flat index
gives exactly the exact path's lists; hnsw retrieves nearly the same top-20
(and never a seen item, always k items); ivfpq runs; FAISS's own Python
reader opens the file HaloRec wrote and finds the same neighbours; the
index is tied to its model.h5 (a missing, foreign or stale index is a clear
error); the index is written as NAME.TAG.faiss and named by the model.h5
committed after it, so a re-export or re-index replaces the pair together
and removes HaloRec's old index, while a user's own NAME.faiss (or any file
model.h5 does not name) is never touched; --index-params
without --index and unknown keys are usage errors; a sharded export (mpirun)
indexes too, and `halorec index` indexes an existing model.h5."""
import json
import os
import re
import shutil
import tempfile

import h5py
import numpy as np

from servetest import BIN, MPIRUN, REPO, run

D = tempfile.mkdtemp(prefix="halorec-ann-")


def hr(*args, expect=0):
    return run(BIN, *args, expect=expect)


def agreement(a, b):
    """(share of users whose lists are identical, mean share of b's items in a's
    list): an exact scan may order two items whose scores differ in the last
    float bit differently from the blocked product, nothing more."""
    same = sum(a[u] == b[u] for u in b) / len(b)
    return same, float(np.mean([len(set(a[u]) & set(b[u])) / max(1, len(b[u])) for u in b]))


def index_of(model):
    """The index file model.h5 names (NAME.TAG.faiss beside it)."""
    with h5py.File(model) as f:
        name = f.attrs["index_file"]
    name = name if isinstance(name, str) else name.decode()
    stem = os.path.basename(model)[:-3]
    assert re.fullmatch(re.escape(stem) + r"\.[0-9a-f]{8}\.faiss", name), name
    return os.path.join(os.path.dirname(model), name)


def faiss_files(stem):
    return sorted(x for x in os.listdir(D) if x.startswith(stem + ".") and x.endswith(".faiss"))


def recs(model, *extra):
    out = json.loads(hr("recommend", "--model", model, "--users-file", users_file, "--k", 20,
                        "--json", *extra).stdout)
    return {r["user"]: [x["item"] for x in r["items"]] for r in out["recommendations"]}


ds = f"{D}/d.h5"
hr("synth", "--users", 1200, "--items", 2500, "--interactions", 60000, "--communities", 8,
   "--seed", 5, "--out", ds)
hr("train", "--config", f"{REPO}/configs/quickstart.yaml", "--set", f"data.dataset={ds}",
   "--set", f"output.dir={D}/run", "--set", "train.epochs=4", "--set", "eval.every=0",
   "--set", "train.threads=2")
ckpt = f"{D}/run/checkpoints"
with h5py.File(ds) as f:
    users = [x.decode() for x in f["users/original_id"][:]]
    items = [x.decode() for x in f["items/original_id"][:]]
    seen = {}
    for u, i in zip(f["train/user"][:], f["train/item"][:]):
        seen.setdefault(users[u], set()).add(items[i])
users_file = f"{D}/users.txt"
with open(users_file, "w") as f:
    f.write("\n".join(users) + "\n")

# 1. flat: the exact lists (up to the order of float ties), with and without
# seen items.
r = json.loads(hr("export", "--checkpoint", ckpt, "--out", f"{D}/flat.h5", "--index", "flat",
                  "--json").stdout)
assert r["index"] == index_of(f"{D}/flat.h5"), r
assert r["index_bytes"] == os.path.getsize(r["index"]), r
with h5py.File(f"{D}/flat.h5") as f:
    assert f.attrs["index_kind"] == "flat"
    user_vectors = f["users/vector"][:].astype("float32")
    model_items = [x.decode() for x in f["items/original_id"][:]]
exact = recs(f"{D}/flat.h5", "--exclude-seen", ds)
for a, b in ((recs(f"{D}/flat.h5", "--exclude-seen", ds, "--index"), exact),
             (recs(f"{D}/flat.h5", "--index", "--include-seen"),
              recs(f"{D}/flat.h5", "--include-seen")),
             (recs(f"{D}/flat.h5", "--index"), exact)):  # seen left out by default
    same, overlap = agreement(a, b)
    assert same >= 0.98 and overlap >= 0.999, (same, overlap)

# 2. FAISS's own reader: the same index, the same neighbours (labels are
# model.h5's item rows).
import faiss  # noqa: E402  (python3-faiss)
index = faiss.read_index(index_of(f"{D}/flat.h5"))
assert index.ntotal == len(model_items) and index.d == user_vectors.shape[1]
_, labels = index.search(user_vectors, 20)
plain = recs(f"{D}/flat.h5", "--index", "--include-seen")
same, overlap = agreement({users[q]: [model_items[j] for j in labels[q]] for q in range(len(users))},
                          plain)
assert same >= 0.98 and overlap >= 0.999, (same, overlap)

# 3. hnsw: nearly the exact top-20; k items, none seen.
r = json.loads(hr("export", "--checkpoint", ckpt, "--out", f"{D}/hnsw.h5", "--index", "hnsw",
                  "--index-params", "m=16,ef_construction=100", "--json").stdout)
approx = recs(f"{D}/hnsw.h5", "--exclude-seen", ds, "--index", "--index-params", "ef_search=64")
overlap = agreement(approx, exact)[1]
print(f"hnsw: recall of the exact top-20 {overlap:.4f}, index {r['index_bytes']} bytes")
assert overlap >= 0.95, overlap
assert all(len(approx[u]) == 20 and not set(approx[u]) & seen[u] for u in users)
assert faiss.read_index(index_of(f"{D}/hnsw.h5")).ntotal == len(model_items)

# 4. ivfpq (compressed codes): runs, k unseen items per user, better than chance.
r = json.loads(hr("export", "--checkpoint", ckpt, "--out", f"{D}/pq.h5", "--index", "ivfpq",
                  "--index-params", "nlist=32,pq_m=16,nprobe=8", "--dtype", "fp16",
                  "--json").stdout)
approx = recs(f"{D}/pq.h5", "--exclude-seen", ds, "--index")
overlap = agreement(approx, exact)[1]
print(f"ivfpq: recall of the exact top-20 {overlap:.4f}, index {r['index_bytes']} bytes")
assert overlap >= 0.5, overlap
assert all(len(approx[u]) == 20 and not set(approx[u]) & seen[u] for u in users)

# 5. The index belongs to its model.h5.
one = users[3]
p = hr("recommend", "--model", f"{D}/pq.h5", "--user", one, "--index-params", "nprobe=2",
       expect=2)
assert "--index" in p.stderr, p.stderr
hr("export", "--checkpoint", ckpt, "--out", f"{D}/none.h5")
p = hr("recommend", "--model", f"{D}/none.h5", "--user", one, "--index", expect=2)
assert "--index" in p.stderr and "none.h5" in p.stderr, p.stderr
hnsw_index = index_of(f"{D}/hnsw.h5")
shutil.copy(hnsw_index, f"{D}/keep.faiss")
shutil.copy(index_of(f"{D}/flat.h5"), hnsw_index)  # another export's index
p = hr("recommend", "--model", f"{D}/hnsw.h5", "--user", one, "--index", expect=2)
assert os.path.basename(hnsw_index) in p.stderr and "digest" in p.stderr, p.stderr
os.remove(hnsw_index)
p = hr("recommend", "--model", f"{D}/hnsw.h5", "--user", one, "--index", expect=2)
assert os.path.basename(hnsw_index) in p.stderr and "missing" in p.stderr, p.stderr
shutil.copy(f"{D}/keep.faiss", hnsw_index)
hr("recommend", "--model", f"{D}/hnsw.h5", "--user", one, "--index")

# 6. Outputs and usage: a user's file at NAME.faiss is never touched (the
# index gets a name of its own); re-export replaces HaloRec's own index, and
# the old one goes; an index an interrupted export left (named by no
# model.h5) goes with the next export.
with open(f"{D}/mine.faiss", "w") as f:
    f.write("my notes\n")
hr("export", "--checkpoint", ckpt, "--out", f"{D}/mine.h5", "--index", "flat")
assert open(f"{D}/mine.faiss").read() == "my notes\n"
assert faiss_files("mine") == sorted(["mine.faiss", os.path.basename(index_of(f"{D}/mine.h5"))])
old_flat = index_of(f"{D}/flat.h5")
shutil.copy(old_flat, f"{D}/flat.0badc0de.faiss")  # as an interrupted export leaves one
hr("export", "--checkpoint", ckpt, "--out", f"{D}/flat.h5", "--index", "hnsw")
assert faiss_files("flat") == [os.path.basename(index_of(f"{D}/flat.h5"))], faiss_files("flat")
assert recs(f"{D}/flat.h5", "--exclude-seen", ds, "--index").keys() == exact.keys()
p = hr("export", "--checkpoint", ckpt, "--out", f"{D}/x.h5", "--index-params", "m=8", expect=2)
assert "--index" in p.stderr and not os.path.exists(f"{D}/x.h5"), p.stderr
p = hr("export", "--checkpoint", ckpt, "--out", f"{D}/x.h5", "--index", "hnsw",
       "--index-params", "links=8", expect=2)
assert "links" in p.stderr and not os.path.exists(f"{D}/x.h5"), p.stderr

# 7. A sharded export (2 ranks) writes an index too: rank 0 reads model.h5
# and its parts whole; labels are the file's item rows, so flat gives the
# exact lists once the model is aligned to its dataset.
run(MPIRUN, "-np", 2, "--oversubscribe", BIN, "export", "--checkpoint", ckpt, "--out",
    f"{D}/sh.h5", "--index", "flat")
assert os.path.isdir(f"{D}/sh.h5.parts") and os.path.exists(index_of(f"{D}/sh.h5"))
same, overlap = agreement(recs(f"{D}/sh.h5", "--exclude-seen", ds, "--index"), exact)
assert same >= 0.98 and overlap >= 0.999, (same, overlap)

# 8. halorec index: an index for a model.h5 exported without one (and for a
# sharded one), recorded in it; another kind replaces it (the old file goes);
# a user's file at NAME.faiss is left alone; a missing model or a file that
# is not a model is an error naming it.
r = json.loads(hr("index", "--model", f"{D}/none.h5", "--kind", "flat", "--json").stdout)
assert r["index"] == index_of(f"{D}/none.h5") and r["bytes"] == os.path.getsize(r["index"]), r
with h5py.File(f"{D}/none.h5") as f:
    assert f.attrs["index_kind"] == "flat"
    assert f.attrs["index_bytes"] == r["bytes"] and f.attrs["index_sha256"] == r["sha256"]
same, overlap = agreement(recs(f"{D}/none.h5", "--exclude-seen", ds, "--index"), exact)
assert same >= 0.98 and overlap >= 0.999, (same, overlap)
hr("index", "--model", f"{D}/none.h5", "--kind", "hnsw", "--index-params",
   "m=16,ef_construction=100")
approx = recs(f"{D}/none.h5", "--exclude-seen", ds, "--index", "--index-params", "ef_search=64")
assert agreement(approx, exact)[1] >= 0.95
assert faiss_files("none") == [os.path.basename(index_of(f"{D}/none.h5"))], faiss_files("none")
run(MPIRUN, "-np", 2, "--oversubscribe", BIN, "export", "--checkpoint", ckpt, "--out",
    f"{D}/sh2.h5")
hr("index", "--model", f"{D}/sh2.h5", "--kind", "flat")
same, overlap = agreement(recs(f"{D}/sh2.h5", "--exclude-seen", ds, "--index"), exact)
assert same >= 0.98 and overlap >= 0.999, (same, overlap)
hr("export", "--checkpoint", ckpt, "--out", f"{D}/theirs.h5")
with open(f"{D}/theirs.faiss", "w") as f:
    f.write("not an index\n")
hr("index", "--model", f"{D}/theirs.h5", "--kind", "flat")
assert open(f"{D}/theirs.faiss").read() == "not an index\n"
assert os.path.basename(index_of(f"{D}/theirs.h5")) != "theirs.faiss"
p = hr("index", "--model", f"{D}/nope.h5", "--kind", "flat", expect=2)
assert "nope.h5" in p.stderr and "does not exist" in p.stderr, p.stderr
p = hr("index", "--model", ds, "--kind", "flat", expect=2)
assert "not a HaloRec model" in p.stderr and not os.path.exists(f"{D}/d.faiss"), p.stderr
p = hr("index", "--model", f"{D}/none.h5", "--kind", "ivfpq", "--index-params", "links=3",
       expect=2)
assert "links" in p.stderr, p.stderr
print("ann tests: OK")
