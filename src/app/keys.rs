//! The key map: one table that `update` dispatches on and the help overlay lists, so the two
//! cannot disagree.

/// A key press, independent of the terminal library (the event loop converts crossterm's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Enter,
    Esc,
    Backspace,
    Tab,
    BackTab,
    Up,
    Down,
    Home,
    End,
    PageUp,
    PageDown,
}

impl Key {
    /// A key as the config writes it: `q`, `G`, `?`, `ctrl-c`, `Enter`, `Esc`, `Tab`,
    /// `shift-Tab`, `Up`, `Down`, `Home`, `End`, `PgUp`, `PgDn`, `Backspace`, `space`.
    pub fn parse(s: &str) -> Result<Key, String> {
        let named = match s {
            "Enter" | "enter" => Some(Key::Enter),
            "Esc" | "esc" | "Escape" => Some(Key::Esc),
            "Tab" | "tab" => Some(Key::Tab),
            "shift-Tab" | "shift-tab" | "BackTab" => Some(Key::BackTab),
            "Up" | "up" | "↑" => Some(Key::Up),
            "Down" | "down" | "↓" => Some(Key::Down),
            "Home" | "home" => Some(Key::Home),
            "End" | "end" => Some(Key::End),
            "PgUp" | "PageUp" => Some(Key::PageUp),
            "PgDn" | "PageDown" => Some(Key::PageDown),
            "Backspace" | "backspace" => Some(Key::Backspace),
            "space" => Some(Key::Char(' ')),
            _ => None,
        };
        if let Some(k) = named {
            return Ok(k);
        }
        if let Some(c) = s.strip_prefix("ctrl-") {
            let mut cs = c.chars();
            if let (Some(c), None) = (cs.next(), cs.next())
                && c.is_ascii_alphabetic()
            {
                return Ok(Key::Ctrl(c.to_ascii_lowercase()));
            }
        }
        let mut cs = s.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) if !c.is_control() => Ok(Key::Char(c)),
            _ => Err(format!(
                "unknown key {s:?}: use a character (\"q\", \"G\", \"?\"), ctrl-x, Enter, Esc, Tab, shift-Tab, Up, Down, \
                 Home, End, PgUp, PgDn, Backspace or space"
            )),
        }
    }

    pub fn label(self) -> String {
        match self {
            Key::Char(' ') => "space".into(),
            Key::Char(c) => c.to_string(),
            Key::Ctrl(c) => format!("ctrl-{c}"),
            Key::Enter => "Enter".into(),
            Key::Esc => "Esc".into(),
            Key::Backspace => "Backspace".into(),
            Key::Tab => "Tab".into(),
            Key::BackTab => "shift-Tab".into(),
            Key::Up => "↑".into(),
            Key::Down => "↓".into(),
            Key::Home => "Home".into(),
            Key::End => "End".into(),
            Key::PageUp => "PgUp".into(),
            Key::PageDown => "PgDn".into(),
        }
    }
}

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Help,
    Quit,
    FocusNext,
    FocusPrev,
    Down,
    Up,
    Top,
    Bottom,
    Open,
    Ack,
    Freeze,
    Targets,
    Silence,
    Filter,
    Palette,
    Run,
    Back,
}

impl Action {
    /// The action's name in `[keys]`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Help => "help",
            Action::Quit => "quit",
            Action::FocusNext => "focus-next",
            Action::FocusPrev => "focus-prev",
            Action::Down => "down",
            Action::Up => "up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::Open => "open",
            Action::Ack => "ack",
            Action::Freeze => "freeze",
            Action::Targets => "targets",
            Action::Silence => "silence",
            Action::Filter => "filter",
            Action::Palette => "palette",
            Action::Run => "run",
            Action::Back => "back",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Action::Help => "show or hide this help",
            Action::Quit => "quit",
            Action::FocusNext => "focus the next pane (panels, alerts)",
            Action::FocusPrev => "focus the previous pane",
            Action::Down => "move down",
            Action::Up => "move up",
            Action::Top => "go to the top",
            Action::Bottom => "go to the bottom",
            Action::Open => "open the selected alert (details and runbook)",
            Action::Ack => "acknowledge the selected alert",
            Action::Freeze => "freeze or unfreeze the display (polling goes on)",
            Action::Targets => "show or hide the targets view",
            Action::Silence => "silence the selected alert (duration and a comment)",
            Action::Filter => "filter alerts and targets by text",
            Action::Palette => "command palette (ack, silence 1h why, filter x, targets, quit)",
            Action::Run => "in a runbook: run the selected step (after a confirmation)",
            Action::Back => "back: close the overlay, pane or view",
        }
    }
}

/// The bindings, in the order the help overlay lists them.
pub struct KeyMap {
    bindings: Vec<(Key, Action)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        use Action::*;
        let bindings = vec![
            (Key::Char('?'), Help),
            (Key::Char('q'), Quit),
            (Key::Ctrl('c'), Quit),
            (Key::Tab, FocusNext),
            (Key::BackTab, FocusPrev),
            (Key::Char('j'), Down),
            (Key::Down, Down),
            (Key::Char('k'), Up),
            (Key::Up, Up),
            (Key::Char('g'), Top),
            (Key::Home, Top),
            (Key::Char('G'), Bottom),
            (Key::End, Bottom),
            (Key::Enter, Open),
            (Key::Char('a'), Ack),
            (Key::Char('f'), Freeze),
            (Key::Char('t'), Targets),
            (Key::Char('s'), Silence),
            (Key::Char('/'), Filter),
            (Key::Char(':'), Palette),
            (Key::Char('x'), Run),
            (Key::Esc, Back),
        ];
        KeyMap { bindings }
    }
}

impl KeyMap {
    /// The defaults with the keys of some actions replaced (`[keys]` in the config).
    pub fn with_overrides(overrides: &[(Action, Vec<Key>)]) -> KeyMap {
        let mut map = KeyMap::default();
        for (action, keys) in overrides {
            let at = map.bindings.iter().position(|(_, a)| a == action).unwrap_or(map.bindings.len());
            map.bindings.retain(|(_, a)| a != action);
            let at = at.min(map.bindings.len());
            for (k, key) in keys.iter().enumerate() {
                map.bindings.insert(at + k, (*key, *action));
            }
        }
        map
    }

    /// Every action `key` is bound to (more than one is a config error).
    pub fn actions_of(&self, key: Key) -> Vec<Action> {
        let mut v: Vec<Action> = self.bindings.iter().filter(|(k, _)| *k == key).map(|(_, a)| *a).collect();
        v.dedup();
        v
    }

    pub fn action(&self, key: Key) -> Option<Action> {
        self.bindings.iter().find(|(k, _)| *k == key).map(|(_, a)| *a)
    }

    /// Every action with all its keys, in binding order: the help overlay's lines.
    pub fn help(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<(Action, Vec<String>)> = Vec::new();
        for (k, a) in &self.bindings {
            match out.iter_mut().find(|(x, _)| x == a) {
                Some((_, keys)) => keys.push(k.label()),
                None => out.push((*a, vec![k.label()])),
            }
        }
        out.into_iter().map(|(a, keys)| (keys.join(" "), a.describe())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_key_and_a_help_line() {
        let map = KeyMap::default();
        let help = map.help();
        for a in [
            Action::Help,
            Action::Quit,
            Action::FocusNext,
            Action::FocusPrev,
            Action::Down,
            Action::Up,
            Action::Top,
            Action::Bottom,
            Action::Open,
            Action::Ack,
            Action::Freeze,
            Action::Targets,
            Action::Silence,
            Action::Filter,
            Action::Palette,
            Action::Run,
            Action::Back,
        ] {
            assert!(help.iter().any(|(_, d)| *d == a.describe()), "{a:?} is missing from the help");
        }
        assert!(help.contains(&("j ↓".to_owned(), Action::Down.describe())));
        assert!(help.contains(&("q ctrl-c".to_owned(), Action::Quit.describe())));
    }
}
