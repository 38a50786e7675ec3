//! A drill without a terminal: the fleet runs in simulated time (nothing waits on a wall clock
//! unless a pace is asked for), nightwatch's own pipeline watches it (scrape, signals, alerts),
//! and a scripted operator acks alerts, opens runbooks and runs steps at exact drill times.
//!
//! The fleet is served on a loopback port with a manual clock, so that a step runs as it would
//! from the cockpit: through the executor, as a real process calling the fleet's control
//! endpoint, with its records in the audit log; the fleet's time stands still while it runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::file::Injector;
use super::script::{Act, Action};
use super::session::{Due, Scorecard, Session};
use crate::alerts::{Engine, State as AlertState};
use crate::audit::{AuditLog, event};
use crate::exec::{self, Confirmation, Context, Done, Mode};
use crate::runbooks::Library;
use crate::runbooks::file::Confirm;
use crate::signals::Outcome;
use crate::sim::server::serve_manual;
use crate::sim::{Fleet, Watch};

/// How a headless drill runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub nodes: usize,
    /// Simulated seconds per wall-clock second; `None`: as fast as the machine goes.
    pub speed: Option<f64>,
    pub allow_live: bool,
    /// Simulated time between two scrapes.
    pub interval_ms: i64,
    /// Quiet simulated time before the drill starts, so that every rate window is full.
    pub warmup_ms: i64,
    pub audit: AuditLog,
    /// This binary, for steps that run `nightwatch`.
    pub exe: Option<std::path::PathBuf>,
    /// The operator's name on acks.
    pub user: String,
}

/// Why a drill did not start.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused(pub String);

/// Everything the loop carries between events.
struct Run<'a> {
    session: Session,
    watch: Watch,
    engine: Engine,
    library: &'a Library,
    ctx: Context,
    opts: &'a Options,
    server: crate::sim::server::SimServer,
    /// Simulated time at which the drill started.
    t0: i64,
    pending: Vec<Map<String, Value>>,
}

impl Run<'_> {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = self.opts.audit.append_all(std::mem::take(&mut self.pending)) {
            tracing::warn!("drill: audit records not written to {}: {e}", self.opts.audit.path().display());
        }
    }

    /// Advances the fleet to `t`, scrapes it and feeds the alert engine; the transitions are
    /// recorded when `record` (not during the quiet time before the drill).
    fn poll(&mut self, t: i64, record: bool) -> Vec<Outcome> {
        let watch = &mut self.watch;
        let outcomes: Vec<Outcome> = self.server.with_fleet(|f| {
            f.advance_to(t);
            watch.scrape(f, t)
        });
        for (s, o) in self.watch.config.signals.iter().zip(&outcomes) {
            let transitions = self.engine.observe(s, o, t);
            if record {
                self.pending.extend(transitions.iter().filter_map(crate::alerts::Transition::audit_record));
            }
        }
        outcomes
    }

    /// A scrape during the drill: the alert engine and the session see it.
    fn scrape(&mut self, t: i64) -> Option<Due> {
        let outcomes = self.poll(t, true);
        let outcomes: Vec<Option<&Outcome>> = outcomes.iter().map(Some).collect();
        self.session.observe_outcomes(&self.watch.config, &outcomes)
    }

    async fn inject(&mut self, k: usize) -> Option<Due> {
        let result = match &self.session.drill.faults[k].injector {
            Injector::Sim { injection, .. } => self.server.with_fleet(|f| f.inject(injection)).map(|i| Some(i.id)),
            Injector::Live { inject, .. } => super::run_live(inject).await.map(|()| None),
        };
        self.pending.push(self.session.inject_record(k, &result));
        self.session.injected(k, result)
    }

    async fn act(&mut self, t: i64, act: &Act) -> Option<Due> {
        match act {
            Act::Ack(signal) => {
                let alert = self
                    .engine
                    .alerts()
                    .iter()
                    .filter(|a| &a.signal == signal && a.is_active() && a.ack.is_none())
                    .min_by_key(|a| (a.state != AlertState::Firing, a.id))
                    .map(|a| a.id);
                match alert {
                    Some(id) => {
                        let _ = self.engine.ack(id, &self.opts.user, t);
                        self.pending.push(event("ack", &[("alert", id.into()), ("signal", signal.clone().into())]));
                        self.session.acked(signal);
                    }
                    None => {
                        tracing::info!("drill: ack {signal}: no unacknowledged alert of that signal");
                        self.session.note(format!("ack {signal}: no alert to ack"));
                    }
                }
                None
            }
            Act::Open(runbook) => {
                if self.library.get(runbook).is_none() {
                    self.session.note(format!("open {runbook}: no such runbook"));
                    return None;
                }
                self.pending.push(event("runbook-opened", &[("runbook", runbook.clone().into())]));
                self.session.opened(runbook);
                None
            }
            Act::Run { runbook, step, values } => {
                self.flush();
                let (status, ok) = self.step(runbook, step, values).await;
                self.session.step(runbook, step, status, ok);
                None
            }
            Act::Abort(why) => self.session.abort(why),
        }
    }

    /// Runs a step through the executor, confirmed as a scripted operator would (a typed
    /// confirmation types the target); the fleet's time stands still meanwhile.
    async fn step(&mut self, runbook: &str, step: &str, values: &BTreeMap<String, String>) -> (String, bool) {
        let Some(rb) = self.library.get(runbook) else {
            return (format!("no runbook {runbook:?}"), false);
        };
        let p = match exec::prepare(rb, step, values, &self.ctx) {
            Ok(p) => p,
            Err(r) => return (refused(&r), false),
        };
        let confirmation =
            Confirmation { yes: true, typed: (p.confirm == Confirm::Type).then(|| p.target.clone()), batch: false };
        let mut sink = |_: &str| {};
        match exec::execute(rb, &p, &confirmation, &self.ctx, &mut sink, std::future::pending::<()>()).await {
            Ok(Done::Ran { outcome, passed, .. }) => (outcome.status.describe(), passed),
            Ok(Done::WouldRun(p)) => (format!("would run: {}", p.display()), true),
            Err(r) => (refused(&r), false),
        }
    }

    /// Heals what the drill injected; live faults by their heal commands.
    async fn heal(&mut self) {
        let ids = self.session.fleet_ids();
        let (healed, remaining) = self.server.with_fleet(|f| {
            let healed = ids.iter().filter_map(|id| f.heal(*id).ok()).count();
            (healed, f.faults().len())
        });
        let mut fields: Vec<(&str, Value)> = vec![("healed", healed.into()), ("remaining", remaining.into())];
        let mut failures = Vec::new();
        for argv in self.session.live_heals() {
            if let Err(e) = super::run_live(&argv).await {
                failures.push(e);
            }
        }
        if !failures.is_empty() {
            fields.push(("heal-failures", failures.into()));
        }
        self.pending.push(event("drill-heal", &fields));
    }
}

fn refused(r: &exec::Refusal) -> String {
    if r.0.starts_with("refused") { r.0.clone() } else { format!("refused: {}", r.0) }
}

/// Runs `session`'s drill against a fresh fleet with the scripted operator `script`; returns
/// the scorecard. Must run inside a tokio runtime.
pub async fn run(
    session: Session,
    config: crate::config::Config,
    library: &Library,
    script: &[Action],
    opts: &Options,
) -> Result<Scorecard, Refused> {
    if session.drill.is_live() && !opts.allow_live {
        return Err(Refused(format!(
            "drill {} runs real injector commands: give --allow-live to let it touch more than the simulated fleet",
            session.drill.id
        )));
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Refused(format!("cannot start the simulated fleet: {e}")))?;
    let server = serve_manual(listener, Fleet::new(opts.nodes, opts.seed));
    let mut builtins = BTreeMap::new();
    builtins.insert("sim".to_owned(), server.addr.to_string());
    let ctx = Context {
        mode: Mode::Run,
        profile: crate::config::Profile::Sim,
        default_timeout: config.exec.timeout,
        output_cap: config.exec.output_cap,
        audit: opts.audit.clone(),
        builtins,
        incident: None,
        exe: opts.exe.clone(),
    };
    let history_ms = i64::try_from(config.cockpit.history.as_millis()).unwrap_or(i64::MAX);
    let engine = Engine::new(config.cockpit.max_alerts_per_signal, history_ms);
    let mut run = Run {
        session,
        watch: Watch::new(config),
        engine,
        library,
        ctx,
        opts,
        server,
        t0: opts.warmup_ms,
        pending: Vec::new(),
    };
    let interval = opts.interval_ms.max(1000);
    // The quiet time before the drill: rate windows fill, nothing is recorded.
    let mut t = 0;
    while t < run.t0 {
        t += interval;
        run.poll(t, false);
    }
    run.t0 = t;
    if let Some(a) = run
        .engine
        .alerts()
        .iter()
        .find(|a| a.state == AlertState::Firing && a.severity == crate::alerts::Severity::Page)
    {
        return Err(Refused(format!("a page is firing ({}): a drill does not start during a real incident", a.signal)));
    }
    run.pending.push(run.session.start_record(opts.seed, opts.speed));
    let wall = Instant::now();
    let mut next_scrape = run.t0 + interval;
    let mut actions = script.iter().peekable();
    let mut now = run.t0;
    'drill: loop {
        // Injections and actions happen at their exact time, scrapes on the interval.
        run.server.with_fleet(|f| f.advance_to(now));
        for d in run.session.advance(now - run.t0) {
            let ended = match d {
                Due::Inject(k) => run.inject(k).await.is_some(),
                Due::End(_) => true,
            };
            if ended {
                break 'drill;
            }
        }
        let next_action = actions.peek().map(|a| run.t0.saturating_add(a.at_ms));
        if next_action == Some(now)
            && let Some(a) = actions.next()
        {
            if run.act(now, &a.act).await.is_some() {
                break;
            }
            continue;
        }
        if now == next_scrape {
            if run.scrape(now).is_some() {
                break;
            }
            run.flush();
            next_scrape += interval;
        }
        let next_fault = run.session.next_injection_ms().map(|d| run.t0 + d);
        now = [Some(next_scrape), next_action.filter(|a| *a > now), next_fault.filter(|f| *f > now)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_scrape);
        if let Some(speed) = opts.speed {
            let due = Duration::from_secs_f64(((now - run.t0) as f64 / 1000.0 / speed).max(0.0));
            if let Some(wait) = due.checked_sub(wall.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    run.heal().await;
    let mut card = run.session.scorecard();
    card.seed = Some(opts.seed);
    card.speed = opts.speed;
    run.pending.push(card.end_record());
    run.flush();
    Ok(card)
}
