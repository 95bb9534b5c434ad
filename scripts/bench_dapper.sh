#!/usr/bin/env bash
# Runs DAPPER's Lorenz-96 sakov2008 experiments (scripts/dapper_l96.py) in a virtual environment
# made on demand with dapper==1.7.1, on one BLAS thread. Arguments go to dapper_l96.py, e.g.
#   bash scripts/bench_dapper.sh --only etkf40,letkf10
# Prints one JSON line per experiment on stdout; installation chatter goes to stderr.
# DAPPER_VENV overrides where the environment lives (default: .venv-dapper in the repository).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DAPPER_VENV:-$root/.venv-dapper}"
source "$root/scripts/venv.sh"
ensure_venv "$venv" dapper "1.7.1"
# Single-threaded BLAS for a like-for-like comparison; Agg keeps matplotlib off any display.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
exec "$venv/bin/python" "$root/scripts/dapper_l96.py" "$@"
