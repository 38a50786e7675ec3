#!/usr/bin/env bash
# 1000 targets at a 1 s interval, 100 of them never answering: is every healthy target polled
# on time? Prints scheduling lag percentiles and polls per healthy target.
#
#   benches/poll-lag.sh [TARGETS] [HANGING] [SECONDS]      (defaults: 1000 100 60)
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=${1:-1000}
HANG=${2:-100}
SECS=${3:-60}
ulimit -n 8192 || true
cargo build --release --quiet --example serve_fixture --example poll_bench
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/examples/serve_fixture --port "$port" --targets "$TARGETS" --hang "$HANG" 2>"$tmp/fixture.log" &
until curl -sf -o /dev/null "http://127.0.0.1:$port/t/0"; do sleep 0.2; done
targets=$(seq 0 $((TARGETS - 1)) | sed "s|.*|\"http://127.0.0.1:$port/t/&\"|" | paste -sd, -)
cat > "$tmp/lag.toml" <<TOML
[cockpit]
builtin-signals = false
refresh = "1s"

[[source]]
name = "fleet"
kind = "scrape"
targets = [$targets]
interval = "1s"
timeout = "1s"

[[signal]]
id = "up"
expr = "sum(probe_up)"

[[signal]]
id = "requests"
expr = "sum(rate(probe_requests_total[1m]))"
TOML
echo "$TARGETS targets ($HANG never answer), 1 s interval, ${SECS}s measured, $(nproc) cores"
target/release/examples/poll_bench --config "$tmp/lag.toml" --duration "$SECS" --warmup 3 | tee "$tmp/out"
p99=$(grep '^lag_ms_p99=' "$tmp/out" | cut -d= -f2)
echo
echo "healthy-target lag p99: ${p99} ms (target < 100 ms)"
