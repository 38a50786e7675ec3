//! The runbook pane through `update`: open, move, confirm (default No, typed target), run,
//! verify, and quitting while a step runs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::keys::Key;
use super::state::{Effect, Flags, Msg, State, StepResult, update};
use crate::audit::AuditLog;
use crate::config::{Config, Profile};
use crate::exec::{Context, Mode};
use crate::runbooks::Library;
use crate::series::Labels;
use crate::signals::{Level, Outcome, Reading};

const T: i64 = 1_795_489_200_000;

fn skew(v3: f64, v17: f64) -> Outcome {
    let level = |v: f64| {
        if v > 0.5 {
            Level::Page
        } else if v > 0.1 {
            Level::Warn
        } else {
            Level::Ok
        }
    };
    Outcome::Values {
        readings: vec![
            Reading { labels: Labels::from_pairs([("node", "node-03")]), value: v3, level: level(v3) },
            Reading { labels: Labels::from_pairs([("node", "node-17")]), value: v17, level: level(v17) },
        ],
        warming_up: false,
    }
}

/// The built-in config and runbooks, clock-skew paging on node-03, the executor in a scratch dir.
fn state(flags: Flags) -> State {
    let config = Config::from_texts(None).expect("defaults");
    let mut s = State::new(config, flags, T);
    s.library = Library::load(None);
    let mut builtins = BTreeMap::new();
    builtins.insert("sim".to_owned(), "127.0.0.1:1".to_owned());
    s.exec = Some(Context {
        mode: super::state::exec_mode(&s.flags),
        profile: Profile::Sim,
        default_timeout: Duration::from_secs(30),
        output_cap: 64 << 10,
        audit: AuditLog::new("/nonexistent/audit.jsonl"),
        builtins,
        incident: None,
        exe: None,
    });
    let k = s.config.signals.iter().position(|x| x.id == "clock-skew").expect("clock-skew");
    let signal = s.config.signals[k].clone();
    for m in 0..5 {
        s.engine.observe(&signal, &skew(2.1, 0.2), T + m * 30_000);
    }
    s.outcomes[k] = Some(skew(2.1, 0.2));
    s
}

fn press(s: &mut State, k: Key) -> Vec<Effect> {
    update(s, Msg::Key(k))
}

fn type_text(s: &mut State, text: &str) {
    for c in text.chars() {
        press(s, Key::Char(c));
    }
}

fn open(s: &mut State) {
    press(s, Key::Tab);
    press(s, Key::Enter);
}

#[test]
fn enter_on_an_alert_opens_its_runbook_on_the_live_path() {
    let mut s = state(Flags::default());
    open(&mut s);
    let pane = s.pane.as_ref().expect("pane open");
    assert_eq!(pane.runbook.as_deref(), Some("clock-skew"));
    assert_eq!(pane.values.get("node").map(String::as_str), Some("node-03"), "values from the alert's labels");
    let (yes, text) = s.decision_answer("High").expect("bound");
    assert_eq!((yes, text.as_str()), (Some(true), "yes: 2.1s on node-03 (worst of 2)"));
    assert_eq!(s.live_path(), ["Start", "Check", "High", "Sync", "Verify"]);
    // The selection starts on the first step of the live path: Check (its diagnose step).
    let lines = super::pane::lines(s.pane_runbook().and_then(|r| r.flowchart.as_ref()));
    assert_eq!(lines[s.pane.as_ref().expect("pane").sel].node, "Check");
    press(&mut s, Key::Char('j'));
    press(&mut s, Key::Char('j'));
    assert_eq!(lines[s.pane.as_ref().expect("pane").sel].node, "Sync");
    press(&mut s, Key::Esc);
    assert!(s.pane.is_none() && s.detail.is_none());
}

#[test]
fn a_dangerous_step_asks_for_the_target_by_name_and_defaults_to_no() {
    let mut s = state(Flags::default());
    open(&mut s);
    press(&mut s, Key::Char('j'));
    press(&mut s, Key::Char('j'));
    assert!(press(&mut s, Key::Char('x')).is_empty());
    let cb = s.pane.as_ref().and_then(|p| p.confirm.as_ref()).expect("confirmation open");
    assert_eq!(cb.prepared.step, "ntp-sync");
    assert_eq!(
        cb.prepared.argv,
        ["nightwatch", "sim", "ctl", "--sim", "127.0.0.1:1", "ntp-sync", "--nodes", "node-03"]
    );
    // Esc: nothing ran.
    assert!(press(&mut s, Key::Esc).is_empty());
    assert!(s.running.is_none());
    assert!(s.step_log.tail(1)[0].contains("not confirmed"));
    // Typed wrong: the executor will refuse; here the typed text goes through as typed.
    press(&mut s, Key::Enter);
    type_text(&mut s, "node-03");
    let effects = press(&mut s, Key::Enter);
    let Some(Effect::RunStep { prepared, confirmation }) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(prepared.target, "node-03");
    assert_eq!(confirmation.typed.as_deref(), Some("node-03"));
    assert!(s.running.is_some());
    // While it runs, another step is not started.
    press(&mut s, Key::Char('k'));
    press(&mut s, Key::Char('x'));
    assert!(s.pane.as_ref().is_some_and(|p| p.confirm.is_none()));
}

#[test]
fn a_yes_no_step_runs_only_on_y() {
    let mut s = state(Flags::default());
    open(&mut s);
    // Check: the diagnose step (confirm y/N).
    press(&mut s, Key::Enter);
    assert!(press(&mut s, Key::Enter).is_empty(), "Enter answers No");
    assert!(s.running.is_none());
    press(&mut s, Key::Enter);
    let effects = press(&mut s, Key::Char('y'));
    assert!(matches!(effects.first(), Some(Effect::RunStep { .. })), "{effects:?}");
}

#[test]
fn read_only_offers_no_steps() {
    let mut s = state(Flags { read_only: true, ..Flags::default() });
    open(&mut s);
    press(&mut s, Key::Enter);
    assert!(s.pane.as_ref().is_some_and(|p| p.confirm.is_none()));
    assert!(s.flash.as_ref().is_some_and(|(m, _)| m.contains("read-only")));
}

#[test]
fn a_recover_step_is_verified_by_its_signal_and_the_result_audited() {
    let mut s = state(Flags::default());
    open(&mut s);
    press(&mut s, Key::Char('j'));
    press(&mut s, Key::Char('j'));
    press(&mut s, Key::Enter);
    type_text(&mut s, "node-03");
    let effects = press(&mut s, Key::Enter);
    let Some(Effect::RunStep { prepared, .. }) = effects.first().cloned() else { panic!() };
    update(&mut s, Msg::StepOutput("stepped the clocks of node-03\n".into()));
    let done = StepResult { status: "exit 0".into(), passed: true, run: Some("r1".into()), truncated: None };
    update(&mut s, Msg::StepDone { prepared, result: Ok(done) });
    assert!(s.running.is_none());
    let v = s.verifying.as_ref().expect("verification started");
    assert_eq!(v.condition.to_string(), "clock-skew < 100ms");
    // Still skewed: no verdict yet.
    let k = s.config.signals.iter().position(|x| x.id == "clock-skew").expect("signal");
    update(&mut s, Msg::Tick(T + 60_000));
    assert_eq!(s.verifying.as_ref().and_then(|v| v.result), None);
    // The clocks come back (between two evaluations): verified, and recorded.
    s.outcomes[k] = Some(skew(0.004, 0.002));
    let effects = update(&mut s, Msg::Tick(T + 60_100));
    assert_eq!(s.verifying.as_ref().and_then(|v| v.result), Some(true), "{:?}", s.step_log.tail(5));
    let audit = effects.iter().find_map(|e| match e {
        Effect::Audit(m) => m.iter().find(|r| r["kind"] == "step-verified"),
        _ => None,
    });
    let audit = audit.expect("an audit record");
    assert_eq!(audit["kind"], "step-verified");
    assert_eq!(audit["passed"], true);
    // Past the deadline nothing changes any more.
    assert!(update(&mut s, Msg::Tick(T + 500_000)).iter().all(|e| !matches!(e, Effect::Audit(_))));
    let log = s.step_log.tail(10).join("\n");
    assert!(log.contains("stepped the clocks of node-03") && log.contains("verified: clock-skew < 100ms"), "{log}");
}

#[test]
fn quitting_while_a_step_runs_asks_then_cancels_and_waits_for_its_record() {
    let mut s = state(Flags::default());
    open(&mut s);
    press(&mut s, Key::Enter);
    let effects = press(&mut s, Key::Char('y'));
    let Some(Effect::RunStep { prepared, .. }) = effects.first().cloned() else { panic!() };
    assert!(press(&mut s, Key::Char('q')).is_empty(), "asks first");
    assert!(s.quit_confirm);
    assert!(press(&mut s, Key::Char('n')).is_empty(), "No keeps it running");
    assert!(!s.quit_confirm && s.running.is_some());
    press(&mut s, Key::Char('q'));
    assert_eq!(press(&mut s, Key::Char('y')), vec![Effect::CancelStep]);
    let done = StepResult {
        status: "cancelled (process group killed)".into(),
        passed: false,
        run: Some("r".into()),
        truncated: None,
    };
    assert_eq!(update(&mut s, Msg::StepDone { prepared, result: Ok(done) }), vec![Effect::Quit]);
}

#[test]
fn a_hang_up_while_a_step_runs_cancels_it_first() {
    let mut s = state(Flags::default());
    open(&mut s);
    press(&mut s, Key::Enter);
    press(&mut s, Key::Char('y'));
    assert_eq!(update(&mut s, Msg::Stop("SIGHUP".into())), vec![Effect::CancelStep]);
    assert_eq!(update(&mut s, Msg::Stop("SIGHUP".into())), vec![Effect::Quit], "a second stop does not wait");
}

#[test]
fn dry_run_says_so_in_the_confirmation() {
    let mut s = state(Flags { dry_run: true, ..Flags::default() });
    assert_eq!(s.exec.as_ref().map(|c| c.mode), Some(Mode::DryRun));
    open(&mut s);
    press(&mut s, Key::Enter);
    let vm = crate::ui::build(&s);
    let c = vm.detail.and_then(|d| d.confirm).expect("confirm view");
    assert!(c.mode.is_some_and(|m| m.contains("DRY-RUN")));
}

fn audit_kinds(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(records) => Some(records.iter().map(|r| r["kind"].as_str().unwrap_or("").to_owned())),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn acks_silences_opened_runbooks_and_alert_transitions_are_audited() {
    let mut s = state(Flags { user: "ana".into(), ..Flags::default() });
    press(&mut s, Key::Tab);
    assert_eq!(audit_kinds(&press(&mut s, Key::Enter)), ["runbook-opened"]);
    assert_eq!(audit_kinds(&press(&mut s, Key::Char('a'))), ["ack"]);
    press(&mut s, Key::Char('s'));
    type_text(&mut s, "1h waiting on NTP");
    assert_eq!(audit_kinds(&press(&mut s, Key::Enter)), ["silence"]);
    // A new alert firing (for = 2m of PAGE) is recorded; pending is not.
    let k = s.config.signals.iter().position(|x| x.id == "timeout-ratio").expect("signal");
    let high = Outcome::Values {
        readings: vec![Reading {
            labels: Labels::from_pairs([("envoy_cluster_name", "service-b")]),
            value: 0.5,
            level: Level::Page,
        }],
        warming_up: false,
    };
    let mut kinds = Vec::new();
    let mut opened = Vec::new();
    for m in 0..6 {
        let mut effects = Vec::new();
        s.judged_for_test(k, high.clone(), T + m * 60_000, &mut effects);
        kinds.extend(audit_kinds(&effects));
        opened.extend(effects.into_iter().filter_map(|e| match e {
            Effect::OpenIncident { record, prefix } => Some((record, prefix)),
            _ => None,
        }));
    }
    // The page opened an incident: its alert record waits for the incident's id, then carries it.
    assert!(kinds.is_empty(), "held until the incident has its id: {kinds:?}");
    assert_eq!(opened.len(), 1, "one incident");
    assert_eq!(opened[0].0["kind"], "incident-opened");
    assert_eq!(opened[0].1, "ASYNC");
    let effects = update(&mut s, Msg::IncidentOpened { id: "ASYNC-2026-003".into(), problem: None });
    let released: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Audit(r) => Some(r.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!released.is_empty() && released.iter().all(|r| r["kind"] == "alert" && r["incident"] == "ASYNC-2026-003"));
    assert_eq!(
        s.exec.as_ref().and_then(|c| c.incident.as_deref()),
        Some("ASYNC-2026-003"),
        "steps are recorded under it"
    );
    // From now on, records carry the id at once; `:incident` commands are recorded too.
    press(&mut s, Key::Char(':'));
    type_text(&mut s, "incident severity p1");
    let effects = press(&mut s, Key::Enter);
    let rec = effects
        .iter()
        .find_map(|e| match e {
            Effect::Audit(r) => r.first().cloned(),
            _ => None,
        })
        .expect("recorded");
    assert_eq!((rec["kind"].as_str(), rec["severity"].as_str()), (Some("incident-updated"), Some("P1")));
    assert_eq!(rec["incident"], "ASYNC-2026-003");
    press(&mut s, Key::Char(':'));
    type_text(&mut s, "incident copy status");
    let effects = press(&mut s, Key::Enter);
    let copied = effects.iter().find_map(|e| match e {
        Effect::Clipboard(t) => Some(t.clone()),
        _ => None,
    });
    assert!(
        copied.as_deref().is_some_and(|t| t.contains("Incident ID: ASYNC-2026-003") && t.contains("STATUS UPDATE"))
    );
    press(&mut s, Key::Char(':'));
    type_text(&mut s, "incident close NTP fixed");
    let effects = press(&mut s, Key::Enter);
    assert_eq!(audit_kinds(&effects), ["incident-closed"]);
    assert!(s.incidents.current.is_none());
    assert_eq!(s.exec.as_ref().and_then(|c| c.incident.as_deref()), None, "later steps are not");
}

#[test]
fn a_value_the_alert_does_not_carry_is_asked_for_and_checked() {
    let mut s = state(Flags::default());
    let k = s.config.signals.iter().position(|x| x.id == "timeout-budget").expect("signal");
    let signal = s.config.signals[k].clone();
    let over = Outcome::Values {
        readings: vec![Reading {
            labels: Labels::from_pairs([("envoy_cluster_name", "service-b")]),
            value: 2.0,
            level: Level::Page,
        }],
        warming_up: false,
    };
    for m in 0..5 {
        s.engine.observe(&signal, &over, T + 200_000 + m * 60_000);
    }
    update(&mut s, Msg::Key(Key::Char('/')));
    type_text(&mut s, "timeout-budget");
    press(&mut s, Key::Enter);
    open(&mut s);
    assert_eq!(s.pane.as_ref().and_then(|p| p.runbook.as_deref()), Some("timeout-storm"));
    let lines = super::pane::lines(s.pane_runbook().and_then(|r| r.flowchart.as_ref()));
    let at = lines.iter().position(|l| l.node == "Budget").expect("the budget node");
    press(&mut s, Key::Char('g'));
    for _ in 0..at {
        press(&mut s, Key::Char('j'));
    }
    press(&mut s, Key::Char('x'));
    let p = s.prompt.as_ref().expect("a value prompt");
    assert!(matches!(&p.kind, super::state::PromptKind::Value { name, .. } if name == "budget"), "{p:?}");
    type_text(&mut s, "2s; reboot");
    press(&mut s, Key::Enter);
    let err = s.prompt.as_ref().and_then(|p| p.error.clone()).expect("refused in the prompt");
    assert!(err.contains("(ms|s)"), "{err}");
    for _ in 0.."; reboot".len() {
        press(&mut s, Key::Backspace);
    }
    press(&mut s, Key::Enter);
    assert!(s.prompt.is_none());
    let cb = s.pane.as_ref().and_then(|p| p.confirm.as_ref()).expect("now the confirmation");
    assert_eq!(cb.prepared.argv[cb.prepared.argv.len() - 4..], ["--hop", "service-b", "--set", "2s"]);
}
