//! Diagnostics go to a file, never to the terminal (it belongs to the cockpit). Off unless
//! `NIGHTWATCH_LOG` is set to a filter (`info`, `nightwatch=debug`, …); the file is
//! `NIGHTWATCH_LOG_FILE`, else `$XDG_STATE_HOME/nightwatch/nightwatch.log`.

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

/// Where the log goes when enabled.
pub fn log_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NIGHTWATCH_LOG_FILE") {
        return Some(PathBuf::from(p));
    }
    state_dir().map(|d| d.join("nightwatch.log"))
}

/// `$XDG_STATE_HOME/nightwatch`, else `~/.local/state/nightwatch`.
pub fn state_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("nightwatch"))
}

/// Starts file logging if asked for. Returns whether it is on.
pub fn init() -> bool {
    let Ok(filter) = std::env::var("NIGHTWATCH_LOG") else { return false };
    let Some(path) = log_path() else { return false };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new().create(true).append(true).open(&path) else { return false };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .finish();
    tracing::subscriber::set_global_default(subscriber).is_ok()
}
