"""A failure on one rank ends the whole job promptly, with a message naming
the rank, instead of leaving the other ranks waiting in a collective."""
import os
import subprocess
import sys
import time

probe = sys.argv[1]
mpirun = os.environ.get("HALOREC_MPIEXEC", "mpirun")
t0 = time.time()
p = subprocess.run([mpirun, "-np", "3", "--oversubscribe", probe], capture_output=True,
                   text=True, timeout=100)
elapsed = time.time() - t0
print(p.stderr[-2000:])
assert p.returncode != 0, "the job should fail"
assert "rank 1: error: planted failure" in p.stderr, "message should name rank 1"
assert elapsed < 30, f"took {elapsed:.1f} s"
print(f"ok: exit {p.returncode} after {elapsed:.1f} s")
