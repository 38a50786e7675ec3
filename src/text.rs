//! Text that came from outside (label values, help texts, error messages from targets) is
//! escaped before it reaches a terminal or a log: a control character could otherwise move the
//! cursor, change colours or retitle the window.

use std::borrow::Cow;

/// Replaces control characters (C0, DEL, C1) with visible escapes: `\n`, `\t`, `\x1b`, `\u{9b}`.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 && is_control(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_control(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// As `escape_control`, keeping line breaks: for a multi-line document (a report) whose
/// lines carry text from outside.
pub fn escape_control_keep_newlines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && is_control(c)) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.split('\n').map(|l| escape_control(l).into_owned()).collect::<Vec<_>>().join("\n"))
}

/// At most `n` characters of `s`, the last one `…` when cut.
pub fn truncate_chars(s: &str, n: usize) -> Cow<'_, str> {
    if s.chars().count() <= n {
        return Cow::Borrowed(s);
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    let u = c as u32;
    u < 0x20 || u == 0x7f || (0x80..0xa0).contains(&u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(escape_control("node-1"), "node-1");
        assert_eq!(escape_control("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape_control("x\ny\tz"), "x\\ny\\tz");
        assert_eq!(escape_control("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape_control_keep_newlines("a\nb\u{1b}c\n"), "a\nb\\x1bc\n");
        assert_eq!(escape_control("héllo ✓"), "héllo ✓");
    }
}
