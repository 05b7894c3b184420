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
  python3-torch
  libfaiss-dev python3-faiss
  slurmctld slurmd slurm-client munge
  iproute2
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
# Slurm and munge are installed for the Slurm test, which starts its own
# daemons: keep the packages from starting system services (and failing
# without a config) where no policy-rc.d already says so.
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
cleanup_policy() { if [ "$made_policy" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup_policy EXIT
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
