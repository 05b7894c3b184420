"""bench/gowalla_baselines.sh end to end on a tiny LightGCN-format data set
(HALOREC_BENCH_DATA) on 2 ranks, every method and an exported model: the script runs and
prints one table row for each with its numbers."""
import os
import subprocess
import tempfile

from tiny_data import write_tiny_lightgcn

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ["HALOREC_BIN"]

with tempfile.TemporaryDirectory() as d:
    write_tiny_lightgcn(d)
    # A trained model for the "(evaluate)" row: the same data prepared the same way.
    def hr(*args):
        r = subprocess.run([BIN, "--log-level", "warn", *map(str, args)], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, (args, r.stderr[-2000:])
    hr("prepare", "--format", "lightgcn", "--train", f"{d}/train.txt", "--test", f"{d}/test.txt",
       "--out", f"{d}/data.h5")
    hr("train", "--set", f"data.dataset={d}/data.h5", "--set", f"output.dir={d}/run", "--set",
       "model.type=mf", "--set", "train.epochs=2", "--set", "train.threads=1")
    hr("export", "--checkpoint", f"{d}/run/checkpoints", "--out", f"{d}/mf.h5")
    env = {**os.environ, "HALOREC_BENCH_DATA": d, "BASELINES": "popularity itemknn ease gfcf bspm chebycf",
           "FILTER_OPTS": "--rank 16", "BUILD_DIR": os.path.dirname(os.path.dirname(BIN))}
    p = subprocess.run(["bash", os.path.join(REPO, "bench", "gowalla_baselines.sh"), "2", f"{d}/mf.h5"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    print(p.stdout)
    rows = [line.split("|")[1:-1] for line in p.stdout.splitlines() if "(P=2)" in line]
    assert [r[0].split()[0] for r in rows] == ["popularity", "itemknn", "ease", "gfcf", "bspm",
                                                "chebycf"], rows
    for r in rows:
        recall, ndcg, coverage, wall, rss = map(float, r[1:])
        assert 0 <= recall <= 1 and 0 <= ndcg <= 1 and 0 < coverage <= 1, r
        assert wall > 0 and rss > 0, r
    model = [line.split("|")[1:-1] for line in p.stdout.splitlines() if "(evaluate)" in line]
    assert len(model) == 1 and model[0][0].strip() == "mf (evaluate)", model
    assert 0 <= float(model[0][1]) <= 1 and 0 < float(model[0][3]) <= 1, model
    assert float(model[0][4]) > 0 and float(model[0][5]) > 0, model
print("ok")
