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
    let dir = std::env::temp_dir().join(format!("nightwatch-tty-rb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
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
    tmux.keys(&["q"]);
    tmux.wait_for("the cockpit to exit", Duration::from_secs(5), |s| s.contains("EXITED=0"));

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
