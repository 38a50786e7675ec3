//! Exposition parsing throughput on a generated 100k-series body (~11 MB), with
//! prometheus-parse as the baseline in the same run.
//!
//! `cargo bench --bench parse`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nightwatch::intake::exposition::{Event, Format, Parser};

mod payload;

fn parse(c: &mut Criterion) {
    let body = payload::generate(100_000);
    let mut group = c.benchmark_group("parse_100k_series");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.sample_size(20);

    group.bench_function("nightwatch", |b| {
        b.iter(|| {
            let mut p = Parser::new(body.as_bytes(), Format::Text);
            let mut n = 0usize;
            let mut sum = 0.0;
            while let Some(ev) = p.next_event() {
                if let Ok(Event::Sample(s)) = ev {
                    n += s.labels.len();
                    sum += s.value;
                }
            }
            assert!(n > 0);
            std::hint::black_box(sum)
        })
    });

    // The same work with every label value decoded to an owned String, as a consumer that keeps
    // the series would do on first sight.
    group.bench_function("nightwatch_owned_labels", |b| {
        b.iter(|| {
            let mut p = Parser::new(body.as_bytes(), Format::Text);
            let mut bytes = 0usize;
            while let Some(ev) = p.next_event() {
                if let Ok(Event::Sample(s)) = ev {
                    for l in s.labels {
                        bytes += l.value().into_owned().len();
                    }
                }
            }
            std::hint::black_box(bytes)
        })
    });

    group.bench_function("prometheus_parse", |b| {
        b.iter(|| {
            let lines = body.lines().map(|l| Ok(l.to_owned()));
            let scrape = prometheus_parse::Scrape::parse(lines).expect("parses");
            std::hint::black_box(scrape.samples.len())
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
