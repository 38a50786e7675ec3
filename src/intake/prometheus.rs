//! The Prometheus HTTP API source: a signal's expression as an instant query to
//! `/api/v1/query` of a Prometheus-compatible server. Any failure (HTTP, API error, timeout,
//! bad JSON) is an error, which makes the signal UNKNOWN, never healthy.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::http::{authorize, classify};
use crate::config::Auth;
use crate::series::{Labels, Sample};
use crate::signals::promql::{Element, RangeSeries, Value};

#[derive(Deserialize)]
struct Response {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorItem {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct MatrixItem {
    metric: std::collections::BTreeMap<String, String>,
    values: Vec<(f64, String)>,
}

fn number(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad sample value {s:?} from the server")),
    }
}

/// The query endpoint under a server's base URL (which may carry a path prefix).
pub fn query_url(base: &Url) -> Result<Url, String> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.join("api/v1/query").map_err(|e| format!("bad server url: {e}"))
}

/// Evaluates `expr` at `at_ms` on the server.
pub async fn instant_query(
    client: &reqwest::Client,
    base: &Url,
    auth: &Auth,
    expr: &str,
    at_ms: i64,
    timeout: Duration,
) -> Result<Value, String> {
    let mut url = query_url(base)?;
    url.query_pairs_mut()
        .append_pair("query", expr)
        .append_pair("time", &format!("{:.3}", at_ms as f64 / 1000.0))
        .append_pair("timeout", &format!("{}ms", timeout.as_millis()));
    fetch(client, url, auth, timeout).await
}

/// Evaluates `expr` over `[start_ms, end_ms]` every `step` on the server (`/api/v1/query_range`):
/// a matrix.
pub async fn range_query(
    client: &reqwest::Client,
    base: &Url,
    auth: &Auth,
    expr: &str,
    (start_ms, end_ms): (i64, i64),
    step: Duration,
    timeout: Duration,
) -> Result<Value, String> {
    let mut url = query_url(base)?;
    url.set_path(&format!("{}_range", url.path()));
    url.query_pairs_mut()
        .append_pair("query", expr)
        .append_pair("start", &format!("{:.3}", start_ms as f64 / 1000.0))
        .append_pair("end", &format!("{:.3}", end_ms as f64 / 1000.0))
        .append_pair("step", &format!("{}ms", step.as_millis().max(1)))
        .append_pair("timeout", &format!("{}ms", timeout.as_millis()));
    fetch(client, url, auth, timeout).await
}

async fn fetch(client: &reqwest::Client, url: Url, auth: &Auth, timeout: Duration) -> Result<Value, String> {
    let req = client.get(url);
    let req = authorize(req, auth)?;
    let fut = async {
        let resp = req.send().await.map_err(|e| classify(&e).to_string())?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| classify(&e).to_string())?;
        Ok::<_, String>((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, fut).await.map_err(|_| "timeout".to_owned())??;
    let parsed: Result<Response, _> = serde_json::from_slice(&body);
    let r = match parsed {
        Ok(r) => r,
        Err(e) if status.is_success() => return Err(format!("bad JSON from the server: {e}")),
        Err(_) => return Err(format!("HTTP {}", status.as_u16())),
    };
    if r.status != "success" {
        let kind = r.error_type.unwrap_or_else(|| "error".into());
        let msg = r.error.unwrap_or_default();
        return Err(format!("server {kind}: {msg}"));
    }
    if !status.is_success() {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    let data = r.data.ok_or("no data in the server's answer")?;
    decode(&data.result_type, data.result)
}

fn labels(m: std::collections::BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m)
}

fn decode(result_type: &str, result: serde_json::Value) -> Result<Value, String> {
    let bad = |e: serde_json::Error| format!("bad JSON from the server: {e}");
    match result_type {
        "vector" => {
            let items: Vec<VectorItem> = serde_json::from_value(result).map_err(bad)?;
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                out.push(Element { labels: labels(i.metric), v: number(&i.value.1)? });
            }
            Ok(Value::Vector(out))
        }
        "scalar" => {
            let (_, v): (f64, String) = serde_json::from_value(result).map_err(bad)?;
            Ok(Value::Scalar(number(&v)?))
        }
        "string" => {
            let (_, v): (f64, String) = serde_json::from_value(result).map_err(bad)?;
            Ok(Value::String(v))
        }
        "matrix" => {
            let items: Vec<MatrixItem> = serde_json::from_value(result).map_err(bad)?;
            let mut out = Vec::new();
            for i in items {
                let mut samples = Vec::with_capacity(i.values.len());
                for (t, v) in i.values {
                    samples.push(Sample { t: (t * 1000.0).round() as i64, v: number(&v)? });
                }
                let (start, end) = (samples.first().map_or(0, |s| s.t), samples.last().map_or(0, |s| s.t));
                out.push(RangeSeries { labels: labels(i.metric), samples, start, end });
            }
            Ok(Value::Matrix(out))
        }
        other => Err(format!("unknown result type {other:?} from the server")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_vectors_and_scalars() {
        let v = decode(
            "vector",
            serde_json::json!([{"metric": {"__name__": "up", "job": "node"}, "value": [1700000000.5, "1"]},
                               {"metric": {"job": "x"}, "value": [1700000000.5, "NaN"]}]),
        )
        .expect("valid");
        let Value::Vector(v) = v else { panic!("vector") };
        assert_eq!(v[0].labels.to_string(), r#"up{job="node"}"#);
        assert_eq!(v[0].v, 1.0);
        assert!(v[1].v.is_nan());
        assert_eq!(decode("scalar", serde_json::json!([1.0, "+Inf"])), Ok(Value::Scalar(f64::INFINITY)));
        assert!(decode("vector", serde_json::json!({"oops": 1})).is_err());
    }

    #[test]
    fn query_url_keeps_a_path_prefix() {
        let u = Url::parse("http://thanos:9090/prom").expect("url");
        assert_eq!(query_url(&u).map(|u| u.to_string()), Ok("http://thanos:9090/prom/api/v1/query".into()));
    }
}
