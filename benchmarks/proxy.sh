#!/usr/bin/env bash
# Invocation proxy benchmark. The agent (release build, `serve` beside `sim`), nginx
# (proxy_pass with upstream keepalive) and HAProxy stand side by side in front of the same fast
# upstream (an nginx answering 200 with a small JSON body) on loopback, plus the direct path and,
# for reference, nginx with its workers pinned to CPUs. wrk sends Direktiv-like POSTs at fixed
# connections; runs alternate between the paths and the medians of ROUNDS runs are printed with
# the agent/nginx ratios. Then the agent's memory:
# its RSS before, during and after load, and while 100 MiB bodies stream through it.
# Everything shares the machine's cores (2 here), wrk included.
#
#   benchmarks/proxy.sh            # ROUNDS=5 DURATION=10 CONNECTIONS="1 16 64"
#   BASELINE=/path/to/older/direktiv-dispatch benchmarks/proxy.sh
#                                  # also an earlier build's agent, as path "baseline", side by
#                                  # side in the same runs, with agent/baseline ratios
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk; need nginx nginx; need haproxy haproxy; need openssl openssl; need curl curl
swift build -c release --product direktiv-dispatch >/dev/null
bin=.build/release/direktiv-dispatch

work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
upstream=18180; nginx_port=18181; haproxy_port=18182; agent_port=18183; admin_port=18184; webhook_port=18185; sink_port=18186; pinned_port=18187
baseline_port=18188; baseline_admin=18189; baseline_webhook=18190
BASELINE=${BASELINE:-}
ns=direktiv-services-direktiv; fn=bench

# The fast upstream and nginx as a proxy, one nginx process each.
mkdir -p "$work/up" "$work/ngx"
cat > "$work/up/nginx.conf" <<NGINX
worker_processes 1;
error_log $work/up/error.log;
pid $work/up/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/up;
    client_max_body_size 200m;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$upstream;
        location / { default_type application/json; return 200 '{"result":"ok"}'; }
    }
}
NGINX
cat > "$work/ngx/nginx.conf" <<NGINX
worker_processes 2;
error_log $work/ngx/error.log;
pid $work/ngx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/ngx;
    proxy_temp_path $work/ngx;
    keepalive_requests 1000000;
    upstream function { server 127.0.0.1:$upstream; keepalive 256; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://function;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $fn.$ns;
        }
    }
}
NGINX
nginx -c "$work/up/nginx.conf" -p "$work/up" -g 'daemon off;' & pids+=($!)
nginx -c "$work/ngx/nginx.conf" -p "$work/ngx" -g 'daemon off;' & pids+=($!)
# nginx again with its workers pinned to CPUs (`worker_cpu_affinity auto`), as the agent pins
# its loops by default on a machine whose CPUs it may all use (ProxyCPUAffinity).
mkdir -p "$work/ngxp"
sed -e "s#$work/ngx#$work/ngxp#g" -e "s/127.0.0.1:$nginx_port/127.0.0.1:$pinned_port/" \
    -e 's/^worker_processes 2;/worker_processes 2;\nworker_cpu_affinity auto;/' "$work/ngx/nginx.conf" > "$work/ngxp/nginx.conf"
nginx -c "$work/ngxp/nginx.conf" -p "$work/ngxp" -g 'daemon off;' & pids+=($!)
cat > "$work/haproxy.cfg" <<HAPROXY
global
    nbthread 2
    maxconn 4096
defaults
    mode http
    timeout connect 1s
    timeout client 300s
    timeout server 300s
    option http-keep-alive
frontend proxy
    bind 127.0.0.1:$haproxy_port
    default_backend function
backend function
    http-reuse always
    server upstream 127.0.0.1:$upstream
HAPROXY
haproxy -f "$work/haproxy.cfg" -db & pids+=($!)

# The agent: a KubeSim for its API, the resolver file pointing the function at the upstream.
"$bin" sim --port 0 --kubeconfig-out "$work/kubeconfig" > "$work/sim.log" 2>&1 & pids+=($!)
for _ in $(seq 1 300); do grep -q '^kubeconfig:' "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
# The 100 MiB bodies go to a sink that reads them to the end (nginx' `return` answers first).
cat > "$work/sink.py" <<'PY'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        left = int(self.headers.get("Content-Length", "0"))
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                return
            left -= len(chunk)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
python3 "$work/sink.py" $sink_port & pids+=($!)
printf '{"hosts": {"%s.%s.svc.cluster.local": "127.0.0.1:%s", "sink.%s.svc.cluster.local": "127.0.0.1:%s"}}\n' "$fn" "$ns" "$upstream" "$ns" "$sink_port" > "$work/resolver.json"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=direktiv-dispatch -days 1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
"$bin" serve --kubeconfig "$work/kubeconfig" --rules examples/rules.yaml --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
    --bind-address 127.0.0.1 --proxy-port $agent_port --admin-port $admin_port --webhook-port $webhook_port \
    --resolver-file "$work/resolver.json" --log-level warning > "$work/agent.log" 2>&1 & agent=$!; pids+=($agent)
for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
if [ -n "$BASELINE" ]; then
    "$BASELINE" serve --kubeconfig "$work/kubeconfig" --rules examples/rules.yaml --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
        --bind-address 127.0.0.1 --proxy-port $baseline_port --admin-port $baseline_admin --webhook-port $baseline_webhook \
        --resolver-file "$work/resolver.json" --log-level warning > "$work/baseline.log" 2>&1 & pids+=($!)
    for _ in $(seq 1 300); do curl -fs "http://127.0.0.1:$baseline_admin/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
fi
for port in $upstream $nginx_port $haproxy_port $pinned_port; do
    for _ in $(seq 1 100); do curl -fs -o /dev/null -X POST -d '{}' "http://127.0.0.1:$port/" && break; sleep 0.1; done
done

# The agent is called as Direktiv calls it (absolute form through HTTP_PROXY would need a
# forward-proxy-aware load generator; the reverse form takes the same path through the agent).
declare -A url=(
    [direct]="http://127.0.0.1:$upstream/"
    [agent]="http://127.0.0.1:$agent_port/functions/$ns/$fn/"
    [nginx]="http://127.0.0.1:$nginx_port/"
    [haproxy]="http://127.0.0.1:$haproxy_port/"
    [nginx-pinned]="http://127.0.0.1:$pinned_port/"
)
paths="direct agent nginx haproxy nginx-pinned"
if [ -n "$BASELINE" ]; then
    url[baseline]="http://127.0.0.1:$baseline_port/functions/$ns/$fn/"
    paths="$paths baseline"
fi
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"input":{"name":"direktiv","items":[1,2,3]}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Direktiv-ActionID"] = "bench-action"
wrk.headers["Direktiv-InstanceID"] = "bench-instance"
wrk.headers["Direktiv-Namespace"] = "team-a"
wrk.headers["Direktiv-Step"] = "0"
wrk.headers["Direktiv-Deadline"] = "2099-01-01T00:00:00.000000000Z"
LUA
curl -fs -o /dev/null -X POST -d '{}' "${url[agent]}" || { echo "the agent does not forward:"; curl -s -X POST -d '{}' "${url[agent]}"; cat "$work/agent.log"; exit 1; }

rss() { awk '/VmRSS/ {print $2}' "/proc/$agent/status"; }
rss_start=$(rss)
peak=$rss_start
( while kill -0 "$agent" 2>/dev/null; do rss >> "$work/rss.samples"; sleep 0.5; done ) & pids+=($!)

results="$work/results.tsv"
for path in $paths; do wrk -t1 -c16 -d2s -s "$work/post.lua" "${url[$path]}" >/dev/null; done
for connections in $CONNECTIONS; do
    for round in $(seq 1 "$ROUNDS"); do
        for path in $paths; do
            out=$(wrk -t1 -c"$connections" -d"${DURATION}s" --latency -s "$work/post.lua" "${url[$path]}")
            rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
            p50=$(echo "$out" | awk '$1=="50%" {print $2}')
            p99=$(echo "$out" | awk '$1=="99%" {print $2}')
            errors=$(echo "$out" | awk '/Non-2xx/ {print $4} /Socket errors/ {print $0}' | tr '\n' ' ')
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$connections" "$path" "$rps" "$p50" "$p99" "$errors" >> "$results"
        done
    done
done
rss_load=$(sort -n "$work/rss.samples" | tail -1)

# 100 MiB bodies through the agent, one after another, RSS sampled meanwhile.
head -c $((100 << 20)) /dev/zero > "$work/body.bin"
: > "$work/rss.samples"
for _ in 1 2 3; do
    curl -fsS -o /dev/null -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$work/body.bin" "http://127.0.0.1:$agent_port/functions/$ns/sink/"
done
rss_bodies=$(sort -n "$work/rss.samples" | tail -1)
rss_end=$(rss)
# Where the agent's event loops may run (pinned: one CPU each).
loops=$(for task in /proc/$agent/task/*; do
    [[ $(cat "$task/comm") == NIO-ELT-* ]] && printf '%s:%s ' "$(cat "$task/comm")" "$(awk '/^Cpus_allowed_list/ {print $2}' "$task/status")"
done)

python3 - "$results" "$rss_start" "$rss_load" "$rss_bodies" "$rss_end" "$loops" "$paths" <<'PY'
import statistics, sys
from collections import defaultdict
def ms(text):
    text = text.strip()
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)
runs = defaultdict(list)
errors = defaultdict(set)
for line in open(sys.argv[1]):
    c, path, rps, p50, p99, err = (line.rstrip("\n").split("\t") + [""])[:6]
    runs[(int(c), path)].append((float(rps), ms(p50), ms(p99)))
    if err.strip():
        errors[(int(c), path)].add(err.strip())
print("| connections | path | requests/s (median) | p50 ms | p99 ms | runs |")
print("|---:|---|---:|---:|---:|---:|")
for c in sorted({c for c, _ in runs}):
    for path in sys.argv[7].split():
        r = runs[(c, path)]
        note = (" errors: " + "; ".join(sorted(errors[(c, path)]))) if errors[(c, path)] else ""
        print(f"| {c} | {path} | {statistics.median(x[0] for x in r):,.0f} | {statistics.median(x[1] for x in r):.3f} | {statistics.median(x[2] for x in r):.3f} | {len(r)} |{note}")
print()
print("| connections | agent/nginx requests/s | agent/nginx p99 | agent/haproxy requests/s | agent/nginx-pinned requests/s | agent/nginx-pinned p99 |")
print("|---:|---:|---:|---:|---:|---:|")
for c in sorted({c for c, _ in runs}):
    a, n, h, np = (runs[(c, p)] for p in ("agent", "nginx", "haproxy", "nginx-pinned"))
    rps = lambda r: statistics.median(x[0] for x in r)
    p99 = lambda r: statistics.median(x[2] for x in r)
    print(f"| {c} | {rps(a) / rps(n):.2f} | {p99(a) / p99(n):.2f} | {rps(a) / rps(h):.2f} | {rps(a) / rps(np):.2f} | {p99(a) / p99(np):.2f} |")
if any(path == "baseline" for _, path in runs):
    print()
    print("| connections | agent/baseline requests/s | agent/baseline p50 | agent/baseline p99 |")
    print("|---:|---:|---:|---:|")
    for c in sorted({c for c, _ in runs}):
        a, b = runs[(c, "agent")], runs[(c, "baseline")]
        med = lambda r, i: statistics.median(x[i] for x in r)
        print(f"| {c} | {med(a, 0) / med(b, 0):.2f} | {med(a, 1) / med(b, 1):.2f} | {med(a, 2) / med(b, 2):.2f} |")
print()
print(f"agent event loops (thread: allowed CPUs): {sys.argv[6].strip() or 'none found'}")
start, load, bodies, end = (int(x) / 1024 for x in sys.argv[2:6])
print()
print(f"agent RSS: {start:.0f} MiB at start, {load:.0f} MiB peak under load, {bodies:.0f} MiB peak while 3 x 100 MiB bodies streamed, {end:.0f} MiB at the end")
PY
