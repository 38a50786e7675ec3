//! Alert scenarios: each `tests/scenarios/*.toml` file defines a signal (as in the config),
//! input series in Prometheus's `a+bxN` notation, and the alerts expected at given times.
//! The runner evaluates the signal at every step over a real store and feeds the alert engine.

use std::fs;
use std::path::Path;

use nightwatch::alerts::{Engine, TransitionKind};
use nightwatch::config::{Config, units::parse_duration};
use nightwatch::series::notation::{Point, parse_points, split_series};
use nightwatch::series::{Sample, Store, stale_nan};
use nightwatch::signals::{Outcome, evaluate_local};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Scenario {
    description: String,
    interval: String,
    steps: usize,
    #[serde(default)]
    fail_at: Vec<String>,
    #[serde(default)]
    max_alerts: Option<usize>,
    series: Vec<String>,
    #[serde(default)]
    act: Vec<Act>,
    signal: toml::Table,
    expect: Vec<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Act {
    at: String,
    ack: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    at: String,
    alerts: Vec<ExpectedAlert>,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    overflow: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    labels: String,
    state: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    stale: Option<bool>,
    #[serde(default)]
    acked: Option<bool>,
}

fn ms(s: &str) -> i64 {
    parse_duration(s).unwrap_or_else(|e| panic!("{e}")).as_millis() as i64
}

fn event_name(k: &TransitionKind) -> String {
    match k {
        TransitionKind::Pending => "pending".into(),
        TransitionKind::Firing(s) => format!("firing:{}", s.as_str()),
        TransitionKind::Escalated => "escalated".into(),
        TransitionKind::Deescalated => "deescalated".into(),
        TransitionKind::Resolved => "resolved".into(),
    }
}

fn run(path: &Path) -> Result<usize, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let sc: Scenario = toml::from_str(&text).map_err(|e| format!("bad scenario file: {e}"))?;
    let mut table = sc.signal.clone();
    table.insert("id".into(), toml::Value::String("scenario".into()));
    let mut wrapper = toml::Table::new();
    wrapper.insert("signal".into(), toml::Value::Array(vec![toml::Value::Table(table)]));
    let config_text = toml::to_string(&wrapper).map_err(|e| e.to_string())?;
    let config = Config::from_texts(Some((path, &config_text))).map_err(|e| format!("signal: {e}"))?;
    let signal = config.signals.iter().find(|s| s.id == "scenario").ok_or("no signal")?.clone();

    let interval = ms(&sc.interval);
    let mut store = Store::new(i64::MAX / 4, 10_000);
    for line in &sc.series {
        let (labels, rest) = split_series(line).ok_or_else(|| format!("bad series {line:?}"))?;
        let points = parse_points(rest)?;
        let id = store.get_or_create(&labels, None).map_err(|e| e.to_string())?;
        for (k, p) in points.iter().enumerate() {
            let t = k as i64 * interval;
            match p {
                Point::Value(v) => {
                    store.append(id, Sample { t, v: *v });
                }
                Point::Stale => {
                    store.append(id, Sample { t, v: stale_nan() });
                }
                Point::Omitted => {}
            }
        }
    }
    let fail_at: Vec<i64> = sc.fail_at.iter().map(|s| ms(s)).collect();
    let mut engine = Engine::new(sc.max_alerts.unwrap_or(config.cockpit.max_alerts_per_signal), 15 * 60 * 1000);
    let lookback = config.cockpit.lookback.as_millis() as i64;
    let mut checked = 0;
    for step in 0..sc.steps {
        let t = step as i64 * interval;
        let outcome = if fail_at.contains(&t) {
            Outcome::Failed { reason: "injected failure".into() }
        } else {
            evaluate_local(&signal, &store, lookback, t)
        };
        let events = engine.observe(&signal, &outcome, t);
        for act in sc.act.iter().filter(|a| ms(&a.at) == t) {
            let (labels, _) = split_series(&act.ack).ok_or("bad ack labels")?;
            let id = engine
                .alerts()
                .iter()
                .find(|a| a.labels == labels && a.is_active())
                .map(|a| a.id)
                .ok_or_else(|| format!("at {}: nothing to ack for {labels}", act.at))?;
            engine.ack(id, "tester", t)?;
        }
        for exp in sc.expect.iter().filter(|e| ms(&e.at) == t) {
            checked += 1;
            let here = format!("at {}", exp.at);
            let got: Vec<_> = engine.signal_alerts("scenario").collect();
            if got.len() != exp.alerts.len() {
                let desc: Vec<String> = got.iter().map(|a| format!("{} {}", a.labels, a.state.as_str())).collect();
                return Err(format!("{here}: expected {} alerts, got {}: {desc:?}", exp.alerts.len(), got.len()));
            }
            let mut used = vec![false; got.len()];
            for want in &exp.alerts {
                let (labels, _) = split_series(&want.labels).ok_or("bad labels")?;
                // The same label set can be listed twice: resolved, and firing again.
                let k = got
                    .iter()
                    .enumerate()
                    .position(|(k, a)| !used[k] && a.labels == labels && a.state.as_str() == want.state)
                    .ok_or_else(|| {
                        let have: Vec<String> =
                            got.iter().map(|a| format!("{} {}", a.labels, a.state.as_str())).collect();
                        format!("{here}: no {} alert for {labels}; have {have:?}", want.state)
                    })?;
                used[k] = true;
                let a = got[k];
                if let Some(sev) = &want.severity
                    && a.severity.as_str() != sev
                {
                    return Err(format!("{here}: {labels} severity {}, expected {sev}", a.severity.as_str()));
                }
                if let Some(stale) = want.stale
                    && a.stale != stale
                {
                    return Err(format!("{here}: {labels} stale={}, expected {stale}", a.stale));
                }
                if let Some(acked) = want.acked
                    && a.ack.is_some() != acked
                {
                    return Err(format!("{here}: {labels} acked={}, expected {acked}", a.ack.is_some()));
                }
            }
            if let Some(want) = &exp.events {
                let got: Vec<String> = events.iter().map(|e| event_name(&e.kind)).collect();
                if &got != want {
                    return Err(format!("{here}: events {got:?}, expected {want:?}"));
                }
            }
            if let Some(want) = exp.overflow
                && engine.overflow("scenario") != want
            {
                return Err(format!("{here}: overflow {}, expected {want}", engine.overflow("scenario")));
            }
        }
    }
    if checked != sc.expect.len() {
        return Err(format!("{} expectations are at times the scenario never reaches", sc.expect.len() - checked));
    }
    let _ = sc.description;
    Ok(checked)
}

#[test]
fn alert_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut failures = Vec::new();
    let mut total = 0;
    for f in &files {
        match run(f) {
            Ok(n) => total += n,
            Err(e) => failures.push(format!("{}: {e}", f.file_name().and_then(|n| n.to_str()).unwrap_or("?"))),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(files.len() >= 9 && total >= 30, "{} scenarios, {total} expectations", files.len());
}
