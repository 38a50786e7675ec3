//! The HTTP client both sources use, and how its failures are named.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::{Auth, Secret, Tls};

/// Installs the process-wide TLS crypto provider (ring) once.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is installed already, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A failed name lookup, tagged so that it can be told apart from other connect errors.
#[derive(Debug)]
pub struct DnsError {
    pub host: String,
    pub source: std::io::Error,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot resolve {}: {}", self.host, self.source)
    }
}

impl StdError for DnsError {}

/// The system resolver (getaddrinfo via tokio), with its failures tagged as [`DnsError`].
struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let looked_up: std::io::Result<Vec<SocketAddr>> =
                tokio::net::lookup_host((host.as_str(), 0)).await.map(|a| a.collect());
            match looked_up {
                Ok(v) => {
                    if v.is_empty() {
                        let source = std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses");
                        return Err(Box::new(DnsError { host, source }) as Box<dyn StdError + Send + Sync>);
                    }
                    Ok(Box::new(v.into_iter()) as Addrs)
                }
                Err(source) => Err(Box::new(DnsError { host, source }) as Box<dyn StdError + Send + Sync>),
            }
        })
    }
}

/// Builds a client for a source. `timeout` bounds connecting (the whole request is bounded by
/// the caller).
pub fn client(tls: &Tls, timeout: Duration) -> Result<reqwest::Client, String> {
    install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("nightwatch/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(SystemResolver))
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .gzip(true);
    if let Some(path) = &tls.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("CA file {} holds no usable certificate: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("CA file {} holds no certificate", path.display()));
        }
        b = b.tls_certs_merge(certs);
    }
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))
}

/// Reads a secret now (so that a rotated token file is picked up on the next request).
pub fn read_secret(s: &Secret) -> Result<String, String> {
    match s {
        Secret::File(p) => std::fs::read_to_string(p)
            .map(|v| v.trim().to_owned())
            .map_err(|e| format!("cannot read secret file {}: {e}", p.display())),
        Secret::Env(name) => std::env::var(name)
            .map(|v| v.trim().to_owned())
            .map_err(|_| format!("environment variable {name} is not set")),
    }
}

/// Adds the source's credentials to a request.
pub fn authorize(req: reqwest::RequestBuilder, auth: &Auth) -> Result<reqwest::RequestBuilder, String> {
    let mut req = req;
    if let Some(b) = &auth.bearer {
        req = req.bearer_auth(read_secret(b)?);
    }
    if let Some((user, pass)) = &auth.basic {
        req = req.basic_auth(user, Some(read_secret(pass)?));
    }
    Ok(req)
}

/// Why a request failed, as an on-call engineer needs to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    ConnectionRefused,
    Dns(String),
    Timeout,
    Tls(String),
    Connect(String),
    Status(u16),
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ConnectionRefused => f.write_str("connection refused"),
            Failure::Dns(m) => write!(f, "DNS: {m}"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Tls(m) => write!(f, "TLS: {m}"),
            Failure::Connect(m) => write!(f, "connect: {m}"),
            Failure::Status(s) => write!(f, "HTTP {s}"),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

/// Names a reqwest error by looking through its causes.
pub fn classify(e: &reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Timeout;
    }
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(f) = inspect(c) {
            return f;
        }
        cause = c.source();
    }
    if e.is_connect() {
        return Failure::Connect(chain(e));
    }
    Failure::Other(chain(e))
}

/// One cause. An `io::Error` hides the error it wraps from `source()`, and the TLS stack wraps
/// io errors in io errors, so wrapped errors are searched too.
fn inspect(c: &(dyn StdError + 'static)) -> Option<Failure> {
    if let Some(d) = c.downcast_ref::<DnsError>() {
        return Some(Failure::Dns(d.to_string()));
    }
    if let Some(t) = c.downcast_ref::<rustls::Error>() {
        return Some(Failure::Tls(t.to_string()));
    }
    let io = c.downcast_ref::<std::io::Error>()?;
    if let Some(inner) = io.get_ref()
        && let Some(f) = inspect(inner)
    {
        return Some(f);
    }
    match io.kind() {
        std::io::ErrorKind::ConnectionRefused => Some(Failure::ConnectionRefused),
        std::io::ErrorKind::TimedOut => Some(Failure::Timeout),
        _ => None,
    }
}

/// An error and its causes on one line.
pub fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cause = c.source();
    }
    s
}
