#!/usr/bin/env bash
# Placement benchmark: decisions at 3/100/1,000 clusters, and the inventory from 10,000 Nodes and
# 100,000 Pods (time and peak RSS in a process of its own). Release build. Prints markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product placement-bench >/dev/null
bench=.build/release/placement-bench
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
echo "## Placement decisions"
"$bench" decisions
echo
"$bench" generate "$data"
echo "## Inventory"
"$bench" inventory "$data"
