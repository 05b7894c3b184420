#!/usr/bin/python3
"""ANN retrieval beside the exact blocked product, on one machine, side by side.

For a trained checkpoint and its dataset: export the model once without an
index and once per index kind (flat, hnsw, ivfpq), then recommend the top-k
(seen items excluded) for a sample of users through each path. Prints one
markdown row per path: index build seconds and bytes, ranking seconds for the
users (model and dataset loading excluded: `recommend --json` "seconds"),
queries per second, and the recall of the exact top-k (mean share of the
exact list the path returns).

  bench/ann.py --checkpoint runs/x/checkpoints --dataset gowalla.h5 [--users 10000]
  bench/ann.py --synth 1000000            # a planted-community catalogue of 1M items
                                          # (synth, one minibatch MF epoch), then the same

Environment: BUILD_DIR (default build), WORK (default a temporary folder).
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time

from benchlib import REPO, hr  # bench/ is on sys.path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--dataset")
    ap.add_argument("--synth", type=int, help="items of a synthetic catalogue to build first")
    ap.add_argument("--users", type=int, default=10000, help="users to recommend for (sample)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--kinds", default="flat,hnsw,ivfpq")
    ap.add_argument("--hnsw-params", default="m=32,ef_construction=200")
    ap.add_argument("--hnsw-search", default="ef_search=128")
    ap.add_argument("--ivfpq-params", default="")
    ap.add_argument("--ivfpq-search", default="nprobe=32")
    ap.add_argument("--dtype", default="fp32")
    a = ap.parse_args()
    work = os.environ.get("WORK") or tempfile.mkdtemp(prefix="halorec-ann-bench-")
    os.makedirs(work, exist_ok=True)
    if a.synth:
        items = a.synth
        a.dataset = f"{work}/synth-{items}.h5"
        t = time.time()
        hr("synth", "--users", max(1000, items // 5), "--items", items, "--interactions",
           6 * items, "--communities", max(8, items // 20000), "--seed", 11, "--split",
           "random:0.1", "--out", a.dataset)
        hr("train", "--config", f"{REPO}/configs/quickstart.yaml", "--set",
           f"data.dataset={a.dataset}", "--set", f"data.parts={work}/parts-{items}", "--set",
           f"output.dir={work}/run-{items}", "--set", "model.type=mf", "--set",
           "model.layers=0", "--set", "partition.method=random", "--set", "train.epochs=1",
           "--set", "train.batch_size=8192", "--set", "train.lr=0.01", "--set", "eval.every=0",
           "--set", "eval.users=1000", "--set", "train.sampler=edge", "--set",
           "train.propagation=minibatch", "--set", f"train.threads={a.threads}")
        a.checkpoint = f"{work}/run-{items}/checkpoints"
        print(f"synthetic catalogue of {items:,} items built and trained in "
              f"{time.time() - t:.1f} s", flush=True)
    if not a.checkpoint or not a.dataset:
        sys.exit("give --checkpoint and --dataset, or --synth ITEMS")

    exact_model = f"{work}/exact.h5"
    hr("export", "--checkpoint", a.checkpoint, "--dataset", a.dataset, "--out", exact_model,
       "--dtype", a.dtype, "--threads", a.threads)
    import h5py
    with h5py.File(exact_model) as f:
        users = [x.decode() for x in f["users/original_id"][:]]
        n_items = f["items/vector"].shape[0]
    random.Random(7).shuffle(users)
    users = users[:a.users]
    users_file = f"{work}/users.txt"
    with open(users_file, "w") as f:
        f.write("\n".join(users) + "\n")

    def recommend(model, *extra):
        out = json.loads(hr("recommend", "--model", model, "--users-file", users_file, "--k",
                            a.k, "--exclude-seen", a.dataset, "--threads", a.threads, "--json",
                            *extra))
        lists = {r["user"]: [x["item"] for x in r["items"]] for r in out["recommendations"]}
        return lists, out["seconds"]

    exact, exact_s = recommend(exact_model)
    print(f"{n_items:,} items, {len(users):,} users, k {a.k}")
    print("| retrieval | build s | index MB | ranking s | queries/s | recall of exact top-k |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| exact (blocked product) | - | - | {exact_s:.2f} | {len(users) / exact_s:,.0f} | 1.0000 |",
          flush=True)
    params = {"flat": ("", ""), "hnsw": (a.hnsw_params, a.hnsw_search),
              "ivfpq": (a.ivfpq_params, a.ivfpq_search)}
    for kind in a.kinds.split(","):
        build, search = params[kind]
        model = f"{work}/{kind}.h5"
        extra = ["--index-params", build] if build else []
        r = json.loads(hr("export", "--checkpoint", a.checkpoint, "--dataset", a.dataset, "--out",
                          model, "--dtype", a.dtype, "--index", kind, "--threads", a.threads,
                          "--json", *extra))
        lists, s = recommend(model, "--index", *(["--index-params", search] if search else []))
        recall = sum(len(set(lists[u]) & set(exact[u])) / max(1, len(exact[u])) for u in users) \
            / len(users)
        print(f"| {kind} ({build or 'defaults'}; {search or 'exact scan'}) | "
              f"{r['index_seconds']:.2f} | {r['index_bytes'] / 2**20:.1f} | {s:.2f} | "
              f"{len(users) / s:,.0f} | {recall:.4f} |", flush=True)


if __name__ == "__main__":
    main()
