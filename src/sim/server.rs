//! The fleet over HTTP: `GET /metrics` (Prometheus text, or OpenMetrics when the scraper's
//! Accept header asks), and the control endpoint the chaos menu and the remedies talk to.
//!
//! A ticker task advances the model in step with the wall clock times the speed; a scrape only
//! reads the body rendered for the current tick (rendered once per tick and format, then
//! shared), so scrapes are cheap and never wait on the model for long.
//!
//! Control (`/control/…`) answers loopback peers only, unless the server was started with
//! `allow_remote_control`: whoever can reach it can break the fleet.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::faults::{Injection, Remedy};
use super::model::{FaultInfo, Fleet, TICK_MS};
use super::render::render;
use crate::intake::exposition::Format;

/// The largest control request body accepted.
const CONTROL_BODY_LIMIT: usize = 64 * 1024;
/// The fastest a fleet may run: an hour of dynamics in a second.
pub const MAX_SPEED: f64 = 3600.0;

const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const OM_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What `GET /control/status` answers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub nodes: usize,
    pub seed: u64,
    pub speed: f64,
    /// Simulated milliseconds since the fleet started.
    pub now_ms: i64,
    pub faults: Vec<FaultInfo>,
}

/// The body of `POST /control/heal`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HealRequest {
    pub id: Option<u32>,
    #[serde(default)]
    pub all: bool,
}

/// The answer to `POST /control/remedy`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RemedyDone {
    pub message: String,
}

/// Every control error: `{"error": "…"}` with a 4xx status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ControlError {
    pub error: String,
}

struct Rendered {
    tick: u64,
    text: Option<Bytes>,
    openmetrics: Option<Bytes>,
}

struct Shared {
    fleet: Fleet,
    speed: f64,
    started: Instant,
    rendered: Rendered,
    /// The fleet's time is moved by its owner (a headless drill), not by the wall clock.
    manual: bool,
}

impl Shared {
    /// Brings the model up to the wall clock.
    fn catch_up(&mut self) {
        if self.manual {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64() * 1000.0 * self.speed;
        // Whole ticks only; the model's state between two ticks is the earlier one.
        let target = (elapsed / TICK_MS as f64).floor() as i64 * TICK_MS;
        self.fleet.advance_to(target);
    }

    fn body(&mut self, format: Format) -> Bytes {
        if self.rendered.tick != self.fleet.tick() {
            self.rendered = Rendered { tick: self.fleet.tick(), text: None, openmetrics: None };
        }
        let slot = match format {
            Format::OpenMetrics => &mut self.rendered.openmetrics,
            Format::Text => &mut self.rendered.text,
        };
        if let Some(b) = slot {
            return b.clone();
        }
        let b = Bytes::from(render(&self.fleet, format));
        *slot = Some(b.clone());
        b
    }

    fn status(&self) -> Status {
        Status {
            nodes: self.fleet.nodes.len(),
            seed: self.fleet.seed(),
            speed: self.speed,
            now_ms: self.fleet.now_ms(),
            faults: self.fleet.faults(),
        }
    }
}

/// A fleet being served. Dropping it stops the server.
pub struct SimServer {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for SimServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SimServer {
    /// The fleet's URL for a scraper: `http://ADDR/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.addr)
    }

    pub fn status(&self) -> Status {
        lock(&self.shared).status()
    }

    /// Works on the fleet under the server's lock: how the owner of a manual clock advances
    /// and reads it.
    pub fn with_fleet<R>(&self, f: impl FnOnce(&mut Fleet) -> R) -> R {
        f(&mut lock(&self.shared).fleet)
    }

    /// Waits until the server task ends (it does not, unless it fails).
    pub async fn wait(mut self) {
        if let Some(t) = self.tasks.pop() {
            let _ = t.await;
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while the lock was held cannot leave the model half-stepped in a way that matters
    // more than stopping would: carry on with it.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether binding `addr` needs `--allow-remote-control`.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serves `fleet` on `listener` at `speed` simulated seconds per second.
pub fn serve(listener: TcpListener, mut fleet: Fleet, speed: f64, allow_remote_control: bool) -> SimServer {
    fleet.counter_divisor = speed;
    start(listener, fleet, speed, allow_remote_control, false)
}

/// Serves `fleet` (loopback control only) without a clock of its own: its time moves only when
/// the owner advances it through [`SimServer::with_fleet`]. A headless drill runs the fleet this
/// way so that the steps it runs (real processes calling the control endpoint) meet the fleet
/// at an exact simulated instant.
pub fn serve_manual(listener: TcpListener, fleet: Fleet) -> SimServer {
    start(listener, fleet, 1.0, false, true)
}

fn start(listener: TcpListener, fleet: Fleet, speed: f64, allow_remote_control: bool, manual: bool) -> SimServer {
    let addr = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let shared = Arc::new(Mutex::new(Shared {
        rendered: Rendered { tick: u64::MAX, text: None, openmetrics: None },
        fleet,
        speed,
        started: Instant::now(),
        manual,
    }));
    // Tick often enough that no simulated second is skipped, but no faster than every 5 ms.
    let period = Duration::from_secs_f64((1.0 / speed).clamp(0.005, 1.0));
    let ticker = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                lock(&shared).catch_up();
            }
        })
    };
    let server = {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        tracing::warn!("sim: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let control_ok = allow_remote_control || peer.ip().is_loopback();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), control_ok, req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        })
    };
    SimServer { addr, shared, tasks: vec![ticker, server] }
}

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    respond(status, "application/json", body)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(status, &ControlError { error: message.into() })
}

fn wants_openmetrics(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Response<Full<Bytes>>> {
    let body = Limited::new(req.into_body(), CONTROL_BODY_LIMIT)
        .collect()
        .await
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("cannot read the request: {e}")))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")))
}

async fn handle(
    shared: Arc<Mutex<Shared>>,
    control_ok: bool,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path.starts_with("/control/") && !control_ok {
        return Ok(error(
            StatusCode::FORBIDDEN,
            "the control endpoint answers loopback clients only (start the fleet with --allow-remote-control)",
        ));
    }
    let r = match (method, path.as_str()) {
        (Method::GET | Method::HEAD, "/metrics") => {
            let format = if wants_openmetrics(&req) { Format::OpenMetrics } else { Format::Text };
            let body = {
                let mut s = lock(&shared);
                s.catch_up();
                s.body(format)
            };
            respond(StatusCode::OK, if format == Format::OpenMetrics { OM_TYPE } else { TEXT_TYPE }, body)
        }
        (Method::GET, "/") => respond(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "nightwatch simulated fleet\n\nGET  /metrics\nGET  /control/status\nPOST /control/inject\n\
             POST /control/heal\nPOST /control/remedy\n",
        ),
        (Method::GET, "/control/status" | "/control/faults") => {
            let mut s = lock(&shared);
            s.catch_up();
            json(StatusCode::OK, &s.status())
        }
        (Method::POST, "/control/inject") => match read_json::<Injection>(req).await {
            Err(r) => r,
            Ok(i) => {
                let mut s = lock(&shared);
                s.catch_up();
                match s.fleet.inject(&i) {
                    Ok(info) => json(StatusCode::OK, &info),
                    Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
                }
            }
        },
        (Method::POST, "/control/heal") => match read_json::<HealRequest>(req).await {
            Err(r) => r,
            Ok(h) => {
                let mut s = lock(&shared);
                s.catch_up();
                match (h.id, h.all) {
                    (None, true) => json(StatusCode::OK, &s.fleet.heal_all()),
                    (Some(id), false) => match s.fleet.heal(id) {
                        Ok(info) => json(StatusCode::OK, &vec![info]),
                        Err(e) => error(StatusCode::NOT_FOUND, e),
                    },
                    _ => error(StatusCode::BAD_REQUEST, "give either an id or all, not both"),
                }
            }
        },
        (Method::POST, "/control/remedy") => match read_json::<Remedy>(req).await {
            Err(r) => r,
            Ok(remedy) => {
                let mut s = lock(&shared);
                s.catch_up();
                match s.fleet.remedy(&remedy) {
                    Ok(message) => json(StatusCode::OK, &RemedyDone { message }),
                    Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
                }
            }
        },
        (
            _,
            "/metrics" | "/" | "/control/status" | "/control/faults" | "/control/inject" | "/control/heal"
            | "/control/remedy",
        ) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => error(StatusCode::NOT_FOUND, format!("no such path {path:?}")),
    };
    Ok(r)
}
