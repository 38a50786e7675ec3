//! Talking to a running fleet's control endpoint: what `nightwatch chaos` and `nightwatch sim
//! ctl` (and, later, runbook steps and drills) use.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::faults::{Injection, Remedy};
use super::model::FaultInfo;
use super::server::{ControlError, HealRequest, RemedyDone, Status};

/// The address `nightwatch sim` listens on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

const TIMEOUT: Duration = Duration::from_secs(5);

pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the fleet at `addr` (`host:port`, or a URL).
    pub fn new(addr: &str) -> Result<Client, String> {
        let addr = addr.trim().trim_end_matches('/');
        let base = if addr.starts_with("http://") || addr.starts_with("https://") {
            addr.to_owned()
        } else {
            format!("http://{addr}")
        };
        let http = crate::intake::http::client(&crate::config::Tls::default(), TIMEOUT)?;
        Ok(Client { base, http })
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, String> {
        // The whole request is bounded (the shared client bounds only connecting).
        let r = req.timeout(TIMEOUT).send().await.map_err(|e| {
            let mut msg = format!("cannot reach the simulated fleet at {}: {e}", self.base);
            if e.is_connect() {
                msg.push_str(" (is `nightwatch sim` running? pass its address with --sim)");
            }
            msg
        })?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| format!("reading the fleet's answer: {e}"))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ControlError>(&body) {
                Ok(e) => e.error,
                Err(_) => format!("the fleet answered {status}"),
            });
        }
        serde_json::from_slice(&body).map_err(|e| format!("unexpected answer from {}: {e}", self.base))
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.call(req).await
    }

    pub async fn status(&self) -> Result<Status, String> {
        self.call(self.http.get(format!("{}/control/status", self.base))).await
    }

    pub async fn inject(&self, injection: &Injection) -> Result<FaultInfo, String> {
        self.post("/control/inject", injection).await
    }

    /// Heals one fault, or every fault with `None`; returns what was healed.
    pub async fn heal(&self, id: Option<u32>) -> Result<Vec<FaultInfo>, String> {
        self.post("/control/heal", &HealRequest { id, all: id.is_none() }).await
    }

    pub async fn remedy(&self, remedy: &Remedy) -> Result<String, String> {
        self.post::<_, RemedyDone>("/control/remedy", remedy).await.map(|d| d.message)
    }
}
