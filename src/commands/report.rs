//! `nightwatch report`, `nightwatch incident list|show` and `nightwatch postmortem`.
//!
//! `report` polls like `eval` (the report queries too); when the report queries are evaluated
//! by a Prometheus server, each is asked over the period (`--since`) as a range query and the
//! worst value it reached is shown, and the server's `ALERTS` series lists its own alerts. The
//! history (alerts, incidents, drills, steps) comes from the audit log. Exit 0 OK, 1 WARN,
//! 2 PAGE, 3 UNKNOWN (the worst signal now), 64 for a bad argument; colour only on a terminal
//! without `NO_COLOR`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::audit::{AuditLog, Record};
use crate::cli::{IncidentArgs, IncidentCommand, PostmortemArgs, PostmortemFormat, ReportArgs, ReportFormat};
use crate::config::{Config, Evaluation, SourceKind};
use crate::incident::Summary;
use crate::incident::templates::{Template, render, utc};
use crate::report::morning::{self, Inputs, Mode, ServerAlert, Style};
use crate::report::{History, postmortem};
use crate::signals::promql::Value;
use crate::signals::{Level, Outcome, Reading};

const EXIT_USAGE: i32 = 64;
const EXIT_IO: i32 = 74;
const EXIT_CONFIG: i32 = 78;

pub fn run(config_path: Option<&Path>, args: &ReportArgs) -> i32 {
    let since = match crate::config::units::parse_duration(&args.since) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            eprintln!("nightwatch: --since must be longer than 0s");
            return EXIT_USAGE;
        }
        Err(e) => {
            eprintln!("nightwatch: --since: {e}");
            return EXIT_USAGE;
        }
    };
    let mut config = match Config::load_watchable(config_path) {
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
    let gathered = rt.block_on(async {
        let embedded = crate::sim::embedded::start(&mut config, crate::sim::embedded::Counters::PerWallSecond).await?;
        let mut snap = crate::commands::eval::evaluate_for_report(&config).await;
        let mut problems = Vec::new();
        let mut server_alerts = Vec::new();
        let server = config.report_queries.iter().any(|q| matches!(q.evaluation, Evaluation::Server(_)));
        if server {
            over_the_period(&config, since, &mut snap, &mut problems).await;
            server_alerts = alerts_of_the_server(&config, since, snap.at_ms, &mut problems).await;
        }
        drop(embedded);
        Ok::<_, String>((snap, problems, server_alerts, server))
    });
    let (snap, mut problems, server_alerts, server) = match gathered {
        Ok(g) => g,
        Err(e) => {
            eprintln!("nightwatch: {e}");
            return Level::Unknown.exit_code();
        }
    };
    for t in snap.targets.iter().filter(|t| t.up == Some(false)) {
        problems.push(format!("target {} is down: {}", t.url, t.error.as_deref().unwrap_or("no answer")));
    }
    for (source, p) in &snap.source_problems {
        problems.push(format!("source {source}: {p}"));
    }
    let path = args.audit_file.clone().unwrap_or_else(|| config.audit.path.clone());
    let records = match AuditLog::new(&path).read() {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("the audit log {} cannot be read: {e}; no history", path.display()));
            Vec::new()
        }
    };
    let since_ms = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let report = morning::build(Inputs {
        config: &config,
        at_ms: snap.at_ms,
        since,
        mode: if server { Mode::Server } else { Mode::Scrape },
        outcomes: &snap.outcomes,
        queries: &snap.queries,
        server_alerts,
        history: History::from_log(&records, snap.at_ms.saturating_sub(since_ms)),
        problems: problems.iter().map(|p| crate::text::escape_control(p).into_owned()).collect(),
    });
    let colour = args.format == ReportFormat::Text
        && args.output.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let body = match args.format {
        ReportFormat::Text => morning::text(&report, if colour { Style::Ansi } else { Style::Plain }),
        ReportFormat::Markdown => morning::markdown(&report),
        ReportFormat::Json => morning::json(&report) + "\n",
    };
    if let Err(code) = emit(&body, args.output.as_deref()) {
        return code;
    }
    report.exit_code
}

/// Writes to the file (whole, then renamed into place) or standard output.
fn emit(body: &str, output: Option<&Path>) -> Result<(), i32> {
    match output {
        None => {
            let _ = std::io::stdout().lock().write_all(body.as_bytes());
            Ok(())
        }
        Some(p) => {
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, body).and_then(|()| std::fs::rename(&tmp, p)).map_err(|e| {
                eprintln!("nightwatch: cannot write {}: {e}", p.display());
                EXIT_IO
            })
        }
    }
}

/// The step of a range query over `since`: at most ~250 points, never finer than 15 s.
fn step_for(since: Duration) -> Duration {
    (since / 250).max(Duration::from_secs(15))
}

/// `expr` over `[start, end]` on a prometheus source.
async fn ask_range(
    source: &crate::config::Source,
    url: &reqwest::Url,
    expr: &str,
    span: (i64, i64),
    since: Duration,
) -> Result<Value, String> {
    let client = crate::intake::http::client(&source.tls, source.timeout)?;
    crate::intake::prometheus::range_query(&client, url, &source.auth, expr, span, step_for(since), source.timeout)
        .await
}

/// Each server-evaluated report query over the period: per series, the worst value it reached.
async fn over_the_period(
    config: &Config,
    since: Duration,
    snap: &mut crate::commands::eval::Snapshot,
    problems: &mut Vec<String>,
) {
    let end = snap.at_ms;
    let start = end.saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    for (k, q) in config.report_queries.iter().enumerate() {
        let Evaluation::Server(src) = q.evaluation else { continue };
        let source = &config.sources[src];
        let SourceKind::Prometheus { url } = &source.kind else { continue };
        let answer = match crate::intake::http::client(&source.tls, source.timeout) {
            Ok(c) => {
                crate::intake::prometheus::range_query(
                    &c,
                    url,
                    &source.auth,
                    &q.expr,
                    (start, end),
                    step_for(since),
                    source.timeout,
                )
                .await
            }
            Err(e) => Err(e),
        };
        let outcome = match answer {
            Ok(Value::Matrix(series)) => Outcome::Values {
                readings: series
                    .into_iter()
                    .filter_map(|s| {
                        let values = s.samples.iter().map(|x| x.v).filter(|v| !v.is_nan());
                        let worst = match q.direction {
                            crate::config::Direction::Above => values.reduce(f64::max),
                            crate::config::Direction::Below => values.reduce(f64::min),
                        }?;
                        Some(Reading { labels: s.labels, value: worst, level: Level::Ok })
                    })
                    .collect(),
                warming_up: false,
            },
            Ok(other) => {
                Outcome::Failed { reason: format!("the server answered a {} to a range query", other.type_name()) }
            }
            Err(e) => {
                problems.push(format!("report query {} over the period: {e}", q.id));
                Outcome::Failed { reason: e }
            }
        };
        if let Some(slot) = snap.queries.get_mut(k) {
            *slot = outcome;
        }
    }
}

/// The server's own alerts that fired in the period (its `ALERTS` series).
async fn alerts_of_the_server(
    config: &Config,
    since: Duration,
    end: i64,
    problems: &mut Vec<String>,
) -> Vec<ServerAlert> {
    let Some(source) = config.sources.iter().find(|s| matches!(s.kind, SourceKind::Prometheus { .. })) else {
        return Vec::new();
    };
    let SourceKind::Prometheus { url } = &source.kind else { return Vec::new() };
    let start = end.saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    let answer = ask_range(source, url, "ALERTS{alertstate=\"firing\"}", (start, end), since).await;
    match answer {
        Ok(Value::Matrix(series)) => {
            let mut v: Vec<ServerAlert> = series
                .into_iter()
                .filter(|s| !s.samples.is_empty())
                .map(|s| {
                    let name = s.labels.get("alertname").unwrap_or("").to_owned();
                    let rest: Vec<String> = s
                        .labels
                        .iter()
                        .filter(|(k, _)| !matches!(*k, "alertname" | "alertstate" | "__name__"))
                        .map(|(k, v)| format!("{k}=\"{v}\""))
                        .collect();
                    ServerAlert {
                        name: crate::text::escape_control(&name).into_owned(),
                        labels: crate::text::escape_control(&format!("{{{}}}", rest.join(", "))).into_owned(),
                        first_ms: s.samples.first().map_or(0, |x| x.t),
                        last_ms: s.samples.last().map_or(0, |x| x.t),
                    }
                })
                .collect();
            v.sort_by(|a, b| (a.first_ms, &a.name).cmp(&(b.first_ms, &b.name)));
            v
        }
        Ok(_) => Vec::new(),
        Err(e) => {
            problems.push(format!("the server's ALERTS: {e}"));
            Vec::new()
        }
    }
}

/// The audit log and the config (for units), or the exit code.
fn log_and_config(config_path: Option<&Path>, file: Option<&PathBuf>) -> Result<(Vec<Record>, Config, PathBuf), i32> {
    let config = Config::load(config_path).map_err(|e| {
        eprintln!("{e}");
        EXIT_CONFIG
    })?;
    let path = file.cloned().unwrap_or_else(|| config.audit.path.clone());
    match AuditLog::new(&path).read() {
        Ok(r) => Ok((r, config, path)),
        Err(e) => {
            eprintln!("nightwatch: cannot read the audit log {}: {e}", path.display());
            Err(EXIT_IO)
        }
    }
}

fn summary(id: &str, records: &[Record], config: &Config, path: &Path) -> Result<Summary, i32> {
    let fmt = |s: &str, v: f64| config.format_value(s, v);
    Summary::from_log(id, records, &fmt).ok_or_else(|| {
        eprintln!(
            "nightwatch: no record in {} carries incident {id:?} (nightwatch incident list shows them)",
            path.display()
        );
        1
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn incident(config_path: Option<&Path>, args: &IncidentArgs) -> i32 {
    let (records, config, path) = match log_and_config(config_path, args.file.as_ref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut out = std::io::stdout().lock();
    match &args.command {
        IncidentCommand::List => {
            let list = crate::incident::list(&records);
            if list.is_empty() {
                let _ = writeln!(out, "no incidents in {}", path.display());
            }
            for l in list {
                let closed = l.closed_ms.map_or_else(|| "open".to_owned(), utc);
                let drill = l.drill.map_or_else(String::new, |d| format!(" (drill {d})"));
                let opened = utc(l.opened_ms.unwrap_or(l.first_ms));
                let _ = writeln!(out, "{}  {:<3}  {opened}  {closed}  {}{drill}", l.id, l.severity, l.title);
            }
            0
        }
        IncidentCommand::Show { id, template } => {
            let s = match summary(id, &records, &config, &path) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let t = match template.as_deref().map(Template::parse) {
                None => None,
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => {
                    eprintln!("nightwatch: {e}");
                    return EXIT_USAGE;
                }
            };
            let text = match t {
                Some(t) => render(t, &s, &config.cockpit.environment, now_ms()),
                None => {
                    let r = postmortem::review(s, now_ms());
                    let mut t = format!(
                        "{} {} {}\n{}\n",
                        r.id,
                        r.severity,
                        if r.still_open { "open" } else { "closed" },
                        r.title
                    );
                    for e in &r.summary.timeline {
                        t.push_str(&format!("  {}  {}\n", utc(e.at_ms), e.text));
                    }
                    t
                }
            };
            let _ = out.write_all(crate::text::escape_control_keep_newlines(&text).as_bytes());
            0
        }
    }
}

pub fn postmortem(config_path: Option<&Path>, args: &PostmortemArgs) -> i32 {
    let (records, config, path) = match log_and_config(config_path, args.file.as_ref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let s = match summary(&args.id, &records, &config, &path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let r = postmortem::review(s, now_ms());
    let body = match args.format {
        PostmortemFormat::Markdown => crate::text::escape_control_keep_newlines(&postmortem::markdown(&r)).into_owned(),
        PostmortemFormat::Json => postmortem::json(&r) + "\n",
    };
    let _ = std::io::stdout().lock().write_all(body.as_bytes());
    0
}
