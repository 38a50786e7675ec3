//! The flowchart model of a runbook: the subset of Mermaid flowchart syntax the seed diagrams
//! use, parsed with line numbers so that a linter can point at the place.
//!
//! Accepted: a header `graph TD` / `flowchart LR` (TD, TB, BT, LR, RL); nodes `A[box]` (an
//! action), `B{decision}`, `C(round)` (a start or end); edges `A --> B` and `A -->|label| B`,
//! chained (`A --> B --> C`), with a node defined where it is first written; blank lines and
//! `%%` comments. Mermaid styling lines (`classDef`, `class`, `style`, `linkStyle`, `click`) are
//! skipped, so diagrams that use them still load. Anything else is an error naming its line.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    TopDown,
    BottomUp,
    LeftRight,
    RightLeft,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[text]`: something to do.
    Action,
    /// `{text}`: a question with labelled ways out.
    Decision,
    /// `(text)`: a start or an end.
    Round,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub label: String,
    pub shape: Shape,
    /// Where the node got its label (1-based, in the whole file).
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: Option<String>,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flowchart {
    pub direction: Direction,
    /// In order of definition.
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A problem in a diagram, at a line of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

impl Flowchart {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The edges out of `id`, in the order written.
    pub fn out_edges<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.from == id)
    }

    /// Nodes nothing points to: where the runbook starts.
    pub fn roots(&self) -> Vec<&Node> {
        self.nodes.iter().filter(|n| !self.edges.iter().any(|e| e.to == n.id)).collect()
    }
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// A node as written in a statement: its id, its shape and label if given there, and the rest
/// of the statement.
type NodeRef<'a> = (&'a str, Option<(Shape, String)>, &'a str);

/// A node reference with an optional shape: `Id`, `Id[text]`, `Id{text}`, `Id(text)`.
fn node_ref(s: &str) -> Result<NodeRef<'_>, String> {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_id_char(c)).unwrap_or(s.len());
    let id = &s[..end];
    // `-` is an id character, but an id cannot end in the dashes of an arrow.
    let id = id.trim_end_matches('-');
    if id.is_empty() {
        return Err(format!("expected a node id at {:?}", s.chars().take(20).collect::<String>()));
    }
    let rest = &s[id.len()..];
    let (shape, close) = match rest.chars().next() {
        Some('[') => (Shape::Action, ']'),
        Some('{') => (Shape::Decision, '}'),
        Some('(') => (Shape::Round, ')'),
        _ => return Ok((id, None, rest)),
    };
    let body = &rest[1..];
    let end = body.find(close).ok_or_else(|| format!("node {id}: missing the closing {close:?}"))?;
    let mut label = body[..end].trim();
    // Mermaid lets a label be quoted: A["text with [brackets]"].
    if label.len() >= 2 && label.starts_with('"') && label.ends_with('"') {
        label = &label[1..label.len() - 1];
    }
    if label.is_empty() {
        return Err(format!("node {id} has an empty label"));
    }
    Ok((id, Some((shape, label.to_owned())), &body[end + close.len_utf8()..]))
}

/// An arrow `-->` or `-->|label|` at the start of `s` (after spaces), and the rest.
fn arrow(s: &str) -> Option<(Option<String>, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix("-->")?;
    if let Some(r) = rest.strip_prefix('|') {
        let end = r.find('|')?;
        let label = r[..end].trim();
        return Some(((!label.is_empty()).then(|| label.to_owned()), &r[end + 1..]));
    }
    Some((None, rest))
}

/// Parses the text of a ```` ```mermaid ```` block whose first line is line `first_line` of
/// the file. Every problem is reported, each at its line.
pub fn parse(text: &str, first_line: usize) -> Result<Flowchart, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut direction = None;
    let mut nodes: Vec<Node> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut edges = Vec::new();
    // Ids used in edges, with the first line that used them.
    let mut used: Vec<(String, usize)> = Vec::new();
    for (k, raw) in text.lines().enumerate() {
        let line = first_line + k;
        let l = raw.trim().trim_end_matches(';').trim_end();
        if l.is_empty() || l.starts_with("%%") {
            continue;
        }
        if direction.is_none() {
            let mut words = l.split_whitespace();
            let kind = words.next();
            let dir = words.next();
            direction = match (kind, dir) {
                (Some("graph" | "flowchart"), Some("TD" | "TB")) => Some(Direction::TopDown),
                (Some("graph" | "flowchart"), Some("BT")) => Some(Direction::BottomUp),
                (Some("graph" | "flowchart"), Some("LR")) => Some(Direction::LeftRight),
                (Some("graph" | "flowchart"), Some("RL")) => Some(Direction::RightLeft),
                (Some("graph" | "flowchart"), None) => Some(Direction::TopDown),
                _ => {
                    problems.push(Problem {
                        line,
                        message: format!("a flowchart starts with `graph TD` (or LR, BT, RL), not {l:?}"),
                    });
                    return Err(problems);
                }
            };
            continue;
        }
        let first_word = l.split_whitespace().next().unwrap_or("");
        if matches!(first_word, "classDef" | "class" | "style" | "linkStyle" | "click") {
            continue;
        }
        if matches!(first_word, "subgraph" | "end") {
            problems.push(Problem { line, message: "subgraphs are not supported in runbook flowcharts".into() });
            continue;
        }
        let mut chain: Vec<(String, Option<String>)> = Vec::new(); // (node, label of the edge into it)
        let mut rest = l;
        let mut pending_label: Option<String> = None;
        let mut bad = None;
        loop {
            match node_ref(rest) {
                Ok((id, shape, r)) => {
                    if let Some((shape, label)) = shape {
                        match index.get(id) {
                            Some(&i) if nodes[i].label != label || nodes[i].shape != shape => {
                                bad = Some(format!(
                                    "node {id} is defined again differently (first at line {})",
                                    nodes[i].line
                                ));
                                break;
                            }
                            Some(_) => {}
                            None => {
                                index.insert(id.to_owned(), nodes.len());
                                nodes.push(Node { id: id.to_owned(), label, shape, line });
                            }
                        }
                    }
                    chain.push((id.to_owned(), pending_label.take()));
                    rest = r;
                }
                Err(e) => {
                    bad = Some(e);
                    break;
                }
            }
            if rest.trim().is_empty() {
                break;
            }
            match arrow(rest) {
                Some((label, r)) => {
                    pending_label = label;
                    rest = r;
                }
                None => {
                    bad = Some(format!(
                        "expected `-->` or `-->|label|` before {:?}",
                        rest.trim().chars().take(20).collect::<String>()
                    ));
                    break;
                }
            }
        }
        if let Some(message) = bad {
            problems.push(Problem { line, message });
            continue;
        }
        for w in chain.windows(2) {
            edges.push(Edge { from: w[0].0.clone(), to: w[1].0.clone(), label: w[1].1.clone(), line });
        }
        if chain.len() > 1 {
            for (id, _) in &chain {
                if !used.iter().any(|(u, _)| u == id) {
                    used.push((id.clone(), line));
                }
            }
        }
    }
    let Some(direction) = direction else {
        problems.push(Problem { line: first_line, message: "the mermaid block is empty".into() });
        return Err(problems);
    };
    for (id, line) in used {
        if !index.contains_key(&id) {
            problems
                .push(Problem { line, message: format!("edge to undefined node {id} (give it a label: {id}[…])") });
        }
    }
    for n in &nodes {
        if n.shape == Shape::Decision {
            let outs: Vec<&Edge> = edges.iter().filter(|e| e.from == n.id).collect();
            if outs.len() > 1 && outs.iter().any(|e| e.label.is_none()) {
                problems.push(Problem {
                    line: n.line,
                    message: format!("decision {} has ways out without a label (use -->|yes| …)", n.id),
                });
            }
        }
    }
    if problems.is_empty() { Ok(Flowchart { direction, nodes, edges }) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: &str = "graph TD
    Start[Impossible timestamps in logs?] --> Check[Check max clock skew]
    Check --> High{Skew > 500ms?}
    High -->|Yes| Sync[Force NTP sync all nodes]
    High -->|No| Drift{Drift rate > 1ms/min?}
    Drift -->|Yes| NTP[Check NTP config]
    Drift -->|No| App[Check app time handling]
    
    Sync --> Verify[Verify sync worked]
    NTP --> Fix[Fix NTP servers]
    App --> Code[Fix time.now() usage]
";

    #[test]
    fn the_seed_clock_skew_diagram_parses_unchanged() {
        let f = parse(CLOCK, 10).expect("parses");
        assert_eq!(f.direction, Direction::TopDown);
        assert_eq!(f.nodes.len(), 10);
        assert_eq!(f.edges.len(), 9);
        let high = f.node("High").expect("High");
        assert_eq!((high.shape, high.label.as_str(), high.line), (Shape::Decision, "Skew > 500ms?", 12));
        let outs: Vec<(&str, Option<&str>)> =
            f.out_edges("High").map(|e| (e.to.as_str(), e.label.as_deref())).collect();
        assert_eq!(outs, vec![("Sync", Some("Yes")), ("Drift", Some("No"))]);
        assert_eq!(f.node("Code").map(|n| n.label.as_str()), Some("Fix time.now() usage"), "parentheses inside a box");
        assert_eq!(f.roots().iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), vec!["Start"]);
    }

    #[test]
    fn the_other_two_seed_diagrams_parse_unchanged() {
        let dup = "graph TD
    Dup[Duplicate operations detected] --> Search[Search by idempotency key]
    Search --> Found{Key found?}
    Found -->|No| Missing[Client not sending keys]
    Found -->|Yes| Cache{In cache?}
    Cache -->|No| TTL[Cache TTL too short]
    Cache -->|Yes| Logic[App logic bug]
    
    Missing --> Enforce[Enforce keys at gateway]
    TTL --> Increase[Increase TTL to 48h]
    Logic --> Fix[Fix duplicate processing]
";
        let storm = "graph TD
    Storm[Timeout storm alert] --> Identify[Find longest hop]
    Identify --> Service{Which service?}
    Service -->|Database| DB[Check DB locks/load]
    Service -->|External| External[Check 3rd party status]
    Service -->|Internal| Internal[Check service health]
    
    DB --> Scale[Scale read replicas]
    External --> CB[Open circuit breaker]
    Internal --> Budget[Adjust timeout budget]
";
        let d = parse(dup, 1).expect("duplicates diagram");
        assert_eq!((d.nodes.len(), d.edges.len()), (10, 9));
        let t = parse(storm, 1).expect("timeout storm diagram");
        assert_eq!((t.nodes.len(), t.edges.len()), (9, 8));
        assert_eq!(t.out_edges("Service").count(), 3, "a decision with three labelled ways out");
    }

    #[test]
    fn chains_round_nodes_comments_and_styling() {
        let f = parse(
            "flowchart LR\n%% a comment\nA(Start) --> B[Do it] -->|done| C(End);\nclassDef hot fill:#f00\nstyle A fill:#fff\n",
            1,
        )
        .expect("parses");
        assert_eq!(f.direction, Direction::LeftRight);
        assert_eq!(f.edges.len(), 2);
        assert_eq!(f.edges[1].label.as_deref(), Some("done"));
        assert_eq!(f.node("A").map(|n| n.shape), Some(Shape::Round));
    }

    #[test]
    fn problems_name_their_line() {
        let e = parse("graph TD\nA[Start] --> B\n", 5).expect_err("B has no label");
        assert_eq!(e, vec![Problem { line: 6, message: "edge to undefined node B (give it a label: B[…])".into() }]);
        let e = parse("sequenceDiagram\nA->>B: hi\n", 1).expect_err("not a flowchart");
        assert_eq!(e[0].line, 1);
        let e = parse("graph TD\nA[x] -> B[y]\nC{unclosed --> D[y]\n", 1).expect_err("bad arrows");
        assert_eq!(e.iter().map(|p| p.line).collect::<Vec<_>>(), vec![2, 3]);
        let e = parse("graph TD\nA{ok?} --> B[y]\nA --> C[z]\n", 1).expect_err("unlabelled decision");
        assert!(e[0].message.contains("without a label"), "{e:?}");
        let e = parse("graph TD\nA[x] --> B[y]\nA[z] --> B\n", 1).expect_err("redefined");
        assert!(e[0].message.contains("defined again differently (first at line 2)"), "{e:?}");
        assert!(parse("", 3).is_err());
    }

    #[test]
    fn mutations_never_panic() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let bytes = CLOCK.as_bytes();
        for _ in 0..5000 {
            let mut b = bytes.to_vec();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x as usize) % b.len();
                match x % 3 {
                    0 => b[at] = b"[]{}()|->% \nAx"[(x >> 8) as usize % 14],
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, b"[]{}|-"[(x >> 8) as usize % 6]),
                }
            }
            let _ = parse(&String::from_utf8_lossy(&b), 1);
        }
    }
}
