//! `nightwatch eval`: poll once (twice where a rate needs it), evaluate every signal, print
//! values, levels and alerts; exit 0 OK, 1 WARN, 2 PAGE, 3 UNKNOWN.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::alerts::{Alert, Engine};
use crate::cli::EvalArgs;
use crate::config::{Config, ConfigSource, Evaluation, Signal, SourceKind};
use crate::intake::health::{ScrapeDone, TargetHealth, apply_scrape};
use crate::intake::prometheus::instant_query;
use crate::intake::scheduler::{Target, discover_once, now_ms, poll_once};
use crate::intake::scrape::NameFilter;
use crate::series::Store;
use crate::signals::promql::needs_two_samples;
use crate::signals::{Level, Outcome, evaluate_local, judge};
use crate::text::escape_control;

/// Everything one evaluation found.
pub struct Snapshot {
    pub at_ms: i64,
    /// In config order.
    pub outcomes: Vec<Outcome>,
    /// The report queries' outcomes, in config order (empty unless asked for).
    pub queries: Vec<Outcome>,
    pub alerts: Vec<Alert>,
    pub targets: Vec<TargetHealth>,
    pub source_problems: Vec<(String, String)>,
}

impl Snapshot {
    /// The worst signal level: PAGE, then UNKNOWN (or STALE), then WARN, then OK.
    pub fn verdict(&self) -> Level {
        self.outcomes.iter().map(Outcome::level).max_by_key(|l| l.verdict_rank()).unwrap_or(Level::Unknown)
    }
}

pub fn run(config: Option<&Path>, args: &EvalArgs) -> i32 {
    let mut config = match Config::load_watchable(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Level::Unknown.exit_code();
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nightwatch: cannot start the runtime: {e}");
            return Level::Unknown.exit_code();
        }
    };
    let (snap, notes) = match rt.block_on(async {
        let embedded = crate::sim::embedded::start(&mut config, crate::sim::embedded::Counters::PerWallSecond).await?;
        let snap = evaluate_once(&config).await;
        Ok::<_, String>((snap, embedded.notes))
    }) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nightwatch: {e}");
            return Level::Unknown.exit_code();
        }
    };
    let out = std::io::stdout();
    let mut out = out.lock();
    let _ = if args.json {
        print_json(&mut out, &config, &snap, &notes)
    } else {
        notes.iter().try_for_each(|n| writeln!(out, "{n}")).and_then(|()| print_table(&mut out, &config, &snap))
    };
    snap.verdict().exit_code()
}

fn ingest(store: &mut Store, health: &mut HashMap<u64, TargetHealth>, targets: &[Target], done: Vec<ScrapeDone>) {
    for d in done {
        let Some(t) = targets.iter().find(|t| t.id == d.target) else { continue };
        apply_scrape(&d, &t.spec.labels, store, health.get_mut(&d.target));
    }
}

/// Polls, evaluates and judges every signal once.
pub async fn evaluate_once(config: &Config) -> Snapshot {
    evaluate(config, false).await
}

/// As `evaluate_once`, and the report queries over the same poll.
pub async fn evaluate_for_report(config: &Config) -> Snapshot {
    evaluate(config, true).await
}

async fn evaluate(config: &Config, with_queries: bool) -> Snapshot {
    let extra: &[Signal] = if with_queries { &config.report_queries } else { &[] };
    let all: Vec<&Signal> = config.signals.iter().chain(extra).collect();
    let local: Vec<&Signal> = all.iter().copied().filter(|s| s.evaluation == Evaluation::Local).collect();
    let filter = NameFilter::for_signals(local.iter().copied());
    let (targets, problems) = discover_once(config);
    let mut store = Store::with_retention(config.retention_policy(), config.cockpit.max_series);
    let mut health: HashMap<u64, TargetHealth> = targets
        .iter()
        .map(|t| {
            let source = &config.sources[t.source].name;
            (t.id, TargetHealth::new(t.id, source, t.spec.url.as_str(), t.spec.labels.clone()))
        })
        .collect();
    let first = poll_once(config, &filter, &targets).await;
    ingest(&mut store, &mut health, &targets, first);
    if !targets.is_empty() && local.iter().any(|s| needs_two_samples(&s.parsed)) {
        let interval = config
            .sources
            .iter()
            .filter(|s| matches!(s.kind, SourceKind::Scrape(_)))
            .map(|s| s.interval)
            .min()
            .unwrap_or(Duration::from_secs(1));
        tokio::time::sleep(interval).await;
        let second = poll_once(config, &filter, &targets).await;
        ingest(&mut store, &mut health, &targets, second);
    }
    let at_ms = now_ms();
    let lookback = i64::try_from(config.cockpit.lookback.as_millis()).unwrap_or(i64::MAX);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; all.len()];
    let mut queries = Vec::new();
    let mut clients: HashMap<usize, Result<reqwest::Client, String>> = HashMap::new();
    for (k, s) in all.iter().enumerate() {
        match s.evaluation {
            Evaluation::Local => outcomes[k] = Some(evaluate_local(s, &store, lookback, at_ms)),
            Evaluation::Server(src) => {
                let source = &config.sources[src];
                let SourceKind::Prometheus { url } = &source.kind else { continue };
                let client = clients
                    .entry(src)
                    .or_insert_with(|| crate::intake::http::client(&source.tls, source.timeout))
                    .clone();
                let (url, auth, expr, timeout) = (url.clone(), source.auth.clone(), s.expr.clone(), source.timeout);
                queries.push((
                    k,
                    tokio::spawn(async move {
                        match client {
                            Ok(c) => instant_query(&c, &url, &auth, &expr, at_ms, timeout).await,
                            Err(e) => Err(e),
                        }
                    }),
                ));
            }
        }
    }
    for (k, task) in queries {
        let value = task.await.unwrap_or_else(|e| Err(format!("query task failed: {e}")));
        outcomes[k] = Some(judge(all[k], value, false));
    }
    let mut outcomes: Vec<Outcome> =
        outcomes.into_iter().map(|o| o.unwrap_or(Outcome::Failed { reason: "not evaluated".into() })).collect();
    let queries = outcomes.split_off(config.signals.len());
    let mut engine = Engine::new(config.cockpit.max_alerts_per_signal, 15 * 60 * 1000);
    for (s, o) in config.signals.iter().zip(&outcomes) {
        engine.observe(s, o, at_ms);
    }
    let mut targets: Vec<TargetHealth> = health.into_values().collect();
    targets.sort_by(|a, b| (&a.source, &a.url).cmp(&(&b.source, &b.url)));
    Snapshot {
        at_ms,
        outcomes,
        queries,
        alerts: engine.alerts().to_vec(),
        targets,
        source_problems: problems.into_iter().map(|(k, p)| (config.sources[k].name.clone(), p)).collect(),
    }
}

fn fmt_threshold(s: &Signal, v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| s.unit.format(v))
}

fn time_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%H:%M:%S").to_string())
}

/// What a signal's readings say beside the worst value.
fn detail(s: &Signal, o: &Outcome) -> String {
    let mut d = match o {
        Outcome::Failed { reason } => format!("error: {}", escape_control(reason)),
        Outcome::Values { readings, .. } if readings.is_empty() => "no data".to_owned(),
        Outcome::Values { readings, .. } => {
            let worst = o.worst(s.direction);
            let labels = worst.map(|w| w.labels.to_string()).unwrap_or_default();
            if readings.len() == 1 {
                if labels == "{}" { String::new() } else { escape_control(&labels).into_owned() }
            } else {
                let over = readings.iter().filter(|r| matches!(r.level, Level::Warn | Level::Page)).count();
                let threshold = s.warn.or(s.page).map(|w| s.unit.format(w)).unwrap_or_default();
                if over > 0 && !threshold.is_empty() {
                    format!("{over} of {} over {threshold}; worst {}", readings.len(), escape_control(&labels))
                } else {
                    format!("{} series; highest {}", readings.len(), escape_control(&labels))
                }
            }
        }
    };
    if matches!(o, Outcome::Values { warming_up: true, .. }) {
        d.push_str(" (warming up: less data than the range asks for)");
    }
    d
}

fn print_table(out: &mut impl Write, config: &Config, snap: &Snapshot) -> std::io::Result<()> {
    let from = match &config.origin {
        ConfigSource::BuiltIn => "built-in defaults".to_owned(),
        ConfigSource::File(p) => p.display().to_string(),
    };
    let when = chrono::DateTime::from_timestamp_millis(snap.at_ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    writeln!(out, "{} ({from}) at {when}", config.cockpit.title)?;
    writeln!(out)?;
    let idw = config.signals.iter().map(|s| s.id.len()).max().unwrap_or(6).max(6);
    writeln!(out, "{:<idw$}  {:<7}  {:>9}  {:>9}  {:>9}  DETAIL", "SIGNAL", "LEVEL", "VALUE", "WARN", "PAGE")?;
    for (s, o) in config.signals.iter().zip(&snap.outcomes) {
        let value = o.worst(s.direction).map_or_else(|| "-".to_owned(), |r| s.unit.format(r.value));
        writeln!(
            out,
            "{:<idw$}  {:<7}  {:>9}  {:>9}  {:>9}  {}",
            s.id,
            o.level().as_str(),
            value,
            fmt_threshold(s, s.warn),
            fmt_threshold(s, s.page),
            detail(s, o)
        )?;
    }
    let active: Vec<&Alert> = snap.alerts.iter().filter(|a| a.is_active()).collect();
    writeln!(out)?;
    if active.is_empty() {
        writeln!(out, "ALERTS: none")?;
    } else {
        writeln!(out, "ALERTS:")?;
        for a in active {
            let value = config.format_value(&a.signal, a.value);
            writeln!(
                out,
                "  {:<4}  {:<8}  {}  {}  {value}  since {}",
                a.severity.as_str(),
                a.state.as_str(),
                a.signal,
                escape_control(&a.labels.to_string()),
                time_of(a.active_since)
            )?;
        }
    }
    if !snap.targets.is_empty() {
        let up = snap.targets.iter().filter(|t| t.up == Some(true)).count();
        writeln!(out)?;
        writeln!(out, "TARGETS: {up} of {} up", snap.targets.len())?;
        for t in &snap.targets {
            if let Some(e) = &t.error {
                writeln!(out, "  DOWN  {}  {}", t.url, escape_control(e))?;
            } else if t.over_series_limit > 0 {
                writeln!(
                    out,
                    "  up    {}  {} samples dropped: series limit of {} reached (raise [cockpit] max-series)",
                    t.url, t.over_series_limit, config.cockpit.max_series
                )?;
            } else if t.skipped_lines > 0 {
                let first = t.first_skipped.as_deref().unwrap_or("");
                writeln!(out, "  up    {}  {} line(s) skipped ({})", t.url, t.skipped_lines, escape_control(first))?;
            }
        }
    }
    for (source, p) in &snap.source_problems {
        writeln!(out, "SOURCE {source}: {}", escape_control(p))?;
    }
    let v = snap.verdict();
    writeln!(out)?;
    writeln!(out, "VERDICT: {} (exit {})", v.as_str(), v.exit_code())
}

fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("+Inf")
    } else {
        json!("-Inf")
    }
}

fn labels_json(l: &crate::series::Labels) -> serde_json::Value {
    serde_json::Value::Object(l.iter().map(|(k, v)| (k.to_owned(), json!(v))).collect())
}

/// The JSON shape documented in docs/eval-json.md.
pub fn to_json(config: &Config, snap: &Snapshot, notes: &[String]) -> serde_json::Value {
    let signals: Vec<serde_json::Value> = config
        .signals
        .iter()
        .zip(&snap.outcomes)
        .map(|(s, o)| {
            let (readings, error, warming_up) = match o {
                Outcome::Values { readings, warming_up } => (
                    readings
                        .iter()
                        .map(|r| json!({"labels": labels_json(&r.labels), "value": num(r.value), "level": r.level.as_str()}))
                        .collect::<Vec<_>>(),
                    None,
                    *warming_up,
                ),
                Outcome::Failed { reason } => (Vec::new(), Some(reason.clone()), false),
            };
            json!({
                "id": s.id,
                "title": s.title,
                "panel": s.panel,
                "unit": s.unit.as_str(),
                "direction": s.direction,
                "warn": s.warn,
                "page": s.page,
                "level": o.level().as_str(),
                "value": o.worst(s.direction).map(|r| num(r.value)),
                "evaluation": match s.evaluation { Evaluation::Local => "local", Evaluation::Server(_) => "server" },
                "readings": readings,
                "error": error,
                "warming_up": warming_up,
            })
        })
        .collect();
    let alerts: Vec<serde_json::Value> = snap
        .alerts
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "signal": a.signal,
                "labels": labels_json(&a.labels),
                "state": a.state,
                "severity": a.severity,
                "value": num(a.value),
                "active_since_ms": a.active_since,
                "firing_since_ms": a.firing_since,
            })
        })
        .collect();
    let v = snap.verdict();
    json!({
        "title": config.cockpit.title,
        "notes": notes,
        "at_ms": snap.at_ms,
        "verdict": v.as_str(),
        "exit_code": v.exit_code(),
        "signals": signals,
        "alerts": alerts,
        "targets": snap.targets,
        "source_problems": snap.source_problems.iter().map(|(s, p)| json!({"source": s, "problem": p})).collect::<Vec<_>>(),
    })
}

fn print_json(out: &mut impl Write, config: &Config, snap: &Snapshot, notes: &[String]) -> std::io::Result<()> {
    writeln!(out, "{}", to_json(config, snap, notes))
}
