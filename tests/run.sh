#!/usr/bin/env bash
# Installs dependencies, builds from scratch-or-cache, and runs the whole test
# suite with ctest. Extra arguments go to ctest (e.g. -L unit, -R Prepare).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHALOREC_WERROR=ON \
  -DHALOREC_BUILD_TESTS=ON
cmake --build "$BUILD_DIR" -j "$(nproc)"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 1200 "$@"
