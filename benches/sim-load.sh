#!/usr/bin/env bash
# The simulated fleet as a load target: `nightwatch sim --nodes N --speed 60` under a closed-loop
# scrape load (examples/scrape_load.rs), then the same load against a real exporter as the peer
# (Debian's prometheus-node-exporter with its default collectors), one after the other.
#
#   benches/sim-load.sh [NODES=1000] [SECONDS=20] [CONCURRENCY=4]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
nodes=${1:-1000}
secs=${2:-20}
conc=${3:-4}

cargo build --release --quiet --bin nightwatch --example scrape_load
wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

p=$(free_port)
target/release/nightwatch sim --listen "127.0.0.1:$p" --nodes "$nodes" --speed 60 >/dev/null &
pids+=($!)
wait_port "$p"
sleep 1
sim=$(target/release/examples/scrape_load --url "http://127.0.0.1:$p/metrics" --duration "$secs" --concurrency "$conc" --label "nightwatch sim ($nodes nodes)")
echo "$sim"
sim_rss=$(awk '/VmRSS/ {print $2}' "/proc/${pids[0]}/status")
echo "  fleet RSS: $((sim_rss / 1024)) MiB"
kill "${pids[0]}"

if command -v prometheus-node-exporter >/dev/null; then
  q=$(free_port)
  prometheus-node-exporter --web.listen-address="127.0.0.1:$q" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "$q"
  sleep 1
  peer=$(target/release/examples/scrape_load --url "http://127.0.0.1:$q/metrics" --duration "$secs" --concurrency "$conc" --label "node_exporter (peer)")
  echo "$peer"
  rate() { sed -E 's/.*= ([0-9.]+)\/s.*/\1/' <<<"$1"; }
  echo "throughput ratio, sim / node_exporter: $(python3 -c "print(f'{$(rate "$sim")/$(rate "$peer"):.1f}x')")"
else
  echo "prometheus-node-exporter not installed: no peer run"
fi
