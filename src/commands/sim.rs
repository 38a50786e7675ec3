//! `nightwatch sim`: serve the simulated fleet; `nightwatch sim ctl …`: apply a remedy to it.

use std::net::SocketAddr;

use crate::cli::{CacheRemedy, RemedyCommand, SimArgs, SimCommand, SimCtlArgs};
use crate::sim::client::Client;
use crate::sim::server::{is_loopback, serve};
use crate::sim::{Fleet, Nodes, Remedy};

/// Exit code of a bad argument (EX_USAGE), and of a fleet that cannot be reached (EX_UNAVAILABLE).
pub const EXIT_USAGE: i32 = 64;
pub const EXIT_UNAVAILABLE: i32 = 69;

pub fn run(args: &SimArgs) -> i32 {
    match &args.command {
        Some(SimCommand::Ctl(ctl)) => return run_ctl(ctl),
        None => {}
    }
    let addr: SocketAddr = match args.listen.parse() {
        Ok(a) => a,
        Err(_) => {
            eprintln!("nightwatch sim: invalid --listen {:?}: use host:port, e.g. 127.0.0.1:9464", args.listen);
            return EXIT_USAGE;
        }
    };
    if !is_loopback(&addr) && !args.allow_remote_control {
        eprintln!(
            "nightwatch sim: refusing to listen on {addr}: anyone who can reach it could inject faults. \
             Listen on a loopback address, or pass --allow-remote-control"
        );
        return EXIT_USAGE;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nightwatch sim: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("nightwatch sim: cannot listen on {addr}: {e}");
                return EXIT_UNAVAILABLE;
            }
        };
        let nodes = args.nodes as usize;
        let server = serve(listener, Fleet::new(nodes, args.seed), args.speed, args.allow_remote_control);
        println!(
            "simulated fleet: {nodes} nodes, seed {}, speed {}×\n  metrics  {}\n  control  http://{}/control/ ({})\n\
             Inject faults with `nightwatch chaos …`, remedy with `nightwatch sim ctl …`; ctrl-c stops.",
            args.seed,
            args.speed,
            server.metrics_url(),
            server.addr,
            if args.allow_remote_control { "any client" } else { "loopback clients only" },
        );
        let mut stop = crate::app::StopSignals::listen();
        tokio::select! {
            () = server.wait() => 1,
            _ = stop.next() => 0,
        }
    })
}

fn remedy_of(cmd: &RemedyCommand) -> Remedy {
    match cmd {
        RemedyCommand::NtpSync { nodes, .. } => Remedy::NtpSync { nodes: nodes.clone().unwrap_or(Nodes::All) },
        RemedyCommand::Cache(CacheRemedy::SetMaxmemory { bytes }) => Remedy::CacheSetMaxmemory { bytes: *bytes },
        RemedyCommand::Cache(CacheRemedy::EvictShortTtl) => Remedy::CacheEvictShortTtl,
        RemedyCommand::Breaker { action, service } => {
            Remedy::Breaker { service: service.clone(), open: action == "open" }
        }
        RemedyCommand::TimeoutBudget { hop, seconds } => Remedy::TimeoutBudget { hop: hop.clone(), seconds: *seconds },
        RemedyCommand::Backoff { multiplier } => Remedy::Backoff { multiplier: *multiplier },
        RemedyCommand::Restart { service } => Remedy::Restart { service: service.clone() },
        RemedyCommand::Bus { action } => Remedy::Bus { standby: action == "failover" },
    }
}

fn run_ctl(args: &SimCtlArgs) -> i32 {
    let remedy = remedy_of(&args.remedy);
    with_client(&args.fleet.addr, |c| async move {
        match c.remedy(&remedy).await {
            Ok(msg) => {
                println!("{msg}");
                0
            }
            Err(e) => {
                eprintln!("nightwatch sim ctl: {e}");
                if e.starts_with("cannot reach") { EXIT_UNAVAILABLE } else { EXIT_USAGE }
            }
        }
    })
}

/// Runs `f` with a client for the fleet at `addr` on a small runtime.
pub fn with_client<F, Fut>(addr: &str, f: F) -> i32
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = i32>,
{
    let client = match Client::new(addr) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nightwatch: {e}");
            return EXIT_USAGE;
        }
    };
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(f(client)),
        Err(e) => {
            eprintln!("nightwatch: cannot start the runtime: {e}");
            1
        }
    }
}
