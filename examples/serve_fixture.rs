//! Serves benchmark fixtures on loopback (used by benches/*.sh):
//!
//!   serve_fixture --port P --series 100000     the generated payload at /metrics
//!   serve_fixture --port P --targets 1000 --hang 100
//!                                               /t/0 … /t/999, small bodies; the last 100 never answer
//!
//! A minimal HTTP/1.1 server with keep-alive, so that neither peer pays for reconnecting.

#[path = "../benches/payload.rs"]
mod payload;

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Fixture {
    payload: Vec<u8>,
    targets: usize,
    hang: usize,
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = arg("--port").unwrap_or(9500);
    let series = arg("--series").unwrap_or(0);
    let fixture = Arc::new(Fixture {
        payload: if series > 0 { payload::generate(series).into_bytes() } else { Vec::new() },
        targets: arg("--targets").unwrap_or(0),
        hang: arg("--hang").unwrap_or(0),
    });
    let listener = TcpListener::bind(("127.0.0.1", port as u16)).await?;
    eprintln!("serving on 127.0.0.1:{port} ({} bytes of payload, {} targets)", fixture.payload.len(), fixture.targets);
    loop {
        let (sock, _) = listener.accept().await?;
        let f = fixture.clone();
        tokio::spawn(async move {
            let _ = serve(sock, f).await;
        });
    }
}

async fn serve(mut sock: TcpStream, f: Arc<Fixture>) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        // One request head at a time (keep-alive); bodies are never sent to us.
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let body: Vec<u8> = if let Some(k) = path.strip_prefix("/t/").and_then(|k| k.parse::<usize>().ok()) {
            if k >= f.targets.saturating_sub(f.hang) {
                // Never answer; hold the connection until the client gives up.
                let _ = sock.read(&mut chunk).await;
                return Ok(());
            }
            format!(
                "# TYPE probe_up gauge\nprobe_up{{target=\"{k}\"}} 1\nprobe_requests_total{{target=\"{k}\"}} {}\n",
                k * 7
            )
            .into_bytes()
        } else {
            f.payload.clone()
        };
        let header = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        sock.write_all(header.as_bytes()).await?;
        sock.write_all(&body).await?;
    }
}
