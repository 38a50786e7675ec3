use super::*;

fn load(user: &str) -> Result<Config, ConfigErrors> {
    Config::from_texts(Some((Path::new("/etc/nw/user.toml"), user)))
}

fn errors(user: &str) -> Vec<String> {
    match load(user) {
        Ok(_) => panic!("expected errors for:\n{user}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_built_in_defaults_load_cleanly() {
    let c = Config::from_texts(None).expect("defaults are valid");
    assert_eq!(c.origin, ConfigSource::BuiltIn);
    assert!(c.signals.len() >= 7);
    for panel in PANELS {
        assert!(c.signals.iter().any(|s| s.panel.as_deref() == Some(*panel)), "no default signal for panel {panel}");
    }
    let skew = c.signals.iter().find(|s| s.id == "clock-skew").expect("clock-skew");
    assert_eq!((skew.warn, skew.page, skew.unit), (Some(0.1), Some(0.5), Unit::Seconds));
}

#[test]
fn user_file_overlays_signals_by_id_and_cockpit_by_key() {
    let c = load(
        r#"
[cockpit]
title = "Payments"

[[signal]]
id = "clock-skew"
warn = "200ms"

[[signal]]
id = "retry-storm"
enabled = false

[[signal]]
id = "queue-depth"
expr = "max(queue_depth)"
warn = 1000
"#,
    )
    .expect("valid");
    assert_eq!(c.cockpit.title, "Payments");
    assert_eq!(c.cockpit.refresh, Duration::from_secs(1), "untouched keys keep their defaults");
    let skew = c.signals.iter().find(|s| s.id == "clock-skew").expect("kept");
    assert_eq!(skew.warn, Some(0.2));
    assert_eq!(skew.page, Some(0.5), "only the keys the user sets change");
    assert!(!c.signals.iter().any(|s| s.id == "retry-storm"));
    assert!(c.signals.iter().any(|s| s.id == "queue-depth"));
}

#[test]
fn unknown_keys_are_rejected_with_their_place() {
    let e = errors("[cockpit]\ntitle = \"x\"\nrefersh = \"1s\"\n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("/etc/nw/user.toml:3:1: unknown field `refersh`"), "{}", e[0]);
}

#[test]
fn toml_syntax_errors_name_the_place() {
    let e = errors("[cockpit\n");
    assert!(e[0].starts_with("/etc/nw/user.toml:1:"), "{}", e[0]);
}

#[test]
fn every_validation_error_is_reported_with_file_line_col() {
    let e = errors(
        r#"[cockpit]
refresh = "1 second"

[[source]]
name = "fleet"
kind = "scrape"
targets = ["127.0.0.1:9100", "no-port"]
interval = "5s"
timeout = "10s"

[[signal]]
id = "a"
expr = "rate(x[5m]"
warn = 1

[[signal]]
id = "b"
expr = "predict_linear(x[5m], 60)"

[[signal]]
id = "c"
expr = "x"
warn = 10
page = 5

[[signal]]
id = "c"
expr = "y"
"#,
    );
    let want = [
        "/etc/nw/user.toml:2:11: invalid duration \"1 second\"",
        "/etc/nw/user.toml:7:30: target \"no-port\" needs a port",
        "/etc/nw/user.toml:9:11: timeout 10s is longer than the interval 5s",
        "/etc/nw/user.toml:13:8: expression does not parse",
        "/etc/nw/user.toml:18:8: function predict_linear() is not supported by the local evaluator",
        "/etc/nw/user.toml:23:8: warn threshold 10 is above the page threshold 5",
        "/etc/nw/user.toml:27:6: duplicate signal id \"c\" (first defined at /etc/nw/user.toml:21:6)",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "got  {got}\nwant {want}…");
    }
}

#[test]
fn thresholds_must_make_sense_for_the_direction() {
    let e = errors(
        r#"[[signal]]
id = "hit-rate"
expr = "x"
unit = "ratio"
direction = "below"
warn = "80%"
page = "90%"
clear = "70%"
"#,
    );
    assert!(e[0].contains("warn threshold 80% is below the page threshold 90%"), "{e:?}");
    assert!(e[1].contains("clear threshold 70% must not be past"), "{e:?}");
}

#[test]
fn server_sources_evaluate_what_the_local_subset_cannot() {
    let c = load(
        r#"
[[source]]
name = "prom"
kind = "prometheus"
url = "http://127.0.0.1:9090"

[[signal]]
id = "disk"
expr = "predict_linear(node_filesystem_free_bytes[1h], 3600)"
"#,
    )
    .expect("the server evaluates everything it parses");
    let disk = c.signals.iter().find(|s| s.id == "disk").expect("disk");
    assert_eq!(disk.evaluation, Evaluation::Server(0));
}

#[test]
fn bare_targets_get_scheme_and_path() {
    assert_eq!(
        target_url("10.0.0.1:9100", "http", "/metrics").map(|u| u.to_string()),
        Ok("http://10.0.0.1:9100/metrics".into())
    );
    assert_eq!(
        target_url("https://node:9100/probe?x=1", "http", "/metrics").map(|u| u.to_string()),
        Ok("https://node:9100/probe?x=1".into())
    );
    assert!(target_url("ftp://x:1", "http", "/metrics").is_err());
}

#[test]
fn retention_covers_the_widest_range() {
    let c = load(
        r#"
[cockpit]
builtin-signals = false

[[source]]
name = "s"
kind = "scrape"
targets = ["127.0.0.1:1"]
interval = "5s"

[[signal]]
id = "long"
expr = "rate(x[30m] offset 5m)"
"#,
    )
    .expect("valid");
    assert_eq!(c.retention(), Duration::from_secs(35 * 60 + 5));
    let r = c.retention_policy();
    assert_eq!(r.rules.len(), 1);
    assert_eq!(r.rules[0].1, (35 * 60 + 5) * 1000, "range + offset + one interval");
}

#[test]
fn instant_selectors_need_only_the_latest_sample() {
    let c = load(
        r#"
[cockpit]
builtin-signals = false

[[source]]
name = "s"
kind = "scrape"
targets = ["127.0.0.1:1"]
interval = "5s"

[[signal]]
id = "a"
expr = "max(x) + rate(y[1m]) - z offset 1m"
"#,
    )
    .expect("valid");
    let windows: Vec<i64> = c.retention_policy().rules.iter().map(|r| r.1).collect();
    assert_eq!(windows, [0, 65_000, 60_000 + 300_000 + 5_000]);
}

#[test]
fn examples_are_valid() {
    for name in ["sim.toml", "prometheus.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples").join(name);
        let text = std::fs::read_to_string(&path).expect("example exists");
        if let Err(e) = Config::from_texts(Some((&path, &text))) {
            panic!("{name}:\n{e}");
        }
    }
}

#[test]
fn builtin_signals_can_be_dropped() {
    let c = load("[cockpit]\nbuiltin-signals = false\n\n[[signal]]\nid = \"mine\"\nexpr = \"up\"\n").expect("valid");
    assert_eq!(c.signals.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["mine"]);
}

#[test]
fn a_scrape_source_without_targets_is_named_at_its_table() {
    let e = errors("[cockpit]\ntitle = \"x\"\n\n[[source]]\nname = \"s\"\nkind = \"scrape\"\n");
    assert!(e[0].starts_with("/etc/nw/user.toml:4:1: a scrape source needs targets or file-sd"), "{e:?}");
}

#[test]
fn keys_can_be_remapped_and_the_bell_turned_off() {
    let c = load("[cockpit]\nbell = false\n\n[keys]\nquit = [\"Q\", \"ctrl-q\"]\nack = [\"A\"]\n").expect("valid");
    assert!(!c.cockpit.bell);
    let map = crate::app::keys::KeyMap::with_overrides(&c.cockpit.keys);
    use crate::app::keys::{Action, Key};
    assert_eq!(map.action(Key::Char('Q')), Some(Action::Quit));
    assert_eq!(map.action(Key::Ctrl('q')), Some(Action::Quit));
    assert_eq!(map.action(Key::Char('q')), None, "the default q no longer quits");
    assert_eq!(map.action(Key::Char('A')), Some(Action::Ack));
    assert_eq!(map.action(Key::Char('a')), None);
    assert!(map.help().contains(&("Q ctrl-q".to_owned(), Action::Quit.describe())), "help shows the new keys");
    assert!(load("").expect("defaults").cockpit.bell, "the bell rings by default");
}

#[test]
fn bad_key_bindings_name_their_place() {
    let e = errors("[keys]\nquit = [\"ctrl-\"]\nack = [\"j\"]\nwarp = [\"w\"]\n");
    assert!(e.iter().any(|m| m.contains("unknown field `warp`")), "{e:?}");
    let e = errors("[keys]\nquit = [\"ctrl-\"]\nack = [\"j\"]\n");
    assert!(e.iter().any(|m| m.starts_with("/etc/nw/user.toml:2:9: unknown key \"ctrl-\"")), "{e:?}");
    assert!(
        e.iter().any(|m| m.starts_with("/etc/nw/user.toml:3:8: j is bound to more than one action: down, ack")),
        "{e:?}"
    );
    let e = errors("[keys]\nhelp = []\n");
    assert!(e.iter().any(|m| m.contains("help needs at least one key")), "{e:?}");
}

#[test]
fn report_queries_overlay_by_id_and_refuse_dashboard_keys() {
    let c = load("[[report-query]]\nid = \"skew-max\"\nexpr = \"max(node_timex_offset_seconds)\"\n").expect("valid");
    let q = c.report_queries.iter().find(|q| q.id == "skew-max").expect("skew-max");
    assert_eq!((q.expr.as_str(), q.unit), ("max(node_timex_offset_seconds)", Unit::Seconds), "expr retuned, unit kept");
    assert!(c.report_queries.iter().any(|q| q.id == "write-conflicts"), "the other shipped queries stay");
    assert_eq!(
        errors("[[report-query]]\nid = \"x\"\nexpr = \"up\"\npage = 3\n"),
        ["/etc/nw/user.toml:4:8: a [[report-query]] takes id, title, expr, unit, direction and source, not page"]
    );
    assert_eq!(
        errors("[[report-query]]\nid = \"x\"\nexpr = \"rate(up[5m]\"\n")[0].split(": expression").next(),
        Some("/etc/nw/user.toml:3:8")
    );
}

#[test]
fn incidents_settings_are_checked() {
    let c = load("[incidents]\nprefix = \"PAY\"\nquiet = \"30m\"\nseverity = \"P1\"\n").expect("valid");
    assert_eq!(
        c.incidents,
        IncidentSettings { prefix: "PAY".into(), quiet: Duration::from_secs(1800), severity: "P1".into() }
    );
    assert_eq!(Config::from_texts(None).expect("defaults").incidents, IncidentSettings::default());
    let e = errors("[incidents]\nprefix = \"pay-ops\"\nseverity = \"SEV1\"\nquiet = \"soon\"\n");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("/etc/nw/user.toml:2:10: prefix must be"), "{e:?}");
    assert!(errors("[incidents]\nprefix = \"DRILL\"\n")[0].contains("kept for drills"));
}
