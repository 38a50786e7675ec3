//! Scrape results into the store: per target, a cache from the series text as the target wrote
//! it to the series id, so that a known series costs one hash lookup; new series get the
//! target's labels; series that disappear, and every series of a target whose scrape failed,
//! get a staleness marker.

use std::collections::HashMap;

use super::{Labels, METRIC_NAME, Sample, SeriesId, Store};

/// One sample as a scrape delivers it.
#[derive(Clone, Copy, Debug)]
pub struct ScrapedSample<'a> {
    /// `name{labels}` exactly as written: the cache key.
    pub key: &'a [u8],
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// What one ingestion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub appended: usize,
    pub new_series: usize,
    /// Samples dropped because the store's series limit was reached.
    pub over_limit: usize,
    /// Samples not newer than their series' last one (or repeated in the body).
    pub out_of_order: usize,
    pub undecodable: usize,
}

#[derive(Default)]
pub(super) struct TargetSeries {
    /// The last scrape's series in body order, each by a 128-bit hash of its text (two halves
    /// with seeds drawn at random per process, so a target cannot craft colliding texts; by
    /// chance, a collision among a million series has odds of 10^-27). Targets list their
    /// series in the same order every time, so the sample at position i is checked against
    /// position i here: a sequential read, no lookup table. Only a scrape whose order changed
    /// builds a map from it.
    order: Vec<(u128, SeriesId)>,
    spare: Vec<(u128, SeriesId)>,
    observed_from: Option<i64>,
}

type KeyMap = HashMap<u128, SeriesId, foldhash::fast::RandomState>;

/// Two independently seeded 64-bit hashes of a key.
struct KeyHasher(foldhash::fast::RandomState, foldhash::fast::RandomState);

impl KeyHasher {
    fn get() -> &'static KeyHasher {
        static H: std::sync::OnceLock<KeyHasher> = std::sync::OnceLock::new();
        H.get_or_init(|| KeyHasher(Default::default(), Default::default()))
    }

    fn hash(&self, key: &[u8]) -> u128 {
        use std::hash::BuildHasher;
        (u128::from(self.0.hash_one(key)) << 64) | u128::from(self.1.hash_one(key))
    }
}

/// Merges a sample's labels with its target's: the target's win, and a clashing scraped label
/// is kept as `exported_<name>`, as Prometheus does without `honor_labels`.
pub fn merge_target_labels(scraped: &Labels, target: &Labels) -> Labels {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(scraped.len() + target.len());
    for (k, v) in scraped.iter() {
        if k != METRIC_NAME && target.get(k).is_some() {
            pairs.push((format!("exported_{k}"), v.to_owned()));
        } else {
            pairs.push((k.to_owned(), v.to_owned()));
        }
    }
    pairs.extend(target.iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
    Labels::from_pairs(pairs)
}

impl Store {
    /// Ingests a successful scrape of `target` taken at `t`. `decode` turns a new key into the
    /// sample's labels (metric name included).
    pub fn ingest<'a>(
        &mut self,
        target: u64,
        target_labels: &Labels,
        samples: impl IntoIterator<Item = ScrapedSample<'a>>,
        decode: impl Fn(&[u8]) -> Option<Labels>,
        t: i64,
    ) -> IngestReport {
        let mut report = IngestReport::default();
        let mut ts = self.targets.remove(&target).unwrap_or_default();
        let observed_from = *ts.observed_from.get_or_insert(t);
        let hasher = KeyHasher::get();
        let mut order = std::mem::take(&mut ts.spare);
        order.clear();
        let mut same_order = true;
        let mut by_key: Option<KeyMap> = None;
        for s in samples {
            let key = hasher.hash(s.key);
            let position = order.len();
            let known = match ts.order.get(position) {
                Some(&(k, id)) if k == key => Some(id),
                _ => {
                    same_order = false;
                    by_key.get_or_insert_with(|| ts.order.iter().copied().collect()).get(&key).copied()
                }
            };
            let id = match known {
                Some(id) => id,
                None => {
                    let Some(labels) = decode(s.key) else {
                        report.undecodable += 1;
                        continue;
                    };
                    let labels = merge_target_labels(&labels, target_labels);
                    let existed = self.lookup(&labels).is_some();
                    match self.create(&labels, Some(observed_from)) {
                        Ok(id) => {
                            if !existed {
                                report.new_series += 1;
                            }
                            id
                        }
                        Err(_) => {
                            report.over_limit += 1;
                            continue;
                        }
                    }
                }
            };
            order.push((key, id));
            if self.append(id, Sample { t: s.timestamp_ms.unwrap_or(t), v: s.value }) {
                report.appended += 1;
            } else {
                report.out_of_order += 1;
            }
        }
        self.flush();
        // Series this scrape no longer exposes go stale now. When the body listed exactly the
        // series of last time, in the same order, none did.
        if !(same_order && order.len() == ts.order.len()) {
            let present: std::collections::HashSet<u128, foldhash::fast::RandomState> =
                order.iter().map(|(k, _)| *k).collect();
            let mut gone: Vec<SeriesId> =
                ts.order.iter().filter(|(k, _)| !present.contains(k)).map(|(_, id)| *id).collect();
            gone.sort_unstable();
            gone.dedup();
            for id in gone {
                self.mark_stale(id, t);
            }
        }
        ts.spare = std::mem::replace(&mut ts.order, order);
        self.targets.insert(target, ts);
        report
    }

    /// A scrape of `target` failed at `t`: every series it had goes stale.
    pub fn target_down(&mut self, target: u64, t: i64) {
        let Some(ts) = self.targets.get_mut(&target) else {
            return;
        };
        let mut ids: Vec<SeriesId> = ts.order.drain(..).map(|(_, id)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            self.mark_stale(id, t);
        }
    }

    /// `target` is gone from discovery: its series go stale and its cache is dropped.
    pub fn forget_target(&mut self, target: u64, t: i64) {
        self.target_down(target, t);
        self.targets.remove(&target);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Storage, is_stale};
    use super::*;

    fn target() -> Labels {
        Labels::from_pairs([("job", "node"), ("instance", "10.0.0.1:9100")])
    }

    fn decode(key: &[u8]) -> Option<Labels> {
        let s = std::str::from_utf8(key).ok()?;
        let (name, rest) = s.split_once('{').unwrap_or((s, ""));
        let mut pairs = vec![("__name__".to_owned(), name.to_owned())];
        for kv in rest.trim_end_matches('}').split(',').filter(|x| !x.is_empty()) {
            let (k, v) = kv.split_once('=')?;
            pairs.push((k.to_owned(), v.trim_matches('"').to_owned()));
        }
        Some(Labels::from_pairs(pairs))
    }

    fn s(key: &'static str, v: f64) -> ScrapedSample<'static> {
        ScrapedSample { key: key.as_bytes(), value: v, timestamp_ms: None }
    }

    #[test]
    fn known_series_reuse_their_id_and_target_labels_win() {
        let mut st = Store::new(60_000, 100);
        let r = st.ingest(1, &target(), [s("up{instance=\"x\"}", 1.0)], decode, 1000);
        assert_eq!((r.new_series, r.appended), (1, 1));
        let r = st.ingest(1, &target(), [s("up{instance=\"x\"}", 1.0)], decode, 2000);
        assert_eq!((r.new_series, r.appended), (0, 1));
        let sel = st.select(&[]);
        assert_eq!(sel.len(), 1);
        assert_eq!(sel[0].labels.to_string(), r#"up{exported_instance="x", instance="10.0.0.1:9100", job="node"}"#);
        assert_eq!(sel[0].observed_from, Some(1000));
    }

    #[test]
    fn vanished_series_and_failed_targets_go_stale() {
        let mut st = Store::new(60_000, 100);
        st.ingest(1, &target(), [s("a", 1.0), s("b", 2.0)], decode, 1000);
        st.ingest(1, &target(), [s("a", 1.0)], decode, 2000);
        let b = st.select(&[]).into_iter().find(|d| d.labels.metric_name() == Some("b")).expect("b");
        assert!(is_stale(b.samples.last().expect("sample").v), "b disappeared");
        st.target_down(1, 3000);
        let a = st.select(&[]).into_iter().find(|d| d.labels.metric_name() == Some("a")).expect("a");
        assert!(is_stale(a.samples.last().expect("sample").v), "a's target failed");
        // Back up: the series resumes under the same id.
        let r = st.ingest(1, &target(), [s("a", 5.0)], decode, 4000);
        assert_eq!((r.new_series, r.appended), (0, 1));
    }

    #[test]
    fn reordered_bodies_keep_their_series_and_swapped_ones_go_stale() {
        let mut st = Store::new(60_000, 100);
        st.ingest(1, &target(), [s("a", 1.0), s("b", 2.0), s("c", 3.0)], decode, 1000);
        let r = st.ingest(1, &target(), [s("c", 3.0), s("a", 1.0), s("b", 2.0)], decode, 2000);
        assert_eq!((r.new_series, r.appended), (0, 3));
        let stale = |st: &Store| -> Vec<String> {
            st.select(&[])
                .into_iter()
                .filter(|d| d.samples.last().is_some_and(|x| is_stale(x.v)))
                .map(|d| d.labels.metric_name().unwrap_or("").to_owned())
                .collect()
        };
        assert!(stale(&st).is_empty(), "a new order is not a vanished series");
        // Same length, b replaced by d.
        let r = st.ingest(1, &target(), [s("c", 3.0), s("a", 1.0), s("d", 4.0)], decode, 3000);
        assert_eq!(r.new_series, 1);
        assert_eq!(stale(&st), ["b"]);
    }

    #[test]
    fn the_series_limit_drops_new_series_only() {
        let mut st = Store::new(60_000, 1);
        let r = st.ingest(1, &target(), [s("a", 1.0), s("b", 2.0)], decode, 1000);
        assert_eq!((r.appended, r.over_limit), (1, 1));
    }
}
