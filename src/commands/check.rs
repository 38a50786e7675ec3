//! `nightwatch check`: validate the config, compiler-style.

use std::path::Path;

use crate::config::{Config, ConfigSource};

/// Exit 0 when valid, 1 on any error (each printed as `file:line:col: message`).
pub fn run(config: Option<&Path>) -> i32 {
    match Config::load(config) {
        Ok(c) => {
            let from = match &c.origin {
                ConfigSource::BuiltIn => "the built-in defaults".to_owned(),
                ConfigSource::File(p) => p.display().to_string(),
            };
            println!("{from}: OK ({} sources, {} signals)", c.sources.len(), c.signals.len());
            0
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error{}", errors.0.len(), if errors.0.len() == 1 { "" } else { "s" });
            1
        }
    }
}
