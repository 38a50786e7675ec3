//! Command-line definitions. Only commands that work are here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "nightwatch",
    version,
    about = "A terminal incident cockpit for the async health of distributed systems",
    long_about = "nightwatch polls Prometheus metrics (scraping /metrics endpoints directly, or \
                  querying a Prometheus-compatible server), evaluates the async-health signals \
                  against warn and page thresholds and raises alerts.",
    after_help = "Exit codes of eval: 0 OK, 1 WARN, 2 PAGE, 3 UNKNOWN. Usage errors exit 64."
)]
pub struct Cli {
    /// Config file (default: $XDG_CONFIG_HOME/nightwatch/config.toml if it exists, else the built-in defaults)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Hide and refuse every runbook step
    #[arg(long)]
    pub read_only: bool,
    /// Show what a step would run instead of running it
    #[arg(long)]
    pub dry_run: bool,
    /// No colour at all: bold, reverse and words (also when NO_COLOR is set)
    #[arg(long)]
    pub mono: bool,
    /// ASCII instead of box drawing, blocks and braille
    #[arg(long)]
    pub ascii: bool,
    /// Do not ring the terminal bell on a new page
    #[arg(long)]
    pub no_bell: bool,

    /// Without a command: the cockpit
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch one target once and print its series, or the reason it failed
    Scrape(ScrapeArgs),
    /// Poll once (twice where a rate needs it) and print every signal's value, level and alerts
    Eval(EvalArgs),
    /// Validate the config, the runbooks and the drills; errors as file:line: message
    Check(CheckArgs),
    /// Serve the simulated fleet's /metrics and control endpoint; `sim ctl` applies remedies
    Sim(SimArgs),
    /// Inject a fault into a running simulated fleet (the chaos menu), list or heal faults
    Chaos(ChaosArgs),
    /// List, show and run runbooks (the same runbooks, executor and audit log as the cockpit)
    Runbook(RunbookArgs),
    /// Read and verify the audit log
    Audit(AuditArgs),
    /// Graded drills: list them, run one in the cockpit or with a scripted operator
    Drill(DrillArgs),
    /// The morning health report: the async system's health, then the period's alerts,
    /// incidents, drills and runbook steps; exit 0 OK, 1 WARN, 2 PAGE, 3 UNKNOWN
    Report(ReportArgs),
    /// List incidents, or show one (or one of its templates, filled)
    Incident(IncidentArgs),
    /// A post-incident review draft from the incident's audit records
    Postmortem(PostmortemArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// The period the history covers (and, against a Prometheus server, the range queries)
    #[arg(long, default_value = "24h", value_name = "DURATION")]
    pub since: String,
    /// Write the report to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The audit log to read (default: the config's [audit] path)
    #[arg(long, value_name = "PATH")]
    pub audit_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct IncidentArgs {
    /// The audit log to read (default: the config's [audit] path)
    #[arg(long, global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: IncidentCommand,
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Every incident in the audit log: id, severity, opened, closed, title
    List,
    /// One incident: what is known of it, or a template filled in
    Show {
        id: String,
        /// declare, status or resolved: the seed's incident templates, pre-filled
        #[arg(long, value_name = "KIND")]
        template: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct PostmortemArgs {
    pub id: String,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: PostmortemFormat,
    /// The audit log to read (default: the config's [audit] path)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostmortemFormat {
    Markdown,
    Json,
}

#[derive(Args, Debug)]
pub struct DrillArgs {
    #[command(subcommand)]
    pub command: DrillCommand,
}

#[derive(Subcommand, Debug)]
pub enum DrillCommand {
    /// Every shipped drill: id, faults, maximum duration, title
    List,
    /// Run a drill in the cockpit (or headless with --script) and grade it; the scorecard is
    /// shown and written as Markdown and JSON
    Run(DrillRunArgs),
}

#[derive(Args, Debug)]
pub struct DrillRunArgs {
    /// A shipped drill's id, or a path to a drill file
    #[arg(required_unless_present = "random")]
    pub name: Option<String>,
    /// The wheel of misfortune: a drill picked at random, named only on the scorecard
    #[arg(long, conflicts_with = "name")]
    pub random: bool,
    /// A scripted operator (lines of `TIME ack SIGNAL | open RUNBOOK | run RUNBOOK STEP [K=V…]`);
    /// the drill runs headless in simulated time
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Simulated seconds per second (default: real time in the cockpit; headless, as fast as the
    /// machine goes)
    #[arg(long, value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// The fleet's seed (default: a new one each run, printed on the scorecard)
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the scorecards go (default: `drills/` beside the audit log)
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Let a drill run the real injector commands its file names (live-inject)
    #[arg(long)]
    pub allow_live: bool,
    /// Drill against a running fleet (`nightwatch sim --listen ADDR`) instead of starting one;
    /// its speed is the drill's
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["script", "speed", "seed"])]
    pub sim: Option<String>,
}

#[derive(Args, Debug)]
pub struct RunbookArgs {
    #[command(subcommand)]
    pub command: RunbookCommand,
}

#[derive(Subcommand, Debug)]
pub enum RunbookCommand {
    /// Every runbook: id, severity, the signals it answers, its title
    List,
    /// One runbook: what it is for, its flowchart as an outline, its steps in this profile
    Show { id: String },
    /// Run one step: checks its values, asks for confirmation, records it in the audit log
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The runbook's id
    pub id: String,
    /// The step's id
    #[arg(required_unless_present = "all")]
    pub step: Option<String>,
    /// Run every step that only looks (detect, diagnose, verify), in order; steps that change
    /// things are refused by the executor in a batch
    #[arg(long, conflicts_with = "step")]
    pub all: bool,
    /// A template value, e.g. --set node=node-17 (repeatable)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// Answer yes to the prompt (needed when standard input is not a terminal)
    #[arg(long)]
    pub yes: bool,
    /// With --yes, a dangerous step's typed confirmation: the target's name
    #[arg(long, value_name = "TARGET")]
    pub confirm: Option<String>,
    /// Show the exact argv and target; run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Record the step under this incident id
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,
    /// After a recover step, do not run its verification
    #[arg(long)]
    pub no_verify: bool,
    #[command(flatten)]
    pub fleet: FleetAddr,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The audit log to read (default: the config's [audit] path)
    #[arg(long, global = true, value_name = "PATH")]
    pub file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The last records, one line each
    Tail {
        /// How many
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
    },
    /// The steps run: when, who, what, the outcome
    Show {
        /// Only the records of this incident
        #[arg(long, value_name = "ID")]
        incident: Option<String>,
        /// One JSON object per record
        #[arg(long)]
        json: bool,
    },
    /// Check the hash chain; exit 1 naming the first bad record
    Verify,
}

#[derive(Args, Debug)]
pub struct ScrapeArgs {
    /// The target: a URL, or host:port for http://host:port/metrics
    pub url: String,
    /// One JSON object per series
    #[arg(long, conflicts_with = "summary")]
    pub json: bool,
    /// Families, series, bytes and parse time only
    #[arg(long)]
    pub summary: bool,
    /// Ask for OpenMetrics and parse the body as OpenMetrics whatever its Content-Type
    #[arg(long)]
    pub openmetrics: bool,
    /// Let OpenMetrics value-rule violations through as warnings (as a source with
    /// openmetrics-value-rules = "warn" does)
    #[arg(long)]
    pub relaxed: bool,
    /// How long to wait for the target
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub timeout: String,
    /// Only series whose name starts with this (repeatable)
    #[arg(long = "match", value_name = "PREFIX")]
    pub matches: Vec<String>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Print JSON (the shape is documented in docs/eval-json.md)
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// More drill files to lint (the shipped drills are always linted)
    #[arg(long = "drill", value_name = "FILE")]
    pub drills: Vec<PathBuf>,
}

/// `host:port` of a running fleet's control endpoint.
#[derive(Args, Debug, Clone)]
pub struct FleetAddr {
    /// The simulated fleet to talk to (`nightwatch sim --listen`)
    #[arg(long = "sim", global = true, value_name = "ADDR", env = "NIGHTWATCH_SIM", default_value = crate::sim::client::DEFAULT_ADDR)]
    pub addr: String,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    /// Where to serve /metrics and /control (a non-loopback address needs --allow-remote-control)
    #[arg(long, default_value = crate::sim::client::DEFAULT_ADDR, value_name = "ADDR")]
    pub listen: String,
    /// How many nodes (node-01 …)
    #[arg(long, default_value_t = 47, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub nodes: u32,
    /// The random seed: the same seed, speed and faults replay the same fleet
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulated seconds per second (60: an hour of dynamics in a minute; at most 3600)
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
    /// Answer /control requests from any address, and allow a non-loopback --listen
    #[arg(long)]
    pub allow_remote_control: bool,
    #[command(subcommand)]
    pub command: Option<SimCommand>,
}

fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().trim_end_matches('x').parse().map_err(|_| format!("invalid speed {s:?}: use e.g. 60"))?;
    if !(v > 0.0 && v <= crate::sim::server::MAX_SPEED) {
        return Err(format!("speed must be above 0 and at most {}", crate::sim::server::MAX_SPEED));
    }
    Ok(v)
}

#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Apply a remedy to a running fleet (what the runbooks' steps call)
    Ctl(SimCtlArgs),
}

#[derive(Args, Debug)]
pub struct SimCtlArgs {
    #[command(flatten)]
    pub fleet: FleetAddr,
    #[command(subcommand)]
    pub remedy: RemedyCommand,
}

#[derive(Subcommand, Debug)]
pub enum RemedyCommand {
    /// Step the clocks of nodes to the reference time and end the clock faults on them
    NtpSync {
        /// Nodes by name (node-03,node-17) or share (20%)
        #[arg(long, value_parser = crate::sim::Nodes::parse, required_unless_present = "all", conflicts_with = "all")]
        nodes: Option<crate::sim::Nodes>,
        /// Every node
        #[arg(long)]
        all: bool,
    },
    /// The idempotency cache (Redis)
    #[command(subcommand)]
    Cache(CacheRemedy),
    /// Open or close the circuit breaker to a service
    Breaker {
        #[arg(value_parser = ["open", "close"])]
        action: String,
        /// gateway, service-a (orders), service-b (payment) or database (db)
        #[arg(long, value_parser = parse_service)]
        service: String,
    },
    /// Set the timeout budget of a hop's calls
    TimeoutBudget {
        #[arg(long, value_parser = parse_service)]
        hop: String,
        /// The new budget, e.g. 5s or 800ms
        #[arg(long = "set", value_parser = parse_positive_seconds, value_name = "DURATION")]
        seconds: f64,
    },
    /// Set the retry backoff multiplier
    Backoff {
        #[arg(long)]
        multiplier: f64,
    },
    /// Restart a service: its queue drains and a runaway process on it ends
    Restart {
        #[arg(long, value_parser = parse_service)]
        service: String,
    },
    /// Move the message bus to the standby broker (failover) or back to the primary (failback)
    Bus {
        #[arg(value_parser = ["failover", "failback"])]
        action: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CacheRemedy {
    /// Set maxmemory (CONFIG SET maxmemory), e.g. 8gb
    SetMaxmemory {
        #[arg(value_parser = parse_bytes)]
        bytes: u64,
    },
    /// Evict keys with a short TTL and stop keeping them
    EvictShortTtl,
}

fn parse_service(s: &str) -> Result<String, String> {
    crate::sim::faults::service_index(s).map(|_| s.to_owned())
}

fn parse_positive_seconds(s: &str) -> Result<f64, String> {
    let v = crate::sim::faults::parse_signed_seconds(s)?;
    if v <= 0.0 {
        return Err(format!("{s:?} must be longer than 0s"));
    }
    Ok(v)
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    crate::sim::faults::parse_redis_memory(s)
}

#[derive(Args, Debug)]
pub struct ChaosArgs {
    #[command(flatten)]
    pub fleet: FleetAddr,
    #[command(subcommand)]
    pub command: ChaosCommand,
}

#[derive(Subcommand, Debug)]
pub enum ChaosCommand {
    /// Clock faults: drift, jump, byzantine
    #[command(subcommand)]
    Clock(ClockFault),
    /// Network faults: delay, reorder, partition, drop-acks
    #[command(subcommand)]
    Network(NetworkFault),
    /// CPU faults
    #[command(subcommand)]
    Cpu(CpuFault),
    /// Cache faults
    #[command(subcommand)]
    Cache(CacheFault),
    /// The faults in effect and when each heals itself
    List,
    /// End a fault now (or every fault with --all)
    Heal {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<u32>,
        #[arg(long)]
        all: bool,
    },
}

/// How long a fault lasts before it heals itself (simulated time).
#[derive(Args, Debug, Clone, Copy)]
pub struct FaultDuration {
    /// How long until the fault heals itself, in simulated time (default 10m)
    #[arg(long, value_parser = parse_positive_seconds, value_name = "DURATION")]
    pub duration: Option<f64>,
}

#[derive(Subcommand, Debug)]
pub enum ClockFault {
    /// Clocks that gain or lose time at a rate
    Drift {
        /// e.g. "+1s/min", "-200ms/min"
        #[arg(long, value_parser = crate::sim::faults::parse_rate, allow_hyphen_values = true)]
        rate: f64,
        /// A share ("20%"), names ("node-03,node-17") or "all"
        #[arg(long, value_parser = crate::sim::Nodes::parse)]
        nodes: crate::sim::Nodes,
        #[command(flatten)]
        duration: FaultDuration,
    },
    /// Clocks that step once
    Jump {
        /// e.g. "+5m", "-30s"
        #[arg(long, value_parser = crate::sim::faults::parse_signed_seconds, allow_hyphen_values = true)]
        offset: f64,
        #[arg(long, value_parser = crate::sim::Nodes::parse)]
        nodes: crate::sim::Nodes,
        #[command(flatten)]
        duration: FaultDuration,
    },
    /// Clocks that read a random offset in a range, anew every second
    Byzantine {
        /// e.g. "random(-1s,+1s)"
        #[arg(long, value_parser = crate::sim::faults::parse_random_range, allow_hyphen_values = true)]
        drift: (f64, f64),
        #[arg(long, value_parser = crate::sim::Nodes::parse)]
        nodes: crate::sim::Nodes,
        #[command(flatten)]
        duration: FaultDuration,
    },
}

#[derive(Subcommand, Debug)]
pub enum NetworkFault {
    /// Extra latency on one link of the request path, or on all of them
    Delay {
        /// e.g. "200ms" or "exponential(100ms)"
        #[arg(long, value_parser = crate::sim::Latency::parse)]
        latency: crate::sim::Latency,
        /// The calling service (client, gateway, service-a, service-b)
        #[arg(long, requires = "to", value_parser = parse_caller)]
        from: Option<String>,
        /// The called service (gateway, service-a, service-b, database)
        #[arg(long, requires = "from", value_parser = parse_service)]
        to: Option<String>,
        /// The n-th link of the path gets n times the delay, so timeouts cascade upwards
        #[arg(long)]
        cascade: bool,
        #[command(flatten)]
        duration: FaultDuration,
    },
    /// Messages on the bus delivered out of order
    Reorder {
        #[arg(long, value_parser = crate::sim::faults::parse_probability)]
        probability: f64,
        #[command(flatten)]
        duration: FaultDuration,
    },
    /// Calls between two adjacent services (or messages between two nodes) are lost
    Partition {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[command(flatten)]
        duration: FaultDuration,
    },
    /// Acknowledgements lost: redelivery, duplicates, reordering
    DropAcks {
        #[arg(long, value_parser = crate::sim::faults::parse_probability)]
        probability: f64,
        #[command(flatten)]
        duration: FaultDuration,
    },
}

fn parse_caller(s: &str) -> Result<String, String> {
    if s == "client" { Ok(s.to_owned()) } else { parse_service(s) }
}

fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim().trim_end_matches('%');
    let v: f64 = t.parse().map_err(|_| format!("invalid share {s:?}: use e.g. 80%"))?;
    if !(v > 0.0 && v <= 100.0) {
        return Err(format!("{s:?} must be above 0% and at most 100%"));
    }
    Ok(v / 100.0)
}

#[derive(Subcommand, Debug)]
pub enum CpuFault {
    /// A runaway process taking a share of a service's capacity
    Stress {
        #[arg(long, value_parser = parse_service)]
        service: String,
        /// e.g. 80%
        #[arg(long, value_parser = parse_share)]
        load: f64,
        #[command(flatten)]
        duration: FaultDuration,
    },
}

#[derive(Subcommand, Debug)]
pub enum CacheFault {
    /// Memory taken from the cache so that a share of its keys no longer fit
    Evict {
        /// The cache (the fleet has one: idempotency)
        #[arg(long = "type", default_value = "idempotency", value_parser = ["idempotency"])]
        cache_type: String,
        /// The share of keys evicted, e.g. 50 or 50%
        #[arg(long, value_parser = parse_share)]
        percent: f64,
        #[command(flatten)]
        duration: FaultDuration,
    },
}

impl ChaosCommand {
    /// The fault a chaos command injects (`None` for `list` and `heal`).
    pub fn injection(&self) -> Option<crate::sim::Injection> {
        let (fault, duration) = match self {
            ChaosCommand::Clock(ClockFault::Drift { rate, nodes, duration }) => {
                (crate::sim::FaultSpec::ClockDrift { rate_s_per_min: *rate, nodes: nodes.clone() }, duration)
            }
            ChaosCommand::Clock(ClockFault::Jump { offset, nodes, duration }) => {
                (crate::sim::FaultSpec::ClockJump { offset_s: *offset, nodes: nodes.clone() }, duration)
            }
            ChaosCommand::Clock(ClockFault::Byzantine { drift, nodes, duration }) => (
                crate::sim::FaultSpec::ClockByzantine { low_s: drift.0, high_s: drift.1, nodes: nodes.clone() },
                duration,
            ),
            ChaosCommand::Network(NetworkFault::Delay { latency, from, to, cascade, duration }) => (
                crate::sim::FaultSpec::NetworkDelay {
                    latency: *latency,
                    from: from.clone(),
                    to: to.clone(),
                    cascade: *cascade,
                },
                duration,
            ),
            ChaosCommand::Network(NetworkFault::Reorder { probability, duration }) => {
                (crate::sim::FaultSpec::NetworkReorder { probability: *probability }, duration)
            }
            ChaosCommand::Network(NetworkFault::Partition { from, to, duration }) => {
                (crate::sim::FaultSpec::NetworkPartition { from: from.clone(), to: to.clone() }, duration)
            }
            ChaosCommand::Network(NetworkFault::DropAcks { probability, duration }) => {
                (crate::sim::FaultSpec::DropAcks { probability: *probability }, duration)
            }
            ChaosCommand::Cpu(CpuFault::Stress { service, load, duration }) => {
                (crate::sim::FaultSpec::CpuStress { service: service.clone(), load: *load }, duration)
            }
            ChaosCommand::Cache(CacheFault::Evict { percent, duration, .. }) => {
                (crate::sim::FaultSpec::CacheEvict { percent: *percent }, duration)
            }
            ChaosCommand::List | ChaosCommand::Heal { .. } => return None,
        };
        Some(crate::sim::Injection { fault, duration_s: duration.duration })
    }
}
