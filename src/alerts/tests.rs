use super::*;
use crate::config::Config;
use crate::signals::{Level, Reading};

fn signal(warn: f64) -> Signal {
    let text = format!("[[signal]]\nid = \"s\"\nexpr = \"x\"\nwarn = {warn}\n");
    let c = Config::from_texts(Some((std::path::Path::new("t.toml"), &text))).expect("valid");
    c.signals.into_iter().find(|s| s.id == "s").expect("s")
}

fn reading(node: &str, v: f64) -> Reading {
    Reading { labels: Labels::from_pairs([("node", node)]), value: v, level: Level::Ok }
}

fn values(r: Vec<Reading>) -> Outcome {
    Outcome::Values { readings: r, warming_up: false }
}

#[test]
fn silences_need_a_comment_an_expiry_and_a_real_matcher() {
    let mut e = Engine::new(10, 0);
    let m = |s: &str| parse_matcher(s).expect("valid matcher");
    assert_eq!(e.silence(vec![m("node=a")], "  ", "me", 0, 10), Err(SilenceError::NoComment));
    assert_eq!(e.silence(vec![m("node=a")], "maintenance", "me", 10, 10), Err(SilenceError::NoExpiry));
    assert_eq!(e.silence(vec![], "all", "me", 0, 10), Err(SilenceError::MatchesEverything));
    assert_eq!(e.silence(vec![m("node=~.*")], "all", "me", 0, 10), Err(SilenceError::MatchesEverything));
    assert_eq!(e.silence(vec![m("node!=x")], "all", "me", 0, 10), Err(SilenceError::MatchesEverything));
    assert!(e.silence(vec![m("signal=s"), m("node=~.*")], "planned NTP work", "me", 0, 10).is_ok());
}

#[test]
fn a_silence_covers_matching_alerts_until_it_ends() {
    let sig = signal(5.0);
    let mut e = Engine::new(10, 60_000);
    e.observe(&sig, &values(vec![reading("a", 10.0), reading("b", 10.0)]), 0);
    let sid = e.silence(vec![parse_matcher("node=\"a\"").expect("ok")], "rebooting a", "me", 0, 1000).expect("ok");
    let a = e.alerts().iter().find(|x| x.labels.value("node") == "a").expect("a").clone();
    let b = e.alerts().iter().find(|x| x.labels.value("node") == "b").expect("b").clone();
    assert_eq!(e.silenced_by(&a, 500).map(|s| s.id), Some(sid));
    assert!(e.silenced_by(&b, 500).is_none());
    assert!(e.silenced_by(&a, 1000).is_none(), "ended");
    assert_eq!(e.expire_silences(1000).len(), 1);
    assert!(e.silences().is_empty());
}

#[test]
fn acking_a_resolved_or_unknown_alert_is_refused() {
    let sig = signal(5.0);
    let mut e = Engine::new(10, 60_000);
    e.observe(&sig, &values(vec![reading("a", 10.0)]), 0);
    let id = e.alerts()[0].id;
    assert!(e.ack(id + 100, "me", 1).is_err());
    e.observe(&sig, &values(vec![reading("a", 1.0)]), 1000);
    assert!(e.ack(id, "me", 1001).expect_err("resolved").contains("resolved"));
}

#[test]
fn resolved_alerts_expire_after_the_retention() {
    let sig = signal(5.0);
    let mut e = Engine::new(10, 60_000);
    e.observe(&sig, &values(vec![reading("a", 10.0)]), 0);
    e.observe(&sig, &values(vec![reading("a", 1.0)]), 1_000);
    e.observe(&sig, &values(vec![reading("a", 1.0)]), 61_000);
    assert_eq!(e.alerts().len(), 1);
    e.observe(&sig, &values(vec![reading("a", 1.0)]), 61_001);
    assert!(e.alerts().is_empty());
}

#[test]
fn nan_values_freeze_like_missing_ones() {
    let sig = signal(5.0);
    let mut e = Engine::new(10, 60_000);
    e.observe(&sig, &values(vec![reading("a", 10.0)]), 0);
    let t = e.observe(&sig, &values(vec![reading("a", f64::NAN)]), 1000);
    assert!(t.is_empty());
    assert!(e.alerts()[0].stale);
    assert_eq!(e.alerts()[0].state, State::Firing);
}

#[test]
fn matcher_syntax() {
    assert!(matches!(parse_matcher("node=~\"n-1.*\"").map(|m| m.op), Ok(MatchOp::Re(_))));
    assert!(parse_matcher("node").is_err());
    assert!(parse_matcher("0node=x").is_err());
    assert!(parse_matcher("node=~(").is_err());
}

#[test]
fn making_room_does_not_confuse_the_other_alerts() {
    let sig = signal(5.0);
    let mut e = Engine::new(2, 600_000);
    e.observe(&sig, &values(vec![reading("a", 10.0), reading("b", 10.0)]), 0);
    e.observe(&sig, &values(vec![reading("a", 1.0), reading("b", 10.0)]), 1000);
    // c needs room: resolved a goes. b, listed after a, must still count as seen.
    e.observe(&sig, &values(vec![reading("b", 10.0), reading("c", 10.0)]), 2000);
    let state: Vec<(String, State, bool)> =
        e.alerts().iter().map(|a| (a.labels.value("node").to_owned(), a.state, a.stale)).collect();
    assert_eq!(state, [("b".to_owned(), State::Firing, false), ("c".to_owned(), State::Firing, false)]);
    assert_eq!(e.overflow("s"), 0);
}
