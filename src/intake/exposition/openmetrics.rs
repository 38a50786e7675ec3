//! OpenMetrics 1.0: the strict line grammar and the rules a body must satisfy as a whole
//! (families contiguous and not repeated, metadata before samples, label groups contiguous,
//! histogram buckets complete and ordered, counter-like values neither negative nor NaN, …).
//! The rules follow the OpenMetrics specification and its reference parser's test suite.

use std::collections::HashSet;

use super::{Event, Format, Label, MetricType, ParseError, Parser, Suffix, ValueRules, lex, unescape};

/// The parts of a sample line other than its labels, filled by the syntax pass and completed
/// (family, kind, suffix) by the validator.
#[derive(Clone, Copy, Debug)]
pub(super) struct OmLine<'a> {
    pub family: &'a str,
    pub kind: MetricType,
    pub suffix: Suffix,
    pub name: &'a str,
    pub series_text: &'a str,
    pub value: f64,
    /// Seconds, as written.
    pub timestamp: Option<f64>,
    /// Value and timestamp (seconds); its labels are in the parser's exemplar buffer.
    pub exemplar: Option<(f64, Option<f64>)>,
}

impl Default for OmLine<'_> {
    fn default() -> Self {
        OmLine {
            family: "",
            kind: MetricType::Unknown,
            suffix: Suffix::None,
            name: "",
            series_text: "",
            value: 0.0,
            timestamp: None,
            exemplar: None,
        }
    }
}

/// Exemplar label sets are limited to 128 UTF-8 characters (names and values together).
const EXEMPLAR_LABEL_CHARS: usize = 128;

/// What one OpenMetrics line turned out to be, before it is handed out as an event.
enum Step<'a> {
    Meta(Event<'a, 'a>),
    Sample(u32),
    Eof,
}

impl<'a> Parser<'a> {
    pub(super) fn next_om(&mut self) -> Option<Result<Event<'a, '_>, ParseError>> {
        match self.om_step() {
            Ok(Step::Meta(ev)) => Some(Ok(ev)),
            Ok(Step::Sample(line)) => Some(Ok(self.pending_sample(line))),
            Ok(Step::Eof) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    fn om_step(&mut self) -> Result<Step<'a>, ParseError> {
        let line_no = self.line + 1;
        let line = match self.next_line() {
            None => {
                return Err(ParseError::new(self.line.max(1), "missing \"# EOF\" at the end of the body"));
            }
            Some(Err(())) => return Err(ParseError::new(line_no, "line is not valid UTF-8")),
            Some(Ok(l)) => l,
        };
        let fail = |m: String| Err(ParseError::new(line_no, m));
        if line.is_empty() {
            return fail("blank line".into());
        }
        let at_end = self.at_end();
        let Some(validator) = self.om.as_mut() else {
            return fail("internal: OpenMetrics parser without its validator".into());
        };
        if line == "# EOF" {
            if !at_end {
                return fail("text after \"# EOF\"".into());
            }
            validator.finish(line_no)?;
            return Ok(Step::Eof);
        }
        if line.starts_with('#') {
            let (keyword, name, rest) = metadata_parts(line).map_err(|m| ParseError::new(line_no, m))?;
            return validator.metadata(keyword, name, rest, line_no).map(Step::Meta);
        }
        sample_syntax(line, &mut self.labels, &mut self.exemplar_labels, &mut self.om_pending)
            .map_err(|m| ParseError::new(line_no, m))?;
        validator.sample(&self.labels, &mut self.om_pending, line_no)?;
        Ok(Step::Sample(line_no))
    }
}

/// Splits `# KEYWORD name rest`: exactly one space between the parts.
fn metadata_parts(line: &str) -> Result<(&str, &str, &str), String> {
    let body = line.strip_prefix("# ").ok_or("a comment must be \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\"")?;
    let (keyword, after) = body.split_once(' ').ok_or_else(|| format!("incomplete metadata line {line:?}"))?;
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Err(format!("unknown metadata keyword {keyword:?}"));
    }
    let (name, rest) =
        after.split_once(' ').ok_or_else(|| format!("{keyword} line needs a metric name and a value"))?;
    if !lex::is_metric_name(name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    Ok((keyword, name, rest))
}

/// The strict sample grammar:
/// `name [labels] SP number [SP timestamp] [SP "#" SP labels SP number [SP timestamp]]`.
fn sample_syntax<'a>(
    line: &'a str,
    labels: &mut Vec<Label<'a>>,
    exemplar_labels: &mut Vec<Label<'a>>,
    out: &mut OmLine<'a>,
) -> Result<(), &'static str> {
    let b = line.as_bytes();
    let name_end = lex::metric_name_end(b, 0);
    if name_end == 0 {
        return Err("invalid metric name");
    }
    labels.clear();
    exemplar_labels.clear();
    let mut i = name_end;
    if b.get(i) == Some(&b'{') {
        i = lex::labels(line, i, true, labels)?;
    }
    *out = OmLine { name: &line[..name_end], series_text: &line[..i], ..OmLine::default() };
    if b.get(i) != Some(&b' ') {
        return Err(if i == b.len() { "missing value" } else { "expected a space before the value" });
    }
    let (tok, next) = om_token(line, i + 1);
    out.value = lex::om_number(tok).ok_or("invalid value")?;
    i = next;
    if i == b.len() {
        return Ok(());
    }
    // b[i] == ' '
    i += 1;
    if b.get(i) != Some(&b'#') {
        let (tok, next) = om_token(line, i);
        out.timestamp = Some(lex::om_real(tok).ok_or("invalid timestamp")?);
        i = next;
        if i == b.len() {
            return Ok(());
        }
        i += 1;
    }
    // The exemplar: "# {labels} value [timestamp]".
    if !line[i..].starts_with("# {") {
        return Err("expected \"# {\" to start an exemplar");
    }
    i = lex::labels(line, i + 2, true, exemplar_labels)?;
    let chars: usize = exemplar_labels.iter().map(|l| l.name.chars().count() + l.value().chars().count()).sum();
    if chars > EXEMPLAR_LABEL_CHARS {
        return Err("exemplar labels longer than 128 characters");
    }
    if b.get(i) != Some(&b' ') {
        return Err("expected a space before the exemplar value");
    }
    let (tok, next) = om_token(line, i + 1);
    let value = lex::om_number(tok).ok_or("invalid exemplar value")?;
    let mut ts = None;
    if next < b.len() {
        let (tok, end) = om_token(line, next + 1);
        ts = Some(lex::om_real(tok).ok_or("invalid exemplar timestamp")?);
        if end != b.len() {
            return Err("unexpected text after the exemplar");
        }
    }
    out.exemplar = Some((value, ts));
    Ok(())
}

/// The token starting at `i`, up to the next space, and the index of that space (or the end).
fn om_token(line: &str, i: usize) -> (&str, usize) {
    let rest = line.as_bytes().get(i..).unwrap_or(&[]);
    let end = i + memchr::memchr(b' ', rest).unwrap_or(rest.len());
    (line.get(i..end).unwrap_or(""), end)
}

/// The label group of a sample: its labels without the one that varies within a metric point
/// (`le` of a bucket, `quantile` of a summary, the state label of a stateset).
fn group_key(labels: &[Label<'_>], skip: Option<&str>, buf: &mut String) {
    let mut refs: Vec<&Label<'_>> = labels.iter().filter(|l| Some(l.name) != skip).collect();
    refs.sort_unstable_by_key(|l| l.name);
    buf.clear();
    for l in refs {
        buf.push_str(l.name);
        buf.push('\u{0}');
        buf.push_str(&l.value());
        buf.push('\u{0}');
    }
}

/// Per-group histogram bookkeeping, checked when the group (or its timestamp) changes.
#[derive(Default)]
struct HistogramPoint {
    active: bool,
    last_le: Option<f64>,
    last_bucket_value: f64,
    inf_value: Option<f64>,
    count: Option<f64>,
    has_sum: bool,
    has_gsum: bool,
    negative_buckets: bool,
    negative_gsum: bool,
    line: u32,
}

impl HistogramPoint {
    /// Structural problems are `Err`; a broken value rule is `Ok(Some(message))`.
    fn check(&self, family: &str) -> Result<Option<String>, String> {
        if !self.active {
            return Ok(None);
        }
        let Some(inf) = self.inf_value else {
            return Err(format!("histogram {family}: the +Inf bucket is missing"));
        };
        if self.count.is_some_and(|c| c != inf) {
            return Err(format!("histogram {family}: count does not equal the +Inf bucket"));
        }
        if self.has_sum && self.count.is_none() {
            return Err(format!("histogram {family}: _sum without _count"));
        }
        if self.has_gsum && self.count.is_none() {
            return Err(format!("histogram {family}: _gsum without _gcount"));
        }
        if !(self.has_sum || self.has_gsum) && self.count.is_some() {
            return Err(format!("histogram {family}: _count without _sum"));
        }
        if self.negative_buckets && self.has_sum {
            return Ok(Some(format!("histogram {family}: _sum is not allowed with negative buckets")));
        }
        if !self.negative_buckets && self.negative_gsum {
            return Ok(Some(format!("histogram {family}: negative _gsum without negative buckets")));
        }
        Ok(None)
    }
}

/// The family being read and everything the rules need to remember about it.
struct Current<'a> {
    name: &'a str,
    kind: Option<MetricType>,
    help: bool,
    unit: Option<&'a str>,
    samples: usize,
    first_line: u32,
    group: Option<String>,
    group_ts: Option<Option<f64>>,
    seen_groups: HashSet<String>,
    hist: HistogramPoint,
}

impl<'a> Current<'a> {
    fn new(name: &'a str, kind: Option<MetricType>, line: u32) -> Self {
        Current {
            name,
            kind,
            help: false,
            unit: None,
            samples: 0,
            first_line: line,
            group: None,
            group_ts: None,
            seen_groups: HashSet::new(),
            hist: HistogramPoint::default(),
        }
    }

    fn kind(&self) -> MetricType {
        self.kind.unwrap_or(MetricType::Unknown)
    }

    fn suffix_of(&self, name: &str) -> Option<Suffix> {
        let rest = name.strip_prefix(self.name)?;
        self.kind().suffixes(Format::OpenMetrics).iter().copied().find(|s| s.as_str() == rest)
    }
}

/// Whole-body rules of OpenMetrics, fed one line at a time.
pub(super) struct Validator<'a> {
    current: Option<Current<'a>>,
    /// Every sample name claimed by a finished family, to catch clashes and repeats.
    seen_names: HashSet<String>,
    key: String,
    value_rules: ValueRules,
    pub(super) warnings: Warnings,
}

/// Violations of value rules let through by [`ValueRules::Warn`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Warnings {
    pub count: usize,
    pub first: Option<ParseError>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(value_rules: ValueRules) -> Self {
        Validator {
            current: None,
            seen_names: HashSet::new(),
            key: String::new(),
            value_rules,
            warnings: Warnings::default(),
        }
    }

    /// A value rule was broken: an error under [`ValueRules::Strict`], a counted warning under
    /// [`ValueRules::Warn`].
    fn value_rule(&mut self, line: u32, message: String) -> Result<(), ParseError> {
        let e = ParseError::new(line, message);
        match self.value_rules {
            ValueRules::Strict => Err(e),
            ValueRules::Warn => {
                self.warnings.count += 1;
                self.warnings.first.get_or_insert(e);
                Ok(())
            }
        }
    }

    pub(super) fn metadata(
        &mut self,
        keyword: &'a str,
        name: &'a str,
        rest: &'a str,
        line: u32,
    ) -> Result<Event<'a, 'a>, ParseError> {
        let err = |m: String| ParseError::new(line, m);
        if self.current.as_ref().is_some_and(|c| c.name == name && c.samples > 0) {
            return Err(err(format!("{keyword} for {name} after its samples")));
        }
        if self.current.as_ref().is_none_or(|c| c.name != name) {
            self.end_family(line)?;
            self.current = Some(Current::new(name, None, line));
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(err("internal: no current family".into()));
        };
        match keyword {
            "HELP" => {
                if std::mem::replace(&mut cur.help, true) {
                    return Err(err(format!("second HELP for {name}")));
                }
                Ok(Event::Help { name, text: unescape(rest), line })
            }
            "TYPE" => {
                if cur.kind.is_some() {
                    return Err(err(format!("second TYPE for {name}")));
                }
                let kind = MetricType::parse(rest, Format::OpenMetrics)
                    .ok_or_else(|| err(format!("invalid metric type {rest:?}")))?;
                cur.kind = Some(kind);
                Ok(Event::Type { name, kind, line })
            }
            _ => {
                if cur.unit.is_some() {
                    return Err(err(format!("second UNIT for {name}")));
                }
                if !rest.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':') {
                    return Err(err(format!("invalid unit {rest:?}")));
                }
                cur.unit = Some(rest);
                Ok(Event::Unit { name, unit: rest, line })
            }
        }
    }

    pub(super) fn sample(&mut self, labels: &[Label<'a>], s: &mut OmLine<'a>, line: u32) -> Result<(), ParseError> {
        let err = |m: String| ParseError::new(line, m);
        let suffix = match self.current.as_ref().and_then(|c| c.suffix_of(s.name)) {
            Some(sfx) => sfx,
            None => {
                // The commonest real-world mistake: a counter family named like its sample
                // (`# TYPE x_total counter` then `x_total`), as the Prometheus text format has it.
                if let Some(cur) = &self.current
                    && cur.name == s.name
                    && cur.kind == Some(MetricType::Counter)
                {
                    return Err(err(format!(
                        "counter {0}: OpenMetrics names a counter's samples {0}_total (and its family \
                         without the suffix); this looks like the Prometheus text format sent as OpenMetrics",
                        s.name
                    )));
                }
                // A sample outside the current family starts a new family without metadata.
                self.end_family(line)?;
                self.current = Some(Current::new(s.name, None, line));
                Suffix::None
            }
        };
        let Some(cur) = self.current.as_mut() else {
            return Err(err("internal: no current family".into()));
        };
        let kind = cur.kind();
        s.family = cur.name;
        s.kind = kind;
        s.suffix = suffix;
        cur.samples += 1;

        // Labels each type requires.
        let label = |n: &str| labels.iter().find(|l| l.name == n).map(|l| l.value());
        let mut skip = None;
        match (kind, suffix) {
            (MetricType::StateSet, _) => {
                if label(cur.name).is_none() {
                    return Err(err(format!("stateset sample without a {:?} label", cur.name)));
                }
                skip = Some(cur.name);
            }
            (MetricType::Histogram | MetricType::GaugeHistogram, Suffix::Bucket) => {
                let le = label("le").ok_or_else(|| err("bucket without an \"le\" label".into()))?;
                if parse_bound(&le).is_none_or(f64::is_nan) {
                    return Err(err(format!("invalid le {le:?}")));
                }
                skip = Some("le");
            }
            (MetricType::Summary, Suffix::None) => {
                let q = label("quantile").ok_or_else(|| err("summary quantile without a \"quantile\" label".into()))?;
                if !parse_bound(&q).is_some_and(|v| (0.0..=1.0).contains(&v)) {
                    return Err(err(format!("invalid quantile {q:?}")));
                }
                skip = Some("quantile");
            }
            _ => {}
        }
        let integral = matches!(suffix, Suffix::Count | Suffix::GCount | Suffix::Bucket);
        let mut pending_rule: Option<(u32, String)> = None;

        // Label groups are contiguous; within one, timestamps are all present or all absent and
        // never go backwards.
        if kind == MetricType::Info {
            self.key.clear();
        } else {
            group_key(labels, skip, &mut self.key);
        }
        let same_group = cur.group.as_deref() == Some(self.key.as_str());
        if !same_group {
            if cur.seen_groups.contains(&self.key) {
                return Err(err(format!("samples of {} are not grouped together", cur.name)));
            }
            cur.seen_groups.insert(self.key.clone());
            cur.group = Some(self.key.clone());
        } else if let Some(prev) = cur.group_ts {
            if prev.is_some() != s.timestamp.is_some() {
                return Err(err("some samples of a group have timestamps and some do not".into()));
            }
            if let (Some(p), Some(t)) = (prev, s.timestamp)
                && t < p
                && kind != MetricType::Info
            {
                return Err(err("timestamps go backwards within a group".into()));
            }
        }
        // A histogram point ends when its group or timestamp changes.
        if matches!(kind, MetricType::Histogram | MetricType::GaugeHistogram) && suffix != Suffix::None {
            let new_point = !same_group || cur.group_ts != Some(s.timestamp);
            if new_point {
                let finding = cur.hist.check(cur.name).map_err(|m| ParseError::new(cur.hist.line, m))?;
                let at = cur.hist.line;
                cur.hist = HistogramPoint { active: true, line, ..HistogramPoint::default() };
                if let Some(m) = finding {
                    pending_rule = Some((at, m));
                }
            }
            record_histogram(&mut cur.hist, suffix, labels, s.value, line)
                .map_err(|m| err(format!("histogram {}: {m}", cur.name)))?;
        }
        cur.group_ts = Some(s.timestamp);
        // Values.
        let mut rules: Vec<String> = Vec::new();
        match kind {
            MetricType::StateSet if s.value != 0.0 && s.value != 1.0 => {
                rules.push("stateset values must be 0 or 1".into())
            }
            MetricType::Info if s.value != 1.0 => rules.push("info values must be 1".into()),
            MetricType::Summary if suffix == Suffix::None && s.value < 0.0 => {
                rules.push("quantile values must not be negative".into());
            }
            _ => {}
        }
        // A negative _gsum is legal with negative buckets; the histogram point check judges it.
        if suffix.is_counter_like() && (s.value.is_nan() || (s.value < 0.0 && suffix != Suffix::GSum)) {
            rules.push(format!("{}{} must not be negative or NaN", cur.name, suffix.as_str()));
        }
        if integral && s.value.fract() != 0.0 {
            rules.push(format!("{}{} must be an integer", cur.name, suffix.as_str()));
        }
        if s.exemplar.is_some() {
            let allowed = match kind {
                MetricType::Histogram | MetricType::GaugeHistogram => suffix == Suffix::Bucket,
                MetricType::Counter => suffix == Suffix::Total,
                _ => false,
            };
            if !allowed {
                return Err(err("exemplars are allowed only on histogram buckets and counter totals".into()));
            }
        }
        if let Some((at, m)) = pending_rule {
            self.value_rule(at, m)?;
        }
        for m in rules {
            self.value_rule(line, m)?;
        }
        Ok(())
    }

    /// At `# EOF`: the last family's rules.
    pub(super) fn finish(&mut self, line: u32) -> Result<(), ParseError> {
        self.end_family(line)
    }

    fn end_family(&mut self, line: u32) -> Result<(), ParseError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        let kind = cur.kind();
        if let Some(m) = cur.hist.check(cur.name).map_err(|m| ParseError::new(cur.hist.line, m))? {
            self.value_rule(cur.hist.line, m)?;
        }
        if let Some(unit) = cur.unit.filter(|u| !u.is_empty()) {
            if matches!(kind, MetricType::Info | MetricType::StateSet) {
                return Err(ParseError::new(
                    cur.first_line,
                    format!("{} of type {} cannot have a unit", cur.name, kind.as_str()),
                ));
            }
            if !cur.name.strip_suffix(unit).is_some_and(|p| p.ends_with('_')) {
                return Err(ParseError::new(
                    cur.first_line,
                    format!("metric name {} does not end in its unit _{unit}", cur.name),
                ));
            }
        }
        let mut claimed: Vec<&str> = kind.suffixes(Format::OpenMetrics).iter().map(|s| s.as_str()).collect();
        if !claimed.contains(&"") {
            claimed.push("");
        }
        for sfx in claimed {
            let full = format!("{}{sfx}", cur.name);
            if !self.seen_names.insert(full.clone()) {
                let at = if cur.samples > 0 || cur.kind.is_some() { cur.first_line } else { line };
                return Err(ParseError::new(
                    at,
                    format!("metric family {full} appears more than once or clashes with another family"),
                ));
            }
        }
        Ok(())
    }
}

fn record_histogram(
    h: &mut HistogramPoint,
    suffix: Suffix,
    labels: &[Label<'_>],
    value: f64,
    line: u32,
) -> Result<(), String> {
    h.line = line;
    match suffix {
        Suffix::Bucket => {
            let le = labels.iter().find(|l| l.name == "le").and_then(|l| parse_bound(&l.value())).unwrap_or(f64::NAN);
            if h.last_le.is_some_and(|prev| le <= prev) {
                return Err("buckets are out of order".into());
            }
            if value < h.last_bucket_value {
                return Err("bucket values decrease".into());
            }
            if le < 0.0 {
                h.negative_buckets = true;
            }
            if le == f64::INFINITY {
                h.inf_value = Some(value);
            }
            h.last_le = Some(le);
            h.last_bucket_value = value;
        }
        Suffix::Count | Suffix::GCount => h.count = Some(value),
        Suffix::Sum => h.has_sum = true,
        Suffix::GSum => {
            h.has_gsum = true;
            if value < 0.0 {
                h.negative_gsum = true;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A bucket bound or quantile: any float, but infinities only as `+Inf` / `-Inf`.
fn parse_bound(s: &str) -> Option<f64> {
    let v = lex::float(s)?;
    if v.is_infinite() && s != "+Inf" && s != "-Inf" {
        return None;
    }
    Some(v)
}
