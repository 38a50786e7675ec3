//! A drill in the cockpit: the drill's session lives in the state; `update` feeds it the clock
//! (the cockpit runs on the drill's clock: simulated time), the signals' levels, acks, opened
//! runbooks and steps, and turns what it says into effects (inject, heal, write the scorecard).

use std::collections::BTreeSet;

use super::state::{Effect, State};
use crate::alerts::{Severity, State as AlertState};
use crate::drill::session::{Due, Scorecard, Session, clock};
use crate::text::escape_control;

/// A drill being run in the cockpit.
pub struct DrillRun {
    pub session: Session,
    /// The cockpit's clock when the drill started.
    pub started_ms: i64,
    pub seed: u64,
    pub speed: f64,
    /// Named on the scorecard only (the wheel of misfortune).
    pub hidden: bool,
    /// Injections asked for and not answered yet.
    inflight: BTreeSet<usize>,
    pub scorecard: Option<Scorecard>,
    /// The scorecard as the overlay shows it: made once, when the drill ends.
    pub card_lines: Vec<String>,
    /// The scorecard is shown over the dashboard.
    pub show_card: bool,
    /// Drill milliseconds per cockpit millisecond: 1 on the drill's own (scaled) clock, the
    /// fleet's speed when the drill runs against a fleet that keeps its own.
    pub clock_factor: f64,
}

impl DrillRun {
    pub fn new(session: Session, started_ms: i64, seed: u64, speed: f64, hidden: bool) -> DrillRun {
        DrillRun {
            session,
            started_ms,
            seed,
            speed,
            hidden,
            inflight: BTreeSet::new(),
            scorecard: None,
            card_lines: Vec::new(),
            show_card: false,
            clock_factor: 1.0,
        }
    }

    /// Drill time at cockpit time `now_ms`.
    pub fn elapsed(&self, now_ms: i64) -> i64 {
        ((now_ms - self.started_ms) as f64 * self.clock_factor) as i64
    }

    /// The banner: what runs, for how long; never the faults.
    pub fn banner(&self, now_ms: i64) -> String {
        let name = if self.hidden && self.scorecard.is_none() {
            "wheel of misfortune".to_owned()
        } else {
            format!("{} — {}", self.session.drill.id, self.session.drill.title)
        };
        let max = i64::try_from(self.session.drill.max_duration.as_millis()).unwrap_or(i64::MAX);
        match &self.scorecard {
            None => format!(
                "DRILL  {name} · {} of {} · ack what you understand, fix it, :drill abort stops",
                clock(Some(self.elapsed(now_ms))),
                clock(Some(max))
            ),
            Some(c) => format!(
                "DRILL  {name} · {} at {} · overall {} · :scorecard shows it",
                c.end.describe(),
                clock(Some(c.ended_at_ms)),
                c.grade.label()
            ),
        }
    }
}

impl State {
    fn drill_now(&self) -> Option<i64> {
        self.drill.as_ref().map(|d| d.elapsed(self.now_ms))
    }

    /// On the clock: inject what is due, watch the signals, end when it is over.
    pub(crate) fn drill_tick(&mut self, effects: &mut Vec<Effect>) {
        let Some(now) = self.drill_now() else { return };
        let Some(d) = self.drill.as_mut() else { return };
        if d.session.ended().is_some() {
            return;
        }
        // A drill does not start during a real incident: a page firing before anything was
        // injected is not the drill's.
        if d.inflight.is_empty() && !d.session.any_injected() {
            let page =
                self.engine.alerts().iter().find(|a| a.state == AlertState::Firing && a.severity == Severity::Page);
            if let Some(a) = page {
                let why = format!("a page is firing ({}): no drill during a real incident", a.signal);
                if let Some(due) = d.session.abort(&why) {
                    self.drill_due(due, effects);
                }
                return;
            }
        }
        for due in d.session.advance(now) {
            self.drill_due(due, effects);
        }
        let outcomes: Vec<_> = self.outcomes.iter().map(Option::as_ref).collect();
        if let Some(due) = self.drill.as_mut().and_then(|d| d.session.observe_outcomes(&self.config, &outcomes)) {
            self.drill_due(due, effects);
        }
    }

    fn drill_due(&mut self, due: Due, effects: &mut Vec<Effect>) {
        let Some(d) = self.drill.as_mut() else { return };
        match due {
            Due::Inject(k) => {
                if d.inflight.insert(k)
                    && let Some(f) = d.session.drill.faults.get(k)
                {
                    effects.push(Effect::DrillInject { fault: k, injector: f.injector.clone() });
                }
            }
            Due::End(_) => {
                effects.push(Effect::DrillHeal { ids: d.session.fleet_ids(), live: d.session.live_heals() });
                let mut card = d.session.scorecard();
                card.seed = Some(d.seed);
                card.speed = Some(d.speed);
                self.pending_audit.push(card.end_record());
                effects.push(Effect::DrillReport(Box::new(card.clone())));
                // Escaped once here, not per frame (drill files and scripts are text from outside).
                d.card_lines = card.lines().iter().map(|l| escape_control(l).into_owned()).collect();
                d.card_lines.push(":scorecard hides this · q quits".to_owned());
                d.scorecard = Some(card);
                d.show_card = true;
                self.dirty = true;
            }
        }
    }

    /// The answer to an injection.
    pub(crate) fn drill_injected(&mut self, k: usize, result: Result<Option<u32>, String>, effects: &mut Vec<Effect>) {
        let Some(d) = self.drill.as_mut() else { return };
        d.inflight.remove(&k);
        self.pending_audit.push(d.session.inject_record(k, &result));
        if let Some(due) = d.session.injected(k, result) {
            self.drill_due(due, effects);
        }
    }

    pub(crate) fn drill_acked(&mut self, signal: &str) {
        if let Some(d) = self.drill.as_mut() {
            d.session.acked(signal);
        }
    }

    pub(crate) fn drill_opened(&mut self, runbook: &str) {
        if let Some(d) = self.drill.as_mut() {
            d.session.opened(runbook);
        }
    }

    pub(crate) fn drill_step(&mut self, runbook: &str, step: &str, status: String, ok: bool) {
        if let Some(d) = self.drill.as_mut() {
            d.session.step(runbook, step, status, ok);
        }
    }

    /// `:drill abort`, or the cockpit closing with the drill still on.
    pub(crate) fn drill_abort(&mut self, why: &str, effects: &mut Vec<Effect>) -> Result<(), String> {
        let d = self.drill.as_mut().ok_or("no drill is running")?;
        match d.session.abort(why) {
            Some(due) => {
                self.drill_due(due, effects);
                Ok(())
            }
            None => Err("the drill has already ended".into()),
        }
    }

    /// The scorecard was written to `path` (by the loop).
    pub fn note_scorecard(&mut self, path: std::path::PathBuf) {
        if let Some(d) = self.drill.as_mut() {
            let at = d.card_lines.len().saturating_sub(1);
            d.card_lines.insert(at, escape_control(&format!("written to {}", path.display())).into_owned());
            self.dirty = true;
        }
    }

    /// `:scorecard`: show or hide it.
    pub(crate) fn toggle_scorecard(&mut self) -> Result<(), String> {
        let d = self.drill.as_mut().ok_or("no drill is running")?;
        if d.scorecard.is_none() {
            return Err("the drill is still on: the scorecard comes at the end".into());
        }
        d.show_card = !d.show_card;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::state::{Flags, Msg, update};
    use crate::config::Config;
    use crate::series::Labels;
    use crate::signals::{Level, Outcome, Reading};

    const T: i64 = 1_795_489_200_000;

    fn drilling() -> State {
        let config = Config::from_texts(None).expect("defaults");
        let mut s = State::new(config, Flags::default(), T);
        let drill = crate::drill::find("time-jump").expect("shipped");
        let session = crate::drill::session(drill, &s.config, &s.library);
        s.drill = Some(DrillRun::new(session, T, 1, 1.0, false));
        s
    }

    #[test]
    fn a_drill_does_not_start_while_a_real_page_fires() {
        let mut s = drilling();
        let k = s.config.signals.iter().position(|x| x.id == "timeout-ratio").expect("signal");
        let signal = s.config.signals[k].clone();
        let page = Outcome::Values {
            readings: vec![Reading {
                labels: Labels::from_pairs([("envoy_cluster_name", "gateway")]),
                value: 0.5,
                level: Level::Page,
            }],
            warming_up: false,
        };
        for m in 0..4 {
            s.engine.observe(&signal, &page, T - 300_000 + m * 60_000);
        }
        let effects = update(&mut s, Msg::Tick(T + 40_000));
        assert!(!effects.iter().any(|e| matches!(e, Effect::DrillInject { .. })), "nothing injected: {effects:?}");
        assert!(effects.iter().any(|e| matches!(e, Effect::DrillReport(_))), "{effects:?}");
        let end = s.drill.as_ref().and_then(|d| d.session.ended().cloned());
        let Some(crate::drill::End::Aborted(why)) = end else { panic!("aborted: {end:?}") };
        assert!(why.contains("timeout-ratio") && why.contains("real incident"), "{why}");
    }

    #[test]
    fn the_fault_is_asked_for_once_and_an_ack_after_it_detects() {
        let mut s = drilling();
        let effects = update(&mut s, Msg::Tick(T + 10_000));
        assert!(!effects.iter().any(|e| matches!(e, Effect::DrillInject { .. })), "due at 30 s, not at 10 s");
        let effects = update(&mut s, Msg::Tick(T + 31_000));
        assert_eq!(effects.iter().filter(|e| matches!(e, Effect::DrillInject { fault: 0, .. })).count(), 1);
        let again = update(&mut s, Msg::Tick(T + 31_250));
        assert!(!again.iter().any(|e| matches!(e, Effect::DrillInject { .. })), "in flight: not asked twice");
        update(&mut s, Msg::DrillInjected { fault: 0, result: Ok(Some(4)) });
        s.drill_acked("clock-skew");
        let card = s.drill.as_ref().map(|d| d.session.scorecard()).expect("drill");
        assert_eq!(card.faults[0].injected_at_ms, Some(31_250), "when the fleet answered");
        assert_eq!(card.faults[0].detect_ms, Some(0), "acked as soon as it was in");
        assert!(s.drill.as_ref().is_some_and(|d| d.banner(T + 31_000).contains("0m31s of 20m00s")));
    }
}
