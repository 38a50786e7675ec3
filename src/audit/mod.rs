//! The audit log: append-only JSONL, each record chained to the one before by a hash.
//!
//! A record is one JSON object on one line. Its fields are the event's, plus `seq` (1, 2, …),
//! `ts` (UTC, milliseconds), `who` (see `who`), `prev` (the previous record's `hash`; 64 zeros
//! for the first) and, last on the line, `hash`: the SHA-256 of the line as it reads without
//! its `,"hash":"…"` suffix. So a changed byte breaks that record's own hash, a deleted or moved
//! line breaks the next record's `prev`, and `verify` names the first record that is wrong.
//!
//! Appending takes an exclusive lock on the file (several nightwatch processes may share one
//! log), reads the last record, writes the new line in one `write` and syncs it to disk before
//! returning: a step's `step-started` record is durable before the step is spawned. A line cut
//! short by a crash (no newline at the end) is moved into a `repair` record by the next append,
//! so nothing is lost and the chain stays whole. A `step-started` with no outcome whose process
//! is gone gets a `step-outcome-unknown` record at the next step start.

pub mod who;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use who::Who;

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Kept in a `repair` record from a torn line, and in a record's output tail.
pub const MAX_KEPT_TEXT: usize = 4096;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An event of `kind` with some fields: what `append` takes.
pub fn event(kind: &str, fields: &[(&str, Value)]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("kind".into(), kind.into());
    for (k, v) in fields {
        m.insert((*k).to_owned(), v.clone());
    }
    m
}

/// The audit log at a path (created with its directory on the first append).
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
    /// Fields set on every record written through this handle (a drill's id), unless the
    /// record sets them itself.
    stamp: Vec<(String, String)>,
}

/// A record as read back.
#[derive(Clone, Debug)]
pub struct Record {
    pub line: usize,
    pub fields: Map<String, Value>,
}

impl Record {
    pub fn kind(&self) -> &str {
        self.fields.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.fields.get(k).and_then(Value::as_str)
    }

    pub fn seq(&self) -> u64 {
        self.fields.get("seq").and_then(Value::as_u64).unwrap_or(0)
    }

    /// When it was written (`ts`), in milliseconds since the epoch.
    pub fn ts_ms(&self) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(self.str("ts")?).ok().map(|t| t.timestamp_millis())
    }
}

/// Who wrote a record: the user name from its `who`, and where `sudo` came from (claimed).
pub fn user_of(fields: &Map<String, Value>) -> String {
    let who = fields.get("who");
    let user = who.and_then(|w| w.get("user")).and_then(Value::as_str).unwrap_or("?");
    match who.and_then(|w| w.get("sudo_user_claimed")).and_then(Value::as_str) {
        Some(s) => format!("{user} (sudo from {s}, claimed)"),
        None => user.to_owned(),
    }
}

/// A step record's argv.
pub fn argv_of(fields: &Map<String, Value>) -> Vec<String> {
    fields
        .get("argv")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    pub records: usize,
    /// The first bad record: its line and what is wrong. None when the chain holds.
    pub first_bad: Option<(usize, String)>,
    /// A torn last line (bytes), tolerated: the next append repairs it.
    pub torn_tail: Option<usize>,
}

/// How a record's line splits into the hashed part and its hash.
fn split_hash(line: &str) -> Option<(&str, &str)> {
    let at = line.rfind(",\"hash\":\"")?;
    let rest = &line[at + 9..];
    let hash = rest.strip_suffix("\"}")?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some((&line[..at], hash))
}

/// The hash a line should carry: over the line without its hash field, closed with `}`.
fn line_hash(body: &str) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(body.as_bytes());
    ctx.update(b"}");
    hex(ctx.finish().as_ref())
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into(), stamp: Vec::new() }
    }

    /// This log, with `key = value` on every record written through the returned handle.
    pub fn stamped(mut self, key: &str, value: &str) -> AuditLog {
        self.stamp.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record with the event's fields (`kind` and the rest) and returns its `seq`.
    /// The record is on disk (synced) when this returns; an error means it may not be.
    pub fn append(&self, event: Map<String, Value>) -> io::Result<u64> {
        self.append_all(vec![event])
    }

    /// Appends several records under one lock and one sync (alert transitions come in
    /// bursts); returns the last `seq`.
    pub fn append_all(&self, events: Vec<Map<String, Value>>) -> io::Result<u64> {
        let mut file = self.open_locked()?;
        let mut seq = 0;
        for e in events {
            seq = self.append_locked(&mut file, e)?;
        }
        file.sync_data()?;
        // The lock is released when the file is closed.
        Ok(seq)
    }

    /// Appends a `step-started` record, first closing (as `step-outcome-unknown`) every
    /// earlier start on this host whose process is gone without an outcome.
    pub fn append_start(&self, event: Map<String, Value>) -> io::Result<u64> {
        let mut file = self.open_locked()?;
        let text = read_all(&mut file)?;
        for (run, why) in orphans(&text, &Who::me().host) {
            let mut m = Map::new();
            m.insert("kind".into(), "step-outcome-unknown".into());
            m.insert("run".into(), run.into());
            m.insert("reason".into(), why.into());
            self.append_locked(&mut file, m)?;
        }
        let seq = self.append_locked(&mut file, event)?;
        file.sync_data()?;
        Ok(seq)
    }

    /// Appends an `incident-opened` record with the next free id for `prefix` in `year`
    /// (`ASYNC-2026-007`), chosen under the log's lock: processes sharing the log never give
    /// out the same id. Returns the id.
    pub fn append_incident_opened(&self, mut event: Map<String, Value>, prefix: &str, year: i32) -> io::Result<String> {
        let mut file = self.open_locked()?;
        let text = read_all(&mut file)?;
        let id = crate::incident::next_id(&text, prefix, year);
        event.insert("incident".into(), id.clone().into());
        self.append_locked(&mut file, event)?;
        file.sync_data()?;
        Ok(id)
    }

    fn open_locked(&self) -> io::Result<File> {
        let created = !self.path.exists();
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().read(true).append(true).create(true).open(&self.path)?;
        file.lock()?;
        if created && let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The new file's directory entry must survive a crash too.
            File::open(dir)?.sync_all()?;
        }
        Ok(file)
    }

    fn append_locked(&self, file: &mut File, mut event: Map<String, Value>) -> io::Result<u64> {
        for (k, v) in &self.stamp {
            event.entry(k.clone()).or_insert_with(|| v.clone().into());
        }
        let (last, torn) = read_tail(file)?;
        let (mut prev, mut seq) = match &last {
            Some(l) => chain_point(l),
            None => (GENESIS.to_owned(), 0),
        };
        if let Some(torn) = torn {
            // Cut the torn bytes off and keep them in a repair record.
            let len = file.metadata()?.len();
            file.set_len(len - torn.len() as u64)?;
            let mut m = Map::new();
            m.insert("kind".into(), "repair".into());
            m.insert("torn_bytes".into(), torn.len().into());
            m.insert("torn_text".into(), bounded_text(&torn).into());
            let line = render(m, seq + 1, &prev);
            file.write_all(line.0.as_bytes())?;
            prev = line.1;
            seq += 1;
        }
        let (line, _) = render(event, seq + 1, &prev);
        file.write_all(line.as_bytes())?;
        Ok(seq + 1)
    }

    /// Every record that parses, in order (a torn last line is left out).
    pub fn read(&self) -> io::Result<Vec<Record>> {
        let text = match std::fs::read(&self.path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .split_inclusive('\n')
            .enumerate()
            .filter(|(_, l)| l.ends_with('\n'))
            .filter_map(|(i, l)| {
                let fields: Map<String, Value> = serde_json::from_str(l.trim_end()).ok()?;
                Some(Record { line: i + 1, fields })
            })
            .collect())
    }

    /// Checks the whole chain.
    pub fn verify(&self) -> io::Result<Verification> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Verification { records: 0, first_bad: None, torn_tail: None });
            }
            Err(e) => return Err(e),
        };
        Ok(verify_bytes(&bytes))
    }
}

pub fn verify_bytes(bytes: &[u8]) -> Verification {
    let mut records = 0;
    let mut prev = GENESIS.to_owned();
    let mut seq = 0u64;
    let mut torn_tail = None;
    let lines = bytes.split_inclusive(|&b| b == b'\n');
    let mut n = 0;
    for raw in lines {
        n += 1;
        if !raw.ends_with(b"\n") {
            torn_tail = Some(raw.len());
            break;
        }
        let bad = |m: String| Verification { records, first_bad: Some((n, m)), torn_tail: None };
        let Ok(line) = std::str::from_utf8(&raw[..raw.len() - 1]) else {
            return bad(format!("line {n} is not UTF-8: the record was altered"));
        };
        let Some((body, hash)) = split_hash(line) else {
            return bad(format!("line {n} is not a record (no hash at its end): it was altered"));
        };
        if line_hash(body) != hash {
            return bad(format!("record at line {n} was altered: its content does not match its hash"));
        }
        let Ok(fields) = serde_json::from_str::<Map<String, Value>>(line) else {
            return bad(format!("line {n} is not a JSON object"));
        };
        let this_seq = fields.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let this_prev = fields.get("prev").and_then(Value::as_str).unwrap_or("");
        if this_prev != prev || this_seq != seq + 1 {
            let what = if this_seq > seq + 1 {
                format!("records {} to {} are missing", seq + 1, this_seq - 1)
            } else if this_seq <= seq {
                format!("seq {this_seq} comes after seq {seq}: lines were moved or repeated")
            } else {
                "it does not chain to the record before it".to_owned()
            };
            return bad(format!("record at line {n} (seq {this_seq}): {what}"));
        }
        prev = hash.to_owned();
        seq = this_seq;
        records += 1;
    }
    Verification { records, first_bad: None, torn_tail }
}

/// The whole log, read under its lock; a log that is not UTF-8 (damaged) reads lossily.
fn read_all(file: &mut File) -> io::Result<String> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// The last complete line and a torn tail (bytes after the last newline), reading backwards
/// only as far as needed.
fn read_tail(file: &mut File) -> io::Result<(Option<String>, Option<Vec<u8>>)> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((None, None));
    }
    let mut window: u64 = 64 << 10;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::take(&mut *file, len - start).read_to_end(&mut buf)?;
        let last_nl = buf.iter().rposition(|&b| b == b'\n');
        let torn = match last_nl {
            Some(i) if i + 1 < buf.len() => Some(buf[i + 1..].to_vec()),
            None if start == 0 => Some(buf.clone()),
            _ => None,
        };
        let complete_end = last_nl.map(|i| i + 1);
        match complete_end {
            None if start == 0 => return Ok((None, torn)),
            None => {}
            Some(end) => {
                let body = &buf[..end - 1];
                if let Some(i) = body.iter().rposition(|&b| b == b'\n') {
                    return Ok((Some(String::from_utf8_lossy(&body[i + 1..]).into_owned()), torn));
                }
                if start == 0 {
                    return Ok((Some(String::from_utf8_lossy(body).into_owned()), torn));
                }
            }
        }
        window = window.saturating_mul(4);
    }
}

/// Where the next record chains: the last record's hash and seq. A damaged last line still
/// chains (to the hash of its bytes) so appending never stops; `verify` reports the damage.
fn chain_point(last: &str) -> (String, u64) {
    let seq = serde_json::from_str::<Map<String, Value>>(last)
        .ok()
        .and_then(|m| m.get("seq").and_then(Value::as_u64))
        .unwrap_or(0);
    match split_hash(last) {
        Some((_, h)) => (h.to_owned(), seq),
        None => (sha256_hex(last.as_bytes()), seq),
    }
}

/// The record's line (with its newline) and its hash.
fn render(mut event: Map<String, Value>, seq: u64, prev: &str) -> (String, String) {
    event.remove("hash");
    event.insert("seq".into(), seq.into());
    event.insert("prev".into(), prev.into());
    event.insert("ts".into(), chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().into());
    // `who` is serialisable by construction; a failure would leave it out, never the record.
    event.insert("who".into(), serde_json::to_value(Who::me()).unwrap_or(Value::Null));
    let body = Value::Object(event).to_string();
    let body = body.strip_suffix('}').unwrap_or(&body);
    let hash = line_hash(body);
    (format!("{body},\"hash\":\"{hash}\"}}\n"), hash)
}

/// Text from outside, for a record: lossy UTF-8, control characters escaped, bounded.
pub fn bounded_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_KEPT_TEXT)]);
    crate::text::escape_control(&text).into_owned()
}

/// Starts on `host` with no outcome whose process is gone: (run id, why).
fn orphans(text: &str, host: &str) -> Vec<(String, String)> {
    let mut open: Vec<(String, u32, Option<u64>)> = Vec::new();
    for l in text.lines() {
        let Ok(m) = serde_json::from_str::<Map<String, Value>>(l) else { continue };
        let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
        let Some(run) = m.get("run").and_then(Value::as_str) else { continue };
        match kind {
            "step-started" => {
                let who = m.get("who");
                let on_host = who.and_then(|w| w.get("host")).and_then(Value::as_str) == Some(host);
                let pid = who.and_then(|w| w.get("pid")).and_then(Value::as_u64).and_then(|p| u32::try_from(p).ok());
                let start = who.and_then(|w| w.get("pid_start")).and_then(Value::as_u64);
                if let (true, Some(pid)) = (on_host, pid) {
                    open.push((run.to_owned(), pid, start));
                }
            }
            "step-finished" | "step-outcome-unknown" => open.retain(|(r, _, _)| r != run),
            _ => {}
        }
    }
    open.into_iter()
        .filter(|(_, pid, start)| !who::still_running(*pid, *start))
        .map(|(run, pid, _)| (run, format!("process {pid} ended without recording an outcome (crash or lost session)")))
        .collect()
}

#[cfg(test)]
mod tests;
