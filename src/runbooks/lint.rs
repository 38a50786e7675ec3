//! `nightwatch check` for runbooks: the file problems of every runbook, and what only the
//! config can tell — a paging signal without a runbook, a runbook or binding naming a signal
//! the config does not have, a condition whose threshold does not fit the signal's unit.

use super::condition::Condition;
use super::file::{Bound, Runbook, Verify};
use super::library::{FileProblem, Library};
use crate::config::Config;

/// Every problem, in file order: the config's places first (a signal without a runbook), then
/// each runbook file's.
pub fn lint(config: &Config, lib: &Library) -> Vec<FileProblem> {
    let mut out = Vec::new();
    for s in &config.signals {
        let paging = s.page.is_some();
        match &s.runbook {
            Some(id) if lib.any(id).is_none() => out.push(place_problem(
                &s.runbook_place,
                format!("signal {} names runbook {id:?}, which does not exist", s.id),
            )),
            None if paging => out.push(place_problem(
                &s.runbook_place,
                format!("signal {} pages but has no runbook: add runbook = \"…\"", s.id),
            )),
            _ => {}
        }
    }
    out.extend(lib.problems.iter().cloned());
    for rb in lib.runbooks.iter().chain(&lib.broken) {
        out.extend(runbook_problems(config, rb));
    }
    out
}

fn place_problem(place: &str, message: String) -> FileProblem {
    // `file:line:col`, as the config validator writes it.
    let mut parts = place.rsplitn(3, ':');
    let _col = parts.next();
    let line = parts.next().and_then(|l| l.parse().ok()).unwrap_or(1);
    let file = parts.next().unwrap_or(place).to_owned();
    FileProblem { file, line, message }
}

fn runbook_problems(config: &Config, rb: &Runbook) -> Vec<FileProblem> {
    let mut out = Vec::new();
    let mut p = |line: usize, message: String| out.push(FileProblem { file: rb.file.clone(), line, message });
    for a in &rb.alerts {
        if !config.signals.iter().any(|s| &s.id == a) {
            p(rb.alerts_line, format!("alerts names signal {a:?}, which the config does not have"));
        }
    }
    let check = |c: &Condition| c.resolve(config).err();
    for b in &rb.bindings {
        if let Bound::Condition(c) = &b.bound
            && let Some(e) = check(c)
        {
            p(b.line, format!("binding of {}: {e}", b.node));
        }
    }
    for s in &rb.steps {
        if let Some(Verify::Signal(v)) = &s.verify
            && let Some(e) = check(&v.condition)
        {
            p(s.line, format!("verify of step {}: {e}", s.id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbooks::library::SHIPPED;
    use std::path::Path;

    fn config(extra: &str) -> Config {
        Config::from_texts(Some((Path::new("u.toml"), extra))).expect("config loads")
    }

    #[test]
    fn the_shipped_runbooks_and_default_config_are_clean() {
        let c = Config::from_texts(None).expect("defaults");
        let problems = lint(&c, &Library::load(None));
        assert!(problems.is_empty(), "{}", problems.iter().map(|p| format!("{p}\n")).collect::<String>());
    }

    #[test]
    fn a_paging_signal_without_a_runbook_is_named_at_its_config_line() {
        let c = config(
            "[[source]]\nname = \"x\"\nkind = \"scrape\"\ntargets = [\"localhost:1\"]\n\n\
             [[signal]]\nid = \"lonely\"\nexpr = \"up\"\nunit = \"count\"\npage = 1\n\n\
             [[signal]]\nid = \"lost\"\nexpr = \"up\"\nunit = \"count\"\nwarn = 1\nrunbook = \"nope\"\n",
        );
        let problems: Vec<String> = lint(&c, &Library::load(None)).iter().map(ToString::to_string).collect();
        assert!(
            problems.contains(&"u.toml:10: signal lonely pages but has no runbook: add runbook = \"…\"".to_owned()),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("u.toml:17: signal lost names runbook \"nope\"")),
            "{problems:?}"
        );
    }

    #[test]
    fn unknown_signals_and_thresholds_in_runbooks_are_named() {
        let c = Config::from_texts(None).expect("defaults");
        let text = SHIPPED[0]
            .1
            .replace("%% bind High: clock-skew > 500ms", "%% bind High: clock-skw > 500ms")
            .replace(
                "verify=\"clock-skew < 100ms within 2m\"}\nnightwatch",
                "verify=\"clock-skew < 100furlongs within 2m\"}\nnightwatch",
            )
            .replace("alerts = [\"clock-skew\", ", "alerts = [\"clock-skewed\", ");
        let lib = Library::from_texts(vec![("c.md".to_owned(), text)]);
        let problems: Vec<String> = lint(&c, &lib).iter().map(ToString::to_string).collect();
        assert!(problems.iter().any(|p| p.starts_with("c.md:4: alerts names signal \"clock-skewed\"")), "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("c.md:") && p.contains("binding of High: unknown signal \"clock-skw\"")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("verify of step ntp-sync") && p.contains("furlongs")),
            "{problems:?}"
        );
    }
}
