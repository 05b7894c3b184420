"""Issue 13's multi-rank cases under real mpirun -np 2: a stopped (SIGSTOP) rank
ends the job within comm.timeout_s with a message naming the waiting rank
and operation; non-finite training stops every rank with exit 3 and keeps
the good checkpoints; --resume latest falls back past an unreadable newest
checkpoint on every rank; a fresh run into another run's folder is refused."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robust import BIN, ENV, MPIRUN, Fixture, run, snapshot  # noqa: E402

fx = Fixture()
C = fx.common


def mpi(*args, timeout=300):
    return run([MPIRUN, "-np", "2", "--oversubscribe", BIN, *args], timeout=timeout)


def ranks_of(out_dir):
    """PIDs of the halorec ranks training into out_dir (not mpirun's)."""
    p = subprocess.run(["pgrep", "-f", f"^{BIN} train .*output.dir={out_dir}"],
                       capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


try:
    # 1. SIGSTOP one rank: the other waits comm.timeout_s, then the job ends.
    out = fx.p("run_stop")
    proc = subprocess.Popen([MPIRUN, "-np", "2", "--oversubscribe", BIN, "train", *C, "--set",
                             "train.epochs=100000", "--set", "checkpoint.every=0", "--set",
                             "comm.timeout_s=3", "--set", f"output.dir={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        steps = os.path.join(out, "steps.csv")
        deadline = time.time() + 60
        while time.time() < deadline and not (os.path.exists(steps) and
                                              sum(1 for _ in open(steps)) > 10):
            time.sleep(0.05)
        pids = ranks_of(out)
        assert len(pids) == 2, pids
        os.kill(max(pids), signal.SIGSTOP)
        stopped = time.time()
        err = proc.communicate(timeout=60)[1]
    except (AssertionError, subprocess.TimeoutExpired) as e:
        sys.exit(f"FAIL: the job with a stopped rank did not end: {e!r}")
    finally:
        if proc.poll() is None:  # never leave a job behind
            proc.kill()
        for pid in ranks_of(out):
            os.kill(pid, signal.SIGKILL)
    took = time.time() - stopped
    assert proc.returncode != 0, proc.returncode
    assert "waited 3 s (comm.timeout_s)" in err and "stopped, hung or died" in err, err[-2000:]
    assert not ranks_of(out), "ranks left behind"
    print(f"ok   SIGSTOP of one rank: the job ended {took:.1f} s later (comm.timeout_s=3), "
          f"exit {proc.returncode}: "
          f"{[l for l in err.splitlines() if 'waited' in l][0][:120]}")

    # 2. Non-finite training on 2 ranks: exit 3, the good checkpoints untouched.
    fx.copy("run", "run_lr")
    ckpts = snapshot(fx.p("run_lr", "checkpoints"))
    p = mpi("train", *C, "--set", "train.epochs=4", "--set", "train.lr=1e30", "--set",
            f"output.dir={fx.p('run_lr')}", "--resume", "latest")
    assert p.returncode == 3, (p.returncode, p.stderr[-2000:])
    assert "training diverged" in p.stderr and "newest good checkpoint" in p.stderr, p.stderr
    now = snapshot(fx.p("run_lr", "checkpoints"))
    assert {k: v for k, v in now.items() if k != ".halorec"} == \
        {k: v for k, v in ckpts.items() if k != ".halorec"}, "checkpoints changed"
    print("ok   train.lr=1e30 on 2 ranks: exit 3, both checkpoints byte-identical")

    # 3. --resume latest on 2 ranks past a truncated newest checkpoint.
    fx.copy("run", "run_fb")
    with open(fx.p("run_fb", "checkpoints", fx.checkpoints[-1], "rank-00000.h5"), "r+b") as f:
        f.truncate(512)
    p = mpi("train", *C, "--set", "train.epochs=3", "--set", f"output.dir={fx.p('run_fb')}",
            "--resume", "latest")
    assert p.returncode == 0, p.stderr[-2000:]
    assert "skipping checkpoint" in p.stderr and f"resumed from {fx.p('run_fb')}" in p.stderr \
        and fx.checkpoints[0] in p.stderr, p.stderr[-2000:]
    print(f"ok   --resume latest on 2 ranks: skipped the truncated {fx.checkpoints[-1]}, resumed "
          f"from {fx.checkpoints[0]}")

    # 4. A fresh 2-rank run into a folder with another run's checkpoints.
    before = snapshot(fx.p("run"))
    p = mpi("train", *C, "--set", f"output.dir={fx.p('run')}")
    assert p.returncode == 2 and "--resume latest" in p.stderr, (p.returncode, p.stderr[-1500:])
    assert snapshot(fx.p("run")) == before
    print("ok   fresh 2-rank train into another run's folder: exit 2, nothing touched")
finally:
    fx.close()
