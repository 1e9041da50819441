#!/usr/bin/env bash
# Admission webhook benchmark: the agent's webhook (release build, TLS on loopback, an inventory
# of 1,000 clusters) under wrk at fixed connections; requests/s and latency percentiles.
# wrk and the server share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release --product webhook-bench >/dev/null
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=${PORT:-18444}
.build/release/webhook-bench "$work" "$port" > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do grep -q ready "$work/server.log" 2>/dev/null && break; sleep 0.1; done
cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/review.json", "r")
wrk.body = f:read("*all")
f:close()
LUA
# Warm-up, then measured runs at fixed connection counts.
wrk -t1 -c4 -d3s -s "$work/post.lua" "https://127.0.0.1:$port/mutate" >/dev/null
echo "| connections | requests/s | p50 | p90 | p99 |"
echo "|---:|---:|---:|---:|---:|"
for connections in 1 4 16; do
    for run in 1 2 3; do
        out=$(wrk -t1 -c"$connections" -d10s --latency -s "$work/post.lua" "https://127.0.0.1:$port/mutate")
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        p50=$(echo "$out" | awk '$1=="50%" {print $2}')
        p90=$(echo "$out" | awk '$1=="90%" {print $2}')
        p99=$(echo "$out" | awk '$1=="99%" {print $2}')
        errors=$(echo "$out" | grep -E "Non-2xx|Socket errors" || true)
        echo "| $connections | $rps | $p50 | $p90 | $p99 |${errors:+ $errors}"
    done
done
# What sharing each decision as a FunctionPlacement costs (issue 19): the Placer alone, then with
# the reads and writes on an API server (KubeSim, loopback TLS), 20 and 200 decisions in a row.
# Nothing ends the reservations here (no pods appear, no leader runs), so every decision lists
# all earlier ones: the worst case of a burst.
for decisions in 20 200; do
    echo
    .build/release/webhook-bench --shared "$decisions"
done
