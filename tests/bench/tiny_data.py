"""Shared by the bench script tests: a tiny LightGCN-format data set."""
import os


def write_tiny_lightgcn(d):
    """train.txt and test.txt in `d`: 200 users, 120 items, every user with 8
    train and 2 test items."""
    with open(os.path.join(d, "train.txt"), "w") as tr, open(os.path.join(d, "test.txt"), "w") as te:
        for u in range(200):
            items = [(u * 7 + k * 13) % 120 for k in range(10)]
            tr.write(f"{u} " + " ".join(map(str, items[:8])) + "\n")
            te.write(f"{u} " + " ".join(map(str, items[8:])) + "\n")


def run_bench(script, args, work, timeout=600):
    """Runs bench/SCRIPT with ARGS (WORK=work, the build of HALOREC_BIN) and
    returns its stdout; fails the test with its output unless it succeeds."""
    import subprocess
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    binary = os.environ["HALOREC_BIN"]
    env = {**os.environ, "BUILD_DIR": os.path.dirname(os.path.dirname(binary)), "WORK": work}
    p = subprocess.run(["/usr/bin/python3", os.path.join(repo, "bench", script), *map(str, args)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    assert p.returncode == 0, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    print(p.stdout)
    return p.stdout


def table_rows(text):
    """The cells of a markdown table's body rows in `text` (header and rule left out)."""
    return [[c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines()
            if line.startswith("| ") and "---" not in line][1:]
