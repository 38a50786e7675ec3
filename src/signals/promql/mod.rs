//! The PromQL subset nightwatch evaluates itself in scrape mode, over the series store.
//!
//! Expressions are parsed with `promql-parser`; [`check_subset`] rejects, by name, anything this
//! evaluator does not implement, so that nothing is ever evaluated wrongly. The semantics follow
//! Prometheus 3.x (left-open ranges, staleness markers, counter-reset handling and extrapolation
//! of `rate`), and are checked against Prometheus's own `promqltest` files.

mod eval;
mod functions;
mod subset;

use std::fmt;

pub use eval::Evaluator;
pub use functions::almost_equal;
pub use promql_parser::parser::Expr;
pub use subset::{
    Unsupported, check_subset, functions_used, needs_two_samples, offset_ms, selector_matchers, selectors, walk,
    widest_range_ms,
};

use crate::series::{Labels, Sample};

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    pub labels: Labels,
    pub v: f64,
}

/// One series of a range vector: its samples in the range `(start, end]` (milliseconds).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub start: i64,
    pub end: i64,
}

/// The value of an expression at one instant.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Element>),
    Matrix(Vec<RangeSeries>),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}

/// An expression failed to evaluate (the way Prometheus's engine fails a query).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

/// Parses an expression; the error is promql-parser's message.
pub fn parse(expr: &str) -> Result<Expr, String> {
    promql_parser::parser::parse(expr)
}
