//! What the targets view shows for each target: up or down, when, how long, how much, and why
//! it failed.

use std::time::Duration;

use serde::Serialize;

use super::exposition::ParseError;
use super::scrape::{Report, ScrapeError};
use crate::series::Labels;

/// The outcome of one scrape of one target, as the scheduler or a one-shot poll reports it.
#[derive(Debug)]
pub struct ScrapeDone {
    pub target: u64,
    /// Wall-clock milliseconds when the request was sent: the samples' timestamp.
    pub started_ms: i64,
    pub duration: Duration,
    /// How late the scrape started against its schedule.
    pub lag: Duration,
    pub result: Result<super::scrape::Scraped, ScrapeError>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TargetHealth {
    pub target: u64,
    pub source: String,
    pub url: String,
    #[serde(serialize_with = "labels_as_string")]
    pub labels: Labels,
    /// `None` until the first scrape finished.
    pub up: Option<bool>,
    pub last_scrape_ms: Option<i64>,
    #[serde(serialize_with = "duration_ms")]
    pub duration: Duration,
    #[serde(serialize_with = "duration_ms")]
    pub lag: Duration,
    pub samples: usize,
    pub bytes: usize,
    pub skipped_lines: usize,
    pub first_skipped: Option<String>,
    pub openmetrics_warnings: usize,
    pub error: Option<String>,
    pub error_kind: Option<&'static str>,
    pub consecutive_failures: u32,
    /// Samples of the last scrape dropped because the store's series limit was reached.
    pub over_series_limit: usize,
}

fn labels_as_string<S: serde::Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&l.to_string())
}

fn duration_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

/// Feeds one scrape of a target (labelled `labels`) into the store and the target's health: its
/// samples, or, when it failed, staleness for every series of the target.
pub fn apply_scrape(
    done: &ScrapeDone,
    labels: &Labels,
    store: &mut crate::series::Store,
    mut health: Option<&mut TargetHealth>,
) {
    if let Some(h) = health.as_deref_mut() {
        h.record(done);
    }
    match &done.result {
        Ok(s) => {
            let report =
                store.ingest(done.target, labels, s.batch.samples(), super::scrape::decode_series, done.started_ms);
            if let Some(h) = health {
                h.record_ingest(&report);
            }
        }
        Err(_) => store.target_down(done.target, done.started_ms),
    }
}

impl TargetHealth {
    pub fn new(target: u64, source: &str, url: &str, labels: Labels) -> Self {
        TargetHealth { target, source: source.to_owned(), url: url.to_owned(), labels, ..TargetHealth::default() }
    }

    /// Records what ingesting the last scrape did.
    pub fn record_ingest(&mut self, report: &crate::series::IngestReport) {
        self.over_series_limit = report.over_limit;
    }

    /// Records one scrape.
    pub fn record(&mut self, done: &ScrapeDone) {
        self.last_scrape_ms = Some(done.started_ms);
        self.duration = done.duration;
        self.lag = done.lag;
        match &done.result {
            Ok(s) => {
                let r: &Report = &s.report;
                self.up = Some(true);
                self.samples = r.samples;
                self.bytes = r.bytes;
                self.skipped_lines = r.skipped_lines;
                self.first_skipped = r.first_skipped.as_ref().map(ParseError::to_string);
                self.openmetrics_warnings = r.warnings.count;
                self.error = None;
                self.error_kind = None;
                self.consecutive_failures = 0;
            }
            Err(e) => {
                self.up = Some(false);
                self.error = Some(e.to_string());
                self.error_kind = Some(e.kind());
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            }
        }
    }
}
