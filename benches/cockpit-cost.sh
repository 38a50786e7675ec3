#!/usr/bin/env bash
# What the cockpit costs over SSH: run it at 120x40 in tmux (under `script`, which records every
# byte written to the terminal) on the built-in simulated fleet, 1 s refresh, for SECONDS after a
# WARMUP; print CPU % of one core, RSS (the in-process fleet included), terminal bytes per second
# and the time to the first full frame. Where htop or btm is installed, measure it the same way
# in the same run and print ratios.
#
#   benches/cockpit-cost.sh [SECONDS=30] [WARMUP=10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
warm=${2:-10}
command -v tmux >/dev/null || { echo "needs tmux" >&2; exit 1; }
command -v script >/dev/null || { echo "needs script (util-linux)" >&2; exit 1; }
cargo build --release --quiet --bin nightwatch
tick=$(getconf CLK_TCK)
dir=$(mktemp -d)
sock="nightwatch-cost-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true; rm -rf "$dir"' EXIT

# measure NAME PROCESS-NAME COMMAND…: prints "NAME cpu% rss_kib bytes_per_s"
measure() {
  local name=$1 pname=$2; shift 2
  local ts="$dir/$name.typescript"
  tmux -L "$sock" new-session -d -s "$name" -x 120 -y 40 \
    "script -q -f -c '$*' $ts"
  local pid=""
  for _ in $(seq 100); do
    pid=$(pgrep -n -x "$pname" || true)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || { echo "$name did not start" >&2; return 1; }
  sleep "$warm"
  local b0 c0 b1 c1 rss
  b0=$(stat -c %s "$ts")
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep "$secs"
  b1=$(stat -c %s "$ts")
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  tmux -L "$sock" kill-session -t "$name"
  python3 -c "print(f'$name {($c1-$c0)/$tick/$secs*100:.2f} $rss {($b1-$b0)/$secs:.0f}')"
}

log="$dir/nightwatch.log"
ours=$(measure nightwatch nightwatch "env XDG_CONFIG_HOME=$dir NIGHTWATCH_LOG=info NIGHTWATCH_LOG_FILE=$log target/release/nightwatch")
first=$(grep -o 'ms=[0-9.]*' "$log" | head -1 | cut -d= -f2)
read -r _ cpu rss bps <<<"$ours"
printf 'nightwatch (120x40, built-in fleet, 1 s refresh, %ss after %ss): CPU %s%% of a core, RSS %s MiB, %s B/s to the terminal, first full frame %s ms\n' \
  "$secs" "$warm" "$cpu" "$((rss / 1024))" "$bps" "${first:-?}"

for peer in htop btm; do
  command -v "$peer" >/dev/null || { echo "$peer not installed: no ratio"; continue; }
  case $peer in htop) args="htop -d 10" ;; btm) args="btm --rate 1000" ;; esac
  theirs=$(measure "$peer" "$peer" "$args")
  read -r _ pcpu prss pbps <<<"$theirs"
  printf '%s (1 s): CPU %s%%, RSS %s MiB, %s B/s; ratios nightwatch/%s: CPU %s, RSS %s, bytes %s\n' "$peer" "$pcpu" "$((prss / 1024))" "$pbps" "$peer" \
    "$(python3 -c "print(f'{$cpu/max($pcpu,1e-9):.2f}')")" "$(python3 -c "print(f'{$rss/$prss:.2f}')")" "$(python3 -c "print(f'{$bps/max($pbps,1):.2f}')")"
done
