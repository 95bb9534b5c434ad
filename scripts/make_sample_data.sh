#!/usr/bin/env bash
# Regenerates sample_data/ with `contrada synth` (see sample_data/README.md).
#
# Usage, from anywhere: scripts/make_sample_data.sh
# The binary is $CONTRADA if set, otherwise it is built with cargo (dev profile). The numeric
# contents are reproduced bit for bit (tests/sample_data.rs checks this for the cheap sets); only
# the `history` and `source` attributes, which record when and by which build a file was made,
# differ between runs.
#
# Each line below that starts with `synth` is also read by tests/sample_data.rs: keep one command
# per line.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${CONTRADA:-}" ]]; then
    cargo build --quiet
    CONTRADA="${CARGO_TARGET_DIR:-target}/debug/contrada"
fi

synth() {
    "$CONTRADA" --quiet synth "$@" --config configs/sample_data.toml
}

synth lagrangian --out sample_data/lagrangian/train --samples 4096 --seed 101 --set synth.lagrangian.fields=false --set 'synth.lagrangian.start=2000-01-01 12:00:00'
synth lagrangian --out sample_data/lagrangian/test --samples 512 --seed 102 --set synth.lagrangian.fields=false --set 'synth.lagrangian.start=2012-01-01 12:00:00'
synth lagrangian --out sample_data/lagrangian/archive --samples 512 --seed 103 --set 'synth.lagrangian.start=2014-01-01 12:00:00'
synth lagrangian --out sample_data/lagrangian/today --samples 1 --seed 104 --set 'synth.lagrangian.start=2026-11-28 12:00:00'
synth gaussian --out sample_data/gaussian --samples 10000 --seed 105
synth lorenz96 --out sample_data/lorenz96 --samples 1000 --seed 106
synth qg --out sample_data/qg --seed 107

du -sh sample_data
