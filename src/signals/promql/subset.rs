//! What the local evaluator supports, and what expressions need from the store.

use std::fmt;
use std::time::Duration;

use promql_parser::label::Matcher;
use promql_parser::parser::token::{T_AVG, T_BOTTOMK, T_COUNT, T_GROUP, T_MAX, T_MIN, T_SUM, T_TOPK};
use promql_parser::parser::{Expr, Offset, VectorSelector};

/// The functions [`super::Evaluator`] implements.
pub const FUNCTIONS: &[&str] = &[
    // Range vectors.
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "resets",
    "changes",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "present_over_time",
    // Instant vectors and scalars.
    "abs",
    "ceil",
    "floor",
    "sqrt",
    "exp",
    "ln",
    "log2",
    "log10",
    "sgn",
    "clamp",
    "clamp_min",
    "clamp_max",
    "scalar",
    "vector",
    "time",
    "histogram_quantile",
];

/// A construct outside the subset, named for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not supported by the local evaluator", self.0)
    }
}

/// Ok if the local evaluator implements everything in `expr`.
pub fn check_subset(expr: &Expr) -> Result<(), Unsupported> {
    let no = |what: String| Err(Unsupported(what));
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Paren(p) => check_subset(&p.expr),
        Expr::Unary(u) => check_subset(&u.expr),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Subquery(_) => no("a subquery".into()),
        Expr::Extension(_) => no("an extension expression".into()),
        Expr::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return no(format!("function {}()", c.func.name));
            }
            c.args.args.iter().try_for_each(|a| check_subset(a))
        }
        Expr::Aggregate(a) => {
            let id = a.op.id();
            if ![T_SUM, T_AVG, T_COUNT, T_MIN, T_MAX, T_GROUP, T_TOPK, T_BOTTOMK].contains(&id) {
                return no(format!("aggregation {}", a.op));
            }
            if let Some(p) = &a.param {
                check_subset(p)?;
            }
            check_subset(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                use promql_parser::parser::VectorMatchCardinality as Card;
                if matches!(m.card, Card::ManyToOne(_) | Card::OneToMany(_)) {
                    return no("group_left / group_right".into());
                }
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return no("fill modifiers".into());
                }
            }
            check_subset(&b.lhs)?;
            check_subset(&b.rhs)
        }
    }
}

fn check_selector(vs: &VectorSelector) -> Result<(), Unsupported> {
    if vs.at.is_some() {
        return Err(Unsupported("the @ modifier".into()));
    }
    if !vs.matchers.or_matchers.is_empty() {
        return Err(Unsupported("\"or\" inside a selector".into()));
    }
    Ok(())
}

/// The matchers of a selector, its metric name included.
pub fn selector_matchers(vs: &VectorSelector) -> Vec<Matcher> {
    let mut m = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        m.push(Matcher::new(promql_parser::label::MatchOp::Equal, crate::series::METRIC_NAME, name));
    }
    m
}

pub fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => ms(*d),
        Some(Offset::Neg(d)) => -ms(*d),
    }
}

pub(super) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Every selector in an expression, with the matchers it selects by.
pub fn selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    let mut out = Vec::new();
    walk(expr, &mut |e| match e {
        Expr::VectorSelector(vs) => out.push(selector_matchers(vs)),
        Expr::MatrixSelector(ms) => out.push(selector_matchers(&ms.vs)),
        _ => {}
    });
    out
}

/// The names of the functions an expression calls.
pub fn functions_used(expr: &Expr) -> Vec<&'static str> {
    let mut out = Vec::new();
    walk(expr, &mut |e| {
        if let Expr::Call(c) = e {
            out.push(c.func.name);
        }
    });
    out
}

/// Whether an expression needs two samples of a series to say anything (a rate or a delta).
pub fn needs_two_samples(expr: &Expr) -> bool {
    functions_used(expr).iter().any(|f| matches!(*f, "rate" | "irate" | "increase" | "delta" | "idelta"))
}

/// How far back from the evaluation time an expression reads, in milliseconds, given the
/// lookback of instant selectors: what the store must retain.
pub fn widest_range_ms(expr: &Expr, lookback_ms: i64) -> i64 {
    let mut widest = 0;
    walk(expr, &mut |e| {
        let w = match e {
            Expr::VectorSelector(vs) => lookback_ms + offset_ms(&vs.offset).max(0),
            Expr::MatrixSelector(ms) => ms_range(ms) + offset_ms(&ms.vs.offset).max(0),
            _ => 0,
        };
        widest = widest.max(w);
    });
    widest
}

fn ms_range(m: &promql_parser::parser::MatrixSelector) -> i64 {
    ms(m.range)
}

/// Calls `f` on every node of an expression, outermost first.
pub fn walk(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match expr {
        Expr::Paren(p) => walk(&p.expr, f),
        Expr::Unary(u) => walk(&u.expr, f),
        Expr::Subquery(s) => walk(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, f)),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                walk(p, f);
            }
            walk(&a.expr, f);
        }
        Expr::Binary(b) => {
            walk(&b.lhs, f);
            walk(&b.rhs, f);
        }
        _ => {}
    }
}
