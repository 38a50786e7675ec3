//! Scraping one target once: fetch with a timeout and a body cap (decompressed, so a gzip bomb
//! is cut off early), parse by Content-Type, enforce the sample and label limits, and keep the
//! samples the signals read in a batch that borrows nothing.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use reqwest::Url;

use super::exposition::{Event, Format, ParseError, Parser, TextState, ValueRules, Warnings};
use super::http::{Failure, authorize, classify};
use crate::config::{Auth, Limits, Signal};
use crate::series::{Labels, METRIC_NAME, ScrapedSample};
use crate::signals::promql::selectors;

/// How to scrape a target.
#[derive(Clone, Debug)]
pub struct Spec {
    pub timeout: Duration,
    pub limits: Limits,
    pub value_rules: ValueRules,
    /// Parse with this grammar whatever the Content-Type says (`nightwatch scrape --openmetrics`).
    pub force_format: Option<Format>,
    pub auth: Auth,
    /// Where body buffers come from; `None` allocates one per scrape.
    pub pool: Option<std::sync::Arc<BufferPool>>,
}

/// Why a scrape failed. Each reason reads differently on the targets view.
#[derive(Clone, Debug, PartialEq)]
pub enum ScrapeError {
    Request(Failure),
    BodyTooLarge { limit: u64 },
    Parse(ParseError),
    SampleLimit { limit: usize },
    LabelLimit(String),
    Auth(String),
}

impl fmt::Display for ScrapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrapeError::Request(r) => r.fmt(f),
            ScrapeError::BodyTooLarge { limit } => {
                write!(f, "body too large (over {})", crate::config::Unit::Bytes.format(*limit as f64))
            }
            ScrapeError::Parse(e) => write!(f, "parse error at line {}: {}", e.line, e.message),
            ScrapeError::SampleLimit { limit } => {
                write!(f, "sample limit exceeded (more than {limit} samples)")
            }
            ScrapeError::LabelLimit(m) => write!(f, "label limit exceeded: {m}"),
            ScrapeError::Auth(m) => write!(f, "credentials: {m}"),
        }
    }
}

impl ScrapeError {
    /// A short stable name for the reason, for JSON output and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            ScrapeError::Request(Failure::ConnectionRefused) => "connection-refused",
            ScrapeError::Request(Failure::Dns(_)) => "dns",
            ScrapeError::Request(Failure::Timeout) => "timeout",
            ScrapeError::Request(Failure::Tls(_)) => "tls",
            ScrapeError::Request(Failure::Connect(_)) => "connect",
            ScrapeError::Request(Failure::Status(_)) => "http-status",
            ScrapeError::Request(Failure::Other(_)) => "request",
            ScrapeError::BodyTooLarge { .. } => "body-too-large",
            ScrapeError::Parse(_) => "parse-error",
            ScrapeError::SampleLimit { .. } => "sample-limit",
            ScrapeError::LabelLimit(_) => "label-limit",
            ScrapeError::Auth(_) => "credentials",
        }
    }
}

/// Which metric names the signals read; the rest of a body is parsed and validated but not kept.
#[derive(Clone, Debug, Default)]
pub struct NameFilter {
    names: HashSet<String>,
    all: bool,
}

impl NameFilter {
    pub fn all() -> Self {
        NameFilter { names: HashSet::new(), all: true }
    }

    /// The names the locally evaluated signals select; everything if one selects without an
    /// exact name.
    pub fn for_signals<'a>(signals: impl IntoIterator<Item = &'a Signal>) -> Self {
        let mut f = NameFilter::default();
        for s in signals {
            for matchers in selectors(&s.parsed) {
                let exact =
                    matchers.iter().find(|m| m.name == METRIC_NAME && m.op == promql_parser::label::MatchOp::Equal);
                match exact {
                    Some(m) => {
                        f.names.insert(m.value.clone());
                    }
                    None => f.all = true,
                }
            }
        }
        f
    }

    pub fn keeps(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }
}

/// What a successful scrape found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub format: Option<Format>,
    /// Decompressed body size.
    pub bytes: usize,
    /// Samples in the body (all of them, kept or not).
    pub samples: usize,
    /// Text format: lines skipped as unparsable.
    pub skipped_lines: usize,
    pub first_skipped: Option<ParseError>,
    /// OpenMetrics value-rule violations let through (`openmetrics-value-rules = "warn"`).
    pub warnings: Warnings,
    pub parse_time: Duration,
}

/// Body buffers reused across scrapes. A large target's body is several MiB; allocating and
/// freeing that per scrape makes glibc keep a freed copy resident per thread (or, with mmap,
/// re-fault every page each time). Reusing a few buffers keeps both costs down.
pub struct BufferPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl std::fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BufferPool(keep {})", self.keep)
    }
}

impl BufferPool {
    /// A pool that keeps at most `keep` idle buffers.
    pub fn new(keep: usize) -> std::sync::Arc<BufferPool> {
        std::sync::Arc::new(BufferPool { free: std::sync::Mutex::new(Vec::new()), keep })
    }

    fn take(self: &std::sync::Arc<Self>, capacity: usize) -> Body {
        let mut buf = self.free.lock().map(|mut f| f.pop()).ok().flatten().unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        Body { buf, pool: Some(self.clone()) }
    }

    fn put(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut f) = self.free.lock()
            && f.len() < self.keep
        {
            f.push(buf);
        }
    }
}

/// A response body; back to its pool when dropped.
#[derive(Default)]
pub struct Body {
    buf: Vec<u8>,
    pool: Option<std::sync::Arc<BufferPool>>,
}

impl Body {
    fn extend(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf
    }
}

impl From<Vec<u8>> for Body {
    fn from(buf: Vec<u8>) -> Body {
        Body { buf, pool: None }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.put(std::mem::take(&mut self.buf));
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.buf.len())
    }
}

/// The kept samples of one scrape. Owns the body; entries point into it, so a sample whose
/// series the store already knows costs no allocation.
#[derive(Debug, Default)]
pub struct Batch {
    body: Body,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    series: Range<u32>,
    value: f64,
    timestamp_ms: Option<i64>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn samples(&self) -> impl Iterator<Item = ScrapedSample<'_>> {
        self.entries.iter().map(|e| ScrapedSample {
            key: &self.body[e.series.start as usize..e.series.end as usize],
            value: e.value,
            timestamp_ms: e.timestamp_ms,
        })
    }
}

/// Decodes a batch key (`name{labels}` as written) into labels, metric name included.
pub fn decode_series(key: &[u8]) -> Option<Labels> {
    let text = std::str::from_utf8(key).ok()?;
    let line = format!("{text} 0");
    let mut p = Parser::new(line.as_bytes(), Format::Text);
    match p.next_event()? {
        Ok(Event::Sample(s)) => {
            let mut pairs: Vec<(String, String)> = Vec::with_capacity(s.labels.len() + 1);
            pairs.push((METRIC_NAME.to_owned(), s.name.to_owned()));
            pairs.extend(s.labels.iter().map(|l| (l.name.to_owned(), l.value().into_owned())));
            Some(Labels::from_pairs(pairs))
        }
        _ => None,
    }
}

#[derive(Debug)]
pub struct Scraped {
    pub report: Report,
    pub batch: Batch,
}

const ACCEPT_TEXT: &str = "text/plain;version=0.0.4;q=1,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";
const ACCEPT_OM: &str = "application/openmetrics-text;version=1.0.0;q=1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Fetches and parses one target; the whole of it (a last region of parsing aside) under the
/// spec's timeout. A text body is parsed while it arrives: each time enough complete lines are
/// waiting, they are parsed, so that parsing overlaps the transfer.
pub async fn scrape(
    client: &reqwest::Client,
    url: &Url,
    spec: &Spec,
    filter: &NameFilter,
) -> Result<Scraped, ScrapeError> {
    let fetched = async {
        let (mut resp, content_type) = send(client, url, spec).await?;
        let format =
            spec.force_format.unwrap_or_else(|| Format::from_content_type(content_type.as_deref().unwrap_or("")));
        let mut body = spec.take_buffer(&resp);
        let mut collector = Collector::new(format, spec, filter);
        let limit = spec.limits.body_bytes;
        while let Some(chunk) = resp.chunk().await.map_err(|e| ScrapeError::Request(classify(&e)))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(ScrapeError::BodyTooLarge { limit });
            }
            body.extend(&chunk);
            collector.ready(&body, STREAMING_REGION)?;
        }
        Ok((collector, body))
    };
    let (collector, body) = match tokio::time::timeout(spec.timeout, fetched).await {
        Ok(r) => r?,
        Err(_) => return Err(ScrapeError::Request(Failure::Timeout)),
    };
    // OpenMetrics is judged as a whole; a large body is CPU work for a blocking thread.
    if collector.format == Format::OpenMetrics && body.len() > 1 << 20 {
        let (spec, filter, format) = (spec.clone(), filter.clone(), collector.format);
        return tokio::task::spawn_blocking(move || parse_body(body, format, &spec, &filter))
            .await
            .unwrap_or_else(|e| Err(ScrapeError::Request(Failure::Other(format!("parser task failed: {e}")))));
    }
    collector.finish(body)
}

/// How many bytes of complete lines wait before a region of a text body is parsed.
const STREAMING_REGION: usize = 128 << 10;

impl Spec {
    /// A buffer for a response's body, from the pool when there is one.
    fn take_buffer(&self, resp: &reqwest::Response) -> Body {
        let cap = resp.content_length().unwrap_or(64 << 10).min(self.limits.body_bytes) as usize;
        match &self.pool {
            Some(pool) => pool.take(cap),
            None => Body::from(Vec::with_capacity(cap)),
        }
    }
}

/// Fetches a whole body under the spec's timeout and size cap: the body and its Content-Type.
pub async fn fetch_body(
    client: &reqwest::Client,
    url: &Url,
    spec: &Spec,
) -> Result<(Body, Option<String>), ScrapeError> {
    let fetched = async {
        let (mut resp, content_type) = send(client, url, spec).await?;
        let mut body = spec.take_buffer(&resp);
        let limit = spec.limits.body_bytes;
        // Chunks arrive decompressed: the cap applies to what we would hold, not to what
        // crossed the wire, so a gzip bomb is cut off at the cap.
        while let Some(chunk) = resp.chunk().await.map_err(|e| ScrapeError::Request(classify(&e)))? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(ScrapeError::BodyTooLarge { limit });
            }
            body.extend(&chunk);
        }
        Ok((body, content_type))
    };
    match tokio::time::timeout(spec.timeout, fetched).await {
        Ok(r) => r,
        Err(_) => Err(ScrapeError::Request(Failure::Timeout)),
    }
}

/// Sends the request; on a 2xx answer, the response and its Content-Type.
async fn send(
    client: &reqwest::Client,
    url: &Url,
    spec: &Spec,
) -> Result<(reqwest::Response, Option<String>), ScrapeError> {
    let accept = if spec.force_format == Some(Format::OpenMetrics) { ACCEPT_OM } else { ACCEPT_TEXT };
    let req = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, accept)
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{:.3}", spec.timeout.as_secs_f64()));
    let req = authorize(req, &spec.auth).map_err(ScrapeError::Auth)?;
    let resp = req.send().await.map_err(|e| ScrapeError::Request(classify(&e)))?;
    if !resp.status().is_success() {
        return Err(ScrapeError::Request(Failure::Status(resp.status().as_u16())));
    }
    let limit = spec.limits.body_bytes;
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ScrapeError::BodyTooLarge { limit });
    }
    let content_type =
        resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Ok((resp, content_type))
}

/// Parses a whole body under the spec's limits. Exposed for benchmarks and tests.
pub fn parse_body(
    body: impl Into<Body>,
    format: Format,
    spec: &Spec,
    filter: &NameFilter,
) -> Result<Scraped, ScrapeError> {
    Collector::new(format, spec, filter).finish(body.into())
}

/// Turns a body's samples into a report and batch entries, under the limits: fed region by
/// region (a text body while it arrives) or whole.
struct Collector<'f> {
    format: Format,
    value_rules: ValueRules,
    limits: Limits,
    filter: &'f NameFilter,
    report: Report,
    entries: Vec<Entry>,
    text: TextState,
    /// Bytes of the body parsed so far.
    parsed: usize,
    /// Bytes searched for a line end without finding one: never searched again, so a body
    /// that is one endless line costs linear time, not quadratic.
    scanned: usize,
    parse_time: Duration,
}

impl<'f> Collector<'f> {
    fn new(format: Format, spec: &Spec, filter: &'f NameFilter) -> Self {
        Collector {
            format,
            value_rules: spec.value_rules,
            limits: spec.limits,
            filter,
            report: Report { format: Some(format), ..Report::default() },
            entries: Vec::new(),
            text: TextState::default(),
            parsed: 0,
            scanned: 0,
            parse_time: Duration::ZERO,
        }
    }

    /// In the text format, parses the complete lines waiting if there are at least `min` bytes
    /// of them.
    fn ready(&mut self, body: &[u8], min: usize) -> Result<(), ScrapeError> {
        if self.format != Format::Text || body.len() - self.parsed < min {
            return Ok(());
        }
        let from = self.scanned.max(self.parsed);
        match memchr::memrchr(b'\n', &body[from..]) {
            Some(nl) => self.region(body, from + nl + 1),
            None => {
                self.scanned = body.len();
                Ok(())
            }
        }
    }

    /// Parses `body[parsed..end]`; `end` is a line boundary or the end of the body.
    fn region(&mut self, body: &[u8], end: usize) -> Result<(), ScrapeError> {
        let started = Instant::now();
        let base = body.as_ptr() as usize;
        let limits = self.limits;
        let region = &body[self.parsed..end];
        let mut p = match self.format {
            Format::Text => Parser::resume_text(region, std::mem::take(&mut self.text)),
            Format::OpenMetrics => Parser::with_value_rules(region, Format::OpenMetrics, self.value_rules),
        };
        // Consecutive samples usually share a name: remember the last decision.
        let mut last: (&str, bool) = ("", false);
        while let Some(ev) = p.next_event() {
            let s = match ev {
                Ok(Event::Sample(s)) => s,
                Ok(_) => continue,
                Err(e) if self.format == Format::Text => {
                    self.report.skipped_lines += 1;
                    self.report.first_skipped.get_or_insert(e);
                    continue;
                }
                Err(e) => return Err(ScrapeError::Parse(e)),
            };
            self.report.samples += 1;
            if self.report.samples > limits.samples {
                return Err(ScrapeError::SampleLimit { limit: limits.samples });
            }
            if s.labels.len() > limits.labels {
                return Err(ScrapeError::LabelLimit(format!(
                    "line {} has {} labels (limit {})",
                    s.line,
                    s.labels.len(),
                    limits.labels
                )));
            }
            for l in s.labels {
                if l.name.len() > limits.label_name_length {
                    return Err(ScrapeError::LabelLimit(format!(
                        "line {}: a label name is {} bytes long (limit {})",
                        s.line,
                        l.name.len(),
                        limits.label_name_length
                    )));
                }
                if l.raw_value().len() > limits.label_value_length {
                    return Err(ScrapeError::LabelLimit(format!(
                        "line {}: the value of {} is {} bytes long (limit {})",
                        s.line,
                        l.name,
                        l.raw_value().len(),
                        limits.label_value_length
                    )));
                }
            }
            let keep = if last.0 == s.name {
                last.1
            } else {
                let k = self.filter.keeps(s.name);
                last = (s.name, k);
                k
            };
            if keep {
                let start = s.series_text.as_ptr() as usize - base;
                // Bodies are capped far below 4 GiB, so offsets fit in u32.
                let (Ok(a), Ok(b)) = (u32::try_from(start), u32::try_from(start + s.series_text.len())) else {
                    return Err(ScrapeError::BodyTooLarge { limit: limits.body_bytes });
                };
                self.entries.push(Entry { series: a..b, value: s.value, timestamp_ms: s.timestamp_ms });
            }
        }
        match self.format {
            Format::Text => self.text = p.into_text_state(),
            Format::OpenMetrics => self.report.warnings = p.warnings(),
        }
        self.parsed = end;
        self.parse_time += started.elapsed();
        Ok(())
    }

    /// Parses what is left and hands over the batch.
    fn finish(mut self, body: Body) -> Result<Scraped, ScrapeError> {
        if self.parsed < body.len() || self.parsed == 0 {
            self.region(&body, body.len())?;
        }
        // A body with nothing but bad lines (an HTML error page, say) is a failed scrape, not
        // an empty target.
        if self.report.samples == 0
            && let Some(e) = self.report.first_skipped.clone()
        {
            return Err(ScrapeError::Parse(e));
        }
        self.report.bytes = body.len();
        self.report.parse_time = self.parse_time;
        Ok(Scraped { report: self.report, batch: Batch { body, entries: self.entries } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            timeout: Duration::from_secs(1),
            limits: Limits::default(),
            value_rules: ValueRules::Strict,
            force_format: None,
            auth: Auth::default(),
            pool: None,
        }
    }

    #[test]
    fn keeps_only_the_names_the_signals_read() {
        let mut f = NameFilter::default();
        f.names.insert("b".into());
        let body = b"a 1\nb{x=\"1\"} 2\nb{x=\"2\"} 3\nc 4\n".to_vec();
        let s = parse_body(body, Format::Text, &spec(), &f).expect("ok");
        assert_eq!(s.report.samples, 4);
        let kept: Vec<(String, f64)> =
            s.batch.samples().map(|x| (String::from_utf8_lossy(x.key).into_owned(), x.value)).collect();
        assert_eq!(kept, [("b{x=\"1\"}".to_owned(), 2.0), ("b{x=\"2\"}".to_owned(), 3.0)]);
    }

    #[test]
    fn limits_fail_the_scrape_whole() {
        let mut sp = spec();
        sp.limits.samples = 2;
        let e = parse_body(b"a 1\nb 2\nc 3\n".to_vec(), Format::Text, &sp, &NameFilter::all()).err();
        assert_eq!(e, Some(ScrapeError::SampleLimit { limit: 2 }));
        let mut sp = spec();
        sp.limits.labels = 1;
        let e = parse_body(b"a{x=\"1\",y=\"2\"} 1\n".to_vec(), Format::Text, &sp, &NameFilter::all()).err();
        assert!(matches!(e, Some(ScrapeError::LabelLimit(m)) if m.contains("line 1 has 2 labels")));
        let mut sp = spec();
        sp.limits.label_value_length = 3;
        let e = parse_body(b"a{x=\"long\"} 1\n".to_vec(), Format::Text, &sp, &NameFilter::all()).err();
        assert!(matches!(e, Some(ScrapeError::LabelLimit(_))));
    }

    #[test]
    fn a_body_of_nothing_but_garbage_is_a_parse_error() {
        let e = parse_body(b"<html>\n<body>login</body>\n".to_vec(), Format::Text, &spec(), &NameFilter::all()).err();
        assert!(matches!(&e, Some(ScrapeError::Parse(p)) if p.line == 1), "{e:?}");
        assert!(e.map(|e| e.to_string()).is_some_and(|m| m.starts_with("parse error at line 1")));
    }

    #[test]
    fn a_few_bad_lines_are_counted_not_fatal() {
        let s = parse_body(b"a 1\nbad line\nb 2\n".to_vec(), Format::Text, &spec(), &NameFilter::all()).expect("ok");
        assert_eq!((s.report.samples, s.report.skipped_lines), (2, 1));
        assert_eq!(s.report.first_skipped.map(|e| e.line), Some(2));
    }

    #[test]
    fn batch_keys_decode_to_labels() {
        let l = decode_series(br#"rq{path="/a,b",code="200"}"#).expect("decodes");
        assert_eq!(l.to_string(), r#"rq{code="200", path="/a,b"}"#);
    }
}
