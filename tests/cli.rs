//! The command line as users and cron jobs see it: output, and exit codes.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use support::{Reply, refused_port, serve};

fn nightwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightwatch"))
        .args(args)
        .env_remove("NIGHTWATCH_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent-nightwatch-test")
        .output()
        .expect("run nightwatch")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_config(name: &str, body: &str) -> TempFile {
    let p = std::env::temp_dir().join(format!("nightwatch-cli-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, body).expect("write");
    TempFile(p)
}

/// Turns off every shipped signal so a test config speaks only for itself.
fn no_defaults() -> &'static str {
    "[cockpit]\nbuiltin-signals = false\n\n"
}

#[test]
fn usage_errors_exit_64_help_exits_0() {
    assert_eq!(nightwatch(&["frobnicate"]).status.code(), Some(64));
    assert_eq!(nightwatch(&["eval", "--jsn"]).status.code(), Some(64));
    let help = nightwatch(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("scrape"));
}

#[test]
fn check_prints_file_line_col_errors_and_exits_1() {
    let cfg = temp_config("bad", "[cockpit]\nrefresh = \"soon\"\n\n[[signal]]\nid = \"x\"\nexpr = \"rate(x[5m]\"\n");
    let out = nightwatch(&["check", "--config", cfg.0.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let path = cfg.0.display().to_string();
    assert!(err.contains(&format!("{path}:2:11: invalid duration \"soon\"")), "{err}");
    assert!(err.contains(&format!("{path}:6:8: expression does not parse")), "{err}");
    assert!(err.contains("2 errors"), "{err}");

    let ok = nightwatch(&["check"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("built-in defaults: OK"));
}

#[tokio::test(flavor = "multi_thread")]
async fn scrape_prints_a_table_json_or_a_summary() {
    let a = serve(|_| Reply::text("# TYPE up gauge\nup{job=\"x\",note=\"a\u{1b}[2J\"} 1\nrq_total 5 1700000000000\n"))
        .await;
    let url = format!("http://{a}/metrics");
    let u = url.clone();
    let tail = tokio::task::spawn_blocking(move || nightwatch(&["scrape", &u])).await.expect("run");
    let out = text(&tail.stdout);
    assert_eq!(tail.status.code(), Some(0));
    assert!(out.contains(r#"up{job="x",note="a\x1b[2J"}  1"#), "{out}");
    assert!(out.contains("rq_total"), "{out}");
    assert!(out.contains("@1700000000000"));
    assert!(!out.contains('\u{1b}'), "no raw escape reaches the terminal");

    let u = url.clone();
    let json = tokio::task::spawn_blocking(move || nightwatch(&["scrape", "--json", &u])).await.expect("run");
    let lines: Vec<serde_json::Value> =
        text(&json.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["labels"]["job"], "x");
    assert_eq!(lines[0]["type"], "gauge");

    let u = url.clone();
    let sum = tokio::task::spawn_blocking(move || nightwatch(&["scrape", "--summary", &u])).await.expect("run");
    let s = text(&sum.stdout);
    assert!(s.contains("families:      2") && s.contains("series:        2"), "{s}");
    assert!(s.contains("parse time:"));

    let (_held, refused) = refused_port();
    let down = format!("127.0.0.1:{refused}");
    let fail = tokio::task::spawn_blocking(move || nightwatch(&["scrape", &down])).await.expect("run");
    assert_eq!(fail.status.code(), Some(1));
    assert!(text(&fail.stderr).contains("connection refused"), "{}", text(&fail.stderr));
}

async fn eval_with(value: &'static str, threshold_block: &str) -> (Option<i32>, serde_json::Value) {
    let a = serve(move |_| Reply::text(format!("probe {value}\n"))).await;
    let cfg = temp_config(
        &format!("eval-{}", a.port()),
        &format!(
            "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"{a}\"]\ninterval = \"1s\"\n\n{}\
             [[signal]]\nid = \"probe\"\nexpr = \"probe\"\n{threshold_block}\n",
            no_defaults()
        ),
    );
    let path = cfg.0.to_str().expect("utf8").to_owned();
    let out =
        tokio::task::spawn_blocking(move || nightwatch(&["eval", "--json", "--config", &path])).await.expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (out.status.code(), v)
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_exit_codes_follow_the_verdict() {
    let thresholds = "warn = 0.1\npage = 0.5\n";
    for (value, level, code) in [("0.05", "OK", 0), ("0.2", "WARN", 1), ("0.7", "PAGE", 2), ("NaN", "UNKNOWN", 3)] {
        let (got, v) = eval_with(value, thresholds).await;
        assert_eq!(v["signals"][0]["level"], level, "{value}: {v}");
        assert_eq!(got, Some(code), "{value}");
        assert_eq!(v["exit_code"], code);
    }
    // A target that is down leaves its signals without data: UNKNOWN.
    let (_held, refused) = refused_port();
    let cfg = temp_config(
        "down",
        &format!(
            "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"127.0.0.1:{}\"]\ninterval = \"1s\"\n\n{}\
             [[signal]]\nid = \"probe\"\nexpr = \"probe\"\nwarn = 1\n",
            refused,
            no_defaults()
        ),
    );
    let path = cfg.0.to_str().expect("utf8").to_owned();
    let out = tokio::task::spawn_blocking(move || nightwatch(&["eval", "--config", &path])).await.expect("run");
    assert_eq!(out.status.code(), Some(3));
    let t = text(&out.stdout);
    assert!(t.contains("TARGETS: 0 of 1 up") && t.contains("connection refused"), "{t}");
    assert!(t.contains("VERDICT: UNKNOWN (exit 3)"), "{t}");
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_rates_are_right_from_the_second_poll() {
    // A counter that grows by 10 per scrape, scraped twice 1 s apart: about 10/s, not the
    // fraction a 1m window with 1 s of data would extrapolate to.
    let n = Arc::new(AtomicU64::new(0));
    let a = serve(move |_| Reply::text(format!("jobs_total {}\n", 10 * n.fetch_add(1, Ordering::SeqCst) + 10))).await;
    let cfg = temp_config(
        &format!("rate-{}", a.port()),
        &format!(
            "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"{a}\"]\ninterval = \"1s\"\n\n{}\
             [[signal]]\nid = \"jobs\"\nexpr = \"rate(jobs_total[1m])\"\nunit = \"per-second\"\nwarn = 100\n",
            no_defaults()
        ),
    );
    let path = cfg.0.to_str().expect("utf8").to_owned();
    let out =
        tokio::task::spawn_blocking(move || nightwatch(&["eval", "--json", "--config", &path])).await.expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rate = v["signals"][0]["value"].as_f64().expect("a rate");
    // 10 per scrape over the time between the two scrapes: 1 s plus however long the first
    // poll took, so up to 10/s. Extrapolating over the whole minute would read about 0.25/s.
    assert!((5.0..=13.0).contains(&rate), "rate {rate}/s: {v}");
    assert_eq!(v["signals"][0]["warming_up"], true);
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_says_when_the_series_limit_drops_samples() {
    let body: String = (0..20).map(|i| format!("lag{{node=\"n{i}\"}} 1\n")).collect();
    let a = serve(move |_| Reply::text(body.clone())).await;
    let cfg = temp_config(
        &format!("limit-{}", a.port()),
        &format!(
            "[cockpit]\nbuiltin-signals = false\nmax-series = 5\n\n[[source]]\nname = \"t\"\nkind = \"scrape\"\n\
             targets = [\"{a}\"]\ninterval = \"1s\"\n\n[[signal]]\nid = \"lag\"\nexpr = \"count(lag)\"\n"
        ),
    );
    let path = cfg.0.to_str().expect("utf8").to_owned();
    let out = tokio::task::spawn_blocking(move || nightwatch(&["eval", "--config", &path])).await.expect("run");
    let t = text(&out.stdout);
    assert!(t.contains("15 samples dropped: series limit of 5 reached"), "{t}");
}

/// The keys of every object in a JSON value, by path (`signals[].readings[].labels` is left out:
/// its keys are label names).
fn key_paths(v: &serde_json::Value, path: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) if !path.ends_with(".labels") => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                out.insert(p.clone());
                key_paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                key_paths(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_json_has_the_documented_shape() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/eval-json.md")).expect("doc");
    let example = doc.split("```json").nth(1).and_then(|s| s.split("```").next()).expect("a JSON example");
    let documented: serde_json::Value = serde_json::from_str(example).expect("the example is JSON");
    let (_, actual) = eval_with("0.2", "warn = 0.1\npage = 0.5\nfor = \"1m\"\n").await;
    let (mut want, mut got) = (Default::default(), Default::default());
    key_paths(&documented, "", &mut want);
    key_paths(&actual, "", &mut got);
    // The run has no source problems; everything else must match both ways.
    want.retain(|k: &String| !k.starts_with(".source_problems[]"));
    assert_eq!(want, got, "docs/eval-json.md and `eval --json` disagree");
}
