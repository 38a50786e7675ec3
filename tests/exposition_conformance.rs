//! The OpenMetrics project's parser conformance suite and Prometheus's real-world bodies.

use std::fs;
use std::path::{Path, PathBuf};

use nightwatch::intake::exposition::{Format, ValueRules, parse_all, parse_all_with};

fn conformance_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

struct Case {
    name: String,
    body: Vec<u8>,
    should_parse: bool,
}

fn openmetrics_cases() -> Vec<Case> {
    let dir = conformance_dir().join("openmetrics");
    let mut cases = Vec::new();
    for entry in fs::read_dir(&dir).expect("conformance dir") {
        let path = entry.expect("entry").path();
        if !path.is_dir() {
            continue;
        }
        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(path.join("test.json")).expect("test.json")).expect("json");
        cases.push(Case {
            name: path.file_name().expect("name").to_string_lossy().into_owned(),
            body: fs::read(path.join("metrics")).expect("metrics"),
            should_parse: meta["shouldParse"].as_bool().expect("shouldParse"),
        });
    }
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

#[test]
fn all_211_openmetrics_cases_are_judged_like_the_reference_parser() {
    let cases = openmetrics_cases();
    assert_eq!(cases.len(), 211);
    assert_eq!(cases.iter().filter(|c| c.should_parse).count(), 44);
    let mut wrong = Vec::new();
    for c in &cases {
        match (parse_all(&c.body, Format::OpenMetrics), c.should_parse) {
            (Ok(_), true) => {}
            (Err(e), false) => {
                // The error names a line of the body.
                let lines = c.body.split(|&b| b == b'\n').count().max(1) as u32;
                assert!(e.line >= 1 && e.line <= lines, "{}: error line {} outside 1..={lines}", c.name, e.line);
                assert!(!e.message.is_empty());
            }
            (Ok(_), false) => wrong.push(format!("{}: accepted, should be rejected", c.name)),
            (Err(e), true) => wrong.push(format!("{}: rejected ({e}), should parse", c.name)),
        }
    }
    assert!(wrong.is_empty(), "{} of 211 judged wrongly:\n{}", wrong.len(), wrong.join("\n"));
}

/// Under `ValueRules::Warn` only the cases that break a value rule are let through (and
/// counted); every syntax and structure case is still rejected.
#[test]
fn relaxed_value_rules_let_through_exactly_the_value_cases() {
    let expected = [
        "bad_counter_values_0",
        "bad_counter_values_1",
        "bad_counter_values_10",
        "bad_counter_values_15",
        "bad_counter_values_16",
        "bad_counter_values_17",
        "bad_counter_values_18",
        "bad_counter_values_19",
        "bad_counter_values_4",
        "bad_histograms_3",
        "bad_histograms_7",
        "bad_info_and_stateset_values_0",
        "bad_info_and_stateset_values_1",
    ];
    let mut flipped = Vec::new();
    for c in openmetrics_cases() {
        let relaxed = parse_all_with(&c.body, Format::OpenMetrics, ValueRules::Warn);
        if c.should_parse {
            assert!(relaxed.is_ok(), "{}", c.name);
        } else if let Ok(exp) = relaxed {
            assert!(exp.warnings.count >= 1, "{}: let through without a warning", c.name);
            assert!(exp.warnings.first.is_some());
            flipped.push(c.name);
        }
    }
    assert_eq!(flipped, expected);
}

#[test]
fn valid_openmetrics_bodies_yield_their_samples() {
    let body = fs::read(conformance_dir().join("openmetrics/escaping/metrics")).expect("read");
    let exp = parse_all(&body, Format::OpenMetrics).expect("valid");
    let fam = &exp.families[0];
    assert_eq!(fam.name, "a");
    assert_eq!(fam.help.as_deref(), Some("he\n\\l\\tp"));
    let values: Vec<&str> = fam.samples.iter().map(|s| s.labels[0].1.as_str()).collect();
    assert_eq!(values, ["b\"a\nr", "b\\a\\z", "b\"a\nr # ", "b\\a\\z # "]);

    let body = fs::read(conformance_dir().join("openmetrics/histogram_exemplars/metrics")).expect("read");
    let exp = parse_all(&body, Format::OpenMetrics).expect("valid");
    assert_eq!(exp.series_count(), 3);
    assert_eq!(exp.exemplars.len(), 3, "exemplars are kept aside");
    assert_eq!(exp.exemplars[2].timestamp_ms, Some(123_000));
}

#[test]
fn prometheus_textparse_bodies_parse_completely() {
    let dir = conformance_dir().join("prometheus/textparse");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let body = fs::read(&path).expect("read");
        let format = if name.contains(".om.") { Format::OpenMetrics } else { Format::Text };
        // client_golang's example body breaks OpenMetrics value rules (negative observations
        // with a _sum, negative quantiles): relaxed rules take it, strict ones name the line.
        let rules = if name == "alltypes.5mfs.om.txt" {
            let e = parse_all(&body, format).expect_err("strict rules reject it");
            assert_eq!(e.line, 33, "{e}");
            ValueRules::Warn
        } else {
            ValueRules::Strict
        };
        let exp = parse_all_with(&body, format, rules).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(exp.errors.is_empty(), "{name}: skipped lines: {:?}", exp.errors);
        // Every non-comment, non-blank line became a sample.
        let sample_lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty() && !l.starts_with(b"#")).count();
        assert_eq!(exp.series_count(), sample_lines, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}
