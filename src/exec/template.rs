//! A step's command as written in a runbook, and the argv it becomes.
//!
//! The text is split into words the way a shell would split a simple command, but nothing is
//! expanded: `'single'` and `"double"` quotes group (with `\"` and `\\` inside double quotes),
//! a backslash at the end of a line joins it to the next, and `{name}` is a template value.
//! A template value always lands inside exactly one argument, whatever it contains; `{{` and
//! `}}` are literal braces. In words a remote shell will read (`remote-shell = N`: argv[N..],
//! as `ssh host 'cmd'` does) and in a `shell = true` step's script, each value is POSIX-quoted.

use std::collections::BTreeMap;
use std::fmt;

/// One piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Value(String),
}

/// A command template: words of pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub words: Vec<Vec<Piece>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// 0-based line within the command text.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Template value names: a lowercase letter, then letters, digits, `_` and `-`.
pub fn is_value_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut words: Vec<Vec<Piece>> = Vec::new();
        let mut word: Option<Vec<Piece>> = None;
        let mut line = 0usize;
        let mut chars = text.chars().peekable();
        let err = |line: usize, message: String| Err(TemplateError { line, message });
        fn push_char(word: &mut Option<Vec<Piece>>, c: char) {
            let w = word.get_or_insert_with(Vec::new);
            match w.last_mut() {
                Some(Piece::Text(t)) => t.push(c),
                _ => w.push(Piece::Text(c.to_string())),
            }
        }
        #[derive(PartialEq)]
        enum Quote {
            None,
            Single,
            Double,
        }
        let mut quote = Quote::None;
        while let Some(c) = chars.next() {
            if c == '\n' {
                line += 1;
            }
            match (&quote, c) {
                (Quote::None, c) if c.is_whitespace() => {
                    if let Some(w) = word.take() {
                        words.push(w);
                    }
                }
                (Quote::None, '\\') => match chars.next() {
                    Some('\n') => {
                        line += 1;
                        if let Some(w) = word.take() {
                            words.push(w);
                        }
                    }
                    Some(n) => push_char(&mut word, n),
                    None => return err(line, "a backslash ends the command".into()),
                },
                (Quote::None, '\'') => {
                    word.get_or_insert_with(Vec::new);
                    quote = Quote::Single;
                }
                (Quote::None, '"') => {
                    word.get_or_insert_with(Vec::new);
                    quote = Quote::Double;
                }
                (Quote::Single, '\'') | (Quote::Double, '"') => quote = Quote::None,
                (Quote::Double, '\\') => match chars.next() {
                    Some(n @ ('"' | '\\')) => push_char(&mut word, n),
                    Some(n) => {
                        push_char(&mut word, '\\');
                        push_char(&mut word, n);
                    }
                    None => return err(line, "unterminated double quote".into()),
                },
                (_, '{') => {
                    if chars.peek() == Some(&'{') {
                        chars.next();
                        push_char(&mut word, '{');
                        continue;
                    }
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c != '\n' && name.len() < 64 => name.push(c),
                            _ => return err(line, "a `{` without its `}` (write `{{` for a literal brace)".into()),
                        }
                    }
                    if !is_value_name(&name) {
                        return err(
                            line,
                            format!(
                                "{{{name}}} is not a template value name: use a lowercase letter, then letters, \
                                 digits, `_` or `-`"
                            ),
                        );
                    }
                    word.get_or_insert_with(Vec::new).push(Piece::Value(name));
                }
                (_, '}') => {
                    if chars.peek() == Some(&'}') {
                        chars.next();
                        push_char(&mut word, '}');
                    } else {
                        return err(line, "a `}` without its `{` (write `}}` for a literal brace)".into());
                    }
                }
                (_, c) => push_char(&mut word, c),
            }
        }
        match quote {
            Quote::Single => return err(line, "unterminated single quote".into()),
            Quote::Double => return err(line, "unterminated double quote".into()),
            Quote::None => {}
        }
        if let Some(w) = word.take() {
            words.push(w);
        }
        if words.is_empty() {
            return err(0, "the step has no command".into());
        }
        Ok(Template { words })
    }

    /// The template value names, each once, in order of first use.
    pub fn value_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in self.words.iter().flatten() {
            if let Piece::Value(n) = p
                && !out.contains(&n.as_str())
            {
                out.push(n);
            }
        }
        out
    }

    /// The program, as written (the first word, when it has no template value in it).
    pub fn program(&self) -> Option<&str> {
        match self.words.first()?.as_slice() {
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The argv: each word is one argument; values in words from `remote_shell` on are
    /// POSIX-quoted. Every value must be in `values` (checked by the caller beforehand).
    pub fn argv(&self, values: &BTreeMap<String, String>, remote_shell: Option<usize>) -> Result<Vec<String>, String> {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| render_word(w, values, remote_shell.is_some_and(|r| i >= r)))
            .collect()
    }

    /// A `shell = true` step's script: the words joined with spaces as written, with every
    /// value POSIX-quoted.
    pub fn script(&self, values: &BTreeMap<String, String>) -> Result<String, String> {
        let words: Result<Vec<String>, String> = self.words.iter().map(|w| render_word(w, values, true)).collect();
        Ok(words?.join(" "))
    }
}

fn render_word(w: &[Piece], values: &BTreeMap<String, String>, quote: bool) -> Result<String, String> {
    let mut out = String::new();
    for p in w {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Value(n) => {
                let v = values.get(n).ok_or_else(|| format!("no value for {{{n}}}"))?;
                if quote {
                    out.push_str(&posix_quote(v));
                } else {
                    out.push_str(v);
                }
            }
        }
    }
    Ok(out)
}

/// Quotes a string for a POSIX shell: one argument, nothing expanded.
pub fn posix_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:@=+,%".contains(&b)) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// How an argv reads on screen: each argument POSIX-quoted where needed, control characters
/// escaped, so what is shown is exactly what would run.
pub fn display_argv(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|a| crate::text::escape_control(&posix_quote(a)).into_owned()).collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn words_split_like_a_shell_without_expansion() {
        let t = Template::parse("redis-cli -h {host} CONFIG SET maxmemory \"8gb\" 'a b' $HOME").expect("parses");
        let argv = t.argv(&vals(&[("host", "cache-1")]), None).expect("argv");
        assert_eq!(argv, ["redis-cli", "-h", "cache-1", "CONFIG", "SET", "maxmemory", "8gb", "a b", "$HOME"]);
        assert_eq!(t.value_names(), ["host"]);
        assert_eq!(t.program(), Some("redis-cli"));
    }

    #[test]
    fn a_value_is_one_argument_whatever_it_holds() {
        let t = Template::parse("ping -c1 {node}").expect("parses");
        let argv = t.argv(&vals(&[("node", "node-1; rm -rf /")]), None).expect("argv");
        assert_eq!(argv, ["ping", "-c1", "node-1; rm -rf /"]);
    }

    #[test]
    fn values_bound_for_a_remote_shell_are_quoted() {
        let t = Template::parse("ssh {node} 'sudo systemctl restart {service}'").expect("parses");
        let argv = t.argv(&vals(&[("node", "node-1"), ("service", "a'b; id")]), Some(2)).expect("argv");
        assert_eq!(argv, ["ssh", "node-1", "sudo systemctl restart 'a'\\''b; id'"]);
        let script = Template::parse("echo {x}").expect("parses").script(&vals(&[("x", "$(id)")])).expect("script");
        assert_eq!(script, "echo '$(id)'");
    }

    #[test]
    fn continuation_lines_and_literal_braces() {
        let t = Template::parse("a \\\n  b {{x}}").expect("parses");
        assert_eq!(t.argv(&BTreeMap::new(), None).expect("argv"), ["a", "b", "{x}"]);
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(Template::parse("a\nb 'c").expect_err("unterminated").line, 1);
        assert!(Template::parse("a {Node}").expect_err("bad name").message.contains("{Node}"));
        assert!(Template::parse("a {node").is_err());
        assert!(Template::parse("a }").is_err());
        assert!(Template::parse("   ").is_err());
    }

    #[test]
    fn display_quotes_and_escapes() {
        let argv = vec!["echo".to_owned(), "a b".to_owned(), "\u{1b}[2J".to_owned()];
        assert_eq!(display_argv(&argv), "echo 'a b' '\\x1b[2J'");
    }
}
