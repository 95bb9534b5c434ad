#!/usr/bin/env bash
# Runs the PyTorch reference of the contrastive training step (scripts/pytorch_contrastive.py) in a
# virtual environment made on demand with torch==2.15.0 (CPU use only; PyPI's Linux wheel brings its
# CUDA libraries along, about 3 GB). Arguments go to pytorch_contrastive.py; `--threads N` sets
# torch's intra-op threads. Prints one JSON line on stdout; installation chatter goes to stderr.
# TORCH_VENV overrides where the environment lives (default: .venv-torch in the repository).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TORCH_VENV:-$root/.venv-torch}"
source "$root/scripts/venv.sh"
ensure_venv "$venv" torch "2.15.0" numpy
exec "$venv/bin/python" "$root/scripts/pytorch_contrastive.py" "$@"
