//! The config file as written: every value keeps its span so that validation errors can name
//! `file:line:col`. Keys are kebab-case; unknown keys are rejected by the deserializer.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFile {
    pub cockpit: Option<RawCockpit>,
    pub keys: Option<RawKeys>,
    #[serde(default)]
    pub source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    pub signal: Vec<Spanned<RawSignal>>,
    pub runbooks: Option<RawRunbooks>,
    pub audit: Option<RawAudit>,
    pub exec: Option<RawExec>,
    /// `[[report-query]]`: the morning report's queries; the same keys as a signal's that a
    /// query can use (id, title, expr, unit, source).
    #[serde(default)]
    pub report_query: Vec<Spanned<RawSignal>>,
    pub incidents: Option<RawIncidents>,
}

/// `[incidents]`: how the cockpit opens and closes incidents.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawIncidents {
    pub prefix: Option<Spanned<String>>,
    pub quiet: Option<Spanned<String>>,
    pub severity: Option<Spanned<String>>,
}

/// `[runbooks]`: where more runbooks live, and which commands their steps run.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRunbooks {
    pub dir: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
}

/// `[audit]`: the audit log's path.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAudit {
    pub path: Option<Spanned<String>>,
}

/// `[exec]`: defaults for running steps.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawExec {
    pub timeout: Option<Spanned<String>>,
    pub output_cap: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawCockpit {
    pub title: Option<Spanned<String>>,
    pub environment: Option<Spanned<String>>,
    pub refresh: Option<Spanned<String>>,
    pub history: Option<Spanned<String>>,
    pub lookback: Option<Spanned<String>>,
    pub max_series: Option<Spanned<i64>>,
    pub max_alerts_per_signal: Option<Spanned<i64>>,
    pub max_concurrent_scrapes: Option<Spanned<i64>>,
    pub builtin_signals: Option<Spanned<bool>>,
    pub bell: Option<Spanned<bool>>,
}

/// `[keys]`: an action's keys, replacing its default ones.
pub type RawKeyList = Option<Spanned<Vec<Spanned<String>>>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawKeys {
    pub help: RawKeyList,
    pub quit: RawKeyList,
    pub focus_next: RawKeyList,
    pub focus_prev: RawKeyList,
    pub down: RawKeyList,
    pub up: RawKeyList,
    pub top: RawKeyList,
    pub bottom: RawKeyList,
    pub open: RawKeyList,
    pub ack: RawKeyList,
    pub freeze: RawKeyList,
    pub targets: RawKeyList,
    pub silence: RawKeyList,
    pub filter: RawKeyList,
    pub palette: RawKeyList,
    pub run: RawKeyList,
    pub back: RawKeyList,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSource {
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    // scrape
    pub targets: Option<Spanned<Vec<Spanned<String>>>>,
    pub file_sd: Option<Spanned<String>>,
    pub scheme: Option<Spanned<String>>,
    pub metrics_path: Option<Spanned<String>>,
    pub body_limit: Option<Spanned<String>>,
    pub sample_limit: Option<Spanned<i64>>,
    pub label_limit: Option<Spanned<i64>>,
    pub label_name_length_limit: Option<Spanned<i64>>,
    pub label_value_length_limit: Option<Spanned<i64>>,
    pub openmetrics_value_rules: Option<Spanned<String>>,
    // prometheus
    pub url: Option<Spanned<String>>,
    // sim
    pub nodes: Option<Spanned<i64>>,
    pub seed: Option<Spanned<i64>>,
    pub speed: Option<Spanned<f64>>,
    // both
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub bearer_token_file: Option<Spanned<String>>,
    pub bearer_token_env: Option<Spanned<String>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub ca_file: Option<Spanned<String>>,
    pub insecure_skip_verify: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawBasicAuth {
    pub username: Spanned<String>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSignal {
    pub id: Option<Spanned<String>>,
    pub enabled: Option<Spanned<bool>>,
    pub panel: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub expr: Option<Spanned<String>>,
    pub unit: Option<Spanned<String>>,
    pub direction: Option<Spanned<String>>,
    pub warn: Option<Spanned<Threshold>>,
    pub page: Option<Spanned<Threshold>>,
    pub clear: Option<Spanned<Threshold>>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub keep_firing_for: Option<Spanned<String>>,
    pub runbook: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub bars: Option<Spanned<bool>>,
}

/// A threshold: a number in the signal's unit, or a string with a unit (`"100ms"`, `"5%"`).
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub enum Threshold {
    Number(f64),
    Text(String),
}
