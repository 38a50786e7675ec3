//! Polling many targets: one task per target, scraped once at start and then at an offset inside
//! its interval so that targets spread out, bounded by a shared semaphore; file_sd files re-read
//! when they change.
//! One slow or hanging target only ever delays itself. Results go out as [`IntakeMsg`]s.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::health::ScrapeDone;
use super::scrape::{BufferPool, NameFilter, Spec, scrape};
use super::targets::{TargetSpec, read_file_sd, static_targets};
use crate::config::{Config, Scrape, Source, SourceKind};

/// A target as the rest of nightwatch sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub id: u64,
    pub source: usize,
    pub spec: TargetSpec,
}

/// What intake tells the application.
#[derive(Debug)]
pub enum IntakeMsg {
    /// Discovery changed the target set of a source.
    TargetsChanged {
        source: usize,
        added: Vec<Target>,
        removed: Vec<u64>,
    },
    /// A source-level problem (an unreadable file_sd file), or `None` when it went away.
    SourceProblem {
        source: usize,
        problem: Option<String>,
    },
    Scraped(ScrapeDone),
}

static NEXT_TARGET: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_TARGET.fetch_add(1, Ordering::Relaxed)
}

/// A clock that runs `speed` times faster than the wall clock from the moment it was set:
/// (wall instant, epoch ms then, speed).
static SCALED: std::sync::OnceLock<(Instant, i64, f64)> = std::sync::OnceLock::new();

/// From now on this process runs on a clock `speed` times faster than the wall clock: a drill
/// at `--speed 60` runs its simulated fleet, its scrapes, rate windows, `for` durations and
/// alerts all in simulated time. Set once, before anything reads the clock.
pub fn scale_clock(speed: f64) {
    let _ = SCALED.set((Instant::now(), chrono::Utc::now().timestamp_millis(), speed));
}

/// Milliseconds since the epoch on this process's clock (the wall clock unless scaled).
pub fn now_ms() -> i64 {
    match SCALED.get() {
        Some((at, base, speed)) => base + (at.elapsed().as_secs_f64() * 1000.0 * speed) as i64,
        None => chrono::Utc::now().timestamp_millis(),
    }
}

/// Running scrape sources. Dropping it stops every task.
pub struct Intake {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Intake {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Everything a target task needs, shared by a source's targets.
#[derive(Clone)]
struct SourceCtx {
    index: usize,
    interval: Duration,
    client: reqwest::Client,
    spec: Arc<Spec>,
    filter: Arc<NameFilter>,
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<IntakeMsg>,
}

/// The scrape spec of a source.
pub fn spec_for(source: &Source, scrape: &Scrape, pool: &Arc<BufferPool>) -> Spec {
    Spec {
        timeout: source.timeout,
        limits: scrape.limits,
        value_rules: scrape.value_rules,
        force_format: None,
        auth: source.auth.clone(),
        pool: Some(pool.clone()),
    }
}

/// Idle body buffers kept for reuse, shared by every target.
const POOLED_BUFFERS: usize = 4;

/// Starts polling every scrape source of `config`. Must run inside a tokio runtime.
pub fn start(config: &Config, filter: NameFilter, tx: mpsc::Sender<IntakeMsg>) -> Result<Intake, String> {
    let permits = Arc::new(Semaphore::new(config.cockpit.max_concurrent_scrapes));
    let filter = Arc::new(filter);
    let pool = BufferPool::new(POOLED_BUFFERS);
    let mut tasks = Vec::new();
    for (index, source) in config.sources.iter().enumerate() {
        let SourceKind::Scrape(scrape) = &source.kind else { continue };
        let client =
            super::http::client(&source.tls, source.timeout).map_err(|e| format!("source {}: {e}", source.name))?;
        let ctx = SourceCtx {
            index,
            interval: source.interval,
            client,
            spec: Arc::new(spec_for(source, scrape, &pool)),
            filter: filter.clone(),
            permits: permits.clone(),
            tx: tx.clone(),
        };
        let statics = static_targets(&source.name, scrape);
        let file_sd = scrape.file_sd.clone();
        let job = source.name.clone();
        let scrape = scrape.clone();
        tasks.push(tokio::spawn(run_source(ctx, job, scrape, statics, file_sd)));
    }
    Ok(Intake { tasks })
}

/// A source's target tasks; they stop when this is dropped (when the source task is aborted,
/// say), since dropping a `JoinHandle` alone would leave them running.
#[derive(Default)]
struct Running(BTreeMap<TargetSpec, (u64, JoinHandle<()>)>);

impl Drop for Running {
    fn drop(&mut self) {
        for (_, task) in self.0.values() {
            task.abort();
        }
    }
}

/// Keeps a source's target tasks in line with its static list and file_sd file.
async fn run_source(ctx: SourceCtx, job: String, scrape: Scrape, statics: Vec<TargetSpec>, file_sd: Option<PathBuf>) {
    let mut running = Running::default();
    let mut last_stamp = None;
    let mut problem: Option<String> = None;
    let mut discovered: Vec<TargetSpec> = Vec::new();
    loop {
        if let Some(path) = &file_sd {
            let stamp = std::fs::metadata(path).and_then(|m| Ok((m.modified()?, m.len()))).ok();
            if stamp != last_stamp || problem.is_some() {
                last_stamp = stamp;
                let found = read_file_sd(path, &job, &scrape);
                let now_problem = found.as_ref().err().cloned();
                if now_problem != problem {
                    problem = now_problem;
                    let msg = IntakeMsg::SourceProblem { source: ctx.index, problem: problem.clone() };
                    if ctx.tx.send(msg).await.is_err() {
                        break;
                    }
                }
                // On a bad file keep the targets we had.
                if let Ok(t) = found {
                    discovered = t;
                }
            }
        }
        let mut wanted: Vec<TargetSpec> = statics.iter().chain(discovered.iter()).cloned().collect();
        wanted.sort();
        wanted.dedup();
        let removed: Vec<TargetSpec> = running.0.keys().filter(|k| !wanted.contains(k)).cloned().collect();
        let mut removed_ids = Vec::new();
        for k in removed {
            if let Some((id, task)) = running.0.remove(&k) {
                task.abort();
                removed_ids.push(id);
            }
        }
        let mut added = Vec::new();
        for spec in wanted {
            if running.0.contains_key(&spec) {
                continue;
            }
            let target = Target { id: next_id(), source: ctx.index, spec: spec.clone() };
            added.push(target.clone());
            let task = tokio::spawn(run_target(ctx.clone(), target.clone()));
            running.0.insert(spec, (target.id, task));
        }
        if !added.is_empty() || !removed_ids.is_empty() {
            let msg = IntakeMsg::TargetsChanged { source: ctx.index, added, removed: removed_ids };
            if ctx.tx.send(msg).await.is_err() {
                break;
            }
        }
        if file_sd.is_none() {
            // Nothing to watch: wait until the receiver goes away.
            ctx.tx.closed().await;
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = ctx.tx.closed() => break,
        }
    }
}

/// Where inside its interval a target is scraped: stable per URL, spread across targets.
fn offset(url: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    url.hash(&mut h);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % ms)
}

async fn run_target(ctx: SourceCtx, target: Target) {
    // The first scrape at once (bounded by the semaphore like every other), so that a cockpit
    // shows data as soon as it can; then at the target's stable offset inside each interval.
    let now = tokio::time::Instant::now();
    let start = now + offset(target.spec.url.as_str(), ctx.interval);
    let mut ticker = tokio::time::interval_at(start, ctx.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut first = Some(now);
    loop {
        let scheduled = match first.take() {
            Some(t) => t,
            None => ticker.tick().await,
        };
        let Ok(permit) = ctx.permits.acquire().await else { return };
        let lag = tokio::time::Instant::now().saturating_duration_since(scheduled);
        let started_ms = now_ms();
        let started = Instant::now();
        let result = scrape(&ctx.client, &target.spec.url, &ctx.spec, &ctx.filter).await;
        drop(permit);
        let done = ScrapeDone { target: target.id, started_ms, duration: started.elapsed(), lag, result };
        if ctx.tx.send(IntakeMsg::Scraped(done)).await.is_err() {
            return;
        }
    }
}

/// Scrapes every target of every scrape source once, concurrently (bounded), for one-shot
/// commands. Returns the targets, their results, and source-level problems.
pub async fn poll_once(config: &Config, filter: &NameFilter, targets: &[Target]) -> Vec<ScrapeDone> {
    let permits = Arc::new(Semaphore::new(config.cockpit.max_concurrent_scrapes));
    let filter = Arc::new(filter.clone());
    let pool = BufferPool::new(POOLED_BUFFERS);
    let mut clients: HashMap<usize, (reqwest::Client, Arc<Spec>)> = HashMap::new();
    let mut tasks = Vec::new();
    for t in targets {
        let source = &config.sources[t.source];
        let SourceKind::Scrape(scrape_cfg) = &source.kind else { continue };
        if let std::collections::hash_map::Entry::Vacant(slot) = clients.entry(t.source) {
            match super::http::client(&source.tls, source.timeout) {
                Ok(c) => {
                    slot.insert((c, Arc::new(spec_for(source, scrape_cfg, &pool))));
                }
                Err(e) => {
                    tasks.push(tokio::spawn(failed(t.id, e)));
                    continue;
                }
            }
        }
        let Some((client, spec)) = clients.get(&t.source).cloned() else { continue };
        let (permits, filter, t) = (permits.clone(), filter.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await;
            let started_ms = now_ms();
            let started = Instant::now();
            let result = scrape(&client, &t.spec.url, &spec, &filter).await;
            ScrapeDone { target: t.id, started_ms, duration: started.elapsed(), lag: Duration::ZERO, result }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        if let Ok(done) = task.await {
            out.push(done);
        }
    }
    out
}

async fn failed(target: u64, e: String) -> ScrapeDone {
    ScrapeDone {
        target,
        started_ms: now_ms(),
        duration: Duration::ZERO,
        lag: Duration::ZERO,
        result: Err(super::scrape::ScrapeError::Request(super::http::Failure::Other(e))),
    }
}

/// The current targets of every scrape source (static, and file_sd read once), with the
/// problems met reading file_sd files.
pub fn discover_once(config: &Config) -> (Vec<Target>, Vec<(usize, String)>) {
    let mut targets = Vec::new();
    let mut problems = Vec::new();
    for (index, source) in config.sources.iter().enumerate() {
        let SourceKind::Scrape(scrape) = &source.kind else { continue };
        let mut specs = static_targets(&source.name, scrape);
        if let Some(path) = &scrape.file_sd {
            match read_file_sd(path, &source.name, scrape) {
                Ok(t) => specs.extend(t),
                Err(e) => problems.push((index, e)),
            }
        }
        specs.sort();
        specs.dedup();
        targets.extend(specs.into_iter().map(|spec| Target { id: next_id(), source: index, spec }));
    }
    (targets, problems)
}
