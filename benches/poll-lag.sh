#!/usr/bin/env bash
# 1000 targets at a 1 s interval, 100 of them never answering: is every healthy target polled
# on time? Prints scheduling lag percentiles and polls per healthy target.
#
#   benches/poll-lag.sh [TARGETS] [HANGING] [SECONDS]      (defaults: 1000 100 60)
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
TARGETS=${1:-1000}
HANG=${2:-100}
SECS=${3:-60}
ulimit -n 8192 || true
cargo build --release --quiet --example serve_fixture --example poll_bench
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(free_port)
start_target_fixture "$port" "$TARGETS" "$HANG" "$tmp/fixture.log"
targets=$(fixture_targets "$port" "$TARGETS")
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
