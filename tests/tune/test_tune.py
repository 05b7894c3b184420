"""halorec tune on a small dataset: the budget is kept (within 10 %, the
final training and export included; also at P=2), every trial is in tune.json with its
settings, epochs, seconds and validation metrics (no test numbers before the
final), the halving keeps the best third of each rung, the choice is the best
validation value, the final model is exported and serves what the final
run measured, trials.svg is drawn, and bad options exit 2 naming them."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
D = tempfile.mkdtemp(prefix="halorec-tune-")
atexit.register(shutil.rmtree, D, ignore_errors=True)
failures = []


def run(args, expect=0):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900,
                       env=ENV)
    if p.returncode != expect:
        sys.exit(f"rc {p.returncode} != {expect}: {' '.join(map(str, args))}\n"
                 f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


run([BIN, "synth", "--users", 400, "--items", 200, "--communities", 6, "--interactions", 12000,
     "--seed", 7, "--out", f"{D}/all.tsv"])
run([BIN, "prepare", "--format", "tsv", "--header", "--input", f"{D}/all.tsv", "--seed", 3,
     "--out", f"{D}/d.h5"])

BUDGET = 60
start = time.monotonic()
p = run([BIN, "--log-level", "warn", "tune", "--dataset", f"{D}/d.h5", "--budget", f"{BUDGET}s",
         "--out", f"{D}/t", "--threads", 1, "--json"])
wall = time.monotonic() - start
out = json.loads(p.stdout)
check(wall <= BUDGET * 1.1, f"the budget is kept: {wall:.1f} s of {BUDGET} s (+10 %)")
check(out["seconds"] <= BUDGET * 1.1, f"and by its own clock: {out['seconds']:.1f} s")

with open(f"{D}/t/tune.json") as f:
    rep = json.load(f)
trials = rep["trials"]
stages = [t["stage"] for t in trials]
check(stages.count("halving") >= 7, f"every recipe trained at the first rung ({stages})")
check(stages[-1] == "final" and stages.count("final") == 1, "one final run, last")
for t in trials:
    complete = all(k in t for k in ("name", "sets", "epochs", "seconds", "at_seconds", "value",
                                    "metrics"))
    check(complete and t["seconds"] > 0 and t["epochs"] >= 1, f"trial {t['name']} is complete")
    if t["stage"] != "final":
        check(all(k.startswith("val_") or k == "filter_mix" for k in t["metrics"]),
              f"trial {t['name']} ({t['stage']}) shows validation numbers only")
        check(abs(t["value"] - t["metrics"]["val_recall@20"]) < 1e-12,
              f"trial {t['name']}'s value is its val_recall@20")
# Halving: the rung after the first holds the best third of it.
first = [t for t in trials if t["stage"] == "halving" and t["epochs"] == 2]
second = [t for t in trials if t["stage"] == "halving" and t["epochs"] == 6]
if second:
    keep = sorted(first, key=lambda t: -t["value"])[:len(second)]
    check(sorted(t["name"] for t in second) == sorted(t["name"] for t in keep),
          "the second rung holds the first rung's best")
    check(len(second) == (len(first) + 2) // 3, "a third of them")
# The choice: the best validation value among the survivor's trials.
cands = [t for t in trials if t["stage"] in ("epochs", "filter", "halving")
         and t["name"].split("+")[0] == rep["chosen"]["name"].split("+")[0]]
check(abs(rep["chosen"]["value"] - max(t["value"] for t in cands)) < 1e-12,
      f"the chosen recipe ({rep['chosen']['name']}) has the best validation value")
final = trials[-1]
check("recall@20" in final["metrics"], "the final run reports test numbers")
with open(f"{D}/t/final/config.yaml") as f:
    check("validation: 0\n" in f.read(), "final/config.yaml has data.validation 0")

# The exported model serves what the final run measured.
ev = json.loads(run([BIN, "--log-level", "warn", "evaluate", "--model", f"{D}/t/model.h5",
                     "--dataset", f"{D}/d.h5", "--k", 20, "--json"]).stdout)
check(abs(ev["recall@20"] - final["metrics"]["recall@20"]) < 1e-6,
      f"evaluate model.h5 {ev['recall@20']:.5f} == the final run's "
      f"{final['metrics']['recall@20']:.5f}")
with open(f"{D}/t/trials.svg") as f:
    svg = f.read()
check(svg.startswith("<svg") and svg.count("<circle") >= len(trials) - 1,
      "trials.svg has a dot per trial")

# Two ranks: every decision is rank 0's, so both run the same trials to the
# end. `--ranks 2` starts the command again under mpirun -np 2.
start = time.monotonic()
p = run([BIN, "--log-level", "warn", "tune", "--dataset", f"{D}/d.h5", "--ranks", 2,
         "--budget", "40s", "--out", f"{D}/t2", "--threads", 1, "--json"])
wall = time.monotonic() - start
two = json.loads(p.stdout)
check(wall <= 40 * 1.1 + 5, f"P=2 keeps the budget: {wall:.1f} s of 40 s (+10 %, mpirun's start)")
with open(f"{D}/t2/tune.json") as f:
    rep2 = json.load(f)
check(rep2["ranks"] == 2 and rep2["trials"][-1]["stage"] == "final" and
      os.path.exists(f"{D}/t2/model.h5"), "P=2: the report is complete and the model exported")
# Under mpirun, --ranks must be the job's size.
p = subprocess.run([MPIRUN, "-np", "2", BIN, "tune", "--dataset", f"{D}/d.h5", "--ranks", "3",
                    "--out", f"{D}/t3"], capture_output=True, text=True, timeout=120)
check(p.returncode != 0 and "--ranks 3, but the job has 2 rank(s)" in p.stderr and
      not os.path.exists(f"{D}/t3"), f"--ranks 3 under mpirun -np 2 is refused (rc {p.returncode})")

# A budget that binds: on a larger log the search stops for time, and the
# whole command (final training and export included) still ends within 10 %.
run([BIN, "synth", "--users", 3000, "--items", 1500, "--communities", 8, "--interactions",
     150000, "--seed", 9, "--out", f"{D}/big.tsv"])
run([BIN, "prepare", "--format", "tsv", "--header", "--input", f"{D}/big.tsv", "--seed", 3,
     "--out", f"{D}/big.h5"])
start = time.monotonic()
p = run([BIN, "--log-level", "warn", "tune", "--dataset", f"{D}/big.h5", "--budget", "30s",
         "--out", f"{D}/tb", "--threads", 1, "--json"])
wall = time.monotonic() - start
with open(f"{D}/tb/tune.json") as f:
    big = json.load(f)
check(wall <= 30 * 1.1, f"a binding budget is kept: {wall:.1f} s of 30 s (+10 %)")
check(wall >= 30 * 0.5 and big["trials"][-1]["stage"] == "final",
      f"and used: {wall:.1f} s, {len(big['trials'])} trials, ending with the final run")

# Misuse.
p = run([BIN, "tune", "--dataset", f"{D}/d.h5", "--budget", "ten", "--out", f"{D}/x"], expect=2)
check("--budget" in p.stderr, "a bad --budget is named")
p = run([BIN, "tune", "--dataset", f"{D}/d.h5", "--budget", "1m", "--out", f"{D}/t"], expect=2)
check("--force" in p.stderr, "an earlier tune's folder needs --force")
p = run([BIN, "tune", "--dataset", f"{D}/nope.h5", "--budget", "1m", "--out", f"{D}/y"],
        expect=2)
check("nope.h5" in p.stderr, "a missing dataset is named")

if failures:
    sys.exit(f"{len(failures)} failed: {failures}")
print("all passed")
