//! The exposition parser: Prometheus text format 0.0.4 and OpenMetrics 1.0 text.
//!
//! Zero-copy: names, label values and help texts borrow from the body and are only copied when
//! they hold escapes. Every error names its line. The two formats differ in how they treat a bad
//! line: the text format skips it and counts it ([`Parser::next_event`] returns the error and
//! carries on), OpenMetrics rejects the body at the first error, as its specification requires
//! (the parser stops after returning it).
//!
//! ```
//! use nightwatch::intake::exposition::{Event, Format, Parser};
//! let mut p = Parser::new(b"# TYPE up gauge\nup{job=\"node\"} 1\n", Format::Text);
//! let mut n = 0;
//! while let Some(ev) = p.next_event() {
//!     if let Ok(Event::Sample(s)) = ev {
//!         assert_eq!((s.name, s.value), ("up", 1.0));
//!         n += 1;
//!     }
//! }
//! assert_eq!(n, 1);
//! ```

mod collect;
mod lex;
mod openmetrics;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

pub use collect::{Exposition, Family, MAX_KEPT_ERRORS, OwnedExemplar, OwnedSample, parse_all, parse_all_with};
pub use lex::{is_label_name, is_metric_name, unescape};
pub use openmetrics::Warnings;

/// A sample value as both text formats write it: `NaN`, `+Inf`, `-Inf`, or the shortest
/// decimal that reads back as the same number.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

use openmetrics::{OmLine, Validator};

/// How OpenMetrics value rules are enforced: counter-like values neither negative nor NaN,
/// quantiles not negative, counts and buckets integral, no `_sum` beside negative buckets, info
/// and stateset values. Real client libraries break some of these (client_golang's own example
/// exposes negative observations with a `_sum`) while the scraping server ingests them, so a
/// source may choose to count them instead of rejecting the body. Syntax and structure always
/// reject.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueRules {
    /// Every rule of the specification rejects the body.
    #[default]
    Strict,
    /// Value-rule violations are counted ([`Parser::warnings`]) and the samples kept.
    Warn,
}

/// Which grammar a body is parsed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// Chooses the grammar from a response's `Content-Type`.
    pub fn from_content_type(content_type: &str) -> Format {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") { Format::OpenMetrics } else { Format::Text }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::OpenMetrics => "openmetrics",
        }
    }
}

/// A metric family's type. The text format's `untyped` is [`MetricType::Unknown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    fn parse(s: &str, format: Format) -> Option<MetricType> {
        Some(match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "gaugehistogram" => MetricType::GaugeHistogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::StateSet,
            "unknown" => MetricType::Unknown,
            "untyped" if format == Format::Text => MetricType::Unknown,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The sample-name suffixes a family of this type owns, in `format`.
    fn suffixes(self, format: Format) -> &'static [Suffix] {
        use Suffix::*;
        match (self, format) {
            (MetricType::Counter, Format::OpenMetrics) => &[Total, Created],
            // In the text format a counter's samples carry the family name itself.
            (MetricType::Counter, Format::Text) => &[None, Total, Created],
            (MetricType::Histogram, _) => &[Bucket, Count, Sum, Created],
            (MetricType::GaugeHistogram, _) => &[Bucket, GCount, GSum],
            (MetricType::Summary, _) => &[None, Count, Sum, Created],
            (MetricType::Info, _) => &[Info],
            (MetricType::Gauge | MetricType::StateSet | MetricType::Unknown, _) => &[None],
        }
    }
}

/// Where a sample's name sits in its family: `family` + suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suffix {
    None,
    Total,
    Created,
    Bucket,
    Count,
    Sum,
    GCount,
    GSum,
    Info,
}

impl Suffix {
    pub fn as_str(self) -> &'static str {
        match self {
            Suffix::None => "",
            Suffix::Total => "_total",
            Suffix::Created => "_created",
            Suffix::Bucket => "_bucket",
            Suffix::Count => "_count",
            Suffix::Sum => "_sum",
            Suffix::GCount => "_gcount",
            Suffix::GSum => "_gsum",
            Suffix::Info => "_info",
        }
    }

    /// Counter-like samples may be neither negative nor NaN in OpenMetrics.
    fn is_counter_like(self) -> bool {
        matches!(self, Suffix::Total | Suffix::Sum | Suffix::Count | Suffix::Bucket | Suffix::GCount | Suffix::GSum)
    }
}

/// One label as written in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    pub name: &'a str,
    raw: &'a str,
    escaped: bool,
}

impl<'a> Label<'a> {
    /// The decoded value (borrowed unless it holds escapes).
    pub fn value(&self) -> Cow<'a, str> {
        if self.escaped { unescape(self.raw) } else { Cow::Borrowed(self.raw) }
    }

    /// The value exactly as written, escapes included.
    pub fn raw_value(&self) -> &'a str {
        self.raw
    }
}

/// An exemplar attached to a sample (OpenMetrics only). Kept aside from the series.
#[derive(Clone, Copy, Debug)]
pub struct Exemplar<'a, 'p> {
    pub labels: &'p [Label<'a>],
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// One sample line.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a, 'p> {
    /// The family this sample belongs to (`http_requests` for `http_requests_total`).
    pub family: &'a str,
    pub kind: MetricType,
    pub suffix: Suffix,
    /// The sample's own name.
    pub name: &'a str,
    pub labels: &'p [Label<'a>],
    /// Name and label block exactly as written: a stable identity between two scrapes of the
    /// same target, usable as a cache key without decoding anything.
    pub series_text: &'a str,
    pub value: f64,
    /// Milliseconds since the epoch, if the line carries a timestamp.
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<Exemplar<'a, 'p>>,
    /// 1-based line number.
    pub line: u32,
}

/// What one line of the body says.
#[derive(Clone, Debug)]
pub enum Event<'a, 'p> {
    Help { name: &'a str, text: Cow<'a, str>, line: u32 },
    Type { name: &'a str, kind: MetricType, line: u32 },
    Unit { name: &'a str, unit: &'a str, line: u32 },
    Sample(Sample<'a, 'p>),
}

/// A parse error and the 1-based line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub message: String,
}

impl ParseError {
    fn new(line: u32, message: impl Into<String>) -> Self {
        ParseError { line, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The body, either validated as UTF-8 in one pass (the normal case) or raw bytes whose lines
/// are validated one at a time, so that one bad line need not cost the rest of the body.
enum Source<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
}

/// A pull parser over one exposition body. See the module docs.
pub struct Parser<'a> {
    src: Source<'a>,
    format: Format,
    pos: usize,
    line: u32,
    done: bool,
    labels: Vec<Label<'a>>,
    exemplar_labels: Vec<Label<'a>>,
    families: TextState,
    om: Option<Box<Validator<'a>>>,
    om_pending: OmLine<'a>,
}

impl<'a> Parser<'a> {
    /// A parser that enforces every rule of the format.
    pub fn new(body: &'a [u8], format: Format) -> Self {
        Parser::with_value_rules(body, format, ValueRules::Strict)
    }

    /// A parser with a choice of how OpenMetrics value rules are enforced.
    pub fn with_value_rules(body: &'a [u8], format: Format, value_rules: ValueRules) -> Self {
        let src = match std::str::from_utf8(body) {
            Ok(s) => Source::Str(s),
            Err(_) => Source::Bytes(body),
        };
        Parser {
            src,
            format,
            pos: 0,
            line: 0,
            done: false,
            labels: Vec::with_capacity(16),
            exemplar_labels: Vec::new(),
            families: TextState::default(),
            om: (format == Format::OpenMetrics).then(|| Box::new(Validator::new(value_rules))),
            om_pending: OmLine::default(),
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Value-rule violations let through under [`ValueRules::Warn`].
    pub fn warnings(&self) -> Warnings {
        self.om.as_ref().map(|v| v.warnings.clone()).unwrap_or_default()
    }

    /// The number of lines read so far.
    pub fn lines(&self) -> u32 {
        self.line
    }

    /// A text-format parser for the next region of a body, continuing where `state` left off
    /// (line numbers and `# TYPE` declarations carry over). The region must end at a line
    /// boundary, or be the end of the body.
    pub fn resume_text(region: &'a [u8], state: TextState) -> Self {
        let mut p = Parser::new(region, Format::Text);
        p.line = state.line;
        p.families = state;
        p
    }

    /// The text-format state to resume with on the next region.
    pub fn into_text_state(self) -> TextState {
        let mut state = self.families;
        state.line = self.line;
        state
    }

    /// The next event, or the error on the next bad line. In the text format parsing carries on
    /// after an error; in OpenMetrics the error is the last thing returned.
    #[allow(clippy::should_implement_trait)] // a lending iterator: events borrow from the parser
    pub fn next_event(&mut self) -> Option<Result<Event<'a, '_>, ParseError>> {
        if self.done {
            return None;
        }
        match self.format {
            Format::Text => self.next_text(),
            Format::OpenMetrics => self.next_om(),
        }
    }

    /// The next line without its terminator (`\n` or `\r\n`), or `Err` if it is not UTF-8.
    fn next_line(&mut self) -> Option<Result<&'a str, ()>> {
        let bytes = match self.src {
            Source::Str(s) => s.as_bytes(),
            Source::Bytes(b) => b,
        };
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |k| start + k);
        self.pos = end + 1;
        self.line += 1;
        let content_end = if end > start && bytes[end - 1] == b'\r' { end - 1 } else { end };
        Some(match self.src {
            // Both ends are ASCII bytes (or the ends of the body), hence char boundaries.
            Source::Str(s) => Ok(&s[start..content_end]),
            Source::Bytes(b) => std::str::from_utf8(&b[start..content_end]).map_err(|_| ()),
        })
    }

    fn at_end(&self) -> bool {
        let len = match self.src {
            Source::Str(s) => s.len(),
            Source::Bytes(b) => b.len(),
        };
        self.pos >= len
    }

    // ---- Prometheus text format 0.0.4 ----

    fn next_text(&mut self) -> Option<Result<Event<'a, '_>, ParseError>> {
        loop {
            let line = match self.next_line()? {
                Ok(l) => l,
                Err(()) => return Some(Err(ParseError::new(self.line, "line is not valid UTF-8"))),
            };
            let b = line.as_bytes();
            let i = lex::skip_blanks(b, 0);
            if i == b.len() {
                continue; // blank lines are allowed
            }
            if b[i] == b'#' {
                match self.text_comment(line, i + 1) {
                    Ok(Some(ev)) => return Some(Ok(ev)),
                    Ok(None) => continue,
                    Err(e) => return Some(Err(ParseError::new(self.line, e))),
                }
            }
            let line_no = self.line;
            return Some(self.text_sample(line, i).map(Event::Sample).map_err(|e| ParseError::new(line_no, e)));
        }
    }

    /// `# HELP name text`, `# TYPE name type`; any other comment is ignored.
    fn text_comment(&mut self, line: &'a str, after_hash: usize) -> Result<Option<Event<'a, 'a>>, String> {
        let b = line.as_bytes();
        let i = lex::skip_blanks(b, after_hash);
        let kw_end = i + b[i..].iter().position(|&c| lex::is_blank(c)).unwrap_or(b.len() - i);
        let keyword = &line[i..kw_end];
        if keyword != "HELP" && keyword != "TYPE" {
            return Ok(None);
        }
        let name_start = lex::skip_blanks(b, kw_end);
        if name_start == kw_end && kw_end < b.len() {
            return Ok(None);
        }
        let name_end = lex::metric_name_end(b, name_start);
        if name_end == name_start {
            return Err(format!("{keyword} line without a valid metric name"));
        }
        if name_end < b.len() && !lex::is_blank(b[name_end]) {
            return Err(format!("{keyword} line: invalid character in metric name"));
        }
        let name = &line[name_start..name_end];
        let rest_start = lex::skip_blanks(b, name_end);
        let rest = &line[rest_start..];
        let line_no = self.line;
        if keyword == "HELP" {
            if !self.families.help.insert(name.to_owned()) {
                return Err(format!("second HELP line for metric {name}"));
            }
            return Ok(Some(Event::Help { name, text: unescape(rest), line: line_no }));
        }
        let kind = rest.trim_end_matches(['\t', ' ']);
        let kind = MetricType::parse(kind, Format::Text).ok_or_else(|| format!("unknown metric type {kind:?}"))?;
        if self.families.declared.insert(name.to_owned(), kind).is_some() {
            return Err(format!("second TYPE line for metric {name}"));
        }
        self.families.current = Some((name.to_owned(), kind));
        Ok(Some(Event::Type { name, kind, line: line_no }))
    }

    fn text_sample(&mut self, line: &'a str, start: usize) -> Result<Sample<'a, '_>, &'static str> {
        let b = line.as_bytes();
        let name_end = lex::metric_name_end(b, start);
        if name_end == start {
            return Err("invalid metric name");
        }
        let name = &line[start..name_end];
        self.labels.clear();
        let mut i = name_end;
        let brace = lex::skip_blanks(b, name_end);
        if brace < b.len() && b[brace] == b'{' {
            i = lex::labels(line, brace, false, &mut self.labels)?;
        }
        let series_end = i;
        let value_start = lex::skip_blanks(b, i);
        if value_start == i && i < b.len() {
            return Err("expected a blank before the value");
        }
        let value_end = token_end(b, value_start);
        if value_end == value_start {
            return Err("missing value");
        }
        let value = lex::float(&line[value_start..value_end]).ok_or("invalid value")?;
        let ts_start = lex::skip_blanks(b, value_end);
        let timestamp_ms = if ts_start < b.len() {
            let ts_end = token_end(b, ts_start);
            let ts = lex::int_ms(&line[ts_start..ts_end]).ok_or("invalid timestamp")?;
            if lex::skip_blanks(b, ts_end) != b.len() {
                return Err("unexpected text after the timestamp");
            }
            Some(ts)
        } else {
            None
        };
        let (family, kind, suffix) = self.families.classify(name);
        Ok(Sample {
            family,
            kind,
            suffix,
            name,
            labels: &self.labels,
            series_text: &line[start..series_end],
            value,
            timestamp_ms,
            exemplar: None,
            line: self.line,
        })
    }

    /// The OpenMetrics sample just validated, as an event.
    fn pending_sample(&self, line: u32) -> Event<'a, '_> {
        let p = &self.om_pending;
        Event::Sample(Sample {
            family: p.family,
            kind: p.kind,
            suffix: p.suffix,
            name: p.name,
            labels: &self.labels,
            series_text: p.series_text,
            value: p.value,
            timestamp_ms: p.timestamp.map(lex::secs_to_ms),
            exemplar: p.exemplar.map(|(value, ts)| Exemplar {
                labels: &self.exemplar_labels,
                value,
                timestamp_ms: ts.map(lex::secs_to_ms),
            }),
            line,
        })
    }
}

/// The end of a token: the next blank or the end of the line.
#[inline]
fn token_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && !lex::is_blank(b[j]) {
        j += 1;
    }
    j
}

/// What the text format remembers between lines: `# TYPE` declarations (so that `x_bucket`,
/// `x_sum` and `x_count` join family `x`; families need not be contiguous in this format),
/// which families had a HELP, and the line count. It owns its strings, so a body that is still
/// arriving can be parsed region by region ([`Parser::resume_text`]).
#[derive(Clone, Debug, Default)]
pub struct TextState {
    declared: HashMap<String, MetricType>,
    help: std::collections::HashSet<String>,
    current: Option<(String, MetricType)>,
    line: u32,
}

impl TextState {
    /// The number of lines read so far.
    pub fn lines(&self) -> u32 {
        self.line
    }

    /// The family, type and suffix of a sample name. The family is a prefix of the name.
    #[inline]
    fn classify<'a>(&mut self, name: &'a str) -> (&'a str, MetricType, Suffix) {
        if let Some((fam, kind)) = &self.current
            && let Some(sfx) = member(fam, *kind, name)
        {
            return (&name[..fam.len()], *kind, sfx);
        }
        if !self.declared.is_empty() {
            if let Some(&kind) = self.declared.get(name)
                && let Some(sfx) = member(name, kind, name)
            {
                self.current = Some((name.to_owned(), kind));
                return (name, kind, sfx);
            }
            for sfx in [Suffix::Bucket, Suffix::Count, Suffix::Sum, Suffix::Created, Suffix::Total] {
                if let Some(fam) = name.strip_suffix(sfx.as_str())
                    && let Some(&kind) = self.declared.get(fam)
                    && kind.suffixes(Format::Text).contains(&sfx)
                {
                    self.current = Some((fam.to_owned(), kind));
                    return (fam, kind, sfx);
                }
            }
        }
        (name, MetricType::Unknown, Suffix::None)
    }
}

/// If `name` is a sample name of family `fam` of type `kind`, its suffix.
#[inline]
fn member(fam: &str, kind: MetricType, name: &str) -> Option<Suffix> {
    let rest = name.strip_prefix(fam)?;
    kind.suffixes(Format::Text).iter().copied().find(|s| s.as_str() == rest)
}

#[cfg(test)]
mod tests;
