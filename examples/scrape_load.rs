//! A closed-loop scrape load: `--concurrency` clients each GET `--url` back to back (keep-alive)
//! for `--duration` seconds; prints scrapes per second and latency percentiles. Used by
//! benches/sim-load.sh against the simulated fleet and a peer exporter.
//!
//!   scrape_load --url http://127.0.0.1:9464/metrics [--duration 20] [--concurrency 4]

use std::time::{Duration, Instant};

fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let Some(url) = get("--url") else {
        eprintln!("usage: scrape_load --url URL [--duration SECS] [--concurrency N] [--label NAME]");
        std::process::exit(64);
    };
    let duration = Duration::from_secs(get("--duration").and_then(|v| v.parse().ok()).unwrap_or(20));
    let concurrency: usize = get("--concurrency").and_then(|v| v.parse().ok()).unwrap_or(4);
    let label = get("--label").unwrap_or_else(|| url.clone());
    nightwatch::intake::http::install_crypto_provider();
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_gzip().build().expect("client");
            let (mut lat, mut bytes, mut errors) = (Vec::new(), 0usize, 0usize);
            while started.elapsed() < duration {
                let t = Instant::now();
                match client.get(&url).send().await {
                    Ok(r) => match r.bytes().await {
                        Ok(b) => {
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                            bytes = b.len();
                        }
                        Err(_) => errors += 1,
                    },
                    Err(_) => errors += 1,
                }
            }
            (lat, bytes, errors)
        }));
    }
    let (mut lat, mut bytes, mut errors) = (Vec::new(), 0, 0);
    for w in workers {
        let (l, b, e) = w.await.expect("worker");
        lat.extend(l);
        bytes = bytes.max(b);
        errors += e;
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    println!(
        "{label}: {} scrapes in {secs:.1}s = {:.0}/s, body {} KiB, latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms, errors {errors}",
        lat.len(),
        lat.len() as f64 / secs,
        bytes / 1024,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
    );
}
