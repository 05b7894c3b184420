#!/usr/bin/env bash
# Installs HaloRec's build and test dependencies from Debian packages.
# Idempotent: does nothing (no apt-get update) when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libfmt-dev
  libgtest-dev libgmock-dev googletest
  libmetis-dev
  libyaml-cpp-dev
  libcli11-dev
  nlohmann-json3-dev
  libssl-dev
  python3-h5py python3-numpy python3-matplotlib
  slurmctld slurmd slurm-client munge
  libopenblas0-openmp
  time
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
