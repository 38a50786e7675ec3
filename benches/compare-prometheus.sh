#!/usr/bin/env bash
# Serves one generated payload on loopback, scrapes it with Debian's Prometheus and then with
# nightwatch (one after the other, so they do not compete for the two cores), and prints both
# per-scrape costs, both RSS figures and the ratios.
#
#   benches/compare-prometheus.sh [SERIES] [SECONDS]      (defaults: 100000 60)
#
# Prometheus: its own scrape_duration_seconds (fetch + parse + append to its head block).
# nightwatch: fetch + parse (scrape), store ingestion, and evaluation of every signal.
# nightwatch runs twice: with signals that read a few families (the normal case: the store
# keeps what the signals read), and with a signal that reads every series (the worst case).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/lib.sh
SERIES=${1:-100000}
SECS=${2:-60}
INTERVAL=5
command -v prometheus >/dev/null || { echo "needs Debian's prometheus: apt-get install prometheus" >&2; exit 1; }
ulimit -n 4096 || true

cargo build --release --quiet --example serve_fixture --example poll_bench
tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

fport=$(free_port)
target/release/examples/serve_fixture --port "$fport" --series "$SERIES" 2>"$tmp/fixture.log" &
until curl -sf -o /dev/null "http://127.0.0.1:$fport/metrics"; do sleep 0.2; done
bytes=$(curl -s "http://127.0.0.1:$fport/metrics" | wc -c)
echo "payload: $SERIES series, $bytes bytes; interval ${INTERVAL}s; ${SECS}s measured per run"

# --- Prometheus ---
pport=$(free_port)
cat > "$tmp/prometheus.yml" <<YML
global:
  scrape_interval: ${INTERVAL}s
  scrape_timeout: ${INTERVAL}s
scrape_configs:
  - job_name: payload
    static_configs:
      - targets: ['127.0.0.1:$fport']
YML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn 2>"$tmp/prom.log" &
ppid=$!
until curl -sf -o /dev/null "http://127.0.0.1:$pport/-/ready"; do sleep 0.2; done
sleep "$SECS"
q() { curl -s --data-urlencode "query=$1" "http://127.0.0.1:$pport/api/v1/query" | jq -r '.data.result[0].value[1] // "nan"'; }
prom_p50=$(q "quantile_over_time(0.5, scrape_duration_seconds{job=\"payload\"}[${SECS}s]) * 1000")
prom_p99=$(q "quantile_over_time(0.99, scrape_duration_seconds{job=\"payload\"}[${SECS}s]) * 1000")
prom_n=$(q "count_over_time(scrape_duration_seconds{job=\"payload\"}[${SECS}s])")
prom_samples=$(q "scrape_samples_scraped{job=\"payload\"}")
prom_rss=$(awk '/VmRSS/ {print $2}' "/proc/$ppid/status")
kill "$ppid"; wait "$ppid" 2>/dev/null || true

# --- nightwatch ---
nw_run() { # $1: name, $2: signals TOML
  cat > "$tmp/nw-$1.toml" <<TOML
[cockpit]
builtin-signals = false
refresh = "${INTERVAL}s"
max-series = 2000000

[[source]]
name = "payload"
kind = "scrape"
targets = ["127.0.0.1:$fport"]
interval = "${INTERVAL}s"
timeout = "${INTERVAL}s"
body-limit = "256MiB"
sample-limit = 10000000

$2
TOML
  target/release/examples/poll_bench --config "$tmp/nw-$1.toml" --duration "$SECS" --warmup "$INTERVAL" > "$tmp/nw-$1.out"
}
few='[[signal]]
id = "requests"
expr = "sum by (method) (rate(app_requests_handled_0_total[1m]))"

[[signal]]
id = "latency"
expr = "histogram_quantile(0.99, sum by (le) (rate(app_request_duration_2_seconds_bucket[1m])))"

[[signal]]
id = "queue"
expr = "max(app_queue_depth_messages_1)"'
all="$few

[[signal]]
id = \"everything\"
expr = 'count({__name__=~\".+\"})'"
nw_run few "$few"
nw_run all "$all"
val() { grep "^$2=" "$tmp/nw-$1.out" | cut -d= -f2; }

printf '\n%-34s %12s %12s %12s\n' "" "Prometheus" "nw (few)" "nw (all)"
total() { awk -v a="$(val "$1" scrape_ms_p50)" -v b="$(val "$1" ingest_ms_p50)" -v c="$(val "$1" eval_ms_p50)" 'BEGIN{printf "%.1f", a+b+c}'; }
printf '%-34s %12.1f %12s %12s\n' "scrape+parse+store+eval p50 (ms)" "$prom_p50" "$(total few)" "$(total all)"
printf '%-34s %12.1f %12s %12s\n' "  of which fetch+parse p50 (ms)" "$prom_p50" "$(val few scrape_ms_p50)" "$(val all scrape_ms_p50)"
printf '%-34s %12s %12s %12s\n' "  ingest p50 (ms)" "-" "$(val few ingest_ms_p50)" "$(val all ingest_ms_p50)"
printf '%-34s %12s %12s %12s\n' "  evaluate p50 (ms)" "-" "$(val few eval_ms_p50)" "$(val all eval_ms_p50)"
printf '%-34s %12.1f %12s %12s\n' "scrape p99 (ms)" "$prom_p99" "$(val few scrape_ms_p99)" "$(val all scrape_ms_p99)"
printf '%-34s %12s %12s %12s\n' "scrapes measured" "$prom_n" "$(val few scrapes_ok)" "$(val all scrapes_ok)"
printf '%-34s %12s %12s %12s\n' "samples per scrape (kept)" "$prom_samples" "$(val few samples_kept_per_scrape)" "$(val all samples_kept_per_scrape)"
printf '%-34s %12s %12s %12s\n' "RSS at end (MiB)" "$((prom_rss / 1024))" "$(( $(val few rss_kib) / 1024 ))" "$(( $(val all rss_kib) / 1024 ))"
printf '%-34s %12s %12s %12s\n' "peak RSS (MiB)" "-" "$(( $(val few peak_rss_kib) / 1024 ))" "$(( $(val all peak_rss_kib) / 1024 ))"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.3f", a/b; else print "n/a" }'; }
echo
echo "time ratio nightwatch/Prometheus:  few $(ratio "$(total few)" "$prom_p50")   all $(ratio "$(total all)" "$prom_p50")   (target <= 0.333)"
echo "RSS ratio nightwatch/Prometheus:   few $(ratio "$(val few rss_kib)" "$prom_rss")   all $(ratio "$(val all rss_kib)" "$prom_rss")   (target <= 0.333)"
