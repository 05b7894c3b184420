#!/usr/bin/python3
"""New users with a short history, folded in alone and with their friends.

For a LightGCN exported with social edges (data.social): users of the
dataset who have test items and friends in the model are drawn (seeded);
each becomes a new user whose history is N of their train items (drawn);
`recommend --history` folds them in without and with `--friends` (their
friends in the social file). Recall@20 on their test items, their other
train items left out of the lists; one markdown row per N.

  bench/friends.py --model M.h5 --dataset D.h5 --social S.tsv
                   [--history-items 1,3] [--users 200] [--seed 0]

Environment: BUILD_DIR (default build).
"""
import argparse
import collections
import json
import os
import random
import subprocess

import h5py


def strs(a):
    return [x.decode() if isinstance(x, bytes) else x for x in a]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--social", required=True, help="the social file the model trained with")
    p.add_argument("--history-items", default="1,3")
    p.add_argument("--users", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    binary = os.path.join(os.environ.get("BUILD_DIR", "build"), "bin", "halorec")
    with h5py.File(a.dataset) as f:
        uid = strs(f["users/original_id"][:])
        iid = strs(f["items/original_id"][:])
        train, test = collections.defaultdict(list), collections.defaultdict(set)
        for u, i in zip(f["train/user"][:], f["train/item"][:]):
            train[uid[u]].append(iid[i])
        for u, i in zip(f["test/user"][:], f["test/item"][:]):
            test[uid[u]].add(iid[i])
    known = set(uid)
    friends = collections.defaultdict(set)
    with open(a.social) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2 and not line.startswith("#") and fields[0] != fields[1]:
                friends[fields[0]].add(fields[1])
                friends[fields[1]].add(fields[0])
    sizes = [int(x) for x in a.history_items.split(",")]
    rng = random.Random(a.seed)
    print(f"| history items | users | Recall@20 alone | with friends | ratio |")
    print(f"| ---: | ---: | ---: | ---: | ---: |")
    for n in sizes:
        pool = sorted(u for u in known if test[u] and len(train[u]) > n and friends[u] & known)
        users = rng.sample(pool, min(a.users, len(pool)))
        recall = {"alone": 0.0, "friends": 0.0}
        for u in users:
            history = rng.sample(sorted(train[u]), n)
            seen = set(train[u])
            for mode in recall:
                args = [binary, "recommend", "--model", a.model, "--history", ",".join(history),
                        "--k", str(20 + len(seen)), "--json"]
                if mode == "friends":
                    args += ["--friends", ",".join(sorted(friends[u] & known))]
                out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
                items = [x["item"] for x in json.loads(out)["recommendations"][0]["items"]
                         if x["item"] not in seen][:20]
                recall[mode] += len(set(items) & test[u]) / len(test[u])
        alone, social = recall["alone"] / len(users), recall["friends"] / len(users)
        print(f"| {n} | {len(users)} | {alone:.4f} | {social:.4f} | "
              f"{social / alone if alone > 0 else float('nan'):.3f} |")


if __name__ == "__main__":
    main()
