"""bench/gowalla_side_by_side.sh end to end on a tiny LightGCN-format data set
(HALOREC_BENCH_DATA): the script runs, and its JSON carries both sides' step
and evaluation times. A max_steps run inside the first epoch used to leave no
timing in metrics.jsonl (KeyError step_ms_median). Skips (77) without the
PyTorch baseline (../shared/bench) or Debian's python3-torch."""
import json
import os
import subprocess
import sys
import tempfile

from tiny_data import write_tiny_lightgcn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["HALOREC_BIN"]
SHARED = os.environ.get("HALOREC_SHARED_DIR") or os.path.join(REPO, "..", "shared")
BASELINE = os.path.join(SHARED, "bench", "torch_lightgcn.py")
if not os.path.exists(BASELINE):
    print(f"SKIP: no PyTorch baseline at {BASELINE}")
    sys.exit(77)
if subprocess.run(["/usr/bin/python3", "-c", "import torch"], capture_output=True).returncode:
    print("SKIP: python3-torch is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

with tempfile.TemporaryDirectory() as d:
    write_tiny_lightgcn(d)
    env = {**os.environ, "HALOREC_BENCH_DATA": d,
           "BUILD_DIR": os.path.dirname(os.path.dirname(BIN))}
    p = subprocess.run(["bash", os.path.join(REPO, "bench", "gowalla_side_by_side.sh"), "1", "3"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("halorec_step_ms_median", "torch_step_ms_median", "step_ratio"):
        assert key in r and r[key] > 0, (key, r)
    for key in ("halorec_eval_s", "torch_eval_s", "eval_ratio"):  # ~0 on tiny data
        assert key in r and r[key] >= 0, (key, r)
    print(f"bench on tiny data: {r}")
print("ok")
