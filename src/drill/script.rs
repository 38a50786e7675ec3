//! A scripted operator for headless drills: one action per line, at a time after the drill
//! starts.
//!
//! ```text
//! # when   what
//! 1m30s    ack clock-skew
//! 1m40s    open clock-skew
//! 2m       run clock-skew ntp-sync-all
//! 2m10s    run dependency-outage open-breaker service=payment
//! 9m       abort the fleet is on fire
//! ```

use std::collections::BTreeMap;

use crate::config::units::parse_duration;
use crate::runbooks::FileProblem;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// Ack the alerts of a signal (the first firing one).
    Ack(String),
    /// Open a runbook.
    Open(String),
    /// Run a step of a runbook with these template values (confirmed; a typed confirmation
    /// types the target).
    Run {
        runbook: String,
        step: String,
        values: BTreeMap<String, String>,
    },
    Abort(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub at_ms: i64,
    pub act: Act,
    pub line: usize,
}

/// Reads a script; the actions come out in time order (lines at the same time keep their order).
pub fn parse(file: &str, text: &str) -> Result<Vec<Action>, Vec<FileProblem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = k + 1;
        let l = raw.split('#').next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let mut problem = |m: String| problems.push(FileProblem { file: file.to_owned(), line, message: m });
        let words: Vec<&str> = l.split_whitespace().collect();
        let at_ms = match parse_duration(words[0]) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => {
                problem(format!("{e} (each line starts with the time after the drill starts)"));
                continue;
            }
        };
        let act = match words.get(1..).unwrap_or(&[]) {
            ["ack", signal] => Act::Ack((*signal).to_owned()),
            ["open", runbook] => Act::Open((*runbook).to_owned()),
            ["run", runbook, step, sets @ ..] => {
                let mut values = BTreeMap::new();
                let mut bad = false;
                for s in sets {
                    match s.split_once('=') {
                        Some((k, v)) if !k.is_empty() => {
                            values.insert(k.to_owned(), v.to_owned());
                        }
                        _ => {
                            problem(format!("{s:?} is not NAME=VALUE"));
                            bad = true;
                        }
                    }
                }
                if bad {
                    continue;
                }
                Act::Run { runbook: (*runbook).to_owned(), step: (*step).to_owned(), values }
            }
            ["abort", why @ ..] => {
                Act::Abort(if why.is_empty() { "aborted by the script".to_owned() } else { why.join(" ") })
            }
            _ => {
                problem(format!(
                    "unknown action {:?}: write `ack SIGNAL`, `open RUNBOOK`, `run RUNBOOK STEP [NAME=VALUE…]` or `abort [WHY]`",
                    words.get(1..).map(|w| w.join(" ")).unwrap_or_default()
                ));
                continue;
            }
        };
        out.push(Action { at_ms, act, line });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.sort_by_key(|a| a.at_ms);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_in_time_order_and_mistakes_at_their_line() {
        let a = parse("s", "# x\n2m run clock-skew ntp-sync-all\n30s ack clock-skew\n1m open clock-skew\n")
            .expect("parses");
        assert_eq!(a.iter().map(|a| a.at_ms).collect::<Vec<_>>(), vec![30_000, 60_000, 120_000]);
        assert_eq!(
            a[2].act,
            Act::Run { runbook: "clock-skew".into(), step: "ntp-sync-all".into(), values: BTreeMap::new() }
        );
        let e = parse("s", "30s ack x\nsoon ack y\n1m dance\n2m run a b c\n").expect_err("three mistakes");
        let lines: Vec<usize> = e.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4], "{e:?}");
    }
}
