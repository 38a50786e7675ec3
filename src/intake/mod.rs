//! Intake: getting samples out of metrics endpoints and servers.

pub mod exposition;
pub mod http;
pub mod scrape;
pub mod targets;
