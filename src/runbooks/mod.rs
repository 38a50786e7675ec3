//! Runbooks as code: Markdown files with a Mermaid flowchart and fenced step blocks.
//!
//! `file` reads one file, `flowchart` its diagram, `condition` the live conditions bound to
//! decisions and verifications; `library` gathers the shipped runbooks and the config's, and
//! `lint` checks them against the config.

pub mod condition;
pub mod file;
pub mod flowchart;
pub mod layout;
pub mod library;
pub mod lint;
pub mod outline;

pub use file::Runbook;
pub use library::{FileProblem, Library};
