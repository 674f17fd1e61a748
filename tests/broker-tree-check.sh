#!/usr/bin/env bash
# The broker's dependency budget (issue 14, docs/DESIGN.md section 3): the
# ike-pfkey package (the broker binary, pfkey-sim and pfkey-probe share it)
# links at most 15 distinct crates, itself and ike-ipc included, on the build
# host's target. Counted as distinct "name version" lines of
# `cargo tree -e normal,no-proc-macro` (the "(*)" repeat markers removed).
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=15
list=$(cargo tree --locked -p ike-pfkey -e normal,no-proc-macro --prefix none \
    | sed 's/ (\*)$//' | sort -u)
n=$(printf '%s\n' "$list" | wc -l)
if [ "$n" -gt "$LIMIT" ]; then
    echo "broker-tree-check: ike-pfkey links $n crates, more than $LIMIT:" >&2
    printf '%s\n' "$list" >&2
    exit 1
fi
echo "broker-tree-check: ike-pfkey links $n crates (limit $LIMIT)"
