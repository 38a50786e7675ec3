//! Every fault of the chaos menu against the simulated fleet, watched with the shipped
//! `config/examples/sim.toml` in simulated time (scrape every 5 s, nothing waits on a clock):
//! which signals reach warn or page, which stay OK, and that the matching remedy, and only it,
//! brings them back under warn.

use std::collections::BTreeMap;
use std::path::Path;

use nightwatch::config::Config;
use nightwatch::signals::Level;
use nightwatch::sim::{FaultSpec, Fleet, Harness, Injection, Latency, Nodes, Remedy};

const MIN: i64 = 60_000;

fn harness(seed: u64) -> Harness {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/sim.toml");
    let text = std::fs::read_to_string(&path).expect("shipped example");
    let config = Config::from_texts(Some((&path, &text))).expect("the shipped example is valid");
    let mut h = Harness::new(Fleet::new(47, seed), config, 5_000);
    // Ten quiet minutes first, so that every rate window is full.
    h.run_for(10 * MIN);
    h
}

/// Each signal's level now.
fn levels(h: &mut Harness, ms: i64) -> BTreeMap<String, Level> {
    let outcomes = h.run_for(ms);
    h.watch.config.signals.iter().zip(&outcomes).map(|(s, o)| (s.id.clone(), o.level())).collect()
}

fn at_least_warn(l: Level) -> bool {
    matches!(l, Level::Warn | Level::Page)
}

/// Fails with every signal's level, so that a miscalibration is easy to see.
#[track_caller]
fn check(what: &str, levels: &BTreeMap<String, Level>, page: &[&str], warn: &[&str]) {
    let shown: Vec<String> = levels.iter().map(|(k, v)| format!("{k}={}", v.as_str())).collect();
    for id in page {
        assert_eq!(levels[*id], Level::Page, "{what}: {id} should page\n  {}", shown.join(" "));
    }
    for id in warn {
        assert!(at_least_warn(levels[*id]), "{what}: {id} should be at least WARN\n  {}", shown.join(" "));
    }
    for (id, l) in levels {
        if !page.contains(&id.as_str()) && !warn.contains(&id.as_str()) {
            assert_eq!(*l, Level::Ok, "{what}: {id} should stay OK\n  {}", shown.join(" "));
        }
    }
}

struct Case {
    name: &'static str,
    fault: FaultSpec,
    page: &'static [&'static str],
    warn: &'static [&'static str],
    /// The remedy that brings the fault's signals back under warn while it lasts.
    fix: Remedy,
    wrong: Remedy,
}

fn run(case: Case) {
    // The right fix.
    let mut h = harness(1);
    check(&format!("{} before the fault", case.name), &levels(&mut h, 5_000), &[], &[]);
    h.fleet.inject(&Injection { fault: case.fault.clone(), duration_s: Some(3600.0) }).expect("inject");
    check(&format!("{} under the fault", case.name), &levels(&mut h, 4 * MIN), case.page, case.warn);
    h.fleet.remedy(&case.fix).expect("the remedy applies");
    check(&format!("{} after the fix", case.name), &levels(&mut h, 10 * MIN), &[], &[]);

    // The wrong remedy leaves the fault's signals where they were.
    let mut h = harness(1);
    h.fleet.inject(&Injection { fault: case.fault, duration_s: Some(3600.0) }).expect("inject");
    levels(&mut h, 4 * MIN);
    h.fleet.remedy(&case.wrong).expect("the wrong remedy applies too");
    let after = levels(&mut h, 10 * MIN);
    let still: Vec<&&str> = case.page.iter().chain(case.warn).filter(|id| at_least_warn(after[**id])).collect();
    assert!(!still.is_empty(), "{}: the wrong remedy {:?} should not fix it: {after:?}", case.name, case.wrong);
}

fn all_nodes() -> Remedy {
    Remedy::NtpSync { nodes: Nodes::All }
}

/// The message bus on the standby broker, out of the primary's network faults.
fn standby() -> Remedy {
    Remedy::Bus { standby: true }
}

fn breaker(service: &str) -> Remedy {
    Remedy::Breaker { service: service.into(), open: true }
}

fn delay(ms: f64, from: Option<&str>, to: Option<&str>) -> FaultSpec {
    FaultSpec::NetworkDelay {
        latency: Latency::Fixed { ms },
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        cascade: false,
    }
}

#[test]
fn clock_drift() {
    run(Case {
        name: "clock drift +1s/min on 20%",
        fault: FaultSpec::ClockDrift { rate_s_per_min: 1.0, nodes: Nodes::Percent(0.2) },
        page: &["clock-skew", "ordering-violations"],
        warn: &["clock-unsynchronised"],
        fix: all_nodes(),
        wrong: Remedy::Restart { service: "payment".into() },
    });
}

#[test]
fn clock_jump() {
    run(Case {
        name: "clock jump +5m on 10%",
        fault: FaultSpec::ClockJump { offset_s: 300.0, nodes: Nodes::Percent(0.1) },
        page: &["clock-skew"],
        warn: &["clock-unsynchronised", "ordering-violations"],
        fix: all_nodes(),
        wrong: Remedy::CacheSetMaxmemory { bytes: 8 << 30 },
    });
}

#[test]
fn clock_byzantine() {
    run(Case {
        name: "byzantine clocks random(-1s,+1s) on 33%",
        fault: FaultSpec::ClockByzantine { low_s: -1.0, high_s: 1.0, nodes: Nodes::Percent(0.33) },
        page: &["clock-skew", "ordering-violations"],
        warn: &["clock-unsynchronised"],
        fix: all_nodes(),
        wrong: breaker("service-a"),
    });
}

#[test]
fn network_delay_on_every_link() {
    run(Case {
        name: "network delay 200ms on every link",
        fault: delay(200.0, None, None),
        page: &[],
        warn: &["timeout-budget", "latency-delta"],
        // Serve the fallback at the top of the slow path until the network recovers.
        fix: breaker("service-a"),
        wrong: all_nodes(),
    });
}

#[test]
fn network_delay_between_two_services() {
    run(Case {
        name: "network delay 500ms service-a → service-b",
        fault: delay(500.0, Some("service-a"), Some("service-b")),
        page: &["timeout-budget", "timeout-ratio", "retry-storm", "latency-delta"],
        warn: &[],
        fix: breaker("payment"),
        // A longer budget at the gateway does not help: service-b's own budget is smaller than
        // the delay, so every call into it still times out and is retried.
        wrong: Remedy::TimeoutBudget { hop: "gateway".into(), seconds: 5.0 },
    });
}

#[test]
fn network_delay_cascading() {
    run(Case {
        name: "network delay exponential(100ms), cascading",
        fault: FaultSpec::NetworkDelay {
            latency: Latency::Exponential { mean_ms: 100.0 },
            from: None,
            to: None,
            cascade: true,
        },
        page: &["timeout-budget", "timeout-ratio", "retry-storm", "latency-delta"],
        warn: &[],
        fix: breaker("service-a"),
        wrong: Remedy::Backoff { multiplier: 3.0 },
    });
}

#[test]
fn network_reorder() {
    run(Case {
        name: "network reorder 25%",
        fault: FaultSpec::NetworkReorder { probability: 0.25 },
        page: &["ordering-violations"],
        warn: &[],
        fix: standby(),
        wrong: all_nodes(),
    });
}

#[test]
fn network_partition_between_services() {
    run(Case {
        name: "network partition service-a → service-b",
        fault: FaultSpec::NetworkPartition { from: "service-a".into(), to: "service-b".into() },
        page: &["timeout-ratio", "retry-storm", "latency-delta"],
        warn: &["timeout-budget"],
        fix: breaker("service-b"),
        wrong: Remedy::Restart { service: "service-b".into() },
    });
}

#[test]
fn network_partition_between_nodes() {
    run(Case {
        name: "network partition node-01 → node-02",
        fault: FaultSpec::NetworkPartition { from: "node-01".into(), to: "node-02".into() },
        page: &[],
        warn: &["ordering-violations"],
        fix: standby(),
        wrong: all_nodes(),
    });
}

#[test]
fn network_drop_acks() {
    run(Case {
        name: "network drop-acks 10%",
        fault: FaultSpec::DropAcks { probability: 0.1 },
        page: &["ordering-violations"],
        warn: &[],
        fix: standby(),
        wrong: Remedy::CacheSetMaxmemory { bytes: 8 << 30 },
    });
}

#[test]
fn cpu_stress() {
    run(Case {
        name: "cpu stress 80% on payment",
        fault: FaultSpec::CpuStress { service: "payment".into(), load: 0.8 },
        page: &["timeout-budget", "timeout-ratio", "latency-delta"],
        // Around the page threshold (500/min), depending on the seed.
        warn: &["retry-storm"],
        fix: Remedy::Restart { service: "payment".into() },
        wrong: Remedy::TimeoutBudget { hop: "gateway".into(), seconds: 5.0 },
    });
}

#[test]
fn cache_evict() {
    run(Case {
        name: "cache evict 50% of the idempotency cache",
        fault: FaultSpec::CacheEvict { percent: 0.5 },
        page: &["idempotency-misses", "idempotency-memory"],
        warn: &[],
        fix: Remedy::CacheSetMaxmemory { bytes: 8 << 30 },
        // Dropping short-TTL keys frees 30% of the keys' memory: not enough for half the cache.
        wrong: Remedy::CacheEvictShortTtl,
    });
}

/// The 3 A.M. certification drill's faults together.
#[test]
fn the_3am_drill_pages_on_skew_the_cascade_and_retries_or_ordering() {
    let mut h = harness(1);
    let faults = [
        (delay(500.0, Some("service-a"), Some("service-b")), 3600.0),
        (FaultSpec::ClockJump { offset_s: 120.0, nodes: Nodes::Percent(0.3) }, 3600.0),
        (FaultSpec::DropAcks { probability: 0.1 }, 3600.0),
    ];
    for (fault, s) in faults {
        h.fleet.inject(&Injection { fault, duration_s: Some(s) }).expect("inject");
    }
    let l = levels(&mut h, 3 * MIN);
    let shown = format!("{l:?}");
    assert_eq!(l["clock-skew"], Level::Page, "{shown}");
    assert_eq!(l["timeout-budget"], Level::Page, "the timeout cascade: {shown}");
    assert!(l["retry-storm"] == Level::Page || l["ordering-violations"] == Level::Page, "{shown}");

    // Resolution: the breaker to payment, an NTP sync, and the bus off the lossy network.
    h.fleet.remedy(&breaker("payment")).expect("breaker");
    h.fleet.remedy(&all_nodes()).expect("ntp-sync");
    h.fleet.remedy(&standby()).expect("bus failover");
    let l = levels(&mut h, 10 * MIN);
    assert!(l.values().all(|x| *x == Level::Ok), "resolved: {l:?}");
}
