"""bench/ann.py end to end on a tiny synthetic catalogue: it builds, trains,
exports every index kind and prints one row per retrieval path whose numbers
hang together (the flat index recalls the exact lists completely)."""
import os
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["HALOREC_BIN"]

with tempfile.TemporaryDirectory() as d:
    env = {**os.environ, "BUILD_DIR": os.path.dirname(os.path.dirname(BIN)), "WORK": d}
    p = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "ann.py"), "--synth",
                        "20000", "--users", "500", "--threads", "2",
                        "--ivfpq-params", "nlist=64,pq_m=16"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    print(p.stdout)
    rows = {line.split("|")[1].strip().split(" ")[0]: [c.strip() for c in line.split("|")[2:-1]]
            for line in p.stdout.splitlines() if line.startswith("| ") and "---" not in line
            and not line.startswith("| retrieval")}
    assert set(rows) == {"exact", "flat", "hnsw", "ivfpq"}, rows
    assert float(rows["flat"][4]) == 1.0, rows["flat"]
    assert float(rows["hnsw"][4]) >= 0.9, rows["hnsw"]
    assert 0 < float(rows["ivfpq"][4]) <= 1, rows["ivfpq"]
    for kind in ("flat", "hnsw", "ivfpq"):
        assert float(rows[kind][0]) >= 0 and float(rows[kind][1]) > 0, rows[kind]
        assert float(rows[kind][3].replace(",", "")) > 0, rows[kind]
