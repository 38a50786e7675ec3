//! Intake: getting samples out of metrics endpoints and servers.

pub mod exposition;
pub mod health;
pub mod http;
pub mod prometheus;
pub mod scheduler;
pub mod scrape;
pub mod targets;
