//! The runbooks nightwatch knows: the shipped ones (compiled in, so the one binary carries
//! them) and those in the config's `[runbooks] dir`, where a file with a shipped id replaces
//! the shipped runbook.

use std::path::Path;

use super::file::{self, Runbook};

/// The shipped runbooks: `runbooks/*.md` in the repository.
pub const SHIPPED: [(&str, &str); 13] = [
    ("runbooks/clock-skew.md", include_str!("../../runbooks/clock-skew.md")),
    ("runbooks/duplicate-operations.md", include_str!("../../runbooks/duplicate-operations.md")),
    ("runbooks/timeout-storm.md", include_str!("../../runbooks/timeout-storm.md")),
    ("runbooks/idempotency-cache-overflow.md", include_str!("../../runbooks/idempotency-cache-overflow.md")),
    ("runbooks/retry-storm.md", include_str!("../../runbooks/retry-storm.md")),
    ("runbooks/message-ordering.md", include_str!("../../runbooks/message-ordering.md")),
    ("runbooks/dependency-outage.md", include_str!("../../runbooks/dependency-outage.md")),
    ("runbooks/database-failover.md", include_str!("../../runbooks/database-failover.md")),
    ("runbooks/poison-pill.md", include_str!("../../runbooks/poison-pill.md")),
    ("runbooks/redis-failover.md", include_str!("../../runbooks/redis-failover.md")),
    ("runbooks/restart-with-drain.md", include_str!("../../runbooks/restart-with-drain.md")),
    ("runbooks/config-change.md", include_str!("../../runbooks/config-change.md")),
    ("runbooks/audit-log-backup.md", include_str!("../../runbooks/audit-log-backup.md")),
];

/// A problem in a runbook file, at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// The runbooks that loaded without problems, and every problem found.
#[derive(Clone, Debug, Default)]
pub struct Library {
    pub runbooks: Vec<Runbook>,
    /// Runbooks that had problems (as far as they could be read): `check` lints them too,
    /// nothing runs their steps.
    pub broken: Vec<Runbook>,
    pub problems: Vec<FileProblem>,
}

impl Library {
    /// The shipped runbooks and those in `dir` (if given).
    pub fn load(dir: Option<&Path>) -> Library {
        let mut files: Vec<(String, String)> =
            SHIPPED.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect();
        let mut lib = Library::default();
        if let Some(dir) = dir {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut paths: Vec<_> = entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "md"))
                        .collect();
                    paths.sort();
                    for p in paths {
                        match std::fs::read_to_string(&p) {
                            Ok(t) => files.push((p.display().to_string(), t)),
                            Err(e) => lib.problems.push(FileProblem {
                                file: p.display().to_string(),
                                line: 1,
                                message: format!("cannot read runbook: {e}"),
                            }),
                        }
                    }
                }
                Err(e) => lib.problems.push(FileProblem {
                    file: dir.display().to_string(),
                    line: 1,
                    message: format!("cannot read the runbooks directory: {e}"),
                }),
            }
        }
        lib.add_all(files);
        lib
    }

    /// Builds a library from (name, text) pairs; later files replace earlier ones by id.
    pub fn from_texts(files: Vec<(String, String)>) -> Library {
        let mut lib = Library::default();
        lib.add_all(files);
        lib
    }

    fn add_all(&mut self, files: Vec<(String, String)>) {
        let mut seen: Vec<(String, String)> = Vec::new();
        for (name, text) in files {
            let (rb, problems) = file::parse(&name, &text);
            let ok = problems.is_empty();
            self.problems.extend(problems.into_iter().map(|p| FileProblem {
                file: name.clone(),
                line: p.line,
                message: p.message,
            }));
            let Some(rb) = rb else { continue };
            let shipped = SHIPPED.iter().any(|(n, _)| *n == name);
            if let Some((_, first)) = seen.iter().find(|(id, _)| *id == rb.id) {
                let from_shipped = SHIPPED.iter().any(|(n, _)| n == first);
                if !from_shipped || shipped {
                    self.problems.push(FileProblem {
                        file: name.clone(),
                        line: 2,
                        message: format!("runbook id {:?} is also used by {first}", rb.id),
                    });
                    continue;
                }
                // A user's runbook replaces the shipped one with its id.
                self.runbooks.retain(|r| r.id != rb.id);
                self.broken.retain(|r| r.id != rb.id);
            }
            seen.push((rb.id.clone(), name.clone()));
            if ok {
                self.runbooks.push(rb);
            } else {
                self.broken.push(rb);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.id == id)
    }

    /// A runbook by id even if it has problems (for showing it, not for running it).
    pub fn any(&self, id: &str) -> Option<&Runbook> {
        self.get(id).or_else(|| self.broken.iter().find(|r| r.id == id))
    }

    /// The runbook that answers a signal: the signal's own `runbook`, else the first runbook
    /// that lists the signal in its `alerts`.
    pub fn for_signal(&self, signal: &str, runbook: Option<&str>) -> Option<&Runbook> {
        match runbook {
            Some(id) => self.get(id),
            None => self.runbooks.iter().find(|r| r.alerts.iter().any(|a| a == signal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_runbooks_load_without_problems() {
        let lib = Library::load(None);
        assert!(lib.problems.is_empty(), "{}", lib.problems.iter().map(|p| format!("{p}\n")).collect::<String>());
        assert_eq!(lib.runbooks.len(), SHIPPED.len());
    }

    #[test]
    fn a_users_runbook_replaces_the_shipped_one_and_duplicates_are_named() {
        let text = SHIPPED[0].1.replace("Impossible timestamps / clock skew\"", "Our clock runbook\"");
        let lib = Library::from_texts(vec![
            (SHIPPED[0].0.to_owned(), SHIPPED[0].1.to_owned()),
            ("mine/clock.md".to_owned(), text.clone()),
        ]);
        assert_eq!(lib.get("clock-skew").map(|r| r.title.as_str()), Some("Our clock runbook"));
        assert_eq!(lib.runbooks.len(), 1);
        let lib = Library::from_texts(vec![("a.md".to_owned(), text.clone()), ("b.md".to_owned(), text)]);
        assert_eq!(lib.problems.len(), 1);
        assert!(lib.problems[0].to_string().starts_with("b.md:2: runbook id \"clock-skew\" is also used by a.md"));
    }
}
