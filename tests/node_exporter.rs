//! A real node_exporter (Debian's prometheus-node-exporter, started here on a free loopback
//! port): nightwatch scrapes it, stores its series and evaluates the shipped clock-skew signal
//! from `node_timex_offset_seconds`.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use nightwatch::config::Config;
use nightwatch::intake::scheduler::{discover_once, poll_once};
use nightwatch::intake::scrape::{NameFilter, decode_series};
use nightwatch::series::Store;
use nightwatch::signals::{Level, Outcome, evaluate_local};
use support::{Child, closed_port, external, wait_listening};

fn start_node_exporter() -> Option<(Child, u16)> {
    let bin = external("prometheus-node-exporter", "prometheus-node-exporter")?;
    let port = closed_port();
    let child = Command::new(bin)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(["--collector.disable-defaults", "--collector.timex", "--collector.time"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node_exporter");
    Some((Child(child), port))
}

fn config(port: u16) -> Config {
    let text = format!(
        "[[source]]\nname = \"node\"\nkind = \"scrape\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval = \"1s\"\n"
    );
    Config::from_texts(Some((std::path::Path::new("node.toml"), &text))).expect("valid config")
}

#[tokio::test(flavor = "multi_thread")]
async fn clock_skew_from_a_real_node_exporter() {
    let Some((_child, port)) = start_node_exporter() else { return };
    wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10)).await;
    let config = config(port);
    let skew = config.signals.iter().find(|s| s.id == "clock-skew").expect("shipped signal");
    let filter = NameFilter::for_signals([skew]);
    let (targets, problems) = discover_once(&config);
    assert!(problems.is_empty());
    let done = poll_once(&config, &filter, &targets).await;
    let d = &done[0];
    let scraped = d.result.as_ref().expect("node_exporter answers");
    assert!(scraped.report.samples > 5, "timex exposes a dozen series");
    assert_eq!(scraped.report.skipped_lines, 0);
    let kept: Vec<String> = scraped.batch.samples().map(|s| String::from_utf8_lossy(s.key).into_owned()).collect();
    assert_eq!(kept, ["node_timex_offset_seconds"], "only what the signal reads is kept");

    let mut store = Store::new(600_000, 1000);
    store.ingest(d.target, &targets[0].spec.labels, scraped.batch.samples(), decode_series, d.started_ms);
    let outcome = evaluate_local(skew, &store, 300_000, d.started_ms + 1);
    let Outcome::Values { readings, .. } = &outcome else { panic!("evaluated: {outcome:?}") };
    assert_eq!(readings.len(), 1);
    let r = &readings[0];
    assert_eq!(r.labels.to_string(), format!(r#"{{instance="127.0.0.1:{port}", job="node"}}"#));
    assert!(r.value.is_finite() && r.value >= 0.0, "abs() of an offset: {}", r.value);
    let expected = if r.value > 0.5 {
        Level::Page
    } else if r.value > 0.1 {
        Level::Warn
    } else {
        Level::Ok
    };
    assert_eq!(r.level, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn nightwatch_eval_reads_a_real_node_exporter() {
    let Some((_child, port)) = start_node_exporter() else { return };
    wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10)).await;
    let dir = std::env::temp_dir().join(format!("nightwatch-ne-{port}"));
    std::fs::create_dir_all(&dir).expect("tmp");
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[source]]\nname = \"node\"\nkind = \"scrape\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval = \"1s\"\n\n\
             [[signal]]\nid = \"clock-unsynchronised\"\nenabled = false\n"
        ),
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_nightwatch"))
        .args(["eval", "--json", "--config"])
        .arg(&cfg)
        .env_remove("NIGHTWATCH_LOG")
        .output()
        .expect("run nightwatch");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let skew = v["signals"].as_array().expect("signals").iter().find(|s| s["id"] == "clock-skew").expect("clock-skew");
    assert!(matches!(skew["level"].as_str(), Some("OK" | "WARN" | "PAGE")), "{skew}");
    assert_eq!(v["targets"][0]["up"], true);
    // Envoy and Redis signals have no data here: the verdict is UNKNOWN, not OK.
    assert_eq!(v["verdict"], "UNKNOWN");
    assert_eq!(out.status.code(), Some(3));
    let _ = std::fs::remove_dir_all(dir);
}
