//! The cockpit: one message loop. Terminal input, intake results, server answers and the clock
//! arrive as `Msg`; `state::update` is the only code that changes the state and returns
//! `Effect`s, which this loop carries out; the screen is drawn from a view model when something
//! changed.

pub mod drill;
pub mod keys;
pub mod pane;
pub mod state;

#[cfg(test)]
mod pane_flow_tests;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::config::{Config, ConfigSource, Evaluation, SourceKind};
use crate::intake::prometheus::instant_query;
use crate::intake::scheduler::now_ms;
use crate::intake::scrape::NameFilter;
use crate::ui::{self, Theme};
use keys::Key;
use state::{Effect, Flags, Msg, State, update};

/// How the cockpit was started.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub read_only: bool,
    pub dry_run: bool,
    pub mono: bool,
    pub ascii: bool,
    pub no_bell: bool,
}

/// crossterm's key event as the key map's `Key`.
pub fn key_of(e: &KeyEvent) -> Option<Key> {
    if e.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = e.modifiers.contains(KeyModifiers::CONTROL);
    Some(match e.code {
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        _ => return None,
    })
}

/// A drill for the cockpit to run (`nightwatch drill run NAME`).
pub struct DrillStart {
    pub drill: crate::drill::Drill,
    pub seed: u64,
    pub speed: f64,
    /// The wheel of misfortune: named only on the scorecard.
    pub hidden: bool,
    pub report_dir: std::path::PathBuf,
    pub run_id: String,
    /// A running fleet to drill against (its own speed and seed) instead of starting one.
    pub attach: Option<String>,
}

/// The cockpit on a drill's clock: the simulated sources run at the drill's speed and seed,
/// every source is polled `speed` times as often, and the process clock runs `speed` times as
/// fast, so that rate windows, `for` durations and the drill's times are all simulated time.
fn prepare_drill(config: &mut Config, d: &DrillStart) {
    crate::intake::scheduler::scale_clock(d.speed);
    for source in &mut config.sources {
        if let SourceKind::Sim(f) = &mut source.kind {
            f.seed = d.seed;
            f.speed = d.speed;
        }
        source.interval = source.interval.div_f64(d.speed).max(Duration::from_millis(100));
        source.timeout = source.timeout.min(source.interval);
    }
}

/// Runs the cockpit until the user quits; returns the exit code.
pub fn run(config_path: Option<&Path>, opts: &Options, drill: Option<DrillStart>) -> i32 {
    let started = std::time::Instant::now();
    let mut config = match Config::load_watchable(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 3;
        }
    };
    match drill.as_ref().map(|d| (d, d.attach.as_deref())) {
        Some((_, Some(addr))) => {
            // A running fleet keeps the wall clock: it divides its counters by its own speed,
            // so rates over wall time are already in simulated units.
            if let Err(e) = crate::sim::embedded::attach(&mut config, addr) {
                eprintln!("nightwatch: {e}");
                return 64;
            }
        }
        Some((d, None)) => prepare_drill(&mut config, d),
        None => {}
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nightwatch: cannot start the runtime: {e}");
            return 1;
        }
    };
    let mono = opts.mono || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = Theme { mono, ascii: opts.ascii };
    rt.block_on(async move {
        let demo = config.origin == ConfigSource::BuiltIn
            && config.sources.iter().all(|s| matches!(s.kind, SourceKind::Sim(_)));
        // On a drill's own fleet, the scrapes' clock is simulated time too.
        let counters = match &drill {
            Some(d) if d.attach.is_none() => crate::sim::embedded::Counters::PerSimulatedSecond,
            _ => crate::sim::embedded::Counters::PerWallSecond,
        };
        let embedded = match crate::sim::embedded::start(&mut config, counters).await {
            Ok(e) => e,
            Err(e) => {
                eprintln!("nightwatch: {e}");
                return 1;
            }
        };
        let flags = Flags {
            read_only: opts.read_only,
            dry_run: opts.dry_run,
            demo,
            bell: !opts.no_bell && config.cockpit.bell,
            user: std::env::var("USER").unwrap_or_default(),
        };
        let local: Vec<_> = config.signals.iter().filter(|s| s.evaluation == Evaluation::Local).collect();
        let filter = NameFilter::for_signals(local);
        let (tx, rx) = mpsc::channel(4096);
        let intake = match crate::intake::scheduler::start(&config, filter, tx) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("nightwatch: {e}");
                return 1;
            }
        };
        let mut state = State::new(config, flags, now_ms());
        state.notes = embedded.notes.clone();
        state.library = crate::runbooks::Library::load(state.config.runbooks.dir.as_deref());
        for p in state.library.problems.iter().take(3) {
            state.notes.push(format!("runbook problem: {p}"));
        }
        let mut builtins = std::collections::BTreeMap::new();
        if let Some(addr) = drill.as_ref().and_then(|d| d.attach.clone()) {
            builtins.insert("sim".to_owned(), addr);
        } else if let Some(server) = embedded.servers.first() {
            builtins.insert("sim".to_owned(), server.addr.to_string());
        } else if let Ok(addr) = std::env::var("NIGHTWATCH_SIM") {
            builtins.insert("sim".to_owned(), addr);
        }
        let mut audit = crate::audit::AuditLog::new(&state.config.audit.path);
        let mut report_dir = None;
        if let Some(mut d) = drill {
            // The drill's clock: the cockpit's (scaled) clock, or a running fleet's speed × the
            // wall clock.
            let mut factor = 1.0;
            if let Some(addr) = &d.attach {
                let status = match crate::sim::client::Client::new(addr) {
                    Ok(c) => c.status().await,
                    Err(e) => Err(e),
                };
                match status {
                    Ok(s) => {
                        factor = s.speed;
                        d.speed = s.speed;
                        d.seed = s.seed;
                    }
                    Err(e) => {
                        eprintln!("nightwatch: the drill cannot start: {e}");
                        return 69;
                    }
                }
            }
            audit = audit.stamped("drill", &d.drill.id).stamped("drill-run", &d.run_id);
            let session = crate::drill::session(d.drill, &state.config, &state.library);
            if let Err(e) = audit.append(session.start_record(d.seed, Some(d.speed))) {
                eprintln!("nightwatch: the drill cannot start: its audit record was not written: {e}");
                return 1;
            }
            let mut run = drill::DrillRun::new(session, now_ms(), d.seed, d.speed, d.hidden);
            run.clock_factor = factor;
            state.drill = Some(run);
            report_dir = Some((d.report_dir, d.run_id));
        }
        state.exec = Some(crate::exec::Context {
            mode: state::exec_mode(&state.flags),
            profile: state.config.runbooks.profile,
            default_timeout: state.config.exec.timeout,
            output_cap: state.config.exec.output_cap,
            audit: audit.clone(),
            builtins,
            incident: None,
            exe: std::env::current_exe().ok(),
        });
        // A drill's incidents are numbered apart (DRILL-2026-001); an incident given on the
        // command line is the open one from the start.
        state.incidents = crate::incident::Tracker::new(state.config.incidents.clone(), state.drill.is_some());
        if let Some(id) = std::env::var("NIGHTWATCH_INCIDENT").ok().filter(|i| !i.is_empty()) {
            let id = crate::text::escape_control(&id).into_owned();
            state.incidents.join(&id, now_ms());
            if let Some(c) = state.exec.as_mut() {
                c.incident = Some(id);
            }
        }
        session_record(&audit, "session-start");
        let fleet = state.exec.as_ref().and_then(|c| c.builtins.get("sim").cloned());
        let code = event_loop(state, rx, theme, started, DrillIo { fleet, report_dir }).await;
        session_record(&audit, "session-end");
        drop(intake);
        drop(embedded);
        code
    })
}

/// What the loop needs to carry out a drill's effects.
struct DrillIo {
    /// The simulated fleet's address.
    fleet: Option<String>,
    /// Where the scorecard goes, and the run's id (its file name).
    report_dir: Option<(std::path::PathBuf, String)>,
}

async fn event_loop(
    mut state: State,
    mut intake: mpsc::Receiver<crate::intake::scheduler::IntakeMsg>,
    theme: Theme,
    started: std::time::Instant,
    drill_io: DrillIo,
) -> i32 {
    let mut first_full_frame = true;
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nightwatch: cannot open the terminal: {e}");
            return 1;
        }
    };
    let (answers_tx, mut answers) = mpsc::channel::<Msg>(256);
    // Step output is bounded by the executor (the capture's head), so this channel is too.
    let (steps_tx, mut steps) = mpsc::unbounded_channel::<Msg>();
    let mut cancel_step: Option<tokio::sync::oneshot::Sender<()>> = None;
    let mut events = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_millis(250));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut signals = StopSignals::listen();
    let mut frozen: Option<ui::ViewModel> = None;
    // One HTTP client (and connection pool) per prometheus source, for the life of the loop.
    let mut clients: HashMap<usize, Result<reqwest::Client, String>> = HashMap::new();
    let mut code = 0;
    let audit = AuditWriter::start(state.exec.as_ref().map(|c| c.audit.clone()));
    loop {
        let msg = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => match key_of(&k) { Some(k) => Msg::Key(k), None => continue },
                Some(Ok(Event::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                // EOF or EIO on the terminal (an SSH drop): nobody is watching any more.
                Some(Err(e)) => Msg::Stop(format!("terminal input failed: {e}")),
                None => Msg::Stop("terminal input closed".into()),
            },
            Some(m) = intake.recv() => Msg::Intake(m),
            Some(m) = answers.recv() => m,
            Some(m) = steps.recv() => m,
            _ = clock.tick() => Msg::Tick(now_ms()),
            why = signals.next() => Msg::Stop(why),
        };
        let was_key = matches!(msg, Msg::Key(_));
        let mut effects = update(&mut state, msg);
        // Take what else is waiting (up to a bound) before drawing once.
        for _ in 0..512 {
            match intake.try_recv() {
                Ok(m) => effects.extend(update(&mut state, Msg::Intake(m))),
                Err(_) => break,
            }
        }
        let mut quit = false;
        let quit_pending = effects.contains(&Effect::Quit);
        if quit_pending && state.drill.as_ref().is_some_and(|d| d.session.ended().is_none()) {
            // Closing the cockpit ends the drill: everything it injected is healed first.
            let mut more = Vec::new();
            let _ = state.drill_abort("the cockpit was closed", &mut more);
            effects.extend(more);
            if let Some(records) = state.take_pending_audit() {
                effects.push(Effect::Audit(records));
            }
        }
        for e in effects {
            match e {
                Effect::Quit => quit = true,
                Effect::Bell => {
                    let mut out = std::io::stdout();
                    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                }
                Effect::Query { signal, at_ms } => {
                    spawn_query(&state, &mut clients, signal, at_ms, answers_tx.clone());
                }
                Effect::RunStep { prepared, confirmation } => {
                    cancel_step = spawn_step(&state, prepared, confirmation, steps_tx.clone());
                }
                Effect::CancelStep => {
                    if let Some(c) = cancel_step.take() {
                        let _ = c.send(());
                    }
                }
                Effect::DrillInject { fault, injector } => spawn_inject(&drill_io, fault, injector, answers_tx.clone()),
                Effect::DrillHeal { ids, live } => {
                    let healing = heal(drill_io.fleet.clone(), ids, live);
                    // Closing: heal before the process ends; otherwise the loop goes on.
                    if quit_pending {
                        healing.await;
                    } else {
                        tokio::spawn(healing);
                    }
                }
                Effect::DrillReport(card) => {
                    if let Some((dir, run)) = drill_io.report_dir.clone() {
                        // Two small files, written before anything else (the cockpit may be closing).
                        let written = tokio::task::spawn_blocking(move || {
                            crate::commands::drill::write_reports(&card, &dir, &run).map_err(|e| (dir, e))
                        })
                        .await;
                        match written {
                            Ok(Ok((md, _))) => state.note_scorecard(md),
                            Ok(Err((dir, e))) => {
                                tracing::warn!("drill scorecard not written to {}: {e}", dir.display())
                            }
                            Err(e) => tracing::warn!("drill scorecard not written: {e}"),
                        }
                    }
                }
                Effect::Audit(records) => audit.send(AuditJob::Append(records)),
                Effect::OpenIncident { record, prefix } => {
                    audit.send(AuditJob::OpenIncident { record, prefix, reply: answers_tx.clone() });
                }
                Effect::Clipboard(text) => {
                    // OSC 52: the terminal the operator sits at (through SSH and tmux) sets its
                    // clipboard; nothing is run on this host.
                    let mut out = std::io::stdout();
                    let seq = format!("\x1b]52;c;{}\x07", base64(text.as_bytes()));
                    let _ = out.write_all(seq.as_bytes()).and_then(|()| out.flush());
                }
            }
        }
        if quit {
            break;
        }
        if state.dirty {
            state.dirty = false;
            let live = ui::build(&state);
            let vm = match (state.frozen_at, &frozen) {
                (Some(_), Some(f)) => ui::view::freeze(live, f),
                (Some(_), None) => {
                    frozen = Some(live.clone());
                    live
                }
                (None, _) => {
                    frozen = None;
                    live
                }
            };
            if let Err(e) = terminal.draw(|f| ui::draw(f, &vm, theme)) {
                tracing::warn!("draw failed: {e}");
                code = 1;
                break;
            }
            if was_key {
                // For benches/key-latency.sh: when the answer to a key reached the terminal.
                tracing::debug!(at_us = chrono::Utc::now().timestamp_micros(), "key answered");
            }
            // The first frame with every panel filled (after the first evaluation with data).
            if first_full_frame && state.outcomes.iter().all(Option::is_some) && state.last_poll_ms.is_some() {
                first_full_frame = false;
                tracing::info!(ms = started.elapsed().as_secs_f64() * 1000.0, "first full frame");
            }
        }
    }
    ratatui::restore();
    // Everything asked for is on disk before the session's end is recorded.
    let _ = tokio::task::spawn_blocking(move || audit.finish()).await;
    code
}

/// A job for the audit log's writer.
enum AuditJob {
    Append(Vec<serde_json::Map<String, serde_json::Value>>),
    /// An `incident-opened` record, given the next free id under the log's lock; the id goes
    /// back to the loop as `Msg::IncidentOpened`.
    OpenIncident {
        record: serde_json::Map<String, serde_json::Value>,
        prefix: String,
        reply: mpsc::Sender<Msg>,
    },
}

/// The audit log's one writer: a thread that appends records in the order `update` made them
/// (each append locks, writes and syncs, so it stays off the loop).
struct AuditWriter {
    tx: Option<std::sync::mpsc::Sender<AuditJob>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AuditWriter {
    fn start(log: Option<crate::audit::AuditLog>) -> AuditWriter {
        let Some(log) = log else { return AuditWriter { tx: None, thread: None } };
        let (tx, rx) = std::sync::mpsc::channel::<AuditJob>();
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        AuditJob::Append(records) => {
                            if let Err(e) = log.append_all(records) {
                                tracing::warn!("audit: a record was not written to {}: {e}", log.path().display());
                            }
                        }
                        AuditJob::OpenIncident { record, prefix, reply } => {
                            use chrono::Datelike;
                            let year = chrono::Utc::now().year();
                            let msg = match log.append_incident_opened(record, &prefix, year) {
                                Ok(id) => Msg::IncidentOpened { id, problem: None },
                                Err(e) => Msg::IncidentOpened {
                                    // This process's own id: not in the log, so not counted there.
                                    id: format!("{prefix}-{year}-L{}", std::process::id()),
                                    problem: Some(format!("{}: {e}", log.path().display())),
                                },
                            };
                            let _ = reply.blocking_send(msg);
                        }
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::warn!("audit: the writer thread could not start; records are not written");
        }
        AuditWriter { tx: thread.as_ref().map(|_| tx), thread }
    }

    fn send(&self, job: AuditJob) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(job);
        }
    }

    /// Waits until everything sent is written.
    fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Standard base64 (RFC 4648, with padding), for OSC 52.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(char::from(A[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A session record; a log that cannot be written is noted in the trace, not fatal (steps
/// refuse on their own when their records cannot be written).
fn session_record(audit: &crate::audit::AuditLog, kind: &str) {
    if let Err(e) = audit.append(crate::audit::event(kind, &[])) {
        tracing::warn!("audit: {kind} not recorded in {}: {e}", audit.path().display());
    }
}

/// Runs a confirmed step through the executor in a task: output as `StepOutput`, the end as
/// `StepDone`. Returns the sender that cancels it.
fn spawn_step(
    state: &State,
    prepared: crate::exec::Prepared,
    confirmation: crate::exec::Confirmation,
    tx: mpsc::UnboundedSender<Msg>,
) -> Option<tokio::sync::oneshot::Sender<()>> {
    use crate::exec::Done;
    let Some(ctx) = state.exec.clone() else {
        let _ = tx.send(Msg::StepDone { prepared, result: Err("steps cannot run here".into()) });
        return None;
    };
    let Some(rb) = state.library.get(&prepared.runbook).cloned() else {
        let _ = tx.send(Msg::StepDone { prepared, result: Err("the runbook is gone".into()) });
        return None;
    };
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let out = tx.clone();
        let mut on_output = move |s: &str| {
            let _ = out.send(Msg::StepOutput(s.to_owned()));
        };
        // Only a sent cancel cancels; a dropped sender does not.
        let cancel = async move {
            if cancel_rx.await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let r = crate::exec::execute(&rb, &prepared, &confirmation, &ctx, &mut on_output, cancel).await;
        let result = match r {
            Ok(Done::WouldRun(p)) => Ok(state::StepResult {
                status: format!("would run: {}", p.display()),
                passed: true,
                run: None,
                truncated: None,
            }),
            Ok(Done::Ran { run, outcome, passed }) => Ok(state::StepResult {
                status: outcome.status.describe(),
                passed,
                run: Some(run),
                truncated: outcome.output.truncated().then(|| (outcome.output.total, outcome.output.kept_bytes())),
            }),
            Err(refusal) => Err(refusal.0),
        };
        let _ = tx.send(Msg::StepDone { prepared, result });
    });
    Some(cancel_tx)
}

/// Injects a drill's fault in a task; the answer comes back as `DrillInjected`.
fn spawn_inject(io: &DrillIo, fault: usize, injector: crate::drill::file::Injector, tx: mpsc::Sender<Msg>) {
    use crate::drill::file::Injector;
    let fleet = io.fleet.clone();
    tokio::spawn(async move {
        let result = match injector {
            Injector::Sim { injection, .. } => match fleet.as_deref().map(crate::sim::client::Client::new) {
                Some(Ok(c)) => c.inject(&injection).await.map(|i| Some(i.id)),
                Some(Err(e)) => Err(e),
                None => Err("no simulated fleet to inject into".into()),
            },
            Injector::Live { inject, .. } => crate::drill::run_live(&inject).await.map(|()| None),
        };
        let _ = tx.send(Msg::DrillInjected { fault, result }).await;
    });
}

/// Heals a drill's faults (the drill has ended): the fleet's by id, live ones by their heal
/// commands.
async fn heal(fleet: Option<String>, ids: Vec<u32>, live: Vec<Vec<String>>) {
    if let Some(Ok(c)) = fleet.as_deref().map(crate::sim::client::Client::new) {
        for id in ids {
            // A fault that already ended by itself is not an error.
            if let Err(e) = c.heal(Some(id)).await {
                tracing::info!("drill: heal #{id}: {e}");
            }
        }
    }
    for argv in live {
        if let Err(e) = crate::drill::run_live(&argv).await {
            tracing::warn!("drill: a live heal failed: {e}");
        }
    }
}

/// Sends one server evaluation off; its answer comes back as `Msg::Queried`.
fn spawn_query(
    state: &State,
    clients: &mut HashMap<usize, Result<reqwest::Client, String>>,
    signal: usize,
    at_ms: i64,
    tx: mpsc::Sender<Msg>,
) {
    let Some(s) = state.config.signals.get(signal) else { return };
    let Evaluation::Server(src) = s.evaluation else { return };
    let Some(source) = state.config.sources.get(src) else { return };
    let SourceKind::Prometheus { url } = &source.kind else { return };
    let client = clients.entry(src).or_insert_with(|| crate::intake::http::client(&source.tls, source.timeout)).clone();
    let (url, auth, expr, timeout) = (url.clone(), source.auth.clone(), s.expr.clone(), source.timeout);
    tokio::spawn(async move {
        let value = match client {
            Ok(c) => instant_query(&c, &url, &auth, &expr, at_ms, timeout).await,
            Err(e) => Err(e),
        };
        let _ = tx.send(Msg::Queried { signal, at_ms, value }).await;
    });
}

/// SIGTERM, SIGHUP and SIGINT: what stops the cockpit (where ctrl-c arrives as a key in raw
/// mode, but `kill -INT` does not) and `nightwatch sim`.
pub struct StopSignals {
    #[cfg(unix)]
    streams: Vec<(tokio::signal::unix::Signal, &'static str)>,
}

impl StopSignals {
    /// Starts listening (inside a tokio runtime).
    pub fn listen() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = [
                (SignalKind::terminate(), "SIGTERM"),
                (SignalKind::hangup(), "SIGHUP"),
                (SignalKind::interrupt(), "SIGINT"),
            ]
            .into_iter()
            .filter_map(|(k, name)| signal(k).ok().map(|s| (s, name)))
            .collect();
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The name of the next signal that arrives.
    pub async fn next(&mut self) -> String {
        #[cfg(unix)]
        {
            if self.streams.is_empty() {
                return std::future::pending().await;
            }
            let futs = self.streams.iter_mut().map(|(s, name)| {
                let name = *name;
                Box::pin(async move {
                    s.recv().await;
                    name
                })
            });
            let (name, _, _) = futures_util::future::select_all(futs).await;
            name.to_owned()
        }
        #[cfg(not(unix))]
        std::future::pending().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        let cases =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy"), ("\u{ff}", "w78=")];
        for (input, want) in cases {
            assert_eq!(super::base64(input.as_bytes()), want, "{input:?}");
        }
    }
}
