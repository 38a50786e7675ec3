//! The headless commands: each turns arguments into output and an exit code.

pub mod audit;
pub mod chaos;
pub mod check;
pub mod drill;
pub mod eval;
pub mod report;
pub mod runbook;
pub mod scrape;
pub mod sim;
