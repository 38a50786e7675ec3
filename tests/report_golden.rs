//! Golden files of the morning report (text, Markdown, JSON) and the post-incident review
//! (Markdown, JSON), built from recorded scrapes (`tests/fixtures/report/scrape-*.prom`) and a
//! fixture audit log (`tests/fixtures/report/audit.jsonl`). `NIGHTWATCH_BLESS=1` rewrites the
//! golden files after a deliberate change (review the diff); `cargo test --test report_golden
//! -- --ignored record_scrapes` records the scrapes again from a seeded, faulted fleet.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nightwatch::audit::{AuditLog, Record};
use nightwatch::config::Config;
use nightwatch::incident::Summary;
use nightwatch::report::morning::{self, Inputs, Mode, Style};
use nightwatch::report::{History, postmortem};
use nightwatch::sim::{FaultSpec, Fleet, Injection, Latency, Nodes, Watch};

/// 2026-11-24 09:00:00 UTC: the report's "now" (the last scrape).
const NOW: i64 = 1_795_510_800_000;
const SCRAPES: i64 = 5;
const STEP_MS: i64 = 15_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report").join(name)
}

fn config() -> Config {
    let text = "[cockpit]\nenvironment = \"prod-eu\"\n";
    Config::from_texts(Some((Path::new("report.toml"), text))).expect("config")
}

fn golden(name: &str, got: &str) {
    let path = fixture(name);
    if std::env::var_os("NIGHTWATCH_BLESS").is_some() {
        std::fs::write(&path, got).expect("bless");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (NIGHTWATCH_BLESS=1 writes it)", path.display()));
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{} differs from what was built, first at line {}:\n  want: {:?}\n  got:  {:?}\n(NIGHTWATCH_BLESS=1 rewrites it after a deliberate change)\n--- got ---\n{got}",
            path.display(),
            first + 1,
            want.lines().nth(first),
            got.lines().nth(first)
        );
    }
}

fn records() -> Vec<Record> {
    AuditLog::new(fixture("audit.jsonl")).read().expect("fixture audit log")
}

fn report() -> morning::Report {
    let config = config();
    let mut watch = Watch::new(config.clone());
    for k in 0..SCRAPES {
        let body = std::fs::read(fixture(&format!("scrape-{k}.prom"))).expect("recorded scrape");
        watch.ingest(body, NOW - (SCRAPES - 1 - k) * STEP_MS).expect("the recorded scrape parses");
    }
    let outcomes = watch.evaluate(&config.signals, NOW);
    let queries = watch.evaluate(&config.report_queries, NOW);
    let since = Duration::from_secs(24 * 3600);
    morning::build(Inputs {
        config: &config,
        at_ms: NOW,
        since,
        mode: Mode::Scrape,
        outcomes: &outcomes,
        queries: &queries,
        server_alerts: Vec::new(),
        history: History::from_log(&records(), NOW - 24 * 3_600_000),
        problems: Vec::new(),
    })
}

#[test]
fn the_morning_report_in_text() {
    let r = report();
    let text = morning::text(&r, Style::Plain);
    assert!(!text.contains('\u{1b}'), "no escape codes in plain text, even from the log's own text");
    golden("morning.txt", &text);
}

#[test]
fn the_morning_report_in_markdown() {
    golden("morning.md", &morning::markdown(&report()));
}

#[test]
fn the_morning_report_in_json() {
    golden("morning.json", &(morning::json(&report()) + "\n"));
}

#[test]
fn the_report_says_what_a_stand_up_needs() {
    let r = report();
    let h = &r.health;
    assert_eq!(h.clock_skew.level.as_str(), "WARN", "{h:?}");
    assert_eq!((h.clock_skew.nodes_over, h.clock_skew.nodes), (Some(3), Some(12)));
    assert_eq!(h.clock_skew.remedies, 1, "the ntp-sync in the period (the older one is not)");
    assert!(!h.write_conflicts.services.is_empty(), "the faulted fleet has write conflicts");
    assert!(h.timeout_budget.headroom.is_some());
    assert_eq!(r.history.incidents.len(), 1);
    assert_eq!(r.history.drills.len(), 1, "the drill is listed as a drill");
    assert!(r.history.alerts.iter().all(|a| a.signal != "ordering-violations"), "the drill's alerts are not real ones");
    assert_eq!(r.history.steps.len(), 1);
    assert_eq!(h.idempotency.level.as_str(), "PAGE", "a third of the cache taken by another tenant");
    assert_eq!((r.verdict.as_str(), r.exit_code), ("PAGE", 2), "the worst signal now");
}

fn review() -> postmortem::Review {
    let config = config();
    let fmt = |s: &str, v: f64| config.format_value(s, v);
    let s = Summary::from_log("ASYNC-2026-001", &records(), &fmt).expect("the incident is in the log");
    postmortem::review(s, NOW)
}

#[test]
fn the_postmortem_in_markdown() {
    let md = postmortem::markdown(&review());
    assert!(!md.contains('\u{1b}'), "text from the log is escaped");
    golden("postmortem.md", &md);
}

#[test]
fn the_postmortem_in_json() {
    golden("postmortem.json", &(postmortem::json(&review()) + "\n"));
}

#[test]
fn the_postmortem_measures_detection_and_resolution() {
    let r = review();
    assert_eq!(r.time_to_detect_ms, Some(90_000), "onset 03:11:35, paged 03:13:05");
    assert_eq!(r.time_to_respond_ms, Some(115_000), "acked 03:15:00");
    assert_eq!(r.time_to_resolve_ms, Some(12 * 60_000 + 25_000), "retry storm resolved 03:24:00");
    assert!(!r.still_open);
    assert_eq!(r.summary.steps.len(), 1);
    assert_eq!(r.summary.steps[0].by, "ana");
}

/// Records the scrapes again: a 12-node fleet (seed 7) with three clocks drifting, a slow
/// link into service-b (retries), and another tenant's memory in the idempotency cache.
#[test]
#[ignore = "records the scrape fixtures; run by hand"]
fn record_scrapes() {
    let mut fleet = Fleet::new(12, 7);
    let names = ["node-02", "node-05", "node-09"].map(str::to_owned).to_vec();
    let faults = [
        FaultSpec::ClockDrift { rate_s_per_min: 0.012, nodes: Nodes::Names(names) },
        FaultSpec::NetworkDelay {
            latency: Latency::Fixed { ms: 320.0 },
            from: Some("service-a".into()),
            to: Some("service-b".into()),
            cascade: false,
        },
        FaultSpec::CacheEvict { percent: 0.3 },
    ];
    for fault in faults {
        fleet.inject(&Injection { fault, duration_s: Some(7200.0) }).expect("inject");
    }
    let start = 20 * 60_000;
    for k in 0..SCRAPES {
        fleet.advance_to(start + k * STEP_MS);
        let body = nightwatch::sim::render::render(&fleet, nightwatch::intake::exposition::Format::Text);
        std::fs::write(fixture(&format!("scrape-{k}.prom")), body).expect("write");
    }
}

/// Every field path of a JSON value (arrays: their elements' paths, as `[]`).
fn paths(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}.{k}");
                out.insert(p.clone());
                paths(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                paths(x, &format!("{at}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_json_report_has_the_documented_shape() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-json.md")).expect("doc");
    let example = doc.split("```json\n").nth(1).and_then(|s| s.split("\n```").next()).expect("a json block");
    let documented: serde_json::Value = serde_json::from_str(example).expect("the documented example parses");
    let mut r = report();
    // Fill what the fixture leaves empty, so that every documented field is checked.
    r.server_alerts.push(morning::ServerAlert { name: "A".into(), labels: "{}".into(), first_ms: 0, last_ms: 0 });
    r.problems.push("p".into());
    r.health.retry_storms.now.push(morning::Item { name: "x".into(), value: 1.0, shown: "1".into() });
    let actual: serde_json::Value = serde_json::from_str(&morning::json(&r)).expect("json");
    let (mut want, mut got) = (Default::default(), Default::default());
    paths(&documented, "", &mut want);
    paths(&actual, "", &mut got);
    let missing: Vec<_> = want.difference(&got).collect();
    let undocumented: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && undocumented.is_empty(),
        "documented but absent: {missing:?}; present but undocumented: {undocumented:?}"
    );
}
