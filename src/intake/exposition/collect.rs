//! An owned, family-grouped view of a whole body, for `nightwatch scrape` and for tests.
//! The scrape path does not use it: it streams events straight into its batch.

use std::collections::HashMap;

use super::{Event, Format, MetricType, ParseError, Parser, Suffix, ValueRules, Warnings};

/// A parsed body.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    pub families: Vec<Family>,
    /// Exemplars, kept aside from the series they were attached to.
    pub exemplars: Vec<OwnedExemplar>,
    /// Lines skipped in the text format (at most [`MAX_KEPT_ERRORS`] kept; see `skipped_lines`).
    pub errors: Vec<ParseError>,
    pub skipped_lines: usize,
    /// OpenMetrics value-rule violations let through by [`ValueRules::Warn`].
    pub warnings: Warnings,
    pub lines: u32,
    pub bytes: usize,
}

/// How many skipped-line errors are kept for display; the rest are only counted.
pub const MAX_KEPT_ERRORS: usize = 100;

/// A metric family with its samples (a histogram's `_bucket`, `_sum`, `_count` and `_created`
/// series all belong to it).
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: MetricType,
    pub help: Option<String>,
    pub unit: Option<String>,
    pub samples: Vec<OwnedSample>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedSample {
    pub name: String,
    pub suffix: Suffix,
    /// Decoded labels, in the order written.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
    pub line: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OwnedExemplar {
    /// The sample line it was attached to.
    pub line: u32,
    pub series: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

impl Exposition {
    pub fn series_count(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }
}

/// Parses a whole body. OpenMetrics fails on the first error; the text format skips bad lines
/// and reports them in [`Exposition::errors`].
pub fn parse_all(body: &[u8], format: Format) -> Result<Exposition, ParseError> {
    parse_all_with(body, format, ValueRules::Strict)
}

/// [`parse_all`] with a choice of how OpenMetrics value rules are enforced.
pub fn parse_all_with(body: &[u8], format: Format, value_rules: ValueRules) -> Result<Exposition, ParseError> {
    let mut out = Exposition { bytes: body.len(), ..Exposition::default() };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut parser = Parser::with_value_rules(body, format, value_rules);
    while let Some(ev) = parser.next_event() {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) if format == Format::Text => {
                out.skipped_lines += 1;
                if out.errors.len() < MAX_KEPT_ERRORS {
                    out.errors.push(e);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let fam = |out: &mut Exposition, index: &mut HashMap<String, usize>, name: &str, kind: MetricType| -> usize {
            *index.entry(name.to_owned()).or_insert_with(|| {
                out.families.push(Family { name: name.to_owned(), kind, help: None, unit: None, samples: Vec::new() });
                out.families.len() - 1
            })
        };
        match ev {
            Event::Help { name, text, .. } => {
                let k = fam(&mut out, &mut index, name, MetricType::Unknown);
                out.families[k].help = Some(text.into_owned());
            }
            Event::Type { name, kind, .. } => {
                let k = fam(&mut out, &mut index, name, kind);
                out.families[k].kind = kind;
            }
            Event::Unit { name, unit, .. } => {
                let k = fam(&mut out, &mut index, name, MetricType::Unknown);
                out.families[k].unit = Some(unit.to_owned());
            }
            Event::Sample(s) => {
                let k = fam(&mut out, &mut index, s.family, s.kind);
                let labels = s.labels.iter().map(|l| (l.name.to_owned(), l.value().into_owned())).collect();
                if let Some(ex) = s.exemplar {
                    out.exemplars.push(OwnedExemplar {
                        line: s.line,
                        series: s.series_text.to_owned(),
                        labels: ex.labels.iter().map(|l| (l.name.to_owned(), l.value().into_owned())).collect(),
                        value: ex.value,
                        timestamp_ms: ex.timestamp_ms,
                    });
                }
                out.families[k].samples.push(OwnedSample {
                    name: s.name.to_owned(),
                    suffix: s.suffix,
                    labels,
                    value: s.value,
                    timestamp_ms: s.timestamp_ms,
                    line: s.line,
                });
            }
        }
    }
    out.lines = parser.lines();
    out.warnings = parser.warnings();
    Ok(out)
}
