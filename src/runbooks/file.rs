//! A runbook file: Markdown, readable as-is on a code host.
//!
//! ~~~~text
//! +++                                  TOML front matter
//! id = "clock-skew"
//! title = "Impossible timestamps / clock skew"
//! alerts = ["clock-skew"]              the signals it answers
//! severity = "P2"
//! owner = "Platform"
//! escalation = "@platform-oncall"
//! last-reviewed = "2026-11-23"
//! +++
//! ## What the alert means … ## Escalation          the sections (see SECTIONS)
//! ```mermaid                                        the flowchart, pasted unchanged, plus
//! graph TD                                          bindings as Mermaid comments, which every
//!     A[Skew alert] --> B{Skew > 500ms?}            Mermaid renderer ignores:
//!     %% bind B: clock-skew > 500ms                   a decision asks a live condition
//!     %% bind C: step ntp-sync                        an action runs a step
//! ```
//! ```sh {id=ntp-sync phase=recover profile=sim target=node allow-node="node-[0-9]+" verify="clock-skew < 100ms within 2m"}
//! nightwatch sim ctl --sim {sim} ntp-sync --nodes {node}
//! ```
//! ~~~~
//!
//! A fenced block whose info string carries `{…}` attributes is a step. Attributes:
//! `id`, `phase` (detect, diagnose, recover, verify, rollback), `profile` (sim or prod; both
//! when absent), `confirm` (`yes`, the default, or `type`: the user types the target's name),
//! `timeout`, `target` (the value naming what the step acts on), `allow-NAME` (the pattern a
//! template value must match, whole), `expect` (the expected result, in words),
//! `expect-output` (a pattern the output must contain for the step to count as passed),
//! `verify` (a verify step's id, or `SIGNAL OP THRESHOLD within DURATION`), `remote-shell`
//! (the argv index from which a remote shell reads the words) and `shell = true` (run the text
//! with `sh -c`, every value quoted).

use std::collections::BTreeMap;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::condition::{Condition, SignalCheck};
use super::flowchart::{self, Flowchart, Problem};
use crate::config::Profile;
use crate::config::units::parse_duration;
use crate::exec::template::Template;

/// The sections every runbook has, in this order of headings (any level).
pub const SECTIONS: [&str; 7] =
    ["What the alert means", "Detection", "Diagnosis", "Recovery", "Verification", "Rollback", "Escalation"];

/// Template values nightwatch fills itself (trusted; no pattern needed).
pub const BUILTIN_VALUES: [&str; 1] = ["sim"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Detect,
    Diagnose,
    Recover,
    Verify,
    Rollback,
}

impl Phase {
    pub fn parse(s: &str) -> Option<Phase> {
        Some(match s {
            "detect" => Phase::Detect,
            "diagnose" => Phase::Diagnose,
            "recover" => Phase::Recover,
            "verify" => Phase::Verify,
            "rollback" => Phase::Rollback,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Detect => "detect",
            Phase::Diagnose => "diagnose",
            Phase::Recover => "recover",
            Phase::Verify => "verify",
            Phase::Rollback => "rollback",
        }
    }

    /// Recover and rollback steps change things; the others only look.
    pub fn mutates(self) -> bool {
        matches!(self, Phase::Recover | Phase::Rollback)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirm {
    /// y/N, default No.
    Yes,
    /// Type the target's name.
    Type,
}

/// How a recover step proves it worked.
#[derive(Clone, Debug, PartialEq)]
pub enum Verify {
    /// A verify step (its exit status and `expect-output`).
    Step(String),
    /// A signal condition that must hold within a time.
    Signal(SignalCheck),
}

/// A value pattern: matched against the whole value.
#[derive(Clone, Debug)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        let regex = Regex::new(&format!("^(?:{source})$")).map_err(|e| format!("pattern {source:?}: {e}"))?;
        Ok(Pattern { source: source.to_owned(), regex })
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    pub phase: Phase,
    /// None: both profiles.
    pub profile: Option<Profile>,
    pub confirm: Confirm,
    pub timeout: Option<Duration>,
    pub target: Option<String>,
    pub patterns: BTreeMap<String, Pattern>,
    pub expect: Option<String>,
    pub expect_output: Option<Pattern>,
    pub verify: Option<Verify>,
    pub remote_shell: Option<usize>,
    pub shell: bool,
    /// The command as written.
    pub text: String,
    pub template: Template,
    /// The line of the opening fence.
    pub line: usize,
}

impl Step {
    pub fn in_profile(&self, p: Profile) -> bool {
        self.profile.is_none_or(|q| q == p)
    }
}

/// What a flowchart node is bound to.
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    Condition(Condition),
    Step(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub node: String,
    pub bound: Bound,
    pub line: usize,
}

#[derive(Clone, Debug)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    pub alerts: Vec<String>,
    /// The line of `alerts` in the front matter.
    pub alerts_line: usize,
    pub severity: String,
    pub owner: String,
    pub escalation: String,
    pub last_reviewed: String,
    /// The file's name as shown in messages.
    pub file: String,
    pub text: String,
    /// Headings, with their lines.
    pub headings: Vec<(String, usize)>,
    pub flowchart: Option<Flowchart>,
    pub bindings: Vec<Binding>,
    pub steps: Vec<Step>,
}

impl Runbook {
    /// The step `id` in profile `p`.
    pub fn step(&self, id: &str, p: Profile) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id && s.in_profile(p))
    }

    /// The steps of a profile, in file order.
    pub fn steps_in(&self, p: Profile) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(move |s| s.in_profile(p))
    }

    pub fn binding(&self, node: &str) -> Option<&Bound> {
        self.bindings.iter().find(|b| b.node == node).map(|b| &b.bound)
    }

    /// The text of a section (from its heading to the next heading of the same or a higher
    /// level), without the heading.
    pub fn section(&self, name: &str) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        let (_, at) = self.headings.iter().find(|(h, _)| h.eq_ignore_ascii_case(name))?;
        let level = heading_level(lines.get(at - 1)?)?;
        let mut out = Vec::new();
        let mut fence: Option<String> = None;
        for l in lines.iter().skip(*at) {
            if let Some(f) = &fence {
                if l.trim_start().starts_with(f.as_str()) {
                    fence = None;
                }
            } else if let Some(f) = fence_open(l) {
                fence = Some(f.0);
            } else if heading_level(l).is_some_and(|k| k <= level) {
                break;
            }
            out.push(*l);
        }
        Some(out.join("\n").trim().to_owned())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Front {
    id: Spanned<String>,
    title: String,
    alerts: Spanned<Vec<String>>,
    severity: String,
    owner: String,
    escalation: String,
    last_reviewed: Spanned<String>,
}

fn heading_level(line: &str) -> Option<usize> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let n = t.chars().take_while(|&c| c == '#').count();
    ((1..=6).contains(&n) && (t.len() == n || t[n..].starts_with(' '))).then_some(n)
}

/// An opening fence: its marker (``` or ~~~, 3 or more) and info string.
fn fence_open(line: &str) -> Option<(String, &str)> {
    let t = line.trim_start();
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then(|| (std::iter::repeat_n(c, n).collect(), t[n..].trim()))
}

/// Parses a runbook file. Every problem found is returned, each at its line; a runbook with
/// problems is returned too (as far as it could be read) so that a linter can check the rest.
pub fn parse(file: &str, text: &str) -> (Option<Runbook>, Vec<Problem>) {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|l| l.trim_end()) != Some("+++") {
        problems
            .push(Problem { line: 1, message: "a runbook starts with TOML front matter between `+++` lines".into() });
        return (None, problems);
    }
    let Some(end) = lines.iter().skip(1).position(|l| l.trim_end() == "+++").map(|i| i + 1) else {
        problems.push(Problem { line: 1, message: "the front matter has no closing `+++` line".into() });
        return (None, problems);
    };
    let front_text = lines[1..end].join("\n");
    // Byte offset → file line: the front matter starts on line 2.
    let line_of = |offset: usize| front_text[..offset.min(front_text.len())].matches('\n').count() + 2;
    let front: Front = match toml::from_str(&front_text) {
        Ok(f) => f,
        Err(e) => {
            let line = e.span().map_or(2, |s| line_of(s.start));
            problems.push(Problem { line, message: format!("front matter: {}", e.message().trim()) });
            return (None, problems);
        }
    };
    let id_line = line_of(front.id.span().start);
    let id = front.id.into_inner();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        problems.push(Problem {
            line: id_line,
            message: format!("runbook id {id:?}: use lowercase letters, digits and '-'"),
        });
    }
    let reviewed_line = line_of(front.last_reviewed.span().start);
    let last_reviewed = front.last_reviewed.into_inner();
    if chrono::NaiveDate::parse_from_str(&last_reviewed, "%Y-%m-%d").is_err() {
        problems.push(Problem {
            line: reviewed_line,
            message: format!("last-reviewed {last_reviewed:?}: write a date as YYYY-MM-DD"),
        });
    }
    let alerts_line = line_of(front.alerts.span().start);

    let mut headings = Vec::new();
    let mut flowchart = None;
    let mut mermaid_seen = false;
    let mut bindings = Vec::new();
    let mut steps = Vec::new();
    let mut i = end + 1;
    while i < lines.len() {
        let line_no = i + 1;
        let l = lines[i];
        if let Some((marker, info)) = fence_open(l) {
            let close = lines[i + 1..]
                .iter()
                .position(|x| {
                    let t = x.trim();
                    t.starts_with(&marker) && t.chars().all(|c| c == marker.as_bytes()[0] as char)
                })
                .map(|k| i + 1 + k);
            let Some(close) = close else {
                problems.push(Problem { line: line_no, message: "a code block that is never closed".into() });
                break;
            };
            let body = &lines[i + 1..close];
            if info == "mermaid" {
                if mermaid_seen {
                    problems.push(Problem {
                        line: line_no,
                        message: "a second mermaid block: a runbook has one flowchart".into(),
                    });
                } else {
                    mermaid_seen = true;
                    match flowchart::parse(&body.join("\n"), line_no + 1) {
                        Ok(f) => flowchart = Some(f),
                        Err(ps) => problems.extend(ps),
                    }
                    bindings = parse_bindings(body, line_no + 1, &mut problems);
                }
            } else if let Some(open) = info.find('{') {
                match parse_step(&info[open..], body, line_no) {
                    Ok(s) => steps.push(s),
                    Err(ps) => problems.extend(ps),
                }
            }
            i = close + 1;
            continue;
        }
        if heading_level(l).is_some() {
            let h = l.trim_start().trim_start_matches('#').trim().trim_end_matches('#').trim();
            headings.push((h.to_owned(), line_no));
        }
        i += 1;
    }
    let runbook = Runbook {
        id,
        title: front.title,
        alerts: front.alerts.into_inner(),
        alerts_line,
        severity: front.severity,
        owner: front.owner,
        escalation: front.escalation,
        last_reviewed,
        file: file.to_owned(),
        text: text.to_owned(),
        headings,
        flowchart,
        bindings,
        steps,
    };
    if !mermaid_seen {
        problems.push(Problem { line: end + 1, message: "no ```mermaid flowchart block".into() });
    }
    problems.extend(structure_problems(&runbook));
    problems.sort_by_key(|p| p.line);
    (Some(runbook), problems)
}

/// `%% bind NODE: step ID` or `%% bind NODE: CONDITION`.
fn parse_bindings(body: &[&str], first_line: usize, problems: &mut Vec<Problem>) -> Vec<Binding> {
    let mut out: Vec<Binding> = Vec::new();
    for (k, l) in body.iter().enumerate() {
        let line = first_line + k;
        let Some(rest) = l.trim().strip_prefix("%%").map(str::trim) else { continue };
        let Some(rest) = rest.strip_prefix("bind ") else { continue };
        let Some((node, what)) = rest.split_once(':') else {
            problems.push(Problem {
                line,
                message: "write `%% bind NODE: step STEP-ID` or `%% bind NODE: CONDITION`".into(),
            });
            continue;
        };
        let node = node.trim().to_owned();
        let what = what.trim();
        let bound = if let Some(step) = what.strip_prefix("step ") {
            Bound::Step(step.trim().to_owned())
        } else {
            match Condition::parse(what) {
                Ok(c) => Bound::Condition(c),
                Err(e) => {
                    problems.push(Problem { line, message: format!("condition does not parse: {e}") });
                    continue;
                }
            }
        };
        if out.iter().any(|b| b.node == node) {
            problems.push(Problem { line, message: format!("node {node} is bound twice") });
            continue;
        }
        out.push(Binding { node, bound, line });
    }
    out
}

/// `{key=value key="quoted value" …}` into pairs, with `\"` and `\\` in quoted values.
fn parse_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let inner = s
        .strip_prefix('{')
        .and_then(|x| x.trim_end().strip_suffix('}'))
        .ok_or("step attributes go in one `{…}` at the end of the info string")?;
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("attribute {key:?} has no value: write key=value"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("the value of {key} is not closed")),
                    },
                    Some(c) => value.push(c),
                    None => return Err(format!("the value of {key} is not closed with `\"`")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((key, value));
    }
}

fn parse_step(attrs: &str, body: &[&str], line: usize) -> Result<Step, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut err = |m: String| problems.push(Problem { line, message: m });
    let pairs = match parse_attributes(attrs) {
        Ok(p) => p,
        Err(e) => {
            err(e);
            return Err(problems);
        }
    };
    let mut id = None;
    let mut phase = None;
    let mut profile = None;
    let mut confirm = Confirm::Yes;
    let mut timeout = None;
    let mut target = None;
    let mut patterns = BTreeMap::new();
    let mut expect = None;
    let mut expect_output = None;
    let mut verify = None;
    let mut remote_shell = None;
    let mut shell = false;
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in pairs {
        if seen.contains(&k) {
            err(format!("attribute {k} is given twice"));
            continue;
        }
        seen.push(k.clone());
        match k.as_str() {
            "id" => id = Some(v),
            "phase" => match Phase::parse(&v) {
                Some(p) => phase = Some(p),
                None => err(format!("unknown phase {v:?}: use detect, diagnose, recover, verify or rollback")),
            },
            "profile" => match v.as_str() {
                "sim" => profile = Some(Profile::Sim),
                "prod" => profile = Some(Profile::Prod),
                _ => err(format!("unknown profile {v:?}: use sim or prod")),
            },
            "confirm" => match v.as_str() {
                "yes" => confirm = Confirm::Yes,
                "type" => confirm = Confirm::Type,
                _ => err(format!("unknown confirm {v:?}: use yes or type")),
            },
            "timeout" => match parse_duration(&v) {
                Ok(d) if !d.is_zero() => timeout = Some(d),
                Ok(_) => err("timeout must be longer than 0s".into()),
                Err(e) => err(e),
            },
            "target" => target = Some(v),
            "expect" => expect = Some(v),
            "expect-output" => match Pattern::new(&v) {
                Ok(p) => expect_output = Some(p),
                Err(e) => err(e),
            },
            "verify" => {
                if v.contains(['<', '>']) {
                    match SignalCheck::parse(&v) {
                        Ok(c) => verify = Some(Verify::Signal(c)),
                        Err(e) => err(format!("verify: condition does not parse: {e}")),
                    }
                } else {
                    verify = Some(Verify::Step(v));
                }
            }
            "remote-shell" => match v.parse::<usize>() {
                Ok(n) if n >= 1 => remote_shell = Some(n),
                _ => err(format!("remote-shell {v:?}: the argv index (1 or more) where the remote command starts")),
            },
            "shell" => match v.as_str() {
                "true" => shell = true,
                "false" => shell = false,
                _ => err(format!("shell {v:?}: use true or false")),
            },
            other => match other.strip_prefix("allow-") {
                Some(name) => match Pattern::new(&v) {
                    Ok(p) => {
                        patterns.insert(name.to_owned(), p);
                    }
                    Err(e) => err(e),
                },
                None => err(format!(
                    "unknown step attribute {other:?} (id, phase, profile, confirm, timeout, target, allow-NAME, \
                     expect, expect-output, verify, remote-shell, shell)"
                )),
            },
        }
    }
    let text = body.join("\n");
    let template = match Template::parse(&text) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(Problem { line: line + 1 + e.line, message: format!("command: {e}") });
            None
        }
    };
    let (Some(id), Some(phase), Some(template)) = (id, phase, template) else {
        if seen.iter().all(|k| k != "id") {
            problems.push(Problem { line, message: "a step needs an id".into() });
        }
        if seen.iter().all(|k| k != "phase") {
            problems.push(Problem { line, message: "a step needs a phase".into() });
        }
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Step {
        id,
        phase,
        profile,
        confirm,
        timeout,
        target,
        patterns,
        expect,
        expect_output,
        verify,
        remote_shell,
        shell,
        text,
        template,
        line,
    })
}

/// What can be checked within the file: sections, bindings against the diagram and the
/// steps, verifications, value patterns, profiles.
fn structure_problems(rb: &Runbook) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut p = |line: usize, message: String| out.push(Problem { line, message });
    let mut last = 0;
    for name in SECTIONS {
        match rb.headings.iter().find(|(h, _)| h.eq_ignore_ascii_case(name)) {
            Some((_, line)) => last = last.max(*line),
            None => p(last.max(1), format!("missing section \"{name}\"")),
        }
    }
    for b in &rb.bindings {
        let node = rb.flowchart.as_ref().and_then(|f| f.node(&b.node));
        let Some(node) = node else {
            if rb.flowchart.is_some() {
                p(b.line, format!("binding to node {}, which the flowchart does not have", b.node));
            }
            continue;
        };
        match &b.bound {
            Bound::Step(id) => {
                if !rb.steps.iter().any(|s| &s.id == id) {
                    p(b.line, format!("binding to step {id:?}, which this runbook does not have"));
                }
                if node.shape == flowchart::Shape::Decision {
                    p(b.line, format!("{} is a decision: bind it to a condition, not a step", b.node));
                }
            }
            Bound::Condition(_) => {
                if node.shape != flowchart::Shape::Decision {
                    p(b.line, format!("{} is not a decision: only decisions take a condition", b.node));
                }
            }
        }
    }
    for s in &rb.steps {
        // A step id with a profile must exist in both profiles, so a runbook works in either.
        for prof in [Profile::Sim, Profile::Prod] {
            let n = rb.steps.iter().filter(|t| t.id == s.id && t.in_profile(prof)).count();
            if n > 1 && s.in_profile(prof) {
                p(s.line, format!("step {} is defined more than once for profile {}", s.id, prof.as_str()));
            }
            if n == 0 {
                p(s.line, format!("step {} has no {} variant", s.id, prof.as_str()));
            }
        }
        if s.phase == Phase::Recover && s.verify.is_none() {
            p(s.line, format!("recover step {} has no verify", s.id));
        }
        if let Some(Verify::Step(v)) = &s.verify {
            match rb.steps.iter().find(|t| &t.id == v) {
                None => p(s.line, format!("verify names step {v:?}, which this runbook does not have")),
                Some(t) if t.phase != Phase::Verify => {
                    p(s.line, format!("verify names step {v:?}, whose phase is {}", t.phase.as_str()))
                }
                Some(_) => {}
            }
        }
        let names = s.template.value_names();
        for n in &names {
            if !BUILTIN_VALUES.contains(n) && !s.patterns.contains_key(*n) {
                p(s.line, format!("template value {{{n}}} has no allowed pattern: add allow-{n}=\"…\""));
            }
        }
        for n in s.patterns.keys() {
            if !names.contains(&n.as_str()) {
                p(s.line, format!("allow-{n} is for a value the command does not use"));
            }
        }
        if let Some(t) = &s.target
            && !names.contains(&t.as_str())
        {
            p(s.line, format!("target {t:?} is not a template value of the command"));
        }
        if s.confirm == Confirm::Type && s.target.is_none() {
            p(s.line, "confirm=type needs a target (the name the user types)".into());
        }
        if let Some(r) = s.remote_shell
            && r >= s.template.words.len()
        {
            p(s.line, format!("remote-shell {r}: the command has only {} words", s.template.words.len()));
        }
        if s.template.program() == Some("ssh") && s.remote_shell.is_none() && s.template.words.len() > 2 {
            p(s.line, "an ssh step needs remote-shell (where the remote command starts) so values are quoted".into());
        }
    }
    out
}

#[cfg(test)]
mod tests;
