//! The post-incident review draft (seed 001 §4.7), filled from the incident's audit records:
//! id, duration, impact, a UTC timeline of every alert transition, ack, silence and runbook step
//! (who, exit code), time to detect and to resolve. Root cause and action items are left as
//! headed prompts: only the people who were there can write them.

use serde::Serialize;

use crate::incident::Summary;
use crate::incident::templates::span;

/// The review, as JSON has it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Review {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub opened_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    /// Open to closed (to now while it is open).
    pub duration_ms: Option<i64>,
    pub still_open: bool,
    /// When the first alert's condition began, when nightwatch detected it (first alert
    /// fired), when a human first responded (ack or runbook opened), when every alert had
    /// resolved.
    pub onset_ms: Option<i64>,
    pub detected_ms: Option<i64>,
    pub responded_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    /// Detected − onset; responded − detected; resolved − onset.
    pub time_to_detect_ms: Option<i64>,
    pub time_to_respond_ms: Option<i64>,
    pub time_to_resolve_ms: Option<i64>,
    pub drill: Option<String>,
    pub summary: Summary,
}

pub fn review(s: Summary, now_ms: i64) -> Review {
    let (onset, detected, responded, resolved) = (s.onset_ms(), s.detected_ms(), s.responded_ms(), s.resolved_ms());
    let diff = |a: Option<i64>, b: Option<i64>| Some(b? - a?).filter(|d| *d >= 0);
    Review {
        id: s.id.clone(),
        title: s.title.clone(),
        severity: s.severity.clone(),
        opened_ms: s.opened_ms,
        closed_ms: s.closed_ms,
        duration_ms: s.duration_ms(now_ms),
        still_open: s.closed_ms.is_none(),
        onset_ms: onset,
        detected_ms: detected,
        responded_ms: responded,
        resolved_ms: resolved,
        time_to_detect_ms: diff(onset, detected),
        time_to_respond_ms: diff(detected, responded),
        time_to_resolve_ms: diff(onset, resolved),
        drill: s.drill.clone(),
        summary: s,
    }
}

fn clock(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "—".into(), |t| t.format("%H:%M:%S").to_string())
}

fn dur(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".into(), span)
}

/// Markdown: the seed's template, filled.
pub fn markdown(r: &Review) -> String {
    let s = &r.summary;
    let mut out = String::from("## Async Incident Post-Mortem\n\n");
    out.push_str(&format!("**Incident ID**: {}  \n", r.id));
    if !r.title.is_empty() {
        out.push_str(&format!("**Title**: {}  \n", r.title));
    }
    out.push_str(&format!("**Severity**: {}  \n", if r.severity.is_empty() { "—" } else { &r.severity }));
    let duration = match (r.duration_ms, r.still_open) {
        (Some(d), false) => span(d),
        (Some(d), true) => format!("{} so far (still open)", span(d)),
        (None, _) => "—".into(),
    };
    out.push_str(&format!("**Duration**: {duration}  \n"));
    if let Some(d) = &r.drill {
        out.push_str(&format!("**Drill**: {d} (not a real incident)  \n"));
    }
    let impact: Vec<String> = s
        .alerts
        .iter()
        .map(|a| {
            let peak = a.peak.as_deref().map_or_else(String::new, |p| format!(", peak {p}"));
            format!("{} {} ({}{peak})", a.signal, a.labels, a.severity)
        })
        .collect();
    out.push_str(&format!(
        "**Impact**: {}; [what users saw, and how many]\n",
        if impact.is_empty() { "no alerts recorded".to_owned() } else { impact.join("; ") }
    ));
    let first_day = r.opened_ms.or(r.onset_ms).and_then(chrono::DateTime::from_timestamp_millis);
    out.push_str(&format!(
        "\n### Timeline (UTC{})\n",
        first_day.map_or_else(String::new, |d| format!(", {}", d.format("%Y-%m-%d")))
    ));
    let mut day = first_day.map(|d| d.date_naive());
    for e in &s.timeline {
        let t = chrono::DateTime::from_timestamp_millis(e.at_ms);
        let date = t.map(|t| t.date_naive());
        let stamp = match (t, date != day) {
            (Some(t), true) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            (Some(t), false) => t.format("%H:%M:%S").to_string(),
            (None, _) => "?".into(),
        };
        day = date;
        out.push_str(&format!("- **{stamp}** - {}\n", e.text.replace('*', "\\*")));
    }
    out.push_str("\n### Response times\n\n| | when (UTC) | |\n|---|---|---|\n");
    out.push_str(&format!("| Onset (first condition true) | {} | |\n", clock(r.onset_ms)));
    out.push_str(&format!(
        "| Detected (first alert fired) | {} | time to detect {} |\n",
        clock(r.detected_ms),
        dur(r.time_to_detect_ms)
    ));
    out.push_str(&format!(
        "| First response (ack or runbook) | {} | {} after detection |\n",
        clock(r.responded_ms),
        dur(r.time_to_respond_ms)
    ));
    out.push_str(&format!(
        "| Resolved (all alerts clear) | {} | time to resolve {} |\n",
        clock(r.resolved_ms),
        dur(r.time_to_resolve_ms)
    ));
    out.push_str(&format!("| Closed | {} | |\n", clock(r.closed_ms)));
    out.push_str("\n### Runbook steps\n\n");
    if s.steps.is_empty() {
        out.push_str("None were run from nightwatch.\n");
    } else {
        out.push_str("| time | step | target | by | result | exit code |\n|---|---|---|---|---|---|\n");
        for st in &s.steps {
            out.push_str(&format!(
                "| {} | {}/{} | {} | {} | {}{} | {} |\n",
                clock(Some(st.at_ms)),
                st.runbook,
                st.step,
                st.target,
                st.by,
                st.status,
                if st.passed { "" } else { " (FAILED)" },
                st.exit.map_or_else(|| "—".into(), |e| e.to_string())
            ));
        }
    }
    out.push_str(
        "\n### Root Cause\n1. [What failed first, and why]\n2. [How it spread]\n3. [Why it was not caught sooner]\n",
    );
    out.push_str("\n### Action Items\n- [ ] [Action] (P0)\n- [ ] [Action] (P1)\n");
    out
}

pub fn json(r: &Review) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
