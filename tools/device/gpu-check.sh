#!/usr/bin/env bash
# Run ON A GPU MACHINE from the repository root, with .device/ made by
# tools/device/gather-debs.sh beside it (docs/gpu.md):
#
#   bash tools/device/gpu-check.sh
#
# 1. unpacks .device/debs into .device/prefix (no root, no apt) and points
#    Open MPI and HDF5's compiler wrapper at that prefix;
# 2. configures HaloRec against the CUDA LibTorch inside python3's torch
#    package (torch.utils.cmake_prefix_path) and the NCCL that torch loads,
#    and builds halorec and the `gpu` tests;
# 3. runs `ctest -L gpu` (NCCL collectives and halo exchange; CUDA vs CPU
#    training; two ranks sharing one GPU over MPI; NCCL vs MPI);
# 4. times Gowalla LightGCN (dim 64, 3 layers, batch 2048) on one GPU: seconds
#    per epoch and per full evaluation, HaloRec beside the PyTorch baseline
#    (.device/torch_lightgcn.py) in the same run, and prints the table last.
#
# Variables: BUILD_DIR (build-gpu), EPOCHS (2; the last one is timed),
# TORCH_CMAKE (default from python3), NCCL_LIBRARY (default: torch's),
# CUDA_ROOT (default: /usr/local/cuda, else the first /usr/local/cuda-*),
# STAGES (default "unpack build test time"), JOBS (nproc).
# Logs go to $OUT (the device tool's output folder) when set, else
# .device/logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
DEV=$ROOT/.device
P=$DEV/prefix
ARCH=x86_64-linux-gnu
BUILD_DIR=${BUILD_DIR:-build-gpu}
EPOCHS=${EPOCHS:-2}
STAGES=${STAGES:-unpack build test time}
JOBS=${JOBS:-$(nproc)}
LOGS=${OUT:-$DEV/logs}
PY=${PYTHON:-python3}
mkdir -p "$LOGS"
T_START=$(date +%s)
stage() { echo; echo "== [$(( $(date +%s) - T_START )) s] $*"; }
has_stage() { [[ " $STAGES " == *" $1 "* ]]; }
[ -d "$DEV/debs" ] || { echo "no $DEV/debs: run tools/device/gather-debs.sh first"; exit 2; }

# Unpack a .deb without dpkg: an ar archive holding data.tar.{xz,zst,gz}.
unpack_deb() {
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$1" "$P"; return; fi
  "$PY" - "$1" "$P" <<'PYEOF'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"!<arch>\n", sys.argv[1]
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    pos += 60 + size + (size % 2)
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(body)).extractall(sys.argv[2])
PYEOF
}

if has_stage unpack; then
  stage "unpack $(ls "$DEV"/debs/*.deb | wc -l) packages into $P"
  rm -rf "$P"
  mkdir -p "$P"
  for d in "$DEV"/debs/*.deb; do unpack_deb "$d"; done
  # Absolute links (e.g. hdf5/openmpi/include -> /usr/include/hdf5/openmpi)
  # point into the prefix instead.
  find "$P" -type l | while read -r l; do
    t=$(readlink "$l")
    if [ "${t#/}" != "$t" ]; then ln -sfn "$P$t" "$l"; fi
  done
  # Debian's alternatives links are not in the packages: make the plain names.
  for x in mpirun mpiexec mpicc mpicxx ompi_info orted; do
    [ -e "$P/usr/bin/$x.openmpi" ] && ln -sfn "$x.openmpi" "$P/usr/bin/$x"
  done
  # HDF5's wrapper has its install prefix written in: move it to ours, and
  # link the shared libhdf5, whose own dependencies (-lcrypto -lcurl -lsz ...)
  # then load through it: naming them needs -dev links we lack.
  sed -i -e "s|^prefix=\"/usr\"|prefix=\"$P/usr\"|" \
         -e "s|^H5BLD_LIBS=.*|H5BLD_LIBS=\" \"|" -e "s|^STATIC_AVAILABLE=.*|STATIC_AVAILABLE=\"no\"|" \
         -e "s|^CCBASE=\"mpicc.openmpi\"|CCBASE=\"$P/usr/bin/mpicc.openmpi\"|" \
         -e "s|^CLINKERBASE=\"mpicc.openmpi\"|CLINKERBASE=\"$P/usr/bin/mpicc.openmpi\"|" \
         "$P/usr/bin/h5pcc.openmpi"
  ln -sfn h5pcc.openmpi "$P/usr/bin/h5pcc"
fi

# Open MPI (and its PMIx) find their components and help files from these.
export OPAL_PREFIX=$P/usr
export PMIX_INSTALL_PREFIX=$P/usr
export PATH=$P/usr/bin:$PATH
# The CUDA toolkit LibTorch's CMake config and the NCCL backend look for.
CUDA_ROOT=${CUDA_ROOT:-$(ls -d /usr/local/cuda /usr/local/cuda-* 2>/dev/null | head -1 || true)}
[ -n "$CUDA_ROOT" ] && export PATH=$PATH:$CUDA_ROOT/bin
TORCH_CMAKE=${TORCH_CMAKE:-$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')}
TORCH_LIB=$(cd "$TORCH_CMAKE/../../lib" 2>/dev/null && pwd || true)
# The NCCL torch itself loads (pip: the nvidia-nccl package), else any on the system.
if [ -z "${NCCL_LIBRARY:-}" ]; then
  NCCL_LIBRARY=$("$PY" - <<'PYEOF' 2>/dev/null || true
import glob, os
try:
    import nvidia.nccl as n
    roots = list(n.__path__)
except Exception:
    roots = []
for r in roots + ["/usr/lib/x86_64-linux-gnu", "/usr/local/cuda/lib64", "/usr/local/cuda/lib"]:
    hits = sorted(glob.glob(os.path.join(r, "**", "libnccl.so*"), recursive=True))
    if hits:
        print(hits[0]); break
PYEOF
)
fi
NCCL_INC=""
for d in $("$PY" -c 'import nvidia.nccl as n; print(" ".join(n.__path__))' 2>/dev/null) /usr/include /usr/local/cuda/include; do
  [ -f "$d/include/nccl.h" ] && { NCCL_INC=$d/include; break; }
  [ -f "$d/nccl.h" ] && { NCCL_INC=$d; break; }
done
export LD_LIBRARY_PATH=$P/usr/lib/$ARCH:$P/usr/lib/$ARCH/openmpi/lib:$P/usr/lib/$ARCH/hdf5/openmpi:${TORCH_LIB}:$(dirname "${NCCL_LIBRARY:-/x/y}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

if has_stage build; then
  stage "configure against torch at $TORCH_CMAKE, NCCL ${NCCL_LIBRARY:-none} (${NCCL_INC:-no nccl.h})"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
  gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DHALOREC_BUILD_TESTS=ON \
    -DCMAKE_PREFIX_PATH="$P/usr;$TORCH_CMAKE" \
    -DMPI_C_COMPILER="$P/usr/bin/mpicc.openmpi" -DMPIEXEC_EXECUTABLE="$P/usr/bin/mpirun" \
    -DHDF5_C_COMPILER_EXECUTABLE="$P/usr/bin/h5pcc.openmpi" \
    -DOPENSSL_ROOT_DIR="$P/usr" \
    ${CUDA_ROOT:+-DCUDAToolkit_ROOT="$CUDA_ROOT" -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT"} \
    ${NCCL_LIBRARY:+-DNCCL_LIBRARY="$NCCL_LIBRARY"} ${NCCL_INC:+-DNCCL_INCLUDE_DIR="$NCCL_INC"} \
    -DHALOREC_SHARED_DIR="$DEV/shared" > "$LOGS/configure.log" 2>&1 \
    || { tail -40 "$LOGS/configure.log"; exit 1; }
  grep -E "NCCL backend|Torch|Found MPI|Found HDF5" "$LOGS/configure.log" || true
  stage "build (-j $JOBS)"
  cmake --build "$BUILD_DIR" -j "$JOBS" --target halorec comm_nccl_test > "$LOGS/build.log" 2>&1 \
    || { grep -E "error|Error" "$LOGS/build.log" | head -30; exit 1; }
  tail -1 "$LOGS/build.log"
  missing=$(ldd "$BUILD_DIR/bin/halorec" | grep "not found" || true)
  [ -z "$missing" ] || { echo "libraries not found:"; echo "$missing"; exit 1; }
fi
BIN=$ROOT/$BUILD_DIR/bin/halorec

if has_stage test; then
  stage "ctest -L gpu"
  # A failing test is reported last; the timing still runs.
  (cd "$BUILD_DIR" && ctest -L gpu --output-on-failure --timeout 400) > "$LOGS/ctest-gpu.log" 2>&1 \
    || TESTS_FAILED=1
  grep -v "^frame #" "$LOGS/ctest-gpu.log" | tail -25
fi

row() { printf '%-34s %12s %12s\n' "$@"; }
if has_stage time; then
  stage "Gowalla LightGCN on one GPU: HaloRec, then the PyTorch baseline"
  W=$DEV/work
  mkdir -p "$W"
  "$BIN" prepare --format lightgcn --train "$DEV/gowalla/train.txt" \
    --test "$DEV/gowalla/test.txt" --out "$W/gowalla.h5" > "$LOGS/prepare.log" 2>&1 \
    || { tail "$LOGS/prepare.log"; exit 1; }
  rm -rf "$W/run"
  "$BIN" train --config configs/gowalla_lightgcn.yaml --set "data.dataset=$W/gowalla.h5" \
    --set "data.parts=$W/parts" --set "output.dir=$W/run" --set "train.epochs=$EPOCHS" \
    --set "eval.every=$EPOCHS" --set eval.topk=[20] --set train.device=cuda \
    --set checkpoint.every=0 > "$LOGS/halorec-train.log" 2>&1 \
    || { tail -30 "$LOGS/halorec-train.log"; exit 1; }
  grep -E "shard:|^epoch" "$LOGS/halorec-train.log" | tail -4
  "$PY" "$DEV/torch_lightgcn.py" --data "$DEV/gowalla" --device cuda --epochs "$EPOCHS" --eval \
    > "$LOGS/torch-baseline.log" 2>&1 || { tail -30 "$LOGS/torch-baseline.log"; exit 1; }
  tail -2 "$LOGS/torch-baseline.log"
  "$PY" - "$W/run/metrics.jsonl" "$LOGS/torch-baseline.log" "$EPOCHS" <<'PYEOF' | tee "$LOGS/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ep = [r for r in rows if not r.get("final")][-1]
base = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
curve = [b for b in base if "epoch" in b]
res = base[-1]
h_ep, h_ev = ep["epoch_seconds"], ep["eval_seconds"]
t_ep, t_ev = curve[-1]["epoch_s"], res["eval_s"]
print()
print(f"Gowalla LightGCN, one GPU, epoch {sys.argv[3]} timed (dim 64, 3 layers, batch 2048)")
print(f"{'':<26}{'HaloRec':>12}{'PyTorch':>12}{'speedup':>10}")
print(f"{'seconds per epoch':<26}{h_ep:>12.2f}{t_ep:>12.2f}{t_ep / h_ep:>9.2f}x")
print(f"{'seconds per evaluation':<26}{h_ev:>12.2f}{t_ev:>12.2f}{t_ev / h_ev:>9.2f}x")
print(f"{'step ms (median)':<26}{ep['step_ms_median']:>12.2f}{'':>12}")
print(f"{'recall@20 after training':<26}{ep['recall@20']:>12.4f}{res['recall@20']:>12.4f}")
print(f"{'loss, last epoch':<26}{ep['loss']:>12.4f}{curve[-1]['loss']:>12.4f}")
PYEOF
fi
echo
echo "gpu-check: done in $(( $(date +%s) - T_START )) s"
[ -z "${TESTS_FAILED:-}" ] || { echo "gpu-check: ctest -L gpu FAILED (see $LOGS/ctest-gpu.log)"; exit 1; }
