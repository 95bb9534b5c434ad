#!/usr/bin/env bash
# Installs the Debian packages contrada needs, only those missing: netcdf-c (+HDF5), OpenBLAS/LAPACK,
# Mesa's software Vulkan driver (lavapipe, so the wgpu backend runs without a GPU) and pkg-config.
set -euo pipefail

PACKAGES=(libnetcdf-dev libopenblas-dev liblapack-dev mesa-vulkan-drivers libvulkan1 pkg-config fonts-dejavu-core)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "contrada setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "contrada setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
