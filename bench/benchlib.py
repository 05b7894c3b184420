"""Shared by the bench scripts: the halorec binary and how they run it.

BUILD_DIR (default build/ in the checkout) names the build whose bin/halorec
runs."""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("BUILD_DIR", os.path.join(REPO, "build")), "bin", "halorec")


def hr(*args, ranks=1):
    """Runs `halorec ARGS` (under mpirun with ranks > 1) at log level warn;
    exits the script with the command's stderr unless it succeeds. Returns
    its stdout."""
    cmd = [BIN, "--log-level", "warn", *map(str, args)]
    if ranks > 1:
        cmd = ["mpirun", "-np", str(ranks), "--oversubscribe"] + cmd
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return p.stdout


def final(out):
    """The last row of a run's metrics.jsonl."""
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f][-1]
