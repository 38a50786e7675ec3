//! Command-line definitions. Only commands that work are here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "nightwatch",
    version,
    about = "A terminal incident cockpit for the async health of distributed systems",
    long_about = "nightwatch polls Prometheus metrics (scraping /metrics endpoints directly, or \
                  querying a Prometheus-compatible server), evaluates the async-health signals \
                  against warn and page thresholds and raises alerts.",
    after_help = "Exit codes of eval: 0 OK, 1 WARN, 2 PAGE, 3 UNKNOWN. Usage errors exit 64."
)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/nightwatch/config.toml if it exists, else the built-in defaults)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch one target once and print its series, or the reason it failed
    Scrape(ScrapeArgs),
    /// Poll once (twice where a rate needs it) and print every signal's value, level and alerts
    Eval(EvalArgs),
    /// Validate the config; errors as file:line:col: message
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct ScrapeArgs {
    /// The target: a URL, or host:port for http://host:port/metrics
    pub url: String,
    /// One JSON object per series
    #[arg(long, conflicts_with = "summary")]
    pub json: bool,
    /// Families, series, bytes and parse time only
    #[arg(long)]
    pub summary: bool,
    /// Ask for OpenMetrics and parse the body as OpenMetrics whatever its Content-Type
    #[arg(long)]
    pub openmetrics: bool,
    /// Let OpenMetrics value-rule violations through as warnings (as a source with
    /// openmetrics-value-rules = "warn" does)
    #[arg(long)]
    pub relaxed: bool,
    /// How long to wait for the target
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub timeout: String,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Print JSON (the shape is documented in docs/eval-json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {}
