use super::*;

fn event(kind: &str, n: usize) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    m.insert("n".into(), n.into());
    m
}

fn log_with(n: usize) -> (PathBuf, AuditLog) {
    let dir = std::env::temp_dir().join(format!("nw-audit-{}-{}", std::process::id(), rand_suffix()));
    let log = AuditLog::new(dir.join("sub/audit.jsonl"));
    for i in 0..n {
        log.append(event("note", i)).expect("append");
    }
    (dir, log)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn lines(log: &AuditLog) -> Vec<String> {
    std::fs::read_to_string(log.path()).expect("read").lines().map(str::to_owned).collect()
}

fn write_lines(log: &AuditLog, lines: &[String]) {
    std::fs::write(log.path(), lines.iter().map(|l| format!("{l}\n")).collect::<String>()).expect("write");
}

#[test]
fn a_fresh_chain_verifies_and_reads_back() {
    let (_d, log) = log_with(5);
    let v = log.verify().expect("verify");
    assert_eq!(v, Verification { records: 5, first_bad: None, torn_tail: None });
    let records = log.read().expect("read");
    assert_eq!(records.iter().map(Record::seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(records[0].str("prev"), Some(GENESIS));
    assert_eq!(records[1].str("prev"), records[0].str("hash"));
    assert_eq!(records[2].fields["who"]["pid"], std::process::id());
}

#[test]
fn a_flipped_byte_is_named_at_its_record() {
    let (_d, log) = log_with(5);
    let mut ls = lines(&log);
    ls[2] = ls[2].replacen("\"n\":2", "\"n\":3", 1);
    write_lines(&log, &ls);
    let v = log.verify().expect("verify");
    let (line, why) = v.first_bad.expect("bad");
    assert_eq!(line, 3, "{why}");
    assert!(why.contains("altered"), "{why}");
    // Even in the last record, where no later record points back at it.
    let (_d, log) = log_with(3);
    let mut ls = lines(&log);
    ls[2] = ls[2].replacen("note", "nope", 1);
    write_lines(&log, &ls);
    assert_eq!(log.verify().expect("verify").first_bad.map(|b| b.0), Some(3));
}

#[test]
fn a_deleted_or_swapped_line_is_named() {
    let (_d, log) = log_with(5);
    let mut ls = lines(&log);
    ls.remove(1);
    write_lines(&log, &ls);
    let (line, why) = log.verify().expect("verify").first_bad.expect("bad");
    assert_eq!(line, 2);
    assert!(why.contains("missing"), "{why}");

    let (_d, log) = log_with(5);
    let mut ls = lines(&log);
    ls.swap(2, 3);
    write_lines(&log, &ls);
    let (line, why) = log.verify().expect("verify").first_bad.expect("bad");
    assert_eq!(line, 3, "{why}");
}

#[test]
fn a_torn_last_line_is_reported_then_repaired_without_loss() {
    let (_d, log) = log_with(3);
    let mut f = OpenOptions::new().append(true).open(log.path()).expect("open");
    f.write_all(b"{\"kind\":\"step-sta").expect("write");
    drop(f);
    let v = log.verify().expect("verify");
    assert_eq!((v.records, v.first_bad.clone(), v.torn_tail), (3, None, Some(17)));
    assert_eq!(log.read().expect("read").len(), 3);
    log.append(event("note", 9)).expect("append after a tear");
    let v = log.verify().expect("verify");
    assert_eq!((v.records, v.first_bad, v.torn_tail), (5, None, None));
    let records = log.read().expect("read");
    assert_eq!(records[3].kind(), "repair");
    assert_eq!(records[3].str("torn_text"), Some("{\"kind\":\"step-sta"));
}

#[test]
fn an_unwritable_place_is_an_error() {
    let log = AuditLog::new("/proc/nightwatch-cannot-write-here/audit.jsonl");
    assert!(log.append(event("note", 0)).is_err());
}

#[test]
fn a_start_left_open_by_a_dead_process_gets_an_unknown_outcome() {
    let (_d, log) = log_with(0);
    // A start from a process that is gone (pid 1's start time never matches 1).
    let mut m = event("step-started", 0);
    m.insert("run".into(), "dead-run".into());
    log.append(m).expect("append");
    let mut ls = lines(&log);
    let me = Who::me();
    let mut rec: Map<String, Value> = serde_json::from_str(&ls[0]).expect("json");
    rec.insert("who".into(), serde_json::json!({"host": me.host, "pid": 1, "pid_start": 1}));
    rec.remove("hash");
    let body = Value::Object(rec).to_string();
    let body = body.strip_suffix('}').expect("an object");
    ls[0] = format!("{body},\"hash\":\"{}\"}}", line_hash(body));
    write_lines(&log, &ls);
    // And one from this (live) process, with an outcome-less start: not an orphan.
    let mut live = event("step-started", 1);
    live.insert("run".into(), "live-run".into());
    log.append(live).expect("append");
    let mut next = event("step-started", 2);
    next.insert("run".into(), "next-run".into());
    log.append_start(next).expect("append start");
    let records = log.read().expect("read");
    let unknown: Vec<&Record> = records.iter().filter(|r| r.kind() == "step-outcome-unknown").collect();
    assert_eq!(unknown.len(), 1, "{records:?}");
    assert_eq!(unknown[0].str("run"), Some("dead-run"));
    assert_eq!(records.last().map(|r| r.kind()), Some("step-started"));
    assert_eq!(log.verify().expect("verify").first_bad, None);
}

#[test]
fn incident_ids_are_unique_across_writers_sharing_the_log() {
    let (_dir, log) = log_with(0);
    let path = log.path().to_owned();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let log = AuditLog::new(&path);
            std::thread::spawn(move || {
                (0..5)
                    .map(|_| {
                        log.append_incident_opened(crate::audit::event("incident-opened", &[]), "ASYNC", 2026)
                            .expect("append")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = handles.into_iter().flat_map(|h| h.join().expect("thread")).collect();
    ids.sort();
    let want: Vec<String> = (1..=40).map(|n| format!("ASYNC-2026-{n:03}")).collect();
    assert_eq!(ids, want, "40 openings, 40 different ids, none skipped");
    assert_eq!(AuditLog::new(&path).verify().expect("verify").first_bad, None);
}
