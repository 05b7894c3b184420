"""bench/scale.sh end to end at a tiny size on 2 ranks: synth, prepare, partition, one
minibatch epoch, the export by both ranks and the popularity comparison run, and the
script prints one table row
whose numbers hang together (train edges from prepare, one peak RSS per rank, a model
that beats popularity on planted communities)."""
import os
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["HALOREC_BIN"]

with tempfile.TemporaryDirectory() as d:
    env = {**os.environ, "BUILD_DIR": os.path.dirname(os.path.dirname(BIN)), "RANKS": "2",
           "THREADS": "1", "WORK": d, "BATCH": "1024", "EVAL_USERS": "1000",
           "LAYERS": "2", "FANOUTS": "[8,4]"}
    p = subprocess.run(["bash", os.path.join(REPO, "bench", "scale.sh"), "6000:1500:120000"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    print(p.stdout)
    rows = [line.split("|")[1:-1] for line in p.stdout.splitlines() if line.startswith("| 1")]
    assert len(rows) == 1, p.stdout
    r = [c.strip() for c in rows[0]]
    assert r[0] == "120,000", r
    assert 0 < int(r[1].replace(",", "")) < 120000, r
    rss = [float(x) for x in r[7].split("/")]
    assert len(rss) == 2 and all(x > 0 for x in rss), r
    export_s, export_rss = r[8].split(" / ", 1)
    assert float(export_s) > 0 and len(export_rss.split("/")) == 2, r
    edges_per_s, per_core = float(r[9].replace(",", "")), float(r[10].replace(",", ""))
    assert edges_per_s > 0 and per_core > 0, r
    recall, popularity = float(r[11]), float(r[12])
    assert 0 < popularity < recall <= 1, r
    # The run trained in minibatch mode and logged its neighbourhood size.
    import json
    epoch = [json.loads(line) for line in open(f"{d}/6000x1500x120000/run/metrics.jsonl")][0]
    assert epoch["sampled_nodes"] > 0 and epoch["sampled_edges"] > 0, epoch
    # The export was written by both ranks: model.h5 plus one part per rank.
    parts = [p for p in os.listdir(f"{d}/6000x1500x120000/model.h5.parts") if p.endswith(".h5")]
    assert len(parts) == 2, parts
    bad = subprocess.run(["bash", os.path.join(REPO, "bench", "scale.sh"), "12X"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "12X" in bad.stderr, (bad.returncode, bad.stderr)
print("ok")
