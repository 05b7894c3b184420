"""Shared by the serve tests: the binary, mpirun, the repository, and run()."""
import os
import subprocess
import sys

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, expect=0, env=None):
    """Runs a command (with `env` added to the environment); exits the test
    with its output unless rc == expect (None: any)."""
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                       env=None if env is None else {**os.environ, **env})
    if expect is not None and p.returncode != expect:
        sys.exit(f"rc {p.returncode} != {expect}: {' '.join(map(str, args))}\n{p.stdout[-3000:]}\n"
                 f"{p.stderr[-3000:]}")
    return p


def model_rows(path):
    """{("users" | "items", original id): vector} of a model.h5 (h5py, so a
    model exported by several ranks is read through its virtual datasets)."""
    import h5py
    rows = {}
    with h5py.File(path) as f:
        for part in ("users", "items"):
            ids = [x.decode() for x in f[part + "/original_id"][:]]
            vectors = f[part + "/vector"][:].astype("float32")
            assert len(ids) == len(vectors), (path, part)
            rows.update({(part, i): v for i, v in zip(ids, vectors)})
    return rows


def worst_row_difference(a, b):
    """Largest absolute difference between two models' vectors of the same
    ids; the two must hold exactly the same ids."""
    assert a.keys() == b.keys(), (len(a), len(b), len(a.keys() ^ b.keys()))
    return max(float(abs(a[k] - b[k]).max()) for k in a)
