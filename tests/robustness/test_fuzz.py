"""Fuzzes every file HaloRec reads: dataset.h5, a partition's meta.h5 and
shard, a checkpoint's dense.h5 and rank file, model.h5 and an item feature
file (HDF5), then FAISS indexes (flat, hnsw, ivfpq) and .npy feature files
byte by byte (below). Each dataset and attribute of a valid file is mutated (deleted,
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


def record(target, what, rc, err, trains, must_refuse=False):
    """Counts one run: exit 0 or 2 with a message (3 too for a training run,
    which stops on non-finite values it met), else a problem; an allocation
    the 4 GiB limit refused counts as a crash."""
    c = counts.setdefault(target, {"mutations": 0, "runs": 0, "exit 0": 0, "exit 2": 0,
                                   "crashes": 0})
    c["runs"] += 1
    clean = (0, 2, 3) if trains else (0, 2)
    if rc not in clean or "terminate called" in err or "Exception raised from" in err or \
            "Segmentation" in err or "out of memory" in err or "not enough memory" in err:
        c["crashes"] += 1
        problems.append(f"{target} {what}: exit {rc}\n{err[-1200:]}")
        return
    c[f"exit {rc}"] = c.get(f"exit {rc}", 0) + 1
    if rc == 2 and "error:" not in err:
        problems.append(f"{target} {what}: exit 2 without an error message")
    if verbose and rc == 0:
        print(f"  accepted: {target} {what}")
    if must_refuse and rc == 0:
        problems.append(f"{target} {what}: accepted (exit 0), must be refused")


with ThreadPoolExecutor(max_workers=2) as pool:
    for job, results in pool.map(lambda kj: run_job(*kj), enumerate(jobs)):
        target, _, _, obj, mut_name, must_refuse, _, commands = job
        counts.setdefault(target, {"mutations": 0, "runs": 0, "exit 0": 0, "exit 2": 0,
                                   "crashes": 0})["mutations"] += 1
        for rc, err in results:
            record(target, f"{obj} {mut_name}", rc, err, "train" in commands[0], must_refuse)

# --- Binary formats: FAISS indexes and .npy feature files -------------------
# Every structural field (counts, ids, levels, settings; walked as FAISS 1.7
# writes them) set to -1, 2^31, 2^40 and 0, a few data bytes changed,
# truncations and an appended byte. For
# an index, model.h5's recorded size and digest are updated too (as someone
# who edits both files would): only the structure check stands between the
# bytes and FAISS. Every run is limited to 4 GiB of address space, so an
# allocation a count provoked shows as a failure, not a slow machine.
import hashlib  # noqa: E402
import resource  # noqa: E402
import struct  # noqa: E402


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def run_limited(argv):
    import subprocess
    from robust import ENV
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=120,
                          preexec_fn=limited, errors="replace")


def byte_mutations(data, fields, spread=8):
    """Every structural field (offset, width) set to values that make counts,
    ids and levels lie, a few bytes in the data between, truncations and an
    appended byte."""
    out = []
    for off, width in fields:
        for label, value in (("-1", -1), ("2^31", 1 << 31), ("2^40", 1 << 40), ("0", 0)):
            if width == 4 and abs(value) >= 1 << 31:
                value = (1 << 31) - 1
            if width == 1:
                value = value & 0xff
            d = bytearray(data)
            fmt = {1: "<B", 4: "<i", 8: "<q"}[width]
            struct.pack_into(fmt, d, off, value if width != 1 else value)
            out.append((f"@{off}={label}", bytes(d)))
    for k in range(1, spread + 1):
        d = bytearray(data)
        off = k * len(data) // (spread + 1)
        d[off:off + 4] = b"\xff\xff\xff\x7f"
        out.append((f"data @{off}", bytes(d)))
    for cut in (4, len(data) // 3, len(data) - 1):
        out.append((f"truncated to {cut}", data[:cut]))
    out.append(("a byte appended", data + b"\0"))
    return out


def index_fields(data):
    """(offset, width) of every count, id and setting in a FAISS 1.7 index of
    the kinds HaloRec writes, walked as FAISS writes them."""
    fields, at = [], [0]

    def take(width, n=1):
        start = at[0]
        at[0] += width * n
        return start

    def one(fmt, width):
        off = take(width)
        fields.append((off, width))
        return struct.unpack_from(fmt, data, off)[0]

    def vec(width, keep=2):
        n = one("<Q", 8)
        start = take(width, n)
        for k in range(min(n, keep)):  # the first entries, as counts they hold
            fields.append((start + k * width, width))
        return n, start

    def header():
        one("<i", 4)
        one("<q", 8)
        take(16)
        one("<B", 1)
        one("<i", 4)

    def flat():
        take(4)
        header()
        vec(4, keep=0)

    tag = data[:4]
    if tag == b"IxFI":
        flat()
    elif tag == b"IHNf":
        take(4)
        header()
        vec(8)
        vec(4)
        vec(4, keep=4)
        vec(8, keep=4)
        vec(4, keep=8)
        for _ in range(5):
            one("<i", 4)
        flat()
    elif tag == b"IwPQ":
        take(4)
        header()
        one("<Q", 8)
        one("<Q", 8)
        flat()
        one("<B", 1)
        vec(8, keep=0)
        one("<B", 1)
        one("<Q", 8)
        for _ in range(3):
            one("<Q", 8)
        vec(4, keep=0)
        take(4)
        one("<Q", 8)
        one("<Q", 8)
        fields.append((take(4), 4))  # list type
        n, start = vec(8, keep=3)
    return fields


binary_jobs = []
if not only or __import__("re").search(only, "faiss"):
    # flat and hnsw over the fixture's model; ivfpq needs >= 256 items.
    run([BIN, "synth", "--users", "300", "--items", "400", "--interactions", "9000",
         "--communities", "4", "--seed", "4", "--out", fx.p("big.h5")], check=0)
    run([BIN, "train", "--set", f"data.dataset={fx.p('big.h5')}", "--set", "train.epochs=1",
         "--set", "model.dim=16", "--set", "train.threads=1", "--set",
         f"output.dir={fx.p('run_big')}"], check=0)
    for kind, params, ckpt in (("flat", "", fx.p("run", "checkpoints")),
                               ("hnsw", "m=8,ef_construction=40", fx.p("run", "checkpoints")),
                               ("ivfpq", "nlist=4,pq_m=4,nprobe=2", fx.p("run_big", "checkpoints"))):
        model = fx.p(f"ix_{kind}.h5")
        run([BIN, "export", "--checkpoint", ckpt, "--out", model, "--index", kind,
             *(["--index-params", params] if params else [])], check=0)
        with h5py.File(model) as h:
            index = os.path.join(W, h.attrs["index_file"])
            user = h["users/original_id"][0].decode()
        data = open(index, "rb").read()
        for label, mutated in byte_mutations(data, index_fields(data))[::sample]:
            binary_jobs.append((f"faiss {kind}", model, index, user, label, mutated))
if not only or __import__("re").search(only, "npy"):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 4), }" % len(items)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    npy = (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() +
           np.random.default_rng(2).normal(size=(len(items), 4)).astype("<f4").tobytes())
    with open(fx.p("feat.ids"), "w") as out:
        out.write("".join(f"{i}\n" for i in items))
    muts = byte_mutations(npy, [(6, 1), (8, 1), (9, 1)], spread=4)
    # Header text with other shapes and types, as hand-edited files have.
    for text in ("(%d, 4, 1)" % len(items), "(%d,)" % len(items), "(-1, 4)", "(%d, 0)" % len(items),
                 "(%d, 99999999)" % len(items), "(%d, 4" % len(items), "((1, 2), 4)"):
        h = header.replace("(%d, 4)" % len(items), text)
        h = h[: len(header) - 1].ljust(len(header) - 1) + "\n"
        muts.append((f"shape {text}", npy[:10] + h.encode() + npy[10 + len(header):]))
    for descr in ("'<i4'", "'>f4'", "'|O'", "'<f2'"):
        h = header.replace("'<f4'", descr)
        muts.append((f"descr {descr}", npy[:10] + h.encode() + npy[10 + len(header):]))
    for label, mutated in muts[::sample]:
        binary_jobs.append(("npy features", None, None, None, label, mutated))


print(f"{len(binary_jobs)} byte-level mutations of FAISS and .npy files", flush=True)


def run_binary(k, job):
    target, model, index, user, label, mutated = job
    if target.startswith("faiss"):
        folder = os.path.join(MUT, f"b{k}")
        os.makedirs(folder)
        m = shutil.copy2(model, folder)
        name = os.path.basename(index)
        with open(os.path.join(folder, name), "wb") as out:
            out.write(mutated)
        with h5py.File(m, "r+") as h:
            h.attrs["index_bytes"] = np.int64(len(mutated))
            h.attrs["index_sha256"] = hashlib.sha256(mutated).hexdigest()
        p = run_limited([BIN, "recommend", "--model", m, "--user", user, "--k", "5", "--index"])
    else:
        folder = os.path.join(MUT, f"b{k}")
        os.makedirs(folder)
        path = os.path.join(folder, "feat.npy")
        with open(path, "wb") as out:
            out.write(mutated)
        shutil.copy2(fx.p("feat.ids"), os.path.join(folder, "feat.ids"))
        p = run_limited(TRAIN1 + ["--set", f"data.item_features={path}", "--set",
                                  f"output.dir={os.path.join(folder, 'run')}"])
    shutil.rmtree(folder, ignore_errors=True)
    return job, p.returncode, p.stderr


with ThreadPoolExecutor(max_workers=2) as pool:
    for job, rc, err in pool.map(lambda kj: run_binary(*kj), enumerate(binary_jobs)):
        target, _, _, _, label, _ = job
        counts.setdefault(target, {"mutations": 0, "runs": 0, "exit 0": 0, "exit 2": 0,
                                   "crashes": 0})["mutations"] += 1
        record(target, label, rc, err, target == "npy features")

print(f"{'file':<22}{'mutations':>10}{'runs':>7}{'exit 0':>8}{'exit 2':>8}{'crashes':>9}")
for target, c in counts.items():
    print(f"{target:<22}{c['mutations']:>10}{c['runs']:>7}{c['exit 0']:>8}{c['exit 2']:>8}"
          f"{c['crashes']:>9}")
total = {k: sum(c[k] for c in counts.values()) for k in ("mutations", "runs", "crashes")}
print(f"{'all':<22}{total['mutations']:>10}{total['runs']:>7}{'':>16}{total['crashes']:>9}")
fx.close()
if problems:
    sys.exit("\n".join(["FAILED:"] + problems))
