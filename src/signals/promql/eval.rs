//! The evaluator: one expression at one instant over a [`Storage`].

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Expr, LabelModifier, MatrixSelector, VectorMatchCardinality, VectorSelector,
};

use super::subset::{ms, offset_ms, selector_matchers};
use super::{Element, EvalError, RangeSeries, Value, functions};
use crate::series::{Labels, Storage, is_stale};

type Result<T> = std::result::Result<T, EvalError>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(EvalError(msg.into()))
}

/// Evaluates expressions at given instants over a storage.
pub struct Evaluator<'s> {
    storage: &'s dyn Storage,
    lookback_ms: i64,
    warming_up: Cell<bool>,
}

impl<'s> Evaluator<'s> {
    /// `lookback_ms` is how far back an instant selector looks for a sample (Prometheus: 5m).
    pub fn new(storage: &'s dyn Storage, lookback_ms: i64) -> Self {
        Evaluator { storage, lookback_ms, warming_up: Cell::new(false) }
    }

    /// Whether a range read since the last call had to be clamped to the start of observation.
    pub fn take_warming_up(&self) -> bool {
        self.warming_up.replace(false)
    }

    /// The value of `expr` at `t` (milliseconds since the epoch).
    pub fn eval(&self, expr: &Expr, t: i64) -> Result<Value> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(v) => {
                    let out: Vec<Element> =
                        v.into_iter().map(|e| Element { labels: e.labels.without_name(), v: -e.v }).collect();
                    unique(&out)?;
                    Ok(Value::Vector(out))
                }
                other => err(format!("unary minus on a {}", other.type_name())),
            },
            Expr::VectorSelector(vs) => self.select_instant(vs, t).map(Value::Vector),
            Expr::MatrixSelector(ms) => self.select_range(ms, t).map(Value::Matrix),
            Expr::Call(c) => {
                let out = functions::call(self, c.func.name, &c.args.args, t)?;
                if let Value::Vector(v) = &out {
                    unique(v)?;
                }
                Ok(out)
            }
            Expr::Aggregate(a) => self.aggregate(a, t).map(Value::Vector),
            Expr::Binary(b) => self.binary(b, t),
            Expr::Subquery(_) => err("subqueries are not supported"),
            Expr::Extension(_) => err("extension expressions are not supported"),
        }
    }

    pub(super) fn eval_vector(&self, expr: &Expr, t: i64) -> Result<Vec<Element>> {
        match self.eval(expr, t)? {
            Value::Vector(v) => Ok(v),
            other => err(format!("expected an instant vector, got a {}", other.type_name())),
        }
    }

    pub(super) fn eval_scalar(&self, expr: &Expr, t: i64) -> Result<f64> {
        match self.eval(expr, t)? {
            Value::Scalar(v) => Ok(v),
            other => err(format!("expected a scalar, got a {}", other.type_name())),
        }
    }

    fn select_instant(&self, vs: &VectorSelector, t: i64) -> Result<Vec<Element>> {
        if vs.at.is_some() {
            return err("the @ modifier is not supported");
        }
        let at = t - offset_ms(&vs.offset);
        let lookback = self.lookback_ms;
        let mut out = Vec::new();
        self.storage.for_each(&selector_matchers(vs), &mut |s| {
            // Usually the newest sample is the one: no search needed.
            let last = match s.samples.last() {
                Some(x) if x.t <= at => Some(*x),
                _ => s.samples.partition_point(|x| x.t <= at).checked_sub(1).map(|i| s.samples[i]),
            };
            if let Some(last) = last
                && last.t > at - lookback
                && !is_stale(last.v)
            {
                out.push(Element { labels: s.labels.clone(), v: last.v });
            }
        });
        Ok(out)
    }

    pub(super) fn select_range(&self, m: &MatrixSelector, t: i64) -> Result<Vec<RangeSeries>> {
        if m.vs.at.is_some() {
            return err("the @ modifier is not supported");
        }
        let end = t - offset_ms(&m.vs.offset);
        let start = end - ms(m.range);
        let mut out = Vec::new();
        for s in self.storage.select(&selector_matchers(&m.vs)) {
            let mut from = start;
            if let Some(observed) = s.observed_from
                && observed > start
            {
                from = observed - 1;
                self.warming_up.set(true);
            }
            let lo = s.samples.partition_point(|x| x.t <= from);
            let hi = s.samples.partition_point(|x| x.t <= end);
            let samples: Vec<_> = s.samples[lo..hi.max(lo)].iter().filter(|x| !is_stale(x.v)).copied().collect();
            if samples.is_empty() {
                continue;
            }
            out.push(RangeSeries { labels: s.labels.clone(), samples, start: from, end });
        }
        Ok(out)
    }

    // ---- aggregation ----

    fn aggregate(&self, a: &AggregateExpr, t: i64) -> Result<Vec<Element>> {
        let op = a.op.id();
        let k = match (op, &a.param) {
            (token::T_TOPK | token::T_BOTTOMK, Some(p)) => {
                let v = self.eval_scalar(p, t)?;
                if v.is_nan() {
                    return err("Parameter value is NaN");
                }
                Some(if v < 1.0 {
                    0
                } else if v >= usize::MAX as f64 {
                    usize::MAX
                } else {
                    v as usize
                })
            }
            (token::T_TOPK | token::T_BOTTOMK, None) => {
                return err("topk/bottomk need a parameter");
            }
            (token::T_SUM | token::T_AVG | token::T_COUNT | token::T_MIN | token::T_MAX | token::T_GROUP, _) => None,
            _ => return err(format!("aggregation {} is not supported", a.op)),
        };
        let input = self.eval_vector(&a.expr, t)?;
        let key = |l: &Labels| -> Labels {
            match &a.modifier {
                None => Labels::empty(),
                Some(LabelModifier::Include(list)) => l.keep_only(&list.labels),
                Some(LabelModifier::Exclude(list)) => l.without(&list.labels).without_name(),
            }
        };
        if let Some(k) = k {
            return Ok(top_k(input, k, op == token::T_TOPK, key));
        }
        if a.modifier.is_none() {
            // One group: no key to compute or hash.
            let mut it = input.into_iter();
            let Some(first) = it.next() else { return Ok(Vec::new()) };
            let mut g = Group::new(first.v);
            for e in it {
                g.add(op, e.v);
            }
            return Ok(vec![Element { labels: Labels::empty(), v: g.result(op) }]);
        }
        let mut index: HashMap<Labels, usize, foldhash::fast::RandomState> = HashMap::default();
        let mut groups: Vec<(Labels, Group)> = Vec::new();
        for e in input {
            let g = key(&e.labels);
            match index.get(&g) {
                Some(&i) => groups[i].1.add(op, e.v),
                None => {
                    index.insert(g.clone(), groups.len());
                    groups.push((g, Group::new(e.v)));
                }
            }
        }
        Ok(groups.into_iter().map(|(labels, g)| Element { labels, v: g.result(op) }).collect())
    }

    // ---- binary operators ----

    fn binary(&self, b: &BinaryExpr, t: i64) -> Result<Value> {
        let op = b.op.id();
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        let modifier = b.modifier.as_ref();
        let return_bool = modifier.is_some_and(|m| m.return_bool);
        let comparison = b.op.is_comparison_operator();
        match (lhs, rhs) {
            (Value::Scalar(l), Value::Scalar(r)) => {
                let (v, keep) = elem_op(op, l, r)?;
                if comparison {
                    if !return_bool {
                        return err("comparisons between scalars must use bool");
                    }
                    return Ok(Value::Scalar(if keep { 1.0 } else { 0.0 }));
                }
                Ok(Value::Scalar(v))
            }
            (Value::Vector(v), Value::Scalar(s)) => self.vector_scalar(op, v, s, false, return_bool).map(Value::Vector),
            (Value::Scalar(s), Value::Vector(v)) => self.vector_scalar(op, v, s, true, return_bool).map(Value::Vector),
            (Value::Vector(l), Value::Vector(r)) => {
                let matching = modifier.and_then(|m| m.matching.as_ref());
                let out = if b.op.is_set_operator() {
                    set_op(op, l, r, matching)
                } else {
                    if let Some(m) = modifier
                        && !matches!(m.card, VectorMatchCardinality::OneToOne)
                    {
                        return err("group_left / group_right are not supported");
                    }
                    one_to_one(op, l, r, matching, return_bool, comparison)?
                };
                unique(&out)?;
                Ok(Value::Vector(out))
            }
            (l, r) => err(format!("binary operator between a {} and a {}", l.type_name(), r.type_name())),
        }
    }

    fn vector_scalar(
        &self,
        op: TokenId,
        v: Vec<Element>,
        s: f64,
        scalar_left: bool,
        return_bool: bool,
    ) -> Result<Vec<Element>> {
        let comparison = is_comparison(op);
        let mut out = Vec::with_capacity(v.len());
        for e in v {
            let (l, r) = if scalar_left { (s, e.v) } else { (e.v, s) };
            let (mut value, mut keep) = elem_op(op, l, r)?;
            if comparison && scalar_left {
                value = e.v; // a filter keeps the vector's own value
            }
            if return_bool {
                value = if keep { 1.0 } else { 0.0 };
                keep = true;
            }
            if keep {
                let labels = if !comparison || return_bool { e.labels.without_name() } else { e.labels };
                out.push(Element { labels, v: value });
            }
        }
        unique(&out)?;
        Ok(out)
    }
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, token::T_EQLC | token::T_NEQ | token::T_GTR | token::T_LSS | token::T_GTE | token::T_LTE)
}

/// One binary operation on two floats: the value, and whether a comparison holds.
fn elem_op(op: TokenId, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_MOD => (l % r, true),
        token::T_POW => (l.powf(r), true),
        token::T_ATAN2 => (l.atan2(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        other => {
            return err(format!("operator {} is not supported", token::TokenType::new(other)));
        }
    })
}

/// The matching signature of a series: the `on` labels, or every label but the metric name and
/// the `ignoring` ones.
fn signature(l: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(list)) => l.keep_only(&list.labels),
        Some(LabelModifier::Exclude(list)) => l.without(&list.labels).without_name(),
        None => l.without_name(),
    }
}

fn one_to_one(
    op: TokenId,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    matching: Option<&LabelModifier>,
    return_bool: bool,
    comparison: bool,
) -> Result<Vec<Element>> {
    let mut right: HashMap<Labels, Element> = HashMap::with_capacity(rhs.len());
    for r in rhs {
        let sig = signature(&r.labels, matching);
        if let Some(dup) = right.get(&sig) {
            return err(format!(
                "found duplicate series for the match group {} on the right hand-side of the operation: [{}, {}];\
                 many-to-many matching not allowed: matching labels must be unique on one side",
                sig, r.labels, dup.labels
            ));
        }
        right.insert(sig, r);
    }
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for l in lhs {
        let sig = signature(&l.labels, matching);
        let Some(r) = right.get(&sig) else { continue };
        // Checked before filtering, as Prometheus does, so that a comparison that filters the
        // duplicates away still reports them.
        if !matched.insert(sig) {
            return err("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
        }
        let (mut v, keep) = elem_op(op, l.v, r.v)?;
        if return_bool {
            v = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        let mut labels = if !comparison || return_bool { l.labels.without_name() } else { l.labels };
        match matching {
            Some(LabelModifier::Include(list)) => labels = labels.keep_only(&list.labels),
            Some(LabelModifier::Exclude(list)) => labels = labels.without(&list.labels),
            None => {}
        }
        out.push(Element { labels, v });
    }
    Ok(out)
}

fn set_op(op: TokenId, lhs: Vec<Element>, rhs: Vec<Element>, matching: Option<&LabelModifier>) -> Vec<Element> {
    match op {
        token::T_LAND => {
            if lhs.is_empty() || rhs.is_empty() {
                return Vec::new();
            }
            let sigs: HashSet<Labels> = rhs.iter().map(|r| signature(&r.labels, matching)).collect();
            lhs.into_iter().filter(|l| sigs.contains(&signature(&l.labels, matching))).collect()
        }
        token::T_LOR => {
            if lhs.is_empty() || rhs.is_empty() {
                return if lhs.is_empty() { rhs } else { lhs };
            }
            let sigs: HashSet<Labels> = lhs.iter().map(|l| signature(&l.labels, matching)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|r| !sigs.contains(&signature(&r.labels, matching))));
            out
        }
        _ => {
            // unless
            let sigs: HashSet<Labels> = rhs.iter().map(|r| signature(&r.labels, matching)).collect();
            lhs.into_iter().filter(|l| !sigs.contains(&signature(&l.labels, matching))).collect()
        }
    }
}

/// A result vector may not hold the same label set twice (after a function or an operator
/// dropped the metric name, say).
fn unique(v: &[Element]) -> Result<()> {
    let mut seen = HashSet::with_capacity(v.len());
    for e in v {
        if !seen.insert(&e.labels) {
            return err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

/// The running state of one aggregation group (sum with Kahan compensation, switching to an
/// incremental mean for `avg` if the sum would overflow, as Prometheus does).
struct Group {
    value: f64,
    kahan: f64,
    count: f64,
    mean: f64,
    incremental: bool,
}

impl Group {
    fn new(v: f64) -> Self {
        Group { value: v, kahan: 0.0, count: 1.0, mean: v, incremental: false }
    }

    fn add(&mut self, op: TokenId, v: f64) {
        self.count += 1.0;
        match op {
            token::T_SUM => (self.value, self.kahan) = functions::kahan_inc(v, self.value, self.kahan),
            token::T_AVG => {
                if !self.incremental {
                    let (sum, c) = functions::kahan_inc(v, self.value, self.kahan);
                    if !sum.is_infinite() {
                        (self.value, self.kahan) = (sum, c);
                        return;
                    }
                    self.incremental = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.kahan) = functions::kahan_inc(v / self.count, q * self.mean, q * self.kahan);
            }
            token::T_MAX if self.value < v || self.value.is_nan() => self.value = v,
            token::T_MIN if self.value > v || self.value.is_nan() => self.value = v,
            _ => {} // count and group only count; min and max keep what they have
        }
    }

    fn result(&self, op: TokenId) -> f64 {
        match op {
            token::T_SUM => self.value + self.kahan,
            token::T_AVG if self.incremental => self.mean + self.kahan,
            token::T_AVG => (self.value + self.kahan) / self.count,
            token::T_COUNT => self.count,
            token::T_GROUP => 1.0,
            _ => self.value,
        }
    }
}

/// `topk` / `bottomk`: per group a bounded heap, exactly as Prometheus keeps it (the order of
/// ties depends on it), then each group sorted.
fn top_k(input: Vec<Element>, k: usize, top: bool, key: impl Fn(&Labels) -> Labels) -> Vec<Element> {
    if k == 0 {
        return Vec::new();
    }
    // "less" puts the element to evict first at the root: the smallest for topk, the largest
    // for bottomk; NaN is always evicted first.
    let less = |a: &Element, b: &Element| -> bool {
        if a.v.is_nan() {
            return true;
        }
        if top { a.v < b.v } else { a.v > b.v }
    };
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut heaps: Vec<Vec<Element>> = Vec::new();
    for e in input {
        let g = key(&e.labels);
        let i = *index.entry(g).or_insert_with(|| {
            heaps.push(Vec::new());
            heaps.len() - 1
        });
        let h = &mut heaps[i];
        if h.len() < k {
            h.push(e);
            let n = h.len() - 1;
            heap_up(h, n, &less);
        } else {
            let replace = if top { h[0].v < e.v } else { h[0].v > e.v } || (h[0].v.is_nan() && !e.v.is_nan());
            if replace {
                h[0] = e;
                if k > 1 {
                    let n = h.len();
                    if !heap_down(h, 0, n, &less) {
                        heap_up(h, 0, &less);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for mut h in heaps {
        // Reverse of the heap order: best first, NaN last.
        h.sort_by(|a, b| {
            if less(b, a) {
                std::cmp::Ordering::Less
            } else if less(a, b) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        out.extend(h);
    }
    out
}

fn heap_up(h: &mut [Element], mut j: usize, less: &impl Fn(&Element, &Element) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [Element], i0: usize, n: usize, less: &impl Fn(&Element, &Element) -> bool) -> bool {
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        let j2 = j1 + 1;
        if j2 < n && less(&h[j2], &h[j1]) {
            j = j2;
        }
        if !less(&h[j], &h[i]) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}
