//! The morning report (seed 001 §4.4): the async system's health now (or, against a server,
//! the worst of the period), then the period's alerts, incidents, drills and runbook steps.
//! `build` is pure; `text`, `markdown` and `json` render what it built. The JSON shape is
//! documented in docs/report-json.md.

use std::time::Duration;

use serde::Serialize;

use super::{History, hm};
use crate::config::{Config, Signal};
use crate::incident::templates::utc;
use crate::signals::{Level, Outcome, Reading};

/// Where the values came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The current poll of the targets; history from the audit log.
    Scrape,
    /// A Prometheus-compatible server: report queries over the period (range queries) and its
    /// `ALERTS` series.
    Server,
}

/// An alert of the server's own rules (its `ALERTS` series) in the period.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServerAlert {
    pub name: String,
    pub labels: String,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// What the report is made from.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub at_ms: i64,
    pub since: Duration,
    pub mode: Mode,
    /// The signals' outcomes now, in config order.
    pub outcomes: &'a [Outcome],
    /// The report queries' outcomes (now, or the worst of the period), in config order.
    pub queries: &'a [Outcome],
    pub server_alerts: Vec<ServerAlert>,
    pub history: History,
    /// What could not be read (targets down, the audit log, a server query).
    pub problems: Vec<String>,
}

/// One labelled value.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Item {
    pub name: String,
    pub value: f64,
    pub shown: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClockSkew {
    pub level: Level,
    pub max: Option<Item>,
    pub nodes_over: Option<u64>,
    pub nodes: Option<u64>,
    /// Steps of the clock runbooks run in the period.
    pub remedies: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RetryStorms {
    pub level: Level,
    /// Where retries are over the warn threshold now.
    pub now: Vec<Item>,
    /// Retry-storm alerts in the period.
    pub alerts: usize,
    /// Timeout-retry loops: retries per hour where requests also time out.
    pub timeout_retries: Vec<Item>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct WriteConflicts {
    /// Conflicts per hour, per service (only those with any).
    pub services: Vec<Item>,
    /// Entities with more than one writer.
    pub hot_entities: Vec<Item>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TimeoutBudget {
    pub level: Level,
    /// The highest p99 budget use, and its hop.
    pub used: Option<Item>,
    /// The least headroom, and its hop.
    pub headroom: Option<Item>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Idempotency {
    pub level: Level,
    pub hit_rate: Option<Item>,
    pub misses_per_hour: Option<Item>,
    pub cache_used: Option<Item>,
    pub cache_max: Option<Item>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Health {
    pub clock_skew: ClockSkew,
    pub retry_storms: RetryStorms,
    pub write_conflicts: WriteConflicts,
    pub timeout_budget: TimeoutBudget,
    pub idempotency: Idempotency,
}

/// The report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub title: String,
    pub environment: String,
    pub generated_ms: i64,
    pub since: String,
    pub period_start_ms: i64,
    pub mode: Mode,
    pub verdict: Level,
    pub exit_code: i32,
    pub health: Health,
    #[serde(flatten)]
    pub history: History,
    pub server_alerts: Vec<ServerAlert>,
    pub problems: Vec<String>,
}

fn readings(o: &Outcome) -> &[Reading] {
    match o {
        Outcome::Values { readings, .. } => readings,
        Outcome::Failed { .. } => &[],
    }
}

/// The name a reading goes by: its most telling label's value.
fn name_of(r: &Reading) -> String {
    for k in ["entity_id", "envoy_cluster_name", "service", "node", "instance", "kind"] {
        if let Some(v) = r.labels.get(k) {
            if k == "entity_id"
                && let Some(s) = r.labels.get("service")
            {
                return crate::text::escape_control(&format!("{v} ({s})")).into_owned();
            }
            return crate::text::escape_control(v).into_owned();
        }
    }
    let l = r.labels.to_string();
    if l == "{}" { String::new() } else { crate::text::escape_control(&l).into_owned() }
}

struct Look<'a> {
    c: &'a Config,
    outcomes: &'a [Outcome],
    queries: &'a [Outcome],
}

impl<'a> Look<'a> {
    fn signal(&self, id: &str) -> Option<(&'a Signal, &'a Outcome)> {
        let k = self.c.signals.iter().position(|s| s.id == id)?;
        Some((&self.c.signals[k], self.outcomes.get(k)?))
    }

    fn query(&self, id: &str) -> Option<(&'a Signal, &'a Outcome)> {
        let k = self.c.report_queries.iter().position(|s| s.id == id)?;
        Some((&self.c.report_queries[k], self.queries.get(k)?))
    }

    fn level(&self, id: &str) -> Level {
        self.signal(id).map_or(Level::Unknown, |(_, o)| o.level())
    }

    fn item(s: &Signal, r: &Reading) -> Item {
        Item { name: name_of(r), value: r.value, shown: s.unit.format(r.value) }
    }

    /// The worst reading of a signal or query (its direction's way).
    fn worst(pair: Option<(&Signal, &Outcome)>) -> Option<Item> {
        let (s, o) = pair?;
        o.worst(s.direction).map(|r| Self::item(s, r))
    }

    /// Every reading, worst first.
    fn all(pair: Option<(&Signal, &Outcome)>) -> Vec<Item> {
        let Some((s, o)) = pair else { return Vec::new() };
        let mut v: Vec<Item> = readings(o).iter().filter(|r| r.value.is_finite()).map(|r| Self::item(s, r)).collect();
        v.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
        v
    }

    fn count(pair: Option<(&Signal, &Outcome)>) -> Option<u64> {
        let (_, o) = pair?;
        match readings(o) {
            [] if matches!(o, Outcome::Values { .. }) => Some(0),
            [r, ..] if r.value.is_finite() && r.value >= 0.0 => Some(r.value.round() as u64),
            _ => None,
        }
    }
}

fn worst_level(levels: &[Level]) -> Level {
    levels.iter().copied().max_by_key(|l| l.verdict_rank()).unwrap_or(Level::Unknown)
}

/// Builds the report.
pub fn build(i: Inputs<'_>) -> Report {
    let look = Look { c: i.config, outcomes: i.outcomes, queries: i.queries };
    let runbook_of = |id: &str| i.config.signals.iter().find(|s| s.id == id).and_then(|s| s.runbook.clone());
    let clock_runbooks: Vec<String> =
        ["clock-skew", "clock-unsynchronised"].iter().filter_map(|s| runbook_of(s)).collect();
    let clock_skew = ClockSkew {
        level: look.level("clock-skew"),
        max: Look::worst(look.query("skew-max")).or_else(|| Look::worst(look.signal("clock-skew"))),
        nodes_over: Look::count(look.query("skew-nodes-over")),
        nodes: Look::count(look.query("skew-nodes")),
        remedies: i.history.steps.iter().filter(|s| clock_runbooks.contains(&s.runbook)).count(),
    };
    let retry = look.signal("retry-storm");
    let retry_warn = retry.and_then(|(s, _)| s.warn);
    let retry_storms = RetryStorms {
        level: look.level("retry-storm"),
        now: Look::all(retry).into_iter().filter(|x| retry_warn.is_some_and(|w| x.value > w)).collect(),
        alerts: i.history.alerts.iter().filter(|a| a.signal == "retry-storm").count(),
        timeout_retries: Look::all(look.query("timeout-retries")).into_iter().filter(|x| x.value > 0.0).collect(),
    };
    let write_conflicts = WriteConflicts {
        services: Look::all(look.query("write-conflicts")).into_iter().filter(|x| x.value >= 0.5).collect(),
        hot_entities: Look::all(look.query("concurrent-writers")),
    };
    let timeout_budget = TimeoutBudget {
        level: look.level("timeout-budget"),
        used: Look::worst(look.signal("timeout-budget")),
        headroom: Look::worst(look.query("timeout-headroom")),
    };
    let idempotency = Idempotency {
        level: worst_level(&[look.level("idempotency-misses"), look.level("idempotency-memory")]),
        hit_rate: Look::worst(look.signal("idempotency-hit-rate")),
        misses_per_hour: Look::worst(look.signal("idempotency-misses-per-hour")),
        cache_used: Look::worst(look.signal("idempotency-memory-used")),
        cache_max: Look::worst(look.signal("idempotency-maxmemory")),
    };
    let verdict = worst_level(&i.outcomes.iter().map(Outcome::level).collect::<Vec<_>>());
    let since_ms = i64::try_from(i.since.as_millis()).unwrap_or(i64::MAX);
    Report {
        title: i.config.cockpit.title.clone(),
        environment: i.config.cockpit.environment.clone(),
        generated_ms: i.at_ms,
        since: crate::config::units::format_duration(i.since),
        period_start_ms: i.at_ms.saturating_sub(since_ms),
        mode: i.mode,
        verdict,
        exit_code: verdict.exit_code(),
        health: Health { clock_skew, retry_storms, write_conflicts, timeout_budget, idempotency },
        history: i.history,
        server_alerts: i.server_alerts,
        problems: i.problems,
    }
}

/// How level words are shown: plain, or coloured for a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Ansi,
}

fn level(l: Level, style: Style) -> String {
    match style {
        Style::Plain => l.as_str().to_owned(),
        Style::Ansi => {
            let code = match l {
                Level::Ok => "32",
                Level::Warn => "33",
                Level::Page => "1;31",
                Level::Stale | Level::Unknown => "35",
            };
            format!("\x1b[{code}m{}\x1b[0m", l.as_str())
        }
    }
}

fn opt(i: &Option<Item>) -> String {
    i.as_ref().map_or_else(|| "no data".into(), |x| x.shown.clone())
}

fn span(from: i64, to: Option<i64>) -> String {
    match to {
        Some(t) => crate::incident::templates::span(t - from),
        None => "no resolution recorded".into(),
    }
}

/// The lines of the health block, shared by text and Markdown (Markdown puts them in a code
/// block so that they keep their alignment in chat).
fn health_lines(r: &Report, style: Style) -> Vec<String> {
    let h = &r.health;
    let mut v = Vec::new();
    let c = &h.clock_skew;
    v.push(format!("CLOCK SKEW:          {} ({})", opt(&c.max), level(c.level, style)));
    if let Some(x) = c.max.as_ref().filter(|x| !x.name.is_empty()) {
        v.push(format!("   Worst node:       {}", x.name));
    }
    match (c.nodes_over, c.nodes) {
        (Some(o), Some(n)) => v.push(format!("   Affected nodes:   {o} of {n} over 100ms")),
        (Some(o), None) => v.push(format!("   Affected nodes:   {o} over 100ms")),
        _ => {}
    }
    v.push(format!(
        "   Action:           {}",
        match c.remedies {
            0 => "none run".to_owned(),
            1 => "1 clock remedy run".to_owned(),
            n => format!("{n} clock remedies run"),
        }
    ));
    let rs = &h.retry_storms;
    let alerts = match rs.alerts {
        0 => String::new(),
        1 => format!("; 1 alert in the last {}", r.since),
        n => format!("; {n} alerts in the last {}", r.since),
    };
    if rs.now.is_empty() {
        v.push(format!("RETRY STORMS:        None now ({}){alerts}", level(rs.level, style)));
    } else {
        v.push(format!("RETRY STORMS:        {} now ({}){alerts}", rs.now.len(), level(rs.level, style)));
        for x in &rs.now {
            v.push(format!("   - {}: {}", x.name, x.shown));
        }
    }
    for a in r.history.alerts.iter().filter(|a| a.signal == "retry-storm") {
        v.push(format!(
            "   - {} {}: fired {}, {}",
            a.severity,
            a.labels,
            hm(a.fired_ms),
            span(a.fired_ms, a.resolved_ms)
        ));
    }
    if !rs.timeout_retries.is_empty() {
        v.push("   Timeout retries:".into());
        for x in &rs.timeout_retries {
            v.push(format!("   - {}: {}", x.name, x.shown));
        }
    }
    let w = &h.write_conflicts;
    match w.services.len() {
        0 => v.push("RACE CONDITIONS:     None detected".into()),
        n => {
            v.push(format!("RACE CONDITIONS:     {n} service{} with write conflicts", if n == 1 { "" } else { "s" }));
            for x in &w.services {
                v.push(format!("   - {}: {} conflicts", x.name, x.shown));
            }
        }
    }
    if !w.hot_entities.is_empty() {
        let list: Vec<String> =
            w.hot_entities.iter().take(5).map(|x| format!("{}: {} writers", x.name, x.shown)).collect();
        v.push(format!("   Hot entities:     {}", list.join(", ")));
    }
    if !w.services.is_empty() {
        v.push("   Action:           Review optimistic locking".into());
    }
    let t = &h.timeout_budget;
    let used = t.used.as_ref().map_or_else(|| "no data".to_owned(), |x| format!("{} utilized", x.shown));
    v.push(format!("TIMEOUT BUDGET:      {used} ({})", level(t.level, style)));
    if let Some(x) = t.used.as_ref().filter(|x| !x.name.is_empty()) {
        v.push(format!("   Tightest hop:     {}", x.name));
    }
    if let Some(x) = &t.headroom {
        let at = if x.name.is_empty() { String::new() } else { format!(" ({})", x.name) };
        v.push(format!("   Headroom:         {}{at}", x.shown));
    }
    let id = &h.idempotency;
    let hit = id.hit_rate.as_ref().map_or_else(|| "no data".to_owned(), |x| format!("{} cache hit", x.shown));
    v.push(format!("IDEMPOTENCY:         {hit} ({})", level(id.level, style)));
    if let (Some(u), Some(m)) = (&id.cache_used, &id.cache_max) {
        v.push(format!("   Cache size:       {} / {}", u.shown, m.shown));
    }
    if let Some(x) = &id.misses_per_hour {
        v.push(format!("   Misses:           {}", x.shown));
    }
    v
}

fn history_lines(r: &Report, bullet: &str) -> Vec<String> {
    let h = &r.history;
    let mut v = Vec::new();
    v.push(format!(
        "ALERTS ({}): {}",
        r.since,
        if h.alerts.is_empty() && r.server_alerts.is_empty() {
            "none".into()
        } else {
            (h.alerts.len() + r.server_alerts.len()).to_string()
        }
    ));
    for a in &h.alerts {
        let acked = a.acked_by.as_ref().map_or_else(|| ", not acked".to_owned(), |b| format!(", acked by {b}"));
        let inc = a.incident.as_ref().map_or_else(String::new, |i| format!(" [{i}]"));
        v.push(format!(
            "{bullet}{} {} {} fired {}, {}{acked}{inc}",
            a.severity,
            a.signal,
            a.labels,
            hm(a.fired_ms),
            span(a.fired_ms, a.resolved_ms)
        ));
    }
    for a in &r.server_alerts {
        v.push(format!("{bullet}server {} {} firing {} to {}", a.name, a.labels, hm(a.first_ms), hm(a.last_ms)));
    }
    v.push(format!(
        "INCIDENTS: {}",
        if h.incidents.is_empty() { "none".into() } else { h.incidents.len().to_string() }
    ));
    for i in &h.incidents {
        let when = match (i.opened_ms, i.closed_ms) {
            (Some(o), Some(c)) => format!("{} to {} ({})", hm(o), hm(c), crate::incident::templates::span(c - o)),
            (Some(o), None) => format!("opened {}, still open", hm(o)),
            (None, _) => "opened before the period".into(),
        };
        v.push(format!("{bullet}{} {} {}: {when}", i.id, i.severity, i.title));
    }
    v.push(format!("DRILLS: {}", if h.drills.is_empty() { "none".into() } else { h.drills.len().to_string() }));
    for d in &h.drills {
        v.push(format!(
            "{bullet}{} {} by {}: {} (detect {}, resolve {}), {}",
            utc(d.at_ms),
            d.drill,
            d.by,
            d.grade,
            d.detect,
            d.resolve,
            d.end
        ));
    }
    v.push(format!("RUNBOOK STEPS: {}", if h.steps.is_empty() { "none".into() } else { h.steps.len().to_string() }));
    for s in &h.steps {
        let exit = s.exit.map_or_else(String::new, |e| format!(" (exit code {e})"));
        v.push(format!(
            "{bullet}{} {}/{} on {} by {}: {}{exit}, {}",
            hm(s.at_ms),
            s.runbook,
            s.step,
            s.target,
            s.by,
            s.status,
            if s.passed { "passed" } else { "FAILED" }
        ));
    }
    v
}

const RULE: &str = "━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━";

fn subtitle(r: &Report) -> String {
    let env = if r.environment.is_empty() { String::new() } else { format!(" [{}]", r.environment) };
    let mode = match r.mode {
        Mode::Scrape => "values now (one poll), history from the audit log",
        Mode::Server => "worst values of the period (range queries), history from the audit log",
    };
    format!("{}{env}: last {}, {mode}", r.title, r.since)
}

/// Plain text (coloured level words with `Style::Ansi`).
pub fn text(r: &Report, style: Style) -> String {
    let mut out = format!("ASYNC HEALTH REPORT - {}\n{}\n{RULE}\n", utc(r.generated_ms), subtitle(r));
    for l in health_lines(r, style) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str(RULE);
    out.push('\n');
    for l in history_lines(r, "  - ") {
        out.push_str(&l);
        out.push('\n');
    }
    for p in &r.problems {
        out.push_str(&format!("PROBLEM: {p}\n"));
    }
    out.push_str(RULE);
    out.push('\n');
    out.push_str(&format!("VERDICT: {} (exit {})\n", level(r.verdict, style), r.exit_code));
    out
}

/// Markdown, for a chat webhook or a wiki.
pub fn markdown(r: &Report) -> String {
    let mut out = format!("## Async health report - {}\n\n", utc(r.generated_ms));
    out.push_str(&format!("{}\n\n**Verdict: {}** (exit {})\n\n", subtitle(r), r.verdict.as_str(), r.exit_code));
    out.push_str("```text\n");
    for l in health_lines(r, Style::Plain) {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("```\n\n");
    for l in history_lines(r, "- ") {
        if l.starts_with("- ") {
            out.push_str(&l.replace('*', "\\*").replace('_', "\\_"));
            out.push('\n');
        } else {
            out.push_str(&format!("\n### {l}\n\n"));
        }
    }
    if !r.problems.is_empty() {
        out.push_str("\n### Problems\n\n");
        for p in &r.problems {
            out.push_str(&format!("- {p}\n"));
        }
    }
    out
}

/// JSON (docs/report-json.md).
pub fn json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
