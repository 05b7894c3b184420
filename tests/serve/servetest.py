"""Shared by the serve tests: the binary, mpirun, the repository, and run()."""
import os
import subprocess
import sys

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, expect=0):
    """Runs a command; exits the test with its output unless rc == expect (None: any)."""
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    if expect is not None and p.returncode != expect:
        sys.exit(f"rc {p.returncode} != {expect}: {' '.join(map(str, args))}\n{p.stdout[-3000:]}\n"
                 f"{p.stderr[-3000:]}")
    return p
