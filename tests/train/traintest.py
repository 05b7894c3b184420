"""Shared by the train tests: the binary, mpirun, and run()."""
import os
import subprocess
import sys

BIN = os.environ["HALOREC_BIN"]
MPIRUN = os.environ.get("HALOREC_MPIEXEC") or "mpirun"


def run(*args, env=None):
    """Runs a command; exits the test with its output unless it succeeds."""
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300,
                       env={**os.environ, **(env or {})})
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{p.stdout}\n{p.stderr}")
    return p


# Partition invariance holds up to float reassociation: P ranks sum the same
# terms in another order (a row's neighbours owned and halo, partial
# gradients all-reduced). One step's loss then differs by a few units in the
# last place (observed <= 1.2e-7 relative, two ulps of a loss near 0.7); the
# bound below, 1e-5, is 170 ulps, and also covers the recursive-summation
# bound n u for the sums of this size (n <= 100 terms per value, u = 2^-24).
# Training then carries such differences forward and can grow them (Adam's
# normalised step turns a near-zero gradient's rounding into a full-size
# update), by an amount no arithmetic bound fixes and that differs with the
# BLAS kernels a CPU selects (OPENBLAS_CORETYPE): that growth is measured
# instead. The same P = 1 run with its initial values moved by a few ulps
# (HALOREC_TEST_PERTURB_INIT, two patterns) shows how far this schedule
# carries a rounding-sized difference by each step; the ranks' difference
# must stay within ENVELOPE_FACTOR times that (a reassociation injects a
# rounding at every step, the perturbation once, hence the margin). Early
# steps, where a bug in the distributed algorithm shows at once (a wrong halo
# or gradient moves the loss by 1e-3 and more after one update), keep the
# 1e-5 bound.
ROUNDING_FLOOR = 1e-5
ENVELOPE_FACTOR = 100
PERTURBATIONS = (1, 3)


def relative(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def rounding_envelope(reference, perturbed_runs):
    """Per step, the largest relative loss difference so far between the
    reference losses and any of the perturbed runs' losses; and the largest
    at any step (for the final metrics)."""
    env, worst = [], 0.0
    for t, ref in enumerate(reference):
        for run_losses in perturbed_runs:
            worst = max(worst, relative(run_losses[t], ref))
        env.append(worst)
    return env


def check_invariant(reference, other, env, what, metrics=()):
    """Asserts that `other` (losses, final metrics) matches `reference`
    within the rounding bound at each step; returns the largest ratio of a
    difference to its bound (<= 1)."""
    ref_losses, ref_final = reference
    losses, final = other
    assert len(losses) == len(ref_losses) > 0, (what, len(losses), len(ref_losses))
    worst = 0.0
    for t, (a, b) in enumerate(zip(losses, ref_losses)):
        bound = max(ROUNDING_FLOOR, ENVELOPE_FACTOR * env[t])
        assert relative(a, b) <= bound, (what, "loss at step", t + 1, a, b, bound)
        worst = max(worst, relative(a, b) / bound)
    bound = max(ROUNDING_FLOOR, ENVELOPE_FACTOR * env[-1])
    for name in metrics:
        a, b = final[name], ref_final[name]
        assert relative(a, b) <= bound, (what, name, a, b, bound)
        worst = max(worst, relative(a, b) / bound)
    return worst
