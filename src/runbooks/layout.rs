//! A flowchart drawn top-down in a given width, as a grid of characters: boxes in ranks (an
//! action `┌─┐`, a decision `╔═╗`, a start or end `╭─╮`; ASCII `+-+`, `/-\`, `.-.`), each
//! node's note (a live answer, a step) in its bottom border, and connectors between ranks with
//! the edge's label beside its arrow. Returns None when the drawing does not fit the width or
//! the graph cannot be drawn cleanly (a cycle, crossing buses, a wide character): the caller
//! shows the outline instead, which never cuts words.
//!
//! Ranks are longest paths from the roots; an edge that skips ranks passes through them as a
//! vertical line. Within a rank, nodes are ordered by their parents' positions and placed as
//! close as they fit under them.

use super::flowchart::Shape;

/// An edge: from and to (indices into the nodes) and its label.
pub type GEdge = (usize, usize, Option<String>);

/// A node to draw.
#[derive(Clone, Debug)]
pub struct GNode {
    pub label: String,
    pub note: Option<String>,
    pub shape: Shape,
}

/// Where a node's box is in the drawing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    pub x: usize,
    pub y: usize,
    pub w: usize,
}

/// The drawing: rows of characters (each row `width` long) and each node's box (3 rows high).
#[derive(Clone, Debug)]
pub struct Drawing {
    pub rows: Vec<Vec<char>>,
    pub boxes: Vec<Placed>,
}

impl Drawing {
    /// The columns the drawing uses, from its leftmost to its rightmost mark.
    pub fn used_width(&self) -> usize {
        let left = self.rows.iter().filter_map(|r| r.iter().position(|c| *c != ' ')).min().unwrap_or(0);
        let right = self.rows.iter().filter_map(|r| r.iter().rposition(|c| *c != ' ')).max().unwrap_or(0);
        (right + 1).saturating_sub(left)
    }
}

pub const BOX_HEIGHT: usize = 3;
const GAP: usize = 2;
const CONNECTOR_ROWS: usize = 3;

// Directions of a connector cell.
const UP: u8 = 1;
const DOWN: u8 = 2;
const LEFT: u8 = 4;
const RIGHT: u8 = 8;

/// Every character takes one column: no control characters, combining marks, or East Asian
/// wide and emoji ranges (where a terminal gives two columns, or none, the drawing would
/// shift; such a chart falls back to the outline).
fn narrow(s: &str) -> bool {
    s.chars().all(|c| {
        let u = c as u32;
        !c.is_control()
            && !(0x0300..=0x036F).contains(&u)
            && !(0x1100..=0x115F).contains(&u)
            && !(0x200B..=0x200F).contains(&u)
            && !(0x2E80..=0xA4CF).contains(&u)
            && !(0xAC00..=0xD7A3).contains(&u)
            && !(0xF900..=0xFAFF).contains(&u)
            && !(0xFE00..=0xFE4F).contains(&u)
            && !(0xFF00..=0xFF60).contains(&u)
            && !(0xFFE0..=0xFFE6).contains(&u)
            && u < 0x1F000
    })
}

/// One slot in a rank: a real node, or an edge passing through.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Node(usize),
    /// Edge index passing through this rank.
    Pass(usize),
}

pub fn draw(nodes: &[GNode], edges: &[GEdge], width: usize, ascii: bool) -> Option<Drawing> {
    let n = nodes.len();
    if n == 0 || edges.iter().any(|&(a, b, _)| a >= n || b >= n || a == b) {
        return None;
    }
    if nodes.iter().any(|g| !narrow(&g.label) || g.note.as_deref().is_some_and(|t| !narrow(t)))
        || edges.iter().any(|(_, _, l)| l.as_deref().is_some_and(|t| !narrow(t)))
    {
        return None;
    }
    // Ranks by longest path; a cycle is not drawn.
    let mut indeg = vec![0usize; n];
    for &(_, b, _) in edges {
        indeg[b] += 1;
    }
    let mut rank = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut seen = 0;
    while let Some(u) = queue.pop() {
        seen += 1;
        for &(a, b, _) in edges.iter().filter(|e| e.0 == u) {
            rank[b] = rank[b].max(rank[a] + 1);
            indeg[b] -= 1;
            if indeg[b] == 0 {
                queue.push(b);
            }
        }
    }
    if seen < n {
        return None;
    }
    let ranks = rank.iter().max().copied().unwrap_or(0) + 1;
    // Slots per rank, in order of definition; passes for edges that skip ranks.
    let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); ranks];
    for (i, r) in rank.iter().enumerate() {
        slots[*r].push(Slot::Node(i));
    }
    for (k, &(a, b, _)) in edges.iter().enumerate() {
        for slot in slots.iter_mut().take(rank[b]).skip(rank[a] + 1) {
            slot.push(Slot::Pass(k));
        }
    }
    let slot_width = |s: Slot| match s {
        Slot::Node(i) => box_width(&nodes[i]),
        Slot::Pass(_) => 1,
    };
    // Place rank by rank: each slot wants to sit centred under its parents.
    let mut centre: Vec<Vec<usize>> = Vec::with_capacity(ranks);
    let mut xs: Vec<Vec<usize>> = Vec::with_capacity(ranks);
    for r in 0..ranks {
        let desired: Vec<f64> = slots[r]
            .iter()
            .map(|&s| {
                let parents: Vec<usize> = match s {
                    Slot::Node(i) => edges
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| e.1 == i && r > 0)
                        .filter_map(|(k, e)| parent_centre(&slots[r - 1], &centre[r - 1], e.0, k))
                        .collect(),
                    Slot::Pass(k) if r > 0 => {
                        parent_centre(&slots[r - 1], &centre[r - 1], edges[k].0, k).into_iter().collect()
                    }
                    Slot::Pass(_) => Vec::new(),
                };
                if parents.is_empty() { f64::NAN } else { parents.iter().sum::<usize>() as f64 / parents.len() as f64 }
            })
            .collect();
        // Order by where the parents are (stable: definition order among equals and orphans).
        let mut order: Vec<usize> = (0..slots[r].len()).collect();
        order.sort_by(|&a, &b| {
            let (da, db) = (desired[a], desired[b]);
            if da.is_nan() || db.is_nan() { a.cmp(&b) } else { da.total_cmp(&db).then(a.cmp(&b)) }
        });
        slots[r] = order.iter().map(|&k| slots[r][k]).collect();
        let desired: Vec<f64> = order.iter().map(|&k| desired[k]).collect();
        let widths: Vec<usize> = slots[r].iter().map(|&s| slot_width(s)).collect();
        let total: usize = widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1);
        if total > width {
            return None;
        }
        // Left to right as wanted, no overlaps; then pulled back in from the right edge.
        let mut x = vec![0usize; widths.len()];
        let mut next = 0usize;
        let fallback_start = (width - total) / 2;
        for k in 0..widths.len() {
            let want = if desired[k].is_nan() {
                fallback_start + widths[..k].iter().sum::<usize>() + GAP * k
            } else {
                (desired[k] - (widths[k] as f64 - 1.0) / 2.0).round().max(0.0) as usize
            };
            x[k] = want.max(next);
            next = x[k] + widths[k] + GAP;
        }
        let mut limit = width;
        for k in (0..widths.len()).rev() {
            x[k] = x[k].min(limit - widths[k]);
            limit = x[k].saturating_sub(GAP);
        }
        centre.push(x.iter().zip(&widths).map(|(x, w)| x + (w - 1) / 2).collect());
        xs.push(x);
    }
    let height = ranks * BOX_HEIGHT + (ranks - 1) * CONNECTOR_ROWS;
    let mut rows = vec![vec![' '; width]; height];
    let mut conn = vec![vec![0u8; width]; height];
    // Which bus owns a connector cell's horizontal line (to refuse crossings).
    let mut owner: Vec<Vec<Option<usize>>> = vec![vec![None; width]; height];
    // Where a bus turns down into a slot: two buses may meet only there (a join).
    let mut down_at: Vec<Vec<bool>> = vec![vec![false; width]; height];
    let mut boxes = vec![Placed { x: 0, y: 0, w: 0 }; n];
    for r in 0..ranks {
        let y = r * (BOX_HEIGHT + CONNECTOR_ROWS);
        for (k, &s) in slots[r].iter().enumerate() {
            let x = xs[r][k];
            match s {
                Slot::Node(i) => {
                    draw_box(&mut rows, x, y, &nodes[i], ascii);
                    boxes[i] = Placed { x, y, w: box_width(&nodes[i]) };
                }
                Slot::Pass(_) => {
                    for row in conn.iter_mut().skip(y).take(BOX_HEIGHT) {
                        row[x] |= UP | DOWN;
                    }
                }
            }
        }
    }
    // Connectors between rank r and r + 1, grouped by the slot they leave from.
    for r in 0..ranks.saturating_sub(1) {
        let y0 = r * (BOX_HEIGHT + CONNECTOR_ROWS) + BOX_HEIGHT;
        for (k, &s) in slots[r].iter().enumerate() {
            let from = centre[r][k];
            // The slots below this one feeds: (centre, edge index, ends there).
            let mut targets: Vec<(usize, usize, bool)> = Vec::new();
            for (j, &t) in slots[r + 1].iter().enumerate() {
                let fed = match (s, t) {
                    (Slot::Node(i), Slot::Node(v)) => {
                        edges.iter().position(|e| e.0 == i && e.1 == v).map(|e| (e, true))
                    }
                    (Slot::Node(i), Slot::Pass(e)) if edges[e].0 == i => Some((e, false)),
                    (Slot::Pass(e), Slot::Node(v)) if edges[e].1 == v => Some((e, true)),
                    (Slot::Pass(e), Slot::Pass(f)) if e == f => Some((e, false)),
                    _ => None,
                };
                if let Some((e, ends)) = fed {
                    targets.push((centre[r + 1][j], e, ends));
                }
            }
            if targets.is_empty() {
                continue;
            }
            let group = r * 10_000 + k;
            conn[y0][from] |= UP | DOWN;
            let lo = targets.iter().map(|t| t.0).min().unwrap_or(from).min(from);
            let hi = targets.iter().map(|t| t.0).max().unwrap_or(from).max(from);
            let bus = y0 + 1;
            conn[bus][from] |= UP;
            for x in lo..=hi {
                if x > lo {
                    conn[bus][x] |= LEFT;
                }
                if x < hi {
                    conn[bus][x] |= RIGHT;
                }
                if lo < hi {
                    let joins_here = down_at[bus][x] && targets.iter().any(|t| t.0 == x);
                    match owner[bus][x] {
                        Some(o) if o != group && !joins_here => return None,
                        _ => owner[bus][x] = Some(group),
                    }
                }
            }
            for &(cx, e, ends) in &targets {
                conn[bus][cx] |= DOWN;
                down_at[bus][cx] = true;
                let arrow = y0 + 2;
                let head = if ascii { 'v' } else { '▼' };
                if ends {
                    let joined = rows[arrow][cx] == head;
                    if !joined && (rows[arrow][cx] != ' ' || conn[arrow][cx] != 0) {
                        return None;
                    }
                    rows[arrow][cx] = head;
                    if let Some(label) = &edges[e].2 {
                        let text: Vec<char> = format!(" {label}").chars().collect();
                        if cx + 1 + text.len() > width {
                            return None;
                        }
                        for (d, c) in text.into_iter().enumerate() {
                            let x = cx + 1 + d;
                            if rows[arrow][x] != ' ' || conn[arrow][x] != 0 {
                                return None;
                            }
                            rows[arrow][x] = c;
                        }
                    }
                } else {
                    conn[arrow][cx] |= UP | DOWN;
                }
            }
        }
    }
    for (y, row) in conn.iter().enumerate() {
        for (x, &bits) in row.iter().enumerate() {
            if bits != 0 {
                if rows[y][x] != ' ' {
                    return None;
                }
                rows[y][x] = line_char(bits, ascii);
            }
        }
    }
    Some(Drawing { rows, boxes })
}

/// The centre of the slot in the rank above that an edge comes from.
fn parent_centre(above: &[Slot], centres: &[usize], from: usize, edge: usize) -> Option<usize> {
    above.iter().position(|&s| s == Slot::Node(from) || s == Slot::Pass(edge)).map(|k| centres[k])
}

fn box_width(g: &GNode) -> usize {
    let label = g.label.chars().count();
    let note = g.note.as_ref().map_or(0, |t| t.chars().count() + 2);
    label.max(note) + 4
}

fn draw_box(rows: &mut [Vec<char>], x: usize, y: usize, g: &GNode, ascii: bool) {
    let w = box_width(g);
    let (tl, tr, bl, br, h, v_left, v_right) = match (g.shape, ascii) {
        (Shape::Action, false) => ('┌', '┐', '└', '┘', '─', '│', '│'),
        (Shape::Decision, false) => ('╔', '╗', '╚', '╝', '═', '║', '║'),
        (Shape::Round, false) => ('╭', '╮', '╰', '╯', '─', '│', '│'),
        (Shape::Action, true) => ('+', '+', '+', '+', '-', '|', '|'),
        (Shape::Decision, true) => ('/', '\\', '\\', '/', '-', '<', '>'),
        (Shape::Round, true) => ('.', '.', '\'', '\'', '-', '(', ')'),
    };
    let mut put = |yy: usize, xx: usize, c: char| {
        if let Some(cell) = rows.get_mut(yy).and_then(|r| r.get_mut(xx)) {
            *cell = c;
        }
    };
    put(y, x, tl);
    put(y, x + w - 1, tr);
    put(y + 2, x, bl);
    put(y + 2, x + w - 1, br);
    for k in 1..w - 1 {
        put(y, x + k, h);
        put(y + 2, x + k, h);
        put(y + 1, x + k, ' ');
    }
    put(y + 1, x, v_left);
    put(y + 1, x + w - 1, v_right);
    let label: Vec<char> = g.label.chars().collect();
    let start = x + (w - label.len()) / 2;
    for (k, c) in label.into_iter().enumerate() {
        put(y + 1, start + k, c);
    }
    if let Some(note) = &g.note {
        let text: Vec<char> = format!(" {note} ").chars().collect();
        let start = x + 1;
        for (k, c) in text.into_iter().enumerate() {
            put(y + 2, start + k, c);
        }
    }
}

fn line_char(bits: u8, ascii: bool) -> char {
    if ascii {
        return match bits {
            b if b == UP | DOWN => '|',
            b if b & (UP | DOWN) == 0 => '-',
            _ => '+',
        };
    }
    match bits {
        b if b == UP | DOWN | LEFT | RIGHT => '┼',
        b if b == UP | LEFT | RIGHT => '┴',
        b if b == DOWN | LEFT | RIGHT => '┬',
        b if b == UP | DOWN | RIGHT => '├',
        b if b == UP | DOWN | LEFT => '┤',
        b if b == UP | RIGHT => '└',
        b if b == UP | LEFT => '┘',
        b if b == DOWN | RIGHT => '┌',
        b if b == DOWN | LEFT => '┐',
        b if b & (LEFT | RIGHT) == 0 => '│',
        _ => '─',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbooks::flowchart::{Flowchart, parse};

    fn graph(f: &Flowchart) -> (Vec<GNode>, Vec<GEdge>) {
        let nodes = f.nodes.iter().map(|n| GNode { label: n.label.clone(), note: None, shape: n.shape }).collect();
        let idx = |id: &str| f.nodes.iter().position(|n| n.id == id).unwrap_or(usize::MAX);
        let edges = f.edges.iter().map(|e| (idx(&e.from), idx(&e.to), e.label.clone())).collect();
        (nodes, edges)
    }

    fn text(d: &Drawing) -> String {
        d.rows.iter().map(|r| r.iter().collect::<String>().trim_end().to_owned() + "\n").collect()
    }

    #[test]
    fn a_decision_with_labelled_ways_out() {
        let f =
            parse("graph TD\n A[Start] --> B{Skew?}\n B -->|Yes| C[Sync]\n B -->|No| D(Done)\n", 1).expect("parses");
        let (nodes, edges) = graph(&f);
        let d = draw(&nodes, &edges, 40, false).expect("fits");
        let t = text(&d);
        let want = [
            "               ┌───────┐",
            "               │ Start │",
            "               └───────┘",
            "                   │",
            "                   │",
            "                   ▼",
            "               ╔═══════╗",
            "               ║ Skew? ║",
            "               ╚═══════╝",
            "                   │",
            "                   ├─────────┐",
            "                   ▼ Yes     ▼ No",
            "                ┌──────┐  ╭──────╮",
            "                │ Sync │  │ Done │",
            "                └──────┘  ╰──────╯",
        ];
        assert_eq!(t.lines().collect::<Vec<_>>(), want, "\n{t}");
        assert_eq!(d.boxes[1], Placed { x: 15, y: 6, w: 9 });
        let ascii = text(&draw(&nodes, &edges, 40, true).expect("fits"));
        assert!(ascii.is_ascii(), "{ascii}");
        assert!(ascii.contains("< Skew? >") && ascii.contains("v Yes"), "{ascii}");
    }

    #[test]
    fn too_narrow_or_cyclic_is_refused() {
        let f = parse("graph TD\n A[A very long label here] --> B[And another long label]\n A --> C[A third one]\n", 1)
            .expect("parses");
        let (nodes, edges) = graph(&f);
        assert!(draw(&nodes, &edges, 30, false).is_none());
        assert!(draw(&nodes, &edges, 80, false).is_some());
        let f = parse("graph TD\n A[a] --> B[b]\n B --> A\n", 1).expect("parses");
        let (nodes, edges) = graph(&f);
        assert!(draw(&nodes, &edges, 80, false).is_none());
    }

    #[test]
    fn notes_sit_in_the_bottom_border_and_long_edges_pass_through() {
        let f = parse("graph TD\n A[a] --> B[b]\n B --> C[c]\n A --> C\n", 1).expect("parses");
        let (mut nodes, edges) = graph(&f);
        nodes[1].note = Some("▸ fix (recover)".into());
        let d = draw(&nodes, &edges, 60, false).expect("fits");
        let t = text(&d);
        assert!(t.contains("└ ▸ fix (recover) ──┘"), "{t}");
        // a → c skips b's rank beside it and joins b → c above c: one arrow into c.
        assert_eq!(t.matches('▼').count(), 2, "{t}");
        assert!(t.contains("└──────┬─────┘"), "{t}");
    }

    #[test]
    fn every_shipped_flowchart_draws_or_falls_back_without_panicking() {
        for (_, text) in crate::runbooks::library::SHIPPED {
            let (rb, _) = crate::runbooks::file::parse("x.md", text);
            let Some(f) = rb.and_then(|r| r.flowchart) else { continue };
            let (nodes, edges) = graph(&f);
            for w in [0, 1, 20, 40, 60, 80, 100, 200] {
                if let Some(d) = draw(&nodes, &edges, w, w % 40 == 0) {
                    assert!(d.rows.iter().all(|r| r.len() == w));
                }
            }
        }
        let f = parse(
            crate::runbooks::library::SHIPPED[0]
                .1
                .split("```mermaid\n")
                .nth(1)
                .and_then(|s| s.split("```").next())
                .expect("block"),
            1,
        )
        .expect("parses");
        let (nodes, edges) = graph(&f);
        assert!(draw(&nodes, &edges, 100, false).is_some(), "the clock-skew chart fits 100 columns");
    }
}
