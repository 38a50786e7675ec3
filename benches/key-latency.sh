#!/usr/bin/env bash
# Key presses while 1000 targets are polled: the cockpit (120x40, in tmux) watches the built-in
# fleet plus 1000 fixture targets at a 1 s interval (100 of which never answer); `t` is sent
# KEYS times, 200 ms apart; each press's latency is from just before `tmux send-keys` to the
# cockpit's log line written after the frame that answers it reached the terminal.
#
#   benches/key-latency.sh [TARGETS=1000] [HANGING=100] [KEYS=100]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
TARGETS=${1:-1000}
HANG=${2:-100}
KEYS=${3:-100}
ulimit -n 8192 || true
cargo build --release --quiet --bin nightwatch --example serve_fixture
tmp=$(mktemp -d)
sock="nightwatch-keys-$$"
cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(free_port)
start_target_fixture "$port" "$TARGETS" "$HANG" "$tmp/fixture.log"
targets=$(fixture_targets "$port" "$TARGETS")
cat > "$tmp/keys.toml" <<TOML
[[source]]
name = "demo"
kind = "sim"
interval = "5s"

[[source]]
name = "fleet"
kind = "scrape"
targets = [$targets]
interval = "1s"
timeout = "1s"
TOML
log="$tmp/nightwatch.log"
tmux -L "$sock" new-session -d -s nw -x 120 -y 40 \
  "NIGHTWATCH_LOG=nightwatch=debug NIGHTWATCH_LOG_FILE=$log target/release/nightwatch --config $tmp/keys.toml"
sleep 8
sent="$tmp/sent"
: >"$sent"
for _ in $(seq "$KEYS"); do
  date +%s%6N >>"$sent"
  tmux -L "$sock" send-keys -t nw t
  sleep 0.2
done
sleep 1
grep -o 'at_us=[0-9]*' "$log" | cut -d= -f2 >"$tmp/answered"
python3 - "$sent" "$tmp/answered" "$TARGETS" "$HANG" <<'PY'
import sys
sent = [int(x) for x in open(sys.argv[1])]
got = [int(x) for x in open(sys.argv[2])]
if len(got) != len(sent):
    print(f"{len(sent)} keys sent, {len(got)} answered"); sys.exit(1)
lat = sorted((g - s) / 1000 for s, g in zip(sent, got))
p = lambda q: lat[min(len(lat) - 1, round((len(lat) - 1) * q))]
print(f"{len(lat)} key presses while {sys.argv[3]} targets ({sys.argv[4]} hanging) are polled every 1 s: "
      f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms (target: within 50 ms)")
PY
