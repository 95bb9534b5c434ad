#!/usr/bin/env bash
# Runs the IOOS compliance checker's CF-1.8 test on every NetCDF file of a directory and fails on
# any high-priority failure (medium and low ones are printed, not fatal).
#
# Usage: scripts/cf_compliance.sh DIR        e.g. after `contrada synth qg --out DIR`
# The checker (pip `compliance-checker`, pinned below) goes into .venv-cc/ on first use; without
# network access the install fails and the script says so and exits 3, so a caller can tell
# "could not check" from "failed" (2).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
DIR="${1:?usage: scripts/cf_compliance.sh DIR}"
VENV=.venv-cc
if ! ensure_venv "$VENV" compliance-checker 6.1.0; then
    echo "cf_compliance: could not install compliance-checker 6.1.0 (no network?); nothing checked" >&2
    exit 3
fi
status=0
for f in "$DIR"/*.nc; do
    json=$(mktemp)
    "$VENV/bin/compliance-checker" --test cf:1.8 -f json -o "$json" "$f" >/dev/null 2>&1 || true
    counts=$("$VENV/bin/python" -c "import json,sys; c=json.load(open(sys.argv[1]))['cf:1.8']; print(c['high_count'], c['medium_count'], c['low_count'])" "$json")
    rm -f "$json"
    read -r high medium low <<<"$counts"
    echo "$(basename "$f"): CF-1.8 high $high, medium $medium, low $low"
    [ "$high" -eq 0 ] || status=2
done
exit $status
