//! The series data model and the bounded in-memory store that scraping fills and signal
//! evaluation reads.

pub mod ingest;
mod labels;
pub mod notation;
pub mod store;

pub use ingest::{IngestReport, ScrapedSample, merge_target_labels};
pub use labels::{Labels, METRIC_NAME};
pub use store::{Retention, SeriesId, SeriesLimit, Store};

use promql_parser::label::Matcher;

/// One sample: milliseconds since the epoch and a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// Prometheus's staleness marker: a NaN with a particular bit pattern, written when a series
/// disappears from its target or the target's scrape fails. Selectors stop at it.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One series as storage hands it to evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeriesData<'s> {
    pub labels: &'s Labels,
    /// In time order, staleness markers included.
    pub samples: &'s [Sample],
    /// When nightwatch began observing this series' target. A range that starts earlier is
    /// clamped to it during warm-up, so that rates are right from the second scrape on instead of
    /// reading low for a whole window (see docs/architecture.md). `None` in tests, which load
    /// complete histories.
    pub observed_from: Option<i64>,
}

/// What evaluation reads: series selected by label matchers.
pub trait Storage {
    /// Every series all `matchers` accept, in label order.
    fn select(&self, matchers: &[Matcher]) -> Vec<SeriesData<'_>>;

    /// Calls `f` with every series all `matchers` accept, in label order, without collecting
    /// them first.
    fn for_each<'s>(&'s self, matchers: &[Matcher], f: &mut dyn FnMut(SeriesData<'s>)) {
        for s in self.select(matchers) {
            f(s);
        }
    }
}

/// Whether a label set satisfies every matcher (a missing label reads as `""`).
pub fn matches(labels: &Labels, matchers: &[Matcher]) -> bool {
    matchers.iter().all(|m| m.is_match(labels.value(&m.name)))
}
