"""Every command in README.md and docs/*.md, run as written (issue 40).

The commands are taken from the ```bash blocks of the docs, in order, one
scratch folder per document. The folder looks like a checkout: configs/,
launch/, tools/, bench/ and build/ are links to this one, and ../shared/data
holds small files shaped like the real ones (Gowalla's LightGCN lines,
LastFM's 'user item count' records), so that a command's paths resolve as
written. The placeholders the docs use (C.yaml, my.yaml, events.csv,
day0.csv, users.txt, ...) are fixture files.

What is changed, in concrete(): `train` gets `--set train.epochs=2` (the
recipes run for an hour) and, unless it resumes, `--force` (recipes in one
document share output folders), `tune --budget` is cut to seconds, and
optional parts of a synopsis (`[--max 5]`, `a|b|c`) are dropped or take their
first choice. A document that starts from a dataset or model it does not make
gets it from make_inputs().

Each command either runs (exit 0 required), or is checked (the command line
under HALOREC_CHECK_ARGS=1: the parse, a configuration and its --set keys,
where running it needs a GPU, Slurm, hours or gigabytes), or is skipped with
the reason in PLAN. A command the plan does not name runs. A plan entry that
matches no documented command fails the test: the plan cannot go stale.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("HALOREC_BIN", os.path.join(REPO, "build/bin/halorec")))
DOCS = ["README.md"] + sorted(
    os.path.join("docs", f) for f in os.listdir(os.path.join(REPO, "docs")) if f.endswith(".md"))

# (document, start of the command) -> ("check" | "skip", why). Matched on the
# command's text after its document, first match wins.
PLAN = [
    ("README.md", "./launch/quickstart.sh", "skip", "the quickstart itself: test launch_quickstart"),
    ("README.md", "./tests/run.sh", "skip", "the test suite itself: CI runs it"),
    ("README.md", "launch/halorec-run -np 2 train --config configs/quickstart.yaml", "skip",
     "needs the quickstart's dataset: test launch_quickstart runs the quickstart"),
    ("README.md", "sbatch ", "skip", "Slurm: tests/launch (a real Slurm in CI)"),
    ("README.md", "build/bin/halorec synth --users 100000", "check", "5M interactions"),
    ("README.md", "build/bin/halorec synth ...", "skip", "synopsis ('...')"),
    ("README.md", "bench/ann.py", "skip", "a benchmark on Gowalla: tests/bench"),
    ("docs/benchmarks.md", "/usr/bin/time -v build/bin/halorec synth", "check", "10M interactions"),
    ("docs/benchmarks.md", "/usr/bin/time -v build/bin/halorec prepare --format tsv --input s10m",
     "check", "the 10M log above"),
    ("docs/benchmarks.md", "/usr/bin/time -v build/bin/halorec partition --dataset s20m", "check",
     "a 20M dataset"),
    ("docs/gpu.md", "", "skip", "a GPU machine: tools/device/gpu-check.sh, docs/gpu.md"),
    ("docs/launch.md", "sbatch ", "skip", "Slurm: tests/launch (a real Slurm in CI)"),
    ("docs/launch.md", "launch/halorec-run -np 8 --hostfile", "skip",
     "several nodes: ctest -L multinode"),
]

# What the fixture changes in a command, in order (pattern, replacement).
FIXTURE_CHANGES = [
    (r"--budget \S+", "--budget 20s"),
]


def commands(doc):
    """(line, command) for each command of the ```bash blocks of `doc`."""
    out = []
    lines = open(os.path.join(REPO, doc), encoding="utf-8").read().split("\n")
    in_block, lang, buf, start = False, "", "", 0
    for n, line in enumerate(lines, 1):
        if line.startswith("```"):
            in_block, lang = (not in_block), line[3:].strip()
            continue
        if not in_block or lang not in ("bash", "sh"):
            continue
        text = line.strip()
        if not buf:
            start = n
        buf = f"{buf} {text}".strip() if buf else text
        if buf.endswith("\\"):
            buf = buf[:-1].rstrip()
            continue
        cmd, buf = strip_comment(buf), ""
        if cmd:
            out.append((start, cmd))
    return out


def strip_comment(cmd):
    """The command without a trailing '# ...' (not inside quotes)."""
    quote = None
    for k, c in enumerate(cmd):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or cmd[k - 1] == " "):
            return cmd[:k].strip()
    return cmd.strip()


def concrete(cmd):
    """A synopsis made runnable: optional [...] parts dropped, a|b|c -> a."""
    while True:
        stripped = re.sub(r"\s*\[[^\[\]]*\]", "", cmd)
        if stripped == cmd:
            break
        cmd = stripped
    cmd = re.sub(r"(?<=[\s=])([\w.-]+)(\|[\w.-]+)+(?=\s|$)", r"\1", cmd)
    for pattern, repl in FIXTURE_CHANGES:
        cmd = re.sub(pattern, repl, cmd)
    extra = "" if "train.epochs" in cmd else " --set train.epochs=2"
    if "--resume" not in cmd and "--init-from" not in cmd and "--force" not in cmd:
        extra += " --force"  # the docs' recipes share output folders
    if extra:
        # Right after the subcommand.
        cmd = re.sub(r"(halorec(-run)?\s+(\S+\s+)*?)train(?=\s|$)", r"\1train" + extra, cmd,
                     count=1)
    return cmd


def plan_of(doc, cmd):
    for k, (d, prefix, what, why) in enumerate(PLAN):
        if d == doc and cmd.startswith(prefix):
            return k, what, why
    return None, "run", ""


def check_args_line(cmd):
    """The halorec part of a command for HALOREC_CHECK_ARGS (no time, no mpirun)."""
    cmd = re.sub(r"^/usr/bin/time -v\s+", "", cmd)
    cmd = re.sub(r"^mpirun(\s+-np\s+\d+)?\s+", "", cmd)
    return cmd


# ---------------------------------------------------------------- fixture

def write_fixture(root):
    rng = np.random.default_rng(40)
    shared = os.path.join(root, "shared", "data")
    work = os.path.join(root, "work")
    os.makedirs(os.path.join(shared, "gowalla"))
    os.makedirs(os.path.join(shared, "lastfm"))
    os.makedirs(os.path.join(work, "data"))
    for name in ("configs", "launch", "tools", "bench", "scripts"):
        os.symlink(os.path.join(REPO, name), os.path.join(work, name))
    os.makedirs(os.path.join(work, "build", "bin"))
    os.symlink(BIN, os.path.join(work, "build", "bin", "halorec"))

    # Gowalla-shaped: 'user item item ...' lines, users 0..299 in 3
    # communities of 400 items (over 256 items: ivfpq trains on them); test
    # items are items some user has in train.
    users = 300
    train, test = {}, {}
    for u in range(users):
        c = u % 3
        train[u] = sorted(rng.choice(np.arange(c * 400, (c + 1) * 400), size=15,
                                     replace=False).tolist())
    seen = sorted({i for rows in train.values() for i in rows})
    for u in range(users):
        c = u % 3
        pool = [i for i in seen if c * 400 <= i < (c + 1) * 400 and i not in train[u]]
        test[u] = sorted(rng.choice(pool, size=3, replace=False).tolist())
    for name, rows in (("train.txt", train), ("test.txt", test)):
        with open(os.path.join(shared, "gowalla", name), "w") as f:
            for u in range(users):
                f.write(" ".join(map(str, [u] + rows[u])) + "\n")
    # LastFM-shaped: 'user<TAB>item<TAB>count', counts up to the thousands.
    with open(os.path.join(shared, "lastfm", "data1.txt"), "w") as f1, \
            open(os.path.join(shared, "lastfm", "test1.txt"), "w") as f2:
        for u in range(users):
            for i in train[u]:
                f1.write(f"{u}\t{i}\t{int(rng.integers(1, 3000))}\n")
            for i in test[u]:
                f2.write(f"{u}\t{i}\t{int(rng.integers(1, 3000))}\n")
    with open(os.path.join(shared, "lastfm", "trustnetwork.txt"), "w") as f:
        for u in range(users):
            for v in rng.choice(users, size=3, replace=False):
                if v != u:
                    f.write(f"{u}\t{v}\n")

    # LastFM-hetrec-shaped (docs/features.md): plays with a header, artist
    # names (one with quotes, as the release has), (user, artist, tag) records.
    hetrec = os.path.join(shared, "lastfm-hetrec")
    os.makedirs(hetrec)
    with open(os.path.join(hetrec, "user_artists.dat"), "w") as f:
        f.write("userID\tartistID\tweight\n")
        for u in range(users):
            for i in train[u] + test[u]:
                f.write(f"{u}\t{i}\t{int(rng.integers(1, 3000))}\n")
    with open(os.path.join(hetrec, "artists.dat"), "w") as f:
        f.write("id\tname\turl\tpictureURL\n")
        for i in range(1200):
            quoted = '"Weird" ' if i == 7 else ""
            f.write(f"{i}\t{quoted}Artist {i}\thttp://x/{i}\t\n")
    with open(os.path.join(hetrec, "user_taggedartists.dat"), "w") as f:
        f.write("userID\tartistID\ttagID\tday\tmonth\tyear\n")
        for i in range(1200):
            for tag in (i // 400, 3 + i % 7, 10 + i % 13):
                f.write(f"{i % users}\t{i}\t{tag}\t1\t1\t2009\n")

    # events.csv: string ids, times, behaviors.
    with open(os.path.join(work, "events.csv"), "w") as f:
        f.write("customer_id,sku,event_time,event_type\n")
        t = 1_700_000_000
        for u in range(users):
            for i in train[u] + test[u]:
                t += int(rng.integers(1, 100))
                kind = ("view", "cart", "buy")[int(rng.integers(0, 3))]
                f.write(f"c{u},sku{i},{t},{kind}\n")
    # day0.csv / day1.csv (docs/living.md): u.. and i.. ids; day1 adds users and items.
    t = 1_700_000_000
    for name, us, n_items in (("day0.csv", range(0, 200), 1000), ("day1.csv", range(150, 260), 1100)):
        with open(os.path.join(work, name), "w") as f:
            f.write("user,item,time\n")
            for u in us:
                c = u % 4
                for i in rng.choice(np.arange(c, n_items, 4), size=20, replace=False):
                    t += 1
                    f.write(f"u{u},i{i},{t}\n")
    for i in (17, 4, 902):  # the items docs/living.md folds in
        with open(os.path.join(work, "day0.csv"), "a") as f:
            for u in range(4, 8):
                t += 1
                f.write(f"u{u},i{i},{t}\n")
    with open(os.path.join(work, "data", "follows.tsv"), "w") as f:
        for u in range(260):
            for v in rng.choice(260, size=2, replace=False):
                if v != u:
                    f.write(f"u{u}\tu{v}\n")
    with open(os.path.join(work, "new_users.txt"), "w") as f:
        f.write("alice i17 i4 i902\nbob i4 i8\n")
    with open(os.path.join(work, "users.txt"), "w") as f:
        f.write("42\n7\n13\n")
    # The docs' placeholder configurations.
    with open(os.path.join(work, "C.yaml"), "w") as f:
        f.write("data:\n  dataset: gowalla.h5\nmodel:\n  type: lightgcn\n  dim: 16\n  layers: 2\n"
                "train:\n  epochs: 2\n  batch_size: 512\noutput:\n  dir: runs/x\n")
    with open(os.path.join(work, "my.yaml"), "w") as f:
        f.write("data:\n  dataset: data/d0.h5\nmodel:\n  type: lightgcn\n  dim: 16\n  layers: 2\n"
                "train:\n  epochs: 2\n  batch_size: 512\n")
    return work


def hr(work, env, *args):
    p = subprocess.run([BIN, *map(str, args)], cwd=work, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, (args, p.stderr[-2000:])


def make_inputs(doc, work, env):
    """What a document takes as already there (it says so in its text): the
    datasets and models its commands name, made from the fixture files."""
    gowalla = ["prepare", "--format", "lightgcn", "--train", "../shared/data/gowalla/train.txt",
               "--test", "../shared/data/gowalla/test.txt"]
    if doc == "docs/baselines.md":
        hr(work, env, *gowalla, "--out", "gowalla.h5")
        hr(work, env, *gowalla, "--out", "d.h5")
        hr(work, env, "partition", "--dataset", "d.h5", "--parts", "4", "--out", "parts")
    if doc == "docs/interests.md":
        # A model with the u.. ids the examples use, exported with --interests.
        hr(work, env, "prepare", "--format", "csv", "--header", "--user-col", "user",
           "--item-col", "item", "--time-col", "time", "--input", "day0.csv", "--split",
           "random:0.2", "--out", "data.h5")
        hr(work, env, "train", "--config", "my.yaml", "--set", "data.dataset=data.h5",
           "--set", "output.dir=runs/x")
        hr(work, env, "export", "--checkpoint", "runs/x/checkpoints", "--out", "model.h5",
           "--interests")


# ---------------------------------------------------------------- runner

def main():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", HALOREC_BIN=BIN,
               PATH=os.path.dirname(BIN) + os.pathsep + env.get("PATH", ""))
    env.pop("HALOREC_CHECK_ARGS", None)
    used = set()
    failures, counts = [], {"run": 0, "check": 0, "skip": 0}
    for doc in DOCS:
        found = commands(doc)
        if not found:
            continue
        root = tempfile.mkdtemp(prefix="halorec-docs-")
        work = write_fixture(root)
        make_inputs(doc, work, env)
        for line, cmd in found:
            k, what, why = plan_of(doc, cmd)
            if k is not None:
                used.add(k)
            counts[what] += 1
            if what == "skip":
                continue
            run_env = dict(env)
            text = concrete(cmd)
            if what == "check":
                text = check_args_line(text)
                run_env["HALOREC_CHECK_ARGS"] = "1"
            p = subprocess.run(["bash", "-c", "set -o pipefail; " + text], cwd=work, env=run_env,
                               capture_output=True, text=True, timeout=600)
            tag = f"{doc}:{line}"
            print(f"[{what}] {tag}: rc {p.returncode}: {text}", flush=True)
            if p.returncode != 0:
                errors = [x for x in p.stderr.splitlines() if "error" in x.lower()]
                failures.append(f"{tag}: rc {p.returncode}: {text}\n  errors: {errors[:3]}\n  "
                                f"stderr: {p.stderr.strip()[-1500:]}\n  stdout: "
                                f"{p.stdout.strip()[-500:]}")
        if os.environ.get("HALOREC_DOCS_KEEP") == "1":
            print(f"kept {work}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    stale = [PLAN[k] for k in range(len(PLAN)) if k not in used]
    print(f"{counts['run']} commands run, {counts['check']} checked, {counts['skip']} skipped")
    for f in failures:
        print("FAILED " + f)
    for s in stale:
        print(f"STALE plan entry (no such command): {s}")
    assert counts["run"] >= 50, counts
    return 1 if failures or stale else 0


if __name__ == "__main__":
    sys.exit(main())
