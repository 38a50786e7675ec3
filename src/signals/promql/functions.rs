//! Function calls. Each follows the Prometheus implementation it is named after.

use promql_parser::parser::Expr;

use super::eval::Evaluator;
use super::{Element, EvalError, RangeSeries, Value};
use crate::series::{Labels, Sample};

type Result<T> = std::result::Result<T, EvalError>;

pub(super) fn call(ev: &Evaluator<'_>, name: &str, args: &[Box<Expr>], t: i64) -> Result<Value> {
    let arg = |i: usize| -> Result<&Expr> {
        args.get(i).map(|a| &**a).ok_or_else(|| EvalError(format!("{name}() is missing argument {}", i + 1)))
    };
    let range = |f: fn(&RangeSeries) -> Option<f64>, keep_name: bool| -> Result<Value> {
        let m = matrix_arg(arg(0)?)?;
        let out = ev
            .select_range(m, t)?
            .into_iter()
            .filter_map(|s| {
                let v = f(&s)?;
                Some(Element { labels: if keep_name { s.labels } else { s.labels.without_name() }, v })
            })
            .collect();
        Ok(Value::Vector(out))
    };
    let simple = |f: &dyn Fn(f64) -> f64| -> Result<Value> {
        let v = ev.eval_vector(arg(0)?, t)?;
        Ok(Value::Vector(v.into_iter().map(|e| Element { labels: e.labels.without_name(), v: f(e.v) }).collect()))
    };
    match name {
        "rate" => range(|s| extrapolated_rate(s, true, true), false),
        "increase" => range(|s| extrapolated_rate(s, true, false), false),
        "delta" => range(|s| extrapolated_rate(s, false, false), false),
        "irate" => range(|s| instant_value(s, true), false),
        "idelta" => range(|s| instant_value(s, false), false),
        "resets" => range(resets, false),
        "changes" => range(changes, false),
        "avg_over_time" => range(avg_over_time, false),
        "sum_over_time" => range(|s| Some(kahan_sum(s.samples.iter().map(|x| x.v))), false),
        "min_over_time" => range(|s| Some(fold_nan_aware(&s.samples, |cur, best| cur < best)), false),
        "max_over_time" => range(|s| Some(fold_nan_aware(&s.samples, |cur, best| cur > best)), false),
        "count_over_time" => range(|s| Some(s.samples.len() as f64), false),
        "present_over_time" => range(|_| Some(1.0), false),
        "last_over_time" => range(|s| s.samples.last().map(|x| x.v), true),
        "abs" => simple(&f64::abs),
        "ceil" => simple(&f64::ceil),
        "floor" => simple(&f64::floor),
        "sqrt" => simple(&f64::sqrt),
        "exp" => simple(&f64::exp),
        "ln" => simple(&f64::ln),
        "log2" => simple(&f64::log2),
        "log10" => simple(&f64::log10),
        "sgn" => simple(&|v| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        }),
        "clamp_min" => {
            let min = ev.eval_scalar(arg(1)?, t)?;
            simple(&|v| go_max(min, v))
        }
        "clamp_max" => {
            let max = ev.eval_scalar(arg(1)?, t)?;
            simple(&|v| go_min(max, v))
        }
        "clamp" => {
            let min = ev.eval_scalar(arg(1)?, t)?;
            let max = ev.eval_scalar(arg(2)?, t)?;
            if max < min {
                return Ok(Value::Vector(Vec::new()));
            }
            simple(&|v| go_max(min, go_min(max, v)))
        }
        "scalar" => {
            let v = ev.eval_vector(arg(0)?, t)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "vector" => Ok(Value::Vector(vec![Element { labels: Labels::empty(), v: ev.eval_scalar(arg(0)?, t)? }])),
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "histogram_quantile" => {
            let q = ev.eval_scalar(arg(0)?, t)?;
            let v = ev.eval_vector(arg(1)?, t)?;
            Ok(Value::Vector(histogram_quantile(q, v)))
        }
        other => Err(EvalError(format!("function {other}() is not supported"))),
    }
}

/// The range selector a range function reads (parentheses allowed around it).
fn matrix_arg(e: &Expr) -> Result<&promql_parser::parser::MatrixSelector> {
    match e {
        Expr::MatrixSelector(m) => Ok(m),
        Expr::Paren(p) => matrix_arg(&p.expr),
        _ => Err(EvalError("expected a range selector".into())),
    }
}

/// Go's `math.Max`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// `rate`, `increase` and `delta`: the change over the range, corrected for counter resets and
/// extrapolated towards the range's ends the way Prometheus does.
fn extrapolated_rate(s: &RangeSeries, is_counter: bool, is_rate: bool) -> Option<f64> {
    let x = &s.samples;
    if x.len() < 2 {
        return None;
    }
    let (first, last) = (x[0], x[x.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter {
        let mut prev = first.v;
        for cur in &x[1..] {
            if cur.v < prev {
                result += prev;
            }
            prev = cur.v;
        }
    }
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let average = sampled / (x.len() - 1) as f64;
    let threshold = average * 1.1;
    let mut to_start = (first.t - s.start) as f64 / 1000.0;
    let mut to_end = (s.end - last.t) as f64 / 1000.0;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the point where it would.
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (s.end - s.start) as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples.
fn instant_value(s: &RangeSeries, is_rate: bool) -> Option<f64> {
    let x = &s.samples;
    if x.len() < 2 {
        return None;
    }
    let (a, b) = (x[x.len() - 2], x[x.len() - 1]);
    let dt = b.t - a.t;
    if dt == 0 {
        return None;
    }
    let mut v = if is_rate && b.v < a.v { b.v } else { b.v - a.v };
    if is_rate {
        v /= dt as f64 / 1000.0;
    }
    Some(v)
}

fn resets(s: &RangeSeries) -> Option<f64> {
    Some(s.samples.windows(2).filter(|w| w[1].v < w[0].v).count() as f64)
}

fn changes(s: &RangeSeries) -> Option<f64> {
    let changed = |w: &[Sample]| w[1].v != w[0].v && !(w[1].v.is_nan() && w[0].v.is_nan());
    Some(s.samples.windows(2).filter(|w| changed(w)).count() as f64)
}

/// Kahan–Neumaier summation step, as Prometheus's `kahansum.Inc`.
pub(super) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    sum + c
}

fn avg_over_time(s: &RangeSeries) -> Option<f64> {
    let x = &s.samples;
    let first = x.first()?;
    let (mut sum, mut c, mut mean, mut count) = (first.v, 0.0, 0.0, 1.0);
    let mut incremental = false;
    for (i, cur) in x[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (next, next_c) = kahan_inc(cur.v, sum, c);
            if !next.is_infinite() {
                (sum, c) = (next, next_c);
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(cur.v / count, q * mean, q * c);
    }
    Some(if incremental { mean + c } else { sum / count + c / count })
}

/// min/max over time: a NaN is replaced by any later value.
fn fold_nan_aware(x: &[Sample], better: fn(f64, f64) -> bool) -> f64 {
    let mut best = x[0].v;
    for cur in x {
        if better(cur.v, best) || best.is_nan() {
            best = cur.v;
        }
    }
    best
}

/// `histogram_quantile` over classic `le` buckets.
fn histogram_quantile(q: f64, v: Vec<Element>) -> Vec<Element> {
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let mut groups: Vec<(Labels, Vec<(f64, f64)>)> = Vec::new();
    for e in v {
        let Some(le) = e.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let sig = e.labels.without(&["le"]);
        let i = *index.entry(sig).or_insert_with(|| {
            groups.push((e.labels.without(&["le"]).without_name(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push((le, e.v));
    }
    groups
        .into_iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(labels, buckets)| Element { labels, v: bucket_quantile(q, buckets) })
        .collect()
}

fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    t.parse().ok()
}

/// Prometheus's `BucketQuantile`.
fn bucket_quantile(q: f64, mut b: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    if b.last().is_none_or(|last| last.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(b.len());
    for (le, count) in b {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    let mut b = merged;
    ensure_monotonic(&mut b);
    if b.len() < 2 {
        return f64::NAN;
    }
    let observations = b[b.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let idx = b[..b.len() - 1].partition_point(|x| x.1 < rank);
    if idx == b.len() - 1 {
        return b[b.len() - 2].0;
    }
    if idx == 0 && b[0].0 <= 0.0 {
        return b[0].0;
    }
    let (mut start, end, mut count) = (0.0, b[idx].0, b[idx].1);
    if idx > 0 {
        start = b[idx - 1].0;
        count -= b[idx - 1].1;
        rank -= b[idx - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Removes decreases between cumulative buckets, and differences too small to be real.
fn ensure_monotonic(b: &mut [(f64, f64)]) {
    const TOLERANCE: f64 = 1e-12;
    let Some(first) = b.first() else { return };
    let mut prev = first.1;
    for x in b.iter_mut().skip(1) {
        let cur = x.1;
        if cur == prev {
            continue;
        }
        if almost_equal(prev, cur, TOLERANCE) || cur < prev {
            x.1 = prev;
            continue;
        }
        prev = cur;
    }
}

/// Prometheus's `almost.Equal`.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}
