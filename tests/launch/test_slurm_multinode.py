"""Slurm across nodes: one slurmctld and one slurmd per network-namespace node
(tests/launch/netns.py; each slurmd with its own spool, pid and log file
through slurm.conf's %n), running launch/slurm/train-multinode.sbatch with
-N 2 --ntasks-per-node=2 (srun --mpi=pmix starts the 4 ranks, 2 per node,
TCP between the nodes). Once a checkpoint is committed the scheduler's
warning (SIGUSR1 to the batch shell) makes every rank checkpoint and stop,
the script requeues the job, and the requeued job resumes on both nodes and
completes: each rank's node and node-local rank come from its log, and
steps.csv holds every step exactly once. Needs root, `ip netns` and Slurm;
skips (77) with the reason otherwise.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import Nodes  # noqa: E402

BIN = os.environ["HALOREC_BIN"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

why = Nodes.unavailable()
if why:
    print(f"skipped: {why}")
    sys.exit(77)
for tool in ("slurmctld", "slurmd", "sbatch", "scontrol", "sinfo"):
    if shutil.which(tool) is None:
        sys.exit(f"FAIL: {tool} missing (scripts/install-deps.sh installs Slurm)")

D = tempfile.mkdtemp(prefix="halorec-slurm-nodes-")
os.chmod(D, 0o755)
for sub in ("state", "log", "work"):
    os.makedirs(os.path.join(D, sub))
W = os.path.join(D, "work")
CONF = os.path.join(D, "slurm.conf")
ENV = {**os.environ, "SLURM_CONF": CONF}
for k in list(ENV):
    if k.startswith("SLURM_") and k != "SLURM_CONF":
        del ENV[k]


def fail(msg, nodes=None):
    for name in sorted(os.listdir(os.path.join(D, "log"))) + sorted(os.listdir(W)):
        path = os.path.join(D, "log", name) if os.path.exists(os.path.join(D, "log", name)) \
            else os.path.join(W, name)
        if os.path.isfile(path) and (name.endswith(".log") or name.endswith(".out")):
            with open(path, errors="replace") as f:
                lines = f.readlines()
            # The job's own output whole (both runs of a requeued job); daemon logs' tails.
            print(f"---- {name}\n" + "".join(lines if name.startswith("job-") else lines[-30:]))
    sys.exit(f"FAIL: {msg}")


with Nodes(2) as nodes:
    def on1(*argv, check=True):
        p = nodes.run(1, list(argv), env=ENV, timeout=60)
        if check and p.returncode != 0:
            fail(f"{' '.join(argv)}: {p.stderr.strip()}")
        return p.stdout.strip()

    for k in (1, 2):  # what each node has at nodes.local
        os.makedirs(os.path.join(nodes.tmp(k), "spool"))
    node_lines = "\n".join(
        f"NodeName={nodes.name(k)} NodeAddr={nodes.address(k)} CPUs=2 RealMemory=2000 "
        "State=UNKNOWN" for k in (1, 2))
    with open(CONF, "w") as f:
        f.write(f"""ClusterName=halorec-nodes
SlurmctldHost={nodes.name(1)}({nodes.address(1)})
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation={D}/state
SlurmdSpoolDir={nodes.local}/spool
TmpFS={nodes.local}
SlurmctldPidFile={D}/slurmctld.pid
SlurmdPidFile={D}/slurmd-%n.pid
SlurmctldLogFile={D}/log/slurmctld.log
SlurmdLogFile={D}/log/slurmd-%n.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=20
{node_lines}
PartitionName=debug Nodes={nodes.name(1)},{nodes.name(2)} Default=YES MaxTime=INFINITE State=UP
""")
    daemons = [nodes.popen(1, ["slurmctld", "-D"], env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)]
    for k in (1, 2):
        daemons.append(nodes.popen(k, ["slurmd", "-D"], env=ENV, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL))
    for _ in range(120):
        states = on1("sinfo", "-h", "-N", "-o", "%N %T", check=False).split("\n")
        if sorted(states) == ["node1 idle", "node2 idle"]:
            break
        time.sleep(0.25)
    else:
        fail(f"nodes not idle after 30 s: {states}")
    print("slurm up: node1 and node2 idle")

    def field(job, name):
        out = on1("scontrol", "show", "job", job, check=False)
        for word in out.split():
            if word.startswith(name + "="):
                return word.split("=", 1)[1]
        return ""

    def wait_state(job, *want):
        for _ in range(600):
            st = field(job, "JobState")
            if st in want:
                return
            if st in ("FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
                fail(f"job {job} ended {st} waiting for {want}")
            time.sleep(0.5)
        fail(f"job {job} still {st} after 300 s, waiting for {want}")

    ds = os.path.join(W, "dataset.h5")
    subprocess.run([BIN, "synth", "--users", "3000", "--items", "1500", "--interactions",
                    "90000", "--communities", "8", "--seed", "7", "--out", ds], check=True,
                   capture_output=True)
    epochs = 40
    job = on1("env", f"HALOREC_HOME={REPO}", f"HALOREC_BIN={BIN}", "sbatch", "--parsable",
              f"--chdir={W}", "-o", f"{W}/job-%j.out", "-N", "2", "--ntasks-per-node=2",
              "--cpus-per-task=1", "--gres=none", "--exclusive",
              os.path.join(REPO, "launch", "slurm", "train-multinode.sbatch"),
              os.path.join(REPO, "configs", "quickstart.yaml"), "--set", f"data.dataset={ds}",
              "--set", "train.threads=1", "--set", "eval.every=20", "--set",
              "checkpoint.every=2", "--set", f"train.epochs={epochs}", "--set",
              f"data.parts={W}/parts", "--set", f"output.dir={W}/run")
    wait_state(job, "RUNNING")
    ckpts = os.path.join(W, "run", "checkpoints")
    for _ in range(240):
        if os.path.isdir(ckpts) and any(os.path.exists(os.path.join(ckpts, c, "COMMITTED"))
                                        for c in os.listdir(ckpts)):
            break
        time.sleep(0.5)
    else:
        fail("no committed checkpoint after 120 s")
    on1("scancel", "--batch", "--signal=USR1", job)
    print(f"job {job}: SIGUSR1 sent to the batch script")
    # Requeued: Slurm holds it about two minutes (BeginTime); release it once
    # the old steps are gone.
    for _ in range(300):
        if field(job, "Restarts") == "1" and field(job, "JobState") == "PENDING":
            break
        time.sleep(0.2)
    else:
        fail(f"job {job} was not requeued")
    for _ in range(100):
        if subprocess.run(["pgrep", "-f", f"slurmstepd: \\[{job}\\."],
                          capture_output=True).returncode != 0:
            break
        time.sleep(0.2)
    time.sleep(1)
    on1("scontrol", "update", f"JobId={job}", "StartTime=now")
    wait_state(job, "COMPLETED")
    with open(os.path.join(W, f"job-{job}.out")) as f:
        out = f.read()
    for needle in ("stopped by a signal after step", f"requeueing job {job}", "resumed from"):
        if needle not in out:
            fail(f"'{needle}' not in the job's output")
    # Both runs of the job put 2 ranks on each node.
    where = set()
    for line in out.splitlines():
        if "node-local rank" in line:
            w = line.split("] ", 1)[1].replace(",", "").split()
            where.add((int(w[1]), w[5], int(w[8]), int(w[10])))
    want = {(0, "node1", 0, 2), (1, "node1", 1, 2), (2, "node2", 0, 2), (3, "node2", 1, 2)}
    if where != want:
        fail(f"placement {sorted(where)}, expected {sorted(want)}")
    steps = [int(r["step"]) for r in csv.DictReader(open(os.path.join(W, "run", "steps.csv")))]
    rows = [json.loads(line) for line in open(os.path.join(W, "run", "metrics.jsonl"))]
    final = rows.pop()
    assert steps == list(range(1, len(steps) + 1)), steps[:5]
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    assert final.get("final") and final["ranks"] == 4 and final["recall@20"] > 0.2, final
    print(f"job {job}: 4 ranks on node1 and node2, signalled, requeued, resumed, completed: "
          f"{len(steps)} steps, recall@20 {final['recall@20']:.4f}")
    on1("scancel", "--full", job, check=False)
shutil.rmtree(D, ignore_errors=True)
print("slurm multinode: OK")
