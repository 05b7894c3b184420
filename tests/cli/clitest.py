"""Helpers for the CLI tests: run the built halorec binary."""
import json
import os
import subprocess

BIN = os.environ.get("HALOREC_BIN", "build/bin/halorec")


def run(*args, check_rc=None, stdin=None):
    p = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, input=stdin,
                       timeout=600)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError(f"halorec {' '.join(map(str, args))}: rc {p.returncode} != "
                             f"{check_rc}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def run_json(*args):
    p = run(*args, "--json", check_rc=0)
    return json.loads(p.stdout)
