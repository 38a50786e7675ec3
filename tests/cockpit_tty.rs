//! The real binary in a real terminal (tmux): the dashboard appears with numbers, a fault
//! injected with `nightwatch chaos` shows as PAGE on its panel, `a` acks it, `q` quits and the
//! terminal is restored; a hang-up (the terminal going away) ends the process within 2 s.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{external, start_fleet};

struct Tmux {
    bin: std::path::PathBuf,
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.bin).arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "nw"]).stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        String::from_utf8_lossy(&self.cmd(&["display-message", "-p", "-t", "nw", format]).stdout).trim().to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "nw"];
        args.extend_from_slice(keys);
        self.cmd(&args);
    }

    /// Waits until the screen satisfies `ok`; fails with the last screen.
    fn wait_for(&self, what: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(start.elapsed() < within, "timed out waiting for {what}; the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn start_tmux(name: &str, command: &str) -> Option<Tmux> {
    let bin = external("tmux", "tmux")?;
    let t = Tmux { bin, socket: format!("nightwatch-test-{}-{name}", std::process::id()) };
    // A shell keeps the pane open after the cockpit exits, so its terminal state can be read.
    let out = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "nw",
        "-x",
        "120",
        "-y",
        "40",
        &format!("{command}; echo EXITED=$?; sleep 60"),
    ]);
    assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
    Some(t)
}

/// An empty scratch directory for one test.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("nightwatch-tty-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn nightwatch() -> &'static str {
    env!("CARGO_BIN_EXE_nightwatch")
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_fault_page_ack_quit_restores_the_terminal() {
    let (_sim, addr) = start_fleet(&["--nodes", "20"]).await;
    let dir = std::env::temp_dir().join(format!("nightwatch-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[[source]]\nname = \"sim\"\nkind = \"scrape\"\ntargets = [\"{addr}\"]\ninterval = \"1s\"\ntimeout = \"1s\"\n"),
    )
    .expect("config");
    let log = dir.join("nightwatch.log");
    let command = format!(
        "NIGHTWATCH_LOG_FILE={} USER=e2e {} --config {} --no-bell",
        log.display(),
        nightwatch(),
        config.display()
    );
    let Some(tmux) = start_tmux("main", &command) else { return };

    let s = tmux.wait_for("the dashboard with numbers", Duration::from_secs(30), |s| {
        s.contains("Clock skew") && s.contains("Timeout cascade") && s.contains("1/1 up") && s.contains("ms Clock skew")
    });
    for title in ["Timeout ratio", "Idempotency cache", "Retry storm", "Latency delta", "Ordering violations", "Alerts"]
    {
        assert!(s.contains(title), "no {title} panel:\n{s}");
    }
    assert_eq!(tmux.display("#{alternate_on}"), "1", "the cockpit uses the alternate screen");

    let out = Command::new(nightwatch())
        .args([
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
        ])
        .output()
        .expect("chaos");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tmux.wait_for("PAGE on the timeout cascade", Duration::from_secs(30), |s| s.contains("Timeout cascade  PAGE"));
    tmux.wait_for("an alert in the list", Duration::from_secs(30), |s| s.contains("timeout-budget"));

    tmux.keys(&["Tab"]);
    tmux.keys(&["a"]);
    tmux.wait_for("the ack", Duration::from_secs(10), |s| s.contains("ack e2e") || s.contains("acknowledged"));

    tmux.keys(&["q"]);
    tmux.wait_for("the cockpit to exit", Duration::from_secs(5), |s| s.contains("EXITED=0"));
    assert_eq!(tmux.display("#{alternate_on}"), "0", "the alternate screen was left");
    assert_eq!(tmux.display("#{cursor_flag}"), "1", "the cursor is shown again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_hang_up_ends_the_cockpit_within_two_seconds() {
    let pid_file = std::env::temp_dir().join(format!("nightwatch-tty-pid-{}", std::process::id()));
    let command = format!("echo $$ > {}; exec {}", pid_file.display(), nightwatch());
    let command = format!("XDG_CONFIG_HOME=/nonexistent-nightwatch-test sh -c '{command}'");
    let Some(tmux) = start_tmux("hup", &command) else { return };
    tmux.wait_for("the dashboard", Duration::from_secs(30), |s| s.contains("Clock skew"));
    let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_owned();
    let alive = || std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive());
    // Closing the pane closes the pty: the cockpit gets SIGHUP and EOF on its terminal.
    tmux.cmd(&["kill-session", "-t", "nw"]);
    let start = Instant::now();
    while alive() && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let gone = !alive();
    let _ = std::fs::remove_file(&pid_file);
    assert!(gone, "still running {:?} after the terminal went away", start.elapsed());
}

/// The heart of the runbooks issue, end to end in a real terminal: a fault pages on the
/// built-in simulated fleet, Enter opens the runbook with the live branch, the remedy runs
/// after the typed confirmation, its output streams into the pane, the signal recovers, and
/// the audit log verifies and names who ran what.
#[tokio::test(flavor = "multi_thread")]
async fn a_page_enter_the_runbook_run_the_remedy_verified_and_audited() {
    let dir = fresh_dir("rb");
    let config = dir.join("config.toml");
    // The built-in fleet (kind = "sim", in-process), polled every second; clock skew pages at
    // once instead of after 2 minutes, so the test does not wait.
    std::fs::write(
        &config,
        "[[source]]\nname = \"demo\"\nkind = \"sim\"\nnodes = 12\ninterval = \"1s\"\ntimeout = \"1s\"\n\n\
         [[signal]]\nid = \"clock-skew\"\nfor = \"0s\"\n\n[audit]\npath = \"audit.jsonl\"\n",
    )
    .expect("config");
    let command = format!("{} --config {} --no-bell", nightwatch(), config.display());
    let Some(tmux) = start_tmux("runbook", &command) else { return };
    tmux.wait_for("the dashboard", Duration::from_secs(30), |s| s.contains("ms Clock skew"));
    // Where the built-in fleet listens: the targets view says.
    tmux.keys(&["t"]);
    let s = tmux.wait_for("the targets view", Duration::from_secs(10), |s| s.contains("started in-process at"));
    let at = s.find("http://127.0.0.1:").expect("the fleet's URL") + "http://".len();
    let addr: String = s[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
    tmux.keys(&["t"]);
    let out = Command::new(nightwatch())
        .args(["chaos", "--sim", &addr, "clock", "jump", "--offset", "+2m", "--nodes", "node-03"])
        .output()
        .expect("chaos");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    tmux.wait_for("clock skew to page", Duration::from_secs(30), |s| s.contains("PAGE  clock-skew"));
    // The page opened an incident: the first of this year in a fresh audit log.
    let incident = format!("ASYNC-{}-001", chrono::Utc::now().format("%Y"));
    tmux.wait_for("the incident in the header", Duration::from_secs(10), |s| s.contains(&format!("{incident} P2")));

    tmux.keys(&["Tab"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the runbook with its live answer", Duration::from_secs(10), |s| {
        s.contains("Runbook clock-skew") && s.contains("yes: 2m on node-03")
    });
    assert!(s.contains("Yes → [Force NTP sync all nodes]"), "{s}");
    // Down the live path to the NTP sync, and run it.
    tmux.keys(&["j", "j", "x"]);
    tmux.wait_for("the confirmation", Duration::from_secs(10), |s| s.contains("Type the target's name (node-03)"));
    tmux.keys(&["-l", "node-03"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the output in the pane", Duration::from_secs(20), |s| s.contains("stepped the clocks of node-03"));
    tmux.wait_for("the verification", Duration::from_secs(60), |s| s.contains("verified: clock-skew < 100ms"));
    tmux.keys(&["Escape"]);
    // The declaration template goes to the clipboard by OSC 52 (tmux keeps it as a buffer).
    tmux.cmd(&["set-option", "-g", "set-clipboard", "on"]);
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "incident copy declare"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the copy", Duration::from_secs(10), |s| s.contains("template is on the clipboard"));
    let buffer = String::from_utf8_lossy(&tmux.cmd(&["show-buffer"]).stdout).into_owned();
    assert!(
        buffer.starts_with("INCIDENT DECLARED") && buffer.contains(&format!("Incident ID: {incident}")),
        "{buffer}"
    );
    assert!(buffer.contains("- runbook clock-skew opened"), "{buffer}");
    tmux.keys(&["q"]);
    tmux.wait_for("the cockpit to exit", Duration::from_secs(5), |s| s.contains("EXITED=0"));

    // The post-incident review finds the incident's timeline: the page, the runbook, the step
    // with who ran it and its exit code, the verification.
    let out = Command::new(nightwatch())
        .args(["--config"])
        .arg(&config)
        .args(["postmortem", &incident])
        .output()
        .expect("pm");
    let pm = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{pm}{}", String::from_utf8_lossy(&out.stderr));
    let me = nightwatch::audit::Who::me().user.clone();
    for want in [
        format!("**Incident ID**: {incident}"),
        "node=\"node-03\"} firing at PAGE".to_owned(),
        format!("runbook clock-skew opened by {me}"),
        format!("{me} ran clock-skew/ntp-sync on node-03"),
        "clock-skew/ntp-sync on node-03: exit 0 (exit code 0), passed".to_owned(),
        "verified clock-skew < 100ms".to_owned(),
    ] {
        assert!(pm.contains(&want), "no {want:?} in the review:\n{pm}");
    }

    let audit = |args: &[&str]| {
        Command::new(nightwatch()).args(["audit", "--config"]).arg(&config).args(args).output().expect("audit")
    };
    let out = audit(&["verify"]);
    let verify = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && verify.contains("chain intact"), "{verify}");
    let shown = String::from_utf8_lossy(&audit(&["show"]).stdout).into_owned();
    let user = nightwatch::audit::Who::me().user.clone();
    for kind in ["step-started", "step-finished", "step-verified"] {
        assert!(shown.lines().any(|l| l.contains(kind) && l.contains(&format!("{user}@"))), "no {kind}:\n{shown}");
    }
    assert!(shown.contains("ntp-sync --nodes node-03"), "{shown}");
    let tail = String::from_utf8_lossy(&audit(&["tail", "-n", "50"]).stdout).into_owned();
    assert!(tail.contains("session-start") && tail.contains("session-end"), "{tail}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// In the runbook pane: moves down the flowchart until `x` asks to run `step`; leaves its
/// confirmation open.
fn select_step(tmux: &Tmux, step: &str) -> String {
    for _ in 0..16 {
        tmux.keys(&["x"]);
        std::thread::sleep(Duration::from_millis(400));
        let s = tmux.screen();
        if s.contains(&format!("to run {step}")) || s.contains(&format!("Run {step} on")) {
            return s;
        }
        if s.contains("Type the target's name (") || s.contains("? [y/N]") || s.contains("value for {") {
            tmux.keys(&["Escape"]); // another step's prompt: not this one
            std::thread::sleep(Duration::from_millis(200));
        }
        tmux.keys(&["j"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("step {step} not found in the pane:\n{}", tmux.screen());
}

/// The 3 A.M. certification drill at 15× in a real terminal: the faults go in unnamed, the
/// pages are acked and the remedies run from the flowchart pane with keystrokes, and the
/// scorecard appears with its grades and is written to disk.
#[test]
fn the_3am_drill_in_the_cockpit_acked_fixed_and_graded() {
    let dir = fresh_dir("drill");
    let config = dir.join("config.toml");
    // Four nodes: the +2 min skew lands on two of them, each synced from its own alert.
    std::fs::write(
        &config,
        "[[source]]\nname = \"demo\"\nkind = \"sim\"\nnodes = 4\ninterval = \"5s\"\ntimeout = \"4s\"\n\n\
         [audit]\npath = \"audit.jsonl\"\n",
    )
    .expect("config");
    let reports = dir.join("reports");
    let command = format!(
        "{} --no-bell --config {} drill run 3am-certification --speed 15 --seed 1 --report-dir {}",
        nightwatch(),
        config.display(),
        reports.display()
    );
    let Some(tmux) = start_tmux("drill", &command) else { return };
    tmux.cmd(&["resize-window", "-t", "nw", "-x", "160", "-y", "50"]);
    let s = tmux.wait_for("the drill banner", Duration::from_secs(30), |s| s.contains("DRILL  3am-certification"));
    assert!(!s.contains("500 ms") && !s.contains("drop-acks"), "the faults are not named:\n{s}");
    let s = tmux.wait_for("the pages", Duration::from_secs(60), |s| {
        s.contains("PAGE  clock-skew") && s.contains("PAGE  timeout-ratio") && s.contains("PAGE  ordering-violations")
    });
    // The skewed nodes, from their alerts.
    let mut nodes: Vec<String> = s
        .lines()
        .filter(|l| l.contains("PAGE  clock-skew"))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
        .collect();
    nodes.sort();
    nodes.dedup();
    assert!(!nodes.is_empty(), "{s}");
    let palette = |text: &str| {
        tmux.keys(&[":"]);
        tmux.keys(&["-l", text]);
        tmux.keys(&["Enter"]);
        std::thread::sleep(Duration::from_millis(300));
    };
    tmux.keys(&["Tab"]);
    for node in &nodes {
        palette(&format!("filter {node}"));
        tmux.keys(&["g", "a", "Enter"]);
        tmux.wait_for("the clock-skew runbook", Duration::from_secs(10), |s| s.contains("Runbook clock-skew"));
        select_step(&tmux, "ntp-sync");
        tmux.keys(&["-l", node]);
        tmux.keys(&["Enter"]);
        tmux.wait_for("the sync", Duration::from_secs(20), |s| s.contains(&format!("stepped the clocks of {node}")));
        tmux.keys(&["Escape"]);
    }
    palette("filter timeout-ratio");
    tmux.keys(&["g", "a", "Enter"]);
    tmux.wait_for("the timeout-storm runbook", Duration::from_secs(10), |s| s.contains("Runbook timeout-storm"));
    select_step(&tmux, "open-breaker");
    tmux.keys(&["-l", "service-b"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the breaker", Duration::from_secs(20), |s| s.contains("breaker to service-b opened"));
    tmux.keys(&["Escape"]);
    palette("filter ordering-violations");
    tmux.keys(&["g", "a", "Enter"]);
    tmux.wait_for("the message-ordering runbook", Duration::from_secs(10), |s| s.contains("Runbook message-ordering"));
    select_step(&tmux, "bus-failover");
    tmux.keys(&["y"]);
    tmux.wait_for("the failover", Duration::from_secs(20), |s| s.contains("moved to the standby broker"));
    tmux.keys(&["Escape"]);
    palette("filter");
    let s = tmux.wait_for("the scorecard", Duration::from_secs(150), |s| s.contains("Drill scorecard"));
    assert!(s.contains("The 3 A.M. certification drill: resolved"), "{s}");
    for fault in ["500 ms one-way delay", "clock skew +2 min", "acknowledgements dropped"] {
        let line = s.lines().find(|l| l.contains(fault)).unwrap_or_else(|| panic!("{fault} on the scorecard:\n{s}"));
        assert!(["GOLD", "SILVER", "BRONZE"].iter().any(|g| line.contains(g)), "graded: {line}");
    }
    assert!(s.contains("ran ") && s.contains("message-ordering/bus-failover"), "{s}");
    tmux.keys(&["q"]);
    tmux.wait_for("the cockpit to exit", Duration::from_secs(10), |s| s.contains("EXITED=0"));
    let json = std::fs::read_dir(&reports)
        .expect("the scorecard was written")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a JSON scorecard");
    let card: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).expect("read")).expect("json");
    assert_eq!(card["end"]["how"], "resolved", "{card}");
    let audit = std::fs::read_to_string(dir.join("audit.jsonl")).expect("audit log");
    assert!(audit.lines().all(|l| l.contains("\"drill\":\"3am-certification\"")), "every record carries the drill");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A drill against a fleet that is already running (`--sim ADDR`): its fault goes into that
/// fleet on schedule, and `:drill abort` heals it and shows the scorecard.
#[tokio::test(flavor = "multi_thread")]
async fn a_drill_against_a_running_fleet_injects_into_it_and_heals_on_abort() {
    let (_fleet, addr) = start_fleet(&["--nodes", "12", "--speed", "60"]).await;
    let dir = fresh_dir("attach");
    let config = dir.join("config.toml");
    std::fs::write(&config, "[[source]]\nname = \"demo\"\nkind = \"sim\"\n\n[audit]\npath = \"audit.jsonl\"\n")
        .expect("config");
    let command = format!(
        "{} --no-bell --config {} drill run time-jump --sim {addr} --report-dir {}",
        nightwatch(),
        config.display(),
        dir.join("reports").display()
    );
    let Some(tmux) = start_tmux("attach", &command) else { return };
    tmux.wait_for("the drill banner", Duration::from_secs(30), |s| s.contains("DRILL  time-jump"));
    let faults = || {
        let out = Command::new(nightwatch()).args(["chaos", "--sim", &addr, "list"]).output().expect("chaos list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // At 60× the fault (due 30 s into the drill) is in within a second or two.
    let start = Instant::now();
    while !faults().contains("clock jump") {
        assert!(start.elapsed() < Duration::from_secs(20), "the drill's fault never reached the fleet: {}", faults());
        std::thread::sleep(Duration::from_millis(200));
    }
    tmux.keys(&[":"]);
    tmux.keys(&["-l", "drill abort"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the scorecard", Duration::from_secs(10), |s| s.contains("Drill scorecard"));
    assert!(s.contains("aborted from the cockpit"), "{s}");
    assert!(faults().contains("no faults in effect"), "healed: {}", faults());
    tmux.keys(&["q"]);
    tmux.wait_for("the cockpit to exit", Duration::from_secs(10), |s| s.contains("EXITED=0"));
    let _ = std::fs::remove_dir_all(&dir);
}
