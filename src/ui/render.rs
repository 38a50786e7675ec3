//! Drawing the view model. Pure: reads a `ViewModel`, writes into a ratatui frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Table, Wrap};

use super::theme::Theme;
use super::view::{AlertRow, Bar, ConfirmView, Detail, Footer, PanelView, SignalLine, TargetRow, ViewModel};
use crate::app::state::View;
use crate::runbooks::flowchart::Shape;
use crate::runbooks::layout;
use crate::signals::Level;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn draw(f: &mut Frame, vm: &ViewModel, theme: Theme) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area);
        return;
    }
    let problems = if vm.problems.is_empty() { 0 } else { vm.problems.len().min(2) as u16 };
    let banner = u16::from(vm.drill.is_some());
    let [header, banner_area, problem_area, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Length(problems),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, vm, theme);
    if let Some(d) = &vm.drill {
        let text = format!(" {:<w$}", d.banner, w = usize::from(banner_area.width.saturating_sub(1)));
        f.render_widget(Paragraph::new(Line::styled(text, theme.tag())), banner_area);
    }
    if problems > 0 {
        let lines: Vec<Line> = vm.problems.iter().take(2).map(|p| Line::styled(p.clone(), theme.dim())).collect();
        f.render_widget(Paragraph::new(lines), problem_area);
    }
    // With a runbook pane open at 120 columns and up, the dashboard keeps the left side.
    // The flowchart is laid out once per frame, as wide as the pane could be; its used width
    // decides the pane's width (at 120 columns and up: half the screen, or more when the graph
    // needs it, the dashboard keeping 60), and the pane shows it if it fits.
    let widest = if area.width >= 120 { area.width - 60 } else { area.width };
    let drawing = vm.detail.as_ref().and_then(|d| d.runbook.as_ref()).and_then(|rb| {
        (rb.problem.is_none() && !rb.graph.is_empty())
            .then(|| {
                layout::draw(&graph_nodes(rb, theme), &rb.edges, usize::from(widest.saturating_sub(2)), theme.ascii)
            })
            .flatten()
    });
    let (main, pane) = match &vm.detail {
        Some(_) if area.width >= 120 => {
            let half = (area.width / 2).max(60);
            let pw = match &drawing {
                Some(d) if d.used_width() + 2 > usize::from(half) => {
                    u16::try_from(d.used_width() + 2).unwrap_or(widest).min(widest)
                }
                _ => half,
            };
            let [m, p] = Layout::horizontal([Constraint::Min(0), Constraint::Length(pw)]).areas(body);
            (m, Some(p))
        }
        Some(_) => (body, Some(body)),
        None => (body, None),
    };
    match vm.view {
        View::Dashboard => draw_dashboard(f, main, vm, theme),
        View::Targets => {
            let notes = vm.notes.len().min(2) as u16;
            let [n, t] = Layout::vertical([Constraint::Length(notes), Constraint::Min(0)]).areas(main);
            let lines: Vec<Line> = vm.notes.iter().take(2).map(|x| Line::styled(x.clone(), theme.dim())).collect();
            f.render_widget(Paragraph::new(lines), n);
            draw_targets(f, t, &vm.targets, vm.target_sel, vm.filter.as_deref(), theme);
        }
    }
    draw_footer(f, footer, vm, theme);
    if let (Some(d), Some(pane)) = (&vm.detail, pane) {
        draw_pane(f, pane, d, drawing.as_ref(), theme);
    }
    if let Some(card) = vm.drill.as_ref().and_then(|d| d.card.as_ref()) {
        let h = (card.len() as u16 + 2).min(area.height);
        let w = (card.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).clamp(40, area.width);
        let pane = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
        f.render_widget(Clear, pane);
        let block =
            Block::bordered().border_set(theme.border_set()).title(Line::styled(" Drill scorecard ", theme.title()));
        let lines: Vec<Line> = card
            .iter()
            .enumerate()
            .map(|(k, l)| if k < 2 { Line::styled(l.clone(), theme.title()) } else { Line::raw(l.clone()) })
            .collect();
        f.render_widget(Paragraph::new(lines).block(block), pane);
    }
    if let Some(help) = &vm.help {
        let h = (help.len() as u16 + 4).min(area.height);
        let w = 80.min(area.width);
        let pane = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
        f.render_widget(Clear, pane);
        let block = Block::bordered().border_set(theme.border_set()).title(Line::styled(" Keys ", theme.title()));
        let kw = help.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        let mut lines: Vec<Line> = help
            .iter()
            .map(|(k, d)| Line::from(vec![Span::styled(format!("{k:<kw$}  "), theme.title()), Span::raw(*d)]))
            .collect();
        lines.push(Line::styled("? or Esc closes this help", theme.dim()));
        f.render_widget(Paragraph::new(lines).block(block), pane);
    }
}

/// Shape marks: an action in brackets, a decision in a diamond, a start or end in parentheses.
fn shape_text(shape: Shape, label: &str, ascii: bool) -> String {
    match (shape, ascii) {
        (Shape::Action, _) => format!("[{label}]"),
        (Shape::Decision, false) => format!("◆ {label}"),
        (Shape::Decision, true) => format!("<{label}>"),
        (Shape::Round, _) => format!("({label})"),
    }
}

/// The runbook pane: the alert, the flowchart outline with live answers and steps, the log of
/// what ran, and the confirmation box over it.
fn draw_pane(f: &mut Frame, area: Rect, d: &Detail, drawing: Option<&layout::Drawing>, theme: Theme) {
    f.render_widget(Clear, area);
    let block = Block::bordered()
        .border_set(theme.border_set())
        .title(Line::styled(format!(" {} ", d.title), theme.title()))
        .title_bottom(Line::styled(format!(" {} ", d.hint), theme.dim()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let facts_n = if inner.height >= 36 { d.lines.len() } else { d.lines.len().min(4) };
    let log_h = if d.log.is_empty() && d.running.is_none() { 0 } else { (inner.height / 3).max(3) };
    let [facts, chart, log] =
        Layout::vertical([Constraint::Length(facts_n as u16 + 1), Constraint::Min(0), Constraint::Length(log_h)])
            .areas(inner);
    let kw = d.lines.iter().take(facts_n).map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let fact_lines: Vec<Line> = d
        .lines
        .iter()
        .take(facts_n)
        .map(|(k, v)| Line::from(vec![Span::styled(format!("{k:<kw$}  "), theme.dim()), Span::raw(v.clone())]))
        .collect();
    f.render_widget(Paragraph::new(fact_lines), facts);

    if let Some(rb) = &d.runbook {
        let mut lines = vec![Line::styled(format!("Runbook {}", rb.title), theme.title())];
        if let Some(p) = &rb.problem {
            lines.push(Line::styled(p.clone(), theme.dim()));
        }
        let room = usize::from(chart.height.saturating_sub(1));
        match drawing.filter(|g| g.used_width() <= usize::from(chart.width)) {
            Some(g) => lines.extend(graph_lines(rb, g, usize::from(chart.width), room, theme)),
            None => lines.extend(outline_lines(rb, room, theme)),
        }
        f.render_widget(Paragraph::new(lines), chart);
    }

    if log_h > 0 {
        let mut lines = Vec::new();
        let head = match &d.running {
            Some(r) => format!("Output — running {r}"),
            None => "Output".to_owned(),
        };
        lines.push(Line::styled(head, theme.title()));
        let room = usize::from(log.height.saturating_sub(1));
        let start = d.log.len().saturating_sub(room);
        for l in &d.log[start..] {
            lines.push(Line::raw(l.clone()));
        }
        f.render_widget(Paragraph::new(lines), log);
    }

    if let Some(c) = &d.confirm {
        draw_confirm(f, area, c, theme);
    }
}

/// A node's note as the theme writes it (ASCII has no `▸`).
fn note_text(note: &str, theme: Theme) -> String {
    if theme.ascii { note.replace('▸', ">") } else { note.to_owned() }
}

fn graph_nodes(rb: &super::view::RunbookView, theme: Theme) -> Vec<layout::GNode> {
    rb.graph
        .iter()
        .map(|g| layout::GNode {
            label: g.label.clone(),
            note: g.note.as_deref().map(|n| note_text(n, theme)),
            shape: g.shape,
        })
        .collect()
}

/// The outline (when the graph does not fit), scrolled to keep the selected node in view.
fn outline_lines(rb: &super::view::RunbookView, room: usize, theme: Theme) -> Vec<Line<'static>> {
    let first = if room == 0 { 0 } else { rb.sel.saturating_sub(room.saturating_sub(1)) };
    let mut lines = Vec::new();
    for (i, n) in rb.nodes.iter().enumerate().skip(first).take(room) {
        let live = if n.live { if theme.ascii { "> " } else { "▶ " } } else { "  " };
        let via = n.via.as_ref().map_or_else(String::new, |v| format!("{v} → "));
        let again = if n.again { "  (see above)" } else { "" };
        let text = format!("{}{live}{via}{}{again}", "  ".repeat(n.depth), shape_text(n.shape, &n.label, theme.ascii));
        let mut style = if n.live { theme.live() } else { Style::new() };
        if n.again {
            style = theme.dim();
        }
        let mut spans = vec![Span::styled(text, style)];
        if let Some(note) = &n.note {
            let style = if n.has_step { theme.title() } else { theme.dim() };
            spans.push(Span::styled(format!("  {}", note_text(note, theme)), style));
        }
        let mut line = Line::from(spans);
        if i == rb.sel {
            line = line.style(theme.selected());
        }
        lines.push(line);
    }
    lines
}

/// The laid-out graph in `width` columns (centred), scrolled so the selected node is in view;
/// live nodes highlighted, the selected one reversed.
fn graph_lines(
    rb: &super::view::RunbookView,
    d: &layout::Drawing,
    width: usize,
    room: usize,
    theme: Theme,
) -> Vec<Line<'static>> {
    use layout::BOX_HEIGHT;
    // The drawing was laid out wider than the pane: cut its margin and centre what it uses.
    let left = d.rows.iter().filter_map(|r| r.iter().position(|c| *c != ' ')).min().unwrap_or(0);
    let pad = (width.saturating_sub(d.used_width())) / 2;
    let sel_box = rb.graph_sel.and_then(|k| d.boxes.get(k).copied());
    let top = match sel_box {
        Some(b) if b.y + BOX_HEIGHT > room => (b.y + BOX_HEIGHT).saturating_sub(room),
        _ => 0,
    };
    let box_style = |k: usize| {
        if rb.graph_sel == Some(k) {
            Some(theme.selected())
        } else if rb.graph.get(k).is_some_and(|g| g.live) {
            Some(theme.live())
        } else {
            None
        }
    };
    d.rows
        .iter()
        .enumerate()
        .skip(top)
        .take(room)
        .map(|(y, row)| {
            // The styled boxes this row crosses, left to right.
            let mut marks: Vec<(usize, usize, Style)> = d
                .boxes
                .iter()
                .enumerate()
                .filter(|(_, b)| y >= b.y && y < b.y + BOX_HEIGHT)
                .filter_map(|(k, b)| box_style(k).map(|st| (b.x, b.x + b.w, st)))
                .collect();
            marks.sort_by_key(|m| m.0);
            let text = |from: usize, to: usize| -> String { row[from.min(to)..to].iter().collect() };
            let mut spans = vec![Span::raw(" ".repeat(pad))];
            let mut at = left;
            for (x0, x1, st) in marks {
                spans.push(Span::raw(text(at, x0.max(at))));
                spans.push(Span::styled(text(x0.max(at), x1), st));
                at = x1;
            }
            spans.push(Span::raw(text(at, row.len())));
            Line::from(spans)
        })
        .collect()
}

fn draw_confirm(f: &mut Frame, area: Rect, c: &ConfirmView, theme: Theme) {
    let w = area.width.saturating_sub(4).min(100);
    let mut lines = vec![
        Line::from(vec![Span::styled("Step    ", theme.dim()), Span::raw(format!("{} ({})", c.step, c.phase))]),
        Line::from(vec![Span::styled("Target  ", theme.dim()), Span::styled(c.target.clone(), theme.title())]),
        Line::styled("Runs exactly:", theme.dim()),
        Line::raw(c.argv.clone()),
    ];
    if let Some(e) = &c.expect {
        lines.push(Line::from(vec![Span::styled("Expect  ", theme.dim()), Span::raw(e.clone())]));
    }
    if let Some(m) = c.mode {
        lines.push(Line::styled(m, theme.tag()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(c.question.clone(), theme.title()));
    if let Some(t) = &c.typed {
        lines.push(Line::raw(format!("> {t}_")));
    }
    // Height: the lines, wrapped at the box's width, plus the border.
    let inner_w = usize::from(w.saturating_sub(2)).max(1);
    let needed: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner_w)).sum();
    let h = (needed as u16 + 2).min(area.height);
    let rect = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, rect);
    let block = Block::bordered().border_set(theme.border_set()).title(Line::styled(" Confirm ", theme.title()));
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), rect);
}

fn too_small(f: &mut Frame, area: Rect) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let msg = format!("terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT})");
    let y = area.y + area.height / 2;
    f.render_widget(
        Paragraph::new(msg).wrap(Wrap { trim: true }),
        Rect { y, height: area.height - (y - area.y), ..area },
    );
}

fn draw_header(f: &mut Frame, area: Rect, vm: &ViewModel, theme: Theme) {
    let h = &vm.header;
    let clock = format!("{} ", h.clock);
    let cw = clock.chars().count() as u16;
    // Narrow terminals: the poll age shrinks, then the environment goes, before anything is cut.
    let mut left = header_line(h, theme, true, true);
    for (long_poll, env) in [(false, true), (false, false)] {
        if left.width() + usize::from(cw) <= usize::from(area.width) {
            break;
        }
        left = header_line(h, theme, long_poll, env);
    }
    f.render_widget(Paragraph::new(left), Rect { width: area.width.saturating_sub(cw), ..area });
    if area.width > cw {
        f.render_widget(Paragraph::new(clock), Rect { x: area.x + area.width - cw, width: cw, ..area });
    }
}

fn header_line(h: &crate::ui::view::Header, theme: Theme, long_poll: bool, env: bool) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {} ", h.title), theme.title())];
    if env && !h.environment.is_empty() {
        let style = if h.production { theme.production() } else { theme.dim() };
        spans.push(Span::styled(format!("[{}]", h.environment), style));
        spans.push(Span::raw(" "));
    }
    if let Some(i) = &h.incident {
        spans.push(Span::styled(format!(" {i} "), theme.level(Level::Page)));
        spans.push(Span::raw(" "));
    }
    let up_style = if h.total > 0 && h.up < h.total { theme.level(Level::Warn) } else { Style::new() };
    spans.push(Span::styled(format!("{}/{} up", h.up, h.total), up_style));
    let sep = theme.glyphs().sep;
    spans.push(Span::raw(match (h.poll_age, long_poll) {
        (Some(s), true) => format!("{sep}polled {s}s ago"),
        (Some(s), false) => format!("{sep}{s}s"),
        (None, true) => format!("{sep}not polled yet"),
        (None, false) => format!("{sep}no poll"),
    }));
    for t in &h.tags {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(format!(" {t} "), theme.tag()));
    }
    Line::from(spans)
}

fn draw_footer(f: &mut Frame, area: Rect, vm: &ViewModel, theme: Theme) {
    let line = match &vm.footer {
        Footer::Message(m) => Line::styled(format!(" {m}"), theme.title()),
        Footer::Prompt { label, text, error } => {
            let mut spans = vec![Span::styled(format!(" {label}"), theme.title()), Span::raw(text.clone())];
            spans.push(Span::styled(if theme.ascii { "_" } else { "▏" }, theme.title()));
            if let Some(e) = error {
                spans.push(Span::styled(format!("  {e}"), theme.level(Level::Warn)));
            }
            Line::from(spans)
        }
        Footer::Hints(h) => {
            let mut spans = vec![Span::raw(" ")];
            for (k, d) in h {
                spans.push(Span::styled(k.clone(), theme.title()));
                spans.push(Span::styled(format!(" {d}  "), theme.dim()));
            }
            Line::from(spans)
        }
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_dashboard(f: &mut Frame, area: Rect, vm: &ViewModel, theme: Theme) {
    // Room for the alerts (with a header line), up to a third of the body.
    let wanted = if vm.alerts.is_empty() { 3 } else { vm.alerts.len() as u16 + 3 };
    let alerts_h = wanted.clamp(3, (area.height / 3).max(3));
    let [panels_area, alerts_area] = Layout::vertical([Constraint::Min(0), Constraint::Length(alerts_h)]).areas(area);
    let n = vm.panels.len().max(1) as u16;
    let cols = if area.width >= 240 {
        4
    } else if area.width >= 160 {
        3
    } else {
        2
    }
    .min(n);
    let rows = n.div_ceil(cols);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, u32::from(rows)); rows as usize]).split(panels_area);
    // Row by row; the last row's panels share its width.
    for (r, row) in vm.panels.chunks(usize::from(cols)).enumerate() {
        let cells = Layout::horizontal(vec![Constraint::Ratio(1, row.len() as u32); row.len()]).split(row_areas[r]);
        for (c, p) in row.iter().enumerate() {
            let k = r * usize::from(cols) + c;
            draw_panel(f, cells[c], p, vm.panel_sel == Some(k), theme);
        }
    }
    draw_alerts(f, alerts_area, &vm.alerts, vm.alert_sel, vm.filter.as_deref(), theme);
}

fn level_word(l: Level) -> String {
    format!("{:<5}", l.as_str())
}

fn draw_panel(f: &mut Frame, area: Rect, p: &PanelView, selected: bool, theme: Theme) {
    let mut block = Block::bordered().border_set(theme.border_set()).title(Line::from(vec![
        Span::styled(format!(" {} ", p.title), theme.title()),
        Span::styled(format!(" {} ", p.level.as_str()), theme.level(p.level)),
        Span::raw(" "),
    ]));
    if selected {
        block = block.border_style(theme.title());
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width == 0 || inner.height == 0 {
        return;
    }
    let w = inner.width as usize;
    let mut lines: Vec<Line> = p.signals.iter().map(|s| signal_line(s, w, theme)).collect();
    if let Some(s) = &p.summary {
        lines.push(Line::styled(s.clone(), theme.dim()));
    }
    let room = (inner.height as usize).saturating_sub(lines.len());
    let label_w = p.bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(0).min(w / 3).max(1);
    for b in p.bars.iter().take(room) {
        lines.push(bar_line(b, label_w, w, p, theme));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn signal_line(s: &SignalLine, width: usize, theme: Theme) -> Line<'static> {
    let g = theme.glyphs();
    let mut spans = vec![
        Span::styled(level_word(s.level), theme.level(s.level)),
        Span::raw(" "),
        Span::styled(format!("{:>7}", s.value), theme.title()),
        Span::raw(" "),
        Span::raw(s.title.clone()),
    ];
    let mut used = 14 + s.title.chars().count();
    // Thresholds first, then the note (warming up, why there is no value), each if it fits.
    let extras = [
        (!s.thresholds.is_empty()).then(|| format!("  {}", s.thresholds.join(g.sep))),
        s.note.as_ref().map(|n| format!("  ({n})")),
    ];
    for extra in extras.into_iter().flatten() {
        if used + extra.chars().count() <= width {
            used += extra.chars().count();
            spans.push(Span::styled(extra, theme.dim()));
        }
    }
    let spark_w = width.saturating_sub(used + 2).min(s.history.len()).min(30);
    if spark_w >= 6 {
        let pad = width - used - spark_w;
        spans.push(Span::raw(" ".repeat(pad)));
        let spark: String =
            s.history[s.history.len() - spark_w..].iter().map(|h| h.map_or(" ", |v| g.spark[v as usize])).collect();
        spans.push(Span::styled(spark, theme.ink(s.level)));
    }
    Line::from(spans)
}

/// One cell of a bar: its glyph and style.
fn cell(b: &Bar, theme: Theme, filled: bool, warn_mark: bool, page_mark: bool, last: bool) -> (&'static str, Style) {
    let g = theme.glyphs();
    if b.over && last {
        (g.over, theme.ink(b.level))
    } else if page_mark {
        (g.mark, theme.ink(Level::Page))
    } else if warn_mark {
        (g.mark, theme.ink(Level::Warn))
    } else if filled {
        (g.fill, theme.ink(b.level))
    } else {
        (g.track, theme.dim())
    }
}

fn bar_line(b: &Bar, label_w: usize, width: usize, p: &PanelView, theme: Theme) -> Line<'static> {
    let value = format!(" {:>7}", b.value);
    let bar_w = width.saturating_sub(label_w + 1 + value.chars().count());
    let label: String = b.label.chars().take(label_w).collect();
    let mut spans = vec![Span::raw(format!("{label:<label_w$} "))];
    let mut cells: Vec<(&'static str, Style)> = Vec::with_capacity(bar_w);
    if p.signed && bar_w >= 9 {
        // Zero in the middle; negative values grow to the left, positive to the right, and the
        // thresholds are marked on both sides.
        let half = (bar_w - 1) / 2;
        let filled = ((b.fill * half as f64).round() as usize).min(half);
        let mark = |at: Option<f64>| at.map(|a| ((a * half as f64).round() as usize).clamp(1, half));
        let (wm, pm) = (mark(p.warn_at), mark(p.page_at));
        for i in 0..bar_w {
            if i == half {
                cells.push((theme.glyphs().zero, theme.dim()));
                continue;
            }
            let (dist, on_side) = if i < half { (half - i, b.negative) } else { (i - half, !b.negative) };
            let edge = if b.negative { i == 0 } else { i == bar_w - 1 };
            cells.push(cell(b, theme, on_side && dist <= filled, Some(dist) == wm, Some(dist) == pm, edge && on_side));
        }
    } else if bar_w >= 4 {
        let filled = ((b.fill * bar_w as f64).round() as usize).min(bar_w);
        let mark = |at: Option<f64>| at.map(|a| ((a * bar_w as f64).round() as usize).min(bar_w - 1));
        let (wm, pm) = (mark(p.warn_at), mark(p.page_at));
        for i in 0..bar_w {
            cells.push(cell(b, theme, i < filled, Some(i) == wm, Some(i) == pm, i == bar_w - 1));
        }
    }
    // Runs of one style become one span.
    let mut run = String::new();
    let mut run_style: Option<Style> = None;
    for (glyph, style) in cells {
        if run_style != Some(style) && !run.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut run), run_style.unwrap_or_default()));
        }
        run_style = Some(style);
        run.push_str(glyph);
    }
    if !run.is_empty() {
        spans.push(Span::styled(run, run_style.unwrap_or_default()));
    }
    spans.push(Span::styled(value, theme.level(b.level)));
    Line::from(spans)
}

fn draw_alerts(f: &mut Frame, area: Rect, alerts: &[AlertRow], sel: Option<usize>, filter: Option<&str>, theme: Theme) {
    let active = alerts.iter().filter(|a| a.state != "resolved").count();
    let title = match filter {
        Some(x) => format!(" Alerts ({active}) matching {x:?} "),
        None => format!(" Alerts ({active}) "),
    };
    let mut block = Block::bordered().border_set(theme.border_set()).title(Line::styled(title, theme.title()));
    if sel.is_some() {
        block = block.border_style(theme.title());
    }
    if alerts.is_empty() {
        f.render_widget(Paragraph::new(Line::styled("no alerts", theme.dim())).block(block), area);
        return;
    }
    let visible = area.height.saturating_sub(3) as usize;
    let start = sel.map_or(0, |s| s.saturating_sub(visible.saturating_sub(1)));
    let rows: Vec<Row> = alerts
        .iter()
        .enumerate()
        .skip(start)
        .take(visible)
        .map(|(k, a)| {
            let row = Row::new(vec![
                Line::styled(level_word(a.level), theme.level(a.level)),
                Line::raw(a.signal.clone()),
                Line::raw(a.labels.clone()),
                Line::raw(a.state.clone()),
                Line::raw(a.since.clone()),
                Line::raw(a.ack.clone()),
            ]);
            if sel == Some(k) { row.style(theme.selected()) } else { row }
        })
        .collect();
    let widths = [
        Constraint::Length(5),
        Constraint::Length(20),
        Constraint::Fill(1),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Length(14),
    ];
    let header = Row::new(["LEVEL", "SIGNAL", "LABELS", "STATE", "SINCE", "ACK"]).style(theme.dim());
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn draw_targets(f: &mut Frame, area: Rect, targets: &[TargetRow], sel: usize, filter: Option<&str>, theme: Theme) {
    let up = targets.iter().filter(|t| t.up == Some(true)).count();
    let title = match filter {
        Some(x) => format!(" Targets: {up} of {} up, matching {x:?} ", targets.len()),
        None => format!(" Targets: {up} of {} up ", targets.len()),
    };
    let block = Block::bordered().border_set(theme.border_set()).title(Line::styled(title, theme.title()));
    let visible = area.height.saturating_sub(3) as usize;
    let start = sel.saturating_sub(visible.saturating_sub(1));
    let rows: Vec<Row> = targets
        .iter()
        .enumerate()
        .skip(start)
        .take(visible)
        .map(|(k, t)| {
            let (word, level) = match t.up {
                Some(true) => ("up", Level::Ok),
                Some(false) => ("DOWN", Level::Page),
                None => ("…", Level::Unknown),
            };
            let row = Row::new(vec![
                Line::raw(t.source.clone()),
                Line::raw(t.url.clone()),
                Line::styled(word, theme.level(level)),
                Line::raw(t.last.clone()),
                Line::raw(t.duration.clone()),
                Line::raw(t.samples.clone()),
                Line::raw(t.bytes.clone()),
                Line::raw(t.error.clone()),
            ]);
            if k == sel { row.style(theme.selected()) } else { row }
        })
        .collect();
    let widths = [
        Constraint::Length(10),
        Constraint::Fill(2),
        Constraint::Length(4),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Fill(3),
    ];
    let header = Row::new(["SOURCE", "URL", "UP", "LAST", "DURATION", "SAMPLES", "BYTES", "ERROR"]).style(theme.dim());
    f.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
