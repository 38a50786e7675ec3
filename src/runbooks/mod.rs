//! Runbooks as code. So far: the flowchart model (the Mermaid subset of the seed diagrams).
//! The runbook file (front matter, steps), the linter and the pane come with the rest of the
//! runbooks issue.

pub mod flowchart;
