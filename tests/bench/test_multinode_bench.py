"""bench/multinode.py end to end on tiny data: three rows (one node, across
nodes, across nodes with the spinning wait) with the same loss, positive step
times and the same rounds per step. Needs root and `ip netns` (skips: 77)."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["HALOREC_BIN"]
sys.path.insert(0, os.path.join(REPO, "tests", "launch"))
from netns import Nodes  # noqa: E402

why = Nodes.unavailable()
if why:
    print(f"skipped: {why}")
    sys.exit(77)
env = {**os.environ, "BUILD_DIR": os.path.dirname(os.path.dirname(BIN))}
p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "multinode.py"), "--users",
                    "400", "--items", "300", "--interactions", "8000", "--epochs", "2"],
                   capture_output=True, text=True, env=env, timeout=600)
assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
print(p.stdout)
rows = [[c.strip() for c in line.split("|")[1:-1]] for line in p.stdout.splitlines()
        if line.startswith("| ") and "---" not in line][1:]
assert len(rows) == 3, rows
assert rows[0][0].startswith("one node") and "spinning" in rows[2][0], rows
assert all(float(r[1]) > 0 for r in rows), rows
assert len({r[2] for r in rows}) == 1 and float(rows[0][2]) > 0, rows
assert len({r[3] for r in rows}) == 1, rows
print("ok")
