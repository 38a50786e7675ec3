//! Label sets: sorted by name, empty values dropped (Prometheus treats `a=""` as no `a`), and
//! cheap to clone (one reference count), since evaluation copies them into every result.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// The reserved label holding the metric name.
pub const METRIC_NAME: &str = "__name__";

#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Labels(Arc<[(Arc<str>, Arc<str>)]>);

impl Labels {
    /// Builds a label set from any pairs: sorts by name, drops empty values. When a name repeats,
    /// the last value wins.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Labels
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut v: Vec<(Arc<str>, Arc<str>)> = pairs
            .into_iter()
            .filter(|(_, val)| !val.as_ref().is_empty())
            .map(|(k, val)| (Arc::from(k.as_ref()), Arc::from(val.as_ref())))
            .collect();
        Labels::normalize(&mut v);
        Labels(v.into())
    }

    /// From pairs that share their strings already.
    pub fn from_arcs(mut v: Vec<(Arc<str>, Arc<str>)>) -> Labels {
        v.retain(|(_, val)| !val.is_empty());
        Labels::normalize(&mut v);
        Labels(v.into())
    }

    fn normalize(v: &mut Vec<(Arc<str>, Arc<str>)>) {
        // Stable sort keeps later duplicates after earlier ones; keep the last of each name.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Arc<str>, Arc<str>)> = Vec::with_capacity(v.len());
        for pair in v.drain(..) {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        *v = out;
    }

    pub fn empty() -> Labels {
        Labels::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| &**v)
    }

    /// The value of `name`, or `""` when absent: how matchers see a missing label.
    pub fn value(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    pub fn pairs(&self) -> &[(Arc<str>, Arc<str>)] {
        &self.0
    }

    fn filtered(&self, keep: impl Fn(&str) -> bool) -> Labels {
        if self.0.iter().all(|(k, _)| keep(k)) {
            return self.clone();
        }
        Labels(self.0.iter().filter(|(k, _)| keep(k)).cloned().collect())
    }

    /// Without the metric name.
    /// The label values that tell series apart, for people: not job and instance, unless
    /// nothing else does; control characters escaped.
    pub fn short(&self) -> String {
        let own: Vec<&str> =
            self.iter().filter(|(k, _)| !matches!(*k, "job" | "instance" | "__name__")).map(|(_, v)| v).collect();
        let s = if own.is_empty() { self.get("instance").unwrap_or("-").to_owned() } else { own.join(",") };
        crate::text::escape_control(&s).into_owned()
    }

    pub fn without_name(&self) -> Labels {
        self.filtered(|k| k != METRIC_NAME)
    }

    /// Without the listed labels.
    pub fn without(&self, names: &[impl AsRef<str>]) -> Labels {
        self.filtered(|k| !names.iter().any(|n| n.as_ref() == k))
    }

    /// Only the listed labels.
    pub fn keep_only(&self, names: &[impl AsRef<str>]) -> Labels {
        self.filtered(|k| names.iter().any(|n| n.as_ref() == k))
    }

    /// With `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<(Arc<str>, Arc<str>)> = self.0.iter().filter(|(k, _)| &**k != name).cloned().collect();
        if !value.is_empty() {
            v.push((Arc::from(name), Arc::from(value)));
        }
        Labels::normalize(&mut v);
        Labels(v.into())
    }
}

/// Compares two strings, by address first: the store interns its strings, so equal ones are
/// usually the same allocation.
#[inline]
fn cmp_str(a: &Arc<str>, b: &Arc<str>) -> Ordering {
    if Arc::ptr_eq(a, b) { Ordering::Equal } else { a.cmp(b) }
}

/// Prometheus's order: label by label, name then value, then the shorter set first.
impl Ord for Labels {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            match cmp_str(&a.0, &b.0).then_with(|| cmp_str(&a.1, &b.1)) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `name{a="1", b="2"}`, the way Prometheus prints a series.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}=\"{}\"", v.escape_default())?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_without_empty_values_last_duplicate_wins() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("z", ""), ("a", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(l.value("z"), "");
    }

    #[test]
    fn order_is_prometheus_order() {
        let a = Labels::from_pairs([("__name__", "x"), ("a", "1")]);
        let b = Labels::from_pairs([("__name__", "x"), ("a", "1"), ("b", "1")]);
        let c = Labels::from_pairs([("__name__", "x"), ("a", "2")]);
        let mut v = vec![c.clone(), b.clone(), a.clone()];
        v.sort();
        assert_eq!(v, [a, b, c]);
    }

    #[test]
    fn display_is_the_series_notation() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node"), ("path", "a\"b")]);
        assert_eq!(l.to_string(), "up{job=\"node\", path=\"a\\\"b\"}");
        assert_eq!(Labels::empty().to_string(), "{}");
    }
}
