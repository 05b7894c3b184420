#!/usr/bin/python3
"""Step time between nodes against shared memory, side by side in one run.

Nodes are network namespaces on this machine (tests/launch/netns.py: own
hostname and address, TCP over a bridge), so this needs root and `ip netns`.
For one dataset and config, P ranks are run:
  - on one node (shared memory),
  - across nodes, P / nodes ranks on each (TCP between nodes), with the
    waiting ranks yielding their core between polls (HaloRec's default),
  - across nodes as before that change (HALOREC_COMM_SPIN=1: never yield),
and one markdown row each gives the median step time (ms, of the last epoch),
the synchronizing rounds per step (comm_rounds_per_step), and the final loss
(equal in every row: the same partition and steps).

  sudo bench/multinode.py [--ranks 2] [--nodes 2] [--users 3000 ...] [--set key=value ...]

Environment: BUILD_DIR (default build).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("BUILD_DIR", os.path.join(REPO, "build")), "bin", "halorec")
sys.path.insert(0, os.path.join(REPO, "tests", "launch"))
from netns import Nodes  # noqa: E402


def last_epoch(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if '"epoch"' in line][-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--items", type=int, default=1500)
    ap.add_argument("--interactions", type=int, default=90000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    a = ap.parse_args()
    if a.ranks % a.nodes:
        sys.exit("--ranks must be a multiple of --nodes")
    why = Nodes.unavailable()
    if why:
        sys.exit(f"bench/multinode.py {why}")
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    env.pop("HALOREC_COMM_SPIN", None)
    with tempfile.TemporaryDirectory(prefix="halorec-bench-nodes-") as d:
        ds = os.path.join(d, "d.h5")
        subprocess.run([BIN, "synth", "--users", str(a.users), "--items", str(a.items),
                        "--interactions", str(a.interactions), "--seed", "7", "--out", ds],
                       check=True, capture_output=True)
        train = [BIN, "--log-level", "warn", "train", "--set", f"data.dataset={ds}", "--set",
                 f"train.epochs={a.epochs}", "--set", "train.threads=1", "--set",
                 "eval.every=0", "--set", "checkpoint.every=0", "--set",
                 f"data.parts={d}/parts"]
        for s in a.set:
            train += ["--set", s]
        rows = []
        with Nodes(a.nodes) as nodes:
            per_node = a.ranks // a.nodes
            runs = [("one node, shared memory", None, {}),
                    (f"{a.nodes} nodes x {per_node}, TCP", True, {}),
                    (f"{a.nodes} nodes x {per_node}, TCP, spinning wait (before)", True,
                     {"HALOREC_COMM_SPIN": "1"})]
            for label, across, extra in runs:
                out = os.path.join(d, f"run{len(rows)}")
                cmd = ["mpirun", "-np", str(a.ranks)]
                if across:
                    cmd += ["--hostfile", nodes.hostfile(slots=per_node), *nodes.mpi_options()]
                    for k in extra:
                        cmd += ["-x", k]
                else:
                    cmd += ["--oversubscribe"] if a.ranks > os.cpu_count() else []
                cmd += [*train, "--set", f"output.dir={out}"]
                p = nodes.run(1, cmd, env={**env, **extra}, timeout=1800)
                if p.returncode != 0:
                    sys.exit(f"{label}: failed ({p.returncode}):\n{p.stderr[-3000:]}")
                r = last_epoch(out)
                rows.append((label, r["step_ms_median"], r.get("comm_rounds_per_step", 0),
                             r["loss"]))
        print(f"| {a.ranks} ranks, {a.epochs} epochs | step ms (median) | rounds per step | loss |")
        print("| --- | ---: | ---: | ---: |")
        for label, ms, rounds, loss in rows:
            print(f"| {label} | {ms:.1f} | {rounds:.0f} | {loss:.6f} |")


if __name__ == "__main__":
    main()
