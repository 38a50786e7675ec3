//! `nightwatch audit tail | show [--incident ID] | verify`: read and check the audit log.
//!
//! `verify` exits 0 when the chain holds (a torn last line is reported, not an error: the next
//! append repairs it), 1 naming the first bad record; a log that cannot be read exits 74.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::audit::{AuditLog, Record};
use crate::cli::{AuditArgs, AuditCommand};
use crate::config::Config;
use crate::text::escape_control;

const EXIT_IO: i32 = 74;

pub fn run(config: Option<&Path>, args: &AuditArgs) -> i32 {
    let path: PathBuf = match &args.file {
        Some(p) => p.clone(),
        None => match Config::load(config) {
            Ok(c) => c.audit.path,
            Err(e) => {
                eprintln!("{e}");
                return 78;
            }
        },
    };
    let log = AuditLog::new(&path);
    match &args.command {
        AuditCommand::Verify => verify(&log),
        AuditCommand::Tail { lines } => match log.read() {
            Ok(records) => {
                let mut out = std::io::stdout().lock();
                for r in &records[records.len().saturating_sub(*lines)..] {
                    let _ = writeln!(out, "{}", one_line(r));
                }
                0
            }
            Err(e) => io_error(&path, &e),
        },
        AuditCommand::Show { incident, json } => match log.read() {
            Ok(records) => {
                let mut out = std::io::stdout().lock();
                let chosen = records.iter().filter(|r| {
                    incident.as_ref().is_none_or(|i| r.str("incident") == Some(i.as_str()))
                        && r.kind().starts_with("step")
                });
                for r in chosen {
                    let line = if *json { Value::Object(r.fields.clone()).to_string() } else { one_line(r) };
                    let _ = writeln!(out, "{line}");
                }
                0
            }
            Err(e) => io_error(&path, &e),
        },
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> i32 {
    eprintln!("nightwatch: cannot read the audit log {}: {e}", path.display());
    EXIT_IO
}

fn verify(log: &AuditLog) -> i32 {
    match log.verify() {
        Err(e) => io_error(log.path(), &e),
        Ok(v) => {
            let path = log.path().display();
            match (&v.first_bad, v.torn_tail) {
                (Some((line, why)), _) => {
                    println!("{path}:{line}: {why}");
                    println!("chain broken: {} records verified before line {line}", v.records);
                    1
                }
                (None, torn) => {
                    if let Some(n) = torn {
                        println!(
                            "{path}: the last line is torn ({n} bytes, a write cut short); the next append keeps \
                             it in a repair record"
                        );
                    }
                    println!("{path}: chain intact: {} records", v.records);
                    0
                }
            }
        }
    }
}

fn field(r: &Record, k: &str) -> String {
    match r.fields.get(k) {
        Some(Value::String(s)) => escape_control(s).into_owned(),
        Some(Value::Null) | None => String::new(),
        Some(v) => escape_control(&v.to_string()).into_owned(),
    }
}

/// One record, one line: `seq ts who kind: what`.
fn one_line(r: &Record) -> String {
    let host = r.fields.get("who").and_then(|w| w.get("host")).and_then(Value::as_str).unwrap_or("?");
    let who = format!("{}@{host}", crate::audit::user_of(&r.fields));
    let what = match r.kind() {
        "step-started" => {
            let argv = crate::audit::argv_of(&r.fields);
            format!(
                "{}/{} on {}: {}",
                field(r, "runbook"),
                field(r, "step"),
                field(r, "target"),
                escape_control(&crate::exec::template::display_argv(&argv))
            )
        }
        "step-finished" => format!(
            "{}/{} on {}: {} in {} ms{}{}",
            field(r, "runbook"),
            field(r, "step"),
            field(r, "target"),
            field(r, "status"),
            field(r, "duration_ms"),
            if r.fields.get("passed") == Some(&Value::Bool(true)) { ", passed" } else { ", failed" },
            if r.fields.get("output_truncated") == Some(&Value::Bool(true)) { ", output truncated" } else { "" }
        ),
        "step-verified" => format!(
            "{}/{} on {}: {} — {}{}",
            field(r, "runbook"),
            field(r, "step"),
            field(r, "target"),
            field(r, "condition"),
            field(r, "answer"),
            if r.fields.get("passed") == Some(&Value::Bool(true)) { ", passed" } else { ", NOT verified" }
        ),
        "step-outcome-unknown" => format!("run {}: outcome unknown: {}", field(r, "run"), field(r, "reason")),
        "repair" => format!("a torn line of {} bytes kept: {}", field(r, "torn_bytes"), field(r, "torn_text")),
        _ => {
            let mut rest: Vec<String> = r
                .fields
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "seq" | "ts" | "who" | "prev" | "hash" | "kind"))
                .map(|(k, v)| format!("{k}={}", escape_control(&v.to_string())))
                .collect();
            rest.sort();
            rest.join(" ")
        }
    };
    let incident = r.str("incident").map_or_else(String::new, |i| format!(" [{}]", escape_control(i)));
    format!("{:>5} {} {} {}{incident}: {what}", r.seq(), field(r, "ts"), who, r.kind())
}
