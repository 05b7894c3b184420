"""Checkpoints under real mpirun: exact resume on P=2, reshard 4->2 and 2->3,
a crash between shard writes and the commit marker, bad checkpoints, and the
export read back from h5py, scored to the same top-K as `recommend` and as a
brute-force top-K."""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC", "mpirun")
D = tempfile.mkdtemp(prefix="halorec-ckpt-")
DS = os.path.join(D, "d.h5")
COMMON = ["--set", f"data.dataset={DS}", "--set", "train.batch_size=256", "--set",
          "train.epochs=4", "--set", "train.lr=0.01", "--set", "train.threads=1",
          "--set", "eval.topk=[10,20]"]


def run(args, expect=0, env=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    if expect is not None and p.returncode != expect:
        sys.exit(f"rc {p.returncode} != {expect}: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


def train(P, out, *extra, expect=0, env=None):
    return run([MPIRUN, "-np", str(P), "--oversubscribe", BIN, "train", *COMMON,
                "--set", f"output.dir={out}", *extra], expect=expect, env=env)


def losses(out):
    with open(os.path.join(out, "steps.csv")) as f:
        return [r["loss"] for r in csv.DictReader(f)]


def metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [{k: v for k, v in r.items()
             if not any(w in k for w in ("second", "_ms", "rss", "sampled"))} for r in rows]


def final(out):
    return metrics(out)[-1]


def close(a, b, tol):
    keys = [k for k in a if "@" in k]
    assert keys, a
    return max(abs(a[k] - b[k]) for k in keys) <= tol


try:
    run([BIN, "synth", "--users", "400", "--items", "300", "--interactions", "12000",
         "--communities", "6", "--seed", "11", "--out", DS])
    # Uninterrupted reference.
    ref2 = os.path.join(D, "ref2")
    train(2, ref2)
    steps = len(losses(ref2))
    spe = steps // 4  # steps per epoch
    assert spe * 4 == steps and spe > 4, steps

    # 1. Exact resume on P=2: stop mid-epoch, resume.
    b = os.path.join(D, "b")
    train(2, b, "--set", f"train.max_steps={2 * spe + spe // 2}")
    train(2, b, "--resume", "latest")
    assert losses(b) == losses(ref2), "resumed losses differ"
    assert metrics(b) == metrics(ref2), "resumed metrics differ"
    print("resume on P=2: all", steps, "step losses and metrics identical")

    # 1b. The same in minibatch mode: sampled neighbourhoods are keyed by the
    # global step and the lazy Adam moments are checkpointed whole.
    mb = ["--set", "train.propagation=minibatch", "--set", "train.fanouts=[4,2,3]"]
    ref_mb, b_mb = os.path.join(D, "ref-mb"), os.path.join(D, "b-mb")
    train(2, ref_mb, *mb)
    train(2, b_mb, *mb, "--set", f"train.max_steps={spe + spe // 2}")
    train(2, b_mb, *mb, "--resume", "latest")
    assert losses(b_mb) == losses(ref_mb), "minibatch: resumed losses differ"
    assert metrics(b_mb) == metrics(ref_mb), "minibatch: resumed metrics differ"
    with open(os.path.join(ref_mb, "metrics.jsonl")) as f:
        first = json.loads(f.readline())
    assert first["sampled_nodes"] > 0 and first["sampled_edges"] > 0, first
    print("minibatch resume on P=2: losses and metrics identical")

    # 2. Reshard 4 -> 2 and 2 -> 3 (new partitions are made on the fly).
    for p_from, p_to in ((4, 2), (2, 3)):
        out = os.path.join(D, f"reshard-{p_from}-{p_to}")
        train(p_from, out, "--set", f"train.max_steps={spe + 3}")
        train(p_to, out, "--resume", "latest")
        assert len(losses(out)) == steps
        worst = max(abs(float(x) - float(y)) / abs(float(y))
                    for x, y in zip(losses(out), losses(ref2)))
        assert close(final(out), final(ref2), 1e-4), (final(out), final(ref2))
        print(f"reshard {p_from}->{p_to}: max relative loss difference {worst:.1e}, "
              f"final recall@20 {final(out)['recall@20']:.5f} vs {final(ref2)['recall@20']:.5f}")

    # 3. A rank dies between its shard write and the commit marker of the
    #    checkpoint at the end of epoch 2; the one of epoch 1 survives.
    c = os.path.join(D, "crash")
    p = train(2, c, expect=None, env={"HALOREC_TEST_CRASH_IN_CHECKPOINT": str(2 * spe)})
    assert p.returncode != 0, "the crash should fail the job"
    ck = os.path.join(c, "checkpoints")
    assert os.path.exists(os.path.join(ck, f"step-{spe:010d}", "COMMITTED"))
    assert not os.path.exists(os.path.join(ck, f"step-{2 * spe:010d}", "COMMITTED"))
    train(2, c, "--resume", "latest")
    assert losses(c) == losses(ref2) and metrics(c) == metrics(ref2)
    print("crash before the marker: previous checkpoint loaded, resumed run identical")

    # 3b. A scheduler's signal (SIGUSR1, as Slurm's --signal=USR1@120): the
    #     run checkpoints after the current step and stops; resuming finishes
    #     the run with the same losses (P=1 here, so up to reassociation).
    import signal
    import time
    sig = os.path.join(D, "signal")
    proc = subprocess.Popen([BIN, "train", *COMMON, "--set", f"output.dir={sig}",
                             "--set", "checkpoint.every=0", "--set", "train.epochs=40"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    steps_csv = os.path.join(sig, "steps.csv")
    deadline = time.time() + 60
    while time.time() < deadline:
        if os.path.exists(steps_csv) and sum(1 for _ in open(steps_csv)) > 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 75, (proc.returncode, err)  # stopped, resumable (docs/errors.md)
    assert "stopped by a signal" in err, err
    done = len(losses(sig))
    assert os.path.exists(os.path.join(sig, "checkpoints", f"step-{done:010d}", "COMMITTED"))
    train(1, sig, "--set", "checkpoint.every=0", "--resume", "latest")
    got = [float(x) for x in losses(sig)]
    want = [float(x) for x in losses(ref2)]
    assert len(got) == len(want) and done < len(want), (done, len(got))
    assert max(abs(a - b) / abs(b) for a, b in zip(got, want)) < 1e-5
    print(f"SIGUSR1 after step {done}: checkpointed, stopped, resumed to the same losses")

    # 3c. The signal placed exactly (HALOREC_TEST_SIGNAL_AT_STEP: rank 0 raises
    #     SIGUSR1 in that step) on P=2: in an epoch's last step, where the
    #     epoch closes first, and mid-epoch. Both say so before the checkpoint
    #     (a launcher's kill-on-bad-exit may cut later lines), commit that
    #     step, exit 75, and resume to the uninterrupted run's numbers.
    for at in (spe, spe + 3):
        out = os.path.join(D, f"signal-at-{at}")
        p = train(2, out, expect=75, env={"HALOREC_TEST_SIGNAL_AT_STEP": str(at)})
        assert f"stopped by a signal after step {at}:" in p.stderr, p.stderr
        assert os.path.exists(os.path.join(out, "checkpoints", f"step-{at:010d}", "COMMITTED"))
        assert len(losses(out)) == at, (at, len(losses(out)))
        train(2, out, "--resume", "latest")
        assert losses(out) == losses(ref2) and metrics(out) == metrics(ref2), at
    print(f"SIGUSR1 in step {spe} (an epoch's last) and {spe + 3}: said, committed, exit 75, "
          f"resumed identical")

    # 4. Bad checkpoints: clear errors, exit 2, naming the file.
    latest = sorted(x for x in os.listdir(os.path.join(ref2, "checkpoints")))[-1]
    good = os.path.join(ref2, "checkpoints", latest)
    bad = os.path.join(D, "bad", "step-1")
    shutil.copytree(good, bad)
    with open(os.path.join(bad, "rank-00001.h5"), "r+b") as f:
        f.truncate(1000)
    p = train(2, os.path.join(D, "bad-run"), "--resume", bad, expect=None)
    assert p.returncode != 0 and "rank-00001.h5" in p.stderr, p.stderr
    shutil.rmtree(bad)
    shutil.copytree(good, bad)
    with h5py.File(os.path.join(bad, "dense.h5"), "r+") as f:
        f.attrs["format_version"] = np.int64(99)
    p = train(2, os.path.join(D, "bad-run2"), "--resume", bad, expect=None)
    assert p.returncode != 0 and "format_version 99" in p.stderr, p.stderr
    other = os.path.join(D, "other.h5")
    run([BIN, "synth", "--users", "400", "--items", "300", "--interactions", "12001",
         "--communities", "6", "--seed", "11", "--out", other])
    p = run([MPIRUN, "-np", "2", "--oversubscribe", BIN, "train", *COMMON,
             "--set", f"data.dataset={other}", "--set", f"output.dir={D}/bad-run3",
             "--resume", good], expect=None)
    assert p.returncode != 0 and "another dataset" in p.stderr, p.stderr
    p = run([BIN, "export", "--checkpoint", os.path.join(D, "nothing"), "--out",
             os.path.join(D, "x.h5")], expect=2)
    print("bad checkpoints: truncated file, wrong version, other dataset, none: clear errors")

    # 5. Export read back in h5py; scored top-K equals recommend and brute force.
    model = os.path.join(D, "model.h5")
    e = json.loads(run([BIN, "export", "--checkpoint", os.path.join(ref2, "checkpoints"),
                        "--out", model, "--json"]).stdout)
    with h5py.File(model, "r") as f:
        users = f["users/original_id"][:].astype(str)
        items = f["items/original_id"][:].astype(str)
        U, I = f["users/vector"][:], f["items/vector"][:]
        assert f.attrs["format"] == "halorec.model"
    with h5py.File(DS, "r") as f:
        tu, ti = f["train/user"][:], f["train/item"][:]
    k = 10
    for who in ("u7", "u123", "u300"):
        u = int(np.where(users == who)[0][0])
        scores = I @ U[u]
        scores[ti[tu == u]] = -np.inf
        brute = [items[i] for i in np.argsort(-scores, kind="stable")[:k]]
        rec = json.loads(run([BIN, "recommend", "--model", model, "--user", who, "--k", str(k),
                              "--exclude-seen", DS, "--json"]).stdout)
        got = [x["item"] for x in rec["recommendations"][0]["items"]]
        assert got == brute, (who, got, brute)
    ev = json.loads(run([BIN, "evaluate", "--model", model, "--dataset", DS, "--k", "10",
                         "--k", "20", "--json"]).stdout)
    assert close(ev, final(ref2), 1e-9), (ev, final(ref2))
    p = run([BIN, "recommend", "--model", model, "--user", "nobody"], expect=2)
    assert "nobody" in p.stderr
    print(f"export {e['bytes']} bytes; recommend == brute force == h5py scoring; "
          "evaluate == training's final metrics")
finally:
    shutil.rmtree(D, ignore_errors=True)
print("ok")
