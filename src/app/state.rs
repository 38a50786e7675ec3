//! The cockpit's state and `update`, the only code that changes it. `update` does no I/O: what
//! must happen outside (quit, ring the bell, query a server) it returns as effects.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::keys::{Action, Key, KeyMap};
use super::pane::{self, ConfirmBox, Pane, Running, StepLog, Verifying};
use crate::alerts::{Engine, Severity, TransitionKind};
use crate::audit::event as record;
use crate::config::{Config, Evaluation};
use crate::exec::{self, Confirmation, Context, Mode, Prepared};
use crate::intake::health::{ScrapeDone, TargetHealth, apply_scrape};
use crate::intake::scheduler::{IntakeMsg, Target};
use crate::runbooks::Library;
use crate::runbooks::condition::{self, Answer};
use crate::runbooks::file::{Bound, Confirm, Verify};
use crate::series::Store;
use crate::signals::promql::Value;
use crate::signals::{Outcome, evaluate_local, judge};

/// How many history points each signal keeps (one per `HISTORY_STEP_MS`).
pub const HISTORY_POINTS: usize = 90;
/// History is sampled every 10 s: 90 points are 15 minutes, and a sparkline moves once per
/// 10 s rather than every second (bytes over a slow link).
pub const HISTORY_STEP_MS: i64 = 10_000;
/// How long a message in the footer stays.
const FLASH_MS: i64 = 5_000;

/// Everything that happens to the cockpit.
#[derive(Debug)]
pub enum Msg {
    Key(Key),
    Resize(u16, u16),
    Intake(IntakeMsg),
    /// The answer of a signal evaluated by a server (judged against its thresholds here).
    Queried {
        signal: usize,
        at_ms: i64,
        value: Result<Value, String>,
    },
    /// The wall clock (sent every second, and after other messages).
    Tick(i64),
    /// The terminal is gone (EOF or an error on input) or a signal asked us to stop.
    Stop(String),
    /// Output of the running step (escaped, within the executor's bound).
    StepOutput(String),
    /// The running step ended, or was refused by the executor.
    StepDone {
        prepared: Prepared,
        result: Result<StepResult, String>,
    },
    /// A drill's fault went in (with the fleet's id for it), or could not.
    DrillInjected {
        fault: usize,
        result: Result<Option<u32>, String>,
    },
    /// The audit log's writer gave the open incident its id; `problem` says why the id is only
    /// this process's own (the log could not be written).
    IncidentOpened {
        id: String,
        problem: Option<String>,
    },
}

/// How a step ended, as the pane shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct StepResult {
    /// `exit 0`, `timed out (process group killed)`, …; for a dry run, what would have run.
    pub status: String,
    pub passed: bool,
    /// The audit run id; None for a dry run.
    pub run: Option<String>,
    /// Output bytes in all and kept, when it was truncated.
    pub truncated: Option<(u64, usize)>,
}

/// What `update` asks the event loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Quit,
    Bell,
    /// Evaluate signal `signal` on its server at `at_ms`; the answer comes back as `Queried`.
    Query {
        signal: usize,
        at_ms: i64,
    },
    /// Run a confirmed step through the executor; output comes back as `StepOutput`, the end
    /// as `StepDone`.
    RunStep {
        prepared: Prepared,
        confirmation: Confirmation,
    },
    /// Cancel the running step (its process group is killed; `StepDone` follows).
    CancelStep,
    /// Append records to the audit log (one lock, one sync).
    Audit(Vec<serde_json::Map<String, serde_json::Value>>),
    /// Inject fault `fault` of the drill; the answer comes back as `DrillInjected`.
    DrillInject {
        fault: usize,
        injector: crate::drill::file::Injector,
    },
    /// Heal what the drill injected: these fleet faults, and these live heal commands.
    DrillHeal {
        ids: Vec<u32>,
        live: Vec<Vec<String>>,
    },
    /// Write the scorecard (Markdown and JSON).
    DrillReport(Box<crate::drill::Scorecard>),
    /// Write an `incident-opened` record with the next free id for `prefix` (chosen under the
    /// log's lock); the id comes back as `IncidentOpened`.
    OpenIncident {
        record: serde_json::Map<String, serde_json::Value>,
        prefix: String,
    },
    /// Put text on the clipboard of the terminal the operator sits at (OSC 52, over SSH too).
    Clipboard(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Panels,
    Alerts,
}

/// What a line of input at the bottom of the screen is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptKind {
    /// `/`: filters as you type.
    Filter,
    /// `s`: "DURATION COMMENT" for the alert.
    Silence { alert: u64 },
    /// `:`: a command.
    Command,
    /// A template value a step needs that the alert's labels do not carry.
    Value { name: String, pattern: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// Why the last submission was refused.
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Dashboard,
    Targets,
}

/// Flags from the command line and where the data comes from.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub read_only: bool,
    pub dry_run: bool,
    /// Watching the built-in simulated fleet.
    pub demo: bool,
    pub bell: bool,
    /// Who acks (for the alert's ack record).
    pub user: String,
}

pub struct State {
    pub config: Config,
    pub flags: Flags,
    pub keys: KeyMap,
    pub store: Store,
    pub targets: HashMap<u64, Target>,
    pub health: BTreeMap<u64, TargetHealth>,
    pub source_problems: BTreeMap<usize, String>,
    /// One per signal, in config order; `None` before the first evaluation.
    pub outcomes: Vec<Option<Outcome>>,
    /// Per signal: the worst value at each history step (NaN where there was none).
    pub history: Vec<VecDeque<f64>>,
    last_history_ms: Option<i64>,
    pub engine: Engine,
    pub now_ms: i64,
    pub started_ms: i64,
    pub last_eval_ms: Option<i64>,
    pub last_poll_ms: Option<i64>,
    pub view: View,
    pub focus: Focus,
    pub panel_sel: usize,
    pub alert_sel: usize,
    pub target_sel: usize,
    /// The alert whose details are open.
    pub detail: Option<u64>,
    pub help: bool,
    /// The time the display was frozen at; the view model is built as of then.
    pub frozen_at: Option<i64>,
    pub flash: Option<(String, i64)>,
    /// A line being typed (filter, silence, command).
    pub prompt: Option<Prompt>,
    /// Alerts and targets shown only where this text appears (case-insensitive).
    pub filter: String,
    /// Something on screen changed since the last draw.
    pub dirty: bool,
    pub notes: Vec<String>,
    /// The runbooks the pane opens.
    pub library: Library,
    /// How steps run; None where they cannot (no executor set up).
    pub exec: Option<Context>,
    /// The runbook pane (open while `detail` is set).
    pub pane: Option<Pane>,
    pub running: Option<Running>,
    pub verifying: Option<Verifying>,
    /// What ran in this session, with its output: shown in the pane.
    pub step_log: StepLog,
    /// "A step is running: quit and cancel it?" is being asked.
    pub quit_confirm: bool,
    /// Quit once the running step has ended (it was cancelled).
    quitting: bool,
    /// Audit records made while handling a message (acks, silences, runbooks opened), sent
    /// as one effect when it is done.
    pub(super) pending_audit: Vec<serde_json::Map<String, serde_json::Value>>,
    /// A graded drill, when the cockpit runs one (`nightwatch drill run`).
    pub drill: Option<super::drill::DrillRun>,
    /// The open incident, and when incidents open and close.
    pub incidents: crate::incident::Tracker,
}

impl State {
    pub fn new(config: Config, flags: Flags, now_ms: i64) -> State {
        let n = config.signals.len();
        let store = Store::with_retention(config.retention_policy(), config.cockpit.max_series);
        let history_ms = i64::try_from(config.cockpit.history.as_millis()).unwrap_or(i64::MAX);
        let engine = Engine::new(config.cockpit.max_alerts_per_signal, history_ms);
        let keys = KeyMap::with_overrides(&config.cockpit.keys);
        let incidents = crate::incident::Tracker::new(config.incidents.clone(), false);
        State {
            incidents,
            config,
            flags,
            keys,
            store,
            targets: HashMap::new(),
            health: BTreeMap::new(),
            source_problems: BTreeMap::new(),
            outcomes: vec![None; n],
            history: vec![VecDeque::with_capacity(HISTORY_POINTS); n],
            last_history_ms: None,
            engine,
            now_ms,
            started_ms: now_ms,
            last_eval_ms: None,
            last_poll_ms: None,
            view: View::Dashboard,
            focus: Focus::Panels,
            panel_sel: 0,
            alert_sel: 0,
            target_sel: 0,
            detail: None,
            help: false,
            frozen_at: None,
            flash: None,
            prompt: None,
            filter: String::new(),
            dirty: true,
            notes: Vec::new(),
            library: Library::default(),
            exec: None,
            pane: None,
            running: None,
            verifying: None,
            step_log: StepLog::default(),
            quit_confirm: false,
            quitting: false,
            pending_audit: Vec::new(),
            drill: None,
        }
    }

    /// The pane's runbook, if it has one that loaded.
    pub fn pane_runbook(&self) -> Option<&crate::runbooks::Runbook> {
        self.library.get(self.pane.as_ref()?.runbook.as_deref()?)
    }

    /// Opens the runbook pane for an alert.
    fn open_pane(&mut self, alert: u64) {
        let Some(a) = self.engine.alert(alert) else {
            self.flash("that alert is gone");
            return;
        };
        let configured = self.config.signals.iter().find(|s| s.id == a.signal).and_then(|s| s.runbook.clone());
        let runbook = self.library.for_signal(&a.signal, configured.as_deref()).map(|r| r.id.clone());
        let mut values: BTreeMap<String, String> = a.labels.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        // Envoy names the hop a service's calls go to `envoy_cluster_name`; steps call it
        // `service` or `hop`.
        if let Some(c) = a.labels.get("envoy_cluster_name") {
            values.entry("service".into()).or_insert_with(|| c.to_owned());
            values.entry("hop".into()).or_insert_with(|| c.to_owned());
        }
        self.detail = Some(alert);
        if let Some(id) = &runbook {
            self.pending_audit.push(record(
                "runbook-opened",
                &[("runbook", id.clone().into()), ("alert", alert.into()), ("signal", a.signal.clone().into())],
            ));
            self.drill_opened(id);
        }
        self.pane = Some(Pane { runbook, values, sel: 0, confirm: None });
        // Start on the first step of the live path, where the operator most likely acts.
        let lines = pane::lines(self.pane_runbook().and_then(|r| r.flowchart.as_ref()));
        let live = self.live_path();
        let first = lines.iter().position(|l| {
            !l.again
                && live.contains(&l.node)
                && matches!(self.pane_runbook().and_then(|r| r.binding(&l.node)), Some(Bound::Step(_)))
        });
        if let Some(p) = self.pane.as_mut() {
            p.sel = first.unwrap_or(0);
        }
    }

    /// A decision's answer now: Some((yes, how it reads)) when it is bound and has data.
    pub fn decision_answer(&self, node: &str) -> Option<(Option<bool>, String)> {
        let rb = self.pane_runbook()?;
        let Some(Bound::Condition(c)) = rb.binding(node) else { return None };
        let Ok((k, signal, threshold)) = c.resolve(&self.config) else {
            return Some((None, format!("cannot ask {c}: not in this config")));
        };
        let readings = self.outcomes[k].as_ref().map(condition::readings).unwrap_or_default();
        let answer = c.judge(threshold, &readings);
        let yes = match answer {
            Answer::Known { holds, .. } => Some(holds),
            Answer::Unknown => None,
        };
        Some((yes, condition::describe(&answer, signal)))
    }

    /// The pane's live path (node ids).
    pub fn live_path(&self) -> Vec<String> {
        let Some(f) = self.pane_runbook().and_then(|r| r.flowchart.as_ref()) else { return Vec::new() };
        pane::live_path(f, &|node| self.decision_answer(node).and_then(|(yes, _)| yes))
    }

    /// Enter or `x` in the pane: prepare the selected node's step and ask for confirmation.
    fn run_selected(&mut self) {
        if self.flags.read_only {
            self.flash("read-only: steps are hidden and refused");
            return;
        }
        if let Some(r) = &self.running {
            self.flash(format!("{} is running: wait for it, or q to cancel it", r.prepared.step));
            return;
        }
        let Some(pane) = &self.pane else { return };
        let Some(rb) = self.pane_runbook() else {
            self.flash("no runbook answers this alert");
            return;
        };
        let lines = pane::lines(rb.flowchart.as_ref());
        let Some(line) = lines.get(pane.sel) else { return };
        let Some(Bound::Step(step)) = rb.binding(&line.node) else {
            self.flash("this node has no step to run (move to a ▸ step)");
            return;
        };
        let Some(ctx) = &self.exec else {
            self.flash("steps cannot run here");
            return;
        };
        // A value the alert's labels do not carry is asked for (and checked as it is given).
        if let Some(st) = rb.step(step, ctx.profile) {
            let missing = st
                .template
                .value_names()
                .into_iter()
                .find(|n| !crate::runbooks::file::BUILTIN_VALUES.contains(n) && !pane.values.contains_key(*n));
            if let Some(name) = missing {
                let pattern = st.patterns.get(name).map_or_else(String::new, |p| p.source.clone());
                self.open_prompt(PromptKind::Value { name: name.to_owned(), pattern }, "");
                return;
            }
        }
        match exec::prepare(rb, step, &pane.values, ctx) {
            Ok(p) => {
                if let Some(pane) = self.pane.as_mut() {
                    pane.confirm = Some(ConfirmBox { prepared: p, typed: String::new() });
                }
            }
            Err(r) => {
                let msg = format!("{r} (from the alert's labels)");
                self.step_log.note(msg.clone());
                self.flash(msg);
            }
        }
    }

    /// A value typed for the selected step: checked against the step's pattern now, then the
    /// step goes on to its confirmation (or the next missing value).
    fn supply_value(&mut self, name: &str, text: &str) -> Result<(), String> {
        let value = text.trim().to_owned();
        let profile = self.exec.as_ref().map(|c| c.profile);
        let step = self.pane_runbook().and_then(|rb| {
            let lines = pane::lines(rb.flowchart.as_ref());
            let node = &lines.get(self.pane.as_ref()?.sel)?.node;
            match rb.binding(node) {
                Some(Bound::Step(id)) => rb.step(id, profile?).cloned(),
                _ => None,
            }
        });
        let Some(step) = step else { return Err("the step is gone".into()) };
        exec::check_value(name, &value, &step).map_err(|r| r.0)?;
        if let Some(p) = self.pane.as_mut() {
            p.values.insert(name.to_owned(), value);
        }
        self.prompt = None;
        self.run_selected();
        Ok(())
    }

    /// Keys while the confirmation box is open: default No.
    fn confirm_key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        let Some(pane) = self.pane.as_mut() else { return };
        let Some(cb) = pane.confirm.as_mut() else { return };
        self.dirty = true;
        let answer = match (cb.prepared.confirm, key) {
            (_, Key::Ctrl('c')) => {
                pane.confirm = None;
                return self.ask_quit(effects);
            }
            (_, Key::Esc) => Some(false),
            (Confirm::Yes, Key::Char('y' | 'Y')) => Some(true),
            (Confirm::Yes, Key::Char('n' | 'N') | Key::Enter) => Some(false),
            (Confirm::Type, Key::Enter) => Some(true),
            (Confirm::Type, Key::Backspace) => {
                cb.typed.pop();
                None
            }
            (Confirm::Type, Key::Char(c)) if !c.is_control() && cb.typed.chars().count() < 256 => {
                cb.typed.push(c);
                None
            }
            _ => None,
        };
        let Some(yes) = answer else { return };
        let Some(cb) = pane.confirm.take() else { return };
        if !yes {
            self.step_log.note(format!("{}: not confirmed, nothing ran", cb.prepared.step));
            return;
        }
        let typed = (cb.prepared.confirm == Confirm::Type).then_some(cb.typed);
        self.start(cb.prepared, Confirmation { yes: true, typed, batch: false }, effects);
    }

    fn start(&mut self, prepared: Prepared, confirmation: Confirmation, effects: &mut Vec<Effect>) {
        self.step_log.note(format!("$ {}", prepared.display()));
        self.running = Some(Running { prepared: prepared.clone(), started_ms: self.now_ms, cancelling: false });
        effects.push(Effect::RunStep { prepared, confirmation });
    }

    /// Quit, unless a step is running: then ask first.
    fn ask_quit(&mut self, effects: &mut Vec<Effect>) {
        if self.running.is_some() {
            self.quit_confirm = true;
            self.dirty = true;
        } else {
            effects.push(Effect::Quit);
        }
    }

    fn cancel_and_quit(&mut self, effects: &mut Vec<Effect>) {
        self.quitting = true;
        if let Some(r) = self.running.as_mut() {
            r.cancelling = true;
            effects.push(Effect::CancelStep);
        } else {
            effects.push(Effect::Quit);
        }
    }

    fn step_done(&mut self, prepared: Prepared, result: Result<StepResult, String>, effects: &mut Vec<Effect>) {
        self.running = None;
        self.step_log.flush_partial();
        self.dirty = true;
        let (status, passed) = match &result {
            Err(refusal) => {
                self.step_log.note(refusal.clone());
                (refusal.clone(), false)
            }
            Ok(r) => {
                let verdict = if r.run.is_none() {
                    "dry run"
                } else if r.passed {
                    "passed"
                } else {
                    "FAILED"
                };
                let truncated = r
                    .truncated
                    .map_or_else(String::new, |(all, kept)| format!(" (output truncated: {all} bytes, {kept} kept)"));
                self.step_log.note(format!("{}: {verdict}: {}{truncated}", prepared.step, r.status));
                (r.status.clone(), r.passed && r.run.is_some())
            }
        };
        self.drill_step(&prepared.runbook, &prepared.step, status, passed);
        if self.quitting {
            effects.push(Effect::Quit);
            return;
        }
        if !passed || !prepared.mutates() {
            return;
        }
        let Some(rb) = self.library.get(&prepared.runbook) else { return };
        let Some(step) = rb.step(&prepared.step, prepared.profile) else { return };
        match step.verify.clone() {
            None => {}
            Some(Verify::Signal(check)) => match check.condition.resolve(&self.config) {
                Ok((k, _, threshold)) => {
                    let within = i64::try_from(check.within.as_millis()).unwrap_or(i64::MAX);
                    self.step_log.note(format!(
                        "verify: waiting up to {} for {}",
                        crate::config::units::format_duration(check.within),
                        check.condition
                    ));
                    self.verifying = Some(Verifying {
                        prepared: prepared.clone(),
                        condition: check.condition,
                        signal: k,
                        threshold,
                        started_ms: self.now_ms,
                        deadline_ms: self.now_ms.saturating_add(within),
                        answer: "waiting for data".into(),
                        result: None,
                    });
                }
                Err(e) => self.step_log.note(format!("verify: {e}")),
            },
            Some(Verify::Step(v)) => {
                let Some(ctx) = &self.exec else { return };
                match exec::prepare(rb, &v, &prepared.values, ctx) {
                    Ok(p) => {
                        self.step_log.note(format!("verify: running step {v}"));
                        let c = Confirmation { yes: true, typed: Some(p.target.clone()), batch: false };
                        self.start(p, c, effects);
                    }
                    Err(r) => self.step_log.note(format!("verify: {r}")),
                }
            }
        }
    }

    /// Judges a pending verification against the latest evaluation.
    fn check_verification(&mut self) {
        let Some(v) = self.verifying.as_mut() else { return };
        if v.result.is_some() {
            return;
        }
        let Some(signal) = self.config.signals.get(v.signal) else { return };
        let readings = self.outcomes[v.signal].as_ref().map(condition::readings).unwrap_or_default();
        let answer = v.condition.judge(v.threshold, &readings);
        v.answer = condition::describe(&answer, signal);
        let holds = matches!(answer, Answer::Known { holds: true, .. });
        let timed_out = self.now_ms >= v.deadline_ms;
        if !holds && !timed_out {
            return;
        }
        v.result = Some(holds);
        let after = (self.now_ms - v.started_ms).max(0);
        let line = if holds {
            format!("verified: {} ({}) after {}s", v.condition, v.answer, after / 1000)
        } else {
            format!("NOT verified: {} ({}) within {}s", v.condition, v.answer, after / 1000)
        };
        let incident = self.exec.as_ref().and_then(|c| c.incident.clone());
        let m = exec::verified_record(
            &v.prepared,
            &v.condition,
            &v.answer,
            holds,
            u64::try_from(after).unwrap_or(0),
            incident.as_deref(),
        );
        self.pending_audit.push(m);
        self.step_log.note(line.clone());
        self.flash(line);
    }

    /// The alerts the list shows, in its order: active before resolved, PAGE before WARN,
    /// newest first.
    pub fn listed_alerts(&self) -> Vec<&crate::alerts::Alert> {
        let needle = self.filter.to_lowercase();
        let mut v: Vec<_> = self
            .engine
            .alerts()
            .iter()
            .filter(|a| {
                needle.is_empty()
                    || a.signal.to_lowercase().contains(&needle)
                    || a.labels.to_string().to_lowercase().contains(&needle)
            })
            .collect();
        v.sort_by_key(|a| (!a.is_active(), std::cmp::Reverse(a.severity), std::cmp::Reverse(a.since), a.id));
        v
    }

    /// The targets the targets view shows, under the filter.
    pub fn listed_targets(&self) -> Vec<&TargetHealth> {
        let needle = self.filter.to_lowercase();
        self.health
            .values()
            .filter(|h| {
                needle.is_empty()
                    || h.url.to_lowercase().contains(&needle)
                    || h.source.to_lowercase().contains(&needle)
                    || h.error.as_deref().is_some_and(|e| e.to_lowercase().contains(&needle))
            })
            .collect()
    }

    fn flash(&mut self, msg: impl Into<String>) {
        self.flash = Some((msg.into(), self.now_ms + FLASH_MS));
    }

    fn ingest(&mut self, d: ScrapeDone) {
        let Some(t) = self.targets.get(&d.target) else { return };
        apply_scrape(&d, &t.spec.labels, &mut self.store, self.health.get_mut(&d.target));
        self.last_poll_ms = Some(self.last_poll_ms.map_or(d.started_ms, |p| p.max(d.started_ms)));
    }

    /// Evaluates every local signal now and asks for the server-evaluated ones.
    fn evaluate(&mut self, effects: &mut Vec<Effect>) {
        let t = self.now_ms;
        self.store.gc(t);
        self.engine.expire_silences(t);
        let lookback = i64::try_from(self.config.cockpit.lookback.as_millis()).unwrap_or(i64::MAX);
        for k in 0..self.config.signals.len() {
            match self.config.signals[k].evaluation {
                Evaluation::Local => {
                    let o = evaluate_local(&self.config.signals[k], &self.store, lookback, t);
                    self.judged(k, o, t, effects);
                }
                Evaluation::Server(_) => effects.push(Effect::Query { signal: k, at_ms: t }),
            }
        }
        self.last_eval_ms = Some(t);
        self.check_verification();
        if self.last_history_ms.is_none_or(|h| t.saturating_sub(h) >= HISTORY_STEP_MS) {
            self.last_history_ms = Some(t);
            for (k, s) in self.config.signals.iter().enumerate() {
                let v = self.outcomes[k].as_ref().and_then(|o| o.worst(s.direction)).map_or(f64::NAN, |r| r.value);
                let h = &mut self.history[k];
                if h.len() == HISTORY_POINTS {
                    h.pop_front();
                }
                h.push_back(v);
            }
        }
        self.dirty = true;
    }

    #[cfg(test)]
    pub(crate) fn judged_for_test(&mut self, k: usize, o: Outcome, t: i64, effects: &mut Vec<Effect>) {
        self.judged(k, o, t, effects);
        self.flush_audit(effects);
    }

    fn judged(&mut self, k: usize, o: Outcome, t: i64, effects: &mut Vec<Effect>) {
        let transitions = self.engine.observe(&self.config.signals[k], &o, t);
        // Firing, escalation, de-escalation and resolution go to the audit log (not pending:
        // most pending alerts never fire).
        if let Some(record) = self.incidents.transitions(&transitions, t) {
            self.flush_audit(effects);
            effects.push(Effect::OpenIncident { record, prefix: self.incidents.prefix.clone() });
        }
        self.pending_audit.extend(transitions.iter().filter_map(crate::alerts::Transition::audit_record));
        let new_page = transitions
            .iter()
            .any(|t| matches!(t.kind, TransitionKind::Firing(Severity::Page) | TransitionKind::Escalated));
        if new_page && self.flags.bell && !effects.contains(&Effect::Bell) {
            effects.push(Effect::Bell);
        }
        self.outcomes[k] = Some(o);
    }

    fn key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        if self.quit_confirm {
            self.quit_confirm = false;
            self.dirty = true;
            if matches!(key, Key::Char('y' | 'Y')) {
                self.cancel_and_quit(effects);
            }
            return;
        }
        if self.pane.as_ref().is_some_and(|p| p.confirm.is_some()) {
            self.confirm_key(key, effects);
            return;
        }
        if self.prompt.is_some() {
            self.prompt_key(key, effects);
            return;
        }
        let Some(action) = self.keys.action(key) else { return };
        self.dirty = true;
        // The help overlay takes every key but its own, quit and Esc.
        if self.help && !matches!(action, Action::Help | Action::Back | Action::Quit) {
            return;
        }
        match action {
            Action::Help => self.help = !self.help,
            Action::Quit => self.ask_quit(effects),
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.detail.is_some() {
                    self.detail = None;
                    self.pane = None;
                } else if self.view == View::Targets {
                    self.view = View::Dashboard;
                } else if self.focus == Focus::Alerts {
                    self.focus = Focus::Panels;
                }
            }
            Action::FocusNext | Action::FocusPrev if self.view == View::Dashboard => {
                self.focus = match self.focus {
                    Focus::Panels => Focus::Alerts,
                    Focus::Alerts => Focus::Panels,
                };
            }
            Action::FocusNext | Action::FocusPrev => {}
            Action::Down | Action::Up | Action::Top | Action::Bottom if self.pane.is_some() => {
                let n = pane::lines(self.pane_runbook().and_then(|r| r.flowchart.as_ref())).len();
                if let Some(p) = self.pane.as_mut() {
                    let last = n.saturating_sub(1);
                    p.sel = match action {
                        Action::Down => (p.sel + 1).min(last),
                        Action::Up => p.sel.saturating_sub(1),
                        Action::Top => 0,
                        _ => last,
                    };
                }
            }
            Action::Down | Action::Up | Action::Top | Action::Bottom => self.move_selection(action),
            Action::Open | Action::Run if self.pane.is_some() => self.run_selected(),
            Action::Run => self.flash("open an alert's runbook first (Tab to the alerts, Enter)"),
            Action::Open => {
                if self.view == View::Dashboard && self.focus == Focus::Alerts {
                    match self.listed_alerts().get(self.alert_sel).map(|a| a.id) {
                        Some(id) => self.open_pane(id),
                        None => self.flash("no alert to open"),
                    }
                } else if self.view == View::Dashboard {
                    self.flash("Tab to the alerts list, then Enter opens an alert");
                }
            }
            Action::Ack => self.ack(),
            Action::Freeze => {
                self.frozen_at = match self.frozen_at {
                    Some(_) => None,
                    None => Some(self.now_ms),
                };
            }
            Action::Targets => {
                self.view = if self.view == View::Targets { View::Dashboard } else { View::Targets };
                self.detail = None;
                self.pane = None;
            }
            Action::Silence => match self.selected_alert() {
                Some(alert) => self.open_prompt(PromptKind::Silence { alert }, ""),
                None => self.flash("select an alert to silence (Tab to the alerts list)"),
            },
            Action::Filter => {
                let current = self.filter.clone();
                self.open_prompt(PromptKind::Filter, &current);
            }
            Action::Palette => self.open_prompt(PromptKind::Command, ""),
        }
    }

    fn open_prompt(&mut self, kind: PromptKind, text: &str) {
        self.prompt = Some(Prompt { kind, text: text.to_owned(), error: None });
    }

    /// The alert a command acts on: the open one, else the selected one in the alerts list.
    fn selected_alert(&self) -> Option<u64> {
        match self.detail {
            Some(id) => Some(id),
            None if self.focus == Focus::Alerts && self.view == View::Dashboard => {
                self.listed_alerts().get(self.alert_sel).map(|a| a.id)
            }
            None => None,
        }
    }

    fn prompt_key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        let Some(p) = self.prompt.as_mut() else { return };
        self.dirty = true;
        match key {
            Key::Ctrl('c') => {
                self.prompt = None;
                self.ask_quit(effects);
                return;
            }
            Key::Esc => {
                if p.kind == PromptKind::Filter {
                    self.filter.clear();
                }
                self.prompt = None;
            }
            Key::Backspace => {
                p.text.pop();
                p.error = None;
            }
            Key::Char(c) if p.text.chars().count() < 200 && !c.is_control() => {
                p.text.push(c);
                p.error = None;
            }
            Key::Enter => {
                let (kind, text) = (p.kind.clone(), p.text.clone());
                match self.submit(&kind, &text, effects) {
                    Ok(()) => {
                        if self.prompt.as_ref().is_some_and(|q| q.kind == kind) {
                            self.prompt = None;
                        }
                    }
                    Err(e) => {
                        if let Some(p) = self.prompt.as_mut() {
                            p.error = Some(e);
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        // The filter follows the text as it is typed.
        if let Some(p) = &self.prompt
            && p.kind == PromptKind::Filter
        {
            self.filter = p.text.trim().to_owned();
            self.alert_sel = 0;
            self.target_sel = 0;
        }
    }

    fn submit(&mut self, kind: &PromptKind, text: &str, effects: &mut Vec<Effect>) -> Result<(), String> {
        match kind {
            PromptKind::Filter => {
                self.filter = text.trim().to_owned();
                Ok(())
            }
            PromptKind::Silence { alert } => self.silence(*alert, text),
            PromptKind::Command => self.command(text, effects),
            PromptKind::Value { name, .. } => self.supply_value(name, text),
        }
    }

    /// "DURATION COMMENT": silences the alert's signal and label set.
    fn silence(&mut self, alert: u64, text: &str) -> Result<(), String> {
        let text = text.trim();
        let (dur, comment) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let d = crate::config::units::parse_duration(dur)
            .map_err(|e| format!("{e} (type e.g. \"1h waiting on the PSP\")"))?;
        if comment.trim().is_empty() {
            return Err("a silence needs a comment saying why, after the duration".into());
        }
        let a = self.engine.alert(alert).ok_or_else(|| format!("alert #{alert} is gone"))?;
        let mut matchers =
            vec![promql_parser::label::Matcher::new(promql_parser::label::MatchOp::Equal, "signal", &a.signal)];
        for (k, v) in a.labels.iter() {
            matchers.push(promql_parser::label::Matcher::new(promql_parser::label::MatchOp::Equal, k, v));
        }
        let what = format!("{} {}", a.signal, a.labels);
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let by = self.user();
        self.engine
            .silence(matchers, comment, &by, self.now_ms, self.now_ms.saturating_add(ms))
            .map_err(|e| e.to_string())?;
        self.pending_audit.push(record(
            "silence",
            &[
                ("alert", alert.into()),
                ("what", what.clone().into()),
                ("for_ms", ms.into()),
                ("comment", crate::text::escape_control(comment.trim()).into_owned().into()),
            ],
        ));
        self.flash(format!("silenced {what} for {}", crate::config::units::format_duration(d)));
        Ok(())
    }

    fn user(&self) -> String {
        if self.flags.user.is_empty() { "operator".to_owned() } else { self.flags.user.clone() }
    }

    /// The command palette: the same actions as the keys, by name.
    fn command(&mut self, text: &str, effects: &mut Vec<Effect>) -> Result<(), String> {
        let text = text.trim();
        let (cmd, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        match cmd {
            "q" | "quit" => self.ask_quit(effects),
            "ack" => self.ack(),
            "silence" => {
                let alert = self.selected_alert().ok_or("select an alert first (Tab to the alerts list)")?;
                self.silence(alert, rest)?;
            }
            "filter" => self.filter = rest.trim().to_owned(),
            "targets" => self.view = View::Targets,
            "dashboard" => self.view = View::Dashboard,
            "freeze" => self.frozen_at = Some(self.now_ms),
            "unfreeze" => self.frozen_at = None,
            "help" => self.help = true,
            "drill" if rest.trim() == "abort" => {
                let why = format!("aborted from the cockpit by {}", self.user());
                self.drill_abort(&why, effects)?;
            }
            "scorecard" => self.toggle_scorecard()?,
            "incident" => self.incident_command(rest, effects)?,
            "" => {}
            other => {
                return Err(format!(
                    "unknown command {:?}: ack, silence DURATION COMMENT, filter TEXT, targets, dashboard, freeze, unfreeze, help, quit, drill abort, scorecard, incident …",
                    crate::text::escape_control(other)
                ));
            }
        }
        Ok(())
    }

    fn ack(&mut self) {
        let Some(id) = self.selected_alert() else {
            self.flash("select an alert to acknowledge (Tab to the alerts list)");
            return;
        };
        let user = self.user();
        let msg = match self.engine.ack(id, &user, self.now_ms) {
            Ok(a) => {
                let what = format!("{} {}", a.signal, a.labels);
                let signal = a.signal.clone();
                self.pending_audit.push(record("ack", &[("alert", id.into()), ("what", what.clone().into())]));
                self.drill_acked(&signal);
                format!("acknowledged {what}")
            }
            Err(e) => e,
        };
        self.flash(msg);
    }

    fn move_selection(&mut self, action: Action) {
        let len = match (self.view, self.focus) {
            (View::Targets, _) => self.listed_targets().len(),
            (View::Dashboard, Focus::Alerts) => self.listed_alerts().len(),
            (View::Dashboard, Focus::Panels) => self.config.panel_ids().len(),
        };
        let sel = match (self.view, self.focus) {
            (View::Targets, _) => &mut self.target_sel,
            (View::Dashboard, Focus::Alerts) => &mut self.alert_sel,
            (View::Dashboard, Focus::Panels) => &mut self.panel_sel,
        };
        let last = len.saturating_sub(1);
        *sel = match action {
            Action::Down => (*sel + 1).min(last),
            Action::Up => sel.saturating_sub(1),
            Action::Top => 0,
            _ => last,
        };
    }

    fn intake(&mut self, m: IntakeMsg, effects: &mut Vec<Effect>) {
        match m {
            IntakeMsg::TargetsChanged { source, added, removed } => {
                let name = self.config.sources.get(source).map_or("", |s| s.name.as_str()).to_owned();
                for id in removed {
                    self.targets.remove(&id);
                    self.health.remove(&id);
                    self.store.target_down(id, self.now_ms);
                }
                for t in added {
                    self.health
                        .insert(t.id, TargetHealth::new(t.id, &name, t.spec.url.as_str(), t.spec.labels.clone()));
                    self.targets.insert(t.id, t);
                }
                self.target_sel = self.target_sel.min(self.health.len().saturating_sub(1));
                self.dirty = true;
            }
            IntakeMsg::SourceProblem { source, problem } => {
                match problem {
                    Some(p) => self.source_problems.insert(source, p),
                    None => self.source_problems.remove(&source),
                };
                self.dirty = true;
            }
            IntakeMsg::Scraped(d) => {
                let first_data = self.last_poll_ms.is_none();
                self.ingest(d);
                if self.view == View::Targets {
                    self.dirty = true;
                }
                // The first data in: evaluate now rather than at the next refresh.
                if first_data {
                    self.evaluate(effects);
                }
            }
        }
    }
}

/// The only place state changes.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    match msg {
        Msg::Key(k) => state.key(k, &mut effects),
        // The next frame is drawn at the terminal's new size.
        Msg::Resize(..) => state.dirty = true,
        Msg::Intake(m) => state.intake(m, &mut effects),
        Msg::Queried { signal, at_ms, value } => {
            // An answer older than the last one shown is dropped.
            if let Some(s) = state.config.signals.get(signal)
                && state.last_eval_ms.is_none_or(|t| at_ms >= t)
            {
                let outcome = judge(s, value, false);
                state.judged(signal, outcome, at_ms, &mut effects);
                state.dirty = true;
            }
        }
        Msg::Tick(now) => {
            let second_changed = now / 1000 != state.now_ms / 1000;
            state.now_ms = now;
            let refresh = i64::try_from(state.config.cockpit.refresh.as_millis()).unwrap_or(1000).max(100);
            if state.last_eval_ms.is_none_or(|t| now - t >= refresh) {
                state.evaluate(&mut effects);
            } else {
                // A verification's deadline passes on the clock, not only on new data.
                state.check_verification();
            }
            if state.flash.as_ref().is_some_and(|(_, until)| now >= *until) {
                state.flash = None;
                state.dirty = true;
            }
            if second_changed {
                state.dirty = true;
            }
            state.drill_tick(&mut effects);
            state.incident_tick(&mut effects);
        }
        Msg::Stop(_) => {
            // Nobody can answer a prompt any more: cancel a running step (its outcome is
            // recorded) and quit when it has ended.
            if state.quitting || state.running.is_none() {
                effects.push(Effect::Quit);
            } else {
                state.cancel_and_quit(&mut effects);
            }
        }
        Msg::StepOutput(text) => {
            state.step_log.output(&text);
            state.dirty = true;
        }
        Msg::StepDone { prepared, result } => state.step_done(prepared, result, &mut effects),
        Msg::DrillInjected { fault, result } => {
            state.drill_injected(fault, result, &mut effects);
            state.dirty = true;
        }
        Msg::IncidentOpened { id, problem } => state.incident_opened(&id, problem, &mut effects),
    }
    state.flush_audit(&mut effects);
    effects
}

impl State {
    /// Audit records made outside `update` (the loop ending a drill on quit), stamped with
    /// the open incident.
    pub(super) fn take_pending_audit(&mut self) -> Option<Vec<serde_json::Map<String, serde_json::Value>>> {
        let records = std::mem::take(&mut self.pending_audit);
        let user = self.user();
        let config = &self.config;
        let records = self.incidents.stamp(records, self.now_ms, &user, &|s, v| config.format_value(s, v));
        (!records.is_empty()).then_some(records)
    }

    /// The records made so far go out as one effect, carrying the open incident's id (or held
    /// back until it has one).
    pub(super) fn flush_audit(&mut self, effects: &mut Vec<Effect>) {
        if let Some(records) = self.take_pending_audit() {
            effects.push(Effect::Audit(records));
        }
    }

    /// The incident's id arrived: the records held back go out with it, and steps are
    /// recorded under it.
    fn incident_opened(&mut self, id: &str, problem: Option<String>, effects: &mut Vec<Effect>) {
        let held = self.incidents.assigned(id);
        if !held.is_empty() {
            effects.push(Effect::Audit(held));
        }
        if let Some(c) = self.exec.as_mut() {
            c.incident = Some(id.to_owned());
        }
        let msg = match problem {
            None => format!("incident {id} opened: everything from now on is recorded under it (:incident for more)"),
            Some(p) => format!("incident {id} opened, but the audit log cannot be written: {p}"),
        };
        self.flash(msg);
        self.dirty = true;
    }

    /// A record about the incident itself: what was made before it goes out first, then it.
    fn incident_record(&mut self, record: serde_json::Map<String, serde_json::Value>, effects: &mut Vec<Effect>) {
        let closes = record.get("kind").and_then(serde_json::Value::as_str) == Some("incident-closed");
        self.pending_audit.push(record);
        self.flush_audit(effects);
        if closes {
            let id = self.incidents.id().unwrap_or("the incident").to_owned();
            self.incidents.closed();
            if let Some(c) = self.exec.as_mut() {
                c.incident = None;
            }
            self.flash(format!("{id} closed"));
        }
        self.dirty = true;
    }

    fn incident_tick(&mut self, effects: &mut Vec<Effect>) {
        let engine = &self.engine;
        if let Some(record) = self.incidents.tick(&|a| engine.alert(a).is_some_and(|x| x.is_active()), self.now_ms) {
            self.incident_record(record, effects);
        }
    }

    /// `:incident …`.
    fn incident_command(&mut self, text: &str, effects: &mut Vec<Effect>) -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            let msg = match &self.incidents.current {
                None => "no incident is open (:incident declare TITLE opens one)".to_owned(),
                Some(o) => {
                    let s = &o.summary;
                    format!(
                        "{} {} open {}: {} ({} alerts, {} steps)",
                        o.id().unwrap_or("(id coming)"),
                        s.severity,
                        crate::incident::templates::span(s.duration_ms(self.now_ms).unwrap_or(0)),
                        s.title,
                        s.alerts.len(),
                        s.steps.len()
                    )
                }
            };
            self.flash(msg);
            return Ok(());
        }
        if let Some(kind) = text.strip_prefix("copy") {
            let t = crate::incident::templates::Template::parse(kind.trim())?;
            let o = self.incidents.current.as_ref().ok_or("no incident is open")?;
            let body = crate::incident::templates::render(t, &o.summary, &self.config.cockpit.environment, self.now_ms);
            effects.push(Effect::Clipboard(body));
            self.flash(format!("the {} template is on the clipboard (OSC 52)", kind.trim()));
            return Ok(());
        }
        let cmd = crate::incident::Command::parse(text)?;
        let by = self.user();
        let record = self.incidents.command(cmd, &by, self.now_ms)?;
        if record.get("kind").and_then(serde_json::Value::as_str) == Some("incident-opened") {
            self.flush_audit(effects);
            effects.push(Effect::OpenIncident { record, prefix: self.incidents.prefix.clone() });
        } else {
            self.incident_record(record, effects);
        }
        Ok(())
    }
}

/// The executor's mode for the cockpit's flags.
pub fn exec_mode(flags: &Flags) -> Mode {
    if flags.read_only {
        Mode::ReadOnly
    } else if flags.dry_run {
        Mode::DryRun
    } else {
        Mode::Run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Labels;
    use crate::signals::{Level, Reading};

    const T: i64 = 1_795_489_200_000;

    /// The built-in config, with two clock-skew alerts firing (node-03 at PAGE, node-17 at WARN).
    fn state() -> State {
        let config = Config::from_texts(None).expect("defaults");
        let mut s = State::new(config, Flags { bell: true, user: "ana".into(), ..Flags::default() }, T);
        let k = s.config.signals.iter().position(|x| x.id == "clock-skew").expect("clock-skew");
        let outcome = |v3: f64, v17: f64| Outcome::Values {
            readings: vec![
                Reading { labels: Labels::from_pairs([("node", "node-03")]), value: v3, level: Level::Page },
                Reading { labels: Labels::from_pairs([("node", "node-17")]), value: v17, level: Level::Warn },
            ],
            warming_up: false,
        };
        let signal = s.config.signals[k].clone();
        for m in 0..3 {
            s.engine.observe(&signal, &outcome(0.9, 0.2), T + m * 30_000);
        }
        s
    }

    fn press(s: &mut State, k: Key) -> Vec<Effect> {
        update(s, Msg::Key(k))
    }

    #[test]
    fn q_and_ctrl_c_quit() {
        let mut s = state();
        assert_eq!(press(&mut s, Key::Char('q')), vec![Effect::Quit]);
        assert_eq!(press(&mut s, Key::Ctrl('c')), vec![Effect::Quit]);
        assert_eq!(update(&mut s, Msg::Stop("SIGHUP".into())), vec![Effect::Quit]);
    }

    #[test]
    fn help_toggles_and_swallows_other_keys() {
        let mut s = state();
        press(&mut s, Key::Char('?'));
        assert!(s.help);
        press(&mut s, Key::Char('t'));
        assert_eq!(s.view, View::Dashboard, "keys under the help overlay do nothing");
        press(&mut s, Key::Esc);
        assert!(!s.help);
        press(&mut s, Key::Char('?'));
        press(&mut s, Key::Char('?'));
        assert!(!s.help);
        press(&mut s, Key::Char('?'));
        assert_eq!(press(&mut s, Key::Char('q')), vec![Effect::Quit], "quit still works");
    }

    #[test]
    fn tab_moves_focus_and_jk_g_move_the_selection() {
        let mut s = state();
        assert_eq!(s.focus, Focus::Panels);
        press(&mut s, Key::Char('j'));
        press(&mut s, Key::Down);
        assert_eq!(s.panel_sel, 2);
        press(&mut s, Key::Char('G'));
        assert_eq!(s.panel_sel, s.config.panel_ids().len() - 1);
        press(&mut s, Key::Char('g'));
        assert_eq!(s.panel_sel, 0);
        press(&mut s, Key::Up);
        assert_eq!(s.panel_sel, 0, "no wrap above the top");
        press(&mut s, Key::Tab);
        assert_eq!(s.focus, Focus::Alerts);
        press(&mut s, Key::Char('j'));
        press(&mut s, Key::Char('j'));
        assert_eq!(s.alert_sel, 1, "two alerts: stops at the last");
        press(&mut s, Key::Char('k'));
        assert_eq!(s.alert_sel, 0);
        press(&mut s, Key::End);
        assert_eq!(s.alert_sel, 1);
        press(&mut s, Key::Home);
        assert_eq!(s.alert_sel, 0);
        press(&mut s, Key::BackTab);
        assert_eq!(s.focus, Focus::Panels);
    }

    #[test]
    fn enter_opens_the_selected_alert_and_esc_closes_it() {
        let mut s = state();
        press(&mut s, Key::Enter);
        assert_eq!(s.detail, None);
        assert!(s.flash.as_ref().is_some_and(|(m, _)| m.contains("Tab to the alerts")));
        press(&mut s, Key::Tab);
        press(&mut s, Key::Enter);
        let first = s.listed_alerts()[0].id;
        assert_eq!(s.detail, Some(first), "the PAGE is listed first");
        press(&mut s, Key::Esc);
        assert_eq!(s.detail, None);
        press(&mut s, Key::Esc);
        assert_eq!(s.focus, Focus::Panels, "Esc walks back out");
    }

    #[test]
    fn a_acks_the_selected_alert() {
        let mut s = state();
        press(&mut s, Key::Char('a'));
        assert!(s.engine.alerts().iter().all(|a| a.ack.is_none()), "nothing selected, nothing acked");
        press(&mut s, Key::Tab);
        press(&mut s, Key::Char('j'));
        press(&mut s, Key::Char('a'));
        let acked: Vec<_> = s.engine.alerts().iter().filter(|a| a.ack.is_some()).collect();
        assert_eq!(acked.len(), 1);
        assert_eq!(acked[0].labels.get("node"), Some("node-17"));
        assert_eq!(acked[0].ack.as_ref().map(|a| a.by.as_str()), Some("ana"));
        assert!(s.flash.as_ref().is_some_and(|(m, _)| m.starts_with("acknowledged clock-skew")));
    }

    #[test]
    fn f_freezes_and_t_toggles_the_targets_view() {
        let mut s = state();
        press(&mut s, Key::Char('f'));
        assert_eq!(s.frozen_at, Some(T));
        press(&mut s, Key::Char('f'));
        assert_eq!(s.frozen_at, None);
        press(&mut s, Key::Char('t'));
        assert_eq!(s.view, View::Targets);
        press(&mut s, Key::Tab);
        assert_eq!(s.focus, Focus::Panels, "Tab does nothing in the targets view");
        press(&mut s, Key::Esc);
        assert_eq!(s.view, View::Dashboard);
        press(&mut s, Key::Char('t'));
        press(&mut s, Key::Char('t'));
        assert_eq!(s.view, View::Dashboard);
    }

    fn typed(s: &mut State, text: &str) {
        for c in text.chars() {
            press(s, Key::Char(c));
        }
    }

    #[test]
    fn s_silences_the_selected_alert_with_a_duration_and_a_required_comment() {
        let mut s = state();
        press(&mut s, Key::Char('s'));
        assert!(s.prompt.is_none(), "nothing selected");
        press(&mut s, Key::Tab);
        press(&mut s, Key::Char('s'));
        assert!(matches!(s.prompt.as_ref().map(|p| &p.kind), Some(PromptKind::Silence { .. })));
        typed(&mut s, "1h");
        press(&mut s, Key::Enter);
        let err = s.prompt.as_ref().and_then(|p| p.error.clone()).unwrap_or_default();
        assert!(err.contains("needs a comment"), "{err}");
        assert!(s.engine.silences().is_empty());
        typed(&mut s, " waiting on NTP fix");
        press(&mut s, Key::Enter);
        assert!(s.prompt.is_none());
        let sil = &s.engine.silences()[0];
        assert_eq!(
            (sil.comment.as_str(), sil.by.as_str(), sil.ends - sil.starts),
            ("waiting on NTP fix", "ana", 3_600_000)
        );
        let page = s.listed_alerts()[0];
        assert!(s.engine.silenced_by(page, T).is_some(), "the selected alert is silenced");
        assert_eq!(s.engine.alerts().iter().filter(|a| s.engine.silenced_by(a, T).is_some()).count(), 1, "only it");
    }

    #[test]
    fn a_bad_duration_is_refused_in_the_prompt_and_esc_cancels() {
        let mut s = state();
        press(&mut s, Key::Tab);
        press(&mut s, Key::Char('s'));
        typed(&mut s, "soon because");
        press(&mut s, Key::Enter);
        assert!(s.prompt.as_ref().and_then(|p| p.error.as_ref()).is_some_and(|e| e.contains("soon")));
        press(&mut s, Key::Backspace);
        assert!(s.prompt.as_ref().is_some_and(|p| p.error.is_none() && p.text == "soon becaus"));
        press(&mut s, Key::Esc);
        assert!(s.prompt.is_none() && s.engine.silences().is_empty());
        press(&mut s, Key::Char('q'));
    }

    #[test]
    fn slash_filters_alerts_as_you_type_and_esc_clears_it() {
        let mut s = state();
        press(&mut s, Key::Char('/'));
        typed(&mut s, "node-17");
        assert_eq!(s.listed_alerts().len(), 1, "filtered while typing");
        press(&mut s, Key::Enter);
        assert_eq!(s.filter, "node-17");
        assert_eq!(s.listed_alerts().len(), 1, "kept after Enter");
        press(&mut s, Key::Char('/'));
        press(&mut s, Key::Esc);
        assert_eq!(s.filter, "");
        assert_eq!(s.listed_alerts().len(), 2);
    }

    #[test]
    fn the_palette_runs_commands_by_name() {
        let mut s = state();
        press(&mut s, Key::Char(':'));
        typed(&mut s, "targets");
        press(&mut s, Key::Enter);
        assert_eq!(s.view, View::Targets);
        press(&mut s, Key::Char(':'));
        typed(&mut s, "frobnicate");
        press(&mut s, Key::Enter);
        assert!(s.prompt.as_ref().and_then(|p| p.error.as_ref()).is_some_and(|e| e.contains("unknown command")));
        press(&mut s, Key::Esc);
        press(&mut s, Key::Char(':'));
        typed(&mut s, "quit");
        assert_eq!(press(&mut s, Key::Enter), vec![Effect::Quit]);
    }

    #[test]
    fn signals_on_a_server_are_queried_each_refresh_and_stale_answers_dropped() {
        let text = "[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9090\"\n";
        let config = Config::from_texts(Some((std::path::Path::new("p.toml"), text))).expect("config");
        let n = config.signals.len();
        let mut s = State::new(config, Flags::default(), T);
        let effects = update(&mut s, Msg::Tick(T));
        let queries = effects.iter().filter(|e| matches!(e, Effect::Query { at_ms, .. } if *at_ms == T)).count();
        assert_eq!(queries, n, "every signal goes to the server");
        assert!(update(&mut s, Msg::Tick(T + 300)).is_empty(), "not before the refresh is due");
        assert_eq!(update(&mut s, Msg::Tick(T + 1_000)).len(), n);
        let k = s.config.signals.iter().position(|x| x.id == "timeout-ratio").expect("signal");
        update(&mut s, Msg::Queried { signal: k, at_ms: T, value: Err("timeout".into()) });
        assert!(s.outcomes[k].is_none(), "an answer older than the last evaluation is dropped");
        let now = Outcome::Values { readings: vec![], warming_up: false };
        update(&mut s, Msg::Queried { signal: k, at_ms: T + 1_000, value: Ok(Value::Vector(vec![])) });
        assert_eq!(s.outcomes[k], Some(now));
    }

    #[test]
    fn unbound_keys_change_nothing_and_draw_nothing() {
        let mut s = state();
        s.dirty = false;
        assert!(press(&mut s, Key::Char('z')).is_empty());
        assert!(!s.dirty);
    }

    #[test]
    fn redraws_only_when_something_changed_or_the_second_ticks() {
        let mut s = state();
        update(&mut s, Msg::Tick(T));
        s.dirty = false;
        update(&mut s, Msg::Tick(T + 200));
        assert!(!s.dirty, "same second, nothing new");
        update(&mut s, Msg::Tick(T + 1_000));
        assert!(s.dirty, "the clock's second ticked (and a refresh was due)");
    }

    #[test]
    fn a_new_page_rings_the_bell_once() {
        let mut s = state();
        let k = s.config.signals.iter().position(|x| x.id == "timeout-ratio").expect("signal");
        let page = |v| -> Result<Value, String> {
            Ok(Value::Vector(vec![crate::signals::promql::Element {
                labels: Labels::from_pairs([("envoy_cluster_name", "service-b")]),
                v,
            }]))
        };
        let mut bells = 0;
        // The signal's `for` is 1m: pending, then firing at PAGE, then still firing.
        for m in 0..6 {
            let effects = update(&mut s, Msg::Queried { signal: k, at_ms: T + m * 30_000, value: page(0.5) });
            bells += effects.iter().filter(|e| **e == Effect::Bell).count();
        }
        assert_eq!(bells, 1);
        s.flags.bell = false;
        let k2 = s.config.signals.iter().position(|x| x.id == "retry-storm").expect("signal");
        for m in 0..6 {
            let effects = update(&mut s, Msg::Queried { signal: k2, at_ms: T + m * 30_000, value: page(900.0) });
            assert!(!effects.contains(&Effect::Bell), "the bell can be turned off");
        }
    }
}
