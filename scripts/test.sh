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
# The dev profile, as `scripts/demo.sh` (`cargo run`) uses: both commands then share one build
# (`cargo test` alone builds every dependency a second time, in its own `test` profile).
cargo test --profile dev --no-fail-fast "$@" -- --skip hostile_corpus
# The hostile-input corpus on its own, so that its figure (cases meeting the standard / total) shows.
corpus_log=$(mktemp)
if ! cargo test --profile dev --test integration hostile_corpus -- --nocapture >"$corpus_log" 2>&1; then
    tail -n 60 "$corpus_log" >&2
    echo "test.sh: the hostile-input corpus failed" >&2
    exit 1
fi
grep -E "^hostile corpus|^test result" "$corpus_log" | head -n 2
rm -f "$corpus_log"
# Every kind of NetCDF file contrada writes against the IOOS compliance checker (CF-1.8, no
# high-priority failure): every synthetic flow's files, and every output of the demo pipeline
# (ingest's dataset.nc, the analyses of assimilate and baseline). Needs PyPI for the checker;
# without it the check is skipped, and says so.
out=$(mktemp -d)
# The binary the integration tests built.
contrada="${CARGO_TARGET_DIR:-target}/debug/contrada"
"$contrada" --quiet synth qg --out "$out/qg" --config configs/sample_data.toml --set synth.qg.samples=4 --set synth.qg.truth_days=1 >/dev/null
for flow in lagrangian gaussian lorenz96; do
    "$contrada" --quiet synth "$flow" --out "$out/$flow" --config configs/sample_data.toml --samples 8 >/dev/null
done
"$contrada" --quiet run pipelines/demo.toml --run-dir "$out/demo" --window 2026-11-28 >/dev/null
set +e
bash scripts/cf_compliance.sh "$out"
status=$?
set -e
rm -rf "$out"
if [ "$status" -eq 3 ]; then
    echo "test.sh: the CF compliance check was skipped (compliance-checker could not be installed)" >&2
elif [ "$status" -ne 0 ]; then
    echo "test.sh: CF compliance check failed" >&2
    exit "$status"
fi
