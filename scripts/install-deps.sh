#!/usr/bin/env bash
# Installs what tianyan needs on a fresh Debian machine, skipping what is already there:
#   system: libhdf5-dev + pkg-config (the HDF5 library the `hdf5-metno` crate links to), a C compiler;
#   Python (tests only): h5py, numpy and astropy, to prove the outputs open in the tools users have.
# cfitsio is built from source by the `fitsio-src` feature, so it needs no system package.
set -euo pipefail

need_apt=()
dpkg -s libhdf5-dev >/dev/null 2>&1 || need_apt+=(libhdf5-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_apt+=(fonts-dejavu-core)

if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

if [ "${1:-}" = "--python" ]; then
  if ! python3 -c "import h5py, numpy, astropy" >/dev/null 2>&1; then
    echo "install-deps: pip install h5py numpy astropy"
    python3 -m pip install -q h5py numpy astropy 2>/dev/null \
      || python3 -m pip install -q --break-system-packages h5py numpy astropy
  fi
  # riptide (its `rffa` pipeline reads tianyan's PRESTO series) and your (it reads tianyan's
  # FETCH cutouts) for tests/interop.rs
  for mod_pkg in riptide:riptide-ffa your:your; do
    if ! python3 -c "import ${mod_pkg%%:*}" >/dev/null 2>&1; then
      echo "install-deps: pip install ${mod_pkg#*:}"
      python3 -m pip install -q "${mod_pkg#*:}" 2>/dev/null \
        || python3 -m pip install -q --break-system-packages "${mod_pkg#*:}"
    fi
  done
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found: install the Rust toolchain (https://rustup.rs or 'apt-get install cargo')" >&2
  exit 1
fi
