use super::*;
use crate::intake::exposition::{Format, MetricType, Suffix, parse_all};
use crate::sim::render::render;

fn drill_faults(f: &mut Fleet) {
    let faults = [
        FaultSpec::NetworkDelay {
            latency: Latency::Fixed { ms: 500.0 },
            from: Some("service-a".into()),
            to: Some("service-b".into()),
            cascade: false,
        },
        FaultSpec::ClockJump { offset_s: 120.0, nodes: Nodes::Percent(0.3) },
        FaultSpec::DropAcks { probability: 0.1 },
        FaultSpec::CacheEvict { percent: 0.3 },
        FaultSpec::CpuStress { service: "payment".into(), load: 0.5 },
    ];
    for fault in faults {
        f.inject(&Injection { fault, duration_s: Some(300.0) }).expect("valid fault");
    }
}

/// Every counter-like series of a rendered fleet, by its series text.
fn counters(body: &str) -> Vec<(String, f64)> {
    let e = parse_all(body.as_bytes(), Format::Text).expect("the fleet's text parses");
    let mut out = Vec::new();
    for fam in &e.families {
        let counter_like = matches!(fam.kind, MetricType::Counter | MetricType::Histogram)
            || fam.name.ends_with("_rq_timeout")
            || fam.name.ends_with("_rq_retry");
        for s in &fam.samples {
            if counter_like && !matches!(s.suffix, Suffix::Sum) {
                let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.push((format!("{}{{{}}}", s.name, labels.join(",")), s.value));
            }
        }
    }
    out
}

#[test]
fn the_same_seed_and_faults_replay_the_same_fleet() {
    let run = |seed| {
        let mut f = Fleet::new(47, seed);
        f.advance_to(60_000);
        drill_faults(&mut f);
        f.advance_to(240_000);
        f.remedy(&Remedy::NtpSync { nodes: Nodes::All }).expect("ntp-sync");
        f.advance_to(300_000);
        render(&f, Format::Text)
    };
    assert_eq!(run(7), run(7), "a replay must be exact");
    assert_ne!(run(7), run(8), "another seed is another fleet");
}

#[test]
fn counters_only_grow_and_histograms_stay_consistent_under_faults() {
    let mut f = Fleet::new(20, 3);
    f.advance_to(30_000);
    drill_faults(&mut f);
    let mut before = counters(&render(&f, Format::Text));
    for t in 1..=120 {
        f.advance_to(30_000 + t * 5_000);
        if t == 40 {
            f.remedy(&Remedy::Restart { service: "payment".into() }).expect("restart");
            f.remedy(&Remedy::CacheEvictShortTtl).expect("evict-short-ttl");
        }
        let now = counters(&render(&f, Format::Text));
        assert_eq!(now.len(), before.len(), "the set of series is stable");
        for ((name, v), (name0, v0)) in now.iter().zip(&before) {
            assert_eq!(name, name0);
            assert!(v >= v0, "{name} went down from {v0} to {v} at tick {}", f.tick());
        }
        before = now;
    }
    for h in f.hops.iter().flat_map(|h| [&h.rq_time, &h.budget_used]).chain([&f.http_user, &f.http_health]) {
        let c = h.cumulative();
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "buckets are cumulative");
        assert_eq!(c.last().copied(), Some(h.count), "+Inf equals _count");
        assert!(h.sum >= 0.0);
    }
}

#[test]
fn load_varies_and_values_are_noisy() {
    let mut f = Fleet::new(10, 1);
    let mut per_minute = Vec::new();
    let mut last = 0;
    for m in 1..=10 {
        f.advance_to(m * 60_000);
        per_minute.push(f.hops[0].rq_total - last);
        last = f.hops[0].rq_total;
    }
    let (lo, hi) = (per_minute.iter().min().copied(), per_minute.iter().max().copied());
    assert!(lo < hi, "traffic is not a constant: {per_minute:?}");
    // 40 requests per second, give or take the noise and the daily swing.
    assert!(per_minute.iter().all(|&n| (1800..=3000).contains(&n)), "{per_minute:?}");
    let offsets: Vec<f64> = f.nodes.iter().map(|n| n.offset).collect();
    assert!(offsets.iter().any(|o| *o != offsets[0]), "node clocks wander independently");
    assert!(offsets.iter().all(|o| o.abs() < 0.05), "healthy clocks stay within 50ms: {offsets:?}");
}

#[test]
fn faults_heal_themselves_after_their_duration_and_on_request() {
    let mut f = Fleet::new(5, 1);
    let a = f
        .inject(&Injection { fault: FaultSpec::NetworkReorder { probability: 0.25 }, duration_s: Some(60.0) })
        .expect("reorder");
    let b = f.inject(&Injection { fault: FaultSpec::DropAcks { probability: 0.1 }, duration_s: None }).expect("acks");
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(b.ends_ms - b.started_ms, 600_000, "ten minutes by default");
    f.advance_to(59_000);
    assert_eq!(f.faults().len(), 2);
    f.advance_to(62_000);
    assert_eq!(f.faults().iter().map(|x| x.id).collect::<Vec<_>>(), vec![2]);
    assert!(f.heal(1).is_err(), "a healed fault cannot be healed twice");
    assert_eq!(f.heal(2).map(|x| x.kind), Ok("network drop-acks".to_owned()));
    assert!(f.faults().is_empty());
}

#[test]
fn a_clock_jump_moves_the_chosen_nodes_and_ntp_sync_steps_them_back() {
    let mut f = Fleet::new(47, 1);
    let info = f
        .inject(&Injection {
            fault: FaultSpec::ClockJump { offset_s: 120.0, nodes: Nodes::Percent(0.3) },
            duration_s: Some(600.0),
        })
        .expect("jump");
    f.advance_to(10_000);
    let skewed: Vec<&Node> = f.nodes.iter().filter(|n| n.offset > 100.0).collect();
    assert_eq!(skewed.len(), 15, "30% of 47 nodes, rounded up: {}", info.detail);
    assert!(skewed.iter().all(|n| !n.synced()));
    let msg = f.remedy(&Remedy::NtpSync { nodes: Nodes::All }).expect("sync");
    assert!(msg.contains("no longer affects them"), "{msg}");
    assert!(f.faults().is_empty(), "the jump has nothing left to act on");
    f.advance_to(20_000);
    assert!(f.nodes.iter().all(|n| n.offset.abs() < 0.05 && n.synced()));
}

#[test]
fn bad_faults_and_remedies_are_refused_with_a_reason() {
    let mut f = Fleet::new(5, 1);
    let bad_link = FaultSpec::NetworkDelay {
        latency: Latency::Fixed { ms: 10.0 },
        from: Some("gateway".into()),
        to: Some("database".into()),
        cascade: false,
    };
    let e = f.inject(&Injection { fault: bad_link, duration_s: None }).expect_err("not adjacent");
    assert!(e.contains("client → gateway → service-a"), "{e}");
    let e = f
        .inject(&Injection { fault: FaultSpec::DropAcks { probability: 0.1 }, duration_s: Some(0.0) })
        .expect_err("zero duration");
    assert!(e.contains("longer than 0s"), "{e}");
    let e = f.remedy(&Remedy::NtpSync { nodes: Nodes::Names(vec!["node-99".into()]) }).expect_err("unknown node");
    assert!(e.contains("node-01 … node-05"), "{e}");
    assert!(f.remedy(&Remedy::Backoff { multiplier: 0.5 }).is_err());
    assert!(f.remedy(&Remedy::TimeoutBudget { hop: "gateway".into(), seconds: 0.0 }).is_err());
    assert!(f.remedy(&Remedy::CacheSetMaxmemory { bytes: 10 }).is_err());
    assert!(f.remedy(&Remedy::Restart { service: "billing".into() }).is_err());
    assert!(f.faults().is_empty(), "nothing was half-applied");
}

#[test]
fn node_names_are_zero_padded_to_the_fleet_size() {
    assert_eq!(Fleet::new(47, 1).nodes[2].name, "node-03");
    let big = Fleet::new(1000, 1);
    assert_eq!((big.nodes[0].name.as_str(), big.nodes[999].name.as_str()), ("node-0001", "node-1000"));
}

#[test]
fn absurd_inputs_are_refused_or_survived_without_a_panic() {
    let mut f = Fleet::new(3, 1);
    f.advance_to(5_000);
    let forever = Injection { fault: FaultSpec::DropAcks { probability: 0.1 }, duration_s: Some(1e300) };
    let info = f.inject(&forever).expect("a very long fault is still a fault");
    assert_eq!(info.ends_ms, i64::MAX);
    let huge = FaultSpec::ClockDrift { rate_s_per_min: 1e308, nodes: Nodes::Percent(5.0) };
    f.inject(&Injection { fault: huge, duration_s: Some(60.0) }).expect("clamped to every node");
    let slow = FaultSpec::NetworkDelay { latency: Latency::Fixed { ms: 1e300 }, from: None, to: None, cascade: true };
    f.inject(&Injection { fault: slow, duration_s: Some(60.0) }).expect("delay");
    f.advance_to(120_000);
    let body = render(&f, Format::Text);
    assert!(parse_all(body.as_bytes(), Format::Text).is_ok(), "still valid exposition");
    assert!(f.inject(&Injection { fault: FaultSpec::DropAcks { probability: 0.1 }, duration_s: Some(-1.0) }).is_err());
}

#[test]
fn skewed_clocks_make_write_conflicts() {
    let calm = {
        let mut f = Fleet::new(20, 5);
        f.advance_to(30 * 60_000);
        f.writes.conflicts.iter().sum::<u64>()
    };
    let mut f = Fleet::new(20, 5);
    let nodes = Nodes::Percent(0.5);
    f.inject(&Injection { fault: FaultSpec::ClockJump { offset_s: 2.0, nodes }, duration_s: Some(3600.0) })
        .expect("inject");
    f.advance_to(30 * 60_000);
    let skewed = f.writes.conflicts.iter().sum::<u64>();
    assert!(skewed > 3 * calm.max(1), "half the clocks off: {skewed} conflicts against {calm}");
    assert!(f.writes.attempts[0] > f.writes.attempts[1], "orders are written more often than ledger entries");
    let hottest = f.writes.extra_writers[0][0];
    assert!(hottest >= f.writes.extra_writers[0][super::HOT_ENTITIES - 1], "the first entity is the hottest");
}
