//! A bounded in-memory store: per series a time-ordered run of samples, kept only as long as
//! the selectors that read it need (an instant selector needs just the latest sample, a range
//! selector its range); a global cap on the number of series.
//!
//! Label strings are interned, so equal strings share one allocation and compare by pointer;
//! postings (per metric name, and all series) are kept in label order, so that selection never
//! sorts. New series are merged into the postings once per ingested scrape.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use foldhash::fast::RandomState;
use promql_parser::label::{MatchOp, Matcher};

use super::{Labels, METRIC_NAME, Sample, SeriesData, Storage, is_stale, stale_nan};

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

/// How long series keep their samples: the first rule whose matchers accept a series' labels
/// decides its window (the widest over all matching rules, in fact); the latest sample is
/// always kept. Series not read for `lookback` after their last sample are dropped.
#[derive(Clone, Debug)]
pub struct Retention {
    /// (selector matchers, window in milliseconds behind the newest sample).
    pub rules: Vec<(Vec<Matcher>, i64)>,
    /// The window of a series no rule matches.
    pub default_ms: i64,
    /// How long after its last sample a series can still be read (the lookback).
    pub lookback_ms: i64,
}

impl Retention {
    /// Every series keeps `window_ms` of samples.
    pub fn uniform(window_ms: i64) -> Self {
        Retention { rules: Vec::new(), default_ms: window_ms, lookback_ms: window_ms }
    }

    fn window(&self, labels: &Labels) -> i64 {
        let mut w: Option<i64> = None;
        for (m, ms) in &self.rules {
            if super::matches(labels, m) {
                w = Some(w.map_or(*ms, |x| x.max(*ms)));
            }
        }
        w.unwrap_or(self.default_ms)
    }
}

struct Series {
    labels: Labels,
    /// Samples of a series with a window; empty for one without (see `latest`).
    samples: Vec<Sample>,
    /// The only sample of a series with no window (read by instant selectors alone), held
    /// inline: no allocation, and one cache miss less when thousands are evaluated.
    latest: Option<Sample>,
    observed_from: Option<i64>,
    window_ms: i64,
}

impl Series {
    fn samples(&self) -> &[Sample] {
        if self.window_ms == 0 { self.latest.as_slice() } else { &self.samples }
    }
}

/// One shared allocation per distinct label name or value.
#[derive(Default)]
struct Interner(HashSet<Arc<str>, RandomState>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(a.clone());
        a
    }

    fn labels(&mut self, l: &Labels) -> Labels {
        Labels::from_arcs(l.pairs().iter().map(|(k, v)| (self.get(k), self.get(v))).collect())
    }

    /// Forgets strings nothing but the interner holds.
    fn prune(&mut self) {
        self.0.retain(|a| Arc::strong_count(a) > 1);
    }
}

pub struct Store {
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    index: HashMap<Labels, SeriesId, RandomState>,
    /// Per metric name, in label order.
    by_name: HashMap<Arc<str>, Vec<SeriesId>, RandomState>,
    /// Every series, in label order.
    all: Vec<SeriesId>,
    /// Created but not yet merged into the postings.
    pending: Vec<SeriesId>,
    interner: Interner,
    retention: Retention,
    max_series: usize,
    pub(super) targets: HashMap<u64, super::ingest::TargetSeries>,
}

impl Store {
    /// A store keeping `retention_ms` of samples for every series and at most `max_series`.
    pub fn new(retention_ms: i64, max_series: usize) -> Self {
        Store::with_retention(Retention::uniform(retention_ms.max(0)), max_series)
    }

    pub fn with_retention(retention: Retention, max_series: usize) -> Self {
        Store {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            by_name: HashMap::default(),
            all: Vec::new(),
            pending: Vec::new(),
            interner: Interner::default(),
            retention,
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
        self.slots.iter().flatten().map(|s| s.samples().len()).sum()
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
        let id = self.create(labels, observed_from)?;
        self.flush();
        Ok(id)
    }

    /// Like [`Store::get_or_create`], but a new series only joins the postings at the next
    /// [`Store::flush`] (ingestion flushes once per scrape).
    pub(super) fn create(&mut self, labels: &Labels, observed_from: Option<i64>) -> Result<SeriesId, SeriesLimit> {
        if let Some(&id) = self.index.get(labels) {
            return Ok(id);
        }
        if self.index.len() >= self.max_series {
            return Err(SeriesLimit(self.max_series));
        }
        let labels = self.interner.labels(labels);
        let window_ms = self.retention.window(&labels);
        let series = Series { labels: labels.clone(), samples: Vec::new(), latest: None, observed_from, window_ms };
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
        self.index.insert(labels, id);
        self.pending.push(id);
        Ok(id)
    }

    /// Merges new series into the postings, keeping them in label order.
    pub(super) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        let slots = &self.slots;
        let label_of = |id: &SeriesId| slots[id.0 as usize].as_ref().map(|s| &s.labels);
        pending.sort_by(|a, b| label_of(a).cmp(&label_of(b)));
        self.all = merge(&self.all, &pending, &label_of);
        let mut by_name: HashMap<Arc<str>, Vec<SeriesId>> = HashMap::new();
        for id in &pending {
            if let Some(l) = label_of(id) {
                let name = l.pairs().iter().find(|(k, _)| &**k == METRIC_NAME).map(|(_, v)| v.clone());
                by_name.entry(name.unwrap_or_else(|| Arc::from(""))).or_default().push(*id);
            }
        }
        for (name, ids) in by_name {
            let list = self.by_name.entry(name).or_default();
            *list = merge(list, &ids, &label_of);
        }
    }

    /// Appends a sample. Samples not newer than the series' last one are dropped (returns false),
    /// as Prometheus drops out-of-order samples.
    pub fn append(&mut self, id: SeriesId, sample: Sample) -> bool {
        let Some(s) = self.series_mut(id) else {
            return false;
        };
        if s.samples().last().is_some_and(|last| last.t >= sample.t) {
            return false;
        }
        if s.window_ms == 0 {
            s.latest = Some(sample);
            return true;
        }
        s.samples.push(sample);
        // Trim in batches so that appending stays amortised O(1); the newest sample always stays.
        let cutoff = sample.t - s.window_ms;
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
        let already = self.series(id).and_then(|s| s.samples().last()).is_none_or(|last| is_stale(last.v));
        if !already {
            self.append(id, Sample { t, v: stale_nan() });
        }
    }

    /// Drops samples outside each series' window behind `now`, and series nothing can read any
    /// more: only staleness markers left, or the last sample older than the lookback.
    pub fn gc(&mut self, now: i64) {
        let lookback = self.retention.lookback_ms;
        let mut dead = Vec::new();
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            let Some(s) = entry else { continue };
            let cutoff = now - s.window_ms;
            let last = s.samples.len().saturating_sub(1);
            let keep_from = s.samples.partition_point(|x| x.t < cutoff).min(last);
            s.samples.drain(..keep_from);
            let readable = s.samples().last().is_some_and(|x| x.t > now - lookback.max(s.window_ms));
            if s.samples().iter().all(|x| is_stale(x.v)) || !readable {
                dead.push(slot);
            }
        }
        if dead.is_empty() {
            return;
        }
        let mut gone: HashSet<u32> = HashSet::with_capacity(dead.len());
        for slot in dead {
            if let Some(s) = self.slots[slot].take() {
                self.index.remove(&s.labels);
                self.free.push(slot as u32);
                gone.insert(slot as u32);
            }
        }
        self.all.retain(|id| !gone.contains(&id.0));
        self.pending.retain(|id| !gone.contains(&id.0));
        self.by_name.retain(|_, ids| {
            ids.retain(|id| !gone.contains(&id.0));
            !ids.is_empty()
        });
        self.interner.prune();
    }
}

/// Merges two id lists sorted by their labels.
fn merge<'a>(a: &[SeriesId], b: &[SeriesId], label_of: &impl Fn(&SeriesId) -> Option<&'a Labels>) -> Vec<SeriesId> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if label_of(&a[i]) <= label_of(&b[j]) {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

fn data(s: &Series) -> SeriesData<'_> {
    SeriesData { labels: &s.labels, samples: s.samples(), observed_from: s.observed_from }
}

/// Matchers with a per-call cache of regex results keyed by the (interned) value's address,
/// and in front of it the last answer: series come in label order, so neighbours usually
/// share the value (the metric name, above all).
struct CachedMatchers<'m> {
    matchers: &'m [Matcher],
    cache: Vec<(usize, bool, HashMap<usize, bool, RandomState>)>,
}

impl<'m> CachedMatchers<'m> {
    fn new(matchers: &'m [Matcher]) -> Self {
        CachedMatchers { matchers, cache: matchers.iter().map(|_| (0, false, HashMap::default())).collect() }
    }

    fn matches(&mut self, labels: &Labels) -> bool {
        for (k, m) in self.matchers.iter().enumerate() {
            let v = labels.pairs().iter().find(|(n, _)| **n == *m.name).map(|(_, v)| v);
            let ok = match (&m.op, v) {
                (MatchOp::Re(_) | MatchOp::NotRe(_), Some(v)) => {
                    let key = Arc::as_ptr(v) as *const u8 as usize;
                    let (last_key, last_ok, cache) = &mut self.cache[k];
                    if *last_key != key {
                        *last_ok = *cache.entry(key).or_insert_with(|| m.is_match(v));
                        *last_key = key;
                    }
                    *last_ok
                }
                (_, Some(v)) => m.is_match(v),
                (_, None) => m.is_match(""),
            };
            if !ok {
                return false;
            }
        }
        true
    }
}

impl Store {
    fn visit<'s>(&'s self, matchers: &[Matcher], f: &mut dyn FnMut(SeriesData<'s>)) {
        let by_name = matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal);
        let ids: &[SeriesId] = match by_name {
            Some(m) => self.by_name.get(m.value.as_str()).map_or(&[], Vec::as_slice),
            None => &self.all,
        };
        let mut cm = CachedMatchers::new(matchers);
        for s in ids.iter().filter_map(|&id| self.series(id)) {
            if cm.matches(&s.labels) {
                f(data(s));
            }
        }
    }
}

impl Storage for Store {
    fn select(&self, matchers: &[Matcher]) -> Vec<SeriesData<'_>> {
        let mut out = Vec::new();
        self.for_each(matchers, &mut |d| out.push(d));
        out
    }

    fn for_each<'s>(&'s self, matchers: &[Matcher], f: &mut dyn FnMut(SeriesData<'s>)) {
        if self.pending.is_empty() {
            return self.visit(matchers, f);
        }
        // Series created outside an ingestion and not merged yet (none, normally): sort them in.
        let mut all: Vec<SeriesData<'_>> = Vec::new();
        self.visit(matchers, &mut |d| all.push(d));
        let mut cm = CachedMatchers::new(matchers);
        all.extend(self.pending.iter().filter_map(|&id| self.series(id)).filter(|s| cm.matches(&s.labels)).map(data));
        all.sort_by(|a, b| a.labels.cmp(b.labels));
        all.into_iter().for_each(f);
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
    fn instant_only_series_keep_just_their_latest_sample() {
        let re =
            |v: &str| Matcher::new(MatchOp::Re(regex::Regex::new(&format!("^(?:{v})$")).expect("re")), "__name__", v);
        let retention = Retention {
            rules: vec![(vec![eq("__name__", "ranged")], 60_000), (vec![re("inst.*")], 0)],
            default_ms: 300_000,
            lookback_ms: 300_000,
        };
        let mut s = Store::with_retention(retention, 10);
        let ranged = s.get_or_create(&l("ranged", "a"), None).expect("room");
        let instant = s.get_or_create(&l("instant", "a"), None).expect("room");
        for t in 0..600 {
            s.append(ranged, Sample { t: t * 1000, v: 1.0 });
            s.append(instant, Sample { t: t * 1000, v: t as f64 });
        }
        let sel = s.select(&[]);
        let get = |n: &str| sel.iter().find(|d| d.labels.metric_name() == Some(n)).expect("series").samples.len();
        assert!(get("ranged") >= 60 && get("ranged") <= 61 + 32, "{}", get("ranged"));
        assert_eq!(get("instant"), 1);
    }

    #[test]
    fn drops_out_of_order_and_duplicate_timestamps() {
        let mut s = Store::new(60_000, 10);
        let id = s.get_or_create(&l("x", "a"), None).expect("room");
        assert!(s.append(id, Sample { t: 10, v: 1.0 }));
        assert!(!s.append(id, Sample { t: 10, v: 2.0 }));
        assert!(!s.append(id, Sample { t: 5, v: 3.0 }));
        assert_eq!(
            s.select(&[]),
            vec![SeriesData { labels: &l("x", "a"), samples: &[Sample { t: 10, v: 1.0 }], observed_from: None }]
        );
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
        let all: Vec<String> = s.select(&[]).iter().map(|d| d.labels.to_string()).collect();
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
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
        assert!(s.select(&[]).is_empty());
        assert!(s.get_or_create(&l("x", "b"), None).is_ok(), "the freed slot is reused under the cap");
    }

    #[test]
    fn series_nobody_can_read_any_more_are_collected() {
        let mut s = Store::with_retention(Retention { rules: vec![], default_ms: 0, lookback_ms: 300_000 }, 10);
        let id = s.get_or_create(&l("x", "a"), None).expect("room");
        s.append(id, Sample { t: 0, v: 1.0 });
        s.gc(299_999);
        assert_eq!(s.len(), 1);
        s.gc(300_000);
        assert!(s.is_empty(), "past the lookback, an instant selector cannot see it");
    }
}
