//! Signal evaluation: a signal's expression evaluated (locally over the store, or by a server),
//! and its values judged against the warn and page thresholds.

pub mod promql;

use serde::Serialize;

use crate::config::{Direction, Signal};
use crate::series::{Labels, Storage};
use promql::{Evaluator, Value};

/// How healthy something is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Ok,
    Warn,
    Page,
    /// The data is too old to judge: its sources stopped answering.
    Stale,
    /// Nothing to judge: the evaluation failed or found no data.
    Unknown,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warn => "WARN",
            Level::Page => "PAGE",
            Level::Stale => "STALE",
            Level::Unknown => "UNKNOWN",
        }
    }

    /// Exit code of `nightwatch eval` and `report`: 0 OK, 1 WARN, 2 PAGE, 3 UNKNOWN (or stale).
    pub fn exit_code(self) -> i32 {
        match self {
            Level::Ok => 0,
            Level::Warn => 1,
            Level::Page => 2,
            Level::Stale | Level::Unknown => 3,
        }
    }

    /// Severity for an overall verdict: PAGE outranks everything, then UNKNOWN/STALE, then WARN.
    pub fn verdict_rank(self) -> u8 {
        match self {
            Level::Ok => 0,
            Level::Warn => 1,
            Level::Stale | Level::Unknown => 2,
            Level::Page => 3,
        }
    }
}

/// One labelled value of a signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    pub labels: Labels,
    pub value: f64,
    pub level: Level,
}

/// The result of evaluating a signal once.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The expression evaluated; `readings` may be empty (no data).
    Values { readings: Vec<Reading>, warming_up: bool },
    /// It could not be evaluated: an HTTP or API error, a timeout, bad JSON, an evaluation error.
    Failed { reason: String },
}

impl Outcome {
    /// The signal's level: the worst of its readings; UNKNOWN without data or on failure.
    pub fn level(&self) -> Level {
        match self {
            Outcome::Values { readings, .. } if !readings.is_empty() => {
                readings.iter().map(|r| r.level).max_by_key(|l| l.verdict_rank()).unwrap_or(Level::Unknown)
            }
            _ => Level::Unknown,
        }
    }

    /// The reading that decides the level (the worst, and among equals the largest value past
    /// the thresholds' direction).
    pub fn worst(&self, direction: Direction) -> Option<&Reading> {
        let Outcome::Values { readings, .. } = self else {
            return None;
        };
        readings.iter().filter(|r| !r.value.is_nan()).max_by(|a, b| {
            a.level.verdict_rank().cmp(&b.level.verdict_rank()).then_with(|| match direction {
                Direction::Above => a.value.total_cmp(&b.value),
                Direction::Below => b.value.total_cmp(&a.value),
            })
        })
    }
}

/// Whether `v` is past `threshold` in the signal's direction (strictly: "> 100 ms").
pub fn past(direction: Direction, v: f64, threshold: f64) -> bool {
    match direction {
        Direction::Above => v > threshold,
        Direction::Below => v < threshold,
    }
}

/// The level of one value against the signal's thresholds (no hysteresis: that is the alert
/// engine's business).
pub fn classify(signal: &Signal, v: f64) -> Level {
    if v.is_nan() {
        return Level::Unknown;
    }
    if signal.page.is_some_and(|p| past(signal.direction, v, p)) {
        Level::Page
    } else if signal.warn.is_some_and(|w| past(signal.direction, v, w)) {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// Turns an evaluated value into an outcome.
pub fn judge(signal: &Signal, value: Result<Value, String>, warming_up: bool) -> Outcome {
    let elements = match value {
        Ok(Value::Vector(v)) => v.into_iter().map(|e| (e.labels, e.v)).collect::<Vec<_>>(),
        Ok(Value::Scalar(s)) => vec![(Labels::empty(), s)],
        Ok(other) => {
            return Outcome::Failed { reason: format!("the expression gave a {}", other.type_name()) };
        }
        Err(reason) => return Outcome::Failed { reason },
    };
    let readings =
        elements.into_iter().map(|(labels, value)| Reading { level: classify(signal, value), labels, value }).collect();
    Outcome::Values { readings, warming_up }
}

/// Evaluates a signal over local storage at `t`.
pub fn evaluate_local(signal: &Signal, storage: &dyn Storage, lookback_ms: i64, t: i64) -> Outcome {
    let ev = Evaluator::new(storage, lookback_ms);
    let value = ev.eval(&signal.parsed, t).map_err(|e| e.0);
    judge(signal, value, ev.take_warming_up())
}
