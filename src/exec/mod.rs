//! Confirmed-step execution: the one path by which the cockpit and `nightwatch runbook run`
//! run a runbook step. The safety rules of DESIGN.md are enforced here, not in a UI:
//!
//! 1. argv without a local shell (unless the step says `shell = true`); a value is one argument;
//!    values a remote shell will read are POSIX-quoted (`template`).
//! 2. every template value is checked before anything is shown: printable ASCII, not starting
//!    with `-`, and matching the step's `allow-NAME` pattern whole (`prepare`).
//! 3. a run needs a confirmation that answered yes, and for `confirm = type` steps the typed
//!    target name; a batch ("run all") refuses mutating steps (`execute`).
//! 4. read-only and dry-run are modes of the executor.
//! 5. a timeout, after which the process group gets SIGTERM and then SIGKILL; output is
//!    captured with a bound (head and tail kept, the rest counted and hashed) (`run`).
//! 6. the `step-started` record is on disk before the spawn, or the step is refused.
//! 7. output and values are escaped before they reach a screen or the log.
//!
//! One run at a time per step and target across processes: a lock file beside the audit log,
//! which names its holder.

pub mod run;
pub mod template;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::audit::{AuditLog, Who};
use crate::config::Profile;
use crate::runbooks::file::{BUILTIN_VALUES, Confirm, Phase, Runbook, Step};
use crate::text::escape_control;
pub use run::{Capture, Outcome, Status};

/// How the executor treats a confirmed step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Run,
    /// Show what would run; run nothing.
    DryRun,
    /// Run nothing; refuse every step.
    ReadOnly,
}

/// A step ready to be confirmed: its exact argv, checked values and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    pub runbook: String,
    pub step: String,
    pub phase: Phase,
    pub profile: Profile,
    pub argv: Vec<String>,
    /// The value the step acts on (`target = NAME`), or "fleet" for a step without one.
    pub target: String,
    pub confirm: Confirm,
    pub timeout: Duration,
    pub values: BTreeMap<String, String>,
    pub expect: Option<String>,
}

impl Prepared {
    /// The argv as it reads on a screen: quoted where needed, control characters escaped.
    pub fn display(&self) -> String {
        template::display_argv(&self.argv)
    }

    pub fn mutates(&self) -> bool {
        self.phase.mutates()
    }

    /// What the confirmation prompt asks.
    pub fn question(&self) -> String {
        match self.confirm {
            Confirm::Yes => format!("Run {} on {}? [y/N]", self.step, escape_control(&self.target)),
            Confirm::Type => {
                format!("Type the target's name ({}) to run {}:", escape_control(&self.target), self.step)
            }
        }
    }
}

/// How the user answered the prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Confirmation {
    pub yes: bool,
    /// For `confirm = type` steps: what the user typed.
    pub typed: Option<String>,
    /// Part of a "run all": mutating steps are refused.
    pub batch: bool,
}

/// Why a step did not run. The message is for the user, as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the executor needs from its surroundings.
#[derive(Clone, Debug)]
pub struct Context {
    pub mode: Mode,
    pub profile: Profile,
    pub default_timeout: Duration,
    pub output_cap: usize,
    pub audit: AuditLog,
    /// Values nightwatch fills itself (`sim`: the simulated fleet's address).
    pub builtins: BTreeMap<String, String>,
    /// Recorded with each step, when set.
    pub incident: Option<String>,
    /// This binary: what `nightwatch` in a step runs (found once, so `prepare` does no I/O).
    pub exe: Option<PathBuf>,
}

impl Context {
    fn lock_dir(&self) -> PathBuf {
        self.audit.path().parent().map_or_else(|| PathBuf::from("locks"), |d| d.join("locks"))
    }
}

/// Checks one template value: printable ASCII, no leading `-`, and the step's pattern.
pub fn check_value(name: &str, value: &str, step: &Step) -> Result<(), Refusal> {
    let shown = escape_control(value);
    if let Some((i, c)) = value.char_indices().find(|(_, c)| !(' '..='~').contains(c)) {
        let what = if c.is_control() { "a control character" } else { "a non-ASCII character" };
        return Err(Refusal(format!(
            "refused: the value {shown:?} for {{{name}}} has {what} (U+{:04X}) at byte {i}; values must be printable ASCII",
            c as u32
        )));
    }
    if value.starts_with('-') {
        return Err(Refusal(format!(
            "refused: the value {shown:?} for {{{name}}} starts with '-' and could be read as an option"
        )));
    }
    if value.is_empty() {
        return Err(Refusal(format!("refused: the value for {{{name}}} is empty")));
    }
    match step.patterns.get(name) {
        Some(p) if p.regex.is_match(value) => Ok(()),
        Some(p) => Err(Refusal(format!(
            "refused: the value {shown:?} for {{{name}}} does not match the allowed pattern {} (allow-{name})",
            p.source
        ))),
        None => Err(Refusal(format!("refused: {{{name}}} has no allowed pattern in step {}", step.id))),
    }
}

/// Builds a step's argv from its values, checking each one. Nothing runs.
pub fn prepare(
    rb: &Runbook,
    step_id: &str,
    values: &BTreeMap<String, String>,
    ctx: &Context,
) -> Result<Prepared, Refusal> {
    let step = rb.step(step_id, ctx.profile).ok_or_else(|| {
        let known: Vec<&str> = rb.steps_in(ctx.profile).map(|s| s.id.as_str()).collect();
        Refusal(format!(
            "runbook {} has no step {step_id:?} in the {} profile (steps: {})",
            rb.id,
            ctx.profile.as_str(),
            known.join(", ")
        ))
    })?;
    let mut used = BTreeMap::new();
    for name in step.template.value_names() {
        if BUILTIN_VALUES.contains(&name) {
            let v = ctx.builtins.get(name).ok_or_else(|| {
                Refusal(format!(
                    "refused: {{{name}}} is filled by nightwatch and is not known here (for {{sim}}: run the \
                     cockpit on the simulated fleet, or set NIGHTWATCH_SIM to a `nightwatch sim` address)"
                ))
            })?;
            used.insert(name.to_owned(), v.clone());
            continue;
        }
        let v = values
            .get(name)
            .ok_or_else(|| Refusal(format!("step {} needs a value for {{{name}}}: pass --set {name}=…", step.id)))?;
        check_value(name, v, step)?;
        used.insert(name.to_owned(), v.clone());
    }
    let mut argv = if step.shell {
        let script = step.template.script(&used).map_err(Refusal)?;
        vec!["sh".to_owned(), "-c".to_owned(), script]
    } else {
        step.template.argv(&used, step.remote_shell).map_err(Refusal)?
    };
    // `nightwatch` in a step is this binary, wherever it is installed.
    if argv.first().map(String::as_str) == Some("nightwatch")
        && let Some(me) = &ctx.exe
    {
        argv[0] = me.display().to_string();
    }
    let target = match &step.target {
        Some(t) => used.get(t).cloned().unwrap_or_else(|| t.clone()),
        None => "fleet".to_owned(),
    };
    Ok(Prepared {
        runbook: rb.id.clone(),
        step: step.id.clone(),
        phase: step.phase,
        profile: ctx.profile,
        argv,
        target,
        confirm: step.confirm,
        timeout: step.timeout.unwrap_or(ctx.default_timeout),
        values: used,
        expect: step.expect.clone(),
    })
}

/// What happened to a confirmed step.
#[derive(Clone, Debug)]
pub enum Done {
    /// Dry-run: what would have run.
    WouldRun(Prepared),
    Ran {
        run: String,
        outcome: Outcome,
        passed: bool,
    },
}

/// Runs a prepared, confirmed step: checks the mode and the confirmation, takes the step lock,
/// makes the start durable, runs, records the outcome. `on_output` sees the output as it comes
/// (escaped, within the capture bound); `cancel` ends the run early (the group is killed).
pub async fn execute(
    rb: &Runbook,
    p: &Prepared,
    confirmation: &Confirmation,
    ctx: &Context,
    on_output: &mut (dyn FnMut(&str) + Send),
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Done, Refusal> {
    let step =
        rb.step(&p.step, p.profile).ok_or_else(|| Refusal(format!("runbook {} has no step {}", rb.id, p.step)))?;
    match ctx.mode {
        Mode::ReadOnly => return Err(Refusal("refused: read-only mode runs no step".into())),
        Mode::DryRun => return Ok(Done::WouldRun(p.clone())),
        Mode::Run => {}
    }
    if confirmation.batch && p.mutates() {
        return Err(Refusal(format!(
            "refused: {} is a {} step and changes things; it never runs as part of \"run all\"",
            p.step,
            p.phase.as_str()
        )));
    }
    if !confirmation.yes {
        return Err(Refusal("not confirmed: nothing ran".into()));
    }
    if p.confirm == Confirm::Type && confirmation.typed.as_deref() != Some(p.target.as_str()) {
        return Err(Refusal(format!(
            "refused: {} is dangerous; confirm it by typing the target's name ({})",
            p.step,
            escape_control(&p.target)
        )));
    }
    let _lock = StepLock::take(&ctx.lock_dir(), p)?;
    let run = run_id();
    let mut start = Map::new();
    start.insert("kind".into(), "step-started".into());
    start.insert("run".into(), run.clone().into());
    start.insert("runbook".into(), p.runbook.clone().into());
    start.insert("step".into(), p.step.clone().into());
    start.insert("phase".into(), p.phase.as_str().into());
    start.insert("profile".into(), p.profile.as_str().into());
    start.insert("target".into(), escape_control(&p.target).into_owned().into());
    start.insert(
        "argv".into(),
        Value::Array(p.argv.iter().map(|a| Value::from(escape_control(a).into_owned())).collect()),
    );
    start.insert("confirmed".into(), if p.confirm == Confirm::Type { "typed-target" } else { "yes" }.into());
    start.insert("timeout_ms".into(), u64::try_from(p.timeout.as_millis()).unwrap_or(u64::MAX).into());
    if let Some(i) = &ctx.incident {
        start.insert("incident".into(), escape_control(i).into_owned().into());
    }
    append_off_thread(&ctx.audit, start, true).await.map_err(|e| {
        Refusal(format!(
            "refused: the audit log {} cannot be written ({e}); a step never runs unrecorded",
            ctx.audit.path().display()
        ))
    })?;
    let outcome = run::run(&p.argv, p.timeout, ctx.output_cap, on_output, cancel).await;
    let passed = outcome.status == Status::Exited(0)
        && step.expect_output.as_ref().is_none_or(|pat| pat.regex.is_match(&outcome.output.text()));
    let mut fin = Map::new();
    fin.insert("kind".into(), "step-finished".into());
    fin.insert("run".into(), run.clone().into());
    fin.insert("runbook".into(), p.runbook.clone().into());
    fin.insert("step".into(), p.step.clone().into());
    fin.insert("target".into(), escape_control(&p.target).into_owned().into());
    outcome.record_into(&mut fin);
    fin.insert("passed".into(), passed.into());
    if let Some(i) = &ctx.incident {
        fin.insert("incident".into(), escape_control(i).into_owned().into());
    }
    if let Err(e) = append_off_thread(&ctx.audit, fin, false).await {
        // The step ran; its start is on disk. The next start records this one as unknown.
        tracing::error!("audit: the outcome of run {run} could not be written: {e}");
    }
    Ok(Done::Ran { run, outcome, passed })
}

/// Appends on a blocking thread: a start reads the log (for starts left open) and every
/// append syncs to disk, which must not hold up a runtime worker.
async fn append_off_thread(audit: &AuditLog, record: Map<String, Value>, start: bool) -> std::io::Result<u64> {
    let log = audit.clone();
    tokio::task::spawn_blocking(move || if start { log.append_start(record) } else { log.append(record) })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// The `step-verified` record: a recover step's signal verification and its result, the same
/// from the cockpit and from `runbook run`.
pub fn verified_record(
    p: &Prepared,
    condition: &crate::runbooks::condition::Condition,
    answer: &str,
    passed: bool,
    after_ms: u64,
    incident: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), "step-verified".into());
    m.insert("runbook".into(), p.runbook.clone().into());
    m.insert("step".into(), p.step.clone().into());
    m.insert("target".into(), escape_control(&p.target).into_owned().into());
    m.insert("condition".into(), condition.to_string().into());
    m.insert("answer".into(), answer.into());
    m.insert("passed".into(), passed.into());
    m.insert("after_ms".into(), after_ms.into());
    if let Some(i) = incident {
        m.insert("incident".into(), escape_control(i).into_owned().into());
    }
    m
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{}-{:x}", Who::me().host, std::process::id(), nanos)
}

/// An exclusive lock per step and target, held while the step runs; the file names its holder.
struct StepLock {
    _file: File,
}

impl StepLock {
    fn take(dir: &Path, p: &Prepared) -> Result<StepLock, Refusal> {
        let safe = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
        };
        let name = format!("{}--{}--{}.lock", safe(&p.runbook), safe(&p.step), safe(&p.target));
        let path = dir.join(name);
        let fail = |e: std::io::Error| {
            Refusal(format!("refused: cannot take the step lock {} ({e}); a step never runs unguarded", path.display()))
        };
        std::fs::create_dir_all(dir).map_err(fail)?;
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(fail)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(Refusal(format!(
                    "refused: {} on {} is already running: {}",
                    p.step,
                    escape_control(&p.target),
                    if holder.is_empty() { "held by another process" } else { holder }
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
        }
        let since = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
        let _ = file.set_len(0).and_then(|_| writeln!(file, "held by {} since {since}", Who::me().short()));
        Ok(StepLock { _file: file })
    }
}

#[cfg(test)]
mod tests;
