//! Durations, sizes and threshold values as written in the config.

use std::time::Duration;

/// A Prometheus-style duration: integers with units, largest first, e.g. `30s`, `1m30s`,
/// `500ms`. Units: ms, s, m, h, d, w.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let hint = "use integers with units (ms, s, m, h, d, w), e.g. \"30s\" or \"1m30s\"";
    if s.is_empty() {
        return Err(format!("invalid duration \"\": {hint}"));
    }
    let mut total: u128 = 0;
    let mut rest = s;
    let mut last_unit = u128::MAX;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}: {hint}"));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}: {hint}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(format!("invalid duration {s:?}: no unit; {hint}")),
            u => {
                return Err(format!("invalid duration {s:?}: unknown unit {u:?}; {hint}"));
            }
        };
        if unit_ms >= last_unit {
            return Err(format!("invalid duration {s:?}: units must go from largest to smallest"));
        }
        last_unit = unit_ms;
        total = total.saturating_add(n.saturating_mul(unit_ms));
        rest = &rest[unit_len..];
    }
    let ms = u64::try_from(total).map_err(|_| format!("duration {s:?} is too long"))?;
    Ok(Duration::from_millis(ms))
}

/// Formats a duration the way it is written in the config (`1m30s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in
        [("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// A size in bytes: a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid size {s:?}: use e.g. \"10MiB\" or \"512KiB\""))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        u => {
            return Err(format!("unknown size unit {u:?} in {s:?}: use B, KiB, MiB, GiB, KB, MB or GB"));
        }
    };
    let v = n * mult;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("size {s:?} is out of range"));
    }
    Ok(v.round() as u64)
}

/// How a signal's values are read and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    Seconds,
    Ratio,
    PerSecond,
    PerMinute,
    PerHour,
    Bytes,
    Count,
}

impl Unit {
    pub fn parse(s: &str) -> Result<Unit, String> {
        Ok(match s {
            "seconds" => Unit::Seconds,
            "ratio" => Unit::Ratio,
            "per-second" => Unit::PerSecond,
            "per-minute" => Unit::PerMinute,
            "per-hour" => Unit::PerHour,
            "bytes" => Unit::Bytes,
            "count" => Unit::Count,
            _ => {
                return Err(format!(
                    "unknown unit {s:?}: use seconds, ratio, per-second, per-minute, per-hour, bytes or count"
                ));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Ratio => "ratio",
            Unit::PerSecond => "per-second",
            Unit::PerMinute => "per-minute",
            Unit::PerHour => "per-hour",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        }
    }

    /// A threshold written as a string, in this unit: `"100ms"` for seconds, `"5%"` for a
    /// ratio, `"2GiB"` for bytes.
    pub fn parse_threshold(self, s: &str) -> Result<f64, String> {
        let t = s.trim();
        match self {
            Unit::Seconds => parse_seconds(t),
            Unit::Ratio => match t.strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0).map_err(|_| format!("invalid percentage {s:?}")),
                None => t.parse().map_err(|_| format!("invalid ratio {s:?}: use a number like 0.05 or \"5%\"")),
            },
            Unit::Bytes => parse_size(t).map(|b| b as f64),
            _ => t.parse().map_err(|_| format!("invalid number {s:?}")),
        }
    }

    /// A value in this unit, for people: `127ms`, `4.2s`, `87%`, `2.3GiB`, `430/min`.
    pub fn format(self, v: f64) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
        }
        match self {
            Unit::Seconds => {
                let a = v.abs();
                if a < 1e-3 && a > 0.0 {
                    format!("{:.0}µs", v * 1e6)
                } else if a < 1.0 {
                    format!("{:.0}ms", v * 1e3)
                } else if a < 60.0 {
                    format!("{}s", trim_float(v, 2))
                } else if a < 3600.0 {
                    format!("{}m", trim_float(v / 60.0, 1))
                } else {
                    format!("{}h", trim_float(v / 3600.0, 1))
                }
            }
            Unit::Ratio => format!("{}%", trim_float(v * 100.0, if (v * 100.0).abs() < 10.0 { 1 } else { 0 })),
            Unit::PerSecond => format!("{}/s", trim_float(v, 1)),
            Unit::PerMinute => format!("{}/min", trim_float(v, 0)),
            Unit::PerHour => format!("{}/h", trim_float(v, 0)),
            Unit::Bytes => format_bytes(v),
            Unit::Count => trim_float(v, 2),
        }
    }
}

/// `"100ms"`, `"1.5s"`, `"2m"`, or a bare number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    if let Ok(v) = s.parse::<f64>() {
        return Ok(v);
    }
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}: use e.g. \"100ms\" or \"1.5s\""))?;
    let mult = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        u => {
            return Err(format!("unknown unit {u:?} in {s:?}: use µs, ms, s, m or h"));
        }
    };
    Ok(n * mult)
}

fn trim_float(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
}

fn format_bytes(v: f64) -> String {
    let a = v.abs();
    for (unit, size) in [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if a >= size as f64 {
            return format!("{}{unit}", trim_float(v / size as f64, 1));
        }
    }
    format!("{v:.0}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "5", "5 minutes", "1s1m", "1.5s", "-1s", "s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s500ms");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("1.5KB"), Ok(1500));
        assert!(parse_size("10 furlongs").is_err());
    }

    #[test]
    fn thresholds_in_the_signal_unit() {
        assert_eq!(Unit::Seconds.parse_threshold("100ms"), Ok(0.1));
        assert_eq!(Unit::Seconds.parse_threshold("0.5"), Ok(0.5));
        assert_eq!(Unit::Ratio.parse_threshold("5%"), Ok(0.05));
        assert_eq!(Unit::Bytes.parse_threshold("2KiB"), Ok(2048.0));
        assert!(Unit::PerMinute.parse_threshold("lots").is_err());
    }

    #[test]
    fn values_read_at_a_glance() {
        assert_eq!(Unit::Seconds.format(0.127), "127ms");
        assert_eq!(Unit::Seconds.format(-0.08), "-80ms");
        assert_eq!(Unit::Seconds.format(4.2), "4.2s");
        assert_eq!(Unit::Seconds.format(120.0), "2m");
        assert_eq!(Unit::Ratio.format(0.87), "87%");
        assert_eq!(Unit::Ratio.format(0.021), "2.1%");
        assert_eq!(Unit::Bytes.format(2.3 * (1u64 << 30) as f64), "2.3GiB");
        assert_eq!(Unit::PerMinute.format(430.4), "430/min");
        assert_eq!(Unit::PerHour.format(11_520.2), "11520/h");
    }
}
