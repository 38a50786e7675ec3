//! Scrape targets: the static list of a source and Prometheus-style file_sd JSON files.

use std::path::Path;

use reqwest::Url;
use serde::Deserialize;

use crate::config::{Scrape, target_url};
use crate::series::Labels;

/// A target as discovered: its URL and the labels every sample it exposes gets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetSpec {
    pub url: Url,
    /// `job` (the source name), `instance` (host:port) and any labels from file_sd.
    pub labels: Labels,
}

/// `host:port` of a URL, the Prometheus `instance` label.
pub fn instance(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

fn spec(url: Url, job: &str, extra: &[(String, String)]) -> TargetSpec {
    let mut pairs: Vec<(String, String)> = extra.iter().filter(|(k, _)| !k.starts_with("__")).cloned().collect();
    pairs.push(("job".into(), job.to_owned()));
    pairs.push(("instance".into(), instance(&url)));
    TargetSpec { labels: Labels::from_pairs(pairs), url }
}

/// The static targets of a scrape source.
pub fn static_targets(job: &str, scrape: &Scrape) -> Vec<TargetSpec> {
    scrape.targets.iter().map(|u| spec(u.clone(), job, &[])).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    targets: Vec<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// Reads a file_sd JSON file: `[{"targets": ["host:port"], "labels": {"k": "v"}}]`.
/// `__scheme__` and `__metrics_path__` labels override the source's for their group.
pub fn read_file_sd(path: &Path, job: &str, scrape: &Scrape) -> Result<Vec<TargetSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_file_sd(&text, job, scrape).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_file_sd(text: &str, job: &str, scrape: &Scrape) -> Result<Vec<TargetSpec>, String> {
    let groups: Vec<Group> = serde_json::from_str(text).map_err(|e| format!("line {}: {e}", e.line()))?;
    let mut out = Vec::new();
    for (k, g) in groups.iter().enumerate() {
        let scheme = g.labels.get("__scheme__").map_or(scrape.scheme.as_str(), String::as_str);
        let path = g.labels.get("__metrics_path__").map_or(scrape.metrics_path.as_str(), String::as_str);
        let extra: Vec<(String, String)> = g.labels.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        for t in &g.targets {
            let url = target_url(t, scheme, path).map_err(|e| format!("group {}: {e}", k + 1))?;
            out.push(spec(url, job, &extra));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;
    use crate::intake::exposition::ValueRules;

    fn scrape() -> Scrape {
        Scrape {
            targets: vec![],
            file_sd: None,
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            limits: Limits::default(),
            value_rules: ValueRules::Strict,
        }
    }

    #[test]
    fn file_sd_groups_become_targets_with_labels() {
        let t = parse_file_sd(
            r#"[{"targets": ["10.0.0.1:9100", "10.0.0.2:9100"], "labels": {"zone": "a"}},
                {"targets": ["db:9187"], "labels": {"__metrics_path__": "/probe", "__scheme__": "https"}}]"#,
            "node",
            &scrape(),
        )
        .expect("valid");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].url.as_str(), "http://10.0.0.1:9100/metrics");
        assert_eq!(t[0].labels.to_string(), r#"{instance="10.0.0.1:9100", job="node", zone="a"}"#);
        assert_eq!(t[2].url.as_str(), "https://db:9187/probe");
        assert_eq!(t[2].labels.get("__metrics_path__"), None);
    }

    #[test]
    fn file_sd_errors_say_where() {
        let e = parse_file_sd("[{\"targets\": [\"a:1\"],\n \"lables\": {}}]", "j", &scrape()).expect_err("typo");
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse_file_sd(r#"[{"targets": ["no-port"]}]"#, "j", &scrape()).expect_err("no port");
        assert!(e.contains("needs a port"), "{e}");
    }
}
