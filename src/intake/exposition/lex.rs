//! Byte-level scanning shared by the text and OpenMetrics parsers.
//!
//! Every function works on one line (`&'a str`, no line terminator) and a byte index into it.
//! Indices only ever stop on ASCII bytes, so slicing the line at them is always on a char
//! boundary.

use std::borrow::Cow;

use super::Label;

/// `[a-zA-Z_:]` may start a metric name, `[a-zA-Z0-9_:]` continue it.
const fn name_table(start: bool, colon: bool) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':') || (!start && b.is_ascii_digit());
        c += 1;
    }
    t
}

static METRIC_START: [bool; 256] = name_table(true, true);
static METRIC_CONT: [bool; 256] = name_table(false, true);
static LABEL_START: [bool; 256] = name_table(true, false);
static LABEL_CONT: [bool; 256] = name_table(false, false);

/// Scans a metric name starting at `i`; returns the index just past it (== `i` if none).
#[inline]
pub(super) fn metric_name_end(b: &[u8], i: usize) -> usize {
    if i >= b.len() || !METRIC_START[b[i] as usize] {
        return i;
    }
    let mut j = i + 1;
    while j < b.len() && METRIC_CONT[b[j] as usize] {
        j += 1;
    }
    j
}

#[inline]
fn label_name_end(b: &[u8], i: usize) -> usize {
    if i >= b.len() || !LABEL_START[b[i] as usize] {
        return i;
    }
    let mut j = i + 1;
    while j < b.len() && LABEL_CONT[b[j] as usize] {
        j += 1;
    }
    j
}

/// Whether a whole string is a valid metric name.
pub fn is_metric_name(s: &str) -> bool {
    !s.is_empty() && metric_name_end(s.as_bytes(), 0) == s.len()
}

/// Whether a whole string is a valid label name.
pub fn is_label_name(s: &str) -> bool {
    !s.is_empty() && label_name_end(s.as_bytes(), 0) == s.len()
}

/// Whether `c` separates tokens: the text format allows spaces and tabs, OpenMetrics one space.
#[inline]
pub(super) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

#[inline]
pub(super) fn skip_blanks(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_blank(b[i]) {
        i += 1;
    }
    i
}

/// Finds the closing quote of a quoted string whose body starts at `i`.
/// Returns `(index of the closing quote, whether the body holds escapes)`.
#[inline]
pub(super) fn quoted_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        let k = memchr::memchr2(b'"', b'\\', &b[i..])?;
        let at = i + k;
        if b[at] == b'"' {
            return Some((at, escaped));
        }
        escaped = true;
        // Skip the backslash and the byte it escapes; a lone trailing backslash is unterminated.
        i = at + 2;
        if i > b.len() {
            return None;
        }
    }
}

/// Decodes the escapes of a label value or HELP text: `\\`, `\"` and `\n`. Any other escape is
/// kept as written (backslash included), as the reference OpenMetrics parser does.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('n') => out.push('\n'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Parses a label set whose opening brace is at `open`. On success returns the index just past
/// the closing brace. `strict` is OpenMetrics: no blanks, no trailing comma.
pub(super) fn labels<'a>(
    line: &'a str,
    open: usize,
    strict: bool,
    out: &mut Vec<Label<'a>>,
) -> Result<usize, &'static str> {
    let b = line.as_bytes();
    let mut i = open + 1;
    if !strict {
        i = skip_blanks(b, i);
    }
    if i < b.len() && b[i] == b'}' {
        return Ok(i + 1);
    }
    loop {
        let name_end = label_name_end(b, i);
        if name_end == i {
            return Err(if i >= b.len() {
                "unterminated label set"
            } else if strict && b[i] == b'}' {
                "trailing comma in label set"
            } else {
                "invalid label name"
            });
        }
        let name = &line[i..name_end];
        i = name_end;
        if !strict {
            i = skip_blanks(b, i);
        }
        if i >= b.len() || b[i] != b'=' {
            return Err("expected '=' after label name");
        }
        i += 1;
        if !strict {
            i = skip_blanks(b, i);
        }
        if i >= b.len() || b[i] != b'"' {
            return Err("label value must be in double quotes");
        }
        let (close, escaped) = quoted_end(b, i + 1).ok_or("unterminated label value")?;
        out.push(Label { name, raw: &line[i + 1..close], escaped });
        i = close + 1;
        if !strict {
            i = skip_blanks(b, i);
        }
        match b.get(i) {
            Some(b',') => {
                i += 1;
                if !strict {
                    i = skip_blanks(b, i);
                    if i < b.len() && b[i] == b'}' {
                        return check_duplicates(out).map(|()| i + 1);
                    }
                }
            }
            Some(b'}') => return check_duplicates(out).map(|()| i + 1),
            Some(_) => return Err("expected ',' or '}' after label value"),
            None => return Err("unterminated label set"),
        }
    }
}

fn check_duplicates(labels: &[Label<'_>]) -> Result<(), &'static str> {
    // Small sets (the normal case) compare pairwise; large ones, which only a hostile or broken
    // exporter sends, go through a hash set so that a huge line cannot cost quadratic time.
    if labels.len() <= 16 {
        for (k, a) in labels.iter().enumerate() {
            if labels[..k].iter().any(|b| b.name == a.name) {
                return Err("duplicate label name");
            }
        }
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(labels.len());
    if labels.iter().all(|l| seen.insert(l.name)) { Ok(()) } else { Err("duplicate label name") }
}

/// Parses a sample value the way the Prometheus text format does: decimal floats with optional
/// exponent, and `NaN` / `Inf` / `Infinity` with any sign and case.
#[inline]
pub(super) fn float(tok: &str) -> Option<f64> {
    let b = tok.as_bytes();
    // Fast path: short unsigned integers, the most common value by far.
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        let mut v: u64 = 0;
        for &c in b {
            v = v * 10 + u64::from(c - b'0');
        }
        // Exact: every integer below 10^15 < 2^53 is representable.
        return Some(v as f64);
    }
    // `f64::from_str` accepts exactly the decimal and inf/nan grammar we want, and rejects hex
    // floats and digit separators. It does not accept a leading '+' before "inf" in all
    // spellings we see in the wild, so handle the sign ourselves.
    let (neg, rest) = match b.first() {
        Some(b'+') => (false, &tok[1..]),
        Some(b'-') => (true, &tok[1..]),
        _ => (false, tok),
    };
    if rest.is_empty() || rest.starts_with(['+', '-']) {
        return None;
    }
    let v: f64 = rest.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// An OpenMetrics `number`: a real number, `[sign] inf|infinity`, or unsigned `nan`
/// (all case-insensitive).
pub(super) fn om_number(tok: &str) -> Option<f64> {
    let unsigned = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    if unsigned.len() != tok.len() && unsigned.eq_ignore_ascii_case("nan") {
        return None;
    }
    float(tok)
}

/// An OpenMetrics timestamp: a real number of seconds (no NaN, no infinity).
pub(super) fn om_real(tok: &str) -> Option<f64> {
    let unsigned = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    if unsigned.bytes().any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E') {
        return None;
    }
    float(tok).filter(|v| v.is_finite())
}

/// A text-format timestamp: an integer number of milliseconds.
pub(super) fn int_ms(tok: &str) -> Option<i64> {
    tok.parse().ok()
}

/// Seconds (OpenMetrics) to whole milliseconds, saturating at the ends of `i64`.
pub(super) fn secs_to_ms(s: f64) -> i64 {
    // `as` saturates for out-of-range floats; rounding keeps 1.5e3 s exact.
    (s * 1000.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_follow_the_exposition_grammar() {
        for (s, v) in [
            ("0", 0.0),
            ("12", 12.0),
            ("-1.5", -1.5),
            ("+2e3", 2000.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("0000001.2e-1", 0.12),
            ("9223372036854775808", 9_223_372_036_854_775_808.0),
        ] {
            assert_eq!(float(s), Some(v), "{s}");
        }
        for s in ["+Inf", "Inf", "inf", "+infinity", "INF"] {
            assert_eq!(float(s), Some(f64::INFINITY), "{s}");
        }
        assert_eq!(float("-Inf"), Some(f64::NEG_INFINITY));
        assert!(float("NaN").is_some_and(f64::is_nan));
        for s in ["", "+", "-", "0x1p-3", "1_2", "a", "1.1.1", "--1", "+-1", "1e", "0b1"] {
            assert_eq!(float(s), None, "{s}");
        }
    }

    #[test]
    fn openmetrics_numbers_reject_signed_nan_and_non_real_timestamps() {
        assert!(om_number("NaN").is_some_and(f64::is_nan));
        assert_eq!(om_number("-NaN"), None);
        assert_eq!(om_real("Inf"), None);
        assert_eq!(om_real("NaN"), None);
        assert_eq!(om_real("1.5e3"), Some(1500.0));
        assert_eq!(om_real("0x1p-3"), None);
    }

    #[test]
    fn unescape_decodes_the_three_escapes_and_keeps_the_rest() {
        assert_eq!(unescape(r#"b\"a\nr"#), "b\"a\nr");
        assert_eq!(unescape(r"b\\a\z"), r"b\a\z");
        assert!(matches!(unescape("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn label_sets_accept_awkward_values() {
        let line = r##"{a="}",b=",",c="=",d="#",e="x\"y"}"##;
        let mut out = Vec::new();
        let end = labels(line, 0, true, &mut out).expect("valid");
        assert_eq!(end, line.len());
        let vals: Vec<_> = out.iter().map(|l| l.value().into_owned()).collect();
        assert_eq!(vals, ["}", ",", "=", "\x23", "x\"y"]);
    }

    #[test]
    fn huge_label_sets_check_duplicates_in_linear_time() {
        let mut line = String::from("{");
        for k in 0..50_000 {
            line.push_str(&format!("l{k}=\"v\","));
        }
        line.push_str("l7=\"dup\"}");
        let mut out = Vec::new();
        assert_eq!(labels(&line, 0, true, &mut out), Err("duplicate label name"));
    }
}
