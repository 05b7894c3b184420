#!/usr/bin/env bash
# Run HERE, on a Debian 12 machine that reaches Debian's registry: fills the
# git-ignored .device/ with what a bare GPU machine lacks to build and run
# HaloRec, for tools/device/gpu-check.sh to use there:
#   .device/debs/       Debian 12 .deb files: Open MPI (+ PMIx, hwloc, UCX,
#                       libfabric, ...), parallel HDF5, fmt, METIS, yaml-cpp,
#                       CLI11, nlohmann-json, GoogleTest, OpenSSL headers, and
#                       the libraries they load (apt-get download, no install)
#   .device/gowalla/    the Gowalla split (train.txt, test.txt)
#   .device/torch_lightgcn.py   the PyTorch baseline to time beside HaloRec
# About 26 MB in all. Then carry `.device` to the GPU machine (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${HALOREC_SHARED_DIR:-../shared}

DEBS=(
  # Open MPI and what libmpi, mpirun and its components load
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev libpmix2 libhwloc15
  libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0 libibverbs1 librdmacm1
  libnl-3-200 libnl-route-3-200 libpsm2-2 libpsm-infinipath1 libnuma1 libmunge2 libltdl7
  libgfortran5
  # HDF5 built against Open MPI, and what it loads
  libhdf5-openmpi-dev libhdf5-openmpi-103-1 libhdf5-openmpi-hl-100 libsz2 libaec0
  libcurl3-gnutls libnghttp2-14 librtmp1 libssh2-1 libpsl5 libunistring2 libidn2-0 libldap-2.5-0 libsasl2-2 libbrotli1
  # the rest of HaloRec's dependencies
  libfmt-dev libfmt9 libmetis-dev libmetis5 libyaml-cpp-dev libyaml-cpp0.7 libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev googletest libssl-dev libssl3
)

rm -rf .device
mkdir -p .device/debs .device/gowalla
# apt-get download runs as _apt when it can: give it a folder it may write.
tmp=$(mktemp -d)
chmod 777 "$tmp"
(cd "$tmp" && apt-get download "${DEBS[@]}" >/dev/null)
mv "$tmp"/*.deb .device/debs/
rmdir "$tmp"
cp "$shared/data/gowalla/train.txt" "$shared/data/gowalla/test.txt" .device/gowalla/
cp "$shared/bench/torch_lightgcn.py" .device/
echo "gather-debs: $(ls .device/debs | wc -l) packages, $(du -sh .device | cut -f1) in .device/"
