//! `nightwatch drill list | run`: graded drills.
//!
//! Exit codes of `run`: 0 the drill was resolved and no grade failed; 1 it ended otherwise
//! (a failed grade, out of time, aborted); 2 it was refused (live injectors without
//! --allow-live, a page firing); 64 a usage error (unknown drill, a bad script); 78 a config
//! error.

use std::path::{Path, PathBuf};

use crate::audit::AuditLog;
use crate::cli::{DrillArgs, DrillCommand, DrillRunArgs};
use crate::config::{Config, SimFleet, SourceKind};
use crate::drill::headless::{self, Options};
use crate::drill::session::{Grade, Scorecard};
use crate::drill::{self, Drill, End};
use crate::runbooks::Library;

const EXIT_FAILED: i32 = 1;
const EXIT_REFUSED: i32 = 2;
const EXIT_USAGE: i32 = 64;
const EXIT_CONFIG: i32 = 78;

pub fn run(config: Option<&Path>, args: &DrillArgs, cockpit: &crate::app::Options) -> i32 {
    match &args.command {
        DrillCommand::List => list(),
        DrillCommand::Run(a) => run_drill(config, a, cockpit),
    }
}

fn list() -> i32 {
    let (drills, problems) = drill::shipped();
    println!("{:<28} {:>6} {:>5}  TITLE", "ID", "FAULTS", "MAX");
    for d in &drills {
        println!(
            "{:<28} {:>6} {:>5}  {}",
            d.id,
            d.faults.len(),
            crate::config::units::format_duration(d.max_duration),
            d.title
        );
    }
    for p in &problems {
        eprintln!("{p}");
    }
    if problems.is_empty() { 0 } else { EXIT_FAILED }
}

/// A seed from the clock, for runs that did not ask for one.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

fn choose(a: &DrillRunArgs, seed: u64) -> Result<Drill, String> {
    match &a.name {
        Some(name) => drill::find(name),
        None => {
            let (drills, problems) = drill::shipped();
            if let Some(p) = problems.first() {
                return Err(format!("a shipped drill is broken: {p}"));
            }
            let k = usize::try_from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33).unwrap_or(0) % drills.len().max(1);
            drills.into_iter().nth(k).ok_or_else(|| "no drills are shipped".to_owned())
        }
    }
}

/// Quiet simulated time before a headless drill starts: the built-in signals' longest rate
/// window (5m) is full, twice over, so that the first faults meet settled signals.
const WARMUP_MS: i64 = 10 * 60_000;

/// The fleet a headless drill runs: the size and scrape interval of the config's simulated
/// source, or of the built-in one when the config has none.
fn sim_fleet(config: &Config) -> (usize, i64) {
    let of = |c: &Config| {
        c.sources.iter().find_map(|s| match s.kind {
            SourceKind::Sim(SimFleet { nodes, .. }) => {
                Some((nodes, i64::try_from(s.interval.as_millis()).unwrap_or(i64::MAX)))
            }
            _ => None,
        })
    };
    of(config).or_else(|| Config::from_texts(None).ok().as_ref().and_then(of)).unwrap_or((1, 5_000))
}

fn run_drill(config_path: Option<&Path>, a: &DrillRunArgs, cockpit: &crate::app::Options) -> i32 {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_CONFIG;
        }
    };
    let seed = a.seed.unwrap_or_else(fresh_seed);
    let drill = match choose(a, seed) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("nightwatch: {e}");
            return EXIT_USAGE;
        }
    };
    let problems = drill::file::lint(&drill, &config);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        return EXIT_USAGE;
    }
    let run_id = format!("{}-{}", drill.id, chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let report_dir = a.report_dir.clone().unwrap_or_else(|| {
        config.audit.path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf).join("drills")
    });
    let Some(script_path) = &a.script else {
        if drill.is_live() && !a.allow_live {
            eprintln!(
                "nightwatch: drill refused: {} runs real injector commands: give --allow-live to let it touch more than the simulated fleet",
                drill.id
            );
            return EXIT_REFUSED;
        }
        let start = crate::app::DrillStart {
            drill,
            seed,
            speed: a.speed.unwrap_or(1.0),
            hidden: a.random,
            report_dir,
            run_id,
            attach: a.sim.clone(),
        };
        return crate::app::run(config_path, cockpit, Some(start));
    };
    let library = Library::load(config.runbooks.dir.as_deref());
    let script = match std::fs::read_to_string(script_path) {
        Ok(text) => match drill::script::parse(&script_path.display().to_string(), &text) {
            Ok(s) => s,
            Err(problems) => {
                for p in &problems {
                    eprintln!("{p}");
                }
                return EXIT_USAGE;
            }
        },
        Err(e) => {
            eprintln!("nightwatch: cannot read the script {}: {e}", script_path.display());
            return EXIT_USAGE;
        }
    };
    let audit = AuditLog::new(&config.audit.path).stamped("drill", &drill.id).stamped("drill-run", &run_id);
    let report_dir = a.report_dir.clone().unwrap_or_else(|| {
        config.audit.path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf).join("drills")
    });
    let (nodes, interval_ms) = sim_fleet(&config);
    let opts = Options {
        seed,
        nodes,
        speed: a.speed,
        allow_live: a.allow_live,
        interval_ms,
        warmup_ms: WARMUP_MS,
        audit,
        exe: std::env::current_exe().ok(),
        user: std::env::var("USER").unwrap_or_default(),
    };
    if a.random {
        println!("The wheel of misfortune picked a drill; it is named on the scorecard.");
    } else {
        println!("DRILL {}: {}", drill.id, drill.title);
    }
    let session = drill::session(drill, &config, &library);
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nightwatch: cannot start the runtime: {e}");
            return EXIT_FAILED;
        }
    };
    let card = match rt.block_on(headless::run(session, config, &library, &script, &opts)) {
        Ok(c) => c,
        Err(r) => {
            eprintln!("nightwatch: drill refused: {}", r.0);
            return EXIT_REFUSED;
        }
    };
    for l in card.lines() {
        println!("{l}");
    }
    match write_reports(&card, &report_dir, &run_id) {
        Ok((md, json)) => println!("scorecard: {} and {}", md.display(), json.display()),
        Err(e) => eprintln!("nightwatch: the scorecard was not written: {e}"),
    }
    if card.end == End::Resolved && card.grade != Grade::Fail { 0 } else { EXIT_FAILED }
}

/// Writes the scorecard as `RUN.md` and `RUN.json` in `dir`.
pub fn write_reports(card: &Scorecard, dir: &Path, run_id: &str) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join(format!("{run_id}.md"));
    let json = dir.join(format!("{run_id}.json"));
    std::fs::write(&md, card.markdown())?;
    let body = serde_json::to_string_pretty(card).map_err(std::io::Error::other)?;
    std::fs::write(&json, body + "\n")?;
    Ok((md, json))
}
