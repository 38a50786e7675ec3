//! Runs Prometheus's own PromQL conformance files (`tests/conformance/prometheus/promqltest`)
//! against nightwatch's evaluator: every case whose expression is in the supported subset is
//! evaluated and must produce Prometheus's values; the rest are skipped and counted by reason.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use nightwatch::series::notation::{Point, number as num, parse_points, split_series};
use nightwatch::series::{Labels, Sample, SeriesData, Storage, is_stale, matches, stale_nan};
use nightwatch::signals::promql::{self, Evaluator, Value, check_subset, selectors};
use promql_parser::label::Matcher;

const LOOKBACK_MS: i64 = 5 * 60 * 1000;
const EPSILON: f64 = 1e-6;

#[derive(Default)]
struct TestStore {
    series: Vec<(Labels, Vec<Sample>)>,
    /// Series that would be native histograms in Prometheus: evals that select them are skipped.
    native: Vec<Labels>,
}

impl Storage for TestStore {
    fn select(&self, m: &[Matcher]) -> Vec<SeriesData<'_>> {
        self.series
            .iter()
            .filter(|(l, _)| matches(l, m))
            .map(|(l, s)| SeriesData { labels: l, samples: s, observed_from: None })
            .collect()
    }
}

impl TestStore {
    fn add(&mut self, labels: Labels, points: Vec<(i64, f64)>) {
        let pos = self.series.iter().position(|(l, _)| *l == labels);
        let idx = match pos {
            Some(i) => i,
            None => {
                self.series.push((labels, Vec::new()));
                self.series.len() - 1
            }
        };
        let s = &mut self.series[idx].1;
        for (t, v) in points {
            // A later load of the same series at the same time overwrites, as in Prometheus.
            match s.iter_mut().find(|x| x.t == t) {
                Some(x) => x.v = v,
                None => s.push(Sample { t, v }),
            }
        }
        s.sort_by_key(|x| x.t);
        self.series.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

/// `1h30m`, `10s53ms`, `0`, `8000s`, or plain seconds.
fn duration_ms(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if let Ok(secs) = s.parse::<f64>() {
        let v = (secs * 1000.0).round() as i64;
        return Some(if neg { -v } else { v });
    }
    let mut total = 0i64;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(if neg { -total } else { total })
}

enum Expected {
    Series(Labels, Vec<Point>),
    Scalar(f64),
}

struct Eval {
    file: String,
    line: usize,
    expr: String,
    /// Instant: (t, t, 1); range: (start, end, step).
    range: (i64, i64, i64),
    instant: bool,
    fail: bool,
    ordered: bool,
    annotations: bool,
    string: Option<String>,
    range_vector: Option<(i64, i64, i64)>,
    expected: Vec<Expected>,
    native_expected: bool,
}

#[derive(Default)]
struct Tally {
    ran: usize,
    skipped: BTreeMap<String, usize>,
    annotations_unchecked: usize,
    wrong: Vec<String>,
}

impl Tally {
    fn skip(&mut self, why: impl Into<String>) {
        *self.skipped.entry(why.into()).or_default() += 1;
    }
}

fn run_file(path: &Path, tally: &mut Tally) {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("?").to_owned();
    let text = fs::read_to_string(path).expect("read test file");
    let lines: Vec<&str> = text.lines().collect();
    let mut store = TestStore::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let head = line.trim_start();
        i += 1;
        if head.is_empty() || head.starts_with('#') {
            continue;
        }
        let mut block = Vec::new();
        while i < lines.len() {
            let l = lines[i].trim();
            if l.is_empty() || ["load", "clear", "eval"].iter().any(|k| l.starts_with(k)) {
                break;
            }
            if !l.starts_with('#') {
                block.push((i + 1, l));
            }
            i += 1;
        }
        if head == "clear" {
            store = TestStore::default();
        } else if let Some(rest) = head.strip_prefix("load") {
            let nhcb = rest.starts_with("_with_nhcb");
            let interval = rest.split_whitespace().last().and_then(duration_ms).expect("load interval");
            for (_, l) in &block {
                let (labels, points) = split_series(l).expect("series");
                match parse_points(points) {
                    Ok(points) => {
                        let pts: Vec<(i64, f64)> = points
                            .iter()
                            .enumerate()
                            .filter_map(|(k, p)| match p {
                                Point::Value(v) => Some((k as i64 * interval, *v)),
                                Point::Stale => Some((k as i64 * interval, stale_nan())),
                                Point::Omitted => None,
                            })
                            .collect();
                        if nhcb && let Some(fam) = labels.metric_name().and_then(|n| n.strip_suffix("_bucket")) {
                            store.native.push(labels.without(&["le"]).with("__name__", fam));
                        }
                        store.add(labels, pts);
                    }
                    Err(_) => store.native.push(labels),
                }
            }
        } else if head.starts_with("eval") {
            match parse_eval(&file, i - block.len(), head, &block) {
                Some(ev) => run_eval(&store, ev, tally),
                None => tally.skip("eval line the runner cannot read"),
            }
        } else {
            panic!("{file}: unknown command {head:?}");
        }
    }
}

fn parse_eval(file: &str, line: usize, head: &str, block: &[(usize, &str)]) -> Option<Eval> {
    let (directive, rest) = head.split_once(' ')?;
    let mut ev = Eval {
        file: file.to_owned(),
        line,
        expr: String::new(),
        range: (0, 0, 1),
        instant: true,
        fail: directive == "eval_fail",
        ordered: directive == "eval_ordered",
        annotations: directive == "eval_warn" || directive == "eval_info",
        string: None,
        range_vector: None,
        expected: Vec::new(),
        native_expected: false,
    };
    if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, expr) = r.split_once(' ')?;
        let t = duration_ms(t)?;
        ev.range = (t, t, 1);
        ev.expr = expr.to_owned();
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let mut parts = r.splitn(6, ' ');
        let start = duration_ms(parts.next()?)?;
        parts.next(); // to
        let end = duration_ms(parts.next()?)?;
        parts.next(); // step
        let step = duration_ms(parts.next()?)?;
        ev.expr = parts.next()?.to_owned();
        ev.range = (start, end, step);
        ev.instant = false;
    } else {
        return None;
    }
    for &(_, l) in block {
        if let Some(e) = l.strip_prefix("expect ") {
            let kind = e.split([' ', ':']).next().unwrap_or("");
            match kind {
                "fail" => ev.fail = true,
                "ordered" => ev.ordered = true,
                "warn" | "info" => ev.annotations = true,
                "no_warn" | "no_info" => {}
                "string" => {
                    let s = e["string".len()..].trim();
                    ev.string = Some(s.trim_matches(|c| c == '"' || c == '`').to_owned());
                }
                "range" => {
                    let r = e.strip_prefix("range vector from ")?;
                    let mut p = r.split(' ');
                    let a = duration_ms(p.next()?)?;
                    p.next();
                    let b = duration_ms(p.next()?)?;
                    p.next();
                    let s = duration_ms(p.next()?)?;
                    ev.range_vector = Some((a, b, s));
                }
                _ => return None,
            }
            continue;
        }
        if l.contains("{{") {
            ev.native_expected = true;
            continue;
        }
        if let Ok(v) = num(l) {
            ev.expected.push(Expected::Scalar(v));
            continue;
        }
        let (labels, points) = split_series(l)?;
        ev.expected.push(Expected::Series(labels, parse_points(points).ok()?));
    }
    Some(ev)
}

fn run_eval(store: &TestStore, ev: Eval, tally: &mut Tally) {
    let expr = match promql::parse(&ev.expr) {
        Ok(e) => e,
        Err(_) => {
            // promql-parser lags Prometheus on some new syntax; such cases cannot be in a subset.
            if ev.fail {
                tally.skip("expected parse failure");
            } else {
                tally.skip("syntax promql-parser does not parse");
            }
            return;
        }
    };
    if let Err(u) = check_subset(&expr) {
        tally.skip(format!("outside the subset: {}", u.0));
        return;
    }
    if ev.native_expected || selectors(&expr).iter().any(|m| store.native.iter().any(|n| matches(n, m))) {
        tally.skip("native histograms");
        return;
    }
    if ev.annotations {
        tally.annotations_unchecked += 1;
    }
    let where_ = format!("{}:{} `{}`", ev.file, ev.line, ev.expr);
    let evaluator = Evaluator::new(store, LOOKBACK_MS);
    let (start, end, step) = ev.range;
    let mut per_series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut instant_value = None;
    let mut t = start;
    while t <= end {
        match evaluator.eval(&expr, t) {
            Err(e) => {
                if !ev.fail {
                    tally.wrong.push(format!("{where_}: failed: {e}"));
                } else {
                    tally.ran += 1;
                }
                return;
            }
            Ok(v) => {
                if ev.instant {
                    instant_value = Some(v);
                } else {
                    match v {
                        Value::Vector(v) => {
                            for e in v {
                                per_series.entry(e.labels).or_default().push((t, e.v));
                            }
                        }
                        Value::Scalar(s) => per_series.entry(Labels::empty()).or_default().push((t, s)),
                        other => {
                            tally.wrong.push(format!("{where_}: a range query gave a {}", other.type_name()));
                            return;
                        }
                    }
                }
            }
        }
        t += step.max(1);
    }
    if ev.fail {
        tally.wrong.push(format!("{where_}: succeeded, Prometheus fails it"));
        return;
    }
    tally.ran += 1;
    let problem = match instant_value {
        Some(v) => check_instant(&ev, v),
        None => check_range(&ev, &per_series),
    };
    if let Some(p) = problem {
        tally.wrong.push(format!("{where_}: {p}"));
    }
}

fn close(a: f64, b: f64) -> bool {
    promql_almost_equal(a, b)
}

fn promql_almost_equal(a: f64, b: f64) -> bool {
    if is_stale(a) || is_stale(b) {
        return is_stale(a) && is_stale(b);
    }
    nightwatch::signals::promql::almost_equal(a, b, EPSILON)
}

fn check_instant(ev: &Eval, v: Value) -> Option<String> {
    if let Some(s) = &ev.string {
        return match v {
            Value::String(got) if &got == s => None,
            other => Some(format!("expected string {s:?}, got {other:?}")),
        };
    }
    match v {
        Value::Scalar(got) => match ev.expected.as_slice() {
            [Expected::Scalar(want)] if close(*want, got) => None,
            _ => Some(format!("scalar {got} does not match the expectation")),
        },
        Value::String(s) => Some(format!("unexpected string {s:?}")),
        Value::Vector(got) => {
            let mut want: Vec<(&Labels, f64)> = Vec::new();
            for e in &ev.expected {
                match e {
                    Expected::Series(l, p) => match p.as_slice() {
                        [Point::Value(v)] => want.push((l, *v)),
                        _ => return Some("an instant expectation with several points".into()),
                    },
                    Expected::Scalar(_) => {
                        return Some(format!("got a vector of {}, expected a scalar", got.len()));
                    }
                }
            }
            if want.len() != got.len() {
                return Some(format!("expected {} elements, got {}: {:?}", want.len(), got.len(), got));
            }
            for (k, (l, v)) in want.iter().enumerate() {
                let found = if ev.ordered {
                    got.get(k).filter(|e| e.labels == **l)
                } else {
                    got.iter().find(|e| e.labels == **l)
                };
                match found {
                    Some(e) if close(*v, e.v) => {}
                    Some(e) => return Some(format!("{l}: expected {v}, got {}", e.v)),
                    None => return Some(format!("{l} missing (or out of order); got {got:?}")),
                }
            }
            None
        }
        Value::Matrix(got) => {
            let Some((a, _b, s)) = ev.range_vector else {
                return Some("got a range vector without an expectation for one".into());
            };
            let want: Vec<(&Labels, &Vec<Point>)> = ev
                .expected
                .iter()
                .filter_map(|e| match e {
                    Expected::Series(l, p) => Some((l, p)),
                    Expected::Scalar(_) => None,
                })
                .collect();
            if want.len() != got.len() {
                return Some(format!("expected {} series, got {}", want.len(), got.len()));
            }
            for (l, points) in want {
                let Some(series) = got.iter().find(|r| r.labels == *l) else {
                    return Some(format!("{l} missing"));
                };
                let expect: Vec<(i64, f64)> = points
                    .iter()
                    .enumerate()
                    .filter_map(|(k, p)| match p {
                        Point::Value(v) => Some((a + k as i64 * s, *v)),
                        _ => None,
                    })
                    .collect();
                let have: Vec<(i64, f64)> = series.samples.iter().map(|x| (x.t, x.v)).collect();
                if expect.len() != have.len() || expect.iter().zip(&have).any(|(e, h)| e.0 != h.0 || !close(e.1, h.1)) {
                    return Some(format!("{l}: expected {expect:?}, got {have:?}"));
                }
            }
            None
        }
    }
}

fn check_range(ev: &Eval, got: &BTreeMap<Labels, Vec<(i64, f64)>>) -> Option<String> {
    let (start, _, step) = ev.range;
    let mut want: BTreeMap<&Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for e in &ev.expected {
        match e {
            Expected::Series(l, points) => {
                let v = points
                    .iter()
                    .enumerate()
                    .filter_map(|(k, p)| match p {
                        Point::Value(v) => Some((start + k as i64 * step, *v)),
                        _ => None,
                    })
                    .collect();
                want.insert(l, v);
            }
            Expected::Scalar(_) => return Some("a scalar expectation for a range query".into()),
        }
    }
    if want.len() != got.len() {
        return Some(format!(
            "expected {} series, got {}: {:?}",
            want.len(),
            got.len(),
            got.keys().collect::<Vec<_>>()
        ));
    }
    for (l, expect) in want {
        let Some(have) = got.get(l) else {
            return Some(format!("{l} missing"));
        };
        if expect.len() != have.len() || expect.iter().zip(have).any(|(e, h)| e.0 != h.0 || !close(e.1, h.1)) {
            return Some(format!("{l}: expected {expect:?}, got {have:?}"));
        }
    }
    None
}

#[test]
fn prometheus_promqltest_cases_in_the_subset_give_prometheus_values() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/prometheus/promqltest");
    let mut files: Vec<_> = fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut tally = Tally::default();
    for f in &files {
        run_file(f, &mut tally);
    }
    let skipped: usize = tally.skipped.values().sum();
    println!("promqltest: {} evaluated, {} skipped:", tally.ran, skipped);
    for (why, n) in &tally.skipped {
        println!("  {n:5}  {why}");
    }
    println!("  ({} evaluated cases also expect annotations, which are not checked)", tally.annotations_unchecked);
    assert!(tally.wrong.is_empty(), "{} wrong results:\n{}", tally.wrong.len(), tally.wrong.join("\n"));
    // 486 cases were in the subset when this floor was set; fewer means the subset shrank.
    assert!(tally.ran >= 486, "only {} cases evaluated", tally.ran);
}
