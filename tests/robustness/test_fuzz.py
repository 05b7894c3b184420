"""Fuzzes every HDF5 file HaloRec reads: dataset.h5, a partition's meta.h5 and
shard, a checkpoint's dense.h5 and rank file, model.h5 and an item feature
file. Each dataset and attribute of a valid file is mutated (deleted,
truncated, retyped, reshaped, given out-of-range values or NaN) in a copy,
and the command that reads that kind of file runs on it. Every run must end
with exit 0 (a harmless change) or exit 2 with an error message: never a
crash, a stack trace or exit 1. Mutations that break the file for certain
(a deleted dataset, a wrong type class or rank, NaN in a float array) must
be refused (exit 2).

HALOREC_FUZZ_SAMPLE=N runs every Nth mutation only (for a quick look);
HALOREC_FUZZ_ONLY=REGEX only the targets it matches; HALOREC_FUZZ_VERBOSE=1
lists every mutation a command accepted (exit 0)."""
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robust import BIN, Fixture, run  # noqa: E402

fx = Fixture()
W = fx.root
MUT = os.path.join(W, "mut")
os.makedirs(MUT)
step = fx.checkpoints[-1]

# Item features for the feature-file target (every item, 4 floats).
with h5py.File(fx.p("d.h5")) as h:
    items = [x.decode() for x in h["items/original_id"][:]]
with h5py.File(fx.p("feat.h5"), "w") as h:
    h["ids"] = np.array(items, dtype=h5py.string_dtype())
    h["vectors"] = np.random.default_rng(1).normal(size=(len(items), 4)).astype(np.float32)

TRAIN1 = [BIN, "train", *fx.common, "--set", "train.max_steps=1", "--set", "eval.every=0"]

# What each target is, where its valid original is, and the command that
# reads it ({M}: the mutated copy, or the folder holding it; {O}: a fresh
# output path).
TARGETS = {
    "dataset.h5": (fx.p("d.h5"), "file",
                   [[BIN, "evaluate", "--model", fx.p("model.h5"), "--dataset", "{M}"]]),
    "parts/meta.h5": (fx.p("run", "parts"), "folder:meta.h5",
                      [TRAIN1 + ["--set", "data.parts={M}", "--set", "output.dir={O}"]]),
    "parts/shard": (fx.p("run", "parts"), "folder:rank-00000.h5",
                    [TRAIN1 + ["--set", "data.parts={M}", "--set", "output.dir={O}"]]),
    "checkpoint dense.h5": (fx.p("run", "checkpoints", step), "folder:dense.h5",
                            [TRAIN1 + ["--set", "output.dir={O}", "--resume", "{M}"]]),
    "checkpoint rank file": (fx.p("run", "checkpoints", step), "folder:rank-00000.h5",
                             [[BIN, "export", "--checkpoint", "{M}", "--out", "{O}.h5"]]),
    "model.h5": (fx.p("model.h5"), "file",
                 [[BIN, "recommend", "--model", "{M}", "--user", fx.user, "--strategy", "multi",
                   "--exclude-seen", fx.p("d.h5"), "--explain", "2"]]),
    "item features": (fx.p("feat.h5"), "file",
                      [TRAIN1 + ["--set", "data.item_features={M}", "--set", "output.dir={O}"]]),
}


def objects(path):
    """(kind, name, dtype kind, shape) of every dataset and attribute."""
    out = []
    with h5py.File(path) as h:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out.append(("dataset", name, obj.dtype.kind, obj.shape))
            for a in obj.attrs:
                v = obj.attrs[a]
                kind = "S" if isinstance(v, (bytes, str)) else np.asarray(v).dtype.kind
                out.append(("attr", f"{name}@{a}" if name else f"@{a}", kind, ()))
        for a in h.attrs:
            v = h.attrs[a]
            out.append(("attr", f"@{a}", "S" if isinstance(v, (bytes, str))
                        else np.asarray(v).dtype.kind, ()))
        h.visititems(visit)
    return out


def mutations(target, obj):
    """(name, must_refuse, function(h5 file)) for one dataset or attribute."""
    kind, name, dk, shape = obj
    muts = []
    if kind == "dataset":
        def redo(fn):
            def f(h):
                data = h[name][()]
                del h[name]
                h[name] = fn(data)
            return f
        muts.append(("delete", True, lambda h: h.__delitem__(name)))
        if shape and shape[0] > 1:
            muts.append(("truncate", False, redo(lambda d: d[: len(d) // 2])))
        if dk in "iu":
            muts.append(("as float", True, redo(lambda d: d.astype(np.float64) + 0.5)))
            if shape and shape[0] > 0:
                muts.append(("value -1", False, redo(lambda d: _set(d, -1))))
                muts.append(("reversed", False, redo(lambda d: d[::-1].copy())))
        if dk == "f":
            muts.append(("as int", True, redo(lambda d: d.astype(np.int32))))
            if shape and np.prod(shape) > 0:
                muts.append(("NaN", True, redo(lambda d: _set(d, np.nan))))
        if dk in "OSU":
            # Feature ids may be integers (docs/formats.md): not a type error there.
            muts.append(("as int", target != "item features",
                         redo(lambda d: np.arange(len(d), dtype=np.int64))))
            if shape and shape[0] > 0:
                muts.append(("duplicate", False, redo(lambda d: _dup(d))))
        if dk in "iuf" and len(shape) == 1:
            muts.append(("as 2-D", True, redo(lambda d: d.reshape(-1, 1))))
        if dk in "iuf" and len(shape) == 2:
            muts.append(("as 1-D", True, redo(lambda d: d.reshape(-1))))
    else:
        where, attr = name.split("@")

        def setattr_(value):
            def f(h):
                (h[where] if where else h).attrs[attr] = value
            return f
        muts.append(("delete", False,
                     lambda h: (h[where] if where else h).attrs.__delitem__(attr)))
        if dk in "iu":
            muts.append(("as string", False, setattr_("x")))
            muts.append(("-1", False, setattr_(np.int64(-1))))
            muts.append(("2^40", False, setattr_(np.int64(2 ** 40))))
        elif dk == "f":
            muts.append(("as string", False, setattr_("x")))
            muts.append(("NaN", False, setattr_(np.float64(np.nan))))
        else:
            muts.append(("as int", False, setattr_(np.int64(7))))
            muts.append(("garbage", False, setattr_("{not: [valid")))
    return muts


def _set(d, v):
    d = d.copy()
    d.flat[len(d.flat) // 2] = v
    return d



def _dup(d):
    d = d.copy()
    d[-1] = d[0]
    return d


jobs = []
# Arrays read by the same code as a sibling already fuzzed: test/* (as
# train/*), adam_m and adam_v (as embedding).
MIRRORED = ("test/", "adam_m", "adam_v")
for target, (orig, shape, commands) in TARGETS.items():
    inner = shape.split(":")[1] if shape.startswith("folder:") else None
    file_path = os.path.join(orig, inner) if inner else orig
    for obj in objects(file_path):
        if obj[1].startswith(MIRRORED):
            continue
        for mut_name, must_refuse, fn in mutations(target, obj):
            jobs.append((target, orig, inner, obj[1], mut_name, must_refuse, fn, commands))
sample = int(os.environ.get("HALOREC_FUZZ_SAMPLE", "1"))
only = os.environ.get("HALOREC_FUZZ_ONLY")
jobs = [j for j in jobs if not only or __import__("re").search(only, j[0])][::sample]
verbose = os.environ.get("HALOREC_FUZZ_VERBOSE") == "1"


def run_job(k, job):
    target, orig, inner, obj, mut_name, must_refuse, fn, commands = job
    where = os.path.join(MUT, f"m{k}")
    if inner:
        shutil.copytree(orig, where)
        path = os.path.join(where, inner)
    else:
        where += ".h5"
        shutil.copy2(orig, where)
        path = where
    with h5py.File(path, "r+") as h:
        fn(h)
    results = []
    for n, cmd in enumerate(commands):
        out = os.path.join(MUT, f"o{k}-{n}")
        argv = [a.replace("{M}", where).replace("{O}", out) for a in cmd]
        p = run(argv, timeout=120)
        results.append((p.returncode, p.stderr))
    shutil.rmtree(where, ignore_errors=True) if inner else os.remove(where)
    return job, results


problems, counts = [], {}
with ThreadPoolExecutor(max_workers=2) as pool:
    for job, results in pool.map(lambda kj: run_job(*kj), enumerate(jobs)):
        target, _, _, obj, mut_name, must_refuse, _, _ = job
        c = counts.setdefault(target, {"mutations": 0, "runs": 0, "exit 0": 0, "exit 2": 0,
                                       "crashes": 0})
        c["mutations"] += 1
        for rc, err in results:
            c["runs"] += 1
            # Exit 3: training stopped on non-finite values it met (extreme but
            # finite inputs), a documented clean end.
            clean = (0, 2, 3) if "train" in job[7][0] else (0, 2)
            crashed = rc not in clean or "terminate called" in err or \
                "Exception raised from" in err or "Segmentation" in err
            if crashed:
                c["crashes"] += 1
                problems.append(f"{target} {obj} {mut_name}: exit {rc}\n{err[-1200:]}")
                continue
            c[f"exit {rc}"] = c.get(f"exit {rc}", 0) + 1
            if rc == 2 and "error:" not in err:
                problems.append(f"{target} {obj} {mut_name}: exit 2 without an error message")
            if verbose and rc == 0:
                print(f"  accepted: {target} {obj} {mut_name}")
            if must_refuse and rc == 0:
                problems.append(f"{target} {obj} {mut_name}: accepted (exit 0), must be refused")

print(f"{'file':<22}{'mutations':>10}{'runs':>7}{'exit 0':>8}{'exit 2':>8}{'crashes':>9}")
for target, c in counts.items():
    print(f"{target:<22}{c['mutations']:>10}{c['runs']:>7}{c['exit 0']:>8}{c['exit 2']:>8}"
          f"{c['crashes']:>9}")
total = {k: sum(c[k] for c in counts.values()) for k in ("mutations", "runs", "crashes")}
print(f"{'all':<22}{total['mutations']:>10}{total['runs']:>7}{'':>16}{total['crashes']:>9}")
fx.close()
if problems:
    sys.exit("\n".join(["FAILED:"] + problems))
