//! Graded drills: scenarios that inject faults into the simulated fleet on a schedule, watch
//! the operator detect and resolve them, and grade the times (`drills/*.toml`).
//!
//! - [`file`]: the drill file format and its lint;
//! - [`session`]: the drill as a pure state machine on its own clock, and the scorecard;
//! - [`script`]: a scripted operator for headless drills;
//! - [`headless`]: a drill run in simulated time, steps through the real executor.

pub mod file;
pub mod headless;
pub mod script;
pub mod session;

use std::collections::BTreeMap;

pub use file::Drill;
pub use session::{End, Grade, Scorecard, Session};

use crate::config::Config;
use crate::runbooks::{FileProblem, Library};

/// The shipped drills: `drills/*.toml` in the repository, compiled in.
pub const SHIPPED: [(&str, &str); 10] = [
    ("drills/3am-certification.toml", include_str!("../../drills/3am-certification.toml")),
    ("drills/gameday-dependency-outage.toml", include_str!("../../drills/gameday-dependency-outage.toml")),
    ("drills/gameday-database-failover.toml", include_str!("../../drills/gameday-database-failover.toml")),
    ("drills/gameday-poison-pill.toml", include_str!("../../drills/gameday-poison-pill.toml")),
    ("drills/clock-drift.toml", include_str!("../../drills/clock-drift.toml")),
    ("drills/network-delay.toml", include_str!("../../drills/network-delay.toml")),
    ("drills/message-reorder.toml", include_str!("../../drills/message-reorder.toml")),
    ("drills/asymmetric-partition.toml", include_str!("../../drills/asymmetric-partition.toml")),
    ("drills/slow-service.toml", include_str!("../../drills/slow-service.toml")),
    ("drills/time-jump.toml", include_str!("../../drills/time-jump.toml")),
];

/// The shipped drills that parse, and the problems of those that do not.
pub fn shipped() -> (Vec<Drill>, Vec<FileProblem>) {
    let mut drills = Vec::new();
    let mut problems = Vec::new();
    for (name, text) in SHIPPED {
        match file::parse(name, text) {
            Ok(d) => drills.push(d),
            Err(p) => problems.extend(p),
        }
    }
    (drills, problems)
}

/// A drill by shipped id, or from a file when `name` is a path to one.
pub fn find(name: &str) -> Result<Drill, String> {
    let looks_like_path = name.ends_with(".toml") || name.contains('/');
    if looks_like_path {
        let text = std::fs::read_to_string(name).map_err(|e| format!("cannot read drill {name}: {e}"))?;
        return file::parse(name, &text).map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }
    let (drills, problems) = shipped();
    if let Some(p) = problems.first() {
        return Err(format!("a shipped drill is broken: {p}"));
    }
    let ids: Vec<String> = drills.iter().map(|d| d.id.clone()).collect();
    drills.into_iter().find(|d| d.id == name).ok_or_else(|| {
        format!(
            "no drill {:?} (drills: {}; or give a path to a .toml file)",
            crate::text::escape_control(name),
            ids.join(", ")
        )
    })
}

/// A session for `drill` under `config` and `library`: which runbook answers each signal, and
/// the remedies (recover steps in the config's profile) of the runbooks answering its alerts.
pub fn session(drill: Drill, config: &Config, library: &Library) -> Session {
    let runbook_of: BTreeMap<String, String> =
        config.signals.iter().filter_map(|s| s.runbook.clone().map(|r| (s.id.clone(), r))).collect();
    let mut remedies: Vec<(String, String)> = Vec::new();
    for signal in drill.touched_signals() {
        let Some(rb) = runbook_of.get(signal).and_then(|id| library.get(id)) else { continue };
        for st in rb.steps_in(config.runbooks.profile) {
            let pair = (rb.id.clone(), st.id.clone());
            if st.phase == crate::runbooks::file::Phase::Recover && !remedies.contains(&pair) {
                remedies.push(pair);
            }
        }
    }
    let mut s = Session::new(drill, runbook_of, remedies);
    s.resolve_aborts(config);
    s
}

/// Runs a real injector command (argv, no shell, no input) to its end, for at most 60 s; its
/// process is killed when it takes longer.
pub async fn run_live(argv: &[String]) -> Result<(), String> {
    let (prog, args) = argv.split_first().ok_or("no command")?;
    let child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .status();
    match tokio::time::timeout(std::time::Duration::from_secs(60), child).await {
        Err(_) => Err(format!("{prog} took longer than 60s")),
        Ok(Err(e)) => Err(format!("cannot run {prog}: {e}")),
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("{prog} failed: {s}")),
    }
}
