#!/usr/bin/env bash
# Run HERE (a Debian 12 machine with network access to Debian's registry):
# downloads the -dev packages a bare GPU machine lacks and unpacks their
# headers into .device-check/ (git-ignored), with compile-check.sh beside
# them, to be carried to a GPU machine with a CUDA LibTorch.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download libopenmpi-dev libhdf5-openmpi-dev libfmt-dev \
  nlohmann-json3-dev libcli11-dev libyaml-cpp-dev libmetis-dev > /dev/null)
for d in "$work"/*.deb; do dpkg -x "$d" "$work/root"; done
rm -rf .device-check
mkdir -p .device-check/inc .device-check/gen/core
cp -r "$work/root/usr/lib/x86_64-linux-gnu/openmpi/include" .device-check/inc/mpi
cp -r "$work/root/usr/include/hdf5/openmpi" .device-check/inc/hdf5
for x in fmt nlohmann CLI yaml-cpp metis.h; do cp -r "$work/root/usr/include/$x" .device-check/inc/; done
sed 's/@PROJECT_VERSION@/0.0.0-check/' src/core/version.h.in > .device-check/gen/core/version.h
cp tools/device/compile-check.sh .device-check/check.sh
du -sh .device-check
