//! The in-process half of a scrape of a 100k-series target: parse into a batch, ingest into
//! the store, evaluate signals. Two cases: signals that read a few families (the store keeps
//! what they read) and a signal that reads every series (the worst case).
//!
//! `cargo bench --bench pipeline`

use criterion::{Criterion, criterion_group, criterion_main};
use nightwatch::config::{Config, Evaluation};
use nightwatch::intake::exposition::Format;
use nightwatch::intake::scrape::{NameFilter, Spec, decode_series, parse_body};
use nightwatch::series::{Labels, Store};
use nightwatch::signals::evaluate_local;

mod payload;

const FEW: &str = r#"
[[signal]]
id = "requests"
expr = "sum by (method) (rate(app_requests_handled_0_total[1m]))"

[[signal]]
id = "latency"
expr = "histogram_quantile(0.99, sum by (le) (rate(app_request_duration_2_seconds_bucket[1m])))"

[[signal]]
id = "queue"
expr = "max(app_queue_depth_messages_1)"
"#;

const ALL: &str = r#"
[[signal]]
id = "everything"
expr = 'count({__name__=~".+"})'
"#;

fn config(signals: &str) -> Config {
    let text = format!("[cockpit]\nbuiltin-signals = false\nmax-series = 2000000\n{signals}");
    Config::from_texts(Some((std::path::Path::new("bench.toml"), &text))).expect("valid")
}

fn spec() -> Spec {
    Spec {
        timeout: std::time::Duration::from_secs(5),
        limits: nightwatch::config::Limits { body_bytes: 1 << 30, samples: 10_000_000, ..Default::default() },
        value_rules: Default::default(),
        force_format: None,
        auth: Default::default(),
        pool: None,
    }
}

fn bench(c: &mut Criterion) {
    let body = payload::generate(100_000).into_bytes();
    let target = Labels::from_pairs([("job", "payload"), ("instance", "127.0.0.1:9500")]);
    let mut group = c.benchmark_group("pipeline_100k");
    group.sample_size(10);
    for (name, signals) in [("few", FEW), ("all", ALL)] {
        let cfg = config(signals);
        let filter = NameFilter::for_signals(&cfg.signals);
        let signals: Vec<_> = cfg.signals.iter().filter(|s| s.evaluation == Evaluation::Local).collect();
        // A store that has seen the target before, as in steady state.
        let mut store = Store::with_retention(cfg.retention_policy(), 2_000_000);
        let mut t = 1_700_000_000_000i64;
        for _ in 0..3 {
            let s = parse_body(body.clone(), Format::Text, &spec(), &filter).expect("parses");
            store.ingest(1, &target, s.batch.samples(), decode_series, t);
            t += 5000;
        }
        group.bench_function(format!("parse_{name}"), |b| {
            b.iter(|| parse_body(body.clone(), Format::Text, &spec(), &filter).expect("parses"))
        });
        let scraped = parse_body(body.clone(), Format::Text, &spec(), &filter).expect("parses");
        group.bench_function(format!("ingest_{name}"), |b| {
            b.iter(|| {
                t += 5000;
                store.ingest(1, &target, scraped.batch.samples(), decode_series, t)
            })
        });
        group.bench_function(format!("evaluate_{name}"), |b| {
            b.iter(|| {
                for s in &signals {
                    std::hint::black_box(evaluate_local(s, &store, 300_000, t));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
