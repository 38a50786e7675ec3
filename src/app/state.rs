//! The cockpit's state and `update`, the only code that changes it. `update` does no I/O: what
//! must happen outside (quit, ring the bell, query a server) it returns as effects.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::keys::{Action, Key, KeyMap};
use crate::alerts::{Engine, Severity, TransitionKind};
use crate::config::{Config, Evaluation};
use crate::intake::health::{ScrapeDone, TargetHealth};
use crate::intake::scheduler::{IntakeMsg, Target};
use crate::intake::scrape::decode_series;
use crate::series::Store;
use crate::signals::{Outcome, evaluate_local};

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
    /// The answer of a signal evaluated by a server.
    Queried {
        signal: usize,
        at_ms: i64,
        outcome: Outcome,
    },
    /// The wall clock (sent every second, and after other messages).
    Tick(i64),
    /// The terminal is gone (EOF or an error on input) or a signal asked us to stop.
    Stop(String),
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
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Panels,
    Alerts,
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
    pub size: (u16, u16),
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
    /// Something on screen changed since the last draw.
    pub dirty: bool,
    pub notes: Vec<String>,
}

impl State {
    pub fn new(config: Config, flags: Flags, now_ms: i64) -> State {
        let n = config.signals.len();
        let store = Store::with_retention(config.retention_policy(), config.cockpit.max_series);
        let history_ms = i64::try_from(config.cockpit.history.as_millis()).unwrap_or(i64::MAX);
        let engine = Engine::new(config.cockpit.max_alerts_per_signal, history_ms);
        State {
            config,
            flags,
            keys: KeyMap::default(),
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
            size: (80, 24),
            view: View::Dashboard,
            focus: Focus::Panels,
            panel_sel: 0,
            alert_sel: 0,
            target_sel: 0,
            detail: None,
            help: false,
            frozen_at: None,
            flash: None,
            dirty: true,
            notes: Vec::new(),
        }
    }

    /// The alerts the list shows, in its order: active before resolved, PAGE before WARN,
    /// newest first.
    pub fn listed_alerts(&self) -> Vec<&crate::alerts::Alert> {
        let mut v: Vec<_> = self.engine.alerts().iter().collect();
        v.sort_by_key(|a| (!a.is_active(), std::cmp::Reverse(a.severity), std::cmp::Reverse(a.since), a.id));
        v
    }

    fn flash(&mut self, msg: impl Into<String>) {
        self.flash = Some((msg.into(), self.now_ms + FLASH_MS));
    }

    fn ingest(&mut self, d: ScrapeDone) {
        let Some(t) = self.targets.get(&d.target) else { return };
        if let Some(h) = self.health.get_mut(&d.target) {
            h.record(&d);
        }
        self.last_poll_ms = Some(self.last_poll_ms.map_or(d.started_ms, |p| p.max(d.started_ms)));
        match &d.result {
            Ok(s) => {
                let report =
                    self.store.ingest(d.target, &t.spec.labels, s.batch.samples(), decode_series, d.started_ms);
                if let Some(h) = self.health.get_mut(&d.target) {
                    h.record_ingest(&report);
                }
            }
            Err(_) => self.store.target_down(d.target, d.started_ms),
        }
    }

    /// Evaluates every local signal now and asks for the server-evaluated ones.
    fn evaluate(&mut self, effects: &mut Vec<Effect>) {
        let t = self.now_ms;
        self.store.gc(t);
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

    fn judged(&mut self, k: usize, o: Outcome, t: i64, effects: &mut Vec<Effect>) {
        let transitions = self.engine.observe(&self.config.signals[k], &o, t);
        let new_page = transitions
            .iter()
            .any(|t| matches!(t.kind, TransitionKind::Firing(Severity::Page) | TransitionKind::Escalated));
        if new_page && self.flags.bell && !effects.contains(&Effect::Bell) {
            effects.push(Effect::Bell);
        }
        self.outcomes[k] = Some(o);
    }

    fn key(&mut self, key: Key, effects: &mut Vec<Effect>) {
        let Some(action) = self.keys.action(key) else { return };
        self.dirty = true;
        // The help overlay takes every key but its own, quit and Esc.
        if self.help && !matches!(action, Action::Help | Action::Back | Action::Quit) {
            return;
        }
        match action {
            Action::Help => self.help = !self.help,
            Action::Quit => effects.push(Effect::Quit),
            Action::Back => {
                if self.help {
                    self.help = false;
                } else if self.detail.is_some() {
                    self.detail = None;
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
            Action::Down | Action::Up | Action::Top | Action::Bottom => self.move_selection(action),
            Action::Open => {
                if self.view == View::Dashboard && self.focus == Focus::Alerts {
                    match self.listed_alerts().get(self.alert_sel) {
                        Some(a) => self.detail = Some(a.id),
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
            }
        }
    }

    fn ack(&mut self) {
        let target = match self.detail {
            Some(id) => Some(id),
            None if self.focus == Focus::Alerts && self.view == View::Dashboard => {
                self.listed_alerts().get(self.alert_sel).map(|a| a.id)
            }
            None => None,
        };
        let Some(id) = target else {
            self.flash("select an alert to acknowledge (Tab to the alerts list)");
            return;
        };
        let user = if self.flags.user.is_empty() { "operator".to_owned() } else { self.flags.user.clone() };
        let msg = match self.engine.ack(id, &user, self.now_ms) {
            Ok(a) => format!("acknowledged {} {}", a.signal, a.labels),
            Err(e) => e,
        };
        self.flash(msg);
    }

    fn move_selection(&mut self, action: Action) {
        let (sel, len) = match (self.view, self.focus) {
            (View::Targets, _) => (&mut self.target_sel, self.health.len()),
            (View::Dashboard, Focus::Alerts) => (&mut self.alert_sel, self.engine.alerts().len()),
            (View::Dashboard, Focus::Panels) => (&mut self.panel_sel, panel_count(&self.config)),
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

/// The number of dashboard panels a config fills.
pub fn panel_count(config: &Config) -> usize {
    crate::ui::view::panel_ids(config).len()
}

/// The only place state changes.
pub fn update(state: &mut State, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    match msg {
        Msg::Key(k) => state.key(k, &mut effects),
        Msg::Resize(w, h) => {
            state.size = (w, h);
            state.dirty = true;
        }
        Msg::Intake(m) => state.intake(m, &mut effects),
        Msg::Queried { signal, at_ms, outcome } => {
            // An answer older than the last one shown is dropped.
            if signal < state.outcomes.len() && state.last_eval_ms.is_none_or(|t| at_ms >= t) {
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
            }
            if state.flash.as_ref().is_some_and(|(_, until)| now >= *until) {
                state.flash = None;
                state.dirty = true;
            }
            if second_changed {
                state.dirty = true;
            }
        }
        Msg::Stop(_) => effects.push(Effect::Quit),
    }
    effects
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
        assert_eq!(s.panel_sel, panel_count(&s.config) - 1);
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
        let page = |v| Outcome::Values {
            readings: vec![Reading {
                labels: Labels::from_pairs([("envoy_cluster_name", "service-b")]),
                value: v,
                level: Level::Page,
            }],
            warming_up: false,
        };
        let mut bells = 0;
        // The signal's `for` is 1m: pending, then firing at PAGE, then still firing.
        for m in 0..6 {
            let effects = update(&mut s, Msg::Queried { signal: k, at_ms: T + m * 30_000, outcome: page(0.5) });
            bells += effects.iter().filter(|e| **e == Effect::Bell).count();
        }
        assert_eq!(bells, 1);
        s.flags.bell = false;
        let k2 = s.config.signals.iter().position(|x| x.id == "retry-storm").expect("signal");
        for m in 0..6 {
            let effects = update(&mut s, Msg::Queried { signal: k2, at_ms: T + m * 30_000, outcome: page(900.0) });
            assert!(!effects.contains(&Effect::Bell), "the bell can be turned off");
        }
    }
}
