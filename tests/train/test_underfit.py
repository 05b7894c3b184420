"""A run that ends still improving says so: the defaults (lr 0.001, a few
epochs) on a small dataset end with the validation metric still rising, and
train warns on stderr, naming train.epochs and train.lr and a recipe, and
keeps the warning in the final record; without evaluations the loss's last
fall is the sign; a run with nothing to compare says nothing."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ["HALOREC_BIN"]
D = tempfile.mkdtemp(prefix="halorec-epochs-")
atexit.register(shutil.rmtree, D, ignore_errors=True)
failures = []


def run(args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"rc {p.returncode}: {' '.join(map(str, args))}\n{p.stdout[-2000:]}\n"
                 f"{p.stderr[-2000:]}")
    return p


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def train(out, *sets):
    cmd = [BIN, "train", "--set", f"data.dataset={D}/d.h5", "--set", f"output.dir={D}/{out}",
           "--set", "train.threads=1"]
    for s in sets:
        cmd += ["--set", s]
    p = run(cmd)
    with open(f"{D}/{out}/metrics.jsonl") as f:
        final = [json.loads(line) for line in f if '"final"' in line][-1]
    return final, p.stderr


run([BIN, "synth", "--users", 300, "--items", 160, "--communities", 5, "--interactions", 7000,
     "--seed", 11, "--out", f"{D}/all.tsv"])
run([BIN, "prepare", "--format", "tsv", "--header", "--input", f"{D}/all.tsv", "--seed", 3,
     "--out", f"{D}/d.h5"])

final, err = train("rising", "data.validation=0.2", "train.epochs=3")
check("may be underfit" in err and "val_recall@20 still rose" in err, "the defaults warn: " + err[-400:])
check("train.epochs (now 3)" in err and "train.lr (now 0.001)" in err and "configs/" in err,
      "naming what to change")
check("still rose" in final.get("underfit", ""), "the final record keeps the warning")

final, err = train("loss", "eval.every=0", "train.epochs=3", "train.lr=0.01", "train.batch_size=256")
check("training loss still fell" in err, "without evaluations the loss says it: " + err[-300:])

final, err = train("one", "eval.every=0", "train.epochs=1")
check("may be underfit" not in err and "underfit" not in final, "one epoch, nothing compared: silent")

if failures:
    sys.exit(f"{len(failures)} failed: {failures}")
print("all passed")
