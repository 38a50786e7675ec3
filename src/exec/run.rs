//! Running one argv: its own process group, no stdin, a deadline, bounded output.
//!
//! The child leads a new process group, so a timeout or a cancel reaches everything it
//! started: SIGTERM to the group, then SIGKILL after a grace period. When the child exits on
//! its own, whatever it left running in its group is killed too (a step is its process; a
//! daemon it forked would otherwise outlive the record that says the step ended).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;

use crate::audit::{MAX_KEPT_TEXT, bounded_text, hex};
use crate::text::escape_control;

/// Between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signalled(i32),
    /// Killed at the deadline.
    TimedOut,
    /// Killed on request.
    Cancelled,
    /// Never started.
    SpawnFailed(String),
}

impl Status {
    pub fn describe(&self) -> String {
        match self {
            Status::Exited(0) => "exit 0".into(),
            Status::Exited(c) => format!("exit {c}"),
            Status::Signalled(s) => format!("killed by signal {s}"),
            Status::TimedOut => "timed out (process group killed)".into(),
            Status::Cancelled => "cancelled (process group killed)".into(),
            Status::SpawnFailed(e) => format!("did not start: {e}"),
        }
    }
}

/// Output kept within a bound: the first half of the cap and the last half; everything is
/// counted and hashed.
#[derive(Clone)]
pub struct Capture {
    cap: usize,
    head: Vec<u8>,
    tail: Vec<u8>,
    pub total: u64,
    /// Boxed: the hash state is large, and a finished capture only needs its digest.
    hasher: Box<ring::digest::Context>,
    /// SHA-256 of everything pushed, once `finish` has run.
    digest: String,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("total", &self.total)
            .field("kept", &self.kept_bytes())
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Capture {
    fn new(cap: usize) -> Capture {
        Capture {
            cap: cap.max(2),
            head: Vec::new(),
            tail: Vec::new(),
            total: 0,
            hasher: Box::new(ring::digest::Context::new(&ring::digest::SHA256)),
            digest: String::new(),
        }
    }

    fn push(&mut self, mut b: &[u8]) {
        self.total += b.len() as u64;
        self.hasher.update(b);
        let half = self.cap / 2;
        if self.head.len() < half {
            let n = (half - self.head.len()).min(b.len());
            self.head.extend_from_slice(&b[..n]);
            b = &b[n..];
        }
        if b.len() >= half {
            self.tail.clear();
            self.tail.extend_from_slice(&b[b.len() - half..]);
        } else {
            self.tail.extend_from_slice(b);
            if self.tail.len() > 2 * half {
                let cut = self.tail.len() - half;
                self.tail.drain(..cut);
            }
        }
    }

    fn kept_tail(&self) -> &[u8] {
        &self.tail[self.tail.len().saturating_sub(self.cap / 2)..]
    }

    /// How many bytes of output are kept (at most the cap).
    pub fn kept_bytes(&self) -> usize {
        self.head.len() + self.kept_tail().len()
    }

    pub fn truncated(&self) -> bool {
        self.total > (self.head.len() + self.kept_tail().len()) as u64
    }

    /// The kept output as text, control characters escaped (newlines and tabs kept), with a
    /// marker where bytes were left out.
    pub fn text(&self) -> String {
        let mut out = lossy_escaped(&self.head);
        if self.truncated() {
            let dropped = self.total - (self.head.len() + self.kept_tail().len()) as u64;
            out.push_str(&format!("\n… {dropped} bytes not kept …\n"));
        }
        out.push_str(&lossy_escaped(self.kept_tail()));
        out
    }

    /// Seals the digest: no more output comes.
    fn finish(&mut self) {
        let hasher = std::mem::replace(&mut *self.hasher, ring::digest::Context::new(&ring::digest::SHA256));
        self.digest = hex(hasher.finish().as_ref());
    }

    /// SHA-256 of the whole output (hex).
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

/// Output for a screen: lossy UTF-8, control characters escaped except newline and tab.
pub fn lossy_escaped(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .split_inclusive('\n')
        .map(|l| {
            let (body, nl) = l.strip_suffix('\n').map_or((l, ""), |b| (b, "\n"));
            let parts: Vec<String> = body.split('\t').map(|p| escape_control(p).into_owned()).collect();
            format!("{}{nl}", parts.join("\t"))
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub duration: Duration,
    pub output: Capture,
}

impl Outcome {
    /// The outcome's fields in a `step-finished` record.
    pub fn record_into(&self, m: &mut Map<String, Value>) {
        let (exit, signal) = match &self.status {
            Status::Exited(c) => (Value::from(*c), Value::Null),
            Status::Signalled(s) => (Value::Null, Value::from(*s)),
            _ => (Value::Null, Value::Null),
        };
        m.insert("status".into(), self.status.describe().into());
        m.insert("exit".into(), exit);
        m.insert("signal".into(), signal);
        m.insert("timed_out".into(), (self.status == Status::TimedOut).into());
        m.insert("cancelled".into(), (self.status == Status::Cancelled).into());
        m.insert("duration_ms".into(), u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX).into());
        m.insert("output_bytes".into(), self.output.total.into());
        m.insert("output_truncated".into(), self.output.truncated().into());
        m.insert("output_sha256".into(), self.output.digest().into());
        let tail = self.output.kept_tail();
        let tail = &tail[tail.len().saturating_sub(MAX_KEPT_TEXT)..];
        m.insert("output_tail".into(), bounded_text(tail).into());
    }
}

/// Reads from a pipe that may be closed already (the caller's `if` keeps a closed one from
/// being polled; pending keeps it harmless if it were).
async fn read_some<R: tokio::io::AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut [u8]) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

fn kill_group(pgid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        // ESRCH (the group is already gone) is the outcome we want anyway.
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// Runs `argv` (no shell) with no stdin, in its own process group, until it ends, `timeout`
/// passes or `cancel` resolves. `on_output` is called with escaped text while the output is
/// within the capture's head; the rest is kept as the tail and counted.
pub async fn run(
    argv: &[String],
    timeout: Duration,
    cap: usize,
    on_output: &mut (dyn FnMut(&str) + Send),
    cancel: impl std::future::Future<Output = ()>,
) -> Outcome {
    let started = Instant::now();
    let mut capture = Capture::new(cap);
    let Some((program, args)) = argv.split_first() else {
        capture.finish();
        return Outcome {
            status: Status::SpawnFailed("empty argv".into()),
            duration: started.elapsed(),
            output: capture,
        };
    };
    let spawned = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            capture.finish();
            return Outcome {
                status: Status::SpawnFailed(format!("{}: {e}", escape_control(program))),
                duration: started.elapsed(),
                output: capture,
            };
        }
    };
    let pgid = child.id().unwrap_or(0);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf_out = vec![0u8; 64 << 10];
    let mut buf_err = vec![0u8; 64 << 10];
    let mut exit: Option<Result<std::process::ExitStatus, String>> = None;
    let mut killed: Option<Status> = None;
    let mut exited_at: Option<tokio::time::Instant> = None;
    tokio::pin!(cancel);
    let mut feed = |capture: &mut Capture, b: &[u8]| {
        let head_room = (capture.cap / 2).saturating_sub(capture.head.len());
        if head_room > 0 {
            on_output(&lossy_escaped(&b[..head_room.min(b.len())]));
        }
        capture.push(b);
    };
    loop {
        if stdout.is_none() && stderr.is_none() && exit.is_some() {
            break;
        }
        // After the child exits, leftovers in its group get a moment to finish writing.
        let linger = exited_at.map(|t| t + Duration::from_millis(500));
        tokio::select! {
            r = read_some(&mut stdout, &mut buf_out), if stdout.is_some() => {
                match r {
                    Ok(n) if n > 0 => feed(&mut capture, &buf_out[..n]),
                    _ => stdout = None,
                }
            }
            r = read_some(&mut stderr, &mut buf_err), if stderr.is_some() => {
                match r {
                    Ok(n) if n > 0 => feed(&mut capture, &buf_err[..n]),
                    _ => stderr = None,
                }
            }
            s = child.wait(), if exit.is_none() => {
                exit = Some(s.map_err(|e| e.to_string()));
                exited_at = Some(tokio::time::Instant::now());
            }
            _ = tokio::time::sleep_until(linger.unwrap_or(deadline)), if linger.is_some() => {
                // Whatever still holds the pipes belongs to the step's group: end it.
                kill_group(pgid, rustix::process::Signal::KILL);
                break;
            }
            _ = tokio::time::sleep_until(deadline), if killed.is_none() && exit.is_none() => {
                killed = Some(Status::TimedOut);
                break;
            }
            _ = &mut cancel, if killed.is_none() && exit.is_none() => {
                killed = Some(Status::Cancelled);
                break;
            }
        }
    }
    if killed.is_some() {
        kill_group(pgid, rustix::process::Signal::TERM);
        let grace = tokio::time::timeout(GRACE, child.wait()).await;
        if grace.is_err() {
            kill_group(pgid, rustix::process::Signal::KILL);
            let _ = child.wait().await;
        } else {
            // The leader is gone; anything of its group that ignored SIGTERM is not.
            kill_group(pgid, rustix::process::Signal::KILL);
        }
    }
    capture.finish();
    let status = match (killed, exit) {
        (Some(k), _) => k,
        (None, Some(Err(e))) => Status::SpawnFailed(format!("lost track of the process: {e}")),
        (None, Some(Ok(s))) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => Status::Exited(c),
                (None, Some(sig)) => Status::Signalled(sig),
                (None, None) => Status::Exited(-1),
            }
        }
        (None, None) => Status::Exited(-1),
    };
    Outcome { status, duration: started.elapsed(), output: capture }
}
