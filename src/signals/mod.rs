//! Signal evaluation: PromQL over the store (or passed through to a server), and thresholds.

pub mod promql;
