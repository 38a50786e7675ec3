//! The morning report (`morning`) and the post-incident review (`postmortem`): pure functions
//! from values and audit records to a serialisable report, and its text, Markdown and JSON.
//! The commands gather the inputs (a poll, range queries, the audit log); these render them.
//!
//! What the period's history says (alerts, incidents, drills, steps) is read from the audit
//! log here, once, for both.

pub mod morning;
pub mod postmortem;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::audit::Record;

/// `03:12`, UTC.
pub fn hm(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| "?".into(), |t| t.format("%H:%M").to_string())
}

/// An alert as the period's history tells it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct AlertSpan {
    pub signal: String,
    pub labels: String,
    /// PAGE if it ever paged.
    pub severity: String,
    pub fired_ms: i64,
    /// None: no resolution was recorded (still firing, or the cockpit closed first).
    pub resolved_ms: Option<i64>,
    pub acked_by: Option<String>,
    pub incident: Option<String>,
}

/// A runbook step run in the period.
pub type StepRun = crate::incident::StepSummary;

/// A drill that ended in the period.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DrillRun {
    pub at_ms: i64,
    pub drill: String,
    pub run: String,
    pub by: String,
    pub end: String,
    pub grade: String,
    pub detect: String,
    pub resolve: String,
}

/// An incident seen in the period.
pub type IncidentSpan = crate::incident::Listing;

/// The history of a period, from the audit log. Records stamped with a drill are drills'
/// business: they count under `drills`, not as real alerts, incidents or steps.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct History {
    pub alerts: Vec<AlertSpan>,
    pub incidents: Vec<IncidentSpan>,
    pub drills: Vec<DrillRun>,
    pub steps: Vec<StepRun>,
}

/// A record's text field, escaped (the log is read back from disk: anything may be in it).
fn text(r: &Record, k: &str) -> String {
    crate::text::escape_control(r.str(k).unwrap_or("")).into_owned()
}

impl History {
    pub fn from_log(records: &[Record], start_ms: i64) -> History {
        let mut h = History::default();
        // Alert ids are per cockpit process: keyed by host, pid and id.
        let mut open: BTreeMap<(String, u64, u64), usize> = BTreeMap::new();
        let key = |r: &Record| {
            let who = r.fields.get("who");
            let host = who.and_then(|w| w.get("host")).and_then(Value::as_str).unwrap_or("").to_owned();
            let pid = who.and_then(|w| w.get("pid")).and_then(Value::as_u64).unwrap_or(0);
            (host, pid, r.fields.get("alert").and_then(Value::as_u64).unwrap_or(0))
        };
        for r in records {
            let at = r.ts_ms().unwrap_or(0);
            if at < start_ms {
                continue;
            }
            let drill = r.str("drill").is_some();
            let incident = r.str("incident").map(|i| crate::text::escape_control(i).into_owned());
            match r.kind() {
                "drill-end" => h.drills.push(DrillRun {
                    at_ms: at,
                    drill: text(r, "drill"),
                    run: text(r, "drill-run"),
                    by: crate::text::escape_control(&crate::audit::user_of(&r.fields)).into_owned(),
                    end: text(r, "end"),
                    grade: text(r, "grade"),
                    detect: text(r, "detect"),
                    resolve: text(r, "resolve"),
                }),
                _ if drill => {}
                "alert" => {
                    let k = key(r);
                    let firing = r.fields.get("transition").and_then(|t| t.get("firing")).and_then(Value::as_str);
                    let transition = r.str("transition").unwrap_or("");
                    if let Some(sev) = firing {
                        open.insert(k, h.alerts.len());
                        h.alerts.push(AlertSpan {
                            signal: text(r, "signal"),
                            labels: text(r, "labels"),
                            severity: sev.to_owned(),
                            fired_ms: at,
                            resolved_ms: None,
                            acked_by: None,
                            incident,
                        });
                    } else if let Some(&i) = open.get(&k) {
                        match transition {
                            "escalated" => h.alerts[i].severity = "PAGE".into(),
                            "resolved" => {
                                h.alerts[i].resolved_ms = Some(at);
                                open.remove(&k);
                            }
                            _ => {}
                        }
                    }
                }
                "ack" => {
                    if let Some(&i) = open.get(&key(r)) {
                        h.alerts[i].acked_by.get_or_insert_with(|| {
                            crate::text::escape_control(&crate::audit::user_of(&r.fields)).into_owned()
                        });
                    }
                }
                "step-finished" => h.steps.push(StepRun::from_record(&r.fields, at, &crate::audit::user_of(&r.fields))),
                _ => {}
            }
        }
        // Incidents: any that opened, changed or closed in the period.
        h.incidents =
            crate::incident::list(records).into_iter().filter(|l| l.drill.is_none() && l.last_ms >= start_ms).collect();
        h
    }
}
