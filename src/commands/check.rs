//! `nightwatch check`: validate the config and the runbooks, compiler-style.

use std::path::Path;

use crate::config::{Config, ConfigSource};
use crate::runbooks::{Library, lint};

/// Exit 0 when valid, 1 on any error (each printed as `file:line[:col]: message`).
pub fn run(config: Option<&Path>) -> i32 {
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
    let problems = lint::lint(&c, &lib);
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
        "{from}: OK ({} sources, {} signals, {} runbooks, profile {})",
        c.sources.len(),
        c.signals.len(),
        lib.runbooks.len(),
        c.runbooks.profile.as_str()
    );
    0
}
