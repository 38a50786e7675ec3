//! A bounded in-memory store: per series a time-ordered run of samples, kept only as long as the
//! widest range any signal reads; a global cap on the number of series.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use promql_parser::label::{MatchOp, Matcher};

use super::{Labels, METRIC_NAME, Sample, SeriesData, Storage, is_stale, matches, stale_nan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(u32);

/// The store holds as many series as it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesLimit(pub usize);

impl fmt::Display for SeriesLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "series limit of {} reached (raise [cockpit] max-series)", self.0)
    }
}

impl std::error::Error for SeriesLimit {}

struct Series {
    labels: Labels,
    samples: Vec<Sample>,
    observed_from: Option<i64>,
}

pub struct Store {
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    index: HashMap<Labels, SeriesId>,
    by_name: HashMap<Arc<str>, Vec<SeriesId>>,
    retention_ms: i64,
    max_series: usize,
    pub(super) targets: HashMap<u64, super::ingest::TargetSeries>,
}

impl Store {
    /// A store keeping `retention_ms` of samples behind the newest one and at most `max_series`.
    pub fn new(retention_ms: i64, max_series: usize) -> Self {
        Store {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            by_name: HashMap::new(),
            retention_ms: retention_ms.max(1),
            max_series,
            targets: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// The number of samples held, staleness markers included.
    pub fn sample_count(&self) -> usize {
        self.slots.iter().flatten().map(|s| s.samples.len()).sum()
    }

    pub fn lookup(&self, labels: &Labels) -> Option<SeriesId> {
        self.index.get(labels).copied()
    }

    pub fn labels(&self, id: SeriesId) -> Option<&Labels> {
        self.series(id).map(|s| &s.labels)
    }

    fn series(&self, id: SeriesId) -> Option<&Series> {
        self.slots.get(id.0 as usize).and_then(Option::as_ref)
    }

    fn series_mut(&mut self, id: SeriesId) -> Option<&mut Series> {
        self.slots.get_mut(id.0 as usize).and_then(Option::as_mut)
    }

    /// The id of a series, created if new. `observed_from` is when its target was first observed.
    pub fn get_or_create(&mut self, labels: &Labels, observed_from: Option<i64>) -> Result<SeriesId, SeriesLimit> {
        if let Some(&id) = self.index.get(labels) {
            return Ok(id);
        }
        if self.index.len() >= self.max_series {
            return Err(SeriesLimit(self.max_series));
        }
        let series = Series { labels: labels.clone(), samples: Vec::new(), observed_from };
        let id = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(series);
                SeriesId(slot)
            }
            None => {
                // The cap is far below u32::MAX in any configuration we accept.
                let slot = u32::try_from(self.slots.len()).map_err(|_| SeriesLimit(self.max_series))?;
                self.slots.push(Some(series));
                SeriesId(slot)
            }
        };
        self.index.insert(labels.clone(), id);
        let name: Arc<str> = Arc::from(labels.metric_name().unwrap_or(""));
        self.by_name.entry(name).or_default().push(id);
        Ok(id)
    }

    /// Appends a sample. Samples not newer than the series' last one are dropped (returns false),
    /// as Prometheus drops out-of-order samples.
    pub fn append(&mut self, id: SeriesId, sample: Sample) -> bool {
        let retention = self.retention_ms;
        let Some(s) = self.series_mut(id) else {
            return false;
        };
        if s.samples.last().is_some_and(|last| last.t >= sample.t) {
            return false;
        }
        s.samples.push(sample);
        // Trim in batches so that appending stays amortised O(1).
        let cutoff = sample.t - retention;
        if s.samples[0].t < cutoff {
            let dead = s.samples.partition_point(|x| x.t < cutoff);
            if dead >= 32 || dead * 2 >= s.samples.len() {
                s.samples.drain(..dead);
            }
        }
        true
    }

    /// Writes a staleness marker at `t` unless the series is already stale.
    pub fn mark_stale(&mut self, id: SeriesId, t: i64) {
        let already = self.series(id).and_then(|s| s.samples.last()).is_none_or(|last| is_stale(last.v));
        if !already {
            self.append(id, Sample { t, v: stale_nan() });
        }
    }

    /// Drops samples older than the retention behind `now` and every series left without a
    /// sample (or with only a staleness marker).
    pub fn gc(&mut self, now: i64) {
        let cutoff = now - self.retention_ms;
        let mut dead = Vec::new();
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            let Some(s) = entry else { continue };
            let keep_from = s.samples.partition_point(|x| x.t < cutoff);
            s.samples.drain(..keep_from);
            if s.samples.iter().all(|x| is_stale(x.v)) {
                dead.push(slot);
            }
        }
        for slot in dead {
            if let Some(s) = self.slots[slot].take() {
                self.index.remove(&s.labels);
                let name = s.labels.metric_name().unwrap_or("");
                if let Some(ids) = self.by_name.get_mut(name) {
                    ids.retain(|id| id.0 as usize != slot);
                    if ids.is_empty() {
                        self.by_name.remove(name);
                    }
                }
                self.free.push(slot as u32);
            }
        }
    }
}

fn data(s: &Series) -> SeriesData<'_> {
    SeriesData { labels: &s.labels, samples: &s.samples, observed_from: s.observed_from }
}

impl Storage for Store {
    fn select(&self, matchers: &[Matcher]) -> Vec<SeriesData<'_>> {
        let by_name = matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
        let mut out: Vec<SeriesData<'_>> = match by_name {
            Some(m) => self
                .by_name
                .get(m.value.as_str())
                .into_iter()
                .flatten()
                .filter_map(|&id| self.series(id))
                .filter(|s| matches(&s.labels, matchers))
                .map(data)
                .collect(),
            None => self.slots.iter().flatten().filter(|s| matches(&s.labels, matchers)).map(data).collect(),
        };
        out.sort_by(|a, b| a.labels.cmp(b.labels));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, inst: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("instance", inst)])
    }

    fn eq(name: &str, value: &str) -> Matcher {
        Matcher::new(MatchOp::Equal, name, value)
    }

    #[test]
    fn keeps_only_the_retention_window() {
        let mut s = Store::new(10_000, 10);
        let id = s.get_or_create(&l("x", "a"), None).expect("room");
        for t in 0..1000 {
            assert!(s.append(id, Sample { t: t * 1000, v: t as f64 }));
        }
        let held = s.sample_count();
        assert!(held <= 11 + 32, "held {held} samples for a 10 s window at 1 s");
        let sel = s.select(&[eq("__name__", "x")]);
        assert_eq!(sel[0].samples.last().map(|x| x.v), Some(999.0));
    }

    #[test]
    fn drops_out_of_order_and_duplicate_timestamps() {
        let mut s = Store::new(60_000, 10);
        let id = s.get_or_create(&l("x", "a"), None).expect("room");
        assert!(s.append(id, Sample { t: 10, v: 1.0 }));
        assert!(!s.append(id, Sample { t: 10, v: 2.0 }));
        assert!(!s.append(id, Sample { t: 5, v: 3.0 }));
        assert_eq!(s.select(&[])[0].samples, [Sample { t: 10, v: 1.0 }]);
    }

    #[test]
    fn the_series_cap_is_a_clear_error() {
        let mut s = Store::new(60_000, 2);
        s.get_or_create(&l("x", "a"), None).expect("room");
        s.get_or_create(&l("x", "b"), None).expect("room");
        assert_eq!(s.get_or_create(&l("x", "a"), None).map(|_| ()), Ok(()), "existing series still resolve");
        let err = s.get_or_create(&l("x", "c"), None).expect_err("full");
        assert!(err.to_string().contains("series limit of 2"));
    }

    #[test]
    fn selection_uses_matchers_and_returns_label_order() {
        let mut s = Store::new(60_000, 10);
        for inst in ["c", "a", "b"] {
            let id = s.get_or_create(&l("x", inst), None).expect("room");
            s.append(id, Sample { t: 1, v: 1.0 });
        }
        let id = s.get_or_create(&l("y", "a"), None).expect("room");
        s.append(id, Sample { t: 1, v: 1.0 });
        let got: Vec<String> =
            s.select(&[eq("__name__", "x")]).iter().map(|d| d.labels.value("instance").to_owned()).collect();
        assert_eq!(got, ["a", "b", "c"]);
        let ne = Matcher::new(MatchOp::NotEqual, "instance", "a");
        assert_eq!(s.select(&[ne]).len(), 2);
    }

    #[test]
    fn stale_series_are_collected_and_their_slots_reused() {
        let mut s = Store::new(10_000, 1);
        let id = s.get_or_create(&l("x", "a"), None).expect("room");
        s.append(id, Sample { t: 0, v: 1.0 });
        s.mark_stale(id, 1000);
        s.mark_stale(id, 2000); // only one marker
        assert_eq!(s.select(&[])[0].samples.len(), 2);
        s.gc(20_000);
        assert!(s.is_empty());
        assert!(s.get_or_create(&l("x", "b"), None).is_ok(), "the freed slot is reused under the cap");
    }
}
