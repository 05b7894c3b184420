"""Multi-node as it runs on a cluster, on one machine: network namespaces as
nodes (tests/launch/netns.py), mpirun across them through
launch/halorec-run --hostfile, TCP between nodes, shared memory within one.

1. A 4-rank training with 2 ranks on each of 2 nodes gives exactly the
   losses and metrics of the same 4-rank job on one node.
2. Every rank logs its node and node-local rank: node1 and node2 each hold
   local ranks 0 and 1 of 2. With a stand-in nvidia-smi reporting 2 GPUs on
   every node the wrapper places 2 ranks per node (--map-by ppr:2:node), so
   each node's GPUs 0 and 1 go to its local ranks 0 and 1.
3. Faults: every rank of node2 killed -> the job ends well within
   comm.timeout_s with a message naming node2; every rank of node2 stopped
   (a hung node) -> the watchdog ends it after comm.timeout_s, naming node2.
   Either way the last checkpoint is readable (export) and the run resumes
   on ONE node with 2 ranks (reshard) to the end.
Needs root and `ip netns`; skips (77) with the reason otherwise.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import Nodes  # noqa: E402

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "launch", "halorec-run")

why = Nodes.unavailable()
if why:
    print(f"skipped: {why}")
    sys.exit(77)

D = tempfile.mkdtemp(prefix="halorec-multinode-")
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
# A stand-in nvidia-smi: 2 GPUs on every node.
FAKE = os.path.join(D, "fakebin")
os.makedirs(FAKE)
with open(os.path.join(FAKE, "nvidia-smi"), "w") as f:
    f.write("#!/bin/sh\nfor i in 0 1; do echo \"GPU $i: NVIDIA H200 (UUID: GPU-$i)\"; done\n")
os.chmod(os.path.join(FAKE, "nvidia-smi"), 0o755)
GPU_ENV = {**ENV, "PATH": FAKE + ":" + ENV.get("PATH", "/usr/bin:/bin")}

ds = os.path.join(D, "d.h5")
subprocess.run([BIN, "synth", "--users", "1200", "--items", "700", "--interactions", "30000",
                "--communities", "6", "--seed", "3", "--out", ds], check=True, capture_output=True)
TRAIN = ["train", "--set", f"data.dataset={ds}", "--set", "model.layers=2", "--set",
         "train.threads=1", "--set", "train.lr=0.01", "--set", "train.device=cpu"]


def rows(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if '"epoch"' in line]


def placement(text):
    """(node, local rank, local size) of every rank, from the trainer's log."""
    found = {}
    for line in text.splitlines():
        if " on node" in line and "node-local rank" in line:
            words = line.split("] ", 1)[1].replace(",", "").split()
            # rank R of P on HOST node-local rank L of S
            found[int(words[1])] = (words[5], int(words[8]), int(words[10]))
    return found


with Nodes(2) as nodes:
    mpi = nodes.mpi_options()

    # 1 + 2. Across nodes through the wrapper (GPUs seen: ppr:2:node) ...
    across = os.path.join(D, "across")
    p = nodes.run(1, [RUN, "--bin", BIN, "--mpirun", MPIRUN, "-np", "4", "--hostfile",
                      nodes.hostfile(slots=2), *mpi, "--", *TRAIN, "--set",
                      f"output.dir={across}", "--set", "train.epochs=3"],
                  env=GPU_ENV, timeout=300)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    line = p.stderr.splitlines()[0]
    assert "--map-by ppr:2:node" in line and "--hostfile" in line, line
    where = placement(p.stderr)
    assert where == {0: ("node1", 0, 2), 1: ("node1", 1, 2), 2: ("node2", 0, 2),
                     3: ("node2", 1, 2)}, where
    # ... and the same job on one node (this machine, shared memory).
    one = os.path.join(D, "one")
    subprocess.run([MPIRUN, "-np", "4", "--oversubscribe", BIN, *TRAIN, "--set",
                    f"output.dir={one}", "--set", "train.epochs=3"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    a, b = rows(across), rows(one)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for k in ("loss", "recall@20", "ndcg@20"):
            assert x[k] == y[k], (x["epoch"], k, x[k], y[k])
    print("across nodes == one node:", [(r["epoch"], r["loss"], r["recall@20"]) for r in a])
    print("steps: across %.1f ms, one node %.1f ms" % (a[-1]["step_ms_median"],
                                                      b[-1]["step_ms_median"]))

    # 3. Faults. A long run across the nodes; once a checkpoint is committed,
    # the ranks of node2 are killed (then: stopped).
    for fault, sig in (("killed", signal.SIGKILL), ("stopped", signal.SIGSTOP)):
        out = os.path.join(D, f"fault-{fault}")
        timeout_s = 20
        job = nodes.popen(1, [MPIRUN, "-np", "4", "--hostfile", nodes.hostfile(slots=2), *mpi,
                              BIN, *TRAIN, "--set", f"output.dir={out}", "--set",
                              "train.epochs=400", "--set", "eval.every=0", "--set",
                              f"comm.timeout_s={timeout_s}"],
                          env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ckpts = os.path.join(out, "checkpoints")
        deadline = time.time() + 120
        while time.time() < deadline:
            if os.path.isdir(ckpts) and any(os.path.exists(os.path.join(ckpts, c, "COMMITTED"))
                                            for c in os.listdir(ckpts)):
                break
            assert job.poll() is None, job.stdout.read()[-3000:]
            time.sleep(0.2)
        else:
            job.kill()
            raise AssertionError("no checkpoint within 120 s")
        victims = nodes.pids(2, "halorec")
        assert len(victims) == 2, victims
        t0 = time.time()
        for pid in victims:
            os.kill(pid, sig)
        try:
            text, _ = job.communicate(timeout=timeout_s + 60)
        except subprocess.TimeoutExpired:
            job.kill()
            raise AssertionError(f"{fault}: the job did not end within {timeout_s + 60} s")
        took = time.time() - t0
        for pid in victims:  # the stopped ones go now
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert job.returncode != 0, text[-2000:]
        # A message naming node2 beside the start-up lines.
        named = [ln for ln in text.splitlines() if "node2" in ln and "node-local rank" not in ln]
        assert named, text[-3000:]
        if fault == "killed":
            assert took < timeout_s, f"killed ranks: the job took {took:.1f} s to end"
        else:
            assert timeout_s - 1 <= took < timeout_s + 40, f"stopped ranks: ended after {took:.1f} s"
            assert "comm.timeout_s" in text and "on node2" in text, text[-3000:]
        print(f"{fault}: job ended after {took:.1f} s:", named[:3])
        # The checkpoint is readable, and the run continues on ONE node.
        subprocess.run([BIN, "export", "--checkpoint", ckpts, "--out",
                        os.path.join(D, f"{fault}.h5")], check=True, capture_output=True)
        p = nodes.run(1, [MPIRUN, "-np", "2", "--oversubscribe", BIN, *TRAIN, "--set",
                          f"output.dir={out}", "--set", "train.epochs=6", "--set",
                          "eval.every=0", "--set", "checkpoint.resume=latest"],
                      env=ENV, timeout=300)
        assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
        assert "resumed from" in p.stderr, p.stderr[-2000:]
print("multinode: OK")
