//! The simulated fleet: a model of an asynchronous system (clocks, a request path, an
//! idempotency cache, a message bus) that speaks the metric names of real exporters, takes the
//! chaos menu's faults and the runbooks' remedies, and serves `/metrics` over HTTP.

pub mod client;
pub mod embedded;
pub mod faults;
pub mod model;
pub mod render;
mod rng;
pub mod server;

pub use faults::{FaultSpec, Injection, Latency, Nodes, Remedy};
pub use model::{FaultInfo, Fleet};

use crate::config::{Config, Evaluation};
use crate::intake::exposition::Format;
use crate::intake::scrape::{NameFilter, Spec, decode_series, parse_body};
use crate::series::{Labels, Store};
use crate::signals::{Outcome, evaluate_local};

/// nightwatch's own pipeline watching a fleet in simulated time: each `scrape` renders the
/// fleet, parses the body and ingests it as a scrape at the given simulated instant, then
/// evaluates every signal at it. Nothing waits on a wall clock.
pub struct Watch {
    pub config: Config,
    store: Store,
    target: Labels,
    spec: Spec,
    filter: NameFilter,
}

impl Watch {
    /// `config` decides the signals; its sources are ignored: the fleet is the only target.
    pub fn new(config: Config) -> Watch {
        let local: Vec<_> =
            config.signals.iter().chain(&config.report_queries).filter(|s| s.evaluation == Evaluation::Local).collect();
        let filter = NameFilter::for_signals(local);
        let store = Store::with_retention(config.retention_policy(), config.cockpit.max_series);
        let spec = Spec {
            timeout: std::time::Duration::from_secs(10),
            limits: crate::config::Limits::default(),
            value_rules: Default::default(),
            force_format: None,
            auth: Default::default(),
            pool: None,
        };
        Watch { config, store, target: Labels::from_pairs([("job", "sim"), ("instance", "sim:9464")]), spec, filter }
    }

    /// Scrapes `fleet` as it is, stamped `at_ms`, and returns every signal's outcome then (in
    /// the config's order).
    pub fn scrape(&mut self, fleet: &Fleet, at_ms: i64) -> Vec<Outcome> {
        let body = render::render(fleet, Format::Text).into_bytes();
        // The renderer's text always parses; a body that did not would be a missed scrape.
        let _ = self.ingest(body, at_ms);
        self.evaluate(&self.config.signals, at_ms)
    }

    /// Ingests a body in the text format as a scrape stamped `at_ms` (a recorded scrape, in
    /// tests); the parse error if it does not parse.
    pub fn ingest(&mut self, body: Vec<u8>, at_ms: i64) -> Result<(), String> {
        let s = parse_body(body, Format::Text, &self.spec, &self.filter).map_err(|e| e.to_string())?;
        self.store.ingest(1, &self.target, s.batch.samples(), decode_series, at_ms);
        self.store.gc(at_ms);
        Ok(())
    }

    /// These signals' (or report queries') outcomes at `at_ms`, over what was ingested.
    pub fn evaluate(&self, signals: &[crate::config::Signal], at_ms: i64) -> Vec<Outcome> {
        let lookback = i64::try_from(self.config.cockpit.lookback.as_millis()).unwrap_or(i64::MAX);
        signals.iter().map(|s| evaluate_local(s, &self.store, lookback, at_ms)).collect()
    }
}

/// A fleet and a [`Watch`] on it, stepped together: every `interval` the fleet advances and
/// is scraped at that simulated instant. Tests use it.
pub struct Harness {
    pub fleet: Fleet,
    pub watch: Watch,
    /// Simulated milliseconds between two scrapes.
    pub interval_ms: i64,
    /// The simulated time of the last scrape.
    pub at_ms: i64,
}

impl Harness {
    pub fn new(fleet: Fleet, config: Config, interval_ms: i64) -> Harness {
        Harness { fleet, watch: Watch::new(config), interval_ms, at_ms: 0 }
    }

    /// Advances one scrape interval, scrapes, and returns every signal's outcome then.
    pub fn step(&mut self) -> Vec<Outcome> {
        self.at_ms += self.interval_ms;
        self.fleet.advance_to(self.at_ms);
        // Simulated time starts at the epoch; samples are stamped with it.
        self.watch.scrape(&self.fleet, self.at_ms)
    }

    /// Steps until `ms` of simulated time have passed; returns the last outcomes.
    pub fn run_for(&mut self, ms: i64) -> Vec<Outcome> {
        let until = self.at_ms + ms;
        let mut last = Vec::new();
        while self.at_ms < until {
            last = self.step();
        }
        last
    }
}
