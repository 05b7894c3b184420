#!/usr/bin/python3
"""Social edges (data.social): accuracy gained and halo volume paid.

`halorec synth` plants interest communities and writes social edges beside
the log: every user names --social-degree friends, each in the user's own
community with probability --homophily. The same dataset is then trained
(one config, a fixed number of epochs, evaluated once at the end) three ways:
  - without social edges,
  - with the homophilous social edges,
  - with a control of as many random social edges (homophily 0, the same
    degree: edges that carry no interest signal),
and partitioned into --halo-parts parts each way (METIS), for the halo rows a
layer exchanges. One markdown row per graph: user-user edges, halo rows,
bytes one layer's exchange moves at dim 64, train wall seconds, Recall@20,
NDCG@20 on the test split and the Recall ratio to the graph without social
edges.

  bench/social.py [--users 20000 --items 5000 --interactions 120000]
                  [--social-degree 5 --homophily 0.8] [--epochs 20]
                  [--ranks 1] [--halo-parts 4] [--set key=value ...]

Environment: BUILD_DIR (default build), WORK (default a temporary folder).
"""
import argparse
import json
import os
import tempfile
import time

from benchlib import hr, final  # bench/ is on sys.path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--interactions", type=int, default=120000)
    ap.add_argument("--communities", type=int, default=20)
    ap.add_argument("--in-community", type=float, default=0.7)
    ap.add_argument("--social-degree", type=int, default=5)
    ap.add_argument("--homophily", type=float, default=0.8)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--halo-parts", type=int, default=4)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    a = ap.parse_args()
    work = os.environ.get("WORK") or tempfile.mkdtemp(prefix="halorec-social-")
    os.makedirs(work, exist_ok=True)
    synth = ["--users", a.users, "--items", a.items, "--interactions", a.interactions,
             "--communities", a.communities, "--in-community", a.in_community, "--seed", 5,
             "--social-degree", a.social_degree, "--split", "random:0.2", "--force"]
    data = os.path.join(work, "data.h5")
    control = os.path.join(work, "control.h5")  # the same interactions (same seed)
    hr("synth", *synth, "--homophily", a.homophily, "--out", data)
    hr("synth", *synth, "--homophily", 0, "--out", control)
    graphs = [("no social edges", ""),
              (f"social, homophily {a.homophily}", os.path.join(work, "data.social.tsv")),
              ("social, random (control)", os.path.join(work, "control.social.tsv"))]
    sets = ["--set", "train.threads=0", "--set", "checkpoint.every=0"]
    for s in a.set:
        sets += ["--set", s]
    rows = []
    for k, (label, social) in enumerate(graphs):
        extra = ["--social", social] if social else []
        stats = json.loads(hr("partition", "--dataset", data, "--parts", a.halo_parts, *extra,
                              "--out", os.path.join(work, f"parts{k}"), "--force", "--json"))
        out = os.path.join(work, f"run{k}")
        t0 = time.time()
        hr("train", "--set", f"data.dataset={data}", "--set", f"output.dir={out}",
           "--set", f"train.epochs={a.epochs}", "--set", f"eval.every={a.epochs}",
           *(["--set", f"data.social={social}"] if social else []), *sets, "--force",
           ranks=a.ranks)
        rows.append((label, stats.get("social_edges", 0), stats["halo_volume_total"],
                     stats["exchange_bytes_dim64"], time.time() - t0, final(out)))
    base = rows[0]
    print(f"{a.users} users, {a.items} items, {a.interactions} interactions drawn, "
          f"{a.communities} communities; {a.social_degree} friends named per user; "
          f"{a.epochs} epochs on {a.ranks} rank(s); halo at {a.halo_parts} parts (metis)\n")
    print("| graph | user-user edges | halo rows | exchange MiB / layer (dim 64) | train s "
          "| Recall@20 | NDCG@20 | Recall vs none | halo vs none |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, edges, halo, nbytes, secs, m in rows:
        print(f"| {label} | {edges} | {halo} | {nbytes / 2**20:.2f} | {secs:.1f} "
              f"| {m['recall@20']:.4f} | {m['ndcg@20']:.4f} "
              f"| {m['recall@20'] / base[5]['recall@20']:.3f} | {halo / base[2]:.2f} |")


if __name__ == "__main__":
    main()
