//! Test fixtures: a tiny HTTP server whose behaviour each test chooses, and helpers to start
//! real exporters from Debian's packages.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fixture server does with a request.
pub enum Reply {
    /// A response with a status, headers and a body.
    Http { status: u16, headers: Vec<(String, String)>, body: Vec<u8> },
    /// Accept the connection and never answer.
    Hang,
    /// Raw bytes, not HTTP at all.
    Raw(Vec<u8>),
}

impl Reply {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Http { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    pub fn text(body: impl Into<Vec<u8>>) -> Reply {
        Reply::ok("text/plain; version=0.0.4", body)
    }
}

/// What the fixture server saw of a request.
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Starts a server on a free loopback port; `handler` gets the request path.
pub async fn serve(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> SocketAddr {
    serve_requests(move |r: &Request| handler(&r.path)).await
}

/// Starts a server on a free loopback port; `handler` sees the path and the headers.
pub async fn serve_requests(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler: Handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let h = handler.clone();
            tokio::spawn(async move {
                let _ = handle(sock, h).await;
            });
        }
    });
    addr
}

/// Like [`serve_requests`], over TLS with the given PEM certificate chain and key.
pub async fn serve_tls(
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
    handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> SocketAddr {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    nightwatch::intake::http::install_crypto_provider();
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert_pem).expect("cert file").collect::<Result<_, _>>().expect("certs");
    let key = PrivateKeyDer::from_pem_file(key_pem).expect("key");
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handler: Handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (h, acceptor) = (handler.clone(), acceptor.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(sock).await {
                    let _ = handle(tls, h).await;
                }
            });
        }
    });
    addr
}

async fn handle<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut sock: S,
    h: Handler,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        // Not HTTP (a TLS handshake, say): answer at once.
        if head.len() > 64 << 10 || !head[0].is_ascii_uppercase() {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let headers = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    match h(&Request { path, headers }) {
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Reply::Raw(b) => sock.write_all(&b).await?,
        Reply::Http { status, headers, body } => {
            let mut out = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            sock.write_all(out.as_bytes()).await?;
            for chunk in body.chunks(64 << 10) {
                sock.write_all(chunk).await?;
            }
        }
    }
    let _ = sock.shutdown().await;
    Ok(())
}

/// A loopback port that refuses connections for as long as the guard lives: bound (so no other
/// test's server can be given it) but not listening.
pub fn refused_port() -> (tokio::net::TcpSocket, u16) {
    let s = tokio::net::TcpSocket::new_v4().expect("socket");
    s.bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let port = s.local_addr().expect("addr").port();
    (s, port)
}

/// A free loopback port for a child process to listen on.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The path of an external program the integration tests need, or `None` (with a note) when
/// it is missing. With `NIGHTWATCH_REQUIRE_EXTERNAL=1` (set by `.ci/run`) a missing program
/// fails the test instead.
pub fn external(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.is_file());
    if found.is_none() {
        let msg = format!("{program} not found: install Debian's {package} (bash .ci/run does)");
        if std::env::var_os("NIGHTWATCH_REQUIRE_EXTERNAL").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A child process killed when dropped.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something accepts connections on `addr`.
pub async fn wait_listening(addr: SocketAddr, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr} after {within:?}");
}

/// `nightwatch sim --listen` on a free loopback port with `args`, once it listens: the process
/// (killed when dropped) and its address.
pub async fn start_fleet(args: &[&str]) -> (Child, String) {
    let port = closed_port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_nightwatch"))
        .args(["sim", "--listen", &addr])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the fleet");
    let child = Child(child);
    wait_listening(([127, 0, 0, 1], port).into(), Duration::from_secs(10)).await;
    (child, addr)
}
