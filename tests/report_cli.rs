//! `nightwatch report`, `incident` and `postmortem` as cron jobs and people run them: piped
//! output without escape codes, files, exit codes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{Reply, serve};

fn nightwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightwatch"))
        .args(args)
        .env_remove("NIGHTWATCH_LOG")
        .env_remove("NO_COLOR")
        .env("XDG_CONFIG_HOME", "/nonexistent-nightwatch-test")
        .output()
        .expect("run nightwatch")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report").join(name).display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small simulated fleet polled every second (the report polls twice for its rates).
fn quick_config() -> PathBuf {
    let p = std::env::temp_dir().join(format!("nightwatch-report-{}.toml", std::process::id()));
    let body = "[[source]]\nname = \"demo\"\nkind = \"sim\"\nnodes = 12\nseed = 3\nspeed = 1\ninterval = \"1s\"\ntimeout = \"900ms\"\n";
    std::fs::write(&p, body).expect("config");
    p
}

#[test]
fn a_piped_report_has_no_escape_codes_and_exits_with_its_verdict() {
    let config = quick_config();
    let audit = fixture("audit.jsonl");
    let out =
        nightwatch(&["--config", config.to_str().unwrap_or(""), "report", "--since", "520w", "--audit-file", &audit]);
    let stdout = text(&out.stdout);
    assert!(!out.stdout.contains(&0x1b), "no escape codes when stdout is not a terminal:\n{stdout}");
    assert!(stdout.starts_with("ASYNC HEALTH REPORT - "), "{stdout}");
    assert!(stdout.contains("CLOCK SKEW:") && stdout.contains("IDEMPOTENCY:"), "{stdout}");
    assert!(
        stdout.contains("ASYNC-2026-001 P2 NTP server lost: node-03 \\x1b[2J skewed"),
        "the log's text, escaped:\n{stdout}"
    );
    assert!(stdout.contains("3am-certification by bo: silver"), "{stdout}");
    let verdict = stdout.lines().find_map(|l| l.strip_prefix("VERDICT: ")).expect("a verdict line");
    let code = out.status.code().expect("exit code");
    assert!(verdict.ends_with(&format!("(exit {code})")), "{verdict} vs {code}");
    assert!((0..=3).contains(&code));
}

#[test]
fn markdown_and_json_reports_go_to_a_file() {
    let config = quick_config();
    let audit = fixture("audit.jsonl");
    let dir = std::env::temp_dir().join(format!("nightwatch-report-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let json = dir.join("report.json");
    let out = nightwatch(&[
        "--config",
        config.to_str().unwrap_or(""),
        "report",
        "--format",
        "json",
        "--since",
        "520w",
        "--audit-file",
        &audit,
        "--output",
        json.to_str().unwrap_or(""),
    ]);
    assert!(out.stdout.is_empty(), "nothing on stdout with --output");
    let body = std::fs::read(&json).expect("written");
    assert!(!body.contains(&0x1b));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["exit_code"].as_i64(), out.status.code().map(i64::from));
    assert_eq!(v["mode"], "scrape");
    assert_eq!(v["incidents"][0]["id"], "ASYNC-2026-001");
    assert_eq!(v["drills"][0]["grade"], "silver");
    assert_eq!(v["health"]["clock_skew"]["nodes"], 12, "one poll of the 12-node fleet");
    let md = dir.join("report.md");
    nightwatch(&[
        "--config",
        config.to_str().unwrap_or(""),
        "report",
        "--format",
        "markdown",
        "--audit-file",
        &audit,
        "--output",
        md.to_str().unwrap_or(""),
    ]);
    let md = std::fs::read_to_string(&md).expect("written");
    assert!(md.starts_with("## Async health report - "), "{md}");
    assert!(!md.contains('\u{1b}'));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_period_is_a_usage_error() {
    let out = nightwatch(&["report", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("--since"), "{}", text(&out.stderr));
}

#[test]
fn postmortem_and_incident_read_the_audit_log() {
    let audit = fixture("audit.jsonl");
    let out = nightwatch(&["postmortem", "ASYNC-2026-001", "--file", &audit]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let md = text(&out.stdout);
    assert!(md.starts_with("## Async Incident Post-Mortem"), "{md}");
    assert!(md.contains("- **03:16:02** - clock-skew/ntp-sync on node-03: exit 0 (exit code 0), passed"), "{md}");
    assert!(!out.stdout.contains(&0x1b));
    let out = nightwatch(&["postmortem", "ASYNC-2026-001", "--format", "json", "--file", &audit]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["time_to_detect_ms"], 90_000);
    let out = nightwatch(&["postmortem", "ASYNC-2026-999", "--file", &audit]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no record"), "{}", text(&out.stderr));

    let out = nightwatch(&["incident", "list", "--file", &audit]);
    let list = text(&out.stdout);
    assert!(list.starts_with("ASYNC-2026-001  P2 "), "{list}");
    let out = nightwatch(&["incident", "show", "ASYNC-2026-001", "--template", "declare", "--file", &audit]);
    let t = text(&out.stdout);
    assert!(t.starts_with("INCIDENT DECLARED\n"), "{t}");
    assert!(t.contains("Severity: P2\n") && t.contains("Type: clock-skew, retry-storm\n"), "{t}");
    let out = nightwatch(&["incident", "show", "ASYNC-2026-001", "--template", "postcard", "--file", &audit]);
    assert_eq!(out.status.code(), Some(64));
}

/// Against a Prometheus-compatible server, the report queries are asked over the period
/// (`/api/v1/query_range`) and the worst value shows; the server's own `ALERTS` are listed.
#[tokio::test(flavor = "multi_thread")]
async fn against_a_server_the_period_is_asked_with_range_queries() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    let addr = serve(move |path| {
        log.lock().map(|mut v| v.push(path.to_owned())).ok();
        let matrix = |series: &str| {
            Reply::ok("application/json", format!(r#"{{"status":"success","data":{{"resultType":"matrix","result":[{series}]}}}}"#))
        };
        if path.starts_with("/api/v1/query_range") && path.contains("ALERTS") {
            matrix(r#"{"metric":{"__name__":"ALERTS","alertname":"NodeClockSkew","alertstate":"firing","instance":"node-03:9100"},"values":[[1795489925,"1"],[1795490285,"1"]]}"#)
        } else if path.starts_with("/api/v1/query_range") && path.contains("max%28abs%28node_timex") {
            matrix(r#"{"metric":{},"values":[[1795489925,"0.05"],[1795490000,"0.31"],[1795490285,"0.12"]]}"#)
        } else if path.starts_with("/api/v1/query_range") {
            matrix("")
        } else {
            Reply::ok("application/json", r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#)
        }
    })
    .await;
    let config = std::env::temp_dir().join(format!("nightwatch-report-server-{}.toml", std::process::id()));
    std::fs::write(&config, format!("[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"http://{addr}\"\n"))
        .expect("config");
    let empty = std::env::temp_dir().join(format!("nightwatch-report-none-{}.jsonl", std::process::id()));
    let args: Vec<String> = [
        "--config",
        &config.display().to_string(),
        "report",
        "--since",
        "24h",
        "--audit-file",
        &empty.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = tokio::task::spawn_blocking(move || nightwatch(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .expect("run");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("worst values of the period (range queries)"), "{stdout}");
    assert!(stdout.contains("CLOCK SKEW:          310ms"), "the worst of the period, not the last value:\n{stdout}");
    assert!(stdout.contains("server NodeClockSkew {instance=\"node-03:9100\"} firing"), "{stdout}");
    let paths = seen.lock().map(|v| v.clone()).unwrap_or_default();
    let ranges: Vec<&String> = paths.iter().filter(|p| p.starts_with("/api/v1/query_range")).collect();
    assert!(ranges.iter().all(|p| p.contains("step=") && p.contains("start=") && p.contains("end=")), "{ranges:?}");
    assert!(ranges.len() >= 8, "every report query and ALERTS as range queries: {ranges:?}");
    let _ = std::fs::remove_file(&config);
}
