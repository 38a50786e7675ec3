//! `nightwatch scrape URL`: fetch one target once and print what it exposes.

use std::io::Write;
use std::time::Instant;

use serde_json::json;

use crate::cli::ScrapeArgs;
use crate::config::{Auth, Limits, Tls, target_url, units::parse_duration};
use crate::intake::exposition::{Exposition, Format, ValueRules, format_value, parse_all_with};
use crate::intake::http::client;
use crate::intake::scrape::{ScrapeError, Spec, fetch_body};
use crate::text::escape_control;

pub fn run(args: &ScrapeArgs) -> i32 {
    let timeout = match parse_duration(&args.timeout) {
        Ok(t) if !t.is_zero() => t,
        Ok(_) => return fail("--timeout must be longer than 0s"),
        Err(e) => return fail(&format!("--timeout: {e}")),
    };
    let url = match target_url(&args.url, "http", "/metrics") {
        Ok(u) => u,
        Err(e) => return fail(&e),
    };
    let spec = Spec {
        timeout,
        limits: Limits::default(),
        value_rules: if args.relaxed { ValueRules::Warn } else { ValueRules::Strict },
        force_format: args.openmetrics.then_some(Format::OpenMetrics),
        auth: Auth::default(),
        pool: None,
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let fetched = rt.block_on(async {
        let c = client(&Tls::default(), timeout)
            .map_err(|e| ScrapeError::Request(crate::intake::http::Failure::Other(e)))?;
        fetch_body(&c, &url, &spec).await
    });
    let (body, content_type) = match fetched {
        Ok(b) => b,
        Err(e) => return fail(&format!("scrape of {url} failed: {}", escape_control(&e.to_string()))),
    };
    let format = spec.force_format.unwrap_or_else(|| Format::from_content_type(content_type.as_deref().unwrap_or("")));
    let started = Instant::now();
    let parsed = parse_all_with(&body, format, spec.value_rules);
    let parse_time = started.elapsed();
    let mut exp = match parsed {
        Ok(e) => e,
        Err(e) => {
            return fail(&format!(
                "scrape of {url} failed: parse error at line {}: {}",
                e.line,
                escape_control(&e.message)
            ));
        }
    };
    if exp.series_count() == 0
        && let Some(e) = exp.errors.first()
    {
        return fail(&format!(
            "scrape of {url} failed: parse error at line {}: {}",
            e.line,
            escape_control(&e.message)
        ));
    }
    if !args.matches.is_empty() {
        let keep = |name: &str| args.matches.iter().any(|m| name.starts_with(m.as_str()));
        for f in &mut exp.families {
            f.samples.retain(|s| keep(&s.name));
        }
        exp.families.retain(|f| !f.samples.is_empty());
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    let written = if args.summary {
        summary(&mut out, &exp, format, parse_time)
    } else if args.json {
        json_lines(&mut out, &exp)
    } else {
        table(&mut out, &exp)
    };
    if written.is_err() {
        return 0; // stdout closed (a pipe into head): not an error of ours
    }
    if !args.summary {
        notes(&exp);
    }
    0
}

fn fail(msg: &str) -> i32 {
    eprintln!("nightwatch: {msg}");
    1
}

fn series_name(name: &str, labels: &[(String, String)]) -> String {
    let mut s = escape_control(name).into_owned();
    if !labels.is_empty() {
        s.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{k}=\"{}\"", escape_control(v).replace('"', "\\\"")));
        }
        s.push('}');
    }
    s
}

fn table(out: &mut impl Write, exp: &Exposition) -> std::io::Result<()> {
    let rows: Vec<(String, String, Option<i64>)> = exp
        .families
        .iter()
        .flat_map(|f| {
            f.samples.iter().map(|s| (series_name(&s.name, &s.labels), format_value(s.value), s.timestamp_ms))
        })
        .collect();
    let width = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0).min(100);
    for (series, value, ts) in rows {
        match ts {
            Some(t) => writeln!(out, "{series:<width$}  {value}  @{t}")?,
            None => writeln!(out, "{series:<width$}  {value}")?,
        }
    }
    Ok(())
}

fn json_lines(out: &mut impl Write, exp: &Exposition) -> std::io::Result<()> {
    for f in &exp.families {
        for s in &f.samples {
            let labels: serde_json::Map<String, serde_json::Value> =
                s.labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let value = if s.value.is_finite() { json!(s.value) } else { json!(format_value(s.value)) };
            let line = json!({
                "name": s.name,
                "family": f.name,
                "type": f.kind.as_str(),
                "labels": labels,
                "value": value,
                "timestamp_ms": s.timestamp_ms,
                "line": s.line,
            });
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}

fn summary(
    out: &mut impl Write,
    exp: &Exposition,
    format: Format,
    parse_time: std::time::Duration,
) -> std::io::Result<()> {
    writeln!(out, "format:        {}", format.as_str())?;
    writeln!(out, "families:      {}", exp.families.len())?;
    writeln!(out, "series:        {}", exp.series_count())?;
    writeln!(out, "exemplars:     {}", exp.exemplars.len())?;
    writeln!(out, "bytes:         {}", exp.bytes)?;
    writeln!(out, "lines:         {}", exp.lines)?;
    writeln!(out, "parse time:    {:.3} ms", parse_time.as_secs_f64() * 1000.0)?;
    writeln!(out, "skipped lines: {}", exp.skipped_lines)?;
    if let Some(e) = exp.errors.first() {
        writeln!(out, "first skipped: line {}: {}", e.line, escape_control(&e.message))?;
    }
    if exp.warnings.count > 0 {
        writeln!(out, "openmetrics value-rule warnings: {}", exp.warnings.count)?;
        if let Some(e) = &exp.warnings.first {
            writeln!(out, "first warning: line {}: {}", e.line, escape_control(&e.message))?;
        }
    }
    Ok(())
}

fn notes(exp: &Exposition) {
    if exp.skipped_lines > 0 {
        eprintln!("nightwatch: {} line(s) skipped as unparsable:", exp.skipped_lines);
        for e in exp.errors.iter().take(5) {
            eprintln!("  line {}: {}", e.line, escape_control(&e.message));
        }
    }
    if exp.warnings.count > 0
        && let Some(e) = &exp.warnings.first
    {
        eprintln!(
            "nightwatch: {} OpenMetrics value-rule violation(s); first at line {}: {}",
            exp.warnings.count,
            e.line,
            escape_control(&e.message)
        );
    }
}
