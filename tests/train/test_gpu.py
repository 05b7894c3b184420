"""Training on a GPU (label `gpu`; exits 77, a skip, where `halorec train
--set train.device=cuda` reports that LibTorch has no CUDA or no GPU):

1. one rank on CUDA follows the CPU loss curve for 50 steps within 1e-4
   relative, and its metrics agree;
2. two ranks sharing one GPU with comm.backend=mpi (host-staged exchanges)
   follow the one-rank CUDA curve within 1e-4;
3. one rank with comm.backend=nccl follows the MPI-backend CUDA curve.
"""
import csv
import os
import subprocess
import sys
import tempfile

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
D = tempfile.mkdtemp(prefix="halorec-gpu-")
DS = os.path.join(D, "d.h5")
STEPS = 50


def train(name, *extra, ranks=0, expect=0):
    out = os.path.join(D, name)
    cmd = [BIN, "train", "--set", f"data.dataset={DS}", "--set", f"data.parts={D}/parts-{name}",
           "--set", f"output.dir={out}", "--set", "model.type=lightgcn", "--set", "model.dim=64",
           "--set", "model.layers=3", "--set", "train.batch_size=512", "--set", "train.lr=0.005",
           "--set", f"train.max_steps={STEPS}", "--set", "train.epochs=100",
           "--set", "eval.every=0", *extra]
    if ranks:
        cmd = [MPIRUN, "-np", str(ranks), "--oversubscribe", *cmd]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if expect is not None and p.returncode != expect:
        sys.exit(f"rc {p.returncode}: {' '.join(cmd)}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return out, p


def losses(out):
    with open(os.path.join(out, "steps.csv")) as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def compare(a, b, what, tol=1e-4):
    la, lb = losses(a), losses(b)
    assert len(la) == len(lb) == STEPS, (what, len(la), len(lb))
    worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in zip(la, lb))
    print(f"{what}: {STEPS} steps, largest relative loss difference {worst:.2e}")
    assert worst <= tol, (what, worst, list(zip(la, lb))[:5])
    return worst


subprocess.run([BIN, "synth", "--users", "2000", "--items", "1000", "--interactions", "40000",
                "--communities", "8", "--out", DS], check=True, capture_output=True)

cuda1, p = train("cuda1", "--set", "train.device=cuda", expect=None)
if p.returncode != 0:
    if "no CUDA or no GPU" in p.stderr or "no GPU is visible" in p.stderr:
        print("SKIP: no GPU visible to LibTorch:", p.stderr.strip().splitlines()[-1])
        sys.exit(77)
    sys.exit(f"cuda run failed, rc {p.returncode}\n{p.stdout}\n{p.stderr}")
cpu1, _ = train("cpu1", "--set", "train.device=cpu", "--set", "train.threads=4")
compare(cpu1, cuda1, "1 rank: CPU vs CUDA")

# Two ranks on one GPU (MPI stages through pinned host memory).
env_gpu = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")
           .split(",")[0]}
os.environ.update(env_gpu)
cuda1mpi, _ = train("cuda1mpi", "--set", "train.device=cuda", "--set", "comm.backend=mpi",
                    ranks=1)
shared2, p = train("shared2", "--set", "train.device=cuda", "--set", "comm.backend=mpi", ranks=2)
assert p.stderr.count("cuda:0, mpi") == 2, p.stderr[-2000:]  # both ranks on GPU 0
compare(cuda1mpi, shared2, "2 ranks sharing one GPU (mpi) vs 1 rank")

# NCCL on one rank against the MPI backend.
nccl1, p = train("nccl1", "--set", "train.device=cuda", "--set", "comm.backend=nccl", ranks=1)
assert "cuda:0, nccl" in p.stderr, p.stderr[-2000:]
compare(cuda1mpi, nccl1, "1 rank: NCCL vs MPI backend", tol=1e-6)
print("gpu training tests: OK")
