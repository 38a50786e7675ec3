//! Who is acting: what the audit log records about the person and the session behind a record.
//!
//! The uid and the login uid (the kernel's `loginuid`, which `sudo` and `su` do not change) are
//! facts; `SUDO_USER` and `SSH_CONNECTION` come from the environment, which the user controls,
//! so they are recorded as claims.

use std::sync::OnceLock;

use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Who {
    pub uid: u32,
    /// The uid the session logged in as; absent when the kernel does not track it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_uid: Option<u32>,
    /// The name of `uid` in /etc/passwd (else `$USER`, marked as such).
    pub user: String,
    /// `SUDO_USER`: claimed by the environment, not verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sudo_user_claimed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    pub host: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot: with the pid, it tells a live
    /// process from a later one that reuses the pid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
}

impl Who {
    /// This process, computed once.
    pub fn me() -> &'static Who {
        static ME: OnceLock<Who> = OnceLock::new();
        ME.get_or_init(Who::compute)
    }

    fn compute() -> Who {
        let uid = rustix::process::getuid().as_raw();
        let login_uid = std::fs::read_to_string("/proc/self/loginuid")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .filter(|&u| u != u32::MAX);
        let user = passwd_name(uid).unwrap_or_else(|| {
            let env = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
            format!("uid {uid} (USER={env:?})")
        });
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let tty = [rustix::stdio::stdin(), rustix::stdio::stdout(), rustix::stdio::stderr()]
            .into_iter()
            .find_map(|fd| rustix::termios::ttyname(fd, Vec::new()).ok())
            .map(|c| c.to_string_lossy().into_owned());
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        let pid = std::process::id();
        Who {
            uid,
            login_uid,
            user,
            sudo_user_claimed: env("SUDO_USER"),
            ssh_connection: env("SSH_CONNECTION"),
            tty,
            host,
            pid,
            pid_start: process_start(pid),
        }
    }

    /// A short form for messages: `alice (pid 4242 on bastion)`.
    pub fn short(&self) -> String {
        format!("{} (pid {} on {})", self.user, self.pid, self.host)
    }
}

fn passwd_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces; count after its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a record on this host is still running.
pub fn still_running(pid: u32, pid_start: Option<u64>) -> bool {
    match (process_start(pid), pid_start) {
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described() {
        let me = Who::me();
        assert_eq!(me.pid, std::process::id());
        assert!(!me.user.is_empty() && !me.host.is_empty());
        assert!(me.pid_start.is_some());
        assert!(still_running(me.pid, me.pid_start));
        assert!(!still_running(me.pid, me.pid_start.map(|s| s + 1)), "a reused pid is not the same process");
    }
}
