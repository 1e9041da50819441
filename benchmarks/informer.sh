#!/usr/bin/env bash
# Informer benchmark: catch-up of the live inventory over 10,000 Nodes and 100,000 Pods served
# by KubeSim in another process, and watch event throughput. Release build; markdown rows.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product informer-bench >/dev/null
bench=.build/release/informer-bench
work=$(mktemp -d)
trap 'kill $sim 2>/dev/null || true; rm -rf "$work"' EXIT
port=${PORT:-18443}
"$bench" sim "$port" "$work/kubeconfig" > "$work/sim.log" 2>&1 &
sim=$!
for _ in $(seq 1 600); do grep -q ready "$work/sim.log" 2>/dev/null && break; sleep 0.5; done
grep -q ready "$work/sim.log" || { echo "the simulator did not start"; cat "$work/sim.log"; exit 1; }
echo "| measurement | time | result |"
echo "|---|---:|---|"
for run in 1 2 3; do "$bench" catchup "$work/kubeconfig"; done
echo "| KubeSim process holding the 100,000 pods | | peak RSS $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$sim/status) |"
kill $sim
for run in 1 2 3; do "$bench" throughput 20000; done
