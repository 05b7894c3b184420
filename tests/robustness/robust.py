"""The robustness suite's harness: a fixture of real HaloRec files, and cases
that run one command each and check its exit code, its message, and that
every file that existed before is byte-identical afterwards (and, for a
refused command, that nothing new appeared: no output, no temporary)."""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

BIN = os.path.abspath(os.environ.get("HALOREC_BIN", "build/bin/halorec"))
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
       "OMPI_MCA_rmaps_base_oversubscribe": "1"}


def run(args, cwd=None, env=None, timeout=300, check=None):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                       env={**ENV, **(env or {})}, timeout=timeout, errors="replace")
    if check is not None and p.returncode != check:
        sys.exit(f"rc {p.returncode} != {check}: {' '.join(map(str, args))}\n"
                 f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def snapshot(root):
    """Every file under root: relative path -> sha256 (symlinks by target)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
            else:
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


class Fixture:
    """A small integer-id dataset in LightGCN text form, prepared, trained
    (1 rank, 2 epochs, 2 committed checkpoints), exported with interests, and
    a 0600 key file; everything under one temporary folder."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="halorec-robust-")
        W = self.root
        self.p = lambda *parts: os.path.join(W, *parts)
        run([BIN, "synth", "--users", "300", "--items", "200", "--interactions", "8000",
             "--communities", "4", "--seed", "3", "--out", self.p("log.tsv")], check=0)
        users = {}
        with open(self.p("log.tsv")) as f:
            next(f)
            for line in f:
                u, i, _ = line.rstrip("\n").split("\t")
                users.setdefault(int(u[1:]), []).append(int(i[1:]))
        lines = [f"{u} " + " ".join(map(str, items)) for u, items in sorted(users.items())]
        with open(self.p("train.txt"), "w") as f:
            f.write("\n".join(lines[:]) + "\n")
        run([BIN, "prepare", "--format", "lightgcn", "--train", self.p("train.txt"),
             "--split", "random:0.2", "--out", self.p("d.h5")], check=0)
        self.common = ["--set", f"data.dataset={self.p('d.h5')}", "--set", "train.epochs=2",
                       "--set", "train.batch_size=512", "--set", "train.threads=1",
                       "--set", "model.dim=16", "--set", "train.lr=0.01"]
        run([BIN, "train", *self.common, "--set", f"output.dir={self.p('run')}"], check=0)
        run([BIN, "export", "--checkpoint", self.p("run", "checkpoints"), "--out",
             self.p("model.h5"), "--interests"], check=0)
        with open(self.p("key"), "wb") as f:
            f.write(b"0123456789abcdef-secret-key")
        os.chmod(self.p("key"), 0o600)
        run([BIN, "export", "--checkpoint", self.p("run", "checkpoints"), "--out",
             self.p("pmodel.h5"), "--pseudonymize", self.p("key")], check=0)
        os.makedirs(self.p("mine"))
        with open(self.p("mine", "notes.txt"), "w") as f:
            f.write("a user's own file\n")
        self.checkpoints = sorted(d for d in os.listdir(self.p("run", "checkpoints"))
                                  if d.startswith("step-"))
        import h5py
        with h5py.File(self.p("d.h5")) as h:
            self.user = h["users/original_id"][0].decode()

    def copy(self, src, dst):
        s, d = self.p(src), self.p(dst)
        if os.path.isdir(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d)
        return d

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.root + ".pristine", ignore_errors=True)


class Case:
    """One row of the table: a command (argv with {W} for the fixture folder),
    the exit code it must end with, a message substring (regex) its stderr
    must hold, and optional setup/check/env/cwd. `new` lists regexes of files
    a successful command may create (relative to the fixture)."""

    def __init__(self, name, argv, rc, msg=None, setup=None, check=None, env=None, cwd=None,
                 new=(), changed=(), issue=""):
        self.name, self.argv, self.rc, self.msg = name, argv, rc, msg
        self.setup, self.check, self.env, self.cwd = setup, check, env, cwd
        self.new, self.changed, self.issue = new, changed, issue


def run_cases(fx, cases, only=None):
    """Runs the cases in order. HALOREC_ROBUST_ISOLATE=1 restores the fixture
    before each case (to measure a binary that destroys it)."""
    failures, rows = [], []
    isolate = os.environ.get("HALOREC_ROBUST_ISOLATE") == "1"
    pristine = fx.root + ".pristine"
    if isolate and not os.path.exists(pristine):
        shutil.copytree(fx.root, pristine, symlinks=True)
    for c in cases:
        if only and not re.search(only, c.name):
            continue
        if isolate:
            shutil.rmtree(fx.root, ignore_errors=True)
            shutil.copytree(pristine, fx.root, symlinks=True)
        try:
            if c.setup:
                c.setup(fx)
        except Exception as e:  # noqa: BLE001 - a broken setup is this case's failure
            rows.append((c.name, -1, "FAIL", f"setup: {e}"))
            failures.append(f"{c.name}: setup: {e}")
            continue
        before = snapshot(fx.root)
        argv = [a.replace("{W}", fx.root) if isinstance(a, str) else a for a in c.argv]
        cwd = c.cwd.replace("{W}", fx.root) if c.cwd else None
        try:
            p = run(argv, cwd=cwd, env=c.env)
        except (OSError, subprocess.TimeoutExpired) as e:
            rows.append((c.name, -1, "FAIL", f"could not run: {e}"))
            failures.append(f"{c.name}: could not run: {e}")
            continue
        after = snapshot(fx.root)
        problems = []
        if p.returncode != c.rc:
            problems.append(f"exit code {p.returncode}, expected {c.rc}")
        if c.msg and not re.search(c.msg, p.stderr):
            problems.append(f"stderr lacks /{c.msg}/")
        if p.returncode < 0 or p.returncode >= 128 or "terminate called" in p.stderr \
                or "Segmentation" in p.stderr or "Exception raised from" in p.stderr:
            problems.append("crashed")
        if "\x1b" in p.stderr or "\x1b" in p.stdout:
            problems.append("raw ESC on the terminal")
        for rel, digest in before.items():
            if any(re.fullmatch(x, rel) for x in c.changed):
                continue
            # A lock file left by a killed process is taken over and removed.
            if re.fullmatch(r"(.*/)?\.[^/]+\.lock", rel) and rel not in after:
                continue
            if rel not in after:
                problems.append(f"{rel} was removed")
            elif after[rel] != digest:
                problems.append(f"{rel} was changed")
        for rel in after:
            if rel not in before and not any(re.fullmatch(x, rel) for x in c.new):
                problems.append(f"{rel} appeared")
        if c.check and not problems:
            try:
                c.check(fx, p)
            except AssertionError as e:
                problems.append(f"check: {e}")
        last = (p.stderr.strip().splitlines() or [""])[-1][:150]
        rows.append((c.name, p.returncode, "ok" if not problems else "FAIL", last))
        if problems:
            failures.append(f"{c.name}: {'; '.join(problems)}\n  $ {' '.join(map(str, argv))}\n"
                            f"  stderr: {p.stderr[-1500:]}")
    for name, rc, status, last in rows:
        print(f"{status:4} rc={rc:<3} {name:<58} {last}")
    if failures:
        sys.exit("\n".join(["FAILED:"] + failures))
    print(f"{len(rows)} cases passed")
