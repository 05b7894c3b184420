"""Gowalla at P=4: METIS's total halo is at most 0.25 of random's and its node
and edge imbalance are at most 1.10; shard files read from h5py. Skipped
(exit 77) without ../shared."""
import json
import os
import subprocess
import sys
import tempfile

import h5py

BIN = os.environ["HALOREC_BIN"]
shared = os.environ.get("HALOREC_SHARED_DIR", "../shared")
data = os.path.join(shared, "data", "gowalla")
if not os.path.exists(os.path.join(data, "train.txt")):
    print(f"SKIP: Gowalla data not found at {data}")
    sys.exit(77)


def run_json(*args):
    p = subprocess.run([BIN, *args, "--json"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


with tempfile.TemporaryDirectory() as d:
    ds = os.path.join(d, "gowalla.h5")
    run_json("prepare", "--format", "lightgcn", "--train", os.path.join(data, "train.txt"),
             "--test", os.path.join(data, "test.txt"), "--out", ds)
    metis = run_json("partition", "--dataset", ds, "--parts", "4", "--out",
                     os.path.join(d, "metis"))
    rand = run_json("partition", "--dataset", ds, "--parts", "4", "--method", "random",
                    "--out", os.path.join(d, "random"))
    ratio = metis["halo_volume_total"] / rand["halo_volume_total"]
    print(f"halo metis {metis['halo_volume_total']} random {rand['halo_volume_total']} "
          f"ratio {ratio:.3f} imbalance nodes {metis['node_imbalance']:.3f} "
          f"edges {metis['edge_imbalance']:.3f}")
    assert ratio <= 0.25, ratio
    assert metis["node_imbalance"] <= 1.10 and metis["edge_imbalance"] <= 1.10, metis
    with h5py.File(os.path.join(d, "metis", "rank-00002.h5"), "r") as f:
        assert f.attrs["format"] == "halorec.shard" and int(f.attrs["rank"]) == 2
        assert int(f.attrs["world_size"]) == 4
        assert len(f["adj/indptr"]) == int(f.attrs["num_owned"]) + 1
        assert len(f["halo/global_id"]) == metis["halo"][2]
    with h5py.File(os.path.join(d, "metis", "meta.h5"), "r") as f:
        assert len(f["owner"]) == 29858 + 40981
print("ok")
