//! Drill files (`drills/*.toml`): what a drill is for, the faults it injects and when, the
//! alerts each fault should raise, the grading rubric, how long it may run and when it stops
//! early. Every problem is reported at its file line.

use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::units::parse_duration;
use crate::runbooks::FileProblem;
use crate::runbooks::condition::Condition;
use crate::sim::Injection;

/// A drill as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Drill {
    pub id: String,
    pub title: String,
    /// What the drill proves (seed 002: objective).
    pub objective: String,
    /// What the participant is told when it starts: never the faults themselves.
    pub briefing: String,
    /// What the system and the responder should do (seed 002: expected behaviour).
    pub expected: String,
    /// Success criteria, as written for the scorecard.
    pub success: Vec<String>,
    pub max_duration: Duration,
    /// How long every touched signal must stay under warn for a fault to count as resolved.
    pub settle: Duration,
    pub rubric: Rubric,
    pub faults: Vec<Fault>,
    pub aborts: Vec<Abort>,
    /// Where it came from (`drills/3am-certification.toml`).
    pub file: String,
}

/// Time to detect and time to resolve: under `gold` is gold, and so on; over `bronze` fails.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rubric {
    pub detect: Limits,
    pub resolve: Limits,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub gold: Duration,
    pub silver: Duration,
    pub bronze: Duration,
}

/// One fault of a drill.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub name: String,
    /// When, after the drill starts.
    pub at: Duration,
    pub injector: Injector,
    /// The alerts (signal ids) it is expected to raise: an ack of one of them (or opening the
    /// runbook that answers one) detects it, and it is resolved when all of them are back under
    /// warn and stay there.
    pub alerts: Vec<String>,
    /// The line of its `[[fault]]` table.
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Injector {
    /// A chaos-menu command line against the simulated fleet (`network delay --latency 500ms …`).
    Sim { command: String, injection: Injection },
    /// Real injector commands (argv, no shell), run only with `--allow-live`; `heal` undoes it.
    Live { inject: Vec<String>, heal: Vec<String> },
}

/// Stop early, heal everything and say why, when `condition` has held for `hold`.
#[derive(Clone, Debug, PartialEq)]
pub struct Abort {
    pub condition: Condition,
    pub hold: Duration,
    pub why: String,
    pub line: usize,
}

impl Drill {
    /// Whether any fault needs real injector commands.
    pub fn is_live(&self) -> bool {
        self.faults.iter().any(|f| matches!(f.injector, Injector::Live { .. }))
    }

    /// Every signal the drill's faults should raise, in order, once each.
    pub fn touched_signals(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in self.faults.iter().flat_map(|f| &f.alerts) {
            if !out.contains(&a.as_str()) {
                out.push(a);
            }
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    id: Spanned<String>,
    title: Spanned<String>,
    objective: Spanned<String>,
    briefing: Spanned<String>,
    #[serde(default)]
    expected: Option<Spanned<String>>,
    #[serde(default)]
    success: Vec<Spanned<String>>,
    max_duration: Spanned<String>,
    #[serde(default)]
    settle: Option<Spanned<String>>,
    rubric: Spanned<RawRubric>,
    #[serde(rename = "fault")]
    faults: Vec<Spanned<RawFault>>,
    #[serde(default, rename = "abort")]
    aborts: Vec<Spanned<RawAbort>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRubric {
    detect: Spanned<RawLimits>,
    resolve: Spanned<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    gold: Spanned<String>,
    silver: Spanned<String>,
    bronze: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFault {
    name: Spanned<String>,
    at: Spanned<String>,
    #[serde(default)]
    inject: Option<Spanned<String>>,
    #[serde(default)]
    live_inject: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    live_heal: Option<Spanned<Vec<String>>>,
    alerts: Spanned<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbort {
    when: Spanned<String>,
    #[serde(rename = "for")]
    hold: Spanned<String>,
    why: Spanned<String>,
}

/// The default time every touched signal must stay under warn.
const DEFAULT_SETTLE: Duration = Duration::from_secs(120);

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<FileProblem>,
}

impl Reader<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let at = self.text.floor_char_boundary(span.start.min(self.text.len()));
        self.text[..at].matches('\n').count() + 1
    }

    fn problem(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = self.line(span);
        self.problems.push(FileProblem { file: self.file.to_owned(), line, message: message.into() });
    }

    fn duration(&mut self, v: &Spanned<String>, what: &str) -> Duration {
        match parse_duration(v.get_ref().trim()) {
            Ok(d) => d,
            Err(e) => {
                self.problem(&v.span(), format!("{what}: {e}"));
                Duration::ZERO
            }
        }
    }

    fn text(&mut self, v: &Spanned<String>, what: &str) -> String {
        let s = v.get_ref().trim();
        if s.is_empty() {
            self.problem(&v.span(), format!("{what} is empty"));
        }
        s.to_owned()
    }

    fn limits(&mut self, l: &Spanned<RawLimits>, what: &str) -> Limits {
        let r = l.get_ref();
        let limits = Limits {
            gold: self.duration(&r.gold, &format!("{what}.gold")),
            silver: self.duration(&r.silver, &format!("{what}.silver")),
            bronze: self.duration(&r.bronze, &format!("{what}.bronze")),
        };
        if !(limits.gold < limits.silver && limits.silver < limits.bronze) {
            self.problem(
                &l.span(),
                format!(
                    "rubric {what} limits out of order: gold ({}) < silver ({}) < bronze ({}) is needed",
                    r.gold.get_ref(),
                    r.silver.get_ref(),
                    r.bronze.get_ref()
                ),
            );
        }
        limits
    }

    fn fault(&mut self, f: &Spanned<RawFault>, max: Duration) -> Fault {
        let line = self.line(&f.span());
        let r = f.get_ref();
        let name = self.text(&r.name, "a fault's name");
        let at = self.duration(&r.at, "at");
        if at >= max && max > Duration::ZERO {
            self.problem(
                &r.at.span(),
                format!("fault {name:?} starts at {} or later than max-duration", r.at.get_ref()),
            );
        }
        let injector = match (&r.inject, &r.live_inject, &r.live_heal) {
            (Some(cmd), None, None) => match chaos_line(cmd.get_ref(), max) {
                Ok(injection) => Injector::Sim { command: cmd.get_ref().trim().to_owned(), injection },
                Err(e) => {
                    self.problem(&cmd.span(), e);
                    Injector::Live { inject: Vec::new(), heal: Vec::new() }
                }
            },
            (None, Some(inject), heal) => {
                if inject.get_ref().is_empty() {
                    self.problem(&inject.span(), "live-inject needs a command (argv, e.g. [\"tc\", \"qdisc\", …])");
                }
                match heal {
                    Some(h) if !h.get_ref().is_empty() => {}
                    Some(h) => self.problem(&h.span(), "live-heal needs a command"),
                    None => self.problem(&f.span(), "a live fault needs live-heal: the command that undoes it"),
                }
                Injector::Live {
                    inject: inject.get_ref().clone(),
                    heal: heal.as_ref().map(|h| h.get_ref().clone()).unwrap_or_default(),
                }
            }
            (Some(cmd), _, _) => {
                self.problem(&cmd.span(), "give inject (the simulated fleet) or live-inject (real commands), not both");
                Injector::Live { inject: Vec::new(), heal: Vec::new() }
            }
            (None, None, _) => {
                self.problem(&f.span(), format!("fault {name:?} needs inject = \"<chaos command>\" or live-inject"));
                Injector::Live { inject: Vec::new(), heal: Vec::new() }
            }
        };
        let alerts: Vec<String> = r.alerts.get_ref().iter().map(|a| a.get_ref().trim().to_owned()).collect();
        if alerts.is_empty() {
            self.problem(&r.alerts.span(), format!("fault {name:?} lists no alerts: how would anyone detect it?"));
        }
        Fault { name, at, injector, alerts, line }
    }
}

/// A chaos-menu command line (`network delay --latency 500ms --from service-a --to service-b`)
/// as an injection; without `--duration` the fault lasts `max` (the whole drill).
pub fn chaos_line(line: &str, max: Duration) -> Result<Injection, String> {
    use clap::Parser;
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Err("inject is empty: write a chaos command, e.g. \"clock jump --offset +2m --nodes 30%\"".into());
    }
    let argv = ["nightwatch", "chaos"].into_iter().chain(words.iter().copied());
    let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| {
        let msg = e.to_string();
        let first = msg.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid");
        format!("not a chaos command ({}): {}", line.trim(), first.trim_start_matches("error: "))
    })?;
    let Some(crate::cli::Command::Chaos(args)) = cli.command else {
        return Err("not a chaos command".into());
    };
    let mut injection = args.command.injection().ok_or_else(|| format!("{:?} does not inject a fault", line.trim()))?;
    if injection.duration_s.is_none() {
        injection.duration_s = Some(max.as_secs_f64().max(1.0));
    }
    Ok(injection)
}

/// Reads a drill file. `file` names it in problems.
pub fn parse(file: &str, text: &str) -> Result<Drill, Vec<FileProblem>> {
    let mut rd = Reader { file, text, problems: Vec::new() };
    let raw: Raw = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            rd.problem(&span, e.message().to_owned());
            return Err(rd.problems);
        }
    };
    let id = rd.text(&raw.id, "id");
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        rd.problem(&raw.id.span(), format!("id {id:?}: use letters, digits, - and _"));
    }
    let max_duration = rd.duration(&raw.max_duration, "max-duration");
    if max_duration.is_zero() {
        rd.problem(&raw.max_duration.span(), "max-duration must be longer than 0s");
    }
    let settle = match &raw.settle {
        Some(s) => rd.duration(s, "settle"),
        None => DEFAULT_SETTLE,
    };
    let rubric = Rubric {
        detect: rd.limits(&raw.rubric.get_ref().detect, "detect"),
        resolve: rd.limits(&raw.rubric.get_ref().resolve, "resolve"),
    };
    if rubric.resolve.bronze > max_duration && !max_duration.is_zero() {
        rd.problem(
            &raw.rubric.get_ref().resolve.span(),
            format!(
                "resolve.bronze ({}) is longer than max-duration ({}): nobody could earn it",
                raw.rubric.get_ref().resolve.get_ref().bronze.get_ref(),
                raw.max_duration.get_ref()
            ),
        );
    }
    if raw.faults.is_empty() {
        rd.problem(&(0..0), "a drill needs at least one [[fault]]");
    }
    let faults: Vec<Fault> = raw.faults.iter().map(|f| rd.fault(f, max_duration)).collect();
    let aborts = raw
        .aborts
        .iter()
        .map(|a| {
            let r = a.get_ref();
            let condition = Condition::parse(r.when.get_ref()).unwrap_or_else(|e| {
                rd.problem(&r.when.span(), e);
                Condition {
                    signal: String::new(),
                    op: crate::runbooks::condition::Op::Gt,
                    threshold_text: String::new(),
                }
            });
            Abort {
                condition,
                hold: rd.duration(&r.hold, "for"),
                why: rd.text(&r.why, "why"),
                line: rd.line(&a.span()),
            }
        })
        .collect();
    let drill = Drill {
        id,
        title: rd.text(&raw.title, "title"),
        objective: rd.text(&raw.objective, "objective"),
        briefing: rd.text(&raw.briefing, "briefing"),
        expected: raw.expected.as_ref().map(|e| e.get_ref().trim().to_owned()).unwrap_or_default(),
        success: raw.success.iter().map(|s| s.get_ref().trim().to_owned()).collect(),
        max_duration,
        settle,
        rubric,
        faults,
        aborts,
        file: file.to_owned(),
    };
    if rd.problems.is_empty() { Ok(drill) } else { Err(rd.problems) }
}

/// Problems of a (parsed) drill against a config: alerts and abort conditions that name no
/// signal, or a signal without thresholds (it raises no alert).
pub fn lint(drill: &Drill, config: &crate::config::Config) -> Vec<FileProblem> {
    let mut out = Vec::new();
    for f in &drill.faults {
        for a in &f.alerts {
            match config.signals.iter().find(|s| &s.id == a) {
                None => out.push(FileProblem {
                    file: drill.file.clone(),
                    line: f.line,
                    message: format!("fault {:?}: no signal defines alert {a:?}", f.name),
                }),
                Some(s) if s.warn.is_none() && s.page.is_none() => out.push(FileProblem {
                    file: drill.file.clone(),
                    line: f.line,
                    message: format!(
                        "fault {:?}: signal {a:?} has no warn or page threshold: it raises no alert",
                        f.name
                    ),
                }),
                Some(_) => {}
            }
        }
    }
    for a in &drill.aborts {
        if let Err(e) = a.condition.resolve(config) {
            out.push(FileProblem { file: drill.file.clone(), line: a.line, message: format!("abort: {e}") });
        }
    }
    out
}
