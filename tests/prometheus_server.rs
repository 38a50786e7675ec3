//! The real Prometheus (Debian's `prometheus`, started here with its own temp data dir)
//! scrapes a fixture target. nightwatch's prometheus source must give the server's values, its
//! local evaluator must agree with the server on the same data, and every failure must make a
//! signal UNKNOWN.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use nightwatch::commands::eval::evaluate_once;
use nightwatch::config::{Auth, Config};
use nightwatch::intake::http::client;
use nightwatch::intake::prometheus::instant_query;
use nightwatch::signals::promql::{Value, almost_equal};
use nightwatch::signals::{Level, Outcome};
use reqwest::Url;
use support::{Child, Reply, closed_port, external, refused_port, serve};

const FIXTURE: &str = r#"# TYPE fixture_depth gauge
fixture_depth{hop="gateway"} 12
fixture_depth{hop="service-a"} 7
fixture_depth{hop="service-b"} 3
fixture_depth{hop="database"} 1.5
# TYPE fixture_budget gauge
fixture_budget{hop="gateway"} 10
fixture_budget{hop="service-a"} 8
fixture_budget{hop="service-b"} 6
fixture_budget{hop="database"} 4
# TYPE fixture_offset_seconds gauge
fixture_offset_seconds{node="node-01"} 0.047
fixture_offset_seconds{node="node-02"} -0.080
fixture_offset_seconds{node="node-03"} 0.127
# TYPE fixture_latency_seconds histogram
fixture_latency_seconds_bucket{le="0.1"} 10
fixture_latency_seconds_bucket{le="0.25"} 30
fixture_latency_seconds_bucket{le="0.5"} 70
fixture_latency_seconds_bucket{le="1"} 90
fixture_latency_seconds_bucket{le="+Inf"} 100
fixture_latency_seconds_sum 40
fixture_latency_seconds_count 100
"#;

/// Expressions whose value over static data is the same whenever it is evaluated.
const EXPRESSIONS: &[&str] = &[
    "sum by (hop) (fixture_depth)",
    "max(abs(fixture_offset_seconds))",
    "fixture_depth / on(hop) fixture_budget",
    "histogram_quantile(0.9, sum by (le) (fixture_latency_seconds_bucket))",
    "count(fixture_depth > 5)",
    "topk(2, fixture_depth)",
    "clamp_max(fixture_depth, 5) - 1",
    "fixture_depth > bool 4",
];

struct Server {
    _child: Child,
    url: Url,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn start(fixture_port: u16) -> Option<Server> {
    nightwatch::intake::http::install_crypto_provider();
    let bin = external("prometheus", "prometheus")?;
    let port = closed_port();
    let dir = std::env::temp_dir().join(format!("nightwatch-prom-{port}"));
    std::fs::create_dir_all(dir.join("data")).expect("tmp");
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: fixture\n    \
             static_configs:\n      - targets: ['127.0.0.1:{fixture_port}']\n"
        ),
    )
    .expect("write config");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let server = Server {
        _child: Child(child),
        url: Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        _dir: tempdir::Dir(dir),
    };
    // Ready, and the fixture scraped at least twice.
    let http = reqwest::Client::new();
    for _ in 0..300 {
        let ok = http
            .get(format!("{}api/v1/query?query=count_over_time(up{{job=\"fixture\"}}[1m])", server.url))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        if let Some(r) = ok
            && let Ok(bytes) = r.bytes().await
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse::<f64>().ok()).is_some_and(|n| n >= 2.0)
        {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prometheus did not become ready and scrape the fixture within 30s");
}

/// The server's answer to `expr`, read straight from its JSON, as labels → value.
async fn direct(server: &Url, expr: &str) -> BTreeMap<String, f64> {
    let mut url = server.join("api/v1/query").expect("url");
    url.query_pairs_mut().append_pair("query", expr);
    let body = reqwest::get(url).await.expect("query").bytes().await.expect("body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["status"], "success", "{expr}: {v}");
    let mut out = BTreeMap::new();
    for item in v["data"]["result"].as_array().expect("vector") {
        let mut labels: Vec<String> = item["metric"]
            .as_object()
            .expect("metric")
            .iter()
            .filter(|(k, _)| *k != "__name__")
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        labels.sort();
        let value: f64 = item["value"][1].as_str().expect("value").parse().expect("number");
        out.insert(labels.join(","), value);
    }
    out
}

fn as_map(v: &Value) -> BTreeMap<String, f64> {
    let Value::Vector(v) = v else { panic!("expected a vector, got {v:?}") };
    v.iter()
        .map(|e| {
            let mut labels: Vec<String> =
                e.labels.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            (labels.join(","), e.v)
        })
        .collect()
}

fn same(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| almost_equal(*v, *w, 1e-9)))
}

fn signals_toml(source: Option<&str>) -> String {
    EXPRESSIONS
        .iter()
        .enumerate()
        .map(|(k, e)| {
            let src = source.map(|s| format!("source = \"{s}\"\n")).unwrap_or_default();
            format!("[[signal]]\nid = \"e{k}\"\nexpr = '{e}'\n{src}\n")
        })
        .collect()
}

/// Turns off every shipped signal so a test config speaks only for itself.
fn disable_defaults() -> &'static str {
    "[cockpit]\nbuiltin-signals = false\n\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn nightwatch_matches_a_real_prometheus() {
    let fixture = serve(|_| Reply::text(FIXTURE)).await;
    let Some(server) = start(fixture.port()).await else { return };

    // 1. Server mode: every signal is an instant query; values equal the server's own answer.
    let text = format!(
        "[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"{}\"\ninterval = \"5s\"\ntimeout = \"5s\"\n\n{}{}",
        server.url,
        disable_defaults(),
        signals_toml(None)
    );
    let config = Config::from_texts(Some((Path::new("prom.toml"), &text))).expect("valid");
    let snap = evaluate_once(&config).await;
    let c = client(&Default::default(), Duration::from_secs(5)).expect("client");
    for (k, expr) in EXPRESSIONS.iter().enumerate() {
        let Outcome::Values { readings, .. } = &snap.outcomes[k] else {
            panic!("{expr}: {:?}", snap.outcomes[k]);
        };
        let got: BTreeMap<String, f64> = readings
            .iter()
            .map(|r| {
                let mut l: Vec<String> =
                    r.labels.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v}")).collect();
                l.sort();
                (l.join(","), r.value)
            })
            .collect();
        let want = direct(&server.url, expr).await;
        assert!(!want.is_empty(), "{expr}: the server has data");
        assert!(same(&got, &want), "{expr}: nightwatch {got:?} vs server {want:?}");
    }

    // 2. Scrape mode on the same fixture: nightwatch's own evaluator agrees with Prometheus.
    let text = format!(
        "[[source]]\nname = \"fixture\"\nkind = \"scrape\"\ntargets = [\"{fixture}\"]\ninterval = \"1s\"\n\n{}{}",
        disable_defaults(),
        signals_toml(None)
    );
    let config = Config::from_texts(Some((Path::new("scrape.toml"), &text))).expect("valid");
    let snap = evaluate_once(&config).await;
    let at = snap.at_ms;
    for (k, expr) in EXPRESSIONS.iter().enumerate() {
        let Outcome::Values { readings, .. } = &snap.outcomes[k] else { panic!("{expr}: {:?}", snap.outcomes[k]) };
        let local: Vec<nightwatch::signals::promql::Element> = readings
            .iter()
            .map(|r| nightwatch::signals::promql::Element { labels: r.labels.clone(), v: r.value })
            .collect();
        let local = as_map(&Value::Vector(local));
        let remote =
            instant_query(&c, &server.url, &Auth::default(), expr, at, Duration::from_secs(5)).await.expect("query");
        let remote = as_map(&remote);
        assert!(same(&local, &remote), "{expr}: local {local:?} vs prometheus {remote:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_failures_make_signals_unknown_never_healthy() {
    let fixture = serve(|_| Reply::text(FIXTURE)).await;
    let Some(server) = start(fixture.port()).await else { return };
    let c = client(&Default::default(), Duration::from_secs(5)).expect("client");

    // An API error (bad query) is an error naming the server's error type.
    let e = instant_query(&c, &server.url, &Auth::default(), "sum(", 0, Duration::from_secs(5)).await.expect_err("bad");
    assert!(e.contains("bad_data"), "{e}");
    // An execution error (many-to-many matching).
    let now = nightwatch::intake::scheduler::now_ms();
    let e = instant_query(
        &c,
        &server.url,
        &Auth::default(),
        "fixture_depth + on() fixture_budget",
        now,
        Duration::from_secs(5),
    )
    .await
    .expect_err("execution error");
    assert!(e.contains("execution"), "{e}");

    // Through the config: a server that is down, a path that is not the API (bad JSON / 404).
    let (_held, refused) = refused_port();
    let down = format!("http://127.0.0.1:{refused}");
    let not_api = format!("http://{fixture}/not-prometheus");
    for (url, why) in [(down.as_str(), "connection refused"), (not_api.as_str(), "")] {
        let text = format!(
            "[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"{url}\"\ninterval = \"5s\"\ntimeout = \"2s\"\n\n{}\
             [[signal]]\nid = \"x\"\nexpr = 'max(fixture_depth)'\nwarn = 100\n",
            disable_defaults()
        );
        let config = Config::from_texts(Some((Path::new("prom.toml"), &text))).expect("valid");
        let snap = evaluate_once(&config).await;
        assert_eq!(snap.outcomes[0].level(), Level::Unknown, "{url}");
        let Outcome::Failed { reason } = &snap.outcomes[0] else { panic!("{url}: {:?}", snap.outcomes[0]) };
        assert!(reason.contains(why), "{url}: {reason}");
        assert_eq!(snap.verdict(), Level::Unknown);
    }
}
