//! `nightwatch chaos …`: the chaos menu, against a running simulated fleet.

use crate::cli::{ChaosArgs, ChaosCommand};
use crate::commands::sim::{EXIT_UNAVAILABLE, EXIT_USAGE, with_client};
use crate::config::Unit;
use crate::sim::FaultInfo;

/// `12m30s` of simulated time.
fn sim_time(ms: i64) -> String {
    Unit::Seconds.format(ms.max(0) as f64 / 1000.0)
}

fn print_faults(now_ms: i64, faults: &[FaultInfo]) {
    if faults.is_empty() {
        println!("no faults in effect");
        return;
    }
    println!("{:>4}  {:<18}  {:>9}  {:>9}  DETAIL", "ID", "KIND", "FOR", "HEALS IN");
    for f in faults {
        println!(
            "{:>4}  {:<18}  {:>9}  {:>9}  {}",
            format!("#{}", f.id),
            f.kind,
            sim_time(now_ms - f.started_ms),
            sim_time(f.ends_ms - now_ms),
            crate::text::escape_control(&f.detail)
        );
    }
}

fn failed(e: &str) -> i32 {
    eprintln!("nightwatch chaos: {e}");
    if e.starts_with("cannot reach") { EXIT_UNAVAILABLE } else { EXIT_USAGE }
}

pub fn run(args: &ChaosArgs) -> i32 {
    let inject = args.command.injection();
    with_client(&args.fleet.addr, |c| async move {
        match (&args.command, inject) {
            (_, Some(i)) => match c.inject(&i).await {
                Ok(f) => {
                    println!(
                        "injected #{}: {} — {}; heals itself in {} (simulated time); `nightwatch chaos heal {}` ends it now",
                        f.id,
                        f.kind,
                        crate::text::escape_control(&f.detail),
                        sim_time(f.ends_ms - f.started_ms),
                        f.id
                    );
                    0
                }
                Err(e) => failed(&e),
            },
            (ChaosCommand::Heal { id, .. }, None) => match c.heal(*id).await {
                Ok(healed) if healed.is_empty() => {
                    println!("no faults were in effect");
                    0
                }
                Ok(healed) => {
                    for f in healed {
                        println!("healed #{}: {} — {}", f.id, f.kind, crate::text::escape_control(&f.detail));
                    }
                    0
                }
                Err(e) => failed(&e),
            },
            (_, None) => match c.status().await {
                Ok(s) => {
                    print_faults(s.now_ms, &s.faults);
                    0
                }
                Err(e) => failed(&e),
            },
        }
    })
}
