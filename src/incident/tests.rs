use std::time::Duration;

use super::templates::{Template, render};
use super::*;
use crate::alerts::{Severity, Transition, TransitionKind};

const T: i64 = 1_795_489_200_000;

fn settings() -> IncidentSettings {
    IncidentSettings { prefix: "ASYNC".into(), quiet: Duration::from_secs(600), severity: "P2".into() }
}

fn tr(alert: u64, signal: &str, kind: TransitionKind, at: i64, value: f64) -> Transition {
    Transition {
        alert,
        signal: signal.into(),
        labels: "{node=\"node-03\"}".into(),
        at,
        value,
        kind,
        active_since: at - 30_000,
    }
}

fn fmt(_: &str, v: f64) -> String {
    format!("{:.0}ms", v * 1000.0)
}

#[test]
fn a_warning_does_not_open_an_incident_and_the_first_page_does() {
    let mut t = Tracker::new(settings(), false);
    assert!(t.transitions(&[tr(1, "clock-skew", TransitionKind::Firing(Severity::Warn), T, 0.2)], T).is_none());
    assert!(t.current.is_none());
    let opened = t.transitions(&[tr(1, "clock-skew", TransitionKind::Escalated, T + 1, 0.9)], T + 1);
    let opened = opened.expect("the page opens one");
    assert_eq!(opened.get("kind").and_then(Value::as_str), Some("incident-opened"));
    assert_eq!(opened.get("severity").and_then(Value::as_str), Some("P2"));
    assert_eq!(opened.get("prefix").and_then(Value::as_str), Some("ASYNC"));
    assert!(t.current.as_ref().is_some_and(|o| o.alerts.contains(&1)));
    assert!(
        t.transitions(&[tr(2, "timeout-ratio", TransitionKind::Firing(Severity::Page), T + 2, 0.2)], T + 2).is_none(),
        "a second page joins the open incident"
    );
    assert_eq!(t.current.as_ref().map(|o| o.alerts.len()), Some(2));
}

#[test]
fn records_wait_for_the_id_then_carry_it_and_close_after_the_quiet_period() {
    let mut t = Tracker::new(settings(), false);
    let r = |k: &str| crate::audit::event(k, &[("what", "clock-skew {node=\"node-03\"}".into())]);
    assert_eq!(t.stamp(vec![r("ack")], T, "ana", &fmt).len(), 1, "no incident: written as they are");
    t.transitions(&[tr(1, "clock-skew", TransitionKind::Firing(Severity::Page), T, 0.9)], T);
    assert!(t.stamp(vec![r("ack")], T, "ana", &fmt).is_empty(), "held while the id is being given");
    let held = t.assigned("ASYNC-2026-004");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].get("incident").and_then(Value::as_str), Some("ASYNC-2026-004"));
    let now = t.stamp(vec![r("silence")], T + 5, "ana", &fmt);
    assert_eq!(now[0].get("incident").and_then(Value::as_str), Some("ASYNC-2026-004"));
    // The alert is still active: no close; resolved, the quiet period runs from then.
    assert!(t.tick(&|_| true, T + 3_600_000).is_none());
    assert!(t.tick(&|_| false, T + 3_600_000).is_none(), "the quiet period starts");
    assert!(t.tick(&|_| false, T + 3_600_000 + 599_000).is_none());
    let closed = t.tick(&|_| false, T + 3_600_000 + 600_000).expect("closed after 10m quiet");
    assert_eq!(closed.get("closed_by").and_then(Value::as_str), Some("auto"));
    assert!(closed.get("how").and_then(Value::as_str).is_some_and(|h| h.contains("10m")));
}

#[test]
fn a_refiring_alert_restarts_the_quiet_period() {
    let mut t = Tracker::new(settings(), false);
    t.transitions(&[tr(1, "clock-skew", TransitionKind::Firing(Severity::Page), T, 0.9)], T);
    t.assigned("ASYNC-2026-001");
    assert!(t.tick(&|_| false, T + 1000).is_none());
    t.transitions(&[tr(7, "clock-skew", TransitionKind::Firing(Severity::Warn), T + 300_000, 0.2)], T + 300_000);
    assert!(t.tick(&|a| a == 7, T + 601_000).is_none(), "alert 7 joined and is firing");
    assert!(t.tick(&|_| false, T + 700_000).is_none(), "quiet again from here");
    assert!(t.tick(&|_| false, T + 1_300_000).is_some());
}

#[test]
fn operators_declare_retitle_set_severity_and_close() {
    let mut t = Tracker::new(settings(), false);
    assert!(t.command(Command::Severity("P1".into()), "ana", T).is_err(), "nothing open");
    let r = t.command(Command::Declare("payments double-charging".into()), "ana", T).expect("declared");
    assert_eq!(r.get("opened_by").and_then(Value::as_str), Some("ana"));
    assert!(t.command(Command::Declare("again".into()), "ana", T).is_err(), "one at a time");
    t.assigned("ASYNC-2026-002");
    let r = t.command(Command::Severity("P1".into()), "ana", T).expect("severity");
    assert_eq!(r.get("severity").and_then(Value::as_str), Some("P1"));
    let r = t.command(Command::Close("fixed by the PSP".into()), "ana", T).expect("close");
    assert_eq!(r.get("how").and_then(Value::as_str), Some("closed by ana: fixed by the PSP"));
    assert_eq!(Command::parse("severity p3"), Ok(Command::Severity("P3".into())));
    assert!(Command::parse("severity P9").is_err());
    assert!(Command::parse("title").is_err(), "a title needs text");
    assert!(Command::parse("explode").is_err());
}

#[test]
fn a_given_incident_stamps_everything_and_never_closes_by_itself() {
    let mut t = Tracker::new(settings(), false);
    t.join("OPS-77", T);
    let out = t.stamp(vec![crate::audit::event("ack", &[])], T, "ana", &fmt);
    assert_eq!(out[0].get("incident").and_then(Value::as_str), Some("OPS-77"));
    assert!(t.tick(&|_| false, T + 86_400_000).is_none());
}

#[test]
fn ids_count_up_per_prefix_and_year() {
    let log = [
        r#"{"kind":"incident-opened","incident":"ASYNC-2026-001"}"#,
        r#"{"kind":"ack","incident":"ASYNC-2026-009"}"#,
        r#"{"kind":"incident-opened","incident":"ASYNC-2026-012"}"#,
        r#"{"kind":"incident-opened","incident":"ASYNC-2025-044"}"#,
        r#"{"kind":"incident-opened","incident":"DRILL-2026-003"}"#,
        "not json \"incident-opened\"",
    ]
    .join("\n");
    assert_eq!(next_id(&log, "ASYNC", 2026), "ASYNC-2026-013");
    assert_eq!(next_id(&log, "ASYNC", 2027), "ASYNC-2027-001");
    assert_eq!(next_id(&log, "DRILL", 2026), "DRILL-2026-004");
    assert_eq!(next_id("", "ASYNC", 2026), "ASYNC-2026-001");
}

/// An incident's records as the cockpit writes them.
fn story() -> Summary {
    let mut t = Tracker::new(settings(), false);
    let opened =
        t.transitions(&[tr(1, "clock-skew", TransitionKind::Firing(Severity::Page), T, 0.847)], T).expect("opened");
    let mut s = Summary::new("ASYNC-2026-001");
    s.apply(&opened, T, "auto", &fmt);
    let fire = tr(1, "clock-skew", TransitionKind::Firing(Severity::Page), T, 0.847).audit_record().expect("rec");
    s.apply(&fire, T, "ana", &fmt);
    let ack = crate::audit::event("ack", &[("what", "clock-skew {node=\"node-03\"}".into())]);
    s.apply(&ack, T + 180_000, "ana", &fmt);
    s.apply(&crate::audit::event("runbook-opened", &[("runbook", "clock-skew".into())]), T + 200_000, "ana", &fmt);
    let fin = crate::audit::event(
        "step-finished",
        &[
            ("runbook", "clock-skew".into()),
            ("step", "ntp-sync".into()),
            ("target", "node-03".into()),
            ("status", "exit 0".into()),
            ("exit", 0.into()),
            ("passed", true.into()),
        ],
    );
    s.apply(&fin, T + 300_000, "ana", &fmt);
    let res = tr(1, "clock-skew", TransitionKind::Resolved, T + 600_000, 0.02).audit_record().expect("rec");
    s.apply(&res, T + 600_000, "ana", &fmt);
    s
}

#[test]
fn the_summary_folds_alerts_acks_and_steps_into_times_and_impact() {
    let s = story();
    assert_eq!(s.onset_ms(), Some(T - 30_000), "the condition began 30s before it fired");
    assert_eq!(s.detected_ms(), Some(T));
    assert_eq!(s.responded_ms(), Some(T + 180_000));
    assert_eq!(s.resolved_ms(), Some(T + 600_000));
    assert_eq!(s.alerts.len(), 1);
    assert_eq!(s.alerts[0].peak.as_deref(), Some("847ms"));
    assert_eq!(s.alerts[0].severity, "PAGE");
    assert_eq!(s.alerts[0].acked_by.as_deref(), Some("ana"));
    assert_eq!(s.steps.len(), 1);
    assert_eq!((s.steps[0].exit, s.steps[0].passed), (Some(0), true));
    let texts: Vec<&str> = s.timeline.iter().map(|e| e.text.as_str()).collect();
    assert!(texts.contains(&"clock-skew {node=\"node-03\"} firing at PAGE at 847ms"), "{texts:?}");
    assert!(texts.contains(&"clock-skew/ntp-sync on node-03: exit 0 (exit code 0), passed"), "{texts:?}");
}

#[test]
fn the_templates_are_filled_and_leave_prompts_for_what_only_humans_know() {
    let s = story();
    let d = render(Template::Declare, &s, "prod-eu", T + 700_000);
    assert!(d.starts_with("INCIDENT DECLARED\n"), "{d}");
    assert!(d.contains("Incident ID: ASYNC-2026-001\n"));
    assert!(d.contains("Severity: P2\n"));
    assert!(d.contains("Type: clock-skew\n"));
    assert!(d.contains("Location: prod-eu: {node=\"node-03\"}\n"));
    assert!(d.contains("Time: 2026-11-24 03:00 UTC\n"), "{d}");
    assert!(d.contains("- clock-skew {node=\"node-03\"} (PAGE, peak 847ms; resolved "), "{d}");
    assert!(d.contains("- runbook clock-skew opened\n"), "{d}");
    let st = render(Template::Status, &s, "", T + 700_000);
    assert!(st.contains("Status: Monitoring\n"), "{st}");
    assert!(st.contains("All alerts have resolved."));
    assert!(st.contains("- [Next Step 1]\n"));
    let r = render(Template::Resolved, &s, "", T + 700_000);
    assert!(r.contains("Duration: 10m\n"), "{r}");
    assert!(r.contains("[Root cause description]"));
    assert!(r.contains("clock-skew/ntp-sync on node-03 by ana: exit 0"), "{r}");
}
