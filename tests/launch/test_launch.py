"""launch/halorec-run (dry runs: ranks, placement, pass-through, GPUs seen
through a stand-in nvidia-smi, a Slurm allocation, bad arguments; then a real
2-rank training through it), tools/plot.py, and the quickstart end to end."""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "launch", "halorec-run")
D = tempfile.mkdtemp(prefix="halorec-launch-")
CORES = os.cpu_count()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SLURM_") and k != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    env.update(extra)
    return env


def dry(*args, env=None, expect=0):
    p = subprocess.run([RUN, "--dry-run", "--bin", BIN, *args], capture_output=True, text=True,
                       env=env or clean_env(), timeout=60)
    assert p.returncode == expect, (args, p.returncode, p.stdout, p.stderr)
    if expect != 0:
        return p.stderr
    line = p.stderr.splitlines()[0]
    return shlex.split(line)


def after(words, flag):
    return words[words.index(flag) + 1]


# 1. CPU defaults: -np given -> that many ranks, each an equal share of cores.
w = dry("-np", "2", "train", "--config", "c.yaml")
assert w[0] == "mpirun" and after(w, "-np") == "2", w
if CORES >= 2:
    assert after(w, "--map-by") == f"ppr:2:node:PE={CORES // 2}", w
    assert after(w, "--bind-to") == "core", w
assert w[-4:] == [BIN, "train", "--config", "c.yaml"], w
assert "-x" in w and "NCCL_DEBUG" in w, w

# More ranks than cores: oversubscribe, no binding.
w = dry("-np", str(CORES + 1), "info", "x.h5")
assert "--oversubscribe" in w and after(w, "--bind-to") == "none", w

# No -np, no GPU: one rank per NUMA node (this machine: lscpu).
numa = len({line.strip() for line in subprocess.run(["lscpu", "-p=NODE"], capture_output=True,
                                                     text=True).stdout.splitlines()
            if line and not line.startswith("#")}) or 1
w = dry("train", "--config", "c.yaml")
assert after(w, "-np") == str(numa), (w, numa)

# 2. mpirun options before `--` pass through; the user's placement wins.
w = dry("-np", "4", "--map-by", "node", "--hostfile", "hosts", "--", "train", "--set", "a=b")
assert after(w, "--map-by") == "node" and w.count("--map-by") == 1, w
assert after(w, "--hostfile") == "hosts" and "--bind-to" not in w, w
assert w[-4:] == [BIN, "train", "--set", "a=b"], w

# 3. GPUs: a stand-in nvidia-smi reporting 4 GPUs -> 4 ranks; CUDA_VISIBLE_DEVICES limits.
fake = os.path.join(D, "fakebin")
os.makedirs(fake)
with open(os.path.join(fake, "nvidia-smi"), "w") as f:
    f.write("#!/bin/sh\nfor i in 0 1 2 3; do echo \"GPU $i: NVIDIA H200 (UUID: GPU-$i)\"; done\n")
os.chmod(os.path.join(fake, "nvidia-smi"), 0o755)
gpu_env = clean_env(PATH=fake + ":/usr/local/bin:/usr/bin:/bin")
w = dry("train", "--config", "c.yaml", env=gpu_env)
assert after(w, "-np") == "4", w
w = dry("train", "--config", "c.yaml", env={**gpu_env, "CUDA_VISIBLE_DEVICES": "0,1"})
assert after(w, "-np") == "2" and "CUDA_VISIBLE_DEVICES" in w, w
w = dry("train", "--config", "c.yaml", env={**gpu_env, "CUDA_VISIBLE_DEVICES": ""})
assert after(w, "-np") == str(numa), w
# Across nodes (hostfile) with GPUs: one rank per GPU on each node.
w = dry("-np", "8", "--hostfile", "h", "--", "train", env=gpu_env)
assert after(w, "--map-by") == "ppr:4:node", w

# 4. Inside a Slurm allocation: the job's tasks.
slurm = clean_env(SLURM_JOB_ID="77", SLURM_NTASKS="8", SLURM_JOB_NUM_NODES="2",
                  SLURM_CPUS_ON_NODE="16")
w = dry("train", "--config", "c.yaml", env=slurm)
assert after(w, "-np") == "8" and after(w, "--map-by") == "ppr:4:node", w

# 5. Variables that matter are forwarded with -x.
w = dry("-np", "1", "train", env=clean_env(NCCL_SOCKET_IFNAME="eth0", HALOREC_X="1"))
xs = [w[i + 1] for i, a in enumerate(w) if a == "-x"]
assert {"NCCL_SOCKET_IFNAME", "HALOREC_X", "NCCL_DEBUG", "PATH"} <= set(xs), xs

# 6. Bad arguments: exit 2 with the reason.
assert "not a positive number" in dry("-np", "zero", "train", expect=2)
assert "no halorec command" in dry("-np", "2", expect=2)
assert "needs a" in dry("-np", expect=2)

# 7. A real 2-rank training through the wrapper.
ds = os.path.join(D, "d.h5")
subprocess.run([BIN, "synth", "--users", "300", "--items", "200", "--interactions", "6000",
                "--out", ds], check=True, capture_output=True)
out = os.path.join(D, "run")
p = subprocess.run([RUN, "--bin", BIN, "--mpirun", MPIRUN, "-np", "2", "train", "--config",
                    os.path.join(REPO, "configs", "quickstart.yaml"), "--set",
                    f"data.dataset={ds}", "--set", f"data.parts={D}/parts", "--set",
                    f"output.dir={out}", "--set", "train.epochs=2", "--json"],
                   capture_output=True, text=True, timeout=300)
assert p.returncode == 0, (p.stdout, p.stderr)
assert p.stderr.startswith(MPIRUN + " -np 2"), p.stderr[:300]
summary = json.loads(p.stdout)
assert summary["ranks"] == 2 and summary["epochs"] == 2, summary

# 8. tools/plot.py on that run: two PNG files.
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "plot.py"), out],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0, p.stderr
for name in ["training.png", "partition.png"]:
    with open(os.path.join(out, name), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "plot.py"), D],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 2 and "metrics.jsonl not found" in p.stderr, p.stderr
cmp_png = os.path.join(D, "compare.png")
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "plot.py"), "--compare",
                    f"{out}=a", f"{out}=b", "--out", cmp_png],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0, p.stderr
with open(cmp_png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
# A kept metrics.jsonl beside a run folder, with a reference level; a bad one
# is refused by name.
kept = os.path.join(D, "kept.metrics.jsonl")
shutil.copy(os.path.join(out, "metrics.jsonl"), kept)
os.remove(cmp_png)
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "plot.py"), "--compare",
                    out, kept, "--hline", "0.1872=SimpleX", "--out", cmp_png],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 0, p.stderr
with open(cmp_png, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tools", "plot.py"), "--compare",
                    kept, "--hline", "high=x", "--out", cmp_png],
                   capture_output=True, text=True, timeout=120)
assert p.returncode == 2 and "--hline high=x" in p.stderr, p.stderr

# 9. The quickstart, README's first command, with this binary.
qs = os.path.join(D, "qs")
p = subprocess.run(["bash", os.path.join(REPO, "launch", "quickstart.sh")], cwd=REPO,
                   capture_output=True, text=True, timeout=600,
                   env={**os.environ, "HALOREC_QUICKSTART_OUT": qs, "MPIRUN": MPIRUN})
assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
assert "recall@20" in p.stdout and "model.h5" in p.stdout, p.stdout[-2000:]
for rel in ["model.h5", "run/training.png", "run/partition.png", "run/metrics.jsonl"]:
    assert os.path.exists(os.path.join(qs, rel)), rel
final = [json.loads(line) for line in open(os.path.join(qs, "run", "metrics.jsonl"))][-1]
assert final["recall@20"] > 0.3, final  # planted communities: popularity gets ~0.2
print("launch tests: OK")
sys.exit(0)
