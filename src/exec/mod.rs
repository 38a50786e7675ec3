//! Confirmed-step execution: argv building, value checks, timeouts, process groups.

pub mod template;
