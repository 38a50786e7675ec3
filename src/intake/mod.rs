//! Intake: getting samples out of metrics endpoints and servers.

pub mod exposition;
