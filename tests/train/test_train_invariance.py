"""Partition invariance under real mpirun: P = 1, 2 and 4 ranks with METIS and
with random partitions give the same global loss at each of 30 steps and the
same final metrics, within 1e-5 relative."""
import csv
import json
import os
import subprocess
import sys
import tempfile

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC", "mpirun")


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


with tempfile.TemporaryDirectory() as d:
    ds = os.path.join(d, "d.h5")
    run(BIN, "synth", "--users", "400", "--items", "300", "--interactions", "12000",
        "--communities", "6", "--seed", "11", "--out", ds)
    results = {}
    for method in ("metis", "random"):
        for P in (1, 2, 4):
            out = os.path.join(d, f"{method}-{P}")
            run(MPIRUN, "-np", str(P), "--oversubscribe", BIN, "train",
                "--set", f"data.dataset={ds}", "--set", f"output.dir={out}",
                "--set", f"partition.method={method}", "--set", "train.batch_size=256",
                "--set", "train.epochs=3", "--set", "train.max_steps=30",
                "--set", "train.lr=0.01", "--set", "train.threads=1",
                "--set", "eval.topk=[10,20]")
            with open(os.path.join(out, "steps.csv")) as f:
                losses = [float(r["loss"]) for r in csv.DictReader(f)]
            with open(os.path.join(out, "metrics.jsonl")) as f:
                final = [json.loads(line) for line in f][-1]
            assert len(losses) == 30, (method, P, len(losses))
            results[(method, P)] = (losses, final)
    ref_losses, ref_final = results[("metis", 1)]
    worst = 0.0
    for key, (losses, final) in results.items():
        for a, b in zip(losses, ref_losses):
            worst = max(worst, abs(a - b) / abs(b))
        for name in ("recall@10", "recall@20", "ndcg@20", "precision@20", "hitrate@20"):
            a, b = final[name], ref_final[name]
            worst = max(worst, abs(a - b) / max(abs(b), 1e-12))
    print(f"largest relative difference over 6 runs: {worst:.2e}; "
          f"final recall@20 {ref_final['recall@20']:.4f}")
    assert worst <= 1e-5, worst
print("ok")
