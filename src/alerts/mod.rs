//! The alert engine: one alert per (signal, label set), moving inactive → pending → firing →
//! resolved, with warn/page severity, hysteresis (`clear`), `for` and `keep-firing-for`; acks
//! and silences.
//!
//! Rules (see docs/architecture.md):
//! - The condition is "past the lowest threshold" (warn, else page); an active alert stays
//!   active until the value is back past `clear` (hysteresis). Severity is PAGE once the page
//!   condition has held for `for`, and drops back to WARN when it no longer holds.
//! - A pending alert that clears is dropped without a trace.
//! - A failed evaluation, or a label set missing from a successful one, neither resolves nor
//!   advances an alert: it is frozen and marked stale.
//! - `keep-firing-for`: a firing alert whose condition clears keeps firing until the condition
//!   has been false for that long (as Prometheus does).
//! - The number of alerts per signal is bounded; label sets beyond the bound are counted.
//! - Acks last until the alert resolves. Silences need a comment and an expiry; a silence whose
//!   every matcher also matches an empty value (it would match everything) is refused.

use std::collections::{HashMap, HashSet};
use std::fmt;

use promql_parser::label::{MatchOp, Matcher};
use serde::Serialize;

use crate::config::Signal;
use crate::series::Labels;
use crate::signals::{Outcome, past};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Warn,
    Page,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "WARN",
            Severity::Page => "PAGE",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ack {
    pub by: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Unique for the life of the engine; a label set that resolves and fires again gets a new id.
    pub id: u64,
    pub signal: String,
    pub labels: Labels,
    pub state: State,
    pub severity: Severity,
    /// The last value seen for this label set.
    pub value: f64,
    /// When the condition became true (the start of pending).
    pub active_since: i64,
    pub firing_since: Option<i64>,
    pub resolved_at: Option<i64>,
    page_since: Option<i64>,
    keep_firing_since: Option<i64>,
    /// The last evaluation did not say anything about this alert (failed, or no value for its
    /// label set): it is frozen.
    pub stale: bool,
    pub ack: Option<Ack>,
    /// Last time the state or severity changed.
    pub since: i64,
}

impl Alert {
    pub fn is_active(&self) -> bool {
        self.state != State::Resolved
    }

    /// In `keep-firing-for`: firing though the condition no longer holds.
    pub fn keeping_firing(&self) -> bool {
        self.keep_firing_since.is_some()
    }
}

/// A change worth recording (and, for a new page, ringing the bell for).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    pub alert: u64,
    pub signal: String,
    pub labels: String,
    pub at: i64,
    pub value: f64,
    pub kind: TransitionKind,
    /// When the alert's condition became true (the start of pending).
    pub active_since: i64,
}

impl Transition {
    /// The audit record of a transition (firing, escalation, de-escalation, resolution; a
    /// pending one is not recorded: most never fire).
    pub fn audit_record(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        if matches!(self.kind, TransitionKind::Pending) {
            return None;
        }
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), "alert".into());
        m.insert("alert".into(), self.alert.into());
        m.insert("signal".into(), self.signal.clone().into());
        m.insert("labels".into(), crate::text::escape_control(&self.labels).into_owned().into());
        m.insert("transition".into(), serde_json::to_value(self.kind).unwrap_or_default());
        if self.value.is_finite() {
            m.insert("value".into(), self.value.into());
        }
        if matches!(self.kind, TransitionKind::Firing(_)) {
            // When the condition began: the onset a post-incident review measures from.
            m.insert("since_ms".into(), self.active_since.into());
        }
        Some(m)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransitionKind {
    Pending,
    Firing(Severity),
    Escalated,
    Deescalated,
    Resolved,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Silence {
    pub id: u64,
    /// Matchers over an alert's labels plus `signal` (the signal id).
    pub matchers: Vec<Matcher>,
    pub comment: String,
    pub by: String,
    pub starts: i64,
    pub ends: i64,
}

impl Silence {
    pub fn matches(&self, alert: &Alert) -> bool {
        self.matchers.iter().all(|m| {
            let v = if m.name == "signal" { alert.signal.as_str() } else { alert.labels.value(&m.name) };
            m.is_match(v)
        })
    }

    pub fn active_at(&self, t: i64) -> bool {
        self.starts <= t && t < self.ends
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SilenceError {
    NoComment,
    NoExpiry,
    MatchesEverything,
    InvalidMatcher(String),
}

impl fmt::Display for SilenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SilenceError::NoComment => f.write_str("a silence needs a comment saying why"),
            SilenceError::NoExpiry => f.write_str("a silence needs an expiry in the future"),
            SilenceError::MatchesEverything => {
                f.write_str("refused: this silence would match every alert; name a signal or a label value")
            }
            SilenceError::InvalidMatcher(m) => write!(f, "invalid matcher: {m}"),
        }
    }
}

impl std::error::Error for SilenceError {}

/// Per-signal bookkeeping besides the alerts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignalAlerts {
    /// Label sets past the threshold that got no alert because the bound was reached.
    pub overflow: usize,
}

pub struct Engine {
    alerts: Vec<Alert>,
    silences: Vec<Silence>,
    per_signal: HashMap<String, SignalAlerts>,
    next_id: u64,
    max_per_signal: usize,
    /// How long a resolved alert stays listed.
    resolved_retention_ms: i64,
}

impl Engine {
    pub fn new(max_per_signal: usize, resolved_retention_ms: i64) -> Self {
        Engine {
            alerts: Vec::new(),
            silences: Vec::new(),
            per_signal: HashMap::new(),
            next_id: 1,
            max_per_signal: max_per_signal.max(1),
            resolved_retention_ms,
        }
    }

    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }

    pub fn alert(&self, id: u64) -> Option<&Alert> {
        self.alerts.iter().find(|a| a.id == id)
    }

    pub fn signal_alerts(&self, signal: &str) -> impl Iterator<Item = &Alert> {
        self.alerts.iter().filter(move |a| a.signal == signal)
    }

    pub fn overflow(&self, signal: &str) -> usize {
        self.per_signal.get(signal).map_or(0, |s| s.overflow)
    }

    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// The active silence covering `alert` at `t`, if any.
    pub fn silenced_by(&self, alert: &Alert, t: i64) -> Option<&Silence> {
        self.silences.iter().find(|s| s.active_at(t) && s.matches(alert))
    }

    /// Feeds one evaluation of `signal` at `t`; returns what changed.
    pub fn observe(&mut self, signal: &Signal, outcome: &Outcome, t: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let readings = match outcome {
            Outcome::Failed { .. } => {
                for a in self.alerts.iter_mut().filter(|a| a.signal == signal.id && a.is_active()) {
                    a.stale = true;
                }
                return out;
            }
            Outcome::Values { readings, .. } => readings,
        };
        let Some(lowest) = signal.warn.or(signal.page) else {
            return out; // a display-only signal raises nothing
        };
        let clear = signal.clear.unwrap_or(lowest);
        let dir = signal.direction;
        // Bookkeeping by alert id: nothing is removed from `self.alerts` until the end.
        let mut seen: HashSet<u64> = HashSet::new();
        let mut dropped: HashSet<u64> = HashSet::new();
        let mut evicted: HashSet<u64> = HashSet::new();
        let mut overflow = 0;
        for r in readings {
            if r.value.is_nan() {
                continue; // no value: like an absent label set
            }
            let existing =
                self.alerts.iter().position(|a| a.signal == signal.id && a.labels == r.labels && a.is_active());
            let page_cond = signal.page.is_some_and(|p| past(dir, r.value, p));
            match existing {
                Some(k) => {
                    let a = &mut self.alerts[k];
                    seen.insert(a.id);
                    a.stale = false;
                    a.value = r.value;
                    let cond = past(dir, r.value, clear) || past(dir, r.value, lowest);
                    if step(a, signal, cond, page_cond, t, &mut out) == Fate::Drop {
                        dropped.insert(a.id);
                    }
                }
                None => {
                    if !past(dir, r.value, lowest) {
                        continue;
                    }
                    let listed =
                        |a: &&Alert| a.signal == signal.id && !evicted.contains(&a.id) && !dropped.contains(&a.id);
                    if self.alerts.iter().filter(listed).count() >= self.max_per_signal {
                        // The oldest resolved alert makes room; without one, the label set is counted.
                        let oldest = self
                            .alerts
                            .iter()
                            .filter(listed)
                            .filter(|a| a.state == State::Resolved)
                            .min_by_key(|a| a.resolved_at)
                            .map(|a| a.id);
                        match oldest {
                            Some(id) => {
                                evicted.insert(id);
                            }
                            None => {
                                overflow += 1;
                                continue;
                            }
                        }
                    }
                    let mut a = Alert {
                        id: self.next_id,
                        signal: signal.id.clone(),
                        labels: r.labels.clone(),
                        state: State::Pending,
                        severity: Severity::Warn,
                        value: r.value,
                        active_since: t,
                        firing_since: None,
                        resolved_at: None,
                        page_since: None,
                        keep_firing_since: None,
                        stale: false,
                        ack: None,
                        since: t,
                    };
                    self.next_id += 1;
                    step(&mut a, signal, true, page_cond, t, &mut out);
                    if a.state == State::Pending {
                        out.push(transition(&a, TransitionKind::Pending, t));
                    }
                    seen.insert(a.id);
                    self.alerts.push(a);
                }
            }
        }
        // Active alerts the evaluation said nothing about are frozen, not resolved.
        for a in self.alerts.iter_mut().filter(|a| a.signal == signal.id && a.is_active()) {
            if !seen.contains(&a.id) {
                a.stale = true;
            }
        }
        // A pending alert that cleared is dropped without a trace; evicted and old resolved ones go.
        let retention = self.resolved_retention_ms;
        self.alerts.retain(|a| {
            let expired =
                a.signal == signal.id && a.state == State::Resolved && a.resolved_at.is_some_and(|r| t - r > retention);
            !(dropped.contains(&a.id) || evicted.contains(&a.id) || expired)
        });
        self.per_signal.entry(signal.id.clone()).or_default().overflow = overflow;
        out
    }

    /// Acknowledges an active alert; the ack lasts until it resolves.
    pub fn ack(&mut self, id: u64, by: &str, t: i64) -> Result<&Alert, String> {
        let a = self.alerts.iter_mut().find(|a| a.id == id).ok_or_else(|| format!("no alert #{id}"))?;
        if !a.is_active() {
            return Err(format!("alert #{id} has resolved"));
        }
        a.ack = Some(Ack { by: by.to_owned(), at: t });
        Ok(a)
    }

    /// Adds a silence from `starts` to `ends`.
    pub fn silence(
        &mut self,
        matchers: Vec<Matcher>,
        comment: &str,
        by: &str,
        starts: i64,
        ends: i64,
    ) -> Result<u64, SilenceError> {
        if comment.trim().is_empty() {
            return Err(SilenceError::NoComment);
        }
        if ends <= starts {
            return Err(SilenceError::NoExpiry);
        }
        if matchers.iter().all(|m| m.is_match("")) {
            return Err(SilenceError::MatchesEverything);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.silences.push(Silence {
            id,
            matchers,
            comment: comment.trim().to_owned(),
            by: by.to_owned(),
            starts,
            ends,
        });
        Ok(id)
    }

    /// Removes silences that ended before `t`; returns them.
    pub fn expire_silences(&mut self, t: i64) -> Vec<Silence> {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.silences).into_iter().partition(|s| s.ends <= t);
        self.silences = keep;
        gone
    }
}

/// Parses `name=value`, `name!=value`, `name=~regex`, `name!~regex` (value optionally quoted).
pub fn parse_matcher(s: &str) -> Result<Matcher, SilenceError> {
    let bad =
        || SilenceError::InvalidMatcher(format!("{s:?}: use name=value, name!=value, name=~regex or name!~regex"));
    let (name, op, value) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| s.split_once(op).map(|(n, v)| (n.trim(), *op, v.trim())))
        .ok_or_else(bad)?;
    if !crate::intake::exposition::is_label_name(name) {
        return Err(bad());
    }
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    let regex =
        |v: &str| regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| SilenceError::InvalidMatcher(e.to_string()));
    let op = match op {
        "=" => MatchOp::Equal,
        "!=" => MatchOp::NotEqual,
        "=~" => MatchOp::Re(regex(value)?),
        _ => MatchOp::NotRe(regex(value)?),
    };
    Ok(Matcher::new(op, name, value))
}

fn transition(a: &Alert, kind: TransitionKind, t: i64) -> Transition {
    Transition {
        alert: a.id,
        signal: a.signal.clone(),
        labels: a.labels.to_string(),
        at: t,
        value: a.value,
        kind,
        active_since: a.active_since,
    }
}

/// What becomes of an alert after one evaluation.
#[derive(PartialEq, Eq)]
enum Fate {
    Keep,
    /// A pending alert whose condition cleared: gone without a trace.
    Drop,
}

/// One evaluation for an alert whose label set has a value. `cond` is whether it is past the
/// (hysteresis-adjusted) threshold.
fn step(a: &mut Alert, signal: &Signal, cond: bool, page_cond: bool, t: i64, out: &mut Vec<Transition>) -> Fate {
    let hold = i64::try_from(signal.for_.as_millis()).unwrap_or(i64::MAX);
    let keep_for = i64::try_from(signal.keep_firing_for.as_millis()).unwrap_or(i64::MAX);
    if cond {
        a.keep_firing_since = None;
        if page_cond {
            a.page_since.get_or_insert(t);
        } else {
            a.page_since = None;
        }
        let paging = a.page_since.is_some_and(|p| t - p >= hold);
        match a.state {
            State::Pending if t - a.active_since >= hold => {
                a.state = State::Firing;
                a.firing_since = Some(t);
                a.severity = if paging { Severity::Page } else { Severity::Warn };
                a.since = t;
                out.push(transition(a, TransitionKind::Firing(a.severity), t));
            }
            State::Firing if paging && a.severity == Severity::Warn => {
                a.severity = Severity::Page;
                a.since = t;
                out.push(transition(a, TransitionKind::Escalated, t));
            }
            State::Firing if !page_cond && a.severity == Severity::Page => {
                a.severity = Severity::Warn;
                a.since = t;
                out.push(transition(a, TransitionKind::Deescalated, t));
            }
            _ => {}
        }
        return Fate::Keep;
    }
    match a.state {
        State::Pending => return Fate::Drop,
        State::Firing => {
            let since = *a.keep_firing_since.get_or_insert(t);
            if keep_for > 0 && t - since < keep_for {
                return Fate::Keep; // keep firing
            }
            a.state = State::Resolved;
            a.resolved_at = Some(t);
            a.keep_firing_since = None;
            a.page_since = None;
            a.since = t;
            out.push(transition(a, TransitionKind::Resolved, t));
        }
        State::Resolved => {}
    }
    Fate::Keep
}

#[cfg(test)]
mod tests;
