#!/usr/bin/env bash
# Quick start, command 1: installs what is missing, builds contrada and runs the demo pipeline on
# sample_data/. Extra arguments go to `contrada run` (e.g. --force, --backend wgpu).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
exec cargo run --quiet --bin contrada -- run pipelines/demo.toml "$@"
