#!/usr/bin/env bash
# Run ON THE GPU MACHINE (after tools/device/gather-headers.sh here, carrying
# .device-check): compiles every LibTorch/NCCL source of HaloRec, syntax only,
# against that machine's CUDA LibTorch (python3's torch). Writes logs to $OUT.
set -u
cd "$(dirname "$0")/.."
PY=python3
echo "torch: $($PY -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count())')"
TORCH_INC=$($PY -c "import torch.utils.cpp_extension as c; print(' '.join('-I'+p for p in c.include_paths()))")
ABI=$($PY -c "import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))")
CUDA_INC=""
for d in /usr/local/cuda/include $($PY -c "import nvidia, os; print(' '.join(os.path.join(p) for p in nvidia.__path__))" 2>/dev/null); do
  [ -d "$d" ] && CUDA_INC="$CUDA_INC -I$d"
done
for h in cuda_runtime_api.h nccl.h; do
  f=$(find / -name "$h" -not -path '*/proc/*' 2>/dev/null | head -1)
  echo "$h: $f"
  [ -n "$f" ] && CUDA_INC="$CUDA_INC -I$(dirname "$f")"
done
CXX=$(command -v g++ || command -v c++ || command -v clang++)
echo "compiler: $CXX ($($CXX --version | head -1)); abi $ABI"
FLAGS="-std=c++17 -fsyntax-only -D_GLIBCXX_USE_CXX11_ABI=$ABI -DOMPI_SKIP_MPICXX=1 -DFMT_HEADER_ONLY -DHALOREC_WITH_NCCL=1 -DHALOREC_TORCH_CUDA=1 -Isrc -I.device-check/gen -I.device-check/inc -I.device-check/inc/mpi -I.device-check/inc/hdf5 $TORCH_INC $CUDA_INC"
ls src/comm/*.cc src/comm/nccl/*.cc src/model/*.cc src/train/*.cc src/checkpoint/*.cc src/serve/*.cc src/cli/train_command.cc src/cli/serve_commands.cc \
  | xargs -P 16 -I{} sh -c "$CXX $FLAGS {} > \$OUT/\$(echo {} | tr / _).log 2>&1 && echo 'ok   {}' || echo 'FAIL {}'" | sort
for f in $OUT/*.log; do [ -s "$f" ] && { echo "== $f"; grep -E "error" "$f" | head -8; }; done
true
