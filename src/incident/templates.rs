//! The seed's incident templates (declaration, status update, resolution), filled from what is
//! known of the incident; what only a human can say stays a `[bracketed prompt]`.

use super::Summary;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    Declare,
    Status,
    Resolved,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        match s {
            "declare" | "declared" | "declaration" => Ok(Template::Declare),
            "status" | "update" => Ok(Template::Status),
            "resolved" | "resolve" | "resolution" => Ok(Template::Resolved),
            other => Err(format!("unknown template {other:?}: use declare, status or resolved")),
        }
    }
}

/// A time as the templates show it: `2026-11-23 03:12 UTC`.
pub fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| "?".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// `47m`, `2h 05m`, `35s`.
pub fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s % 60 == 0 => format!("{}m", s / 60),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn bullets(out: &mut String, items: &[String], prompt: &str) {
    if items.is_empty() {
        out.push_str(&format!("- [{prompt}]\n"));
    }
    for i in items {
        out.push_str(&format!("- {i}\n"));
    }
}

/// What the incident is about: its alerts' signals, in order of appearance.
fn kinds(s: &Summary) -> String {
    let mut v: Vec<&str> = Vec::new();
    for a in &s.alerts {
        if !v.contains(&a.signal.as_str()) {
            v.push(&a.signal);
        }
    }
    if v.is_empty() { "[Type]".into() } else { v.join(", ") }
}

fn location(s: &Summary, environment: &str) -> String {
    let mut v: Vec<&str> = Vec::new();
    for a in &s.alerts {
        if a.labels != "{}" && !v.contains(&a.labels.as_str()) {
            v.push(&a.labels);
        }
    }
    let labels = if v.is_empty() { String::new() } else { v.join(", ") };
    match (environment.is_empty(), labels.is_empty()) {
        (true, true) => "[Location]".into(),
        (false, true) => environment.to_owned(),
        (true, false) => labels,
        (false, false) => format!("{environment}: {labels}"),
    }
}

fn impact(s: &Summary) -> Vec<String> {
    s.alerts
        .iter()
        .map(|a| {
            let peak = a.peak.as_deref().map_or_else(String::new, |p| format!(", peak {p}"));
            let state = match (a.fired_ms, a.resolved_ms) {
                (_, Some(r)) => format!("resolved {}", utc(r)),
                (Some(_), None) => "still firing".into(),
                (None, None) => "not firing".into(),
            };
            format!("{} {} ({}{peak}; {state})", a.signal, a.labels, a.severity)
        })
        .collect()
}

fn actions(s: &Summary, passed_only: bool) -> Vec<String> {
    s.steps
        .iter()
        .filter(|st| !passed_only || st.passed)
        .map(|st| {
            format!(
                "{} {}/{} on {} by {}: {}",
                utc(st.at_ms),
                st.runbook,
                st.step,
                st.target,
                st.by,
                if st.passed { st.status.clone() } else { format!("{} (FAILED)", st.status) }
            )
        })
        .collect()
}

/// The template filled in, as plain text.
pub fn render(t: Template, s: &Summary, environment: &str, now_ms: i64) -> String {
    let mut out = String::new();
    let id = if s.id.is_empty() { "[ID]" } else { s.id.as_str() };
    let next = utc(now_ms + 30 * 60 * 1000);
    match t {
        Template::Declare => {
            out.push_str("INCIDENT DECLARED\n================\n\n");
            out.push_str(&format!("Incident ID: {id}\n"));
            out.push_str(&format!("Severity: {}\n", if s.severity.is_empty() { "[P1/P2/P3/P4]" } else { &s.severity }));
            out.push_str(&format!("Type: {}\n", kinds(s)));
            out.push_str(&format!("Location: {}\n", location(s, environment)));
            out.push_str(&format!("Time: {}\n\n", s.opened_ms.map_or_else(|| "[Time]".into(), utc)));
            out.push_str("Description:\n");
            out.push_str(&format!(
                "{}\n\n",
                if s.title.is_empty() { "[Brief description of the incident]" } else { &s.title }
            ));
            out.push_str("Impact:\n");
            bullets(&mut out, &impact(s), "Impact 1");
            out.push_str("\nInitial Response:\n");
            let mut first: Vec<String> = s.runbooks.iter().map(|r| format!("runbook {r} opened")).collect();
            first.extend(actions(s, false));
            bullets(&mut out, &first, "Action 1");
            out.push_str(&format!("\nNext Update: {next}\n"));
        }
        Template::Status => {
            out.push_str("STATUS UPDATE\n============\n\n");
            out.push_str(&format!("Incident ID: {id}\n"));
            out.push_str(&format!("Time: {}\n", utc(now_ms)));
            let status = if s.closed_ms.is_some() {
                "Resolved"
            } else if s.resolved_ms().is_some() {
                "Monitoring"
            } else if s.steps.iter().any(|st| st.passed) {
                "Mitigating"
            } else {
                "Investigating"
            };
            out.push_str(&format!("Status: {status}\n\n"));
            out.push_str("Progress Made:\n");
            bullets(&mut out, &actions(s, false), "Progress 1");
            out.push_str("\nCurrent Situation:\n");
            let firing: Vec<String> = s
                .alerts
                .iter()
                .filter(|a| a.fired_ms.is_some() && a.resolved_ms.is_none())
                .map(|a| format!("{} {}", a.signal, a.labels))
                .collect();
            let situation = match (&s.status, firing.is_empty()) {
                (Some(note), _) => note.clone(),
                (None, true) => "All alerts have resolved.".to_owned(),
                (None, false) => format!("Still firing: {}.", firing.join("; ")),
            };
            out.push_str(&format!("{situation}\n\nNext Steps:\n"));
            bullets(&mut out, &[], "Next Step 1");
            out.push_str(&format!("\nNext Update: {next}\n"));
        }
        Template::Resolved => {
            out.push_str("INCIDENT RESOLVED\n================\n\n");
            out.push_str(&format!("Incident ID: {id}\n"));
            let resolved = s.closed_ms.or_else(|| s.resolved_ms());
            out.push_str(&format!("Resolution Time: {}\n", resolved.map_or_else(|| "[Time]".into(), utc)));
            let duration = match (s.opened_ms, resolved) {
                (Some(o), Some(r)) => span(r - o),
                _ => "[Duration]".into(),
            };
            out.push_str(&format!("Duration: {duration}\n\n"));
            out.push_str("Root Cause:\n[Root cause description]\n\n");
            out.push_str("Resolution Actions:\n");
            bullets(&mut out, &actions(s, true), "Action 1");
            out.push_str("\nPrevention Measures:\n- [Measure 1]\n\nLessons Learned:\n- [Lesson 1]\n");
        }
    }
    out
}
