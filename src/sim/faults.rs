//! The chaos menu and the remedies, as data: parsed from the command line, sent as JSON to a
//! fleet's control endpoint, applied by the model.

use serde::{Deserialize, Serialize};

/// The services of the request path, in order, as their Envoy cluster names.
pub const SERVICES: [&str; 4] = ["gateway", "service-a", "service-b", "database"];

/// A service by name or alias (`payment` is service-b, `orders` service-a, `db` the database).
pub fn service_index(name: &str) -> Result<usize, String> {
    let canonical = match name {
        "payment" | "payments" => "service-b",
        "orders" => "service-a",
        "db" => "database",
        other => other,
    };
    SERVICES.iter().position(|s| *s == canonical).ok_or_else(|| {
        format!("unknown service {name:?}: use gateway, service-a (orders), service-b (payment) or database (db)")
    })
}

/// Which nodes a clock fault or an NTP sync touches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Nodes {
    All,
    /// A share of the fleet, chosen at random (but reproducibly) when the fault starts.
    Percent(f64),
    Names(Vec<String>),
}

impl Nodes {
    pub fn parse(s: &str) -> Result<Nodes, String> {
        let s = s.trim();
        if s == "all" {
            return Ok(Nodes::All);
        }
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| format!("invalid share of nodes {s:?}"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(format!("share of nodes {s:?} must be above 0% and at most 100%"));
            }
            return Ok(Nodes::Percent(v / 100.0));
        }
        let names: Vec<String> = s.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Err("no nodes given: use a share (\"20%\"), names (\"node-03,node-17\") or \"all\"".into());
        }
        Ok(Nodes::Names(names))
    }
}

/// How long a request waits on a link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "distribution")]
pub enum Latency {
    Fixed { ms: f64 },
    Exponential { mean_ms: f64 },
}

impl Latency {
    /// `200ms`, `1.5s`, or `exponential(100ms)`.
    pub fn parse(s: &str) -> Result<Latency, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("exponential(").and_then(|r| r.strip_suffix(')')) {
            let mean = parse_signed_seconds(inner)?;
            if mean <= 0.0 {
                return Err(format!("the mean of {s:?} must be positive"));
            }
            return Ok(Latency::Exponential { mean_ms: mean * 1000.0 });
        }
        let v = parse_signed_seconds(s)?;
        if v < 0.0 {
            return Err(format!("latency {s:?} cannot be negative"));
        }
        Ok(Latency::Fixed { ms: v * 1000.0 })
    }
}

/// A fault of the chaos menu. Durations are in the fleet's (simulated) seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FaultSpec {
    /// A clock that gains (or loses) time at a rate.
    ClockDrift { rate_s_per_min: f64, nodes: Nodes },
    /// A clock that jumps once.
    ClockJump { offset_s: f64, nodes: Nodes },
    /// A clock that reads a random offset in a range, anew every second.
    ClockByzantine { low_s: f64, high_s: f64, nodes: Nodes },
    /// Extra latency on calls from `from` to `to` (both services), or on every link of the
    /// request path when neither is given. `cascade`: the delay grows with depth (the n-th link
    /// of the path gets n times it), so that timeouts cascade upwards.
    NetworkDelay { latency: Latency, from: Option<String>, to: Option<String>, cascade: bool },
    /// Messages on the bus delivered out of order with a probability.
    NetworkReorder { probability: f64 },
    /// Calls from service `from` to service `to` are lost; or, between two nodes, their messages.
    NetworkPartition { from: String, to: String },
    /// Message acknowledgements lost with a probability: redelivery, duplicates, reordering.
    DropAcks { probability: f64 },
    /// A runaway process taking a share of a service's capacity.
    CpuStress { service: String, load: f64 },
    /// Memory taken from the idempotency cache (as by another tenant), and that share of its
    /// keys evicted at once.
    CacheEvict { percent: f64 },
}

impl FaultSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            FaultSpec::ClockDrift { .. } => "clock drift",
            FaultSpec::ClockJump { .. } => "clock jump",
            FaultSpec::ClockByzantine { .. } => "clock byzantine",
            FaultSpec::NetworkDelay { .. } => "network delay",
            FaultSpec::NetworkReorder { .. } => "network reorder",
            FaultSpec::NetworkPartition { .. } => "network partition",
            FaultSpec::DropAcks { .. } => "network drop-acks",
            FaultSpec::CpuStress { .. } => "cpu stress",
            FaultSpec::CacheEvict { .. } => "cache evict",
        }
    }
}

/// A fault and how long it lasts before it heals itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Injection {
    pub fault: FaultSpec,
    /// Simulated seconds; the default is 10 minutes.
    pub duration_s: Option<f64>,
}

/// What the runbooks do to the fleet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "remedy")]
pub enum Remedy {
    NtpSync {
        nodes: Nodes,
    },
    CacheSetMaxmemory {
        bytes: u64,
    },
    CacheEvictShortTtl,
    Breaker {
        service: String,
        open: bool,
    },
    TimeoutBudget {
        hop: String,
        seconds: f64,
    },
    Backoff {
        multiplier: f64,
    },
    Restart {
        service: String,
    },
    /// Move the message bus to the standby broker (`standby: true`) or back.
    Bus {
        standby: bool,
    },
}

/// A signed amount of time in seconds: `+1s`, `-500ms`, `+5m`, `2min`, `1h`, `0.5s`.
pub fn parse_signed_seconds(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1.0, &t[1..]),
        Some(b'-') => (-1.0, &t[1..]),
        _ => (1.0, t),
    };
    let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (num, unit) = rest.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid time {s:?}: use e.g. \"200ms\", \"+1s\" or \"-5m\""))?;
    let mult = match unit.trim() {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => return Err(format!("unknown unit {u:?} in {s:?}: use ms, s, m or h")),
    };
    if unit.trim().is_empty() && n != 0.0 {
        return Err(format!("time {s:?} needs a unit (ms, s, m or h)"));
    }
    Ok(sign * n * mult)
}

/// A clock rate: `+1s/min`, `-200ms/min`, `+3s/h`: seconds gained per minute.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let (amount, per) = s.split_once('/').ok_or_else(|| format!("invalid rate {s:?}: use e.g. \"+1s/min\""))?;
    let per_s = match per.trim() {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        p => return Err(format!("unknown period {p:?} in {s:?}: use /s, /min or /h")),
    };
    Ok(parse_signed_seconds(amount)? * 60.0 / per_s)
}

/// `random(-1s,+1s)`: the range of a byzantine clock.
pub fn parse_random_range(s: &str) -> Result<(f64, f64), String> {
    let inner = s
        .trim()
        .strip_prefix("random(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("invalid drift {s:?}: use e.g. \"random(-1s,+1s)\""))?;
    let (a, b) = inner.split_once(',').ok_or_else(|| format!("invalid drift {s:?}: two bounds are needed"))?;
    let (lo, hi) = (parse_signed_seconds(a)?, parse_signed_seconds(b)?);
    if lo >= hi {
        return Err(format!("in {s:?} the low bound must be below the high one"));
    }
    Ok((lo, hi))
}

/// A memory size the way `redis-cli CONFIG SET maxmemory` reads it: `8gb` and `8g` alike are
/// 8 GiB's worth per Redis (`gb` is 1024³, `g` 10⁹), `512mb`, `100k`, or plain bytes; `GiB`-style
/// units work too.
pub fn parse_redis_memory(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid memory size {s:?}: use e.g. 8gb or 512mb"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" => 1e3,
        "kb" | "kib" => 1024.0,
        "m" => 1e6,
        "mb" | "mib" => 1024.0 * 1024.0,
        "g" => 1e9,
        "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit {u:?} in {s:?}: use b, kb, mb or gb")),
    };
    let v = n * mult;
    if !(v.is_finite() && v >= 1.0 && v < 2f64.powi(62)) {
        return Err(format!("memory size {s:?} is out of range"));
    }
    Ok(v.round() as u64)
}

/// A probability: `0.25` or `25%`.
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("invalid probability {s:?}: use e.g. 0.25 or 25%"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("probability {s:?} must be between 0 and 1"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_menu_parses() {
        assert_eq!(parse_rate("+1s/min"), Ok(1.0));
        assert_eq!(parse_rate("-500ms/min"), Ok(-0.5));
        assert_eq!(parse_rate("+6s/h"), Ok(0.1));
        assert_eq!(parse_signed_seconds("+5m"), Ok(300.0));
        assert_eq!(parse_signed_seconds("-200ms"), Ok(-0.2));
        assert_eq!(parse_random_range("random(-1s,+1s)"), Ok((-1.0, 1.0)));
        assert_eq!(Latency::parse("200ms"), Ok(Latency::Fixed { ms: 200.0 }));
        assert_eq!(Latency::parse("exponential(100ms)"), Ok(Latency::Exponential { mean_ms: 100.0 }));
        assert_eq!(Nodes::parse("20%"), Ok(Nodes::Percent(0.2)));
        assert_eq!(Nodes::parse("node-03, node-17"), Ok(Nodes::Names(vec!["node-03".into(), "node-17".into()])));
        assert_eq!(parse_probability("10%"), Ok(0.1));
        assert_eq!(service_index("payment"), Ok(2));
        assert_eq!(parse_redis_memory("8gb"), Ok(8 << 30));
        assert_eq!(parse_redis_memory("512MB"), Ok(512 << 20));
        assert_eq!(parse_redis_memory("1g"), Ok(1_000_000_000));
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        assert!(parse_rate("1s").expect_err("no period").contains("+1s/min"));
        assert!(parse_signed_seconds("5").expect_err("no unit").contains("needs a unit"));
        assert!(parse_random_range("random(+1s,-1s)").is_err());
        assert!(Nodes::parse("150%").is_err());
        assert!(parse_probability("1.5").is_err());
        assert!(service_index("billing").expect_err("unknown").contains("service-b (payment)"));
        assert!(Latency::parse("-1s").is_err());
    }

    #[test]
    fn specs_travel_as_json() {
        let i = Injection {
            fault: FaultSpec::NetworkDelay {
                latency: Latency::Exponential { mean_ms: 100.0 },
                from: None,
                to: None,
                cascade: true,
            },
            duration_s: Some(300.0),
        };
        let back: Injection = serde_json::from_str(&serde_json::to_string(&i).expect("json")).expect("parse");
        assert_eq!(back, i);
    }
}
