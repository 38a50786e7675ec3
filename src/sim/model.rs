//! The simulated fleet: one model, advanced one simulated second at a time.
//!
//! - **Clocks.** Each node's offset wanders by a few milliseconds; clock faults add to it (a
//!   drift accumulates, a jump steps it, a byzantine clock reads a random offset each second).
//!   Without a fault, NTP pulls an offset back (time constant 30 s); `ntp-sync` steps it to zero.
//!   A node more than 128 ms off, or byzantine, is unsynchronised.
//! - **Requests.** Each second a Poisson number of user requests walks the path client →
//!   gateway → service-a → service-b → database, and every service also gets a little
//!   background traffic of its own. A call waits for its link (delay faults, or a partition that
//!   loses it), the service's own time (log-normal, multiplied by the queueing factor
//!   1/(1 − utilisation)), and the service's own downstream call. Each try has a timeout: the
//!   hop's budget, or what is left of the caller's. A try that times out, or whose downstream
//!   failed, is retried (at most twice) after a backoff of 25 ms × multiplier^k, if there is time
//!   left. Every try counts towards the service's load, so retries slow the service they retry:
//!   delays and stress cascade upwards through timeouts and retries on their own.
//! - **Idempotency cache.** Its memory need follows the load; memory taken by a `cache evict`
//!   fault (or a lower `maxmemory`) makes keys not fit: that share is evicted at once and the hit
//!   rate falls with it, recovering (time constant 60 s) once the keys fit again. Retried
//!   payments whose first try did the work, and redelivered messages, are duplicates; the cache
//!   catches them only when it has their key.
//! - **Message bus.** Causal-order violations grow with the nodes' clock offsets, total-order
//!   violations with reordering and lost acknowledgements (a redelivered message arrives after
//!   its successors), vector-clock violations with the share of traffic of partitioned nodes.
//! - **Writes.** service-a writes orders and service-b ledger entries, a few per second each. Two
//!   writers now and then touch one entity at once (a write conflict, resolved by the optimistic
//!   lock); skewed clocks (leases and leader elections judged on bad time) and retried calls
//!   (the same write sent twice) make it more likely. Each service keeps, for its hottest
//!   entities, how many writers touched them over the last hour (a decaying count).
//!
//! Counters grow per simulated second, so rates keep their real units at any speed.

use std::collections::BTreeSet;

use super::faults::{FaultSpec, Injection, Latency, Nodes, Remedy, SERVICES, service_index};
use super::rng::Rng;

/// One simulated second.
pub const TICK_MS: i64 = 1000;

/// User requests per second at the gateway, before the daily swing.
const BASE_RPS: f64 = 40.0;
/// Background calls per second into each service (other callers than the request path).
const BACKGROUND_RPS: f64 = 2.0;
/// Messages per second on the bus.
const BASE_MPS: f64 = 120.0;
const MAX_RETRIES: u32 = 2;
const BACKOFF_BASE_MS: f64 = 25.0;
const DEFAULT_FAULT_S: f64 = 600.0;
/// The cache's maxmemory as deployed, and what it holds at the base load.
const CACHE_MAXMEMORY: f64 = 4.0 * GIB;
const CACHE_NEED: f64 = 2.4 * GIB;
const CACHE_BYTES_PER_KEY: f64 = 650.0;
const CACHE_HIT_RATE: f64 = 0.95;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Histogram upper bounds (the last bucket is +Inf).
pub const RQ_TIME_MS: &[f64] = &[1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];
pub const BUDGET_PERCENT: &[f64] = &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 125.0, 150.0, 200.0];
pub const HTTP_SECONDS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Random streams, so that each component draws from its own.
const STREAM_TRAFFIC: u64 = 1;
const STREAM_CACHE: u64 = 2;
const STREAM_BUS: u64 = 3;
const STREAM_FAULT: u64 = 4;
const STREAM_WRITES: u64 = 5;
const STREAM_NODES: u64 = 1 << 32;

/// A cumulative-on-render histogram: counts per bucket, sum and count.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// One count per bound, and the last for +Inf; not cumulative.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        let k = self.bounds.partition_point(|b| *b < v);
        self.counts[k] += 1;
        self.sum += v;
        self.count += 1;
    }

    /// Cumulative counts, one per bound and the +Inf bucket last.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0;
        self.counts
            .iter()
            .map(|c| {
                acc += c;
                acc
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    /// Offset added by faults, decaying under NTP once they are gone.
    fault_offset: f64,
    wander: f64,
    pub offset: f64,
    pub byzantine: bool,
}

impl Node {
    pub fn synced(&self) -> bool {
        self.offset.abs() < 0.128 && !self.byzantine
    }

    pub fn maxerror(&self) -> f64 {
        0.0005 + self.offset.abs() * 1.05
    }
}

/// One service of the request path and the calls into it (its Envoy cluster).
#[derive(Clone, Debug)]
pub struct Hop {
    pub name: &'static str,
    pub budget_s: f64,
    capacity: f64,
    median_ms: f64,
    sigma: f64,
    pub breaker_open: bool,
    /// Tries per second (smoothed).
    load: f64,
    tries_this_tick: u64,
    retries_this_tick: u64,
    /// The share of last second's tries that were retries.
    pub retry_share: f64,
    pub rq_total: u64,
    pub rq_timeout: u64,
    pub rq_retry: u64,
    pub rq_time: Histogram,
    pub budget_used: Histogram,
}

impl Hop {
    fn new(name: &'static str, budget_s: f64, capacity: f64, median_ms: f64, sigma: f64) -> Self {
        Hop {
            name,
            budget_s,
            capacity,
            median_ms,
            sigma,
            breaker_open: false,
            load: 0.0,
            tries_this_tick: 0,
            retries_this_tick: 0,
            retry_share: 0.0,
            rq_total: 0,
            rq_timeout: 0,
            rq_retry: 0,
            rq_time: Histogram::new(RQ_TIME_MS),
            budget_used: Histogram::new(BUDGET_PERCENT),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cache {
    pub maxmemory: f64,
    /// After `evict-short-ttl`, short-TTL keys are no longer kept: 30 % less memory needed.
    short_ttl_dropped: bool,
    /// The share of keys that do not fit (evicted), recovering once they fit again.
    deficit: f64,
    pub used: f64,
    pub keys: f64,
    pub hits: u64,
    pub misses: u64,
    pub evicted: u64,
}

impl Cache {
    pub fn hit_rate(&self) -> f64 {
        CACHE_HIT_RATE * (1.0 - self.deficit)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Bus {
    pub delivered: u64,
    /// causal, total, vector
    pub out_of_order: [u64; 3],
    pub duplicate: u64,
    pub operations_duplicate: u64,
    /// On the standby broker (another zone's network): the primary's reordering, lost
    /// acknowledgements and partitions no longer reach the bus.
    pub on_standby: bool,
}

/// The services that write, what they write, and how many writes per second.
pub const WRITERS: [(&str, &str, f64); 2] = [("service-a", "order", 6.0), ("service-b", "ledger-entry", 3.0)];
/// The hot entities each writer keeps writer counts for.
pub const HOT_ENTITIES: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct Writes {
    /// Per writer (as `WRITERS`): attempts and conflicts.
    pub attempts: [u64; 2],
    pub conflicts: [u64; 2],
    /// Per writer and hot entity: the writers over the last hour beyond the first (decaying).
    pub extra_writers: [[f64; HOT_ENTITIES]; 2],
}

/// A fault being applied.
#[derive(Clone, Debug)]
pub struct ActiveFault {
    pub id: u32,
    pub spec: FaultSpec,
    pub started_ms: i64,
    pub ends_ms: i64,
    /// The nodes a clock fault touches (indices), or the two nodes of a partition.
    pub nodes: Vec<usize>,
    /// The links a network fault touches: (link, factor); link k is the call into service k.
    pub links: Vec<(usize, f64)>,
    /// The service a cpu stress runs on.
    pub service: Option<usize>,
    /// The cache memory a `cache evict` fault holds.
    pub bytes: f64,
}

/// What `chaos list` shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultInfo {
    pub id: u32,
    pub kind: String,
    pub detail: String,
    pub started_ms: i64,
    pub ends_ms: i64,
}

pub struct Fleet {
    seed: u64,
    tick: u64,
    pub nodes: Vec<Node>,
    pub hops: Vec<Hop>,
    pub cache: Cache,
    pub bus: Bus,
    pub writes: Writes,
    pub http_user: Histogram,
    pub http_health: Histogram,
    pub backoff_multiplier: f64,
    faults: Vec<ActiveFault>,
    next_fault: u32,
    /// Payment tries that timed out after doing the work, this tick: duplicates when retried.
    retried_payments: u64,
    /// Exposed counters are the simulated counts divided by this (the speed a server runs the
    /// fleet at), so that a scraper's rates, taken over wall-clock time, stay in the simulated
    /// system's units: at `--speed 60` the dynamics run 60 times faster, the rates do not.
    pub counter_divisor: f64,
}

impl Fleet {
    /// A fleet of `nodes` nodes, reproducible from `seed`.
    pub fn new(nodes: usize, seed: u64) -> Fleet {
        let width = nodes.to_string().len().max(2);
        let nodes = (1..=nodes.max(1))
            .map(|k| Node {
                name: format!("node-{k:0width$}"),
                fault_offset: 0.0,
                wander: 0.0,
                offset: 0.0,
                byzantine: false,
            })
            .collect();
        let hops = vec![
            Hop::new(SERVICES[0], 2.0, 500.0, 5.0, 0.5),
            Hop::new(SERVICES[1], 1.0, 250.0, 12.0, 0.5),
            Hop::new(SERVICES[2], 0.5, 150.0, 15.0, 0.6),
            Hop::new(SERVICES[3], 0.25, 300.0, 6.0, 0.7),
        ];
        Fleet {
            seed,
            tick: 0,
            nodes,
            hops,
            cache: Cache {
                maxmemory: CACHE_MAXMEMORY,
                short_ttl_dropped: false,
                deficit: 0.0,
                used: CACHE_NEED,
                keys: CACHE_NEED / CACHE_BYTES_PER_KEY,
                hits: 0,
                misses: 0,
                evicted: 0,
            },
            bus: Bus::default(),
            writes: Writes::default(),
            http_user: Histogram::new(HTTP_SECONDS),
            http_health: Histogram::new(HTTP_SECONDS),
            backoff_multiplier: 2.0,
            faults: Vec::new(),
            next_fault: 1,
            retried_payments: 0,
            counter_divisor: 1.0,
        }
    }

    /// Simulated milliseconds since the fleet started.
    pub fn now_ms(&self) -> i64 {
        self.tick as i64 * TICK_MS
    }

    /// The seed the fleet was made from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Runs the model up to simulated time `ms`.
    pub fn advance_to(&mut self, ms: i64) {
        while self.now_ms() < ms {
            self.step();
        }
    }

    pub fn faults(&self) -> Vec<FaultInfo> {
        self.faults.iter().map(|f| self.info(f)).collect()
    }

    fn info(&self, f: &ActiveFault) -> FaultInfo {
        let detail = match &f.spec {
            FaultSpec::ClockDrift { rate_s_per_min, .. } => {
                format!("{rate_s_per_min:+}s/min on {}", self.node_names(&f.nodes))
            }
            FaultSpec::ClockJump { offset_s, .. } => format!("{offset_s:+}s on {}", self.node_names(&f.nodes)),
            FaultSpec::ClockByzantine { low_s, high_s, .. } => {
                format!("random({low_s:+}s,{high_s:+}s) on {}", self.node_names(&f.nodes))
            }
            FaultSpec::NetworkDelay { latency, cascade, .. } => {
                let l = match latency {
                    Latency::Fixed { ms } => format!("{ms}ms"),
                    Latency::Exponential { mean_ms } => format!("exponential({mean_ms}ms)"),
                };
                let links: Vec<String> = f
                    .links
                    .iter()
                    .map(|(l, k)| if *cascade { format!("{} ×{k}", link_name(*l)) } else { link_name(*l) })
                    .collect();
                format!("{l}{} on {}", if *cascade { ", cascading" } else { "" }, links.join(", "))
            }
            FaultSpec::NetworkReorder { probability } => format!("{:.0}% of messages", probability * 100.0),
            FaultSpec::NetworkPartition { from, to } => format!("{from} → {to}"),
            FaultSpec::DropAcks { probability } => format!("{:.0}% of acknowledgements", probability * 100.0),
            FaultSpec::CpuStress { service, load } => format!("{:.0}% on {service}", load * 100.0),
            FaultSpec::CacheEvict { percent } => format!("{:.0}% of the idempotency cache", percent * 100.0),
        };
        FaultInfo { id: f.id, kind: f.spec.kind().to_owned(), detail, started_ms: f.started_ms, ends_ms: f.ends_ms }
    }

    fn node_names(&self, nodes: &[usize]) -> String {
        let names: Vec<&str> = nodes.iter().filter_map(|&k| self.nodes.get(k)).map(|n| n.name.as_str()).collect();
        if names.len() > 6 {
            format!("{} nodes ({}, …)", names.len(), names[..4].join(", "))
        } else {
            names.join(", ")
        }
    }

    fn resolve_nodes(&self, sel: &Nodes, id: u32) -> Result<Vec<usize>, String> {
        match sel {
            Nodes::All => Ok((0..self.nodes.len()).collect()),
            Nodes::Percent(p) => {
                let n = ((self.nodes.len() as f64 * p).ceil() as usize).clamp(1, self.nodes.len());
                // A reproducible choice: a partial shuffle from the fault's own stream.
                let mut rng = Rng::stream(self.seed, self.tick, STREAM_FAULT + u64::from(id) * 7);
                let mut idx: Vec<usize> = (0..self.nodes.len()).collect();
                for k in 0..n {
                    let j = k + rng.below(idx.len() - k);
                    idx.swap(k, j);
                }
                let mut chosen = idx[..n].to_vec();
                chosen.sort_unstable();
                Ok(chosen)
            }
            Nodes::Names(names) => names
                .iter()
                .map(|name| {
                    self.nodes.iter().position(|n| &n.name == name).ok_or_else(|| {
                        format!("no node {name:?} (nodes are {} … {})", self.nodes[0].name, self.last_node())
                    })
                })
                .collect(),
        }
    }

    fn last_node(&self) -> &str {
        self.nodes.last().map_or("", |n| n.name.as_str())
    }

    /// Starts a fault. Returns what it is and when it heals.
    pub fn inject(&mut self, injection: &Injection) -> Result<FaultInfo, String> {
        let id = self.next_fault;
        let duration = injection.duration_s.unwrap_or(DEFAULT_FAULT_S);
        if !(duration > 0.0 && duration.is_finite()) {
            return Err("the duration must be longer than 0s".into());
        }
        let mut f = ActiveFault {
            id,
            spec: injection.fault.clone(),
            started_ms: self.now_ms(),
            ends_ms: self.now_ms().saturating_add((duration * 1000.0).round() as i64),
            nodes: Vec::new(),
            links: Vec::new(),
            service: None,
            bytes: 0.0,
        };
        match &injection.fault {
            FaultSpec::ClockDrift { nodes, .. } | FaultSpec::ClockByzantine { nodes, .. } => {
                f.nodes = self.resolve_nodes(nodes, id)?;
            }
            FaultSpec::ClockJump { offset_s, nodes } => {
                f.nodes = self.resolve_nodes(nodes, id)?;
                for &k in &f.nodes {
                    self.nodes[k].fault_offset += offset_s;
                }
            }
            FaultSpec::NetworkDelay { latency, from, to, cascade } => {
                match latency {
                    Latency::Fixed { ms } if !(ms.is_finite() && *ms >= 0.0) => return Err("invalid latency".into()),
                    Latency::Exponential { mean_ms } if !(mean_ms.is_finite() && *mean_ms > 0.0) => {
                        return Err("invalid latency".into());
                    }
                    _ => {}
                }
                let links: Vec<usize> = match (from, to) {
                    (Some(a), Some(b)) => vec![link_between(a, b)?],
                    (None, None) => (0..SERVICES.len()).collect(),
                    _ => return Err("give both --from and --to, or neither (every link of the path)".into()),
                };
                f.links = links.into_iter().map(|l| (l, if *cascade { (l + 1) as f64 } else { 1.0 })).collect();
            }
            FaultSpec::NetworkPartition { from, to } => {
                if let (Ok(a), Ok(b)) = (
                    self.resolve_nodes(&Nodes::Names(vec![from.clone()]), id),
                    self.resolve_nodes(&Nodes::Names(vec![to.clone()]), id),
                ) {
                    if a == b {
                        return Err("a partition needs two different nodes".into());
                    }
                    f.nodes = vec![a[0], b[0]];
                } else {
                    f.links = vec![(link_between(from, to)?, 1.0)];
                }
            }
            FaultSpec::NetworkReorder { probability } | FaultSpec::DropAcks { probability } => {
                if !(0.0..=1.0).contains(probability) {
                    return Err("the probability must be between 0 and 1".into());
                }
            }
            FaultSpec::CpuStress { service, load } => {
                if !(*load > 0.0 && *load <= 1.0) {
                    return Err("the load must be above 0% and at most 100%".into());
                }
                f.service = Some(service_index(service)?);
            }
            FaultSpec::CacheEvict { percent } => {
                if !(*percent > 0.0 && *percent <= 1.0) {
                    return Err("the share to evict must be above 0% and at most 100%".into());
                }
                // Another tenant takes enough memory that `percent` of the keys no longer fit;
                // they are evicted now, and stay out while the memory is held.
                let need = self.cache_need();
                let room_now = self.cache_room();
                f.bytes = (room_now - need * (1.0 - percent)).max(0.0);
                let evicted = self.cache.keys * percent;
                self.cache.evicted += evicted as u64;
                self.cache.deficit = self.cache.deficit.max(*percent);
            }
        }
        self.next_fault += 1;
        let info = self.info(&f);
        self.faults.push(f);
        Ok(info)
    }

    /// Ends a fault now, as its duration would.
    pub fn heal(&mut self, id: u32) -> Result<FaultInfo, String> {
        let k = self.faults.iter().position(|f| f.id == id).ok_or_else(|| format!("no active fault #{id}"))?;
        let f = self.faults.remove(k);
        Ok(self.info(&f))
    }

    pub fn heal_all(&mut self) -> Vec<FaultInfo> {
        let gone = std::mem::take(&mut self.faults);
        gone.iter().map(|f| self.info(f)).collect()
    }

    /// Applies a remedy; says what it changed.
    pub fn remedy(&mut self, r: &Remedy) -> Result<String, String> {
        match r {
            Remedy::NtpSync { nodes } => {
                let chosen = self.resolve_nodes(nodes, 0)?;
                let mut worst: f64 = 0.0;
                for &k in &chosen {
                    worst = worst.max(self.nodes[k].offset.abs());
                    let n = &mut self.nodes[k];
                    n.fault_offset = 0.0;
                    n.wander = 0.0;
                    n.offset = 0.0;
                    n.byzantine = false;
                }
                let mut ended = Vec::new();
                for f in &mut self.faults {
                    if matches!(
                        f.spec,
                        FaultSpec::ClockDrift { .. } | FaultSpec::ClockJump { .. } | FaultSpec::ClockByzantine { .. }
                    ) {
                        let before = f.nodes.len();
                        f.nodes.retain(|k| !chosen.contains(k));
                        if f.nodes.len() < before {
                            ended.push(f.id);
                        }
                    }
                }
                self.faults.retain(|f| {
                    !(matches!(
                        f.spec,
                        FaultSpec::ClockDrift { .. } | FaultSpec::ClockJump { .. } | FaultSpec::ClockByzantine { .. }
                    ) && f.nodes.is_empty())
                });
                let mut msg = format!(
                    "ntp-sync: stepped the clocks of {} to the reference (largest offset was {})",
                    self.node_names(&chosen),
                    crate::config::Unit::Seconds.format(worst)
                );
                if !ended.is_empty() {
                    let ids: Vec<String> = ended.iter().map(|i| format!("#{i}")).collect();
                    msg.push_str(&format!("; clock fault {} no longer affects them", ids.join(", ")));
                }
                Ok(msg)
            }
            Remedy::CacheSetMaxmemory { bytes } => {
                if *bytes < 64 * 1024 * 1024 || *bytes > 1 << 40 {
                    return Err("maxmemory must be between 64MiB and 1TiB".into());
                }
                let before = self.cache.maxmemory;
                self.cache.maxmemory = *bytes as f64;
                Ok(format!(
                    "cache: maxmemory {} → {}",
                    crate::config::Unit::Bytes.format(before),
                    crate::config::Unit::Bytes.format(*bytes as f64)
                ))
            }
            Remedy::CacheEvictShortTtl => {
                if self.cache.short_ttl_dropped {
                    return Ok("cache: short-TTL keys were already evicted and are no longer kept".into());
                }
                self.cache.short_ttl_dropped = true;
                let gone = (self.cache.keys * 0.3) as u64;
                self.cache.evicted += gone;
                Ok(format!("cache: evicted {gone} short-TTL keys; they are no longer kept (30% less memory needed)"))
            }
            Remedy::Breaker { service, open } => {
                let k = service_index(service)?;
                let was = std::mem::replace(&mut self.hops[k].breaker_open, *open);
                let name = self.hops[k].name;
                Ok(match (was, open) {
                    (false, true) => format!("breaker to {name} opened: calls fail fast with a fallback"),
                    (true, false) => format!("breaker to {name} closed: calls go through again"),
                    (_, true) => format!("breaker to {name} was already open"),
                    (_, false) => format!("breaker to {name} was already closed"),
                })
            }
            Remedy::TimeoutBudget { hop, seconds } => {
                let k = service_index(hop)?;
                if !(*seconds >= 0.001 && *seconds <= 60.0) {
                    return Err("a timeout budget must be between 1ms and 60s".into());
                }
                let before = std::mem::replace(&mut self.hops[k].budget_s, *seconds);
                Ok(format!(
                    "timeout budget of {}: {} → {}",
                    self.hops[k].name,
                    crate::config::Unit::Seconds.format(before),
                    crate::config::Unit::Seconds.format(*seconds)
                ))
            }
            Remedy::Backoff { multiplier } => {
                if !(*multiplier >= 1.0 && *multiplier <= 10.0) {
                    return Err("the backoff multiplier must be between 1 and 10".into());
                }
                let before = std::mem::replace(&mut self.backoff_multiplier, *multiplier);
                Ok(format!("retry backoff multiplier {before} → {multiplier}"))
            }
            Remedy::Bus { standby } => {
                let was = std::mem::replace(&mut self.bus.on_standby, *standby);
                Ok(match (was, standby) {
                    (false, true) => "bus: consumers and producers moved to the standby broker".into(),
                    (true, false) => "bus: back on the primary broker".into(),
                    (_, true) => "bus: already on the standby broker".into(),
                    (_, false) => "bus: already on the primary broker".into(),
                })
            }
            Remedy::Restart { service } => {
                let k = service_index(service)?;
                self.hops[k].load = 0.0;
                let ended: Vec<String> = self
                    .faults
                    .iter()
                    .filter(|f| f.service == Some(k) && matches!(f.spec, FaultSpec::CpuStress { .. }))
                    .map(|f| format!("#{}", f.id))
                    .collect();
                self.faults.retain(|f| !(f.service == Some(k) && matches!(f.spec, FaultSpec::CpuStress { .. })));
                let mut msg = format!("restarted {} (its queue drained)", self.hops[k].name);
                if !ended.is_empty() {
                    msg.push_str(&format!("; ended cpu stress {}", ended.join(", ")));
                }
                Ok(msg)
            }
        }
    }

    /// One simulated second.
    fn step(&mut self) {
        let now = self.now_ms();
        self.faults.retain(|f| f.ends_ms > now);
        self.step_nodes();
        let day = (std::f64::consts::TAU * (self.tick as f64) / 86_400.0).sin();
        let mut rng = Rng::stream(self.seed, self.tick, STREAM_TRAFFIC);
        self.step_requests(&mut rng, day);
        self.step_cache(day);
        self.step_bus(day);
        self.step_writes(day);
        self.tick += 1;
    }

    fn step_nodes(&mut self) {
        let decay = (-1.0f64 / 30.0).exp();
        for (k, node) in self.nodes.iter_mut().enumerate() {
            let mut rng = Rng::stream(self.seed, self.tick, STREAM_NODES + k as u64);
            node.wander = (0.98 * node.wander + 0.0004 * rng.normal()).clamp(-0.02, 0.02);
            let noise = 0.0002 * rng.normal();
            let mut under_fault = false;
            let mut byzantine = None;
            for f in &self.faults {
                if !f.nodes.contains(&k) {
                    continue;
                }
                match &f.spec {
                    FaultSpec::ClockDrift { rate_s_per_min, .. } => {
                        node.fault_offset += rate_s_per_min / 60.0;
                        under_fault = true;
                    }
                    FaultSpec::ClockJump { .. } => under_fault = true,
                    FaultSpec::ClockByzantine { low_s, high_s, .. } => {
                        byzantine = Some(low_s + (high_s - low_s) * rng.uniform());
                    }
                    _ => {}
                }
            }
            if !under_fault {
                node.fault_offset *= decay;
                if node.fault_offset.abs() < 0.001 {
                    node.fault_offset = 0.0;
                }
            }
            node.byzantine = byzantine.is_some();
            node.offset = byzantine.unwrap_or(node.fault_offset) + node.wander + noise;
        }
    }

    /// The delay of one call on `link`, and whether the call is lost.
    fn link(&self, rng: &mut Rng, link: usize) -> (f64, bool) {
        let mut delay = 0.0;
        let mut lost = false;
        for f in &self.faults {
            for &(l, factor) in &f.links {
                if l != link {
                    continue;
                }
                match &f.spec {
                    FaultSpec::NetworkDelay { latency: Latency::Fixed { ms }, .. } => delay += ms * factor,
                    FaultSpec::NetworkDelay { latency: Latency::Exponential { mean_ms }, .. } => {
                        delay += rng.exponential(*mean_ms) * factor;
                    }
                    FaultSpec::NetworkPartition { .. } => lost = true,
                    _ => {}
                }
            }
        }
        (delay, lost)
    }

    fn stress(&self, hop: usize) -> f64 {
        self.faults
            .iter()
            .filter(|f| f.service == Some(hop))
            .map(|f| match f.spec {
                FaultSpec::CpuStress { load, .. } => load,
                _ => 0.0,
            })
            .sum()
    }

    /// One call into `hop` (over `link` from its caller, or from a background caller), with
    /// `deadline_ms` to finish. Returns how long it took and whether it succeeded.
    fn call(&mut self, rng: &mut Rng, hop: usize, link: Option<usize>, deadline_ms: f64) -> (f64, bool) {
        let mut elapsed = 0.0;
        let mut tries = 0;
        loop {
            tries += 1;
            let (budget_ms, breaker_open, median, sigma) = {
                let h = &mut self.hops[hop];
                h.tries_this_tick += 1;
                h.rq_total += 1;
                (h.budget_s * 1000.0, h.breaker_open, h.median_ms, h.sigma)
            };
            if breaker_open {
                let h = &mut self.hops[hop];
                h.rq_time.observe(1.0);
                h.budget_used.observe(100.0 / budget_ms);
                return (elapsed + 1.0, true);
            }
            let per_try = budget_ms.min(deadline_ms - elapsed);
            if per_try <= 0.0 {
                return (elapsed, false);
            }
            let utilisation = (self.hops[hop].load / self.hops[hop].capacity + self.stress(hop)).min(0.95);
            let own = rng.lognormal(median, sigma) / (1.0 - utilisation);
            let (delay, lost) = match link {
                Some(l) => self.link(rng, l),
                None => (0.0, false),
            };
            let (down, down_ok) = if hop + 1 < self.hops.len() {
                self.call(rng, hop + 1, link.map(|_| hop + 1), (per_try - delay - own).max(0.0))
            } else {
                (0.0, true)
            };
            let would = delay + own + down;
            let timed_out = lost || would > per_try;
            // A try that times out is recorded with the time it needed (a lost one with the time
            // waited), so that a p99 past 100 % shows how far over budget a hop is.
            let observed = if lost { per_try } else { would };
            let h = &mut self.hops[hop];
            h.rq_time.observe(observed);
            h.budget_used.observe(observed / budget_ms * 100.0);
            if !timed_out && down_ok {
                return (elapsed + would, true);
            }
            if timed_out {
                h.rq_timeout += 1;
                elapsed += per_try;
                if !lost && hop == 2 {
                    self.retried_payments += 1; // the payment went through; its retry is a duplicate
                }
            } else {
                elapsed += would; // the downstream failed: an error, retried like a timeout
            }
            if tries > MAX_RETRIES {
                return (elapsed, false);
            }
            let backoff = BACKOFF_BASE_MS * self.backoff_multiplier.powi(tries as i32 - 1) * (0.5 + rng.uniform());
            if elapsed + backoff >= deadline_ms {
                return (elapsed, false);
            }
            elapsed += backoff;
            self.hops[hop].rq_retry += 1;
            self.hops[hop].retries_this_tick += 1;
        }
    }

    fn step_requests(&mut self, rng: &mut Rng, day: f64) {
        self.retried_payments = 0;
        let rate = BASE_RPS * (1.0 + 0.2 * day) * (1.0 + 0.03 * rng.normal());
        let users = rng.poisson(rate);
        for _ in 0..users {
            let deadline = self.hops[0].budget_s * 1000.0;
            let (ms, _) = self.call(rng, 0, Some(0), deadline);
            self.http_user.observe(ms / 1000.0);
        }
        for hop in 1..self.hops.len() {
            for _ in 0..rng.poisson(BACKGROUND_RPS) {
                let deadline = self.hops[hop].budget_s * 1000.0;
                self.call(rng, hop, None, deadline);
            }
        }
        // The health check: the gateway alone, over the same link as users.
        let (delay, lost) = self.link(rng, 0);
        let g = &self.hops[0];
        let own = rng.lognormal(g.median_ms, g.sigma);
        self.http_health.observe(if lost { g.budget_s } else { (delay + own) / 1000.0 });
        for h in &mut self.hops {
            h.load = 0.7 * h.load + 0.3 * h.tries_this_tick as f64;
            h.retry_share = h.retries_this_tick as f64 / h.tries_this_tick.max(1) as f64;
            h.tries_this_tick = 0;
            h.retries_this_tick = 0;
        }
    }

    /// The memory the idempotency keys need now: it follows the daily load.
    fn cache_need(&self) -> f64 {
        let day = (std::f64::consts::TAU * (self.tick as f64) / 86_400.0).sin();
        CACHE_NEED * (1.0 + 0.1 * day) * if self.cache.short_ttl_dropped { 0.7 } else { 1.0 }
    }

    /// Cache memory held by faults.
    fn cache_taken(&self) -> f64 {
        self.faults.iter().map(|f| f.bytes).sum()
    }

    /// The memory left for the keys.
    fn cache_room(&self) -> f64 {
        (self.cache.maxmemory - self.cache_taken()).max(0.0)
    }

    fn step_cache(&mut self, day: f64) {
        let mut rng = Rng::stream(self.seed, self.tick, STREAM_CACHE);
        let taken = self.cache_taken();
        let need = self.cache_need();
        let room = self.cache_room();
        let c = &mut self.cache;
        let target = ((need - room) / need).clamp(0.0, 1.0);
        let keys_needed = need / CACHE_BYTES_PER_KEY;
        if target > c.deficit {
            // Keys that do not fit are evicted at once.
            c.evicted += ((target - c.deficit) * keys_needed) as u64;
            c.deficit = target;
        } else {
            c.deficit = target + (c.deficit - target) * (-1.0f64 / 60.0).exp();
        }
        // New keys keep pushing old ones out while they do not fit.
        c.evicted += rng.poisson(BASE_RPS * target);
        c.keys = keys_needed * (1.0 - c.deficit);
        c.used = (c.keys * CACHE_BYTES_PER_KEY + taken).min(c.maxmemory);
        let lookups = rng.poisson(BASE_RPS * (1.0 + 0.2 * day));
        let hits = (0..lookups).filter(|_| rng.chance(CACHE_HIT_RATE * (1.0 - c.deficit))).count() as u64;
        c.hits += hits;
        c.misses += lookups - hits;
    }

    fn step_bus(&mut self, day: f64) {
        let mut rng = Rng::stream(self.seed, self.tick, STREAM_BUS);
        let n = self.nodes.len() as f64;
        let skew: f64 = self.nodes.iter().map(|x| x.offset.abs().min(0.5) * 0.5).sum::<f64>() / n;
        let (mut reorder, mut drop, mut partitioned) = (0.0, 0.0, BTreeSet::new());
        for f in self.faults.iter().filter(|_| !self.bus.on_standby) {
            match &f.spec {
                FaultSpec::NetworkReorder { probability } => reorder += probability,
                FaultSpec::DropAcks { probability } => drop += probability,
                FaultSpec::NetworkPartition { .. } => partitioned.extend(f.nodes.iter().copied()),
                _ => {}
            }
        }
        let partition_share = partitioned.len() as f64 / n;
        let ratios =
            [0.001 + skew, 0.002 + 0.2 * reorder.min(1.0) + 0.4 * drop.min(1.0), 0.0005 + 0.75 * partition_share];
        let rate = BASE_MPS * (1.0 + 0.2 * day);
        let b = &mut self.bus;
        b.delivered += rng.poisson(rate);
        for (k, r) in ratios.iter().enumerate() {
            b.out_of_order[k] += rng.poisson(rate * r.min(1.0));
        }
        let redelivered = rng.poisson(rate * (0.0005 + drop.min(1.0)));
        b.duplicate += redelivered;
        // Duplicates get through where the idempotency cache lacks their key.
        let miss = 1.0 - self.cache.hit_rate();
        let dups = redelivered + self.retried_payments;
        b.operations_duplicate += (0..dups).filter(|_| rng.chance(miss)).count() as u64;
    }
}

impl Fleet {
    fn step_writes(&mut self, day: f64) {
        let mut rng = Rng::stream(self.seed, self.tick, STREAM_WRITES);
        let n = self.nodes.len() as f64;
        let skewed = self.nodes.iter().filter(|x| x.offset.abs() > 0.1 || x.byzantine).count() as f64 / n;
        let hour = (-1.0f64 / 3600.0).exp();
        for (k, (_, _, rate)) in WRITERS.iter().enumerate() {
            // The writer's hop (service-a is hop 1, service-b hop 2): its retries send writes twice.
            let hop = &self.hops[k + 1];
            let p = (0.0008 + 0.01 * skewed + 0.05 * hop.retry_share).min(1.0);
            let attempts = rng.poisson(rate * (1.0 + 0.2 * day));
            let conflicts = (0..attempts).filter(|_| rng.chance(p)).count() as u64;
            let w = &mut self.writes;
            w.attempts[k] += attempts;
            w.conflicts[k] += conflicts;
            for e in &mut w.extra_writers[k] {
                *e *= hour;
            }
            for _ in 0..conflicts {
                // Hot entities take most conflicts: the first one the most.
                let pick = (rng.uniform() * rng.uniform() * HOT_ENTITIES as f64) as usize;
                w.extra_writers[k][pick.min(HOT_ENTITIES - 1)] += 1.0;
            }
        }
    }
}

fn link_name(link: usize) -> String {
    if link == 0 {
        format!("client → {}", SERVICES[0])
    } else {
        format!("{} → {}", SERVICES[link - 1], SERVICES[link])
    }
}

/// The link carrying calls from `from` to `to`: adjacent services of the path (or `client` and
/// the gateway).
fn link_between(from: &str, to: &str) -> Result<usize, String> {
    let b = service_index(to)?;
    let ok = if from == "client" { b == 0 } else { b > 0 && service_index(from)? == b - 1 };
    if !ok {
        return Err(format!(
            "no link from {from} to {to}: the path is client → gateway → service-a → service-b → database"
        ));
    }
    Ok(b)
}

#[cfg(test)]
mod tests;
