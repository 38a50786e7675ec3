//! Long-running polling: healthy targets are polled on their interval however many others
//! hang, and file_sd targets follow the file as it changes.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use nightwatch::config::Config;
use nightwatch::intake::scheduler::{IntakeMsg, start};
use nightwatch::intake::scrape::NameFilter;
use support::{Reply, serve};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_targets_do_not_delay_healthy_ones() {
    let good = serve(|_| Reply::text("up 1\n")).await;
    let hang = serve(|_| Reply::Hang).await;
    // Five hanging targets (different paths) beside one healthy one, 200 ms interval.
    let hanging: Vec<String> = (0..5).map(|k| format!("\"http://{hang}/h{k}\"")).collect();
    let text = format!(
        "[cockpit]\nmax-concurrent-scrapes = 8\n\n[[source]]\nname = \"t\"\nkind = \"scrape\"\n\
         targets = [\"{good}\", {}]\ninterval = \"200ms\"\ntimeout = \"200ms\"\n",
        hanging.join(", ")
    );
    let config = Config::from_texts(Some((Path::new("t.toml"), &text))).expect("valid");
    let (tx, mut rx) = mpsc::channel(256);
    let _intake = start(&config, NameFilter::all(), tx).expect("start");
    let mut good_id = None;
    let mut good_times = Vec::new();
    let mut timeouts = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await else { continue };
        match msg {
            IntakeMsg::TargetsChanged { added, .. } => {
                good_id = added.iter().find(|t| t.spec.url.path() == "/metrics").map(|t| t.id);
            }
            IntakeMsg::Scraped(d) if Some(d.target) == good_id => {
                assert!(d.result.is_ok());
                good_times.push(Instant::now());
            }
            IntakeMsg::Scraped(d) => {
                if d.result.as_ref().err().map(|e| e.kind()) == Some("timeout") {
                    timeouts += 1;
                }
            }
            IntakeMsg::SourceProblem { .. } => {}
        }
    }
    assert!(timeouts >= 5, "the hanging targets time out ({timeouts})");
    // Three seconds at 200 ms: about 15 polls. Polled in turn with the hanging ones it would
    // get one poll per 1.2 s; the bounds leave room for a loaded machine.
    assert!(good_times.len() >= 10, "healthy target polled {} times in 3 s", good_times.len());
    let worst_gap = good_times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(worst_gap < Duration::from_millis(1000), "a gap of {worst_gap:?} between healthy polls");
}

async fn next_change(rx: &mut mpsc::Receiver<IntakeMsg>) -> (Vec<nightwatch::intake::scheduler::Target>, Vec<u64>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
            Ok(Some(IntakeMsg::TargetsChanged { added, removed, .. })) => return (added, removed),
            Ok(Some(IntakeMsg::SourceProblem { problem: Some(p), .. })) => panic!("problem: {p}"),
            _ => {}
        }
    }
    panic!("no target change within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sd_targets_follow_the_file() {
    let a = serve(|_| Reply::text("up 1\n")).await;
    let b = serve(|_| Reply::text("up 1\n")).await;
    let dir = std::env::temp_dir().join(format!("nightwatch-sd-{}", a.port()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let sd = dir.join("targets.json");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{a}"], "labels": {{"zone": "eu"}}}}]"#)).expect("write");
    let text = format!(
        "[[source]]\nname = \"sd\"\nkind = \"scrape\"\nfile-sd = \"{}\"\ninterval = \"200ms\"\ntimeout = \"200ms\"\n",
        sd.display()
    );
    let config = Config::from_texts(Some((Path::new("t.toml"), &text))).expect("valid");
    let (tx, mut rx) = mpsc::channel(256);
    let _intake = start(&config, NameFilter::all(), tx).expect("start");

    let (added, removed) = next_change(&mut rx).await;
    assert_eq!(added.len(), 1);
    assert!(removed.is_empty());
    assert_eq!(added[0].spec.labels.get("zone"), Some("eu"));
    let first = added[0].id;

    // Rewrite the file: a gone, b added.
    tokio::time::sleep(Duration::from_millis(1100)).await; // a new mtime even on coarse clocks
    std::fs::write(&sd, format!(r#"[{{"targets": ["{b}"]}}]"#)).expect("write");
    let (added, removed) = next_change(&mut rx).await;
    assert_eq!(removed, [first]);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].spec.url.port(), Some(b.port()));

    // A broken file is reported and the targets stay.
    std::fs::write(&sd, "[{\"targets\": [").expect("write");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut reported = false;
    while Instant::now() < deadline && !reported {
        if let Ok(Some(IntakeMsg::SourceProblem { problem: Some(p), .. })) =
            tokio::time::timeout(Duration::from_millis(500), rx.recv()).await
        {
            assert!(p.contains("targets.json"), "{p}");
            reported = true;
        }
    }
    assert!(reported, "a broken file_sd file is reported");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_intake_stops_every_target() {
    let a = serve(|_| Reply::text("up 1\n")).await;
    let text = format!(
        "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"{a}\", \"http://{a}/other\"]\ninterval = \"100ms\"\ntimeout = \"100ms\"\n"
    );
    let config = Config::from_texts(Some((Path::new("t.toml"), &text))).expect("valid");
    let (tx, mut rx) = mpsc::channel(256);
    let intake = start(&config, NameFilter::all(), tx).expect("start");
    let mut scraped = 0;
    while scraped < 4 {
        if let Some(IntakeMsg::Scraped(_)) = rx.recv().await {
            scraped += 1;
        }
    }
    drop(intake);
    tokio::time::sleep(Duration::from_millis(150)).await;
    while rx.try_recv().is_ok() {} // what was already under way
    // The receiver is still open: a task left running would keep sending.
    let late = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
    assert!(!matches!(late, Ok(Some(IntakeMsg::Scraped(_)))), "a target kept scraping after the intake was dropped");
}
