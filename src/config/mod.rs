//! Configuration: the built-in defaults (`config/nightwatch.toml`, embedded at build time)
//! overlaid by the user's file, validated into typed values. Every error names
//! `file:line:col`, and all errors are reported at once, compiler-style.
//!
//! Overlay rules: `[cockpit]` keys override one by one; a user file with any `[[source]]`
//! replaces the default sources; a `[[signal]]` whose id matches a default one changes only the
//! keys it sets (so `warn = "200ms"` alone retunes a shipped signal), `enabled = false` removes
//! it, and new ids are added; `[cockpit] builtin-signals = false` drops every shipped signal.

mod raw;
pub mod units;

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raw::{
    RawAudit, RawBasicAuth, RawCockpit, RawExec, RawFile, RawIncidents, RawKeyList, RawKeys, RawRunbooks, RawSignal,
    RawSource, Threshold,
};
use reqwest::Url;

use crate::app::keys::{Action, Key, KeyMap};
use toml::Spanned;

use crate::intake::exposition::ValueRules;
use crate::series::Retention;
use crate::signals::promql::{self, Expr, check_subset, widest_range_ms};
pub use units::Unit;

/// The shipped defaults, compiled in.
pub const DEFAULTS: &str = include_str!("../../config/nightwatch.toml");
/// How the defaults are named in messages.
pub const DEFAULTS_NAME: &str = "config/nightwatch.toml (built-in)";

/// The dashboard panels of DESIGN.md a signal can be drawn in.
pub const PANELS: &[&str] = &[
    "clock-skew",
    "timeout-cascade",
    "timeout-ratio",
    "idempotency-cache",
    "retry-storm",
    "latency-delta",
    "ordering",
];

/// One validation error at a place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Every error found, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Where the user's config came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// No file: the defaults alone.
    BuiltIn,
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub origin: ConfigSource,
    pub cockpit: Cockpit,
    pub sources: Vec<Source>,
    pub signals: Vec<Signal>,
    pub runbooks: RunbookSettings,
    pub audit: AuditSettings,
    pub exec: ExecSettings,
    /// `[[report-query]]`: the morning report's queries, by id (no thresholds, no panel).
    pub report_queries: Vec<Signal>,
    pub incidents: IncidentSettings,
}

/// `[incidents]`: how the cockpit opens and closes incidents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentSettings {
    /// Ids are `PREFIX-YEAR-NNN` (`ASYNC-2026-001`); a drill's are `DRILL-YEAR-NNN`.
    pub prefix: String,
    /// An incident closes by itself once all its alerts have resolved and this long has passed
    /// with nothing firing again.
    pub quiet: Duration,
    /// The severity an incident opened by a page starts with (P1 … P4).
    pub severity: String,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings { prefix: "ASYNC".into(), quiet: Duration::from_secs(15 * 60), severity: "P2".into() }
    }
}

/// The severities an incident can have (the seed's declaration template).
pub const INCIDENT_SEVERITIES: [&str; 4] = ["P1", "P2", "P3", "P4"];

/// Which commands runbook steps run: the simulated fleet's remedies or production's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    Sim,
    Prod,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Sim => "sim",
            Profile::Prod => "prod",
        }
    }
}

#[derive(Clone, Debug)]
pub struct RunbookSettings {
    /// More runbooks (`*.md`), beside the shipped ones; one with a shipped id replaces it.
    pub dir: Option<PathBuf>,
    /// `profile = "sim"` or `"prod"`; by default `sim` when every source is the simulated
    /// fleet, else `prod`.
    pub profile: Profile,
}

#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// Default: `$XDG_STATE_HOME/nightwatch/audit.jsonl` (`~/.local/state/...`).
    pub path: PathBuf,
}

#[derive(Clone, Debug)]
pub struct ExecSettings {
    /// For steps that do not set their own.
    pub timeout: Duration,
    /// Output kept per step run (head and tail); the rest is counted, not kept.
    pub output_cap: usize,
}

#[derive(Clone, Debug)]
pub struct Cockpit {
    /// Ring the terminal bell once on a new page.
    pub bell: bool,
    /// `[keys]`: the actions whose keys the user replaced, with their new keys.
    pub keys: Vec<(Action, Vec<Key>)>,
    pub title: String,
    pub environment: String,
    pub refresh: Duration,
    pub history: Duration,
    pub lookback: Duration,
    pub max_series: usize,
    pub max_alerts_per_signal: usize,
    pub max_concurrent_scrapes: usize,
}

#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub auth: Auth,
    pub tls: Tls,
    pub kind: SourceKind,
}

#[derive(Clone, Debug)]
pub enum SourceKind {
    Scrape(Scrape),
    Prometheus {
        url: Url,
    },
    /// The built-in simulated fleet, started in-process on a loopback port and then scraped
    /// like any target (see `sim::embedded`).
    Sim(SimFleet),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimFleet {
    pub nodes: usize,
    pub seed: u64,
    pub speed: f64,
}

#[derive(Clone, Debug)]
pub struct Scrape {
    pub targets: Vec<Url>,
    pub file_sd: Option<PathBuf>,
    pub scheme: String,
    pub metrics_path: String,
    pub limits: Limits,
    pub value_rules: ValueRules,
}

/// Per-target limits; exceeding any of them fails that scrape whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub body_bytes: u64,
    pub samples: usize,
    pub labels: usize,
    pub label_name_length: usize,
    pub label_value_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { body_bytes: 10 << 20, samples: 500_000, labels: 64, label_name_length: 256, label_value_length: 4096 }
    }
}

/// A secret read at request time, never stored in the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Auth {
    pub bearer: Option<Secret>,
    pub basic: Option<(String, Secret)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Bad when the value is above the thresholds.
    Above,
    /// Bad when the value is below them (a hit rate, say).
    Below,
}

/// Where a signal's expression is evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Over the series store, filled by the scrape sources.
    Local,
    /// As an instant query to the prometheus source with this index.
    Server(usize),
}

#[derive(Clone, Debug)]
pub struct Signal {
    pub id: String,
    pub panel: Option<String>,
    pub title: String,
    pub expr: String,
    pub parsed: Expr,
    pub unit: Unit,
    pub direction: Direction,
    pub warn: Option<f64>,
    pub page: Option<f64>,
    /// Where an active alert resolves (hysteresis); the warn threshold when not set.
    pub clear: Option<f64>,
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub runbook: Option<String>,
    /// Where the signal's runbook (or, without one, its page threshold) is set, as
    /// `file:line:col`: where `check` points when the runbook is missing.
    pub runbook_place: String,
    /// The panel draws its bars from this signal's readings (default: the panel's first
    /// signal); a display-only signal with signed values gives signed bars.
    pub bars: bool,
    pub evaluation: Evaluation,
}

impl Config {
    /// A signal's value in its unit (the number as it is for a signal the config lacks).
    pub fn format_value(&self, signal: &str, v: f64) -> String {
        self.signals.iter().find(|s| s.id == signal).map_or_else(|| format!("{v}"), |s| s.unit.format(v))
    }

    /// The panels this config's signals fill, in dashboard order; `other` last for signals
    /// without a panel.
    pub fn panel_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> =
            PANELS.iter().copied().filter(|id| self.signals.iter().any(|s| s.panel.as_deref() == Some(*id))).collect();
        if self.signals.iter().any(|s| s.panel.is_none()) {
            ids.push("other");
        }
        ids
    }

    /// Loads the config: `path` if given, else `$XDG_CONFIG_HOME/nightwatch/config.toml` (or
    /// `~/.config/...`) if it exists, else the defaults alone.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        match path.map(Path::to_path_buf).or_else(default_user_path) {
            Some(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    ConfigErrors(vec![ConfigError {
                        file: p.display().to_string(),
                        line: 1,
                        col: 1,
                        message: format!("cannot read config: {e}"),
                    }])
                })?;
                Config::from_texts(Some((&p, &text)))
            }
            None => Config::from_texts(None),
        }
    }

    /// Loads the config for a command that watches something: as `load`, and an error when it
    /// has no source to watch.
    pub fn load_watchable(path: Option<&Path>) -> Result<Config, String> {
        let config = Config::load(path).map_err(|e| e.to_string())?;
        if config.sources.is_empty() {
            return Err("nightwatch: no sources configured: add a [[source]] to your config (kind = \"scrape\", \
                        \"prometheus\" or \"sim\"; see config/examples/), or run without a config file to watch \
                        the built-in simulated fleet"
                .to_owned());
        }
        Ok(config)
    }

    /// Builds the config from the defaults and, optionally, a user file's path and text.
    pub fn from_texts(user: Option<(&Path, &str)>) -> Result<Config, ConfigErrors> {
        let mut files =
            vec![File { name: DEFAULTS_NAME.to_owned(), text: DEFAULTS.to_owned(), dir: PathBuf::from(".") }];
        if let Some((p, text)) = user {
            let dir = p.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
            files.push(File { name: p.display().to_string(), text: text.to_owned(), dir });
        }
        let mut v = Validator { files, errors: Vec::new() };
        let mut raws = Vec::new();
        for (id, f) in v.files.iter().enumerate() {
            match toml::from_str::<RawFile>(&f.text) {
                Ok(r) => raws.push((id, r)),
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    let msg = e.message().trim().to_owned();
                    v.errors.push(v.error_at(id, span, msg));
                }
            }
        }
        if !v.errors.is_empty() {
            return Err(ConfigErrors(v.errors));
        }
        let origin = match user {
            Some((p, _)) => ConfigSource::File(p.to_path_buf()),
            None => ConfigSource::BuiltIn,
        };
        let config = v.build(raws, origin);
        if v.errors.is_empty() {
            Ok(config)
        } else {
            v.errors.sort_by(|a, b| {
                (a.file != DEFAULTS_NAME, &a.file, a.line, a.col).cmp(&(
                    b.file != DEFAULTS_NAME,
                    &b.file,
                    b.line,
                    b.col,
                ))
            });
            Err(ConfigErrors(v.errors))
        }
    }

    /// How long the store keeps each series' samples: for every selector of a locally
    /// evaluated signal, a range selector needs its range (plus offset), an instant selector
    /// only its latest sample (or, with an offset, the offset plus the lookback). One scrape
    /// interval of slack is added so the oldest sample a range needs is never trimmed early.
    pub fn retention_policy(&self) -> Retention {
        use promql_parser::parser::Expr as E;
        let lookback = ms(self.cockpit.lookback);
        let slack = self.sources.iter().map(|s| ms(s.interval)).max().unwrap_or(0);
        let mut rules = Vec::new();
        for s in self.signals.iter().chain(&self.report_queries).filter(|s| s.evaluation == Evaluation::Local) {
            promql::walk(&s.parsed, &mut |e| {
                let (vs, range) = match e {
                    E::VectorSelector(vs) => (vs, None),
                    E::MatrixSelector(m) => (&m.vs, Some(m.range)),
                    _ => return,
                };
                let offset = promql::offset_ms(&vs.offset).max(0);
                let window = match range {
                    Some(r) => i64::try_from(r.as_millis()).unwrap_or(i64::MAX) + offset + slack,
                    None if offset > 0 => offset + lookback + slack,
                    None => 0,
                };
                rules.push((promql::selector_matchers(vs), window));
            });
        }
        Retention { rules, default_ms: lookback, lookback_ms: lookback }
    }

    /// How far back the store must keep raw samples for the locally evaluated signals.
    pub fn retention(&self) -> Duration {
        let lookback = ms(self.cockpit.lookback);
        let widest = self
            .signals
            .iter()
            .chain(&self.report_queries)
            .filter(|s| s.evaluation == Evaluation::Local)
            .map(|s| widest_range_ms(&s.parsed, lookback))
            .max()
            .unwrap_or(lookback);
        // One scrape interval of slack so the oldest sample a range needs is never trimmed early.
        let slack = self.sources.iter().map(|s| ms(s.interval)).max().unwrap_or(0);
        Duration::from_millis(u64::try_from(widest + slack).unwrap_or(u64::MAX))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `$XDG_STATE_HOME/nightwatch/audit.jsonl`, else `~/.local/state/nightwatch/audit.jsonl`, else
/// `./nightwatch-audit.jsonl` when there is no home either.
fn default_audit_path() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state")));
    match base {
        Some(b) => b.join("nightwatch").join("audit.jsonl"),
        None => PathBuf::from("nightwatch-audit.jsonl"),
    }
}

fn default_user_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let p = base.join("nightwatch/config.toml");
    p.is_file().then_some(p)
}

struct File {
    name: String,
    text: String,
    dir: PathBuf,
}

/// A value and the file it came from.
struct At<T> {
    file: usize,
    v: Spanned<T>,
}

impl<T> At<T> {
    fn get(&self) -> &T {
        self.v.get_ref()
    }
    fn span(&self) -> Range<usize> {
        self.v.span()
    }
    /// The file and span it came from.
    fn place(&self) -> (usize, Range<usize>) {
        (self.file, self.v.span())
    }
}

fn at<T>(file: usize, v: Option<Spanned<T>>) -> Option<At<T>> {
    v.map(|v| At { file, v })
}

/// Overlays the fields of `top` (from file `tf`) onto `base`, remembering each field's file.
macro_rules! overlay {
    ($base:ident, $top:ident, $tf:expr; $($f:ident),* $(,)?) => {
        $( if let Some(v) = $top.$f { $base.$f = Some(At { file: $tf, v }); } )*
    };
}

/// A signal's fields after the overlay.
#[derive(Default)]
struct MergedSignal {
    table: Option<(usize, Range<usize>)>,
    id: Option<At<String>>,
    enabled: Option<At<bool>>,
    panel: Option<At<String>>,
    title: Option<At<String>>,
    expr: Option<At<String>>,
    unit: Option<At<String>>,
    direction: Option<At<String>>,
    warn: Option<At<Threshold>>,
    page: Option<At<Threshold>>,
    clear: Option<At<Threshold>>,
    for_: Option<At<String>>,
    keep_firing_for: Option<At<String>>,
    runbook: Option<At<String>>,
    bars: Option<At<bool>>,
    source: Option<At<String>>,
}

impl MergedSignal {
    fn apply(&mut self, file: usize, span: Range<usize>, r: RawSignal) {
        self.table = Some((file, span));
        overlay!(self, r, file; id, enabled, panel, title, expr, unit, direction, warn, page, clear, for_, keep_firing_for, runbook, source, bars);
    }
}

/// `[runbooks]`, `[audit]` and `[exec]` after the overlay: the last file that sets a key wins.
#[derive(Default)]
struct MergedSettings {
    dir: Option<At<String>>,
    profile: Option<At<String>>,
    audit_path: Option<At<String>>,
    timeout: Option<At<String>>,
    output_cap: Option<At<String>>,
    prefix: Option<At<String>>,
    quiet: Option<At<String>>,
    severity: Option<At<String>>,
}

impl MergedSettings {
    fn apply_incidents(&mut self, file: usize, i: Option<RawIncidents>) {
        if let Some(i) = i {
            overlay!(self, i, file; prefix, quiet, severity);
        }
    }

    fn apply(&mut self, file: usize, r: Option<RawRunbooks>, a: Option<RawAudit>, e: Option<RawExec>) {
        if let Some(r) = r {
            overlay!(self, r, file; dir, profile);
        }
        if let Some(a) = a
            && let Some(p) = a.path
        {
            self.audit_path = Some(At { file, v: p });
        }
        if let Some(e) = e {
            overlay!(self, e, file; timeout, output_cap);
        }
    }
}

#[derive(Default)]
struct MergedCockpit {
    bell: Option<At<bool>>,
    keys: Vec<(Action, At<Vec<Spanned<String>>>)>,
    title: Option<At<String>>,
    environment: Option<At<String>>,
    refresh: Option<At<String>>,
    history: Option<At<String>>,
    lookback: Option<At<String>>,
    max_series: Option<At<i64>>,
    max_alerts_per_signal: Option<At<i64>>,
    max_concurrent_scrapes: Option<At<i64>>,
}

impl MergedCockpit {
    fn apply(&mut self, file: usize, r: RawCockpit) {
        overlay!(self, r, file; bell, title, environment, refresh, history, lookback, max_series, max_alerts_per_signal, max_concurrent_scrapes);
    }

    fn apply_keys(&mut self, file: usize, k: RawKeys) {
        let lists: [(Action, RawKeyList); 17] = [
            (Action::Help, k.help),
            (Action::Quit, k.quit),
            (Action::FocusNext, k.focus_next),
            (Action::FocusPrev, k.focus_prev),
            (Action::Down, k.down),
            (Action::Up, k.up),
            (Action::Top, k.top),
            (Action::Bottom, k.bottom),
            (Action::Open, k.open),
            (Action::Ack, k.ack),
            (Action::Freeze, k.freeze),
            (Action::Targets, k.targets),
            (Action::Silence, k.silence),
            (Action::Filter, k.filter),
            (Action::Palette, k.palette),
            (Action::Run, k.run),
            (Action::Back, k.back),
        ];
        for (action, list) in lists {
            if let Some(v) = list {
                self.keys.retain(|(a, _)| *a != action);
                self.keys.push((action, At { file, v }));
            }
        }
    }
}

struct Validator {
    files: Vec<File>,
    errors: Vec<ConfigError>,
}

impl Validator {
    fn error_at(&self, file: usize, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let f = &self.files[file];
        let offset = span.start.min(f.text.len());
        let before = &f.text[..f.text.floor_char_boundary(offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ConfigError { file: f.name.clone(), line, col, message: message.into() }
    }

    fn err<T>(&mut self, a: &At<T>, message: impl Into<String>) {
        let e = self.error_at(a.file, a.span(), message);
        self.errors.push(e);
    }

    fn err_span(&mut self, file: usize, span: Range<usize>, message: impl Into<String>) {
        let e = self.error_at(file, span, message);
        self.errors.push(e);
    }

    fn place(&self, file: usize, span: Range<usize>) -> String {
        let e = self.error_at(file, span, "");
        format!("{}:{}:{}", e.file, e.line, e.col)
    }

    fn duration(&mut self, a: &Option<At<String>>, default: Duration) -> Duration {
        match a {
            None => default,
            Some(a) => match units::parse_duration(a.get()) {
                Ok(d) => d,
                Err(m) => {
                    self.err(a, m);
                    default
                }
            },
        }
    }

    fn positive(&mut self, a: &Option<At<i64>>, what: &str, default: usize) -> usize {
        match a {
            None => default,
            Some(a) if *a.get() > 0 => usize::try_from(*a.get()).unwrap_or(usize::MAX),
            Some(a) => {
                self.err(a, format!("{what} must be a positive number"));
                default
            }
        }
    }

    fn build(&mut self, raws: Vec<(usize, RawFile)>, origin: ConfigSource) -> Config {
        let mut cockpit = MergedCockpit::default();
        let mut sources: Vec<(usize, Spanned<RawSource>)> = Vec::new();
        let mut signals: Vec<MergedSignal> = Vec::new();
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut queries: Vec<MergedSignal> = Vec::new();
        let mut query_ids: HashMap<String, usize> = HashMap::new();
        let mut settings = MergedSettings::default();
        // `builtin-signals = false` (the last file that sets it wins) drops the shipped signals.
        let builtin = raws
            .iter()
            .rev()
            .find_map(|(_, r)| r.cockpit.as_ref()?.builtin_signals.as_ref().map(|b| *b.get_ref()))
            .unwrap_or(true);
        for (file, r) in raws {
            if let Some(c) = r.cockpit {
                cockpit.apply(file, c);
            }
            if let Some(k) = r.keys {
                cockpit.apply_keys(file, k);
            }
            settings.apply(file, r.runbooks, r.audit, r.exec);
            // The user's file replaces the default sources (the built-in fleet) as a whole, even
            // with none: a production config never watches the simulation by accident.
            if file > 0 || !r.source.is_empty() {
                sources = r.source.into_iter().map(|s| (file, s)).collect();
            }
            let signals_here = if file == 0 && !builtin { Vec::new() } else { r.signal };
            self.overlay_signals(file, signals_here, &mut signals, &mut by_id, "signal");
            // The shipped report queries read the shipped signals' metrics: they go with them.
            let queries_here = if file == 0 && !builtin { Vec::new() } else { r.report_query };
            self.overlay_signals(file, queries_here, &mut queries, &mut query_ids, "report-query");
            settings.apply_incidents(file, r.incidents);
        }
        let cockpit = self.cockpit(&cockpit);
        let sources: Vec<Source> = self.sources(sources);
        let signals = signals
            .into_iter()
            .filter(|s| s.enabled.as_ref().is_none_or(|e| *e.get()))
            .filter_map(|s| self.signal(s, &sources, "signal"))
            .collect();
        let report_queries = queries
            .into_iter()
            .filter(|s| s.enabled.as_ref().is_none_or(|e| *e.get()))
            .filter_map(|q| self.report_query(q, &sources))
            .collect();
        let (runbooks, audit, exec) = self.settings(&settings, &sources);
        let incidents = self.incidents(&settings);
        Config { origin, cockpit, sources, signals, runbooks, audit, exec, report_queries, incidents }
    }

    /// One file's `[[signal]]` (or `[[report-query]]`) tables onto the merged list: a known id
    /// changes only the keys it sets, a new id is added, an id twice in one file is an error.
    fn overlay_signals(
        &mut self,
        file: usize,
        list: Vec<Spanned<RawSignal>>,
        merged: &mut Vec<MergedSignal>,
        by_id: &mut HashMap<String, usize>,
        table: &str,
    ) {
        let mut seen_here: HashMap<String, Range<usize>> = HashMap::new();
        for s in list {
            let span = s.span();
            let raw = s.into_inner();
            let id = raw.id.as_ref().map(|i| i.get_ref().clone());
            if let Some(id) = &id {
                let id_span = raw.id.as_ref().map(Spanned::span).unwrap_or(span.clone());
                if let Some(first) = seen_here.get(id) {
                    let msg =
                        format!("duplicate {table} id {id:?} (first defined at {})", self.place(file, first.clone()));
                    self.err_span(file, id_span, msg);
                    continue;
                }
                seen_here.insert(id.clone(), id_span);
            }
            match id.as_ref().and_then(|i| by_id.get(i)) {
                Some(&k) => merged[k].apply(file, span, raw),
                None => {
                    let mut m = MergedSignal::default();
                    m.apply(file, span, raw);
                    if let Some(id) = id {
                        by_id.insert(id, merged.len());
                    }
                    merged.push(m);
                }
            }
        }
    }

    /// A `[[report-query]]`: a signal's expression without the dashboard's keys.
    fn report_query(&mut self, q: MergedSignal, sources: &[Source]) -> Option<Signal> {
        let keys = [
            ("panel", q.panel.as_ref().map(At::place)),
            ("warn", q.warn.as_ref().map(At::place)),
            ("page", q.page.as_ref().map(At::place)),
            ("clear", q.clear.as_ref().map(At::place)),
            ("for", q.for_.as_ref().map(At::place)),
            ("keep-firing-for", q.keep_firing_for.as_ref().map(At::place)),
            ("runbook", q.runbook.as_ref().map(At::place)),
            ("bars", q.bars.as_ref().map(At::place)),
        ];
        for (key, place) in keys {
            if let Some((file, span)) = place {
                let msg = format!("a [[report-query]] takes id, title, expr, unit, direction and source, not {key}");
                self.err_span(file, span, msg);
            }
        }
        self.signal(q, sources, "report-query")
    }

    fn incidents(&mut self, m: &MergedSettings) -> IncidentSettings {
        let d = IncidentSettings::default();
        let prefix = match &m.prefix {
            None => d.prefix,
            Some(a) => {
                let p = a.get();
                if p.is_empty() || p.len() > 16 || !p.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                    self.err(a, "prefix must be 1 to 16 capital letters or digits (ids read PREFIX-2026-001)");
                    d.prefix
                } else if p == "DRILL" {
                    self.err(a, "prefix DRILL is kept for drills' incidents");
                    d.prefix
                } else {
                    p.clone()
                }
            }
        };
        let quiet = self.duration(&m.quiet, d.quiet);
        let severity = match &m.severity {
            None => d.severity,
            Some(a) if INCIDENT_SEVERITIES.contains(&a.get().as_str()) => a.get().clone(),
            Some(a) => {
                self.err(a, format!("severity must be one of {}", INCIDENT_SEVERITIES.join(", ")));
                d.severity
            }
        };
        IncidentSettings { prefix, quiet, severity }
    }

    fn path(&self, a: &At<String>) -> PathBuf {
        self.files[a.file].dir.join(a.get())
    }

    fn settings(&mut self, m: &MergedSettings, sources: &[Source]) -> (RunbookSettings, AuditSettings, ExecSettings) {
        let all_sim = !sources.is_empty() && sources.iter().all(|s| matches!(s.kind, SourceKind::Sim(_)));
        let profile = match &m.profile {
            None if all_sim => Profile::Sim,
            None => Profile::Prod,
            Some(a) => match a.get().as_str() {
                "sim" => Profile::Sim,
                "prod" => Profile::Prod,
                other => {
                    self.err(a, format!("unknown profile {other:?}: use \"sim\" or \"prod\""));
                    Profile::Prod
                }
            },
        };
        let runbooks = RunbookSettings { dir: m.dir.as_ref().map(|a| self.path(a)), profile };
        let audit = AuditSettings { path: m.audit_path.as_ref().map_or_else(default_audit_path, |a| self.path(a)) };
        let timeout = self.duration(&m.timeout, Duration::from_secs(60));
        if timeout.is_zero()
            && let Some(a) = &m.timeout
        {
            self.err(a, "timeout must be longer than 0s");
        }
        let output_cap = match &m.output_cap {
            None => 64 << 10,
            Some(a) => match units::parse_size(a.get()) {
                Ok(n) if (1024..=(64 << 20)).contains(&n) => usize::try_from(n).unwrap_or(64 << 10),
                Ok(_) => {
                    self.err(a, "output-cap must be between 1KiB and 64MiB");
                    64 << 10
                }
                Err(e) => {
                    self.err(a, e);
                    64 << 10
                }
            },
        };
        (runbooks, audit, ExecSettings { timeout, output_cap })
    }

    /// `[keys]`: each key must parse, and no key may end up bound to two actions.
    fn keys(&mut self, c: &MergedCockpit) -> Vec<(Action, Vec<Key>)> {
        let mut out: Vec<(Action, Vec<Key>)> = Vec::new();
        let mut spans: Vec<(Key, usize, Range<usize>)> = Vec::new();
        for (action, list) in &c.keys {
            let mut keys = Vec::new();
            if list.get().is_empty() {
                self.err(list, format!("{} needs at least one key", action.name()));
            }
            for k in list.get() {
                match Key::parse(k.get_ref()) {
                    Ok(key) => {
                        keys.push(key);
                        spans.push((key, list.file, k.span()));
                    }
                    Err(e) => self.err_span(list.file, k.span(), e),
                }
            }
            out.push((*action, keys));
        }
        let map = KeyMap::with_overrides(&out);
        for (key, file, span) in spans {
            let actions = map.actions_of(key);
            if actions.len() > 1 {
                let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
                self.err_span(
                    file,
                    span,
                    format!("{} is bound to more than one action: {}", key.label(), names.join(", ")),
                );
            }
        }
        out
    }

    fn cockpit(&mut self, c: &MergedCockpit) -> Cockpit {
        let refresh = self.duration(&c.refresh, Duration::from_secs(1));
        let history = self.duration(&c.history, Duration::from_secs(15 * 60));
        let lookback = self.duration(&c.lookback, Duration::from_secs(5 * 60));
        if refresh.is_zero()
            && let Some(a) = &c.refresh
        {
            self.err(a, "refresh must be longer than 0s");
        }
        if lookback.is_zero()
            && let Some(a) = &c.lookback
        {
            self.err(a, "lookback must be longer than 0s");
        }
        if history < refresh
            && let Some(a) = &c.history
        {
            self.err(a, "history must be at least as long as refresh");
        }
        Cockpit {
            bell: c.bell.as_ref().is_none_or(|b| *b.get()),
            keys: self.keys(c),
            title: c.title.as_ref().map_or_else(|| "nightwatch".to_owned(), |t| t.get().clone()),
            environment: c.environment.as_ref().map_or_else(String::new, |t| t.get().clone()),
            refresh,
            history,
            lookback,
            max_series: self.positive(&c.max_series, "max-series", 1_000_000),
            max_alerts_per_signal: self.positive(&c.max_alerts_per_signal, "max-alerts-per-signal", 100),
            max_concurrent_scrapes: self.positive(&c.max_concurrent_scrapes, "max-concurrent-scrapes", 256),
        }
    }

    fn sources(&mut self, raw: Vec<(usize, Spanned<RawSource>)>) -> Vec<Source> {
        let mut out: Vec<Source> = Vec::new();
        let mut names: HashMap<String, Range<usize>> = HashMap::new();
        for (file, s) in raw {
            let table = s.span();
            let r = s.into_inner();
            let Some(name) = at(file, r.name.clone()) else {
                self.err_span(file, table, "a [[source]] needs a name");
                continue;
            };
            if name.get().trim().is_empty() {
                self.err(&name, "source name must not be empty");
                continue;
            }
            if let Some(first) = names.get(name.get()) {
                let msg = format!(
                    "duplicate source name {:?} (first defined at {})",
                    name.get(),
                    self.place(file, first.clone())
                );
                self.err(&name, msg);
                continue;
            }
            names.insert(name.get().clone(), name.span());
            let kind = at(file, r.kind.clone());
            let interval_at = at(file, r.interval.clone());
            let interval = self.duration(&interval_at, Duration::from_secs(15));
            if interval.is_zero()
                && let Some(a) = &interval_at
            {
                self.err(a, "interval must be longer than 0s");
            }
            let timeout_at = at(file, r.timeout.clone());
            let timeout = self.duration(&timeout_at, interval.min(Duration::from_secs(10)));
            if let Some(a) = &timeout_at {
                if timeout > interval {
                    let msg = format!(
                        "timeout {} is longer than the interval {}",
                        units::format_duration(timeout),
                        units::format_duration(interval)
                    );
                    self.err(a, msg);
                } else if timeout.is_zero() {
                    self.err(a, "timeout must be longer than 0s");
                }
            }
            let auth = self.auth(file, &r.bearer_token_file, &r.bearer_token_env, &r.basic_auth);
            let ca = at(file, r.ca_file.clone());
            let tls = Tls {
                ca_file: ca.as_ref().map(|a| self.files[file].dir.join(a.get())),
                insecure_skip_verify: r.insecure_skip_verify.as_ref().is_some_and(|v| *v.get_ref()),
            };
            if let (Some(a), Some(p)) = (&ca, &tls.ca_file)
                && let Err(e) = std::fs::read(p)
            {
                self.err(a, format!("cannot read CA file {}: {e}", p.display()));
            }
            let kind = match kind.as_ref().map(|k| k.get().as_str()) {
                Some("scrape") => self.scrape(file, table.clone(), &r),
                Some("prometheus") => {
                    for (k, present) in [("targets", r.targets.is_some()), ("file-sd", r.file_sd.is_some())] {
                        if present {
                            self.err_span(
                                file,
                                table.clone(),
                                format!("{k} belongs to a scrape source, not a prometheus one"),
                            );
                        }
                    }
                    match at(file, r.url.clone()) {
                        None => {
                            self.err_span(file, table, "a prometheus source needs a url");
                            None
                        }
                        Some(u) => match Url::parse(u.get()) {
                            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(SourceKind::Prometheus { url }),
                            Ok(_) => {
                                self.err(&u, "url must be http:// or https://");
                                None
                            }
                            Err(e) => {
                                self.err(&u, format!("invalid url: {e}"));
                                None
                            }
                        },
                    }
                }
                Some("sim") => self.sim(file, table.clone(), &r),
                Some(other) => {
                    let msg = format!("unknown source kind {other:?}: use \"scrape\", \"prometheus\" or \"sim\"");
                    if let Some(k) = &kind {
                        self.err(k, msg);
                    }
                    None
                }
                None => {
                    self.err_span(file, table, "a [[source]] needs a kind (\"scrape\", \"prometheus\" or \"sim\")");
                    None
                }
            };
            if !matches!(kind, Some(SourceKind::Sim(_)) | None) {
                for (k, span) in [
                    ("nodes", r.nodes.as_ref().map(Spanned::span)),
                    ("seed", r.seed.as_ref().map(Spanned::span)),
                    ("speed", r.speed.as_ref().map(Spanned::span)),
                ] {
                    if let Some(span) = span {
                        self.err_span(file, span, format!("{k} belongs to a sim source"));
                    }
                }
            }
            if let Some(kind) = kind {
                out.push(Source { name: name.get().clone(), interval, timeout, auth, tls, kind });
            }
        }
        out
    }

    fn sim(&mut self, file: usize, table: Range<usize>, r: &RawSource) -> Option<SourceKind> {
        for (k, present) in [
            ("targets", r.targets.is_some()),
            ("file-sd", r.file_sd.is_some()),
            ("url", r.url.is_some()),
            ("metrics-path", r.metrics_path.is_some()),
            ("scheme", r.scheme.is_some()),
        ] {
            if present {
                self.err_span(
                    file,
                    table.clone(),
                    format!("{k} does not apply to a sim source (the fleet runs in-process)"),
                );
            }
        }
        let nodes = self.positive(&at(file, r.nodes.clone()), "nodes", 47);
        if nodes > 100_000
            && let Some(a) = at(file, r.nodes.clone())
        {
            self.err(&a, "nodes must be at most 100000");
        }
        let seed = match at(file, r.seed.clone()) {
            None => 1,
            Some(a) => u64::try_from(*a.get()).unwrap_or_else(|_| {
                self.err(&a, "seed must not be negative");
                1
            }),
        };
        let speed = match at(file, r.speed.clone()) {
            None => 1.0,
            Some(a) => {
                let v = *a.get();
                if !(v > 0.0 && v <= crate::sim::server::MAX_SPEED) {
                    self.err(&a, format!("speed must be above 0 and at most {}", crate::sim::server::MAX_SPEED));
                }
                v
            }
        };
        Some(SourceKind::Sim(SimFleet { nodes, seed, speed }))
    }

    fn scrape(&mut self, file: usize, table: Range<usize>, r: &RawSource) -> Option<SourceKind> {
        let targets = &r.targets;
        let scheme_at = at(file, r.scheme.clone());
        let scheme = scheme_at.as_ref().map_or("http", |s| s.get().as_str()).to_owned();
        if let Some(a) = &scheme_at
            && !matches!(scheme.as_str(), "http" | "https")
        {
            self.err(a, "scheme must be \"http\" or \"https\"");
        }
        let path_at = at(file, r.metrics_path.clone());
        let metrics_path = path_at.as_ref().map_or("/metrics", |s| s.get().as_str()).to_owned();
        if let Some(a) = &path_at
            && !metrics_path.starts_with('/')
        {
            self.err(a, "metrics-path must start with /");
        }
        if let Some(r) = &r.url {
            self.err_span(file, r.span(), "url belongs to a prometheus source; a scrape source lists targets");
        }
        let mut urls = Vec::new();
        if let Some(list) = targets {
            for t in list.get_ref() {
                match target_url(t.get_ref(), &scheme, &metrics_path) {
                    Ok(u) => urls.push(u),
                    Err(m) => self.err_span(file, t.span(), m),
                }
            }
        }
        let file_sd = at(file, r.file_sd.clone()).map(|f| self.files[file].dir.join(f.get()));
        if targets.is_none() && file_sd.is_none() {
            self.err_span(file, table, "a scrape source needs targets or file-sd");
        }
        let d = Limits::default();
        let body_at = at(file, r.body_limit.clone());
        let body_bytes = match &body_at {
            None => d.body_bytes,
            Some(a) => match units::parse_size(a.get()) {
                Ok(0) => {
                    self.err(a, "body-limit must be more than 0");
                    d.body_bytes
                }
                Ok(b) => b,
                Err(m) => {
                    self.err(a, m);
                    d.body_bytes
                }
            },
        };
        let limits = Limits {
            body_bytes,
            samples: self.positive(&at(file, r.sample_limit.clone()), "sample-limit", d.samples),
            labels: self.positive(&at(file, r.label_limit.clone()), "label-limit", d.labels),
            label_name_length: self.positive(
                &at(file, r.label_name_length_limit.clone()),
                "label-name-length-limit",
                d.label_name_length,
            ),
            label_value_length: self.positive(
                &at(file, r.label_value_length_limit.clone()),
                "label-value-length-limit",
                d.label_value_length,
            ),
        };
        let rules_at = at(file, r.openmetrics_value_rules.clone());
        let value_rules = match rules_at.as_ref().map(|a| a.get().as_str()) {
            None | Some("strict") => ValueRules::Strict,
            Some("warn") => ValueRules::Warn,
            Some(other) => {
                let msg = format!("openmetrics-value-rules must be \"strict\" or \"warn\", not {other:?}");
                if let Some(a) = &rules_at {
                    self.err(a, msg);
                }
                ValueRules::Strict
            }
        };
        Some(SourceKind::Scrape(Scrape { targets: urls, file_sd, scheme, metrics_path, limits, value_rules }))
    }

    fn auth(
        &mut self,
        file: usize,
        token_file: &Option<Spanned<String>>,
        token_env: &Option<Spanned<String>>,
        basic: &Option<Spanned<RawBasicAuth>>,
    ) -> Auth {
        let dir = self.files[file].dir.clone();
        let bearer = match (token_file, token_env) {
            (Some(_), Some(e)) => {
                self.err_span(file, e.span(), "set bearer-token-file or bearer-token-env, not both");
                None
            }
            (Some(f), None) => Some(Secret::File(dir.join(f.get_ref()))),
            (None, Some(e)) => Some(Secret::Env(e.get_ref().clone())),
            (None, None) => None,
        };
        let basic = basic.as_ref().and_then(|b| {
            let b_span = b.span();
            let b = b.get_ref();
            let secret = match (&b.password_file, &b.password_env) {
                (Some(f), None) => Some(Secret::File(dir.join(f.get_ref()))),
                (None, Some(e)) => Some(Secret::Env(e.get_ref().clone())),
                _ => {
                    self.err_span(file, b_span, "basic-auth needs exactly one of password-file and password-env");
                    None
                }
            };
            secret.map(|s| (b.username.get_ref().clone(), s))
        });
        if bearer.is_some()
            && basic.is_some()
            && let Some(t) = token_file.as_ref().or(token_env.as_ref())
        {
            self.err_span(file, t.span(), "set a bearer token or basic auth, not both");
        }
        Auth { bearer, basic }
    }

    /// A `[[signal]]` (or, with `table = "report-query"`, a report query) checked and built.
    fn signal(&mut self, s: MergedSignal, sources: &[Source], table: &str) -> Option<Signal> {
        let (tfile, tspan) = s.table.clone()?;
        let Some(id) = &s.id else {
            self.err_span(tfile, tspan, format!("a [[{table}]] needs an id"));
            return None;
        };
        let id_ok = !id.get().is_empty() && id.get().chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !id_ok {
            self.err(id, format!("{table} id must be letters, digits, '-' or '_'"));
        }
        let Some(expr_at) = &s.expr else {
            self.err(id, format!("{table} {:?} needs an expr", id.get()));
            return None;
        };
        let parsed = match promql::parse(expr_at.get()) {
            Ok(e) => e,
            Err(m) => {
                self.err(expr_at, format!("expression does not parse: {}", m.trim()));
                return None;
            }
        };
        let panel = s.panel.as_ref().map(|p| p.get().clone());
        if let (Some(p), Some(a)) = (&panel, &s.panel)
            && !PANELS.contains(&p.as_str())
        {
            self.err(a, format!("unknown panel {p:?}: use one of {}", PANELS.join(", ")));
        }
        let unit = match &s.unit {
            None => Unit::Count,
            Some(u) => Unit::parse(u.get()).unwrap_or_else(|m| {
                self.err(u, m);
                Unit::Count
            }),
        };
        let direction = match s.direction.as_ref().map(|d| d.get().as_str()) {
            None | Some("above") => Direction::Above,
            Some("below") => Direction::Below,
            Some(other) => {
                let msg = format!("direction must be \"above\" or \"below\", not {other:?}");
                if let Some(d) = &s.direction {
                    self.err(d, msg);
                }
                Direction::Above
            }
        };
        let threshold = |v: &mut Validator, a: &Option<At<Threshold>>| -> Option<f64> {
            let a = a.as_ref()?;
            let r = match a.get() {
                Threshold::Number(n) => Ok(*n),
                Threshold::Text(t) => unit.parse_threshold(t),
            };
            match r {
                Ok(x) if x.is_finite() => Some(x),
                Ok(_) => {
                    v.err(a, "threshold must be a finite number");
                    None
                }
                Err(m) => {
                    v.err(a, m);
                    None
                }
            }
        };
        let warn = threshold(self, &s.warn);
        let page = threshold(self, &s.page);
        let clear = threshold(self, &s.clear);
        let worse = |a: f64, b: f64| match direction {
            Direction::Above => a > b,
            Direction::Below => a < b,
        };
        if let (Some(w), Some(p), Some(a)) = (warn, page, &s.warn)
            && worse(w, p)
        {
            let word = if direction == Direction::Above { "above" } else { "below" };
            self.err(a, format!("warn threshold {} is {word} the page threshold {}", unit.format(w), unit.format(p)));
        }
        if let (Some(c), Some(a)) = (clear, &s.clear) {
            match warn.or(page) {
                None => self.err(a, "clear needs a warn or page threshold"),
                Some(w) if worse(c, w) => {
                    self.err(
                        a,
                        format!(
                            "clear threshold {} must not be past the warn threshold {}",
                            unit.format(c),
                            unit.format(w)
                        ),
                    );
                }
                _ => {}
            }
        }
        let evaluation = match &s.source {
            Some(src) => match sources.iter().position(|x| &x.name == src.get()) {
                Some(k) if matches!(sources[k].kind, SourceKind::Prometheus { .. }) => Evaluation::Server(k),
                Some(_) => {
                    self.err(
                        src,
                        format!(
                            "source {:?} is a scrape source; only a prometheus source evaluates signals",
                            src.get()
                        ),
                    );
                    Evaluation::Local
                }
                None => {
                    self.err(src, format!("no source named {:?}", src.get()));
                    Evaluation::Local
                }
            },
            None => {
                let servers: Vec<usize> = sources
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| matches!(x.kind, SourceKind::Prometheus { .. }))
                    .map(|(k, _)| k)
                    .collect();
                let scrapes = sources.len() - servers.len();
                match (scrapes, servers.as_slice()) {
                    (0, [k]) => Evaluation::Server(*k),
                    (0, [_, _, ..]) => {
                        self.err(
                            id,
                            format!("several prometheus sources: name the one for this {table} with source = \"...\""),
                        );
                        Evaluation::Local
                    }
                    _ => Evaluation::Local,
                }
            }
        };
        if evaluation == Evaluation::Local
            && let Err(u) = check_subset(&parsed)
        {
            self.err(expr_at, format!("{u} (scrape mode); evaluate it on a prometheus source instead"));
        }
        use promql_parser::parser::value::ValueType;
        if !matches!(parsed.value_type(), ValueType::Vector | ValueType::Scalar) {
            self.err(
                expr_at,
                format!("expression gives a {}, a {table} needs an instant vector or a scalar", parsed.value_type()),
            );
        }
        let for_ = self.duration(&s.for_, Duration::ZERO);
        let keep_firing_for = self.duration(&s.keep_firing_for, Duration::ZERO);
        Some(Signal {
            id: id.get().clone(),
            panel,
            title: s.title.as_ref().map_or_else(|| id.get().clone(), |t| t.get().clone()),
            expr: expr_at.get().clone(),
            parsed,
            unit,
            direction,
            warn,
            page,
            clear,
            for_,
            keep_firing_for,
            runbook: s.runbook.as_ref().map(|r| r.get().clone()),
            runbook_place: match (&s.runbook, &s.page) {
                (Some(a), _) => self.place(a.file, a.span()),
                (None, Some(a)) => self.place(a.file, a.span()),
                (None, None) => self.place(id.file, id.span()),
            },
            bars: s.bars.as_ref().is_some_and(|b| *b.get()),
            evaluation,
        })
    }
}

/// `host:port` or a full URL; a bare target gets the scheme and metrics path.
pub fn target_url(t: &str, scheme: &str, metrics_path: &str) -> Result<Url, String> {
    let t = t.trim();
    if t.is_empty() {
        return Err("empty target".into());
    }
    let url = if t.contains("://") {
        Url::parse(t).map_err(|e| format!("invalid target {t:?}: {e}"))?
    } else {
        let u =
            Url::parse(&format!("{scheme}://{t}{metrics_path}")).map_err(|e| format!("invalid target {t:?}: {e}"))?;
        if u.port().is_none() {
            return Err(format!("target {t:?} needs a port (host:port)"));
        }
        u
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("target {t:?} must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("target {t:?} has no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
