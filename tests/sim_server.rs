//! The fleet over HTTP and from the command line: what a scraper, promtool and an operator
//! typing `nightwatch chaos` and `nightwatch sim ctl` see.

mod support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nightwatch::intake::exposition::{Format, parse_all};
use nightwatch::sim::client::Client;
use nightwatch::sim::server::serve;
use nightwatch::sim::{FaultSpec, Fleet, Injection, Latency, Nodes, Remedy};
use support::{external, refused_port, start_fleet};

async fn start(nodes: usize, speed: f64) -> nightwatch::sim::server::SimServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve(listener, Fleet::new(nodes, 1), speed, false)
}

async fn get(url: &str, accept: Option<&str>) -> (String, String) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.expect("the fleet answers");
    assert!(r.status().is_success(), "{}", r.status());
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (ct, r.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread")]
async fn openmetrics_when_asked_and_it_passes_the_strict_parser() {
    nightwatch::intake::http::install_crypto_provider();
    let server = start(47, 60.0).await;
    let client = Client::new(&server.addr.to_string()).expect("client");
    // Faults make the output richer (skewed, unsynchronised clocks, timeouts, evictions).
    for fault in [
        FaultSpec::ClockJump { offset_s: -300.0, nodes: Nodes::Percent(0.2) },
        FaultSpec::CacheEvict { percent: 0.5 },
        FaultSpec::NetworkDelay {
            latency: Latency::Exponential { mean_ms: 100.0 },
            from: None,
            to: None,
            cascade: true,
        },
    ] {
        client.inject(&Injection { fault, duration_s: None }).await.expect("inject");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ct, om) =
        get(&server.metrics_url(), Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")).await;
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let parsed = parse_all(om.as_bytes(), Format::OpenMetrics).expect("strict OpenMetrics");
    let names: Vec<&str> = parsed.families.iter().map(|f| f.name.as_str()).collect();
    for want in [
        "node_timex_offset_seconds",
        "node_timex_sync_status",
        "node_timex_maxerror_seconds",
        "envoy_cluster_upstream_rq",
        "envoy_cluster_upstream_rq_timeout",
        "envoy_cluster_upstream_rq_retry",
        "envoy_cluster_upstream_rq_time",
        "route_timeout_budget_seconds",
        "http_request_duration_seconds",
        "redis_keyspace_hits",
        "redis_keyspace_misses",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_evicted_keys",
        "redis_db_keys",
        "messages_delivered",
        "messages_out_of_order",
        "messages_duplicate",
        "operations_duplicate",
    ] {
        assert!(names.contains(&want), "no family {want} in {names:?}");
    }
    let nodes = parsed.families.iter().find(|f| f.name == "node_timex_offset_seconds").expect("timex");
    assert_eq!(nodes.samples.len(), 47);

    let (ct, text) = get(&server.metrics_url(), None).await;
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let parsed = parse_all(text.as_bytes(), Format::Text).expect("text");
    assert_eq!(parsed.skipped_lines, 0);
    assert!(text.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"service-b\"}"));
    assert!(text.contains("http_request_duration_seconds_bucket{path=\"/healthz\",le=\"+Inf\"}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_finds_no_errors_in_the_text_output() {
    let Some(promtool) = external("promtool", "prometheus") else { return };
    let server = start(47, 60.0).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, body) = get(&server.metrics_url(), None).await;
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("promtool");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check metrics: {said}");
    assert!(said.trim().is_empty(), "promtool has remarks: {said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_control_endpoint_injects_lists_heals_and_remedies() {
    let server = start(10, 1.0).await;
    let c = Client::new(&server.addr.to_string()).expect("client");
    let f = c
        .inject(&Injection {
            fault: FaultSpec::NetworkPartition { from: "service-a".into(), to: "service-b".into() },
            duration_s: Some(60.0),
        })
        .await
        .expect("partition");
    assert_eq!((f.id, f.kind.as_str()), (1, "network partition"));
    assert_eq!(f.ends_ms - f.started_ms, 60_000);
    let s = c.status().await.expect("status");
    assert_eq!((s.nodes, s.seed, s.faults.len()), (10, 1, 1));

    let msg = c.remedy(&Remedy::Breaker { service: "payment".into(), open: true }).await.expect("breaker");
    assert!(msg.contains("breaker to service-b opened"), "{msg}");
    let (_, body) = get(&server.metrics_url(), None).await;
    assert!(body.contains("envoy_cluster_circuit_breakers_default_rq_open{envoy_cluster_name=\"service-b\"} 1"));

    let e = c.remedy(&Remedy::Restart { service: "billing".into() }).await.expect_err("unknown service");
    assert!(e.contains("unknown service \"billing\""), "{e}");
    let e = c.heal(Some(9)).await.expect_err("no such fault");
    assert!(e.contains("no active fault #9"), "{e}");
    assert_eq!(c.heal(None).await.expect("heal all").len(), 1);
    assert!(c.status().await.expect("status").faults.is_empty());

    // Not JSON, or not a fault: a 400 with the reason, and the fleet carries on.
    let r = reqwest::Client::new()
        .post(format!("http://{}/control/inject", server.addr))
        .body("{\"fault\": {\"kind\": \"meteor-strike\"}}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("body").contains("meteor-strike"));
    let r = reqwest::get(format!("http://{}/nope", server.addr)).await.expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn speed_runs_simulated_time_faster() {
    let server = start(5, 600.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let now = server.status().now_ms;
    // 0.5 s at 600× is 300 s; allow for a slow machine, but not for real time.
    assert!((60_000..=600_000).contains(&now), "simulated {now} ms");
    // Counters advance in wall-clock units: about 40 gateway requests per second of wall time
    // (2 of background), not 600 times that, so thresholds keep their meaning at any speed.
    let (_, body) = get(&server.metrics_url(), None).await;
    let total: f64 = body
        .lines()
        .find_map(|l| l.strip_prefix("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"gateway\"} "))
        .and_then(|v| v.parse().ok())
        .expect("gateway total");
    let wall = now as f64 / 600.0 / 1000.0;
    let per_second = total / wall;
    assert!((20.0..=80.0).contains(&per_second), "{total} requests in {wall:.2}s of wall time");
}

fn nightwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightwatch"))
        .args(args)
        .env_remove("NIGHTWATCH_SIM")
        .env("XDG_CONFIG_HOME", "/nonexistent-nightwatch-test")
        .output()
        .expect("run nightwatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_and_sim_ctl_from_the_command_line() {
    let (_sim, addr) = start_fleet(&["--nodes", "12", "--speed", "60"]).await;

    let out = nightwatch(&[
        "chaos",
        "--sim",
        &addr,
        "network",
        "delay",
        "--latency",
        "500ms",
        "--from",
        "service-a",
        "--to",
        "service-b",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains("injected #1: network delay — 500ms on service-a → service-b"), "{said}");
    assert!(said.contains("heals itself in 10m"), "{said}");

    let out = nightwatch(&[
        "chaos",
        "clock",
        "drift",
        "--rate",
        "+1s/min",
        "--duration",
        "5m",
        "--nodes",
        "20%",
        "--sim",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = nightwatch(&["chaos", "list", "--sim", &addr]);
    let listed = text(&out.stdout);
    assert!(listed.contains("#1") && listed.contains("network delay"), "{listed}");
    assert!(listed.contains("#2") && listed.contains("clock drift") && listed.contains("+1s/min"), "{listed}");

    let out = nightwatch(&["sim", "ctl", "--sim", &addr, "ntp-sync", "--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("clock fault #2 no longer affects them"), "{}", text(&out.stdout));

    let out = nightwatch(&["sim", "ctl", "--sim", &addr, "cache", "set-maxmemory", "8gb"]);
    assert_eq!(text(&out.stdout).trim(), "cache: maxmemory 4GiB → 8GiB");
    let out = nightwatch(&["sim", "ctl", "--sim", &addr, "timeout-budget", "--hop", "gateway", "--set", "5s"]);
    assert_eq!(text(&out.stdout).trim(), "timeout budget of gateway: 2s → 5s");

    // Bad arguments exit 64 and say why; nothing reaches the fleet.
    let out = nightwatch(&["sim", "ctl", "--sim", &addr, "ntp-sync", "--nodes", "node-99"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("no node \"node-99\""), "{}", text(&out.stderr));
    let out = nightwatch(&["sim", "ctl", "--sim", &addr, "breaker", "ajar", "--service", "payment"]);
    assert_eq!(out.status.code(), Some(64));
    let out = nightwatch(&["chaos", "--sim", &addr, "clock", "drift", "--rate", "1s", "--nodes", "20%"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("+1s/min"), "{}", text(&out.stderr));
    let out = nightwatch(&["chaos", "--sim", &addr, "heal", "42"]);
    assert_eq!(out.status.code(), Some(64));

    let out = nightwatch(&["chaos", "--sim", &addr, "heal", "--all"]);
    assert!(text(&out.stdout).contains("healed #1: network delay"), "{}", text(&out.stdout));
    assert!(text(&nightwatch(&["chaos", "list", "--sim", &addr]).stdout).contains("no faults in effect"));
}

#[test]
fn the_fleet_refuses_to_listen_beyond_loopback_unless_told() {
    let out = nightwatch(&["sim", "--listen", "0.0.0.0:9"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("--allow-remote-control"), "{}", text(&out.stderr));
    let out = nightwatch(&["sim", "--speed", "0"]);
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn chaos_without_a_fleet_says_where_it_looked() {
    let (_held, refused) = refused_port();
    let addr = format!("127.0.0.1:{refused}");
    let out = nightwatch(&["chaos", "--sim", &addr, "list"]);
    assert_eq!(out.status.code(), Some(69));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot reach the simulated fleet at http://{addr}")), "{err}");
    assert!(err.contains("is `nightwatch sim` running?"), "{err}");
}

#[test]
fn eval_without_a_config_watches_the_built_in_fleet_and_says_so() {
    let out = nightwatch(&["eval", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let note = v["notes"][0].as_str().unwrap_or_default();
    assert!(note.contains("the built-in simulated fleet (47 nodes"), "{note}");
    assert!(note.contains("http://127.0.0.1:"), "{note}");
    assert_eq!(v["targets"][0]["up"], true, "{v}");
    // A healthy fleet; five seconds of traffic are few samples, so a noisy WARN may happen.
    assert!(v["verdict"] == "OK" || v["verdict"] == "WARN", "a healthy fleet: {v}");
    assert_eq!(out.status.code().map(i64::from), v["exit_code"].as_i64());
    let skew = v["signals"].as_array().and_then(|s| s.iter().find(|s| s["id"] == "clock-skew")).expect("skew");
    assert_eq!(skew["readings"].as_array().map(Vec::len), Some(47), "one reading per node");
}
