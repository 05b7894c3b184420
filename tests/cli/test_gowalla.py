"""`halorec prepare --format lightgcn` on the LightGCN Gowalla split gives the
published counts, and the written dataset reads back in h5py with the same
interactions as the text files. Skipped (exit 77) without ../shared."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from clitest import run_json  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

shared = os.environ.get("HALOREC_SHARED_DIR", "../shared")
data = os.path.join(shared, "data", "gowalla")
if not os.path.exists(os.path.join(data, "train.txt")):
    print(f"SKIP: Gowalla data not found at {data}")
    sys.exit(77)

with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "gowalla.h5")
    r = run_json("prepare", "--format", "lightgcn", "--train", os.path.join(data, "train.txt"),
                 "--test", os.path.join(data, "test.txt"), "--out", out)
    got = (r["users"], r["items"], r["train"], r["test"])
    assert got == (29858, 40981, 810128, 217242), got
    assert r["dropped_total"] == 0, r["dropped"]
    with h5py.File(out, "r") as f:
        users = f["users/original_id"][:].astype(str).astype(np.int64)
        items = f["items/original_id"][:].astype(str).astype(np.int64)
        # Integer ids keep their numeric order, so dense ids equal the originals.
        assert np.array_equal(users, np.arange(29858))
        assert np.array_equal(items, np.arange(40981))
        tu, ti = f["train/user"][:], f["train/item"][:]
        with open(os.path.join(data, "train.txt")) as t:
            first = [int(x) for x in t.readline().split()]
        assert list(ti[tu == first[0]]) == sorted(first[1:])
    print("ok: gowalla counts", got)
