//! `nightwatch check`, `runbook` and `audit` as a user runs them: real processes, a real
//! simulated fleet, a real audit log.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn nightwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nightwatch"));
    c.env_remove("NIGHTWATCH_SIM").env("XDG_CONFIG_HOME", "/nonexistent").stdin(Stdio::null());
    c
}

fn scratch(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let d = std::env::temp_dir().join(format!("nw-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// A config on the fleet at `addr` (scraped), the sim profile, an audit log in `dir`.
fn config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("nightwatch.toml");
    std::fs::write(
        &p,
        format!(
            "[[source]]\nname = \"fleet\"\nkind = \"sim\"\nnodes = 10\n\n[runbooks]\nprofile = \"sim\"\n\n\
             [audit]\npath = \"audit/audit.jsonl\"\n{extra}"
        ),
    )
    .expect("config");
    p
}

#[test]
fn check_names_runbook_mistakes_at_their_lines() {
    let dir = scratch("check");
    let rb = dir.join("rb");
    std::fs::create_dir_all(&rb).expect("dir");
    let good = nightwatch::runbooks::library::SHIPPED[1].1;
    let bad = good
        .replace("Cache -->|Yes| Logic[App logic bug]", "Cache -->|Yes| Nowhere")
        .replace("id = \"duplicate-operations\"", "id = \"my-duplicates\"")
        .replace(" allow-key=\"[A-Za-z0-9:_-]{8,128}\"", "");
    std::fs::write(rb.join("dups.md"), bad).expect("runbook");
    let cfg = dir.join("nightwatch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[source]]\nname = \"f\"\nkind = \"sim\"\n\n[runbooks]\ndir = {:?}\n\n\
             [[signal]]\nid = \"lonely\"\nexpr = \"up\"\nunit = \"count\"\npage = 1\n",
            rb.display().to_string()
        ),
    )
    .expect("config");
    let out = nightwatch().args(["check", "--config"]).arg(&cfg).output().expect("run");
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let file = rb.join("dups.md").display().to_string();
    assert!(err.contains(&format!("{file}:33: edge to undefined node Nowhere")), "{err}");
    assert!(err.contains(&format!("{file}:49: template value {{key}} has no allowed pattern")), "{err}");
    assert!(err.contains(&format!("{}:12: signal lonely pages but has no runbook", cfg.display())), "{err}");
    let out = nightwatch().arg("check").output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.contains("13 runbooks"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remedy_from_the_shell_fixes_the_fault_and_is_audited() {
    let (_fleet, addr) = support::start_fleet(&["--nodes", "10", "--speed", "10"]).await;
    let dir = scratch("run");
    let cfg = config(&dir, "");
    let chaos = nightwatch()
        .args(["chaos", "--sim", &addr, "clock", "jump", "--offset", "+2m", "--nodes", "node-03"])
        .output()
        .expect("chaos");
    assert!(chaos.status.success(), "{:?}", text(&chaos));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let run = |args: &[&str]| {
        nightwatch().args(["runbook", "--config"]).arg(&cfg).args(["run", "--sim", &addr]).args(args).output()
    };
    // Not a terminal and no --yes: refused, nothing ran.
    let out = run(&["clock-skew", "ntp-sync", "--set", "node=node-03"]).expect("run");
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("--yes"));
    // A dangerous step without the typed target: refused.
    let out = run(&["clock-skew", "ntp-sync", "--set", "node=node-03", "--yes"]).expect("run");
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("typing the target's name (node-03)"));
    // An untrusted value: refused before anything, the pattern named.
    let out = run(&["clock-skew", "ntp-sync", "--set", "node=node-03;reboot", "--yes", "--confirm", "x"]).expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("node-[0-9]{2,4}"), "{:?}", text(&out));
    // Dry run: the argv, nothing ran.
    let out = run(&["clock-skew", "ntp-sync", "--set", "node=node-03", "--dry-run"]).expect("run");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).1.contains("would run") && text(&out).1.contains("ntp-sync --nodes node-03"));
    // A batch runs the steps that only look; the executor refuses the one that changes things.
    let out = run(&["clock-skew", "--all", "--set", "node=node-03", "--set", "group=all", "--yes"]).expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("ntp-sync is a recover step and changes things; it never runs as part of \"run all\""),
        "{stderr}"
    );
    assert!(stdout.contains("node_timex_offset_seconds{node=\"node-03\"}"), "{stdout}");
    assert!(!stdout.contains("stepped the clocks"), "{stdout}");
    let log = dir.join("audit/audit.jsonl");
    let before = std::fs::read_to_string(&log).expect("log");
    assert!(!before.contains("\"step\":\"ntp-sync\""), "the mutating step never started");
    std::fs::remove_file(&log).expect("a fresh log for the next part");
    // The real thing: it runs, then the signal is verified.
    let out = run(&[
        "clock-skew",
        "ntp-sync",
        "--set",
        "node=node-03",
        "--yes",
        "--confirm",
        "node-03",
        "--incident",
        "INC-7",
    ])
    .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("stepped the clocks of node-03"), "{stdout}");
    assert!(stderr.contains("verified after"), "{stderr}");

    let audit = |args: &[&str]| nightwatch().args(["audit", "--config"]).arg(&cfg).args(args).output().expect("audit");
    let out = audit(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.contains("chain intact: 3 records"), "{:?}", text(&out));
    let out = audit(&["show", "--incident", "INC-7"]);
    let shown = text(&out).0;
    let user = nightwatch::audit::Who::me().user.clone();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[0].contains("step-started") && lines[0].contains("ntp-sync --nodes node-03"), "{shown}");
    assert!(lines[1].contains("step-finished") && lines[1].contains("passed"), "{shown}");
    assert!(lines[2].contains("step-verified") && lines[2].contains("clock-skew < 100ms"), "{shown}");
    assert!(lines.iter().all(|l| l.contains(&format!("{user}@"))), "{shown}");

    // Read-only refuses inside the executor.
    let out = nightwatch()
        .args(["--read-only", "runbook", "--config"])
        .arg(&cfg)
        .args(["run", "--sim", &addr, "clock-skew", "offsets", "--yes"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("read-only"));

    // A deleted line is named by verify.
    let body = std::fs::read_to_string(&log).expect("log");
    let kept: Vec<&str> = body.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| l).collect();
    std::fs::write(&log, kept.join("\n") + "\n").expect("write");
    let out = audit(&["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).0.contains(":2: record at line 2 (seq 3): records 2 to 2 are missing"), "{:?}", text(&out));
}

/// Appends 1000 records when started by `eight_processes_share_one_log` (and does nothing in a
/// normal test run).
#[test]
fn child_appender() {
    let Ok(path) = std::env::var("NW_AUDIT_CHILD") else { return };
    let log = nightwatch::audit::AuditLog::new(path);
    for i in 0..1000 {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), "note".into());
        m.insert("i".into(), i.into());
        log.append(m).expect("append");
    }
}

#[test]
fn eight_processes_share_one_log() {
    let dir = scratch("concurrent");
    let path = dir.join("audit.jsonl");
    let me = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..8)
        .map(|_| {
            Command::new(&me)
                .args(["--exact", "child_appender", "--nocapture", "--test-threads", "1"])
                .env("NW_AUDIT_CHILD", &path)
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success());
    }
    let log = nightwatch::audit::AuditLog::new(&path);
    let v = log.verify().expect("verify");
    assert_eq!((v.records, v.first_bad, v.torn_tail), (8000, None, None));
    let pids: std::collections::HashSet<u64> = log
        .read()
        .expect("read")
        .iter()
        .filter_map(|r| r.fields.get("who").and_then(|w| w.get("pid")).and_then(serde_json::Value::as_u64))
        .collect();
    assert_eq!(pids.len(), 8);
}
