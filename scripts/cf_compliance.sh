#!/usr/bin/env bash
# Runs the IOOS compliance checker's CF-1.8 test on every NetCDF file under a directory (its
# subdirectories included) and fails on any high-priority failure (medium and low ones are counted,
# not fatal). A failing file's high-priority messages are printed under its line; the last line is
# the total, "cf_compliance: N files, H high-priority failures".
#
# Usage: scripts/cf_compliance.sh DIR        e.g. after `contrada synth qg --out DIR`
# The checker (pip `compliance-checker`, pinned below) goes into .venv-cc/ on first use; without
# network access the install fails and the script says so and exits 3, so a caller can tell
# "could not check" from "failed" (2). A directory without any NetCDF file is an error (1): a
# check of nothing would pass whatever the writers do.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
DIR="${1:?usage: scripts/cf_compliance.sh DIR}"
VENV=.venv-cc
mapfile -d '' files < <(find "$DIR" -name '*.nc' -type f -print0 | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
    echo "cf_compliance: no .nc file under $DIR" >&2
    exit 1
fi
if ! ensure_venv "$VENV" compliance-checker 6.1.0; then
    echo "cf_compliance: could not install compliance-checker 6.1.0 (no network?); nothing checked" >&2
    exit 3
fi
# Prints "high medium low" and then the messages of each failed high-priority check.
summary='
import json, sys
c = json.load(open(sys.argv[1]))["cf:1.8"]
print(c["high_count"], c["medium_count"], c["low_count"])
for r in c["high_priorities"]:
    if r["value"][0] < r["value"][1]:
        for m in r["msgs"]:
            print("    " + r["name"] + ": " + m)
'
total_high=0
total_medium=0
json=$(mktemp)
trap 'rm -f "$json"' EXIT
for f in "${files[@]}"; do
    rm -f "$json"
    "$VENV/bin/compliance-checker" --test cf:1.8 -f json -o "$json" "$f" >/dev/null 2>&1 || true
    if [ ! -s "$json" ]; then
        # The checker could not read the file at all: count it as one high-priority failure.
        echo "${f#"$DIR"/}: the checker produced no report"
        total_high=$((total_high + 1))
        continue
    fi
    report=$("$VENV/bin/python" -c "$summary" "$json")
    read -r high medium low <<<"$(head -n 1 <<<"$report")"
    echo "${f#"$DIR"/}: CF-1.8 high $high, medium $medium, low $low"
    tail -n +2 <<<"$report"
    total_high=$((total_high + high))
    total_medium=$((total_medium + medium))
done
echo "cf_compliance: ${#files[@]} files, $total_high high-priority failures ($total_medium medium)"
[ "$total_high" -eq 0 ] || exit 2
