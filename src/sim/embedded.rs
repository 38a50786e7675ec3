//! The built-in fleet behind a `kind = "sim"` source (the default when no config file is
//! found): started in-process on an ephemeral loopback port, then watched like any scrape
//! target, over real HTTP, so that the demo exercises the same path as production.

use super::Fleet;
use super::server::{SimServer, serve};
use crate::config::{Config, Scrape, SimFleet, SourceKind};

/// The fleets started for a config. Dropping it stops them.
pub struct Embedded {
    pub servers: Vec<SimServer>,
    /// One line per fleet: what runs where, for the header and `eval`'s output.
    pub notes: Vec<String>,
}

/// How the fleets' exposed counters relate to the scraper's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counters {
    /// Divided by the fleet's speed: rates over wall-clock time stay in simulated units.
    PerWallSecond,
    /// As simulated: the scraper runs on a clock scaled like the fleet's (a drill's).
    PerSimulatedSecond,
}

/// Starts a fleet for every `sim` source of `config` and turns that source into a scrape of
/// it. Must run inside a tokio runtime.
pub async fn start(config: &mut Config, counters: Counters) -> Result<Embedded, String> {
    let mut out = Embedded { servers: Vec::new(), notes: Vec::new() };
    for source in &mut config.sources {
        let SourceKind::Sim(SimFleet { nodes, seed, speed }) = source.kind else { continue };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot start the simulated fleet for source {:?}: {e}", source.name))?;
        let server = serve(listener, Fleet::new(nodes, seed), speed, false);
        if counters == Counters::PerSimulatedSecond {
            server.with_fleet(|f| f.counter_divisor = 1.0);
        }
        let url = reqwest::Url::parse(&server.metrics_url()).map_err(|e| format!("simulated fleet address: {e}"))?;
        out.notes.push(format!(
            "source {:?}: the built-in simulated fleet ({nodes} nodes, seed {seed}, speed {speed}×), started in-process at {url}",
            source.name
        ));
        source.kind = SourceKind::Scrape(Scrape {
            targets: vec![url],
            file_sd: None,
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            limits: Default::default(),
            value_rules: Default::default(),
        });
        out.servers.push(server);
    }
    Ok(out)
}

/// Turns every `sim` source of `config` into a scrape of an already running fleet at `addr`
/// (`nightwatch sim --listen ADDR`): what a command run beside the cockpit or a drill watches.
pub fn attach(config: &mut Config, addr: &str) -> Result<(), String> {
    let url = crate::config::target_url(addr, "http", "/metrics")?;
    for source in &mut config.sources {
        if matches!(source.kind, SourceKind::Sim(_)) {
            source.kind = SourceKind::Scrape(Scrape {
                targets: vec![url.clone()],
                file_sd: None,
                scheme: "http".into(),
                metrics_path: "/metrics".into(),
                limits: Default::default(),
                value_rules: Default::default(),
            });
        }
    }
    Ok(())
}
