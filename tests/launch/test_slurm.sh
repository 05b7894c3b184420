#!/usr/bin/env bash
# A real single-node Slurm (slurmctld + slurmd from Debian, as root, no
# systemd; facts from ../shared/recipes/slurm-single-node.md) running HaloRec's
# batch scripts end to end:
#   1. launch/slurm/train.sbatch (mpirun through launch/halorec-run) on the
#      quickstart data; once a checkpoint exists, the scheduler's warning
#      (SIGUSR1 to the batch shell, as --signal=B:USR1@120 sends it): the ranks
#      checkpoint and stop, the script requeues the job, the requeued job
#      resumes from the newest checkpoint and completes. Checked: metrics,
#      checkpoints, the resume line, steps.csv continuous with no step twice.
#   2. scontrol requeue of a running job (SIGTERM to every process): it comes
#      back and resumes from its checkpoint.
#   3. launch/slurm/train-multinode.sbatch on this one node (srun --mpi=pmix).
# Every daemon started here is stopped by PID on exit.
set -euo pipefail
BIN=${HALOREC_BIN:?HALOREC_BIN must name the halorec binary}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: the Slurm test starts slurmd and needs root"; exit 77; fi
for c in slurmctld slurmd sbatch scontrol sinfo; do
  command -v "$c" >/dev/null || { echo "FAIL: $c missing (scripts/install-deps.sh installs Slurm)"; exit 1; }
done

D=$(mktemp -d /tmp/halorec-slurm.XXXXXX)
chmod 755 "$D"
mkdir -p "$D"/{state,spool,log,work}
H=$(hostname -s)
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
NCPU=$(nproc)
# Own ports, so a second Slurm on this machine does not clash.
BASE=$(( 20000 + ($$ % 2000) * 2 ))
CTLD_PID= SLURMD_PID=
stop_pid() {
  local p=$1; [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  echo "PID $p did not exit after 10 s, sending KILL"; kill -KILL "$p" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  if [ -n "$CTLD_PID" ]; then scancel --full "--user=$(id -un)" 2>/dev/null || true; fi
  stop_pid "$SLURMD_PID"; stop_pid "$CTLD_PID"
  wait 2>/dev/null || true
  if [ "$rc" -ne 0 ]; then
    echo "---- logs"; tail -n 40 "$D"/log/* "$D"/work/*.out 2>/dev/null || true
  fi
  [ -n "${KEEP_SLURM_DIR:-}" ] || rm -rf "$D"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat > "$D/slurm.conf" <<CONF
ClusterName=halorec-test
SlurmctldHost=$H(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldPort=$BASE
SlurmdPort=$((BASE + 1))
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
NodeName=$H NodeAddr=127.0.0.1 CPUs=$NCPU RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/slurm.conf

slurmctld -D >"$D/log/slurmctld.stdout" 2>&1 & CTLD_PID=$!
slurmd -D >"$D/log/slurmd.stdout" 2>&1 & SLURMD_PID=$!
state=
for _ in $(seq 1 120); do
  state=$(sinfo -h -n "$H" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break; sleep 0.25
done
[ "$state" = idle ] || fail "node state '$state' after 30 s"
echo "slurm up: node $H idle"

job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
wait_state() {  # JOB STATE... ; bounded: 300 x 0.5 s
  local j=$1 st=; shift
  for _ in $(seq 1 300); do
    st=$(job_field "$j" JobState)
    for want in "$@"; do [ "$st" = "$want" ] && return 0; done
    case "$st" in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
      fail "job $j ended $st while waiting for $*";; esac
    sleep 0.5
  done
  fail "job $j still '$st' after 150 s, waiting for $*"
}
wait_for_file() {  # bounded: 240 x 0.5 s
  for _ in $(seq 1 240); do compgen -G "$1" >/dev/null && return 0; sleep 0.5; done
  fail "no $1 after 120 s"
}
release_requeued() {  # wait until JOB is requeued, then let it start now
  # Slurm holds a requeued batch job for about two minutes (Reason=BeginTime);
  # a test has no reason to wait that long.
  local j=$1
  for _ in $(seq 1 300); do
    [ "$(job_field "$j" Restarts)" = 1 ] && [ "$(job_field "$j" JobState)" = PENDING ] && break
    sleep 0.2
  done
  [ "$(job_field "$j" Restarts)" = 1 ] || fail "job $j was not requeued"
  # Released while slurmd still tears the old instance down, the job is killed
  # as "non-startable: Job credential revoked": wait for its steps to go.
  for _ in $(seq 1 100); do
    pgrep -f "slurmstepd: \[$j\." >/dev/null || break
    sleep 0.2
  done
  sleep 1
  scontrol update "JobId=$j" StartTime=now
}
check_steps_continuous() {  # steps.csv: steps 1..N once each, N = epochs x steps/epoch
  /usr/bin/python3 - "$1" "$2" <<'PY'
import csv, json, sys
steps = [int(r["step"]) for r in csv.DictReader(open(sys.argv[1] + "/steps.csv"))]
assert steps == list(range(1, len(steps) + 1)), f"steps.csv not 1..N once each: {steps[:5]}..."
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
final = rows.pop()
assert final.get("final"), final
epochs = [r["epoch"] for r in rows]
want = int(sys.argv[2])
assert epochs == list(range(1, want + 1)), f"metrics.jsonl epochs {epochs}"
assert rows[-1]["step"] == len(steps), rows[-1]
assert final["recall@20"] > 0.2, final
print(f"  {len(steps)} steps, epochs 1..{want}, final recall@20 {final['recall@20']:.4f}")
PY
}

# Quickstart-sized data.
W=$D/work
"$BIN" synth --users 3000 --items 1500 --interactions 90000 --communities 8 --seed 7 \
  --out "$W/dataset.h5" >/dev/null
cd "$W"
common=(--set "data.dataset=$W/dataset.h5" --set "train.threads=1" --set "eval.every=20"
        --set "checkpoint.every=2")

echo "== 1. train.sbatch (mpirun), SIGUSR1 warning -> checkpoint -> requeue -> resume"
EPOCHS=60
J=$(HALOREC_HOME=$REPO HALOREC_BIN=$BIN sbatch --parsable --chdir="$W" -o "$W/job1-%j.out" \
      "$REPO/launch/slurm/train.sbatch" "$REPO/configs/quickstart.yaml" "${common[@]}" \
      --set "train.epochs=$EPOCHS" --set "data.parts=$W/parts1" --set "output.dir=$W/run1")
wait_state "$J" RUNNING
wait_for_file "$W/run1/checkpoints/step-*/COMMITTED"
scancel --batch --signal=USR1 "$J"
echo "  job $J: SIGUSR1 sent to the batch script"
release_requeued "$J"
wait_state "$J" COMPLETED
out=$W/job1-$J.out
grep -q "stopped by a signal after step" "$out" || fail "no checkpoint-on-signal line in $out"
grep -q "requeueing job $J" "$out" || fail "the script did not requeue: $out"
grep -q "resumed from .*/run1/checkpoints/step-" "$out" || fail "the requeued job did not resume: $out"
grep -q "^mpirun " "$out" || fail "halorec-run did not print its mpirun line"
ls -d "$W"/run1/checkpoints/step-*/COMMITTED >/dev/null
check_steps_continuous "$W/run1" "$EPOCHS"
echo "  job $J: signalled, requeued, resumed, completed"

echo "== 2. scontrol requeue of a running job (SIGTERM to all): it resumes"
J=$(HALOREC_HOME=$REPO HALOREC_BIN=$BIN sbatch --parsable --chdir="$W" -o "$W/job2-%j.out" \
      "$REPO/launch/slurm/train.sbatch" "$REPO/configs/quickstart.yaml" "${common[@]}" \
      --set "train.epochs=$EPOCHS" --set "data.parts=$W/parts2" --set "output.dir=$W/run2")
wait_state "$J" RUNNING
wait_for_file "$W/run2/checkpoints/step-*/COMMITTED"
scontrol requeue "$J"
release_requeued "$J"
wait_state "$J" COMPLETED
out=$W/job2-$J.out
grep -q "resumed from .*/run2/checkpoints/step-" "$out" || fail "requeued job did not resume: $out"
check_steps_continuous "$W/run2" "$EPOCHS"
# Both runs were interrupted at different points; exact resume means both end
# where an uninterrupted run would: the same final loss and metrics.
/usr/bin/python3 - "$W/run1" "$W/run2" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(d + "/metrics.jsonl")][-1] for d in sys.argv[1:])
keys = [k for k in a if "@" in k] + ["loss", "step"]
assert all(a[k] == b[k] for k in keys), (a, b)
print(f"  run1 and run2 end identical: loss {a['loss']!r}, recall@20 {a['recall@20']!r}")
PY
echo "  job $J: requeued by scontrol, resumed, completed"

echo "== 3. train-multinode.sbatch on one node (srun --mpi=pmix)"
J=$(HALOREC_HOME=$REPO HALOREC_BIN=$BIN sbatch --parsable --chdir="$W" -o "$W/job3-%j.out" -N 1 \
      --ntasks-per-node=2 --cpus-per-task=1 --gres=none --no-requeue \
      "$REPO/launch/slurm/train-multinode.sbatch" "$REPO/configs/quickstart.yaml" \
      "${common[@]}" --set "train.epochs=4" --set "eval.every=2" \
      --set "data.parts=$W/parts3" --set "output.dir=$W/run3")
wait_state "$J" COMPLETED
out=$W/job3-$J.out
grep -q "2 ranks\|ranks: 2\|2 parts" "$out" || grep -q "shard:" "$out" || fail "no training output in $out"
check_steps_continuous "$W/run3" 4
/usr/bin/python3 - "$W/parts3" <<'PY'
import h5py, sys
with h5py.File(sys.argv[1] + "/meta.h5") as f:
    assert int(f.attrs["world_size"]) == 2, dict(f.attrs)
PY
echo "  job $J: 2 tasks by srun --mpi=pmix, completed"
echo "slurm test: OK"
