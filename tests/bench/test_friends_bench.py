"""bench/friends.py end to end on tiny data: planted communities, friends
within a user's community (homophily), a LightGCN trained with them; new
users with one history item are folded in alone and with their friends. The
rows hang together, and friends who share the user's interests lift the
recall of a one-item history."""
import os
import subprocess
import tempfile

import h5py
import numpy as np

from tiny_data import run_bench, table_rows

BIN = os.environ["HALOREC_BIN"]


def hr(*args):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (args, p.stderr[-2000:])


with tempfile.TemporaryDirectory() as d:
    hr("synth", "--users", 600, "--items", 300, "--interactions", 12000, "--communities", 4,
       "--in-community", 0.9, "--seed", 3, "--out", f"{d}/d.h5")
    with h5py.File(f"{d}/d.h5") as f:
        uid = [x.decode() for x in f["users/original_id"][:]]
        community = f["planted/user_community"][:]
    rng = np.random.default_rng(1)
    with open(f"{d}/friends.tsv", "w") as f:
        for u in range(len(uid)):
            for v in rng.choice(np.flatnonzero(community == community[u]), size=4, replace=False):
                if v != u:
                    f.write(f"{uid[u]}\t{uid[v]}\n")
    hr("train", "--set", f"data.dataset={d}/d.h5", "--set", f"output.dir={d}/run", "--set",
       "model.layers=2", "--set", "train.epochs=4", "--set", "train.lr=0.01", "--set",
       "eval.every=0", "--set", "train.threads=1", "--set", f"data.social={d}/friends.tsv",
       "--set", f"data.parts={d}/parts")
    hr("export", "--checkpoint", f"{d}/run/checkpoints", "--out", f"{d}/m.h5")
    rows = table_rows(run_bench("friends.py", [
        "--model", f"{d}/m.h5", "--dataset", f"{d}/d.h5", "--social", f"{d}/friends.tsv",
        "--history-items", "1,3", "--users", 40], d))
    assert [r[0] for r in rows] == ["1", "3"] and all(r[1] == "40" for r in rows), rows
    for r in rows:
        assert 0 < float(r[2]) < 1 and 0 < float(r[3]) < 1, r
        assert abs(float(r[4]) - float(r[3]) / float(r[2])) < 2e-3, r
    assert float(rows[0][3]) > float(rows[0][2]), rows  # friends carry the community
print("ok")
