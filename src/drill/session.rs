//! A drill being run: a pure state machine on the drill's own clock (milliseconds since the
//! drill started). Its driver (the cockpit, or the headless runner) tells it the time, what the
//! signals read, and what the operator did; it says which faults are due, when a fault was
//! detected and resolved, when the drill ends, and grades it.
//!
//! - time to detect a fault: from its injection to the first ack of an alert it raised, or the
//!   first opening of a runbook that answers one, after the injection;
//! - time to resolve: from its injection until every one of its alerts' signals, having risen to
//!   warn or page, is back under warn (OK) and stays there for the drill's settling period; the
//!   resolution counts from the moment they went under;
//! - the drill ends when every fault is injected, detected and resolved, at its maximum duration,
//!   when an abort condition holds long enough, or when someone aborts it.

use std::collections::BTreeMap;

use serde::Serialize;

use serde_json::{Map, Value};

use super::file::{Drill, Injector, Limits};
use crate::audit::event;
use crate::runbooks::condition::{Answer, readings};
use crate::signals::{Level, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Gold,
    Silver,
    Bronze,
    Fail,
}

impl Grade {
    /// The grade of `ms` (None: it never happened) under `limits`: strictly under a limit earns it.
    pub fn of(ms: Option<i64>, limits: &Limits) -> Grade {
        let Some(ms) = ms else { return Grade::Fail };
        let under = |d: std::time::Duration| i128::from(ms) < d.as_millis() as i128;
        if under(limits.gold) {
            Grade::Gold
        } else if under(limits.silver) {
            Grade::Silver
        } else if under(limits.bronze) {
            Grade::Bronze
        } else {
            Grade::Fail
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Gold => "gold",
            Grade::Silver => "silver",
            Grade::Bronze => "bronze",
            Grade::Fail => "fail",
        }
    }

    /// The word with its medal, for the scorecard.
    pub fn label(self) -> &'static str {
        match self {
            Grade::Gold => "GOLD",
            Grade::Silver => "SILVER",
            Grade::Bronze => "BRONZE",
            Grade::Fail => "FAIL",
        }
    }
}

/// How a drill ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how", content = "why")]
pub enum End {
    /// Every fault detected and resolved.
    Resolved,
    /// The maximum duration passed first.
    OutOfTime,
    Aborted(String),
}

impl End {
    pub fn describe(&self) -> String {
        match self {
            End::Resolved => "resolved".into(),
            End::OutOfTime => "out of time".into(),
            End::Aborted(why) => format!("aborted: {why}"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct FaultRun {
    injected_at: Option<i64>,
    /// The fleet's id for it.
    fleet_id: Option<u32>,
    detected_at: Option<i64>,
    detected_by: Option<String>,
    /// When one of its signals first reached warn or page.
    raised_at: Option<i64>,
    /// Since when all of its signals have read OK (after rising).
    calm_since: Option<i64>,
    resolved_at: Option<i64>,
}

/// A step the operator ran during the drill.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRun {
    pub at_ms: i64,
    pub runbook: String,
    pub step: String,
    /// `exit 0`, `refused: …`.
    pub status: String,
    pub ok: bool,
}

/// What the driver must do now.
#[derive(Clone, Debug, PartialEq)]
pub enum Due {
    /// Inject fault `k` of the drill.
    Inject(usize),
    /// The drill has ended: heal everything it injected.
    End(End),
}

pub struct Session {
    pub drill: Drill,
    faults: Vec<FaultRun>,
    /// Which runbook answers which signal (the config's `runbook` of each signal).
    runbook_of: BTreeMap<String, String>,
    /// Steps of the runbooks answering the drill's alerts that change things (recover phase):
    /// (runbook, step), for "not needed" on the scorecard.
    remedies: Vec<(String, String)>,
    steps: Vec<StepRun>,
    /// Every ack and runbook opening, with when: (ms, what).
    actions: Vec<(i64, String)>,
    abort_since: Vec<Option<i64>>,
    /// Each abort condition resolved against the config: (signal index, threshold).
    abort_checks: Vec<Option<(usize, f64)>>,
    end: Option<(i64, End)>,
    now: i64,
}

impl Session {
    /// `runbook_of`: signal id → the runbook that answers it; `remedies`: the recover steps of
    /// those runbooks (runbook, step).
    pub fn new(drill: Drill, runbook_of: BTreeMap<String, String>, remedies: Vec<(String, String)>) -> Session {
        let n = drill.faults.len();
        let aborts = drill.aborts.len();
        Session {
            drill,
            faults: vec![FaultRun::default(); n],
            runbook_of,
            remedies,
            steps: Vec::new(),
            actions: Vec::new(),
            abort_since: vec![None; aborts],
            abort_checks: vec![None; aborts],
            end: None,
            now: 0,
        }
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// Resolves the abort conditions against `config` once (a condition that does not resolve,
    /// which `check` reports, never holds).
    pub fn resolve_aborts(&mut self, config: &crate::config::Config) {
        self.abort_checks =
            self.drill.aborts.iter().map(|a| a.condition.resolve(config).ok().map(|(k, _, t)| (k, t))).collect();
    }

    /// `observe` from one evaluation of every signal of `config` (in its order; `None` where a
    /// signal has no outcome yet).
    pub fn observe_outcomes(&mut self, config: &crate::config::Config, outcomes: &[Option<&Outcome>]) -> Option<Due> {
        let level = |id: &str| {
            config
                .signals
                .iter()
                .zip(outcomes)
                .find(|(s, _)| s.id == id)
                .and_then(|(_, o)| o.map(Outcome::level))
                .unwrap_or(Level::Unknown)
        };
        let holds: Vec<bool> =
            self.drill
                .aborts
                .iter()
                .zip(&self.abort_checks)
                .map(|(a, check)| match check {
                    Some((k, t)) => outcomes.get(*k).copied().flatten().is_some_and(|o| {
                        matches!(a.condition.judge(*t, &readings(o)), Answer::Known { holds: true, .. })
                    }),
                    None => false,
                })
                .collect();
        self.observe(level, &holds)
    }

    pub fn ended(&self) -> Option<&End> {
        self.end.as_ref().map(|(_, e)| e)
    }

    fn max_ms(&self) -> i64 {
        i64::try_from(self.drill.max_duration.as_millis()).unwrap_or(i64::MAX)
    }

    /// Moves the clock to `now` (never backwards) and says what is due: faults whose time has
    /// come, or the end at the maximum duration.
    pub fn advance(&mut self, now: i64) -> Vec<Due> {
        self.now = self.now.max(now);
        if self.end.is_some() {
            return Vec::new();
        }
        if self.now >= self.max_ms() {
            return vec![self.finish(End::OutOfTime)];
        }
        self.drill
            .faults
            .iter()
            .enumerate()
            .filter(|(k, f)| self.faults[*k].injected_at.is_none() && i128::from(self.now) >= f.at.as_millis() as i128)
            .map(|(k, _)| Due::Inject(k))
            .collect()
    }

    fn finish(&mut self, end: End) -> Due {
        self.end = Some((self.now, end.clone()));
        Due::End(end)
    }

    /// Fault `k` went in (with the fleet's id for it), or could not: the drill is aborted.
    pub fn injected(&mut self, k: usize, result: Result<Option<u32>, String>) -> Option<Due> {
        let now = self.now;
        let f = self.faults.get_mut(k)?;
        match result {
            Ok(id) => {
                f.injected_at = Some(now);
                f.fleet_id = id;
                None
            }
            Err(e) => {
                let name = self.drill.faults[k].name.clone();
                Some(self.finish(End::Aborted(format!("fault {name:?} could not be injected: {e}"))))
            }
        }
    }

    /// The operator acked an alert of `signal`. Returns the faults it detected.
    pub fn acked(&mut self, signal: &str) -> Vec<usize> {
        self.actions.push((self.now, format!("ack {signal}")));
        self.detect(|alerts| alerts.iter().any(|a| a == signal), &format!("ack of {signal}"))
    }

    /// The operator opened runbook `id`. Returns the faults it detected.
    pub fn opened(&mut self, runbook: &str) -> Vec<usize> {
        self.actions.push((self.now, format!("open {runbook}")));
        let answers: Vec<String> =
            self.runbook_of.iter().filter(|(_, r)| r.as_str() == runbook).map(|(s, _)| s.clone()).collect();
        self.detect(|alerts| alerts.iter().any(|a| answers.contains(a)), &format!("runbook {runbook}"))
    }

    fn detect(&mut self, matches: impl Fn(&[String]) -> bool, how: &str) -> Vec<usize> {
        if self.end.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (k, f) in self.faults.iter_mut().enumerate() {
            if f.injected_at.is_some() && f.detected_at.is_none() && matches(&self.drill.faults[k].alerts) {
                f.detected_at = Some(self.now);
                f.detected_by = Some(how.to_owned());
                out.push(k);
            }
        }
        out
    }

    /// A step ran (or was refused).
    pub fn step(&mut self, runbook: &str, step: &str, status: String, ok: bool) {
        self.steps.push(StepRun { at_ms: self.now, runbook: runbook.into(), step: step.into(), status, ok });
    }

    /// The signals' levels now (`level(id)`; a signal it does not know is Unknown), and whether
    /// each abort condition holds. May end the drill.
    pub fn observe(&mut self, level: impl Fn(&str) -> Level, aborts_hold: &[bool]) -> Option<Due> {
        if self.end.is_some() {
            return None;
        }
        let now = self.now;
        let settle = i64::try_from(self.drill.settle.as_millis()).unwrap_or(i64::MAX);
        for (k, f) in self.faults.iter_mut().enumerate() {
            if f.injected_at.is_none() || f.resolved_at.is_some() {
                continue;
            }
            let levels: Vec<Level> = self.drill.faults[k].alerts.iter().map(|a| level(a)).collect();
            if levels.iter().any(|l| matches!(l, Level::Warn | Level::Page)) {
                f.raised_at.get_or_insert(now);
                f.calm_since = None;
            } else if f.raised_at.is_some() && levels.iter().all(|l| *l == Level::Ok) {
                let since = *f.calm_since.get_or_insert(now);
                if now - since >= settle {
                    f.resolved_at = Some(since);
                }
            } else {
                // No data (or stale) proves nothing either way.
                f.calm_since = None;
            }
        }
        for (k, a) in self.drill.aborts.iter().enumerate() {
            let holds = aborts_hold.get(k).copied().unwrap_or(false);
            let hold = i64::try_from(a.hold.as_millis()).unwrap_or(i64::MAX);
            match (holds, self.abort_since[k]) {
                (false, _) => self.abort_since[k] = None,
                (true, None) => self.abort_since[k] = Some(now),
                (true, Some(_)) => {}
            }
            if let Some(since) = self.abort_since[k]
                && now - since >= hold
            {
                let why = format!("{} ({} for {})", a.why, a.condition, crate::config::units::format_duration(a.hold));
                return Some(self.finish(End::Aborted(why)));
            }
        }
        let all_done =
            self.faults.iter().all(|f| f.injected_at.is_some() && f.detected_at.is_some() && f.resolved_at.is_some());
        all_done.then(|| self.finish(End::Resolved))
    }

    /// Someone aborted the drill.
    pub fn abort(&mut self, why: &str) -> Option<Due> {
        if self.end.is_some() {
            return None;
        }
        Some(self.finish(End::Aborted(why.to_owned())))
    }

    /// Something the operator did that counts for nothing (an ack with no alert to ack), for
    /// the timeline.
    pub fn note(&mut self, what: String) {
        self.actions.push((self.now, what));
    }

    pub fn any_injected(&self) -> bool {
        self.faults.iter().any(|f| f.injected_at.is_some())
    }

    /// The heal commands of the live faults injected so far.
    pub fn live_heals(&self) -> Vec<Vec<String>> {
        self.drill
            .faults
            .iter()
            .zip(&self.faults)
            .filter(|(_, f)| f.injected_at.is_some())
            .filter_map(|(d, _)| match &d.injector {
                Injector::Live { heal, .. } => Some(heal.clone()),
                Injector::Sim { .. } => None,
            })
            .collect()
    }

    /// The audit record of a drill starting.
    pub fn start_record(&self, seed: u64, speed: Option<f64>) -> Map<String, Value> {
        let mut m = event(
            "drill-start",
            &[
                ("title", self.drill.title.clone().into()),
                ("seed", seed.into()),
                ("faults", self.drill.faults.len().into()),
                ("max-duration-ms", u64::try_from(self.drill.max_duration.as_millis()).unwrap_or(u64::MAX).into()),
            ],
        );
        if let Some(x) = speed {
            m.insert("speed".into(), x.into());
        }
        m
    }

    /// The audit record of fault `k` going in (now), or failing to.
    pub fn inject_record(&self, k: usize, result: &Result<Option<u32>, String>) -> Map<String, Value> {
        let Some(f) = self.drill.faults.get(k) else { return event("drill-inject", &[]) };
        let mut m = event("drill-inject", &[("fault", f.name.clone().into()), ("at-ms", self.now.into())]);
        match &f.injector {
            Injector::Sim { command, .. } => m.insert("command".into(), format!("chaos {command}").into()),
            Injector::Live { inject, .. } => m.insert("argv".into(), inject.clone().into()),
        };
        if let Err(e) = result {
            m.insert("error".into(), e.clone().into());
        }
        m
    }

    /// When the next fault not yet injected is due.
    pub fn next_injection_ms(&self) -> Option<i64> {
        self.drill
            .faults
            .iter()
            .zip(&self.faults)
            .filter(|(_, f)| f.injected_at.is_none())
            .map(|(d, _)| i64::try_from(d.at.as_millis()).unwrap_or(i64::MAX))
            .min()
    }

    /// The fleet ids of the faults injected so far.
    pub fn fleet_ids(&self) -> Vec<u32> {
        self.faults.iter().filter_map(|f| f.fleet_id).collect()
    }

    pub fn scorecard(&self) -> Scorecard {
        let r = &self.drill.rubric;
        let faults: Vec<FaultScore> = self
            .drill
            .faults
            .iter()
            .zip(&self.faults)
            .map(|(d, f)| {
                let detect_ms = f.injected_at.zip(f.detected_at).map(|(i, t)| t - i);
                let resolve_ms = f.injected_at.zip(f.resolved_at).map(|(i, t)| t - i);
                FaultScore {
                    name: d.name.clone(),
                    alerts: d.alerts.clone(),
                    injected_at_ms: f.injected_at,
                    detected_at_ms: f.detected_at,
                    detected_by: f.detected_by.clone(),
                    detect_ms,
                    detect: Grade::of(detect_ms, &r.detect),
                    raised_at_ms: f.raised_at,
                    resolved_at_ms: f.resolved_at,
                    resolve_ms,
                    resolve: Grade::of(resolve_ms, &r.resolve),
                }
            })
            .collect();
        let detect_ms =
            faults.iter().map(|f| f.detect_ms).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max());
        let first = faults.iter().filter_map(|f| f.injected_at_ms).min();
        let last_resolved =
            faults.iter().map(|f| f.resolved_at_ms).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max());
        let resolve_ms = first.zip(last_resolved).map(|(a, b)| b - a);
        let detect = Grade::of(detect_ms, &r.detect);
        let resolve = Grade::of(resolve_ms, &r.resolve);
        let run: Vec<(&str, &str)> =
            self.steps.iter().filter(|s| s.ok).map(|s| (s.runbook.as_str(), s.step.as_str())).collect();
        let not_needed = self
            .remedies
            .iter()
            .filter(|(rb, st)| !run.contains(&(rb.as_str(), st.as_str())))
            .map(|(rb, st)| format!("{rb}/{st}"))
            .collect();
        let (ended_at_ms, end) = self.end.clone().unwrap_or((self.now, End::OutOfTime));
        Scorecard {
            drill: self.drill.id.clone(),
            title: self.drill.title.clone(),
            end,
            ended_at_ms,
            detect_ms,
            detect,
            resolve_ms,
            resolve,
            grade: detect.max(resolve),
            faults,
            steps: self.steps.clone(),
            not_needed,
            actions: self.actions.iter().map(|(t, a)| Action { at_ms: *t, what: a.clone() }).collect(),
            success: self.drill.success.clone(),
            rubric: RubricShown::of(&self.drill),
            seed: None,
            speed: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultScore {
    pub name: String,
    pub alerts: Vec<String>,
    pub injected_at_ms: Option<i64>,
    pub detected_at_ms: Option<i64>,
    pub detected_by: Option<String>,
    pub detect_ms: Option<i64>,
    pub detect: Grade,
    pub raised_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub resolve_ms: Option<i64>,
    pub resolve: Grade,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Action {
    pub at_ms: i64,
    pub what: String,
}

/// The rubric as written, for the reader of a scorecard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RubricShown {
    pub detect: [String; 3],
    pub resolve: [String; 3],
}

impl RubricShown {
    fn of(d: &Drill) -> RubricShown {
        let f = crate::config::units::format_duration;
        let l = |x: &Limits| [f(x.gold), f(x.silver), f(x.bronze)];
        RubricShown { detect: l(&d.rubric.detect), resolve: l(&d.rubric.resolve) }
    }
}

/// The graded result of a drill. Times are milliseconds on the drill's clock.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scorecard {
    pub drill: String,
    pub title: String,
    pub end: End,
    pub ended_at_ms: i64,
    /// The slowest detection (None: a fault went undetected).
    pub detect_ms: Option<i64>,
    pub detect: Grade,
    /// From the first injection until every fault was resolved (None: one was not).
    pub resolve_ms: Option<i64>,
    pub resolve: Grade,
    /// The worse of the two.
    pub grade: Grade,
    pub faults: Vec<FaultScore>,
    pub steps: Vec<StepRun>,
    /// Remedies of the answering runbooks that nobody ran.
    pub not_needed: Vec<String>,
    pub actions: Vec<Action>,
    pub success: Vec<String>,
    pub rubric: RubricShown,
    pub seed: Option<u64>,
    pub speed: Option<f64>,
}

/// `4m05s`, or `—` for never.
pub fn clock(ms: Option<i64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) => {
            let s = ms.max(0) / 1000;
            if s >= 3600 {
                format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
            } else {
                format!("{}m{:02}s", s / 60, s % 60)
            }
        }
    }
}

impl Scorecard {
    /// The audit record of the drill's end.
    pub fn end_record(&self) -> Map<String, Value> {
        event(
            "drill-end",
            &[
                ("end", self.end.describe().into()),
                ("grade", self.grade.as_str().into()),
                ("detect", self.detect.as_str().into()),
                ("resolve", self.resolve.as_str().into()),
                ("detect-ms", self.detect_ms.map_or(Value::Null, Into::into)),
                ("resolve-ms", self.resolve_ms.map_or(Value::Null, Into::into)),
            ],
        )
    }

    /// The scorecard as Markdown.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "# Drill scorecard: {}\n", self.title);
        let _ = writeln!(s, "- Drill: `{}`", self.drill);
        let _ = writeln!(s, "- Ended: {} at {}", self.end.describe(), clock(Some(self.ended_at_ms)));
        if let Some(seed) = self.seed {
            let _ = writeln!(s, "- Seed: {seed}");
        }
        let _ = writeln!(
            s,
            "- **Overall: {}** (detect {} in {}, resolve {} in {})\n",
            self.grade.label(),
            self.detect.label(),
            clock(self.detect_ms),
            self.resolve.label(),
            clock(self.resolve_ms)
        );
        let _ = writeln!(
            s,
            "Rubric: detect under {} / {} / {}, resolve under {} / {} / {} (gold / silver / bronze).\n",
            self.rubric.detect[0],
            self.rubric.detect[1],
            self.rubric.detect[2],
            self.rubric.resolve[0],
            self.rubric.resolve[1],
            self.rubric.resolve[2]
        );
        let _ = writeln!(s, "## Faults\n");
        let _ = writeln!(s, "| fault | injected | detected (by) | detect | resolved | resolve |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for f in &self.faults {
            let _ = writeln!(
                s,
                "| {} | {} | {}{} | {} {} | {} | {} {} |",
                f.name,
                clock(f.injected_at_ms),
                clock(f.detected_at_ms),
                f.detected_by.as_ref().map(|b| format!(" ({b})")).unwrap_or_default(),
                clock(f.detect_ms),
                f.detect.label(),
                clock(f.resolved_at_ms),
                clock(f.resolve_ms),
                f.resolve.label()
            );
        }
        let _ = writeln!(s, "\n## Steps run\n");
        if self.steps.is_empty() {
            let _ = writeln!(s, "None.");
        }
        for st in &self.steps {
            let _ = writeln!(s, "- {} `{}/{}`: {}", clock(Some(st.at_ms)), st.runbook, st.step, st.status);
        }
        if !self.not_needed.is_empty() {
            let _ = writeln!(
                s,
                "\nNot needed: {}",
                self.not_needed.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            );
        }
        let _ = writeln!(s, "\n## Timeline\n");
        for a in &self.actions {
            let _ = writeln!(s, "- {} {}", clock(Some(a.at_ms)), a.what);
        }
        if !self.success.is_empty() {
            let _ = writeln!(s, "\n## Success criteria (for the debrief)\n");
            for c in &self.success {
                let _ = writeln!(s, "- [ ] {c}");
            }
        }
        s
    }

    /// A few lines for a terminal: what `drill run --script` prints and the cockpit shows.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!("DRILL {} — {}: {}", self.drill, self.title, self.end.describe()),
            format!(
                "overall {}   detect {} in {}   resolve {} in {}",
                self.grade.label(),
                self.detect.label(),
                clock(self.detect_ms),
                self.resolve.label(),
                clock(self.resolve_ms)
            ),
        ];
        for f in &self.faults {
            out.push(format!(
                "  {:<34} detect {:>7} {:<6}  resolve {:>7} {:<6}",
                crate::text::truncate_chars(&f.name, 34),
                clock(f.detect_ms),
                f.detect.label(),
                clock(f.resolve_ms),
                f.resolve.label()
            ));
        }
        for st in &self.steps {
            out.push(format!("  ran {} {}/{}: {}", clock(Some(st.at_ms)), st.runbook, st.step, st.status));
        }
        if !self.not_needed.is_empty() {
            out.push(format!("  not needed: {}", self.not_needed.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drill::file::parse;

    const DRILL: &str = r#"
id = "t"
title = "T"
objective = "o"
briefing = "b"
max-duration = "20m"
settle = "1m"
[rubric]
detect = { gold = "3m", silver = "5m", bronze = "10m" }
resolve = { gold = "7m", silver = "10m", bronze = "15m" }
[[fault]]
name = "skew"
at = "1m"
inject = "clock jump --offset +2m --nodes 30%"
alerts = ["clock-skew"]
[[abort]]
when = "timeout-ratio > 50%"
for = "2m"
why = "an outage"
"#;

    fn session() -> Session {
        let mut runbooks = BTreeMap::new();
        runbooks.insert("clock-skew".to_owned(), "clock-skew".to_owned());
        Session::new(parse("t.toml", DRILL).expect("parses"), runbooks, vec![("clock-skew".into(), "ntp-sync".into())])
    }

    fn level(l: Level) -> impl Fn(&str) -> Level {
        move |_| l
    }

    #[test]
    fn a_limit_itself_earns_the_next_grade() {
        let l = parse("t.toml", DRILL).expect("parses").rubric.detect;
        assert_eq!(Grade::of(Some(179_999), &l), Grade::Gold);
        assert_eq!(Grade::of(Some(180_000), &l), Grade::Silver);
        assert_eq!(Grade::of(Some(599_999), &l), Grade::Bronze);
        assert_eq!(Grade::of(Some(600_000), &l), Grade::Fail);
        assert_eq!(Grade::of(None, &l), Grade::Fail);
    }

    #[test]
    fn detection_needs_the_fault_in_and_resolution_needs_it_to_have_risen_and_settled() {
        let mut s = session();
        assert!(s.advance(30_000).is_empty(), "not due before 1m");
        assert!(s.acked("clock-skew").is_empty(), "nothing injected yet: nothing to detect");
        assert_eq!(s.advance(60_000), vec![Due::Inject(0)]);
        assert_eq!(s.injected(0, Ok(Some(7))), None);
        // Calm before the signal ever rose is not a resolution.
        s.advance(200_000);
        assert_eq!(s.observe(level(Level::Ok), &[false]), None);
        s.advance(240_000);
        s.observe(level(Level::Page), &[false]);
        s.advance(250_000);
        assert_eq!(s.opened("clock-skew"), vec![0], "the runbook answering clock-skew detects it");
        s.advance(400_000);
        s.observe(level(Level::Ok), &[false]);
        s.advance(430_000);
        s.observe(level(Level::Unknown), &[false]); // no data: the calm starts over
        s.advance(460_000);
        s.observe(level(Level::Ok), &[false]);
        s.advance(519_999);
        assert_eq!(s.observe(level(Level::Ok), &[false]), None, "not settled yet");
        s.advance(520_000);
        assert_eq!(s.observe(level(Level::Ok), &[false]), Some(Due::End(End::Resolved)));
        let c = s.scorecard();
        assert_eq!(c.faults[0].detect_ms, Some(190_000));
        assert_eq!(c.faults[0].resolve_ms, Some(400_000), "from the injection to the start of the calm");
        assert_eq!((c.detect, c.resolve, c.grade), (Grade::Silver, Grade::Gold, Grade::Silver));
        assert_eq!(s.fleet_ids(), vec![7]);
        assert!(c.not_needed.contains(&"clock-skew/ntp-sync".to_owned()));
    }

    #[test]
    fn an_abort_condition_must_hold_for_its_time() {
        let mut s = session();
        s.advance(60_000);
        s.injected(0, Ok(None));
        s.advance(100_000);
        assert_eq!(s.observe(level(Level::Page), &[true]), None);
        s.advance(150_000);
        assert_eq!(s.observe(level(Level::Page), &[false]), None, "it let go: the clock restarts");
        s.advance(160_000);
        s.observe(level(Level::Page), &[true]);
        s.advance(279_999);
        assert_eq!(s.observe(level(Level::Page), &[true]), None);
        s.advance(280_000);
        let Some(Due::End(End::Aborted(why))) = s.observe(level(Level::Page), &[true]) else { panic!("aborts") };
        assert!(why.contains("an outage") && why.contains("timeout-ratio > 50%"), "{why}");
        assert!(s.advance(300_000).is_empty(), "an ended drill injects nothing more");
    }

    #[test]
    fn out_of_time_at_the_maximum_and_a_failed_injection_aborts() {
        let mut s = session();
        assert_eq!(s.advance(20 * 60_000), vec![Due::End(End::OutOfTime)]);
        let mut s = session();
        s.advance(60_000);
        let Some(Due::End(End::Aborted(why))) = s.injected(0, Err("the fleet is gone".into())) else { panic!() };
        assert!(why.contains("skew") && why.contains("the fleet is gone"), "{why}");
    }
}
