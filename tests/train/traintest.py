"""Shared by the train tests: the binary, mpirun, and run()."""
import os
import subprocess
import sys

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"


def run(*args):
    """Runs a command; exits the test with its output unless it succeeds."""
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p
