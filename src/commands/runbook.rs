//! `nightwatch runbook list | show ID | run ID STEP`: the runbooks from a shell, through the
//! same executor and audit log as the cockpit.
//!
//! Exit codes of `run`: 0 the step ran and passed (and its verification, if any); 1 it ran and
//! failed, or its verification did not pass; 2 refused or not confirmed (nothing ran);
//! 64 a usage error (unknown runbook or step, a malformed --set); 78 a config error.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::audit::AuditLog;
use crate::cli::{RunArgs, RunbookArgs, RunbookCommand};
use crate::config::{Config, Profile};
use crate::exec::{self, Confirmation, Context, Done, Mode, Prepared};
use crate::runbooks::condition::{self, Answer, SignalCheck};
use crate::runbooks::file::{Confirm, Verify};
use crate::runbooks::outline::{outline, plain};
use crate::runbooks::{Library, Runbook};
use crate::text::escape_control;

const EXIT_FAILED: i32 = 1;
const EXIT_REFUSED: i32 = 2;
const EXIT_USAGE: i32 = 64;
const EXIT_CONFIG: i32 = 78;

pub fn run(config: Option<&Path>, read_only: bool, dry_run: bool, args: &RunbookArgs) -> i32 {
    let config = match Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    };
    let lib = Library::load(config.runbooks.dir.as_deref());
    match &args.command {
        RunbookCommand::List => list(&lib),
        RunbookCommand::Show { id } => show(&lib, &config, id),
        RunbookCommand::Run(a) => {
            let mode = if read_only {
                Mode::ReadOnly
            } else if dry_run || a.dry_run {
                Mode::DryRun
            } else {
                Mode::Run
            };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("nightwatch: cannot start the runtime: {e}");
                    return EXIT_FAILED;
                }
            };
            run_step(&rt, &lib, config, mode, a)
        }
    }
}

fn list(lib: &Library) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{:<28} {:<4} {:<44} TITLE", "ID", "SEV", "ANSWERS");
    for rb in &lib.runbooks {
        let answers = if rb.alerts.is_empty() { "(operational task)".to_owned() } else { rb.alerts.join(", ") };
        let _ = writeln!(out, "{:<28} {:<4} {:<44} {}", rb.id, rb.severity, answers, rb.title);
    }
    for rb in &lib.broken {
        let _ = writeln!(out, "{:<28} {:<4} {:<44} {} (has problems: see nightwatch check)", rb.id, "-", "-", rb.title);
    }
    for p in &lib.problems {
        eprintln!("{p}");
    }
    0
}

fn unknown_runbook(lib: &Library, id: &str) -> i32 {
    let ids: Vec<&str> = lib.runbooks.iter().map(|r| r.id.as_str()).collect();
    eprintln!("nightwatch: no runbook {:?} (runbooks: {})", escape_control(id), ids.join(", "));
    EXIT_USAGE
}

fn show(lib: &Library, config: &Config, id: &str) -> i32 {
    let Some(rb) = lib.any(id) else { return unknown_runbook(lib, id) };
    let profile = config.runbooks.profile;
    let mut out = std::io::stdout().lock();
    let _ = (|| -> std::io::Result<()> {
        writeln!(out, "{} — {}", rb.id, rb.title)?;
        writeln!(
            out,
            "severity {} · owner {} · escalation {} · last reviewed {} · {}",
            rb.severity, rb.owner, rb.escalation, rb.last_reviewed, rb.file
        )?;
        if !rb.alerts.is_empty() {
            writeln!(out, "answers: {}", rb.alerts.join(", "))?;
        }
        if let Some(t) = rb.section("What the alert means") {
            writeln!(out, "\n{t}")?;
        }
        if let Some(f) = &rb.flowchart {
            writeln!(out, "\nFlowchart:")?;
            for l in outline(f) {
                let bound = match rb.binding(&l.node) {
                    Some(crate::runbooks::file::Bound::Step(s)) if !l.again => format!("   ▸ step {s}"),
                    Some(crate::runbooks::file::Bound::Condition(c)) if !l.again => format!("   ▸ asks {c}"),
                    _ => String::new(),
                };
                writeln!(out, "  {}{bound}", plain(&l))?;
            }
        }
        writeln!(out, "\nSteps ({} profile):", profile.as_str())?;
        for s in rb.steps_in(profile) {
            let confirm = match s.confirm {
                Confirm::Yes => "confirm y/N",
                Confirm::Type => "confirm by typing the target",
            };
            let timeout = s
                .timeout
                .map_or_else(String::new, |t| format!(" · timeout {}", crate::config::units::format_duration(t)));
            writeln!(out, "  {} ({}) · {confirm}{timeout}", s.id, s.phase.as_str())?;
            for l in s.text.lines() {
                writeln!(out, "      $ {l}")?;
            }
            for (name, p) in &s.patterns {
                writeln!(out, "      {{{name}}} must match {}", p.source)?;
            }
            if let Some(e) = &s.expect {
                writeln!(out, "      expect: {e}")?;
            }
            match &s.verify {
                Some(Verify::Step(v)) => writeln!(out, "      verify: step {v}")?,
                Some(Verify::Signal(c)) => writeln!(
                    out,
                    "      verify: {} within {}",
                    c.condition,
                    crate::config::units::format_duration(c.within)
                )?,
                None => {}
            }
        }
        for name in ["Rollback", "Escalation"] {
            if let Some(t) = rb.section(name) {
                writeln!(out, "\n{name}:\n{t}")?;
            }
        }
        Ok(())
    })();
    0
}

fn parse_sets(sets: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for s in sets {
        let (k, v) = s.split_once('=').ok_or_else(|| format!("--set {:?}: write NAME=VALUE", escape_control(s)))?;
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(format!("--set {k} is given twice"));
        }
    }
    Ok(out)
}

fn context(config: &Config, mode: Mode, a: &RunArgs) -> Context {
    let mut builtins = BTreeMap::new();
    builtins.insert("sim".to_owned(), a.fleet.addr.clone());
    Context {
        mode,
        profile: config.runbooks.profile,
        default_timeout: config.exec.timeout,
        output_cap: config.exec.output_cap,
        audit: AuditLog::new(&config.audit.path),
        builtins,
        incident: a.incident.clone(),
        exe: std::env::current_exe().ok(),
    }
}

fn run_step(rt: &tokio::runtime::Runtime, lib: &Library, config: Config, mode: Mode, a: &RunArgs) -> i32 {
    let values = match parse_sets(&a.set) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("nightwatch: {e}");
            return EXIT_USAGE;
        }
    };
    let Some(rb) = lib.get(&a.id) else {
        if lib.any(&a.id).is_some() {
            eprintln!("nightwatch: runbook {} has problems and runs nothing; see nightwatch check", a.id);
            return EXIT_REFUSED;
        }
        return unknown_runbook(lib, &a.id);
    };
    let ctx = context(&config, mode, a);
    let Some(step_id) = a.step.clone() else {
        return run_all(rt, rb, &values, &ctx, a, mode);
    };
    if rb.step(&step_id, ctx.profile).is_none() {
        let steps: Vec<&str> = rb.steps_in(ctx.profile).map(|s| s.id.as_str()).collect();
        eprintln!(
            "nightwatch: runbook {} has no step {:?} in the {} profile (steps: {})",
            rb.id,
            escape_control(&step_id),
            ctx.profile.as_str(),
            steps.join(", ")
        );
        return EXIT_USAGE;
    }
    let prepared = match exec::prepare(rb, &step_id, &values, &ctx) {
        Ok(p) => p,
        Err(r) => {
            eprintln!("nightwatch: {r}");
            return EXIT_REFUSED;
        }
    };
    describe(&prepared);
    let confirmation = match confirm(&prepared, a, mode) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("nightwatch: {msg}");
            return EXIT_REFUSED;
        }
    };
    rt.block_on(async {
        let code = match execute(rb, &prepared, &confirmation, &ctx).await {
            Ok(code) => code,
            Err(code) => return code,
        };
        if code != 0 || a.no_verify || mode != Mode::Run || !prepared.mutates() {
            return code;
        }
        let Some(step) = rb.step(&prepared.step, ctx.profile) else { return code };
        match &step.verify {
            None => code,
            Some(Verify::Step(v)) => {
                eprintln!("verify: running step {v}");
                let vp = match exec::prepare(rb, v, &values, &ctx) {
                    Ok(p) => p,
                    Err(r) => {
                        eprintln!("verify: {r}");
                        return EXIT_FAILED;
                    }
                };
                describe(&vp);
                let c = Confirmation { yes: true, typed: Some(vp.target.clone()), batch: false };
                execute(rb, &vp, &c, &ctx).await.unwrap_or_else(|c| c)
            }
            Some(Verify::Signal(check)) => verify_signal(config, check, a, &ctx, &prepared).await,
        }
    })
}

/// `run ID --all`: every step of the profile in order, as one batch: one confirmation for all,
/// and the executor refuses each step that changes things.
fn run_all(
    rt: &tokio::runtime::Runtime,
    rb: &Runbook,
    values: &BTreeMap<String, String>,
    ctx: &Context,
    a: &RunArgs,
    mode: Mode,
) -> i32 {
    let steps: Vec<&crate::runbooks::file::Step> = rb.steps_in(ctx.profile).collect();
    eprintln!("{}: {} steps in the {} profile, as one batch:", rb.id, steps.len(), ctx.profile.as_str());
    for s in &steps {
        let note = if s.phase.mutates() { "  (changes things: refused in a batch)" } else { "" };
        eprintln!("  {} ({}){note}", s.id, s.phase.as_str());
    }
    let confirmed = mode != Mode::Run
        || a.yes
        || (std::io::stdin().is_terminal() && {
            eprint!("Run the steps that only look? [y/N] ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y" | "yes")
        });
    if !confirmed {
        if !std::io::stdin().is_terminal() && !a.yes {
            eprintln!("nightwatch: standard input is not a terminal: pass --yes to run the batch");
        } else {
            eprintln!("not confirmed: nothing ran");
        }
        return EXIT_REFUSED;
    }
    let mut worst = 0;
    for s in steps {
        let p = match exec::prepare(rb, &s.id, values, ctx) {
            Ok(p) => p,
            Err(r) => {
                eprintln!("{}: {r}", s.id);
                worst = worst.max(EXIT_REFUSED);
                continue;
            }
        };
        describe(&p);
        let c = Confirmation { yes: true, typed: None, batch: true };
        let code = rt.block_on(execute(rb, &p, &c, ctx)).unwrap_or_else(|c| c);
        // A refused mutating step is the batch rule working, not a failure of the batch.
        if !(code == EXIT_REFUSED && p.mutates()) {
            worst = worst.max(code);
        }
    }
    if worst == EXIT_REFUSED { EXIT_FAILED } else { worst }
}

fn describe(p: &Prepared) {
    eprintln!("{} / {} ({}) on {}", p.runbook, p.step, p.phase.as_str(), escape_control(&p.target));
    eprintln!("  $ {}", p.display());
    if let Some(e) = &p.expect {
        eprintln!("  expect: {e}");
    }
}

fn confirm(p: &Prepared, a: &RunArgs, mode: Mode) -> Result<Confirmation, String> {
    if mode != Mode::Run {
        // The executor refuses (read-only) or shows (dry-run); nothing to ask.
        return Ok(Confirmation { yes: true, typed: Some(p.target.clone()), batch: false });
    }
    if a.yes {
        return Ok(Confirmation { yes: true, typed: a.confirm.clone(), batch: false });
    }
    if !std::io::stdin().is_terminal() {
        return Err("standard input is not a terminal: pass --yes to run without a prompt (and --confirm \
                    TARGET for a step that asks for the target's name)"
            .into());
    }
    eprint!("{} ", p.question());
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("cannot read the answer: {e}"))?;
    let answer = line.trim_end_matches(['\n', '\r']);
    Ok(match p.confirm {
        Confirm::Yes => {
            Confirmation { yes: matches!(answer.trim(), "y" | "Y" | "yes" | "YES"), typed: None, batch: false }
        }
        Confirm::Type => Confirmation { yes: true, typed: Some(answer.to_owned()), batch: false },
    })
}

/// Runs a confirmed step with its output on stdout; Ctrl-C cancels it. Ok(exit code) when it
/// ran (or was shown), Err(exit code) when refused.
async fn execute(rb: &Runbook, p: &Prepared, c: &Confirmation, ctx: &Context) -> Result<i32, i32> {
    let mut stdout = std::io::stdout();
    let mut on_output = |s: &str| {
        let _ = stdout.write_all(s.as_bytes());
        let _ = stdout.flush();
    };
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match exec::execute(rb, p, c, ctx, &mut on_output, cancel).await {
        Err(r) => {
            eprintln!("nightwatch: {r}");
            Err(EXIT_REFUSED)
        }
        Ok(Done::WouldRun(p)) => {
            eprintln!("dry run: would run {} (nothing ran)", p.display());
            Ok(0)
        }
        Ok(Done::Ran { outcome, passed, run }) => {
            let out = &outcome.output;
            let truncated = if out.truncated() {
                format!("; output truncated: {} bytes, {} kept", out.total, out.kept_bytes())
            } else {
                String::new()
            };
            eprintln!(
                "{}: {} in {:.1}s (run {run}){truncated}",
                if passed { "passed" } else { "failed" },
                outcome.status.describe(),
                outcome.duration.as_secs_f64()
            );
            Ok(if passed { 0 } else { EXIT_FAILED })
        }
    }
}

/// Polls the config's sources until the condition holds or its time is up, and records the
/// result in the audit log.
async fn verify_signal(mut config: Config, check: &SignalCheck, a: &RunArgs, ctx: &Context, p: &Prepared) -> i32 {
    if ctx.profile == Profile::Sim
        && let Err(e) = crate::sim::embedded::attach(&mut config, &a.fleet.addr)
    {
        eprintln!("verify: {e}");
        return EXIT_FAILED;
    }
    let (k, signal, threshold) = match check.condition.resolve(&config) {
        Ok((k, s, t)) => (k, s.clone(), t),
        Err(e) => {
            eprintln!("verify: {e}");
            return EXIT_FAILED;
        }
    };
    eprintln!("verify: waiting up to {} for {}", crate::config::units::format_duration(check.within), check.condition);
    let started = Instant::now();
    let mut last = Answer::Unknown;
    let passed = loop {
        let snap = crate::commands::eval::evaluate_once(&config).await;
        if let Some(o) = snap.outcomes.get(k) {
            last = check.condition.judge(threshold, &condition::readings(o));
        }
        let holds = matches!(last, Answer::Known { holds: true, .. });
        eprintln!("verify: {} — {}", check.condition, condition::describe(&last, &signal));
        if holds {
            break true;
        }
        if started.elapsed() >= check.within {
            break false;
        }
        tokio::time::sleep(Duration::from_secs(2).min(check.within.saturating_sub(started.elapsed()))).await;
    };
    let after = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let answer = condition::describe(&last, &signal);
    let m = exec::verified_record(p, &check.condition, &answer, passed, after, ctx.incident.as_deref());
    if let Err(e) = ctx.audit.append(m) {
        eprintln!("nightwatch: the verification could not be recorded: {e}");
    }
    if passed {
        eprintln!("verified after {:.0}s", started.elapsed().as_secs_f64());
        0
    } else {
        eprintln!("NOT verified within {}", crate::config::units::format_duration(check.within));
        EXIT_FAILED
    }
}
