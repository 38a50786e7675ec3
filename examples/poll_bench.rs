//! Runs nightwatch's polling path for a while and reports what it cost (used by benches/*.sh):
//! per scrape the fetch + parse time and the store ingestion time, per refresh the evaluation
//! of every local signal, the scheduling lag of every scrape, and the process's RSS.
//!
//!   poll_bench --config FILE --duration 60

use std::time::{Duration, Instant};

use nightwatch::config::{Config, Evaluation};
use nightwatch::intake::scheduler::{IntakeMsg, now_ms, start};
use nightwatch::intake::scrape::{NameFilter, decode_series};
use nightwatch::series::Store;
use nightwatch::signals::evaluate_local;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let k = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[k]
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(path) = get("--config") else {
        eprintln!("usage: poll_bench --config FILE [--duration SECS] [--warmup SECS]");
        std::process::exit(64);
    };
    let duration = Duration::from_secs(get("--duration").and_then(|v| v.parse().ok()).unwrap_or(60));
    let warmup = Duration::from_secs(get("--warmup").and_then(|v| v.parse().ok()).unwrap_or(5));
    let config = match Config::load(Some(std::path::Path::new(&path))) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(3);
        }
    };
    let local: Vec<_> = config.signals.iter().filter(|s| s.evaluation == Evaluation::Local).collect();
    let filter = NameFilter::for_signals(local.iter().copied());
    let mut store = Store::with_retention(config.retention_policy(), config.cockpit.max_series);
    let lookback = config.cockpit.lookback.as_millis() as i64;
    let (tx, mut rx) = tokio::sync::mpsc::channel(8192);
    let _intake = start(&config, filter, tx).expect("start intake");
    let mut labels = std::collections::HashMap::new();
    let (mut scrape_ms, mut ingest_ms, mut eval_ms, mut lag_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut parse_ms = Vec::new();
    let (mut ok, mut failed, mut samples_kept) = (0usize, 0usize, 0usize);
    let mut per_target: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let began = Instant::now();
    let measuring_from = began + warmup;
    let deadline = measuring_from + duration;
    let mut refresh = tokio::time::interval(config.cockpit.refresh);
    while Instant::now() < deadline {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                match msg {
                    IntakeMsg::TargetsChanged { added, removed, .. } => {
                        for t in added { labels.insert(t.id, t.spec.labels); }
                        for id in removed { labels.remove(&id); }
                    }
                    IntakeMsg::SourceProblem { problem: Some(p), .. } => eprintln!("source problem: {p}"),
                    IntakeMsg::SourceProblem { .. } => {}
                    IntakeMsg::Scraped(d) => {
                        let measuring = Instant::now() >= measuring_from;
                        let t0 = Instant::now();
                        match &d.result {
                            Ok(s) => {
                                if let Some(l) = labels.get(&d.target) {
                                    store.ingest(d.target, l, s.batch.samples(), decode_series, d.started_ms);
                                }
                                if measuring {
                                    ok += 1;
                                    samples_kept += s.batch.len();
                                    *per_target.entry(d.target).or_default() += 1;
                                    lag_ms.push(d.lag.as_secs_f64() * 1000.0);
                                    scrape_ms.push(d.duration.as_secs_f64() * 1000.0);
                                    parse_ms.push(s.report.parse_time.as_secs_f64() * 1000.0);
                                }
                            }
                            Err(_) => {
                                store.target_down(d.target, d.started_ms);
                                if measuring { failed += 1; }
                            }
                        }
                        if measuring {
                            ingest_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                }
            }
            _ = refresh.tick() => {
                let t0 = Instant::now();
                let at = now_ms();
                for s in &local {
                    std::hint::black_box(evaluate_local(s, &store, lookback, at));
                }
                store.gc(at);
                if Instant::now() >= measuring_from {
                    eval_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
    }
    let secs = duration.as_secs_f64();
    let interval = config.sources.iter().map(|s| s.interval.as_secs_f64()).fold(f64::INFINITY, f64::min);
    let expected = (secs / interval).floor() as usize;
    let min_polls = per_target.values().copied().min().unwrap_or(0);
    println!("scrapes_ok={ok}");
    println!("scrapes_failed={failed}");
    println!("healthy_targets={}", per_target.len());
    println!("polls_per_target_expected={expected}");
    println!("polls_per_target_min={min_polls}");
    println!("samples_kept_per_scrape={:.0}", samples_kept as f64 / ok.max(1) as f64);
    println!("series_in_store={}", store.len());
    println!("scrape_ms_p50={:.2}", percentile(&mut scrape_ms.clone(), 0.5));
    println!("scrape_ms_p99={:.2}", percentile(&mut scrape_ms, 0.99));
    println!("parse_ms_p50={:.2}", percentile(&mut parse_ms, 0.5));
    println!("ingest_ms_p50={:.2}", percentile(&mut ingest_ms.clone(), 0.5));
    println!("ingest_ms_p99={:.2}", percentile(&mut ingest_ms, 0.99));
    println!("eval_ms_p50={:.2}", percentile(&mut eval_ms.clone(), 0.5));
    println!("eval_ms_p99={:.2}", percentile(&mut eval_ms, 0.99));
    println!("lag_ms_p50={:.2}", percentile(&mut lag_ms.clone(), 0.5));
    println!("lag_ms_p99={:.2}", percentile(&mut lag_ms.clone(), 0.99));
    println!("lag_ms_max={:.2}", percentile(&mut lag_ms, 1.0));
    println!("rss_kib={}", status_kib("VmRSS:"));
    println!("peak_rss_kib={}", status_kib("VmHWM:"));
}
