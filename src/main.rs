//! nightwatch: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser;
use nightwatch::cli::{Cli, Command};
use nightwatch::commands;

/// Usage errors exit 64 (EX_USAGE), never 1–3, which `eval` uses for WARN, PAGE and UNKNOWN.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let _log = nightwatch::logging::init();
    let opts = nightwatch::app::Options {
        read_only: cli.read_only,
        dry_run: cli.dry_run,
        mono: cli.mono,
        ascii: cli.ascii,
        no_bell: cli.no_bell,
    };
    let code = match &cli.command {
        None => nightwatch::app::run(cli.config.as_deref(), &opts, None),
        Some(Command::Scrape(a)) => commands::scrape::run(a),
        Some(Command::Eval(a)) => commands::eval::run(cli.config.as_deref(), a),
        Some(Command::Check(a)) => commands::check::run(cli.config.as_deref(), &a.drills),
        Some(Command::Sim(a)) => commands::sim::run(a),
        Some(Command::Chaos(a)) => commands::chaos::run(a),
        Some(Command::Runbook(a)) => commands::runbook::run(cli.config.as_deref(), cli.read_only, cli.dry_run, a),
        Some(Command::Audit(a)) => commands::audit::run(cli.config.as_deref(), a),
        Some(Command::Drill(a)) => commands::drill::run(cli.config.as_deref(), a, &opts),
        Some(Command::Report(a)) => commands::report::run(cli.config.as_deref(), a),
        Some(Command::Incident(a)) => commands::report::incident(cli.config.as_deref(), a),
        Some(Command::Postmortem(a)) => commands::report::postmortem(cli.config.as_deref(), a),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
