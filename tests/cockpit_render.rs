//! The cockpit's screen, rendered on ratatui's TestBackend from deterministic fixture series:
//! the simulated fleet at fixed simulated instants, fed through the same `update` the event loop
//! uses. Snapshots at 80x24 and 200x60 (all OK, a WARN, a PAGE with a target down), the
//! colour-free and ASCII themes, and no panic at any size.

use std::path::Path;
use std::time::Duration;

use nightwatch::app::keys::Key;
use nightwatch::app::state::{Flags, Msg, State, update};
use nightwatch::config::Config;
use nightwatch::intake::exposition::Format;
use nightwatch::intake::health::ScrapeDone;
use nightwatch::intake::http::Failure;
use nightwatch::intake::scheduler::{IntakeMsg, Target};
use nightwatch::intake::scrape::{NameFilter, ScrapeError, Spec, parse_body};
use nightwatch::intake::targets::TargetSpec;
use nightwatch::series::Labels;
use nightwatch::sim::{FaultSpec, Fleet, Injection, Latency, Nodes};
use nightwatch::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

/// 2026-11-23 03:00:00 UTC: the fixtures' epoch.
const T0: i64 = 1_795_489_200_000;
const STEP: i64 = 5_000;

fn config() -> Config {
    let text = "[cockpit]\ntitle = \"Async health (fixture)\"\nenvironment = \"staging\"\n\n\
                [[source]]\nname = \"sim\"\nkind = \"scrape\"\ntargets = [\"fleet:9464\", \"spare:9464\"]\n\
                interval = \"5s\"\ntimeout = \"4s\"\n";
    Config::from_texts(Some((Path::new("fixture.toml"), text))).expect("fixture config")
}

fn target(id: u64, instance: &str) -> Target {
    let url = format!("http://{instance}/metrics").parse().expect("url");
    Target {
        id,
        source: 0,
        spec: TargetSpec { url, labels: Labels::from_pairs([("job", "sim"), ("instance", instance)]) },
    }
}

/// The cockpit after `minutes` of the fleet with `faults` injected at minute 5; the second
/// target is down when `spare_down`.
fn state_after(faults: &[FaultSpec], minutes: i64, spare_down: bool) -> State {
    let config = config();
    let filter = NameFilter::for_signals(config.signals.iter());
    let spec = Spec {
        timeout: Duration::from_secs(4),
        limits: Default::default(),
        value_rules: Default::default(),
        force_format: None,
        auth: Default::default(),
        pool: None,
    };
    let mut state =
        State::new(config, Flags { demo: false, bell: true, user: "oncall".into(), ..Flags::default() }, T0);
    update(
        &mut state,
        Msg::Intake(IntakeMsg::TargetsChanged {
            source: 0,
            added: vec![target(1, "fleet:9464"), target(2, "spare:9464")],
            removed: vec![],
        }),
    );
    let mut fleet = Fleet::new(47, 1);
    let steps = minutes * 60_000 / STEP;
    for k in 1..=steps {
        let sim = k * STEP;
        if sim == 5 * 60_000 {
            for f in faults {
                fleet.inject(&Injection { fault: f.clone(), duration_s: Some(7200.0) }).expect("inject");
            }
        }
        fleet.advance_to(sim);
        let now = T0 + sim;
        let body = nightwatch::sim::render::render(&fleet, Format::Text).into_bytes();
        let scraped = parse_body(body, Format::Text, &spec, &filter).expect("the fleet parses");
        let done = |target, result| ScrapeDone {
            target,
            started_ms: now,
            duration: Duration::from_millis(12),
            lag: Duration::ZERO,
            result,
        };
        update(&mut state, Msg::Intake(IntakeMsg::Scraped(done(1, Ok(scraped)))));
        let spare = if spare_down {
            Err(ScrapeError::Request(Failure::ConnectionRefused))
        } else {
            // An exporter with none of the signals' metrics.
            let b = b"# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds 1.79e9\n".to_vec();
            Ok(parse_body(b, Format::Text, &spec, &filter).expect("parses"))
        };
        update(&mut state, Msg::Intake(IntakeMsg::Scraped(done(2, spare))));
        update(&mut state, Msg::Tick(now + 100));
    }
    state.library = nightwatch::runbooks::Library::load(None);
    let mut builtins = std::collections::BTreeMap::new();
    builtins.insert("sim".to_owned(), "127.0.0.1:9464".to_owned());
    state.exec = Some(nightwatch::exec::Context {
        mode: nightwatch::exec::Mode::Run,
        profile: nightwatch::config::Profile::Sim,
        default_timeout: Duration::from_secs(30),
        output_cap: 64 << 10,
        audit: nightwatch::audit::AuditLog::new("/nonexistent/audit.jsonl"),
        builtins,
        incident: None,
        exe: None,
    });
    state
}

fn render(state: &State, w: u16, h: u16, theme: Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let vm = ui::build(state);
    t.draw(|f| ui::draw(f, &vm, theme)).expect("draw");
    t
}

const COLOUR: Theme = Theme { mono: false, ascii: false };

/// A clock jump past the warn threshold (100 ms) but under the page one (500 ms).
fn small_jump() -> FaultSpec {
    FaultSpec::ClockJump { offset_s: 0.2, nodes: Nodes::Percent(0.1) }
}

fn drill() -> Vec<FaultSpec> {
    vec![
        FaultSpec::NetworkDelay {
            latency: Latency::Fixed { ms: 500.0 },
            from: Some("service-a".into()),
            to: Some("service-b".into()),
            cascade: false,
        },
        FaultSpec::ClockJump { offset_s: 120.0, nodes: Nodes::Percent(0.3) },
    ]
}

#[test]
fn all_ok() {
    let s = state_after(&[], 12, false);
    insta::assert_snapshot!("ok_80x24", render(&s, 80, 24, COLOUR).backend());
    insta::assert_snapshot!("ok_200x60", render(&s, 200, 60, COLOUR).backend());
}

#[test]
fn a_warn() {
    let s = state_after(&[small_jump()], 12, false);
    let screen = render(&s, 200, 60, COLOUR).backend().to_string();
    assert!(screen.contains("Clock skew  WARN"), "{screen}");
    assert!(!screen.contains("PAGE"), "{screen}");
    insta::assert_snapshot!("warn_80x24", render(&s, 80, 24, COLOUR).backend());
    insta::assert_snapshot!("warn_200x60", render(&s, 200, 60, COLOUR).backend());
}

#[test]
fn a_page_with_a_target_down() {
    let s = state_after(&drill(), 12, true);
    let screen = render(&s, 200, 60, COLOUR).backend().to_string();
    assert!(screen.contains("1/2 up"), "the header counts the down target");
    insta::assert_snapshot!("page_80x24", render(&s, 80, 24, COLOUR).backend());
    insta::assert_snapshot!("page_200x60", render(&s, 200, 60, COLOUR).backend());
}

#[test]
fn stale_when_no_target_answers() {
    let mut s = state_after(&[], 8, true);
    // The fleet stops answering too: what is on screen is old, and says so.
    let t = T0 + 8 * 60_000 + STEP;
    let done = ScrapeDone {
        target: 1,
        started_ms: t,
        duration: Duration::from_millis(4000),
        lag: Duration::ZERO,
        result: Err(ScrapeError::Request(Failure::Timeout)),
    };
    update(&mut s, Msg::Intake(IntakeMsg::Scraped(done)));
    update(&mut s, Msg::Tick(t + 100));
    let screen = render(&s, 120, 40, COLOUR).backend().to_string();
    assert!(screen.contains("STALE"), "{screen}");
    assert!(screen.contains("0/2 up"), "{screen}");
    assert!(!screen.contains("OK    "), "no signal claims OK on old data:\n{screen}");
}

#[test]
fn targets_view_and_help_overlay() {
    let mut s = state_after(&drill(), 6, true);
    update(&mut s, Msg::Key(Key::Char('t')));
    insta::assert_snapshot!("targets_120x30", render(&s, 120, 30, COLOUR).backend());
    update(&mut s, Msg::Key(Key::Char('t')));
    update(&mut s, Msg::Key(Key::Char('?')));
    let screen = render(&s, 100, 30, COLOUR).backend().to_string();
    for (keys, what) in s.keys.help() {
        assert!(screen.contains(&keys), "help lists {keys}");
        assert!(screen.contains(what), "help says {what}");
    }
}

#[test]
fn mono_uses_no_colour_at_all() {
    let s = state_after(&drill(), 12, true);
    for (w, h) in [(80, 24), (200, 60)] {
        let t = render(&s, w, h, Theme { mono: true, ascii: false });
        let buf = t.backend().buffer();
        for cell in buf.content() {
            assert!(cell.fg == Color::Reset && cell.bg == Color::Reset, "a coloured cell {cell:?}");
        }
        let text = t.backend().to_string();
        assert!(text.contains("PAGE"), "levels are words");
    }
    insta::assert_snapshot!("page_mono_80x24", render(&s, 80, 24, Theme { mono: true, ascii: false }).backend());
}

#[test]
fn ascii_uses_no_box_drawing_or_blocks() {
    let s = state_after(&drill(), 12, true);
    let t = render(&s, 200, 60, Theme { mono: false, ascii: true });
    let text = t.backend().to_string();
    // The shipped signal titles may hold any text ("user − health check"); the drawing may not.
    let non_ascii: Vec<char> = text.chars().filter(|c| !c.is_ascii() && *c != '−').collect();
    assert!(non_ascii.is_empty(), "non-ASCII glyphs: {non_ascii:?}");
    insta::assert_snapshot!("page_ascii_80x24", render(&s, 80, 24, Theme { mono: false, ascii: true }).backend());
}

#[test]
fn too_small_says_so() {
    let s = state_after(&[], 1, false);
    let text = render(&s, 79, 24, COLOUR).backend().to_string();
    assert!(text.contains("terminal too small (need 80x24)"), "{text}");
    let text = render(&s, 80, 23, COLOUR).backend().to_string();
    assert!(text.contains("too small"), "{text}");
}

#[test]
fn no_size_panics() {
    let mut s = state_after(&drill(), 7, true);
    // Open every overlay too: they have their own geometry.
    let mut sizes: Vec<(u16, u16)> = Vec::new();
    for w in (0..=300).step_by(7).chain([1, 2, 79, 80, 81, 119, 120, 121, 300]) {
        for h in (0..=100).step_by(9).chain([1, 2, 23, 24, 25, 100]) {
            sizes.push((w, h));
        }
    }
    // A random resize sequence (a fixed seed: reproducible).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sizes.push(((x % 301) as u16, ((x >> 20) % 101) as u16));
    }
    for (k, (w, h)) in sizes.into_iter().enumerate() {
        match k % 4 {
            1 => {
                update(&mut s, Msg::Key(Key::Char('?')));
            }
            2 => {
                update(&mut s, Msg::Key(Key::Esc));
                update(&mut s, Msg::Key(Key::Char('t')));
            }
            3 => {
                update(&mut s, Msg::Key(Key::Char('t')));
                update(&mut s, Msg::Key(Key::Tab));
                update(&mut s, Msg::Key(Key::Enter));
                for _ in 0..(k % 7) {
                    update(&mut s, Msg::Key(Key::Char('j')));
                }
                // A confirmation box over the pane, sometimes.
                if k % 2 == 1 {
                    update(&mut s, Msg::Key(Key::Char('x')));
                }
            }
            _ => {
                update(&mut s, Msg::Key(Key::Esc));
            }
        }
        update(&mut s, Msg::Resize(w, h));
        for theme in [COLOUR, Theme { mono: true, ascii: true }] {
            render(&s, w, h, theme);
        }
    }
}

#[test]
fn clock_offsets_are_signed_bars_either_side_of_zero() {
    let s = state_after(&[FaultSpec::ClockJump { offset_s: -0.3, nodes: Nodes::Percent(0.1) }], 8, false);
    let screen = render(&s, 200, 60, COLOUR).backend().to_string();
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains("node-") && l.contains('┊')).collect();
    assert!(!rows.is_empty(), "{screen}");
    // The worst first: a node 300 ms behind, its bar left of zero, its value negative.
    let worst = rows[0];
    assert!(worst.contains("-300ms") || worst.contains("-299ms") || worst.contains("-301ms"), "{worst}");
    let (left, right) = worst.split_once('┊').expect("zero");
    assert!(left.contains('█') && !right.split("  ").next().unwrap_or("").contains('█'), "{worst}");
    assert!(screen.contains("5 of 47 over 100ms, worst -3"), "{screen}");
}

/// The clock-skew alert's runbook, opened from the alerts list.
fn clock_skew_pane() -> State {
    let mut s = state_after(&drill(), 7, false);
    update(&mut s, Msg::Key(Key::Char('/')));
    for c in "clock-skew".chars() {
        update(&mut s, Msg::Key(Key::Char(c)));
    }
    update(&mut s, Msg::Key(Key::Enter));
    update(&mut s, Msg::Key(Key::Tab));
    update(&mut s, Msg::Key(Key::Enter));
    assert_eq!(s.pane.as_ref().and_then(|p| p.runbook.as_deref()), Some("clock-skew"));
    s
}

#[test]
fn the_runbook_pane_shows_the_live_path_beside_the_dashboard() {
    let s = clock_skew_pane();
    let wide = render(&s, 160, 44, COLOUR);
    let text = screen(&wide);
    assert!(text.contains("Runbook clock-skew"), "{text}");
    assert!(text.contains("yes: 2m on node-"), "the decision's live answer: {text}");
    assert!(text.contains("Clock skew"), "the dashboard stays visible at 160 columns: {text}");
    insta::assert_snapshot!("pane_160x44", wide.backend());
    // Below 120 columns the pane takes the screen.
    let narrow = render(&s, 80, 24, COLOUR);
    insta::assert_snapshot!("pane_80x24", narrow.backend());
}

#[test]
fn the_confirmation_shows_the_exact_argv_and_asks_for_the_target() {
    let mut s = clock_skew_pane();
    // Down to the NTP sync step on the live path.
    for _ in 0..2 {
        update(&mut s, Msg::Key(Key::Char('j')));
    }
    update(&mut s, Msg::Key(Key::Char('x')));
    let t = render(&s, 120, 40, COLOUR);
    let text = screen(&t);
    assert!(text.contains("ntp-sync") && text.contains("--nodes node-01"), "{text}");
    assert!(text.contains("Type the target's name"), "{text}");
    insta::assert_snapshot!("pane_confirm_120x40", t.backend());
}

fn screen(t: &Terminal<TestBackend>) -> String {
    let b = t.backend().buffer();
    let mut out = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            out.push_str(b[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn a_wide_pane_draws_the_flowchart_as_a_graph() {
    let s = clock_skew_pane();
    let t = render(&s, 240, 60, COLOUR);
    let text = screen(&t);
    // Boxes: the decision double-lined, actions single, with the live answer in the border.
    assert!(text.contains("║ Skew > 500ms? ║") || text.contains("Skew > 500ms?"), "{text}");
    assert!(text.contains("╔") && text.contains("▼ Yes") && text.contains("▼ No"), "{text}");
    insta::assert_snapshot!("pane_graph_240x60", t.backend());
}
