//! The view model: everything the screen shows, built from the state by a pure function. The
//! render functions read only this; they never see the store, the engine or a channel.

use crate::app::state::{Focus, PromptKind, State, View};
use crate::config::{Direction, Signal, Unit};
use crate::series::Labels;
use crate::signals::{Level, Outcome, Reading};
use crate::text::escape_control;

/// The hops of the request path, for showing a cascade in path order where the names match.
const PATH: [&str; 4] = ["gateway", "service-a", "service-b", "database"];

#[derive(Clone, Debug, PartialEq)]
pub struct ViewModel {
    pub header: Header,
    pub view: View,
    pub panels: Vec<PanelView>,
    pub panel_sel: Option<usize>,
    pub alerts: Vec<AlertRow>,
    pub alert_sel: Option<usize>,
    pub targets: Vec<TargetRow>,
    pub target_sel: usize,
    pub detail: Option<Detail>,
    pub help: Option<Vec<(String, &'static str)>>,
    pub footer: Footer,
    pub problems: Vec<String>,
    /// What nightwatch started itself (the built-in fleet), shown with the targets.
    pub notes: Vec<String>,
    /// The filter in effect, if any.
    pub filter: Option<String>,
    /// A drill's banner, and its scorecard when it has ended and is shown.
    pub drill: Option<DrillView>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DrillView {
    pub banner: String,
    pub card: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub title: String,
    pub environment: String,
    pub production: bool,
    pub up: usize,
    pub total: usize,
    /// Seconds since the newest scrape started.
    pub poll_age: Option<i64>,
    pub clock: String,
    pub tags: Vec<&'static str>,
    /// The open incident: `ASYNC-2026-001 P2`.
    pub incident: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Footer {
    Hints(Vec<(String, &'static str)>),
    Message(String),
    Prompt { label: String, text: String, error: Option<String> },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PanelView {
    pub id: String,
    pub title: String,
    pub level: Level,
    pub signals: Vec<SignalLine>,
    /// The first signal's readings, worst first (or in path order for the cascade).
    pub bars: Vec<Bar>,
    /// Where the warn and page thresholds sit on the bars' scale (0..=1).
    pub warn_at: Option<f64>,
    pub page_at: Option<f64>,
    /// "3 of 47 over 100ms".
    pub summary: Option<String>,
    /// Some bars are negative: draw them either side of zero.
    pub signed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SignalLine {
    pub title: String,
    pub level: Level,
    /// The worst value now, or why there is none.
    pub value: String,
    /// "warn 100ms", "page 500ms".
    pub thresholds: Vec<String>,
    /// Oldest first; 0..=7, `None` where there was no value.
    pub history: Vec<Option<u8>>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub label: String,
    /// 0..=1 of the scale.
    pub fill: f64,
    /// Past the end of the scale.
    pub over: bool,
    pub negative: bool,
    pub level: Level,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    pub id: u64,
    pub level: Level,
    pub signal: String,
    pub labels: String,
    pub state: String,
    pub since: String,
    pub ack: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TargetRow {
    pub source: String,
    pub url: String,
    pub up: Option<bool>,
    pub last: String,
    pub duration: String,
    pub samples: String,
    pub bytes: String,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    pub title: String,
    pub lines: Vec<(String, String)>,
    /// The runbook that answers the alert, as a flowchart outline with live answers.
    pub runbook: Option<RunbookView>,
    /// What ran in this session and its output (the last lines).
    pub log: Vec<String>,
    /// The step running now, as "step on target, 12s".
    pub running: Option<String>,
    pub confirm: Option<ConfirmView>,
    /// Keys that work here.
    pub hint: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunbookView {
    pub title: String,
    /// The outline (also what the selection moves through).
    pub nodes: Vec<NodeView>,
    pub sel: usize,
    /// The graph to draw when it fits: each node once, and the edges between them.
    pub graph: Vec<GraphNode>,
    pub edges: Vec<(usize, usize, Option<String>)>,
    /// The selected node's index in `graph`.
    pub graph_sel: Option<usize>,
    /// Why there is no flowchart to show, if so.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GraphNode {
    pub label: String,
    pub shape: crate::runbooks::flowchart::Shape,
    /// A decision's live answer or an action's step.
    pub note: Option<String>,
    pub has_step: bool,
    pub live: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub depth: usize,
    /// The label of the edge that leads here.
    pub via: Option<String>,
    pub label: String,
    pub shape: crate::runbooks::flowchart::Shape,
    /// On the path the live answers lead along.
    pub live: bool,
    /// Listed higher up already.
    pub again: bool,
    /// A decision's live answer (`yes: 2.1s on node-17`) or an action's step (`step ntp-sync`).
    pub note: Option<String>,
    pub has_step: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfirmView {
    pub step: String,
    pub phase: &'static str,
    pub argv: String,
    pub target: String,
    pub question: String,
    /// For a step confirmed by typing the target's name: what has been typed.
    pub typed: Option<String>,
    pub expect: Option<String>,
    /// Dry-run or read-only: what the executor will do instead of running.
    pub mode: Option<&'static str>,
}

fn panel_title(id: &str) -> &'static str {
    match id {
        "clock-skew" => "Clock skew",
        "timeout-cascade" => "Timeout cascade",
        "timeout-ratio" => "Timeout ratio",
        "idempotency-cache" => "Idempotency cache",
        "retry-storm" => "Retry storm",
        "latency-delta" => "Latency delta",
        "ordering" => "Ordering violations",
        _ => "Other signals",
    }
}

/// `3m12s` for people.
pub fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The label values that tell readings apart (not job and instance, unless nothing else does).
fn short_labels(l: &Labels) -> String {
    l.short()
}

fn worse(a: Level, b: Level) -> Level {
    if b.verdict_rank() > a.verdict_rank() { b } else { a }
}

fn thresholds(s: &Signal) -> Vec<String> {
    let mut parts = Vec::new();
    let dir = if s.direction == Direction::Below { "below " } else { "" };
    if let Some(w) = s.warn {
        parts.push(format!("warn {dir}{}", s.unit.format(w)));
    }
    if let Some(p) = s.page {
        parts.push(format!("page {dir}{}", s.unit.format(p)));
    }
    parts
}

/// The worst first: highest for "above" signals, lowest for "below" ones.
fn sort_worst_first(readings: &mut [&Reading], direction: Direction) {
    readings.sort_by(|a, b| match direction {
        Direction::Above => b.value.total_cmp(&a.value),
        Direction::Below => a.value.total_cmp(&b.value),
    });
}

struct Ctx<'a> {
    state: &'a State,
    /// No target has answered lately: what is on screen is old.
    stale: bool,
}

fn signal_line(ctx: &Ctx, k: usize, s: &Signal) -> SignalLine {
    let outcome = ctx.state.outcomes.get(k).and_then(Option::as_ref);
    let (mut level, value, note) = match outcome {
        None => (Level::Unknown, "…".to_owned(), Some("waiting for the first evaluation".to_owned())),
        Some(Outcome::Failed { reason }) => (Level::Unknown, "?".to_owned(), Some(escape_control(reason).into_owned())),
        Some(o @ Outcome::Values { readings, warming_up }) => match o.worst(s.direction) {
            Some(r) => (o.level(), s.unit.format(r.value), warming_up.then(|| "warming up".to_owned())),
            None if readings.is_empty() => (Level::Unknown, "no data".to_owned(), Some("no series match".to_owned())),
            None => (o.level(), "NaN".to_owned(), None),
        },
    };
    let mut note = note;
    if ctx.stale {
        level = Level::Stale;
        note = Some("no target answers: values are old".to_owned());
    }
    let hist = &ctx.state.history[k];
    let top = hist.iter().copied().filter(|v| v.is_finite()).chain(s.page.or(s.warn)).fold(0.0f64, f64::max);
    let history = hist
        .iter()
        .map(|v| (v.is_finite() && top > 0.0).then(|| ((v.max(0.0) / top) * 7.0).round().clamp(0.0, 7.0) as u8))
        .collect();
    SignalLine { title: s.title.clone(), level, value, thresholds: thresholds(s), history, note }
}

/// The bars of a panel: the readings of `bar` (signed values stay signed), judged and scaled by
/// the thresholds of `thr` (applied to the magnitude when `bar` has none of its own).
fn bars(
    ctx: &Ctx,
    panel: &str,
    k: usize,
    bar: &Signal,
    thr: &Signal,
) -> (Vec<Bar>, Option<f64>, Option<f64>, Option<String>) {
    let Some(Outcome::Values { readings, .. }) = ctx.state.outcomes.get(k).and_then(Option::as_ref) else {
        return (Vec::new(), None, None, None);
    };
    let mut rs: Vec<&Reading> = readings.iter().filter(|r| r.value.is_finite()).collect();
    if rs.is_empty() {
        return (Vec::new(), None, None, None);
    }
    let own = bar.warn.is_some() || bar.page.is_some();
    if own {
        sort_worst_first(&mut rs, bar.direction);
    } else {
        rs.sort_by(|a, b| b.value.abs().total_cmp(&a.value.abs()));
    }
    let labels: Vec<String> = rs.iter().map(|r| short_labels(&r.labels)).collect();
    let mut order: Vec<usize> = (0..rs.len()).collect();
    if panel == "timeout-cascade" && labels.iter().all(|l| PATH.contains(&l.as_str())) {
        order.sort_by_key(|&i| PATH.iter().position(|p| *p == labels[i]));
    }
    let max_value = rs.iter().map(|r| r.value.abs()).fold(0.0, f64::max);
    let threshold_top = thr.page.or(thr.warn).map(|t| t.abs() * 1.25);
    let scale = threshold_top.unwrap_or(max_value * 1.1).max(f64::MIN_POSITIVE);
    let level_of = |r: &Reading| {
        if ctx.stale {
            Level::Stale
        } else if own {
            r.level
        } else {
            crate::signals::classify(thr, r.value.abs())
        }
    };
    let bars = order
        .iter()
        .map(|&i| {
            let r = rs[i];
            Bar {
                label: labels[i].clone(),
                fill: (r.value.abs() / scale).clamp(0.0, 1.0),
                over: r.value.abs() > scale,
                negative: r.value < 0.0,
                level: level_of(r),
                value: bar.unit.format(r.value),
            }
        })
        .collect();
    let warn_at = thr.warn.map(|w| (w.abs() / scale).min(1.0));
    let page_at = thr.page.map(|p| (p.abs() / scale).min(1.0));
    let summary = thr.warn.or(thr.page).map(|w| {
        let past = rs
            .iter()
            .filter(|r| crate::signals::past(thr.direction, if own { r.value } else { r.value.abs() }, w))
            .count();
        let word = if thr.direction == Direction::Below { "under" } else { "over" };
        let mut s = format!("{past} of {} {word} {}", rs.len(), thr.unit.format(w));
        if !own && let Some(worst) = rs.first() {
            s.push_str(&format!(", worst {} on {}", bar.unit.format(worst.value), short_labels(&worst.labels)));
        }
        s
    });
    (bars, warn_at, page_at, summary)
}

fn panels(ctx: &Ctx) -> Vec<PanelView> {
    let config = &ctx.state.config;
    config
        .panel_ids()
        .into_iter()
        .map(|id| {
            let members: Vec<(usize, &Signal)> = config
                .signals
                .iter()
                .enumerate()
                .filter(|(_, s)| s.panel.as_deref().unwrap_or("other") == id)
                .collect();
            // A display-only signal that feeds the bars is shown as the bars, not as a line.
            let signals: Vec<SignalLine> = members
                .iter()
                .filter(|(_, s)| !(s.bars && s.warn.is_none() && s.page.is_none()))
                .map(|(k, s)| signal_line(ctx, *k, s))
                .collect();
            let level = signals.iter().map(|s| s.level).fold(Level::Ok, worse);
            let bar = members.iter().find(|(_, s)| s.bars).or(members.first());
            let thr = members.iter().find(|(_, s)| s.warn.is_some() || s.page.is_some()).or(bar);
            let (bars, warn_at, page_at, summary) = match (bar, thr) {
                (Some((k, b)), Some((_, t))) => bars(ctx, id, *k, b, t),
                _ => (Vec::new(), None, None, None),
            };
            let signed = bars.iter().any(|b| b.negative);
            PanelView {
                title: panel_title(id).to_owned(),
                id: id.to_owned(),
                level,
                signals,
                bars,
                warn_at,
                page_at,
                summary,
                signed,
            }
        })
        .collect()
}

fn alert_rows(state: &State, now: i64) -> Vec<AlertRow> {
    state
        .listed_alerts()
        .into_iter()
        .map(|a| {
            let level = match (a.state, a.severity) {
                (crate::alerts::State::Resolved, _) => Level::Ok,
                (_, crate::alerts::Severity::Page) => Level::Page,
                (_, crate::alerts::Severity::Warn) => Level::Warn,
            };
            let mut st = a.state.as_str().to_owned();
            if a.stale {
                st.push_str(" (stale)");
            }
            let ack = match (&a.ack, state.engine.silenced_by(a, now)) {
                (_, Some(s)) => format!("silenced: {}", escape_control(&s.comment)),
                (Some(ack), None) => format!("ack {}", escape_control(&ack.by)),
                (None, None) => String::new(),
            };
            AlertRow {
                id: a.id,
                level,
                signal: a.signal.clone(),
                labels: short_labels(&a.labels),
                state: st,
                since: age(now - a.since),
                ack,
            }
        })
        .collect()
}

fn target_rows(state: &State, now: i64) -> Vec<TargetRow> {
    state
        .listed_targets()
        .into_iter()
        .map(|h| TargetRow {
            source: escape_control(&h.source).into_owned(),
            url: escape_control(&h.url).into_owned(),
            up: h.up,
            last: h.last_scrape_ms.map_or_else(|| "never".to_owned(), |t| format!("{} ago", age(now - t))),
            duration: if h.last_scrape_ms.is_some() {
                format!("{:.0}ms", h.duration.as_secs_f64() * 1000.0)
            } else {
                String::new()
            },
            samples: h.samples.to_string(),
            bytes: Unit::Bytes.format(h.bytes as f64),
            error: h.error.as_deref().map(|e| escape_control(e).into_owned()).unwrap_or_default(),
        })
        .collect()
}

fn detail(state: &State, id: u64, now: i64) -> Option<Detail> {
    let a = state.engine.alert(id)?;
    let signal = state.config.signals.iter().find(|s| s.id == a.signal)?;
    let mut lines = vec![
        ("Signal".to_owned(), format!("{} ({})", signal.title, signal.id)),
        ("Labels".to_owned(), escape_control(&a.labels.to_string()).into_owned()),
        ("State".to_owned(), format!("{} {} for {}", a.severity.as_str(), a.state.as_str(), age(now - a.since))),
        ("Value".to_owned(), signal.unit.format(a.value)),
        ("Thresholds".to_owned(), thresholds(signal).join(", ")),
        ("Active since".to_owned(), format!("{} ago", age(now - a.active_since))),
        ("Expression".to_owned(), signal.expr.split_whitespace().collect::<Vec<_>>().join(" ")),
        ("Runbook".to_owned(), signal.runbook.clone().unwrap_or_else(|| "none".to_owned())),
    ];
    if let Some(ack) = &a.ack {
        lines.push(("Acknowledged".to_owned(), format!("by {} {} ago", escape_control(&ack.by), age(now - ack.at))));
    }
    let runbook = runbook_view(state);
    let running = state.running.as_ref().map(|r| {
        let cancelling = if r.cancelling { " (cancelling)" } else { "" };
        format!(
            "{} on {}, {}{cancelling}",
            r.prepared.step,
            escape_control(&r.prepared.target),
            age((now - r.started_ms).max(0))
        )
    });
    let confirm = state.pane.as_ref().and_then(|p| p.confirm.as_ref()).map(|cb| {
        let p = &cb.prepared;
        ConfirmView {
            step: p.step.clone(),
            phase: p.phase.as_str(),
            argv: p.display(),
            target: escape_control(&p.target).into_owned(),
            question: p.question(),
            typed: (p.confirm == crate::runbooks::file::Confirm::Type).then(|| escape_control(&cb.typed).into_owned()),
            expect: p.expect.clone(),
            // What the executor itself will do (its mode, not the flags it came from).
            mode: match state.exec.as_ref().map(|c| c.mode) {
                Some(crate::exec::Mode::DryRun) => Some("DRY-RUN: shows what would run, runs nothing"),
                Some(crate::exec::Mode::ReadOnly) | None => Some("READ-ONLY: the executor will refuse"),
                Some(crate::exec::Mode::Run) => None,
            },
        }
    });
    let hint = if let Some(c) = &confirm {
        if c.typed.is_some() {
            "type the target's name, Enter runs · Esc: No".to_owned()
        } else {
            "y runs · n, Enter or Esc: No".to_owned()
        }
    } else if runbook.as_ref().is_some_and(|r| !r.nodes.is_empty()) && !state.flags.read_only {
        "↑↓ move · Enter/x run the step · a ack · Esc back".to_owned()
    } else {
        "a ack · Esc back".to_owned()
    };
    let mut log = state.step_log.tail(200);
    if let Some(v) = &state.verifying {
        let status = match v.result {
            None => format!("verifying {} — now {}", v.condition, v.answer),
            Some(true) => format!("verified {} — {}", v.condition, v.answer),
            Some(false) => format!("NOT verified {} — {}", v.condition, v.answer),
        };
        if log.last() != Some(&status) && v.result.is_none() {
            log.push(status);
        }
    }
    Some(Detail { title: format!("Alert #{}", a.id), lines, runbook, log, running, confirm, hint })
}

fn runbook_view(state: &State) -> Option<RunbookView> {
    let pane = state.pane.as_ref()?;
    let Some(id) = &pane.runbook else {
        return Some(RunbookView {
            title: "no runbook".into(),
            nodes: Vec::new(),
            sel: 0,
            graph: Vec::new(),
            edges: Vec::new(),
            graph_sel: None,
            problem: Some("no runbook answers this signal: add runbook = \"…\" to it (nightwatch check)".into()),
        });
    };
    let Some(rb) = state.pane_runbook() else {
        return Some(RunbookView {
            title: id.clone(),
            nodes: Vec::new(),
            sel: 0,
            graph: Vec::new(),
            edges: Vec::new(),
            graph_sel: None,
            problem: Some(format!("runbook {id} has problems or is missing: run nightwatch check")),
        });
    };
    // Each bound decision is judged once per view: for its note and for the live path.
    let answers: std::collections::HashMap<&str, (Option<bool>, String)> =
        rb.bindings.iter().filter_map(|b| Some((b.node.as_str(), state.decision_answer(&b.node)?))).collect();
    let live = rb
        .flowchart
        .as_ref()
        .map_or_else(Vec::new, |f| crate::app::pane::live_path(f, &|n| answers.get(n).and_then(|(yes, _)| *yes)));
    let note_of = |node: &str| -> (Option<String>, bool) {
        match rb.binding(node) {
            Some(crate::runbooks::file::Bound::Step(s)) if !state.flags.read_only => {
                let phase = rb.step(s, state.config.runbooks.profile).map_or("", |st| st.phase.as_str());
                (Some(format!("▸ {s} ({phase})")), true)
            }
            Some(crate::runbooks::file::Bound::Condition(_)) => (answers.get(node).map(|(_, t)| t.clone()), false),
            _ => (None, false),
        }
    };
    let outline = crate::app::pane::lines(rb.flowchart.as_ref());
    let (graph, edges) = match &rb.flowchart {
        Some(f) => {
            let graph = f
                .nodes
                .iter()
                .map(|n| {
                    let (note, has_step) = note_of(&n.id);
                    GraphNode {
                        label: escape_control(&n.label).into_owned(),
                        shape: n.shape,
                        note,
                        has_step,
                        live: live.contains(&n.id),
                    }
                })
                .collect();
            let idx = |id: &str| f.nodes.iter().position(|n| n.id == id);
            let edges = f.edges.iter().filter_map(|e| Some((idx(&e.from)?, idx(&e.to)?, e.label.clone()))).collect();
            (graph, edges)
        }
        None => (Vec::new(), Vec::new()),
    };
    // Each node's note is worked out once (a decision's answer judges its signal), for the
    // graph; the outline lines refer to the same nodes.
    let index_of = |id: &str| rb.flowchart.as_ref().and_then(|f| f.nodes.iter().position(|n| n.id == id));
    let graph_sel = outline.get(pane.sel).and_then(|l| index_of(&l.node));
    let nodes = outline
        .into_iter()
        .map(|l| {
            let g = index_of(&l.node).and_then(|k| graph.get(k));
            NodeView {
                depth: l.depth,
                via: l.via.clone(),
                label: escape_control(&l.label).into_owned(),
                shape: l.shape,
                live: live.contains(&l.node),
                again: l.again,
                note: g.and_then(|g| g.note.clone()),
                has_step: g.is_some_and(|g| g.has_step),
            }
        })
        .collect();
    Some(RunbookView {
        title: format!("{} — {}", rb.id, rb.title),
        nodes,
        sel: pane.sel,
        graph,
        edges,
        graph_sel,
        problem: None,
    })
}

fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(String::new, |t| t.format("%H:%M:%S UTC").to_string())
}

/// Builds the view model. While frozen, data is shown as of the freeze (the clock runs on).
pub fn build(state: &State) -> ViewModel {
    let now = state.now_ms;
    let ever_answered = state.health.values().any(|h| h.last_scrape_ms.is_some());
    let stale = ever_answered && !state.health.is_empty() && state.health.values().all(|h| h.up != Some(true));
    let ctx = Ctx { state, stale };
    let up = state.health.values().filter(|h| h.up == Some(true)).count();
    let mut tags = Vec::new();
    if state.drill.is_some() {
        tags.push("DRILL");
    } else if state.flags.demo {
        tags.push("DEMO");
    }
    if state.flags.read_only {
        tags.push("READ-ONLY");
    }
    if state.flags.dry_run {
        tags.push("DRY-RUN");
    }
    if state.frozen_at.is_some() {
        tags.push("FROZEN");
    }
    let env = state.config.cockpit.environment.clone();
    // Its age and title are one `:incident` away; the header has little room.
    let incident = state
        .incidents
        .current
        .as_ref()
        .map(|o| format!("{} {}", escape_control(o.id().unwrap_or("INCIDENT")), o.summary.severity));
    let header = Header {
        incident,
        title: escape_control(&state.config.cockpit.title).into_owned(),
        production: matches!(env.to_ascii_lowercase().as_str(), "prod" | "production" | "live"),
        environment: escape_control(&env).into_owned(),
        up,
        total: state.health.len(),
        poll_age: state.last_poll_ms.map(|t| ((now - t) / 1000).max(0)),
        clock: clock(now),
        tags,
    };
    let footer = match (&state.prompt, &state.flash) {
        _ if state.quit_confirm => {
            let what = state.running.as_ref().map_or_else(String::new, |r| {
                format!(" ({} on {})", r.prepared.step, escape_control(&r.prepared.target))
            });
            Footer::Prompt {
                label: format!("A step is running{what}. Cancel it and quit? [y/N] "),
                text: String::new(),
                error: None,
            }
        }
        (Some(p), _) => {
            let label = match &p.kind {
                PromptKind::Filter => "filter: ".to_owned(),
                PromptKind::Command => ":".to_owned(),
                PromptKind::Value { name, pattern } => format!("value for {{{name}}} (must match {pattern}): "),
                PromptKind::Silence { alert } => {
                    let what = state.engine.alert(*alert).map_or_else(String::new, |a| short_labels(&a.labels));
                    format!("silence {what} for (DURATION COMMENT, e.g. 1h waiting on the PSP): ")
                }
            };
            Footer::Prompt { label, text: escape_control(&p.text).into_owned(), error: p.error.clone() }
        }
        (None, Some((m, _))) => Footer::Message(m.clone()),
        (None, None) => Footer::Hints(vec![
            ("?".into(), "help"),
            ("Tab".into(), "focus"),
            ("Enter".into(), "open"),
            ("a".into(), "ack"),
            ("s".into(), "silence"),
            ("/".into(), "filter"),
            ("t".into(), "targets"),
            ("q".into(), "quit"),
        ]),
    };
    let problems: Vec<String> = state
        .source_problems
        .iter()
        .map(|(k, p)| {
            let name = state.config.sources.get(*k).map_or("?", |s| s.name.as_str());
            escape_control(&format!("source {name}: {p}")).into_owned()
        })
        .collect();
    ViewModel {
        header,
        view: state.view,
        panels: panels(&ctx),
        panel_sel: (state.focus == Focus::Panels).then_some(state.panel_sel),
        alerts: alert_rows(state, now),
        alert_sel: (state.focus == Focus::Alerts).then_some(state.alert_sel),
        targets: target_rows(state, now),
        target_sel: state.target_sel,
        detail: state.detail.and_then(|id| detail(state, id, now)),
        help: state.help.then(|| state.keys.help()),
        footer,
        problems,
        notes: state.notes.iter().map(|n| escape_control(n).into_owned()).collect(),
        filter: (!state.filter.is_empty()).then(|| escape_control(&state.filter).into_owned()),
        drill: state
            .drill
            .as_ref()
            .map(|d| DrillView { banner: d.banner(now), card: d.show_card.then(|| d.card_lines.clone()) }),
    }
}

/// The display frozen at `frozen`: its data, with the live header, overlays and footer (the
/// clock runs on, and keys still answer).
pub fn freeze(live: ViewModel, frozen: &ViewModel) -> ViewModel {
    ViewModel {
        panels: frozen.panels.clone(),
        alerts: frozen.alerts.clone(),
        targets: frozen.targets.clone(),
        problems: frozen.problems.clone(),
        header: Header { up: frozen.header.up, total: frozen.header.total, ..live.header },
        ..live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::keys::Key;
    use crate::app::state::{Flags, Msg, update};
    use crate::config::Config;

    #[test]
    fn a_frozen_display_keeps_its_data_but_not_its_clock() {
        let config = Config::from_texts(None).expect("defaults");
        let mut s = State::new(config, Flags::default(), 1_795_489_200_000);
        update(&mut s, Msg::Tick(1_795_489_200_000));
        update(&mut s, Msg::Key(Key::Char('f')));
        let frozen = build(&s);
        update(&mut s, Msg::Tick(1_795_489_263_000));
        update(&mut s, Msg::Key(Key::Char('?')));
        let live = build(&s);
        let shown = freeze(live.clone(), &frozen);
        assert_eq!(shown.panels, frozen.panels, "panels as of the freeze");
        assert_eq!(shown.alerts, frozen.alerts);
        assert_eq!(shown.header.clock, live.header.clock, "the clock runs on");
        assert_ne!(shown.header.clock, frozen.header.clock);
        assert!(shown.help.is_some(), "overlays stay live");
        assert!(shown.header.tags.contains(&"FROZEN"));
    }

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(0), "0s");
        assert_eq!(age(59_999), "59s");
        assert_eq!(age(192_000), "3m12s");
        assert_eq!(age(7_260_000), "2h01m");
        assert_eq!(age(-5), "0s");
    }
}
