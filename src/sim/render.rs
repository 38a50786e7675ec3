//! The fleet's `/metrics`: Prometheus text by default, OpenMetrics when asked, both from one
//! list of families with the metric names and labels of the real exporters.
//!
//! Envoy exposes `envoy_cluster_upstream_rq_timeout` and `_rq_retry` as counters without a
//! `_total` suffix; promtool's linter rejects that, so they are exposed untyped (rates work the
//! same) and keep the names real dashboards and the shipped config use.

use std::fmt::Write;

use super::model::{Fleet, Histogram};
use crate::intake::exposition::{Format, format_value};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Untyped,
    Histogram,
}

/// One sample line: the suffix after the family name, the labels and the value as written.
type Sample = (&'static str, Vec<(&'static str, String)>, String);

struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    /// (suffix, labels, value)
    samples: Vec<Sample>,
}

/// A gauge, bound or sum as exposed: whole numbers keep a `.0` (`le="1.0"`), as client
/// libraries write floats.
fn num(v: f64) -> String {
    let s = format_value(v);
    if v.is_finite() && !s.contains(['.', 'e']) { format!("{s}.0") } else { s }
}

/// A counter as exposed: the simulated count divided by the fleet's counter divisor, rounded
/// down, so it stays an integer that only grows.
fn count(v: u64, divisor: f64) -> String {
    if divisor == 1.0 { v.to_string() } else { ((v as f64 / divisor).floor() as u64).to_string() }
}

fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, kind, help, samples: Vec::new() }
}

fn push_histogram(f: &mut Family, labels: Vec<(&'static str, String)>, h: &Histogram, d: f64) {
    let cumulative = h.cumulative();
    for (k, c) in cumulative.iter().enumerate() {
        let le = h.bounds.get(k).map_or_else(|| "+Inf".to_owned(), |b| num(*b));
        let mut l = labels.clone();
        l.push(("le", le));
        f.samples.push(("_bucket", l, count(*c, d)));
    }
    f.samples.push(("_sum", labels.clone(), num(h.sum / d)));
    // The +Inf bucket's count, divided the same way.
    f.samples.push(("_count", labels, count(h.count, d)));
}

fn families(fleet: &Fleet) -> Vec<Family> {
    let mut out = Vec::new();
    let d = fleet.counter_divisor;

    let mut offset =
        family("node_timex_offset_seconds", Kind::Gauge, "Time offset in between local system and reference clock.");
    let mut sync =
        family("node_timex_sync_status", Kind::Gauge, "Is clock synchronized to a reliable server (1 = yes, 0 = no).");
    let mut maxerr = family("node_timex_maxerror_seconds", Kind::Gauge, "Maximum error in seconds.");
    for n in &fleet.nodes {
        let l = || vec![("node", n.name.clone())];
        offset.samples.push(("", l(), num(n.offset)));
        sync.samples.push(("", l(), if n.synced() { "1".into() } else { "0".into() }));
        maxerr.samples.push(("", l(), num(n.maxerror())));
    }
    out.extend([offset, sync, maxerr]);

    let mut total = family("envoy_cluster_upstream_rq_total", Kind::Counter, "Total requests to the upstream cluster.");
    let mut timeout =
        family("envoy_cluster_upstream_rq_timeout", Kind::Untyped, "Requests to the upstream cluster that timed out.");
    let mut retry =
        family("envoy_cluster_upstream_rq_retry", Kind::Untyped, "Retries of requests to the upstream cluster.");
    let mut time = family(
        "envoy_cluster_upstream_rq_time",
        Kind::Histogram,
        "Request time to the upstream cluster, in milliseconds.",
    );
    let mut budget = family(
        "envoy_cluster_upstream_rq_timeout_budget_percent_used",
        Kind::Histogram,
        "Percent of the timeout budget a request to the upstream cluster used.",
    );
    let mut budget_s =
        family("route_timeout_budget_seconds", Kind::Gauge, "The route timeout for calls to the cluster.");
    let mut breaker = family(
        "envoy_cluster_circuit_breakers_default_rq_open",
        Kind::Gauge,
        "Whether the circuit breaker to the cluster is open (1) or closed (0).",
    );
    for h in &fleet.hops {
        let l = || vec![("envoy_cluster_name", h.name.to_owned())];
        total.samples.push(("", l(), count(h.rq_total, d)));
        timeout.samples.push(("", l(), count(h.rq_timeout, d)));
        retry.samples.push(("", l(), count(h.rq_retry, d)));
        push_histogram(&mut time, l(), &h.rq_time, d);
        push_histogram(&mut budget, l(), &h.budget_used, d);
        budget_s.samples.push(("", l(), num(h.budget_s)));
        breaker.samples.push(("", l(), if h.breaker_open { "1".into() } else { "0".into() }));
    }
    let mut backoff = family("retry_backoff_multiplier", Kind::Gauge, "Multiplier of the exponential retry backoff.");
    backoff.samples.push(("", vec![], num(fleet.backoff_multiplier)));
    out.extend([total, timeout, retry, time, budget, budget_s, breaker, backoff]);

    let mut http = family("http_request_duration_seconds", Kind::Histogram, "Request duration at the edge, by path.");
    push_histogram(&mut http, vec![("path", "/api/orders".into())], &fleet.http_user, d);
    push_histogram(&mut http, vec![("path", "/healthz".into())], &fleet.http_health, d);
    out.push(http);

    let c = &fleet.cache;
    let simple = |name, kind, help, value: String| {
        let mut f = family(name, kind, help);
        f.samples.push(("", vec![], value));
        f
    };
    out.push(simple(
        "redis_keyspace_hits_total",
        Kind::Counter,
        "Successful lookups of keys in the main dictionary.",
        count(c.hits, d),
    ));
    out.push(simple(
        "redis_keyspace_misses_total",
        Kind::Counter,
        "Failed lookups of keys in the main dictionary.",
        count(c.misses, d),
    ));
    out.push(simple("redis_memory_used_bytes", Kind::Gauge, "Memory used by Redis.", num(c.used.round())));
    out.push(simple("redis_memory_max_bytes", Kind::Gauge, "The maxmemory setting.", num(c.maxmemory.round())));
    out.push(simple("redis_evicted_keys_total", Kind::Counter, "Keys evicted for maxmemory.", count(c.evicted, d)));
    let mut keys = family("redis_db_keys", Kind::Gauge, "Keys in the database.");
    keys.samples.push(("", vec![("db", "db0".into())], num(c.keys.round())));
    out.push(keys);

    let b = &fleet.bus;
    out.push(simple(
        "messages_delivered_total",
        Kind::Counter,
        "Messages delivered by the bus.",
        count(b.delivered, d),
    ));
    let mut ooo =
        family("messages_out_of_order_total", Kind::Counter, "Messages delivered out of order, by ordering kind.");
    for (k, kind) in ["causal", "total", "vector"].iter().enumerate() {
        ooo.samples.push(("", vec![("kind", (*kind).to_owned())], count(b.out_of_order[k], d)));
    }
    out.push(ooo);
    out.push(simple(
        "messages_duplicate_total",
        Kind::Counter,
        "Messages delivered more than once.",
        count(b.duplicate, d),
    ));
    out.push(simple(
        "operations_duplicate_total",
        Kind::Counter,
        "Operations executed more than once (duplicates the idempotency cache missed).",
        count(b.operations_duplicate, d),
    ));
    let w = &fleet.writes;
    let mut attempts = family("write_attempts_total", Kind::Counter, "Writes attempted, by service and entity type.");
    let mut conflicts = family(
        "write_conflicts_total",
        Kind::Counter,
        "Writes that met a concurrent writer of the same entity (optimistic lock conflicts).",
    );
    let mut writers =
        family("write_concurrent_writers", Kind::Gauge, "Distinct writers of a hot entity over the last hour.");
    for (k, (service, entity, _)) in super::model::WRITERS.iter().enumerate() {
        let l = || vec![("service", (*service).to_owned()), ("entity_type", (*entity).to_owned())];
        attempts.samples.push(("", l(), count(w.attempts[k], d)));
        conflicts.samples.push(("", l(), count(w.conflicts[k], d)));
        for (j, extra) in w.extra_writers[k].iter().enumerate() {
            let mut labels = l();
            labels.push(("entity_id", format!("{entity}-{}", 1042 + 97 * j)));
            // Distinct writers: never more than there are nodes.
            writers.samples.push(("", labels, num((1.0 + extra).round().min(fleet.nodes.len() as f64))));
        }
    }
    out.extend([attempts, conflicts, writers]);
    out
}

/// The fleet's metrics in `format`.
pub fn render(fleet: &Fleet, format: Format) -> String {
    let mut s = String::with_capacity(4096 + fleet.nodes.len() * 160);
    for f in families(fleet) {
        let (family_name, type_name) = match (format, f.kind) {
            (Format::OpenMetrics, Kind::Counter) => (f.name.strip_suffix("_total").unwrap_or(f.name), "counter"),
            (Format::OpenMetrics, Kind::Untyped) => (f.name, "unknown"),
            (Format::Text, Kind::Untyped) => (f.name, "untyped"),
            (_, Kind::Counter) => (f.name, "counter"),
            (_, Kind::Gauge) => (f.name, "gauge"),
            (_, Kind::Histogram) => (f.name, "histogram"),
        };
        let _ = writeln!(s, "# HELP {family_name} {}", f.help);
        let _ = writeln!(s, "# TYPE {family_name} {type_name}");
        for (suffix, labels, value) in &f.samples {
            s.push_str(f.name);
            s.push_str(suffix);
            if !labels.is_empty() {
                s.push('{');
                for (k, (name, v)) in labels.iter().enumerate() {
                    if k > 0 {
                        s.push(',');
                    }
                    let _ = write!(s, "{name}=\"{v}\"");
                }
                s.push('}');
            }
            s.push(' ');
            s.push_str(value);
            s.push('\n');
        }
    }
    if format == Format::OpenMetrics {
        s.push_str("# EOF\n");
    }
    s
}
