//! The runbook pane's state: which runbook, which node is selected, the confirmation being
//! answered, the output of the step that runs and the verification that follows it. Changed
//! only from `update` (state.rs); the step itself runs in an effect task.

use std::collections::{BTreeMap, VecDeque};

use crate::exec::Prepared;
use crate::runbooks::condition::Condition;
use crate::runbooks::flowchart::{Flowchart, Shape};
use crate::runbooks::outline::{OutlineLine, outline};

/// Output lines the pane keeps (the executor bounds what it streams anyway).
pub const OUTPUT_LINES: usize = 400;

/// The runbook opened from an alert.
#[derive(Clone, Debug)]
pub struct Pane {
    /// The runbook's id; None when no runbook answers the alert's signal.
    pub runbook: Option<String>,
    /// Template values from the alert's labels (`node`, `service`, …).
    pub values: BTreeMap<String, String>,
    /// The selected line of the outline.
    pub sel: usize,
    pub confirm: Option<ConfirmBox>,
}

/// The confirmation prompt for a prepared step: default No; a dangerous step wants the
/// target's name typed.
#[derive(Clone, Debug)]
pub struct ConfirmBox {
    pub prepared: Prepared,
    pub typed: String,
}

/// The step running now (one at a time in the cockpit).
#[derive(Clone, Debug)]
pub struct Running {
    pub prepared: Prepared,
    pub started_ms: i64,
    /// Cancel was asked for.
    pub cancelling: bool,
}

/// A signal verification after a recover step.
#[derive(Clone, Debug)]
pub struct Verifying {
    /// The recover step being verified.
    pub prepared: Prepared,
    pub condition: Condition,
    pub signal: usize,
    pub threshold: f64,
    pub started_ms: i64,
    pub deadline_ms: i64,
    /// The condition's latest answer, as it reads (`no: 2.1s on node-17`).
    pub answer: String,
    /// Passed or failed, once decided.
    pub result: Option<bool>,
}

/// The step log shown in the pane: what ran, its output, results.
#[derive(Clone, Debug, Default)]
pub struct StepLog {
    pub lines: VecDeque<String>,
    /// Output after the last newline.
    partial: String,
}

impl StepLog {
    pub fn note(&mut self, line: impl Into<String>) {
        self.flush_partial();
        self.push(line.into());
    }

    /// Output as it streams (already escaped by the executor).
    pub fn output(&mut self, text: &str) {
        let mut rest = text;
        while let Some(i) = rest.find('\n') {
            let line = format!("{}{}", std::mem::take(&mut self.partial), &rest[..i]);
            self.push(line);
            rest = &rest[i + 1..];
        }
        self.partial.push_str(rest);
        if self.partial.len() > 4096 {
            self.flush_partial();
        }
    }

    pub fn flush_partial(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push(line);
        }
    }

    fn push(&mut self, line: String) {
        if self.lines.len() == OUTPUT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last `n` lines, with the partial line.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let mut v: Vec<String> = self.lines.iter().cloned().collect();
        if !self.partial.is_empty() {
            v.push(self.partial.clone());
        }
        let start = v.len().saturating_sub(n);
        v.split_off(start)
    }
}

/// The node ids on the live path: from the roots, through each decision's answered edge; a
/// decision without an answer ends the path (nobody knows which way yet). `answer(node)` is
/// Some(true) for yes, Some(false) for no.
pub fn live_path(f: &Flowchart, answer: &dyn Fn(&str) -> Option<bool>) -> Vec<String> {
    let mut path: Vec<String> = Vec::new();
    let mut todo: Vec<&str> = f.roots().iter().map(|n| n.id.as_str()).collect();
    while let Some(id) = todo.pop() {
        if path.iter().any(|p| p == id) {
            continue;
        }
        let Some(node) = f.node(id) else { continue };
        path.push(id.to_owned());
        if node.shape == Shape::Decision {
            let Some(yes) = answer(id) else { continue };
            let want = if yes { ["yes", "y", "true"] } else { ["no", "n", "false"] };
            for e in f.out_edges(id) {
                if e.label.as_deref().is_some_and(|l| want.contains(&l.trim().to_lowercase().as_str())) {
                    todo.push(&e.to);
                }
            }
        } else {
            for e in f.out_edges(id) {
                todo.push(&e.to);
            }
        }
    }
    path
}

/// The outline of a runbook's flowchart (the pane's lines), empty without one.
pub fn lines(f: Option<&Flowchart>) -> Vec<OutlineLine> {
    f.map(outline).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbooks::flowchart::parse;

    #[test]
    fn the_live_path_follows_answers_and_stops_at_open_questions() {
        let f = parse(
            "graph TD\n A[Start] --> B{Skew?}\n B -->|Yes| C[Sync]\n B -->|No| D{Drift?}\n D -->|Yes| E[NTP]\n C --> F[Verify]\n",
            1,
        )
        .expect("parses");
        let yes = live_path(&f, &|id| (id == "B").then_some(true));
        assert_eq!(yes, ["A", "B", "C", "F"]);
        let no = live_path(&f, &|id| (id == "B").then_some(false));
        assert_eq!(no, ["A", "B", "D"]);
        let unknown = live_path(&f, &|_| None);
        assert_eq!(unknown, ["A", "B"]);
    }

    #[test]
    fn the_step_log_splits_lines_and_keeps_a_bound() {
        let mut log = StepLog::default();
        log.output("a\nb");
        log.output("c\nd\n");
        assert_eq!(log.tail(10), ["a", "bc", "d"]);
        for i in 0..1000 {
            log.note(format!("{i}"));
        }
        assert_eq!(log.lines.len(), OUTPUT_LINES);
        assert_eq!(log.tail(1), ["999"]);
    }
}
