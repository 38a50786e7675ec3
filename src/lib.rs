//! nightwatch: a terminal incident cockpit for the async health of distributed systems.
//!
//! See `docs/architecture.md` for how the modules fit together.

pub mod alerts;
pub mod app;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod drill;
pub mod exec;
pub mod incident;
pub mod intake;
pub mod logging;
pub mod report;
pub mod runbooks;
pub mod series;
pub mod signals;
pub mod sim;
pub mod text;
pub mod ui;
