//! A condition over a live signal: `clock-skew > 500ms`, `idempotency-memory >= 95%`.
//!
//! Written in a runbook to bind a decision to live data (`%% bind Check: clock-skew > 500ms`)
//! and in a step's verification (`verify = "clock-skew < 100ms within 2m"`). The threshold is in
//! the signal's unit, written as in the config. Over a signal's series: `>` and `>=` hold when
//! any series is over (the worst one is named), `<` and `<=` when every series is under and
//! there is at least one (a verification passes only when all of the fleet has recovered).

use std::fmt;
use std::time::Duration;

use crate::config::units::parse_duration;
use crate::config::{Config, Signal};
use crate::signals::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }

    fn holds(self, v: f64, t: f64) -> bool {
        match self {
            Op::Gt => v > t,
            Op::Ge => v >= t,
            Op::Lt => v < t,
            Op::Le => v <= t,
        }
    }
}

/// A condition as written; the threshold is resolved against a config's signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub signal: String,
    pub op: Op,
    pub threshold_text: String,
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.signal, self.op.as_str(), self.threshold_text)
    }
}

/// A verification by signal: the condition must hold within a time.
#[derive(Clone, Debug, PartialEq)]
pub struct SignalCheck {
    pub condition: Condition,
    pub within: Duration,
}

impl Condition {
    /// `SIGNAL OP THRESHOLD`.
    pub fn parse(s: &str) -> Result<Condition, String> {
        let s = s.trim();
        let hint = "write SIGNAL OP THRESHOLD, e.g. `clock-skew > 500ms` (OP: >, >=, <, <=)";
        let at = s.find(['<', '>']).ok_or_else(|| format!("no comparison in {s:?}: {hint}"))?;
        let signal = s[..at].trim();
        let rest = &s[at..];
        let (op, len) = if rest.starts_with(">=") {
            (Op::Ge, 2)
        } else if rest.starts_with("<=") {
            (Op::Le, 2)
        } else if rest.starts_with('>') {
            (Op::Gt, 1)
        } else {
            (Op::Lt, 1)
        };
        let threshold = rest[len..].trim();
        if signal.is_empty() || !signal.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("{signal:?} is not a signal id: {hint}"));
        }
        if threshold.is_empty() || threshold.contains(char::is_whitespace) {
            return Err(format!("{threshold:?} is not a threshold: {hint}"));
        }
        Ok(Condition { signal: signal.to_owned(), op, threshold_text: threshold.to_owned() })
    }

    /// The signal (its index in the config, and itself) and the threshold in its unit, or why
    /// the condition does not fit the config.
    pub fn resolve<'c>(&self, config: &'c Config) -> Result<(usize, &'c Signal, f64), String> {
        let (k, signal) = config
            .signals
            .iter()
            .enumerate()
            .find(|(_, s)| s.id == self.signal)
            .ok_or_else(|| format!("unknown signal {:?} (the config has no such signal)", self.signal))?;
        let t = signal
            .unit
            .parse_threshold(&self.threshold_text)
            .map_err(|e| format!("threshold of {:?}: {e}", self.signal))?;
        Ok((k, signal, t))
    }

    /// Judges the condition over a signal's readings (labels as text, value).
    pub fn judge(&self, threshold: f64, readings: &[(String, f64)]) -> Answer {
        let valid: Vec<&(String, f64)> = readings.iter().filter(|(_, v)| !v.is_nan()).collect();
        if valid.is_empty() {
            return Answer::Unknown;
        }
        let over = matches!(self.op, Op::Gt | Op::Ge);
        // The worst reading: the highest for `>`, the highest too for `<` (the one that would fail).
        let worst = valid.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(l, v)| (l.clone(), *v));
        let Some((labels, value)) = worst else { return Answer::Unknown };
        let holds = if over {
            valid.iter().any(|(_, v)| self.op.holds(*v, threshold))
        } else {
            valid.iter().all(|(_, v)| self.op.holds(*v, threshold))
        };
        Answer::Known { holds, value, labels, series: valid.len() }
    }
}

/// What a condition says now.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// No reading (no data, or the signal is stale).
    Unknown,
    Known {
        holds: bool,
        /// The worst reading and its series.
        value: f64,
        labels: String,
        series: usize,
    },
}

/// A signal outcome's readings as (series, value), for `judge`.
pub fn readings(outcome: &Outcome) -> Vec<(String, f64)> {
    match outcome {
        Outcome::Values { readings, .. } => readings.iter().map(|r| (r.labels.short(), r.value)).collect(),
        Outcome::Failed { .. } => Vec::new(),
    }
}

/// How an answer reads beside a decision: `yes: 2.1s on node-17`.
pub fn describe(answer: &Answer, signal: &Signal) -> String {
    match answer {
        Answer::Unknown => "unknown: no data".to_owned(),
        Answer::Known { holds, value, labels, series } => {
            let yn = if *holds { "yes" } else { "no" };
            if *series > 1 {
                format!("{yn}: {} on {labels} (worst of {series})", signal.unit.format(*value))
            } else {
                format!("{yn}: {} on {labels}", signal.unit.format(*value))
            }
        }
    }
}

impl SignalCheck {
    /// `CONDITION within DURATION`.
    pub fn parse(s: &str) -> Result<SignalCheck, String> {
        let (cond, within) = s.rsplit_once(" within ").ok_or_else(|| {
            format!(
                "{s:?} needs a time: write `SIGNAL OP THRESHOLD within DURATION`, e.g. `clock-skew < 100ms within 2m`"
            )
        })?;
        let within = parse_duration(within.trim())?;
        if within.is_zero() {
            return Err("a verification needs a time longer than 0s".into());
        }
        Ok(SignalCheck { condition: Condition::parse(cond)?, within })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_and_name_their_mistakes() {
        let c = Condition::parse("clock-skew > 500ms").expect("parses");
        assert_eq!((c.signal.as_str(), c.op, c.threshold_text.as_str()), ("clock-skew", Op::Gt, "500ms"));
        assert_eq!(Condition::parse("a<=5%").expect("parses").op, Op::Le);
        assert!(Condition::parse("clock-skew 500ms").expect_err("no op").contains("no comparison"));
        assert!(Condition::parse("> 5").is_err());
        assert!(Condition::parse("clock skew > 5").is_err());
        assert!(Condition::parse("x > 5 6").is_err());
        let v = SignalCheck::parse("clock-skew < 100ms within 2m").expect("parses");
        assert_eq!(v.within, Duration::from_secs(120));
        assert!(SignalCheck::parse("clock-skew < 100ms").is_err());
        assert!(SignalCheck::parse("clock-skew < 100ms within soon").is_err());
    }

    #[test]
    fn resolved_against_the_config_in_the_signals_unit() {
        let config = Config::from_texts(None).expect("defaults load");
        let (k, s, t) = Condition::parse("clock-skew > 500ms").expect("parses").resolve(&config).expect("resolves");
        assert_eq!((s.id.as_str(), t), ("clock-skew", 0.5));
        assert_eq!(config.signals[k].id, "clock-skew");
        assert!(Condition::parse("nope > 1").expect("parses").resolve(&config).expect_err("unknown").contains("nope"));
        assert!(Condition::parse("clock-skew > 5parsecs").expect("parses").resolve(&config).is_err());
    }

    #[test]
    fn over_is_any_under_is_all() {
        let over = Condition::parse("s > 1").expect("parses");
        let under = Condition::parse("s < 1").expect("parses");
        let r = vec![("node-1".to_owned(), 0.5), ("node-17".to_owned(), 2.1)];
        assert_eq!(over.judge(1.0, &r), Answer::Known { holds: true, value: 2.1, labels: "node-17".into(), series: 2 });
        assert!(matches!(under.judge(1.0, &r), Answer::Known { holds: false, .. }));
        assert!(matches!(under.judge(3.0, &r), Answer::Known { holds: true, .. }));
        assert_eq!(under.judge(1.0, &[]), Answer::Unknown);
        assert_eq!(over.judge(1.0, &[("x".into(), f64::NAN)]), Answer::Unknown);
    }
}
