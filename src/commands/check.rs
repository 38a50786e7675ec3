//! `nightwatch check`: validate the config, the runbooks and the drills, compiler-style.

use std::path::Path;

use crate::config::{Config, ConfigSource};
use crate::runbooks::{Library, lint};

/// Exit 0 when valid, 1 on any error (each printed as `file:line[:col]: message`).
pub fn run(config: Option<&Path>, drill_files: &[std::path::PathBuf]) -> i32 {
    let c = match Config::load(config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error{}", errors.0.len(), if errors.0.len() == 1 { "" } else { "s" });
            return 1;
        }
    };
    let lib = Library::load(c.runbooks.dir.as_deref());
    let mut problems: Vec<String> = lint::lint(&c, &lib).iter().map(ToString::to_string).collect();
    let (drills, drill_problems) = crate::drill::shipped();
    problems.extend(drill_problems.iter().map(ToString::to_string));
    for d in &drills {
        problems.extend(crate::drill::file::lint(d, &c).iter().map(ToString::to_string));
    }
    for path in drill_files {
        match std::fs::read_to_string(path) {
            Err(e) => problems.push(format!("{}: cannot read: {e}", path.display())),
            Ok(text) => match crate::drill::file::parse(&path.display().to_string(), &text) {
                Ok(d) => problems.extend(crate::drill::file::lint(&d, &c).iter().map(ToString::to_string)),
                Err(p) => problems.extend(p.iter().map(ToString::to_string)),
            },
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("{} error{}", problems.len(), if problems.len() == 1 { "" } else { "s" });
        return 1;
    }
    let from = match &c.origin {
        ConfigSource::BuiltIn => "the built-in defaults".to_owned(),
        ConfigSource::File(p) => p.display().to_string(),
    };
    println!(
        "{from}: OK ({} sources, {} signals, {} runbooks, {} drills, profile {})",
        c.sources.len(),
        c.signals.len(),
        lib.runbooks.len(),
        drills.len() + drill_files.len(),
        c.runbooks.profile.as_str()
    );
    0
}
