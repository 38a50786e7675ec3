//! Prometheus's series notation, used by test scripts and scenario files:
//! `metric{label="value"} 1 2+3x2 _ _x3 stale -1-2x4 NaN Inf`.
//!
//! `a+bxn` is `a, a+b, …, a+n·b` (n+1 values), `axn` repeats `a` n+1 times, `_` is a missing
//! sample and `_xn` n of them, `stale` a staleness marker.

use super::Labels;

/// One step of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Point {
    Value(f64),
    Stale,
    Omitted,
}

/// Expands a list of values. Native histograms (`{{…}}`) are not supported.
pub fn parse_points(s: &str) -> Result<Vec<Point>, String> {
    if s.contains("{{") {
        return Err("native histogram values are not supported".into());
    }
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        match tok {
            "_" => out.push(Point::Omitted),
            "stale" => out.push(Point::Stale),
            _ => {
                if let Some(n) = tok.strip_prefix("_x") {
                    let n: usize = n.parse().map_err(|_| format!("invalid repeat {tok:?}"))?;
                    out.extend(std::iter::repeat_n(Point::Omitted, n));
                } else if let Some((start, step, times)) = expanding(tok)? {
                    let mut v = start;
                    for _ in 0..=times {
                        out.push(Point::Value(v));
                        v += step;
                    }
                } else {
                    out.push(Point::Value(number(tok)?));
                }
            }
        }
    }
    Ok(out)
}

/// `a+bxn`, `a-bxn` or `axn`, if `tok` is one.
fn expanding(tok: &str) -> Result<Option<(f64, f64, usize)>, String> {
    let Some(xpos) = tok.rfind('x') else {
        return Ok(None);
    };
    let times = &tok[xpos + 1..];
    if times.is_empty() || !times.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let times: usize = times.parse().map_err(|_| format!("invalid repeat count in {tok:?}"))?;
    let body = &tok[..xpos];
    // The step's sign is the last + or - that is neither leading nor an exponent's.
    let split = body
        .char_indices()
        .skip(1)
        .filter(|&(i, c)| (c == '+' || c == '-') && !matches!(body.as_bytes()[i - 1], b'e' | b'E'))
        .map(|(i, _)| i)
        .last();
    Ok(Some(match split {
        Some(i) => (number(&body[..i])?, number(&body[i..])?, times),
        None => (number(body)?, 0.0, times),
    }))
}

/// A number, `Inf`, `-Inf` or `NaN` (any case, optional sign).
pub fn number(s: &str) -> Result<f64, String> {
    let t = s.strip_prefix('+').unwrap_or(s);
    match t.to_ascii_lowercase().as_str() {
        "inf" => Ok(f64::INFINITY),
        "-inf" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        _ => t.parse().map_err(|_| format!("invalid number {s:?}")),
    }
}

/// Splits `name{a="b", c='d'} rest` into the series and the rest; Go-style escapes in values.
pub fn split_series(line: &str) -> Option<(Labels, &str)> {
    let line = line.trim();
    let b = line.as_bytes();
    let mut i = 0;
    if b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b':') {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
            i += 1;
        }
    }
    let name = &line[..i];
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !name.is_empty() {
        pairs.push(("__name__".into(), name.into()));
    }
    let braces = i < b.len() && b[i] == b'{';
    if braces {
        i += 1;
        loop {
            while i < b.len() && (b[i] == b' ' || b[i] == b',') {
                i += 1;
            }
            match b.get(i) {
                None => return None,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            let start = i;
            while i < b.len() && b[i] != b'=' && b[i] != b' ' {
                i += 1;
            }
            let key = line[start..i].trim().trim_matches('"').to_owned();
            while i < b.len() && (b[i] == b' ' || b[i] == b'=') {
                i += 1;
            }
            let quote = *b.get(i)?;
            if quote != b'"' && quote != b'\'' {
                return None;
            }
            i += 1;
            let mut val = Vec::new();
            while i < b.len() && b[i] != quote {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                    match b[i] {
                        b'n' => val.push(b'\n'),
                        b't' => val.push(b'\t'),
                        b'x' if i + 2 < b.len() => {
                            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
                            val.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 2;
                        }
                        other => val.push(other),
                    }
                } else {
                    val.push(b[i]);
                }
                i += 1;
            }
            i += 1;
            pairs.push((key, String::from_utf8_lossy(&val).into_owned()));
        }
    }
    if name.is_empty() && !braces {
        return None;
    }
    Some((Labels::from_pairs(pairs), &line[i.min(line.len())..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(s: &str) -> Vec<Option<f64>> {
        parse_points(s)
            .expect("valid")
            .into_iter()
            .map(|p| match p {
                Point::Value(v) => Some(v),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn expanding_notation() {
        assert_eq!(values("-2+4x3"), [Some(-2.0), Some(2.0), Some(6.0), Some(10.0)]);
        assert_eq!(values("1-2x2"), [Some(1.0), Some(-1.0), Some(-3.0)]);
        assert_eq!(values("7x2 _x2 1e3"), [Some(7.0), Some(7.0), Some(7.0), None, None, Some(1000.0)]);
        assert_eq!(parse_points("stale").expect("valid"), [Point::Stale]);
        assert!(parse_points("{{schema:1}}").is_err());
        assert!(parse_points("zebra").is_err());
    }

    #[test]
    fn series_descriptors() {
        let (l, rest) = split_series(r#"up{job="a}b", x='y'} 1 2"#).expect("valid");
        assert_eq!(l.to_string(), r#"up{job="a}b", x="y"}"#);
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = split_series("{} 3").expect("valid");
        assert!(l.is_empty());
        assert!(split_series("1").is_none());
    }
}
