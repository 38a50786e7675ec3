//! A flowchart as a top-down outline: every node once, in walking order from the roots, each
//! under the node that leads to it, with the edge's label. Readable in any width, so it is
//! what `runbook show` prints and what the pane falls back to when the graph does not fit.

use super::flowchart::{Flowchart, Shape};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlineLine {
    pub depth: usize,
    /// The label of the edge that leads here (`Yes`, `Database`), if any.
    pub via: Option<String>,
    pub node: String,
    pub label: String,
    pub shape: Shape,
    /// This node was already listed higher up (a join): only a reference.
    pub again: bool,
}

pub fn outline(f: &Flowchart) -> Vec<OutlineLine> {
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut roots: Vec<&str> = f.roots().iter().map(|n| n.id.as_str()).collect();
    if roots.is_empty() {
        // A cycle with no entry: start at the first node written.
        roots.extend(f.nodes.first().map(|n| n.id.as_str()));
    }
    for r in roots {
        walk(f, r, None, 0, &mut seen, &mut out);
    }
    // Nodes only reachable through a cycle from a node not walked: list them at the top level.
    for n in &f.nodes {
        if !seen.contains(&n.id.as_str()) {
            walk(f, &n.id, None, 0, &mut seen, &mut out);
        }
    }
    out
}

fn walk<'a>(
    f: &'a Flowchart,
    id: &'a str,
    via: Option<&str>,
    depth: usize,
    seen: &mut Vec<&'a str>,
    out: &mut Vec<OutlineLine>,
) {
    let Some(node) = f.node(id) else { return };
    let again = seen.contains(&id);
    out.push(OutlineLine {
        depth,
        via: via.map(str::to_owned),
        node: id.to_owned(),
        label: node.label.clone(),
        shape: node.shape,
        again,
    });
    if again {
        return;
    }
    seen.push(id);
    for e in f.out_edges(id) {
        walk(f, &e.to, e.label.as_deref(), depth + 1, seen, out);
    }
}

/// An outline line as plain text: `  Yes → [Force NTP sync]`, decisions in `<…?>`, starts and
/// ends in `(…)`.
pub fn plain(l: &OutlineLine) -> String {
    let body = match l.shape {
        Shape::Action => format!("[{}]", l.label),
        Shape::Decision => format!("<{}>", l.label),
        Shape::Round => format!("({})", l.label),
    };
    let via = l.via.as_ref().map_or_else(String::new, |v| format!("{v} → "));
    let again = if l.again { "  (see above)" } else { "" };
    format!("{}{via}{body}{again}", "  ".repeat(l.depth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbooks::flowchart::parse;

    #[test]
    fn every_node_once_under_what_leads_to_it() {
        let f = parse(
            "graph TD\n A[Start] --> B{Skew?}\n B -->|Yes| C[Sync]\n B -->|No| D[Look]\n C --> E[Verify]\n D --> E\n",
            1,
        )
        .expect("parses");
        let lines: Vec<String> = outline(&f).iter().map(plain).collect();
        assert_eq!(
            lines,
            [
                "[Start]",
                "  <Skew?>",
                "    Yes → [Sync]",
                "      [Verify]",
                "    No → [Look]",
                "      [Verify]  (see above)",
            ]
        );
    }

    #[test]
    fn cycles_end() {
        let f = parse("graph TD\n A[a] --> B[b]\n B --> A\n", 1).expect("parses");
        assert_eq!(outline(&f).len(), 3);
    }
}
