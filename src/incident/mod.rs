//! Incidents: when one opens and closes (`Tracker`, a pure state machine the cockpit's `update`
//! feeds with alert transitions, the clock and the operator's `:incident` commands), what is
//! known of one (`Summary`, a fold over its audit records: the same fold serves the cockpit's
//! copy and `nightwatch incident` / `postmortem`, which read the log), and the seed's
//! declaration, status-update and resolution templates (`templates`).
//!
//! An incident opens when the first page fires (or an operator declares one) and from then on
//! every audit record the cockpit writes carries its id, until all its alerts have resolved and
//! the quiet period has passed with nothing firing again (or an operator closes it). Its id
//! (`ASYNC-2026-001`) is given by the audit log's writer under the log's lock, so processes that
//! share the log never hand out the same one; until it arrives, records are held back.

pub mod templates;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alerts::{Severity, Transition, TransitionKind};
use crate::config::{INCIDENT_SEVERITIES, IncidentSettings};

type Record = Map<String, Value>;

/// The prefix of a drill's incidents: a drill never uses up the real incident numbers.
pub const DRILL_PREFIX: &str = "DRILL";

/// Records held back while an incident's id is being given; more are dropped from the hold
/// (not from the log: they are written without the id).
const MAX_HELD: usize = 1000;

/// The open incident.
#[derive(Clone, Debug)]
pub struct Open {
    /// Given on the command line (`--incident`, `NIGHTWATCH_INCIDENT`): declared elsewhere, so
    /// it does not close by itself.
    pub given: bool,
    /// The alerts (engine ids) that fired while it was open.
    pub alerts: BTreeSet<u64>,
    /// Since when none of its alerts has been active.
    pub quiet_since: Option<i64>,
    held: Vec<Record>,
    /// What is known of it; its `id` is empty while the audit log's writer is giving it one.
    pub summary: Summary,
}

impl Open {
    /// Its id, once it has one.
    pub fn id(&self) -> Option<&str> {
        (!self.summary.id.is_empty()).then_some(self.summary.id.as_str())
    }
}

/// When incidents open and close, and which records carry their id.
#[derive(Clone, Debug)]
pub struct Tracker {
    pub settings: IncidentSettings,
    /// The prefix ids are given with (the config's, or `DRILL` during a drill).
    pub prefix: String,
    pub current: Option<Open>,
}

/// What the operator asked of `:incident`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Declare(String),
    Title(String),
    Severity(String),
    Status(String),
    Close(String),
}

impl Command {
    /// `declare [TITLE]`, `title TEXT`, `severity P1..P4`, `status TEXT`, `close [NOTE]`.
    pub fn parse(text: &str) -> Result<Command, String> {
        let text = text.trim();
        let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = crate::text::escape_control(rest.trim()).into_owned();
        let need = |what: &str| -> Result<String, String> {
            if rest.is_empty() { Err(format!("incident {verb} needs {what}")) } else { Ok(rest.clone()) }
        };
        match verb {
            "declare" => Ok(Command::Declare(rest.clone())),
            "title" | "rename" => need("a title").map(Command::Title),
            "severity" | "sev" => {
                let s = rest.to_ascii_uppercase();
                if INCIDENT_SEVERITIES.contains(&s.as_str()) {
                    Ok(Command::Severity(s))
                } else {
                    Err(format!("severity must be one of {}", INCIDENT_SEVERITIES.join(", ")))
                }
            }
            "status" | "update" => need("what is happening").map(Command::Status),
            "close" | "resolve" => Ok(Command::Close(rest.clone())),
            _ => Err("incident declare [TITLE] | title TEXT | severity P1..P4 | status TEXT | close [NOTE] | copy declare|status|resolved"
                .into()),
        }
    }
}

impl Tracker {
    pub fn new(settings: IncidentSettings, drill: bool) -> Tracker {
        let prefix = if drill { DRILL_PREFIX.to_owned() } else { settings.prefix.clone() };
        Tracker { settings, prefix, current: None }
    }

    /// Works under an incident declared elsewhere: every record carries its id from the start.
    pub fn join(&mut self, id: &str, now_ms: i64) {
        let mut summary = Summary::new(id);
        summary.opened_ms = Some(now_ms);
        summary.severity = self.settings.severity.clone();
        self.current =
            Some(Open { given: true, alerts: BTreeSet::new(), quiet_since: None, held: Vec::new(), summary });
    }

    /// The open incident's id, once it has one.
    pub fn id(&self) -> Option<&str> {
        self.current.as_ref()?.id()
    }

    /// Alert transitions: the first page opens an incident (its `incident-opened` record, to be
    /// given an id, is returned); while one is open, alerts that fire join it.
    pub fn transitions(&mut self, ts: &[Transition], now_ms: i64) -> Option<Record> {
        let mut opened = None;
        for t in ts {
            let fires = matches!(t.kind, TransitionKind::Firing(_) | TransitionKind::Escalated);
            let pages = matches!(t.kind, TransitionKind::Firing(Severity::Page) | TransitionKind::Escalated);
            if self.current.is_none() && pages {
                let title = format!("{} paging {}", t.signal, t.labels);
                opened = Some(self.open(title, "auto", Some(t), now_ms));
            }
            if let Some(o) = self.current.as_mut()
                && fires
            {
                o.alerts.insert(t.alert);
                o.quiet_since = None;
            }
        }
        opened
    }

    fn open(&mut self, title: String, by: &str, trigger: Option<&Transition>, now_ms: i64) -> Record {
        let severity = self.settings.severity.clone();
        let mut fields: Vec<(&str, Value)> = vec![
            ("title", title.into()),
            ("severity", severity.into()),
            ("opened_by", by.into()),
            ("prefix", self.prefix.clone().into()),
        ];
        if let Some(t) = trigger {
            // When the trigger's condition began: its firing at WARN may predate the incident.
            fields.push(("since_ms", t.active_since.into()));
            fields.push(("signal", t.signal.clone().into()));
            fields.push(("labels", crate::text::escape_control(&t.labels).into_owned().into()));
        }
        let record = crate::audit::event("incident-opened", &fields);
        let mut summary = Summary::new("");
        summary.apply(&record, now_ms, by, &|_, v| format!("{v}"));
        self.current =
            Some(Open { given: false, alerts: BTreeSet::new(), quiet_since: None, held: Vec::new(), summary });
        record
    }

    /// The id the audit log's writer gave the open incident: the records held back, now
    /// carrying it.
    pub fn assigned(&mut self, id: &str) -> Vec<Record> {
        let Some(o) = self.current.as_mut().filter(|o| o.id().is_none()) else { return Vec::new() };
        o.summary.id = id.to_owned();
        let mut held = std::mem::take(&mut o.held);
        for r in &mut held {
            r.insert("incident".into(), id.into());
        }
        held
    }

    /// Records about to be written: while an incident is open they carry its id (and are
    /// folded into its summary); while its id is being given they are held back and an empty
    /// list is returned.
    pub fn stamp(
        &mut self,
        records: Vec<Record>,
        now_ms: i64,
        who: &str,
        fmt: &dyn Fn(&str, f64) -> String,
    ) -> Vec<Record> {
        let Some(o) = self.current.as_mut() else { return records };
        let mut out = Vec::with_capacity(records.len());
        for mut r in records {
            if r.contains_key("incident") {
                out.push(r);
                continue;
            }
            o.summary.apply(&r, now_ms, who, fmt);
            match o.id() {
                Some(id) => {
                    r.insert("incident".into(), id.into());
                    out.push(r);
                }
                None if o.held.len() < MAX_HELD => o.held.push(r),
                None => out.push(r),
            }
        }
        out
    }

    /// The clock: an incident whose alerts have all resolved closes once the quiet period has
    /// passed (its `incident-closed` record is returned, unstamped).
    pub fn tick(&mut self, is_active: &dyn Fn(u64) -> bool, now_ms: i64) -> Option<Record> {
        let o = self.current.as_mut()?;
        if o.given || o.id().is_none() {
            return None;
        }
        if o.alerts.iter().any(|a| is_active(*a)) {
            o.quiet_since = None;
            return None;
        }
        let since = *o.quiet_since.get_or_insert(now_ms);
        let quiet = i64::try_from(self.settings.quiet.as_millis()).unwrap_or(i64::MAX);
        if now_ms.saturating_sub(since) < quiet {
            return None;
        }
        let how = format!(
            "all its alerts resolved and {} passed with nothing firing",
            crate::config::units::format_duration(self.settings.quiet)
        );
        Some(crate::audit::event("incident-closed", &[("how", how.into()), ("closed_by", "auto".into())]))
    }

    /// After `tick` or `Close`: the incident is over; later records carry no id.
    pub fn closed(&mut self) {
        self.current = None;
    }

    /// An operator's `:incident …`: the record to write (unstamped), or why not.
    pub fn command(&mut self, cmd: Command, by: &str, now_ms: i64) -> Result<Record, String> {
        let open = self.current.is_some();
        match cmd {
            Command::Declare(title) => {
                if let Some(o) = &self.current {
                    return Err(format!("{} is open: close it first", o.id().unwrap_or("an incident")));
                }
                let title = if title.is_empty() { format!("declared by {by}") } else { title };
                Ok(self.open(title, by, None, now_ms))
            }
            _ if !open => Err("no incident is open (:incident declare TITLE opens one)".into()),
            Command::Title(t) => Ok(crate::audit::event("incident-updated", &[("title", t.into())])),
            Command::Severity(s) => Ok(crate::audit::event("incident-updated", &[("severity", s.into())])),
            Command::Status(s) => Ok(crate::audit::event("incident-updated", &[("status", s.into())])),
            Command::Close(note) => {
                let how = if note.is_empty() { format!("closed by {by}") } else { format!("closed by {by}: {note}") };
                Ok(crate::audit::event("incident-closed", &[("how", how.into()), ("closed_by", by.into())]))
            }
        }
    }
}

/// One alert (signal and label set) of an incident.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AlertSummary {
    pub signal: String,
    pub labels: String,
    /// When its condition began (from the firing record), and when it fired.
    pub onset_ms: Option<i64>,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    /// The highest value recorded, formatted in the signal's unit.
    pub peak: Option<String>,
    #[serde(skip)]
    pub peak_value: f64,
    /// PAGE if it ever paged, else WARN.
    pub severity: String,
    pub acked_by: Option<String>,
    pub acked_ms: Option<i64>,
}

/// A runbook step run during an incident.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct StepSummary {
    pub at_ms: i64,
    pub runbook: String,
    pub step: String,
    pub target: String,
    pub by: String,
    /// `exit 0`, `timed out`, …
    pub status: String,
    pub exit: Option<i64>,
    pub passed: bool,
    /// The incident it was recorded under.
    pub incident: Option<String>,
}

impl StepSummary {
    /// From a `step-finished` record written at `at_ms` by `by`.
    pub fn from_record(r: &Record, at_ms: i64, by: &str) -> StepSummary {
        StepSummary {
            at_ms,
            runbook: str_of(r, "runbook").into_owned(),
            step: str_of(r, "step").into_owned(),
            target: str_of(r, "target").into_owned(),
            by: crate::text::escape_control(by).into_owned(),
            status: str_of(r, "status").into_owned(),
            exit: r.get("exit").and_then(Value::as_i64),
            passed: r.get("passed") == Some(&Value::Bool(true)),
            incident: r.get("incident").and_then(Value::as_str).map(|i| crate::text::escape_control(i).into_owned()),
        }
    }
}

/// One line of the timeline.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Entry {
    pub at_ms: i64,
    pub by: String,
    pub kind: String,
    pub text: String,
}

/// What is known of an incident: folded from its records in order.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub opened_ms: Option<i64>,
    pub opened_by: String,
    pub closed_ms: Option<i64>,
    pub closed_how: Option<String>,
    /// The latest `:incident status` note.
    pub status: Option<String>,
    pub alerts: Vec<AlertSummary>,
    pub steps: Vec<StepSummary>,
    pub runbooks: BTreeSet<String>,
    pub timeline: Vec<Entry>,
    /// The drill it belongs to, if any.
    pub drill: Option<String>,
    /// When the condition of the alert that opened it began.
    pub trigger_onset_ms: Option<i64>,
}

/// A record's text field, control characters escaped: the log is read back from disk, and
/// anything may have been written into it.
fn str_of<'a>(r: &'a Record, k: &str) -> std::borrow::Cow<'a, str> {
    crate::text::escape_control(r.get(k).and_then(Value::as_str).unwrap_or(""))
}

impl Summary {
    pub fn new(id: &str) -> Summary {
        Summary { id: id.to_owned(), ..Summary::default() }
    }

    /// Folds the records of the audit log that carry `id` (in log order); `fmt` formats a
    /// signal's value in its unit. None when no record carries it.
    pub fn from_log(id: &str, records: &[crate::audit::Record], fmt: &dyn Fn(&str, f64) -> String) -> Option<Summary> {
        let mut s = Summary::new(id);
        let mut any = false;
        for r in records.iter().filter(|r| r.str("incident") == Some(id)) {
            any = true;
            s.apply(&r.fields, r.ts_ms().unwrap_or(0), &crate::audit::user_of(&r.fields), fmt);
        }
        any.then_some(s)
    }

    /// The alert of a signal and label set, made on first sight.
    fn alert(&mut self, signal: &str, labels: &str) -> &mut AlertSummary {
        let k = match self.alerts.iter().position(|a| a.signal == signal && a.labels == labels) {
            Some(k) => k,
            None => {
                self.alerts.push(AlertSummary {
                    signal: signal.to_owned(),
                    labels: labels.to_owned(),
                    severity: "WARN".into(),
                    peak_value: f64::NEG_INFINITY,
                    ..AlertSummary::default()
                });
                self.alerts.len() - 1
            }
        };
        &mut self.alerts[k]
    }

    fn entry(&mut self, at_ms: i64, by: &str, kind: &str, text: String) {
        self.timeline.push(Entry { at_ms, by: by.to_owned(), kind: kind.to_owned(), text });
    }

    /// One record, written at `at_ms` by `by`.
    pub fn apply(&mut self, r: &Record, at_ms: i64, by: &str, fmt: &dyn Fn(&str, f64) -> String) {
        if self.drill.is_none()
            && let Some(d) = r.get("drill").and_then(Value::as_str)
        {
            self.drill = Some(d.to_owned());
        }
        let kind = str_of(r, "kind");
        let kind = &*kind;
        match kind {
            "incident-opened" => {
                self.title = str_of(r, "title").into_owned();
                self.severity = str_of(r, "severity").into_owned();
                self.opened_ms = Some(at_ms);
                self.opened_by = str_of(r, "opened_by").into_owned();
                self.trigger_onset_ms = r.get("since_ms").and_then(Value::as_i64);
                let how = if self.opened_by == "auto" {
                    "opened by the first page".to_owned()
                } else {
                    format!("declared by {by}")
                };
                let text = format!("Incident {how} ({}): {}", self.severity, self.title);
                self.entry(at_ms, by, kind, text);
            }
            "incident-updated" => {
                for (k, what) in [("title", "title"), ("severity", "severity"), ("status", "status")] {
                    if !r.contains_key(k) {
                        continue;
                    }
                    let v = str_of(r, k);
                    match k {
                        "title" => self.title = v.clone().into_owned(),
                        "severity" => self.severity = v.clone().into_owned(),
                        _ => self.status = Some(v.clone().into_owned()),
                    }
                    self.entry(at_ms, by, kind, format!("{what}: {v}"));
                }
            }
            "incident-closed" => {
                self.closed_ms = Some(at_ms);
                self.closed_how = Some(str_of(r, "how").into_owned());
                self.entry(at_ms, by, kind, format!("Incident closed: {}", str_of(r, "how")));
            }
            "alert" => {
                let (signal, labels) = (str_of(r, "signal").into_owned(), str_of(r, "labels").into_owned());
                let transition = str_of(r, "transition");
                let transition = &*transition;
                let value = r.get("value").and_then(Value::as_f64);
                let shown = value.map(|v| fmt(&signal, v)).unwrap_or_default();
                let onset = r.get("since_ms").and_then(Value::as_i64);
                let a = self.alert(&signal, &labels);
                if let Some(v) = value
                    && v > a.peak_value
                {
                    a.peak_value = v;
                    a.peak = Some(shown.clone());
                }
                let firing = r.get("transition").and_then(|t| t.get("firing")).and_then(Value::as_str);
                let word = match (firing, transition) {
                    (Some(sev), _) => {
                        a.fired_ms.get_or_insert(at_ms);
                        a.resolved_ms = None;
                        if a.onset_ms.is_none() {
                            a.onset_ms = onset;
                        }
                        if sev == "PAGE" {
                            a.severity = "PAGE".into();
                            "firing at PAGE"
                        } else {
                            "firing at WARN"
                        }
                    }
                    (None, "escalated") => {
                        // Fired at WARN before the incident: its page is when it is seen here.
                        a.fired_ms.get_or_insert(at_ms);
                        a.severity = "PAGE".into();
                        "escalated to PAGE"
                    }
                    (None, "deescalated") => "de-escalated to WARN",
                    (None, "resolved") => {
                        a.resolved_ms = Some(at_ms);
                        "resolved"
                    }
                    (None, other) => other,
                };
                let at = if shown.is_empty() { String::new() } else { format!(" at {shown}") };
                self.entry(at_ms, by, kind, format!("{signal} {labels} {word}{at}"));
            }
            "ack" => {
                let what = str_of(r, "what");
                if let Some(a) = self.alerts.iter_mut().find(|a| what == format!("{} {}", a.signal, a.labels)) {
                    a.acked_by.get_or_insert_with(|| by.to_owned());
                    a.acked_ms.get_or_insert(at_ms);
                }
                self.entry(at_ms, by, kind, format!("{what} acknowledged by {by}"));
            }
            "silence" => {
                let ms = r.get("for_ms").and_then(Value::as_u64).unwrap_or(0);
                let d = crate::config::units::format_duration(std::time::Duration::from_millis(ms));
                let text = format!("{} silenced for {d} by {by}: {}", str_of(r, "what"), str_of(r, "comment"));
                self.entry(at_ms, by, kind, text);
            }
            "runbook-opened" => {
                let rb = str_of(r, "runbook").into_owned();
                self.entry(at_ms, by, kind, format!("runbook {rb} opened by {by}"));
                self.runbooks.insert(rb);
            }
            "step-started" => {
                let argv = crate::audit::argv_of(r);
                let text = format!(
                    "{by} ran {}/{} on {}: {}",
                    str_of(r, "runbook"),
                    str_of(r, "step"),
                    str_of(r, "target"),
                    crate::exec::template::display_argv(&argv)
                );
                self.entry(at_ms, by, kind, text);
            }
            "step-finished" => {
                let step = StepSummary::from_record(r, at_ms, by);
                let text = format!(
                    "{}/{} on {}: {}{}, {}",
                    step.runbook,
                    step.step,
                    step.target,
                    step.status,
                    step.exit.map_or_else(String::new, |e| format!(" (exit code {e})")),
                    if step.passed { "passed" } else { "FAILED" }
                );
                self.steps.push(step);
                self.entry(at_ms, by, kind, text);
            }
            "step-verified" => {
                let ok = r.get("passed") == Some(&Value::Bool(true));
                let text = format!(
                    "{}/{}: {} {} ({})",
                    str_of(r, "runbook"),
                    str_of(r, "step"),
                    if ok { "verified" } else { "NOT verified" },
                    str_of(r, "condition"),
                    str_of(r, "answer")
                );
                self.entry(at_ms, by, kind, text);
            }
            "step-outcome-unknown" => {
                self.entry(
                    at_ms,
                    by,
                    kind,
                    format!("run {}: outcome unknown: {}", str_of(r, "run"), str_of(r, "reason")),
                );
            }
            _ => {}
        }
    }

    /// When the trouble began: the earliest onset (or firing) of its alerts, else the opening.
    pub fn onset_ms(&self) -> Option<i64> {
        self.alerts
            .iter()
            .filter_map(|a| a.onset_ms.or(a.fired_ms))
            .chain(self.trigger_onset_ms)
            .min()
            .or(self.opened_ms)
    }

    /// When nightwatch detected it: the first alert that fired.
    pub fn detected_ms(&self) -> Option<i64> {
        self.alerts.iter().filter_map(|a| a.fired_ms).min()
    }

    /// When a human first responded: an ack, or a runbook opened.
    pub fn responded_ms(&self) -> Option<i64> {
        self.timeline.iter().find(|e| e.kind == "ack" || e.kind == "runbook-opened").map(|e| e.at_ms)
    }

    /// When its alerts had all resolved: the last resolution, if none is still firing.
    pub fn resolved_ms(&self) -> Option<i64> {
        if self.alerts.is_empty() || self.alerts.iter().any(|a| a.fired_ms.is_some() && a.resolved_ms.is_none()) {
            return None;
        }
        self.alerts.iter().filter_map(|a| a.resolved_ms).max()
    }

    /// Duration so far (to `now_ms` while open).
    pub fn duration_ms(&self, now_ms: i64) -> Option<i64> {
        Some(self.closed_ms.unwrap_or(now_ms) - self.opened_ms?)
    }
}

/// An incident as the log lists it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Listing {
    pub id: String,
    pub title: String,
    pub severity: String,
    /// None when its opening is not in the records read.
    pub opened_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    /// Its first and latest records.
    #[serde(skip)]
    pub first_ms: i64,
    #[serde(skip)]
    pub last_ms: i64,
    /// The drill it belongs to.
    #[serde(skip)]
    pub drill: Option<String>,
}

/// Every incident in the records, in order of first appearance, text escaped.
pub fn list(records: &[crate::audit::Record]) -> Vec<Listing> {
    let mut out: Vec<Listing> = Vec::new();
    for r in records {
        let Some(id) = r.str("incident") else { continue };
        let id = crate::text::escape_control(id);
        let at = r.ts_ms().unwrap_or(0);
        let k = match out.iter().position(|l| l.id == id) {
            Some(k) => k,
            None => {
                out.push(Listing {
                    id: id.into_owned(),
                    title: String::new(),
                    severity: String::new(),
                    opened_ms: None,
                    closed_ms: None,
                    first_ms: at,
                    last_ms: at,
                    drill: None,
                });
                out.len() - 1
            }
        };
        let l = &mut out[k];
        l.last_ms = at;
        if r.kind() == "incident-opened" {
            l.opened_ms = Some(at);
        }
        if r.kind() == "incident-closed" {
            l.closed_ms = Some(at);
        }
        if matches!(r.kind(), "incident-opened" | "incident-updated") {
            if r.fields.contains_key("title") {
                l.title = str_of(&r.fields, "title").into_owned();
            }
            if r.fields.contains_key("severity") {
                l.severity = str_of(&r.fields, "severity").into_owned();
            }
        }
        if l.drill.is_none() && r.str("drill").is_some() {
            l.drill = Some(str_of(&r.fields, "drill").into_owned());
        }
    }
    out
}

/// The next free id for `prefix` in `year`, over the log's text: one more than the highest
/// `PREFIX-YEAR-NNN` any `incident-opened` record carries.
pub fn next_id(log_text: &str, prefix: &str, year: i32) -> String {
    let stem = format!("{prefix}-{year}-");
    let highest = log_text
        .lines()
        .filter(|l| l.contains("\"incident-opened\""))
        .filter_map(|l| serde_json::from_str::<Record>(l).ok())
        .filter(|r| r.get("kind").and_then(Value::as_str) == Some("incident-opened"))
        .filter_map(|r| r.get("incident").and_then(Value::as_str)?.strip_prefix(&stem)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    format!("{stem}{:03}", highest + 1)
}

#[cfg(test)]
mod tests;
