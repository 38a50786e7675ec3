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
use crate::audit::AuditLog;
use crate::exec::{self, Confirmation, Context, Done, Mode};
use crate::runbooks::Library;
use crate::runbooks::file::Confirm;
use crate::signals::{Level, Outcome};
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

fn record(kind: &str, fields: &[(&str, Value)]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    for (k, v) in fields {
        m.insert((*k).to_owned(), v.clone());
    }
    m
}

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

    /// Scrapes at `t`, feeds the alert engine and the session.
    fn scrape(&mut self, t: i64) -> Option<Due> {
        let watch = &mut self.watch;
        let outcomes: Vec<Outcome> = self.server.with_fleet(|f| {
            f.advance_to(t);
            watch.scrape(f, t)
        });
        for (s, o) in self.watch.config.signals.iter().zip(&outcomes) {
            let transitions = self.engine.observe(s, o, t);
            self.pending.extend(transitions.iter().filter_map(crate::alerts::Transition::audit_record));
        }
        let levels: BTreeMap<&str, Level> =
            self.watch.config.signals.iter().zip(&outcomes).map(|(s, o)| (s.id.as_str(), o.level())).collect();
        let holds: Vec<bool> = self
            .session
            .drill
            .aborts
            .iter()
            .map(|a| match a.condition.resolve(&self.watch.config) {
                Ok((k, _, threshold)) => matches!(
                    a.condition.judge(threshold, &crate::runbooks::condition::readings(&outcomes[k])),
                    crate::runbooks::condition::Answer::Known { holds: true, .. }
                ),
                Err(_) => false,
            })
            .collect();
        self.session.observe(|id| levels.get(id).copied().unwrap_or(Level::Unknown), &holds)
    }

    fn inject(&mut self, k: usize) -> Option<Due> {
        let fault = self.session.drill.faults[k].clone();
        let result = match &fault.injector {
            Injector::Sim { injection, .. } => self.server.with_fleet(|f| f.inject(injection)).map(|i| Some(i.id)),
            Injector::Live { inject, .. } => run_live(inject).map(|()| None),
        };
        let mut fields = vec![("fault", fault.name.clone().into()), ("at-ms", self.session.now().into())];
        match (&fault.injector, &result) {
            (Injector::Sim { command, .. }, _) => fields.push(("command", format!("chaos {command}").into())),
            (Injector::Live { inject, .. }, _) => fields.push(("argv", inject.clone().into())),
        }
        if let Err(e) = &result {
            fields.push(("error", e.clone().into()));
        }
        self.pending.push(record("drill-inject", &fields));
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
                        self.pending.push(record("ack", &[("alert", id.into()), ("signal", signal.clone().into())]));
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
                self.pending.push(record("runbook-opened", &[("runbook", runbook.clone().into())]));
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
    fn heal(&mut self) {
        let ids = self.session.fleet_ids();
        let (healed, remaining) = self.server.with_fleet(|f| {
            let healed = ids.iter().filter_map(|id| f.heal(*id).ok()).count();
            (healed, f.faults().len())
        });
        let mut fields: Vec<(&str, Value)> = vec![("healed", healed.into()), ("remaining", remaining.into())];
        let mut failures = Vec::new();
        for (k, fault) in self.session.drill.faults.iter().enumerate() {
            if let (Injector::Live { heal, .. }, true) = (&fault.injector, self.session.was_injected(k))
                && let Err(e) = run_live(heal)
            {
                failures.push(format!("{}: {e}", fault.name));
            }
        }
        if !failures.is_empty() {
            fields.push(("heal-failures", failures.into()));
        }
        self.pending.push(record("drill-heal", &fields));
    }
}

fn refused(r: &exec::Refusal) -> String {
    if r.0.starts_with("refused") { r.0.clone() } else { format!("refused: {}", r.0) }
}

/// Runs a real injector command (argv, no shell) to its end, for at most 60 s.
pub fn run_live(argv: &[String]) -> Result<(), String> {
    let (prog, args) = argv.split_first().ok_or("no command")?;
    let mut child = std::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {prog}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return Ok(()),
            Ok(Some(s)) => return Err(format!("{prog} failed: {s}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{prog} took longer than 60s"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{prog}: {e}")),
        }
    }
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
        let watch = &mut run.watch;
        let outcomes: Vec<Outcome> = run.server.with_fleet(|f| {
            f.advance_to(t);
            watch.scrape(f, t)
        });
        for (s, o) in run.watch.config.signals.iter().zip(&outcomes) {
            run.engine.observe(s, o, t);
        }
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
    let drill = &run.session.drill;
    run.pending.push(record(
        "drill-start",
        &[
            ("title", drill.title.clone().into()),
            ("seed", opts.seed.into()),
            ("faults", drill.faults.len().into()),
            ("max-duration-ms", u64::try_from(drill.max_duration.as_millis()).unwrap_or(u64::MAX).into()),
        ],
    ));
    let wall = Instant::now();
    let mut next_scrape = run.t0 + interval;
    let mut actions = script.iter().peekable();
    let mut now = run.t0;
    let end = 'outer: loop {
        let next_action = actions.peek().map(|a| run.t0.saturating_add(a.at_ms));
        // Injections and actions happen at their exact time, scrapes on the interval.
        let mut dues = run.session.advance(now - run.t0);
        while let Some(d) = dues.pop() {
            match d {
                Due::Inject(k) => {
                    run.server.with_fleet(|f| f.advance_to(now));
                    if let Some(Due::End(e)) = run.inject(k) {
                        break 'outer e;
                    }
                }
                Due::End(e) => {
                    break 'outer e;
                }
            }
        }
        if next_action == Some(now)
            && let Some(a) = actions.next()
        {
            run.server.with_fleet(|f| f.advance_to(now));
            if let Some(Due::End(e)) = run.act(now, &a.act).await {
                break e;
            }
            continue;
        }
        if now == next_scrape {
            if let Some(Due::End(e)) = run.scrape(now) {
                break e;
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
    };
    run.heal();
    let mut card = run.session.scorecard();
    card.seed = Some(opts.seed);
    card.speed = opts.speed;
    run.pending.push(record(
        "drill-end",
        &[
            ("end", end.describe().into()),
            ("grade", card.grade.as_str().into()),
            ("detect", card.detect.as_str().into()),
            ("resolve", card.resolve.as_str().into()),
            ("detect-ms", card.detect_ms.map_or(Value::Null, Into::into)),
            ("resolve-ms", card.resolve_ms.map_or(Value::Null, Into::into)),
        ],
    ));
    run.flush();
    Ok(card)
}
