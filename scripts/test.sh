#!/usr/bin/env bash
# Quick start, command 2 (and what CI runs): installs what is missing, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
# Tests run the wgpu backend on Mesa's software Vulkan driver when no GPU exists; it prints harmless
# warnings about XDG_RUNTIME_DIR without this.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
# Test processes write NetCDF files in-process while other test threads spawn `contrada`; a child can
# inherit HDF5's advisory lock on a file it must then open. The tests need no cross-process locking.
export HDF5_USE_FILE_LOCKING="${HDF5_USE_FILE_LOCKING:-FALSE}"
exec cargo test --no-fail-fast "$@"
