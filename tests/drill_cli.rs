//! Graded drills run headless, as a participant (or CI) runs them: `nightwatch drill run NAME
//! --script FILE` against the built-in config, the scorecard read back from its JSON file, the
//! audit log read back from disk. Everything happens in simulated time: the times are exact on
//! the drill's own clock.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const MIN: i64 = 60_000;

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let d = std::env::temp_dir().join(format!("nw-drill-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// The binary with the built-in config, its state (audit log, scorecards) under `dir`.
fn nightwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightwatch"));
    c.env_remove("NIGHTWATCH_SIM")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("XDG_STATE_HOME", dir.join("state"))
        .stdin(Stdio::null());
    c
}

fn fixture(drill: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/drills").join(format!("{drill}.txt"))
}

struct Ran {
    dir: PathBuf,
    out: Output,
    card: Value,
    audit: Vec<Value>,
}

/// Runs `drill` with the script `script` (text) and seed 1; returns the output, the JSON
/// scorecard and the audit log's records.
fn run(name: &str, drill: &str, script: &str, extra: &[&str]) -> Ran {
    let dir = scratch(name);
    let s = dir.join("operator.txt");
    std::fs::write(&s, script).expect("script");
    let reports = dir.join("reports");
    let out = nightwatch(&dir)
        .args(["drill", "run", drill, "--seed", "1", "--script"])
        .arg(&s)
        .arg("--report-dir")
        .arg(&reports)
        .args(extra)
        .output()
        .expect("runs");
    let json = std::fs::read_dir(&reports).ok().and_then(|mut d| {
        d.find_map(|e| e.ok().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "json")))
    });
    let card =
        json.map_or(Value::Null, |p| serde_json::from_str(&std::fs::read_to_string(p).expect("read")).expect("json"));
    let audit = std::fs::read_to_string(dir.join("state/nightwatch/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a record"))
        .collect();
    Ran { dir, out, card, audit }
}

fn said(r: &Ran) -> String {
    format!("{}{}", String::from_utf8_lossy(&r.out.stdout), String::from_utf8_lossy(&r.out.stderr))
}

fn ms(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("a time, not {v}"))
}

/// An operator who acks the three pages at `ack` and runs the three remedies at `fix`.
fn operator(ack: &str, fix: &str) -> String {
    format!(
        "{ack} ack clock-skew\n{ack} ack timeout-ratio\n{ack} ack ordering-violations\n\
         {fix} run clock-skew ntp-sync-all group=all\n{fix} run timeout-storm open-breaker service=payment\n\
         {fix} run message-ordering bus-failover\n"
    )
}

/// Every fault's detection time, and that each resolution is a scrape instant after the fix.
#[track_caller]
fn check_times(r: &Ran, detect_ms: i64, fix_ms: i64) {
    for f in r.card["faults"].as_array().expect("faults") {
        assert_eq!(ms(&f["injected_at_ms"]), 0, "{f}");
        assert_eq!(ms(&f["detect_ms"]), detect_ms, "{f}");
        let resolved = ms(&f["resolved_at_ms"]);
        assert!(resolved >= fix_ms && resolved % 5_000 == 0, "resolved at a scrape after the fix: {f}");
        assert_eq!(ms(&f["resolve_ms"]), resolved, "from the injection at 0: {f}");
    }
    let slowest = r.card["faults"].as_array().expect("faults").iter().map(|f| ms(&f["resolved_at_ms"])).max();
    assert_eq!(r.card["resolve_ms"].as_i64(), slowest, "overall: until the last fault was resolved");
}

#[test]
fn a_fast_operator_earns_gold_on_the_3am_drill() {
    let r = run("fast", "3am-certification", &operator("45s", "1m"), &[]);
    assert!(r.out.status.success(), "{}", said(&r));
    assert_eq!(r.card["end"]["how"], "resolved", "{}", r.card);
    check_times(&r, 45_000, MIN);
    assert_eq!(r.card["detect"], "gold");
    assert!(ms(&r.card["resolve_ms"]) < 7 * MIN, "{}", r.card);
    assert_eq!(r.card["resolve"], "gold");
    assert_eq!(r.card["grade"], "gold");
    let out = said(&r);
    assert!(out.contains("overall GOLD"), "{out}");
    assert!(out.contains("ran 1m00s clock-skew/ntp-sync-all: exit 0"), "{out}");
    // The one-node sync was not needed: the whole-fleet one did it.
    assert!(r.card["not_needed"].as_array().expect("list").iter().any(|s| s == "clock-skew/ntp-sync"), "{}", r.card);
}

#[test]
fn a_slow_operator_earns_bronze() {
    let r = run("slow", "3am-certification", &operator("8m", "9m"), &[]);
    assert!(r.out.status.success(), "bronze still passes: {}", said(&r));
    check_times(&r, 8 * MIN, 9 * MIN);
    assert_eq!(r.card["detect"], "bronze", "8 min is under 10: {}", r.card);
    let resolve = ms(&r.card["resolve_ms"]);
    assert!((10 * MIN..15 * MIN).contains(&resolve), "{}", r.card);
    assert_eq!(r.card["resolve"], "bronze");
    assert_eq!(r.card["grade"], "bronze");
}

#[test]
fn nobody_at_the_keyboard_fails_and_everything_is_healed() {
    let r = run("never", "3am-certification", "# nobody\n", &[]);
    assert_eq!(r.out.status.code(), Some(1), "{}", said(&r));
    assert_eq!(r.card["end"]["how"], "out-of-time", "{}", r.card);
    assert_eq!(ms(&r.card["ended_at_ms"]), 20 * MIN, "at the drill's maximum duration");
    for k in ["detect", "resolve", "grade"] {
        assert_eq!(r.card[k], "fail", "{k}: {}", r.card);
    }
    assert!(r.card["faults"].as_array().expect("faults").iter().all(|f| f["detected_at_ms"].is_null()));
    let heal = r.audit.iter().find(|x| x["kind"] == "drill-heal").expect("a heal record");
    assert_eq!(heal["healed"], 3, "{heal}");
    assert_eq!(heal["remaining"], 0, "{heal}");
}

#[test]
fn an_ack_before_any_alert_detects_nothing() {
    // At 5 s nothing has fired yet: the ack finds no alert and counts for nothing; the later
    // acks detect.
    let script = format!("5s ack clock-skew\n{}", operator("2m", "2m30s"));
    let r = run("early", "3am-certification", &script, &[]);
    assert!(r.out.status.success(), "{}", said(&r));
    check_times(&r, 2 * MIN, 2 * MIN + 30_000);
    let actions = r.card["actions"].as_array().expect("timeline");
    assert_eq!(actions[0]["what"], "ack clock-skew: no alert to ack", "{}", r.card);
}

#[test]
fn every_record_of_a_drill_carries_its_id_and_the_log_verifies() {
    let r = run("audit", "time-jump", &std::fs::read_to_string(fixture("time-jump")).expect("fixture"), &[]);
    assert!(r.out.status.success(), "{}", said(&r));
    let kinds: Vec<&str> = r.audit.iter().filter_map(|x| x["kind"].as_str()).collect();
    for k in ["drill-start", "drill-inject", "alert", "ack", "step-started", "step-finished", "drill-heal", "drill-end"]
    {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let run_id = r.audit[0]["drill-run"].as_str().expect("a run id").to_owned();
    for x in &r.audit {
        assert_eq!(x["drill"], "time-jump", "{x}");
        assert_eq!(x["drill-run"], run_id.as_str(), "{x}");
    }
    // Injections are in the log (for the review), never on the screen before the scorecard.
    let inject = r.audit.iter().find(|x| x["kind"] == "drill-inject").expect("inject");
    assert_eq!(inject["command"], "chaos clock jump --offset +5m --nodes 10%");
    let verify = nightwatch(&r.dir).args(["audit", "verify"]).output().expect("runs");
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
}

#[test]
fn every_shipped_drill_resolves_with_its_model_answer_and_times_out_without_one() {
    let drills: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("drills"))
        .expect("drills/")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(drills.len(), nightwatch::drill::SHIPPED.len(), "every file in drills/ is shipped");
    let handles: Vec<_> = drills
        .into_iter()
        .map(|d| {
            std::thread::spawn(move || {
                let answer = std::fs::read_to_string(fixture(&d)).expect("a model answer for every drill");
                let good = run(&format!("{d}-answer"), &d, &answer, &[]);
                let none = run(&format!("{d}-none"), &d, "", &[]);
                (d, good, none)
            })
        })
        .collect();
    for h in handles {
        let (d, good, none) = h.join().expect("no panic");
        assert!(good.out.status.success(), "{d} with its model answer: {}", said(&good));
        assert_eq!(good.card["end"]["how"], "resolved", "{d}: {}", good.card);
        assert_ne!(good.card["grade"], "fail", "{d}: {}", good.card);
        assert_eq!(none.out.status.code(), Some(1), "{d} with nobody: {}", said(&none));
        assert_eq!(none.card["end"]["how"], "out-of-time", "{d}: {}", none.card);
        let heal = none.audit.iter().find(|x| x["kind"] == "drill-heal").expect("a heal record");
        assert_eq!(heal["remaining"], 0, "{d}: nothing it injected is left: {heal}");
    }
}

#[test]
fn the_wheel_of_misfortune_names_the_drill_only_on_the_scorecard() {
    let r = run("random", "--random", "", &[]);
    let out = String::from_utf8_lossy(&r.out.stdout).into_owned();
    let (before, after) = out.split_once("DRILL ").expect("a scorecard");
    assert!(before.contains("wheel of misfortune"), "{out}");
    let id = r.card["drill"].as_str().expect("named on the scorecard");
    assert!(!before.contains(id), "the drill is not named before the scorecard: {out}");
    assert!(after.starts_with(id), "{out}");
}

#[test]
fn a_drill_with_real_injectors_needs_allow_live_and_heals_them() {
    let dir = scratch("live");
    let marker = dir.join("injected");
    let file = dir.join("live.toml");
    std::fs::write(
        &file,
        format!(
            "id = \"live\"\ntitle = \"Live\"\nobjective = \"o\"\nbriefing = \"b\"\nmax-duration = \"3m\"\n\n\
             [rubric]\ndetect = {{ gold = \"1m\", silver = \"2m\", bronze = \"3m\" }}\n\
             resolve = {{ gold = \"1m\", silver = \"2m\", bronze = \"3m\" }}\n\n\
             [[fault]]\nname = \"a marker file\"\nat = \"10s\"\nlive-inject = [\"touch\", {m:?}]\n\
             live-heal = [\"rm\", \"-f\", {m:?}]\nalerts = [\"clock-skew\"]\n",
            m = marker.display().to_string()
        ),
    )
    .expect("drill");
    let path = file.display().to_string();
    let refused = run("live-refused", &path, "", &[]);
    assert_eq!(refused.out.status.code(), Some(2), "{}", said(&refused));
    assert!(said(&refused).contains("--allow-live"), "{}", said(&refused));
    assert!(refused.audit.is_empty(), "nothing happened: {:?}", refused.audit);
    let allowed = run("live-allowed", &path, "", &["--allow-live"]);
    assert_eq!(allowed.out.status.code(), Some(1), "nobody detected it: {}", said(&allowed));
    let inject = allowed.audit.iter().find(|x| x["kind"] == "drill-inject").expect("injected");
    assert!(inject.get("error").is_none(), "{inject}");
    assert!(!marker.exists(), "the heal command ran at the end");
}

#[test]
fn check_names_drill_mistakes_at_their_lines() {
    let dir = scratch("check");
    let good = nightwatch::drill::SHIPPED[0].1;
    let bad = good
        .replace("gold = \"3m\", silver = \"5m\"", "gold = \"6m\", silver = \"5m\"")
        .replace("inject = \"network drop-acks --probability 10%\"", "inject = \"network teleport --probability 10%\"");
    let unknown = good.replace("alerts = [\"ordering-violations\"]", "alerts = [\"ordering-violation\"]");
    let (a, b) = (dir.join("bad.toml"), dir.join("unknown.toml"));
    std::fs::write(&a, &bad).expect("write");
    std::fs::write(&b, &unknown).expect("write");
    let out = nightwatch(&dir).arg("check").arg("--drill").arg(&a).arg("--drill").arg(&b).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).expect("present") + 1;
    let (a, b) = (a.display().to_string(), b.display().to_string());
    assert!(err.contains(&format!("{a}:{}: rubric detect limits out of order", line(&bad, "detect = {"))), "{err}");
    assert!(err.contains(&format!("{a}:{}: not a chaos command", line(&bad, "teleport"))), "{err}");
    let fault_line = unknown.lines().position(|l| l.contains("10 % of acknowledgements")).expect("fault");
    assert!(
        err.contains(&format!(
            "{b}:{}: fault \"10 % of acknowledgements dropped\": no signal defines alert \"ordering-violation\"",
            fault_line
        )),
        "{err}"
    );
    // The shipped drills are clean.
    let ok = nightwatch(&dir).arg("check").output().expect("runs");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("10 drills"));
}
