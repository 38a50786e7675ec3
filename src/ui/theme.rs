//! Colours and glyphs. The colour-free theme uses no colour at all — only bold, reverse, dim and
//! words — because crossterm resets every attribute when it writes a colour reset (NO_COLOR).

use ratatui::style::{Color, Modifier, Style};

use crate::signals::Level;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub mono: bool,
    pub ascii: bool,
}

/// Box drawing, blocks and bar glyphs for a theme.
pub struct Glyphs {
    pub fill: &'static str,
    pub track: &'static str,
    pub mark: &'static str,
    pub over: &'static str,
    /// Zero, in the middle of a signed bar.
    pub zero: &'static str,
    pub spark: [&'static str; 8],
    pub sep: &'static str,
}

const UNICODE: Glyphs = Glyphs {
    fill: "█",
    track: "·",
    mark: "│",
    over: "▶",
    zero: "┊",
    spark: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
    sep: " · ",
};

const ASCII: Glyphs = Glyphs {
    fill: "#",
    track: ".",
    mark: "|",
    over: ">",
    zero: ":",
    spark: ["_", ".", "-", "~", "=", "+", "*", "#"],
    sep: " | ",
};

impl Theme {
    pub fn glyphs(&self) -> &'static Glyphs {
        if self.ascii { &ASCII } else { &UNICODE }
    }

    pub fn border_set(&self) -> ratatui::symbols::border::Set<'static> {
        if self.ascii {
            ratatui::symbols::border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            ratatui::symbols::border::PLAIN
        }
    }

    /// The style of a level's word (OK, WARN, PAGE …).
    pub fn level(&self, l: Level) -> Style {
        if self.mono {
            return match l {
                Level::Ok => Style::new(),
                Level::Warn => Style::new().add_modifier(Modifier::BOLD),
                Level::Page => Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
                Level::Stale | Level::Unknown => Style::new().add_modifier(Modifier::DIM),
            };
        }
        match l {
            Level::Ok => Style::new().fg(Color::Green),
            Level::Warn => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Level::Page => Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
            Level::Stale => Style::new().fg(Color::Magenta),
            Level::Unknown => Style::new().fg(Color::DarkGray),
        }
    }

    /// A bar or sparkline in a level's colour (plain in mono: the words carry the level).
    pub fn ink(&self, l: Level) -> Style {
        if self.mono {
            return if l == Level::Page { Style::new().add_modifier(Modifier::BOLD) } else { Style::new() };
        }
        match l {
            Level::Ok => Style::new().fg(Color::Green),
            Level::Warn => Style::new().fg(Color::Yellow),
            Level::Page => Style::new().fg(Color::Red),
            Level::Stale => Style::new().fg(Color::Magenta),
            Level::Unknown => Style::new().fg(Color::DarkGray),
        }
    }

    pub fn dim(&self) -> Style {
        if self.mono { Style::new().add_modifier(Modifier::DIM) } else { Style::new().fg(Color::DarkGray) }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// A node on the live path of a runbook's flowchart (marked `▶`/`>` as well, for mono).
    pub fn live(&self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        }
    }

    pub fn production(&self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
        }
    }

    pub fn tag(&self) -> Style {
        if self.mono {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().fg(Color::Black).bg(Color::Cyan)
        }
    }
}
