//! Every way a target can fail has its own reason: connection refused, DNS, timeout, HTTP
//! status, TLS, body too large (a gzip bomb included), parse error at line N, sample limit.

mod support;

use std::io::Write;
use std::time::Duration;

use nightwatch::config::{Auth, Limits, Tls};
use nightwatch::intake::exposition::{Format, ValueRules};
use nightwatch::intake::http::client;
use nightwatch::intake::scrape::{NameFilter, ScrapeError, Spec, scrape};
use reqwest::Url;
use support::{Reply, refused_port, serve};

fn spec(timeout_ms: u64) -> Spec {
    Spec {
        timeout: Duration::from_millis(timeout_ms),
        limits: Limits::default(),
        value_rules: ValueRules::Strict,
        force_format: None,
        auth: Auth::default(),
        pool: None,
    }
}

async fn try_scrape(url: &str, spec: &Spec) -> Result<nightwatch::intake::scrape::Scraped, ScrapeError> {
    let c = client(&Tls::default(), spec.timeout).expect("client");
    let url = Url::parse(url).expect("url");
    scrape(&c, &url, spec, &NameFilter::all()).await
}

async fn reason(url: &str, spec: &Spec) -> (String, String) {
    match try_scrape(url, spec).await {
        Ok(_) => panic!("{url}: expected a failure"),
        Err(e) => (e.kind().to_owned(), e.to_string()),
    }
}

#[tokio::test]
async fn connection_refused() {
    let (_held, refused) = refused_port();
    let (kind, msg) = reason(&format!("http://127.0.0.1:{refused}/metrics"), &spec(2000)).await;
    assert_eq!(kind, "connection-refused", "{msg}");
    assert_eq!(msg, "connection refused");
}

#[tokio::test]
async fn dns_failure() {
    let (kind, msg) = reason("http://no-such-host.invalid:9100/metrics", &spec(5000)).await;
    assert_eq!(kind, "dns", "{msg}");
    assert!(msg.contains("no-such-host.invalid"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_times_out_and_does_not_delay_another() {
    let hang = serve(|_| Reply::Hang).await;
    let good = serve(|_| Reply::text("up 1\n")).await;
    // A long timeout for the hanging target: were the two scrapes serialised, the healthy one
    // would finish only after it, in over 3 s. Concurrent, it takes milliseconds; half the
    // timeout leaves room for a loaded machine.
    let s = spec(3000);
    let c = client(&Tls::default(), s.timeout).expect("client");
    let (hang_url, good_url) = (
        Url::parse(&format!("http://{hang}/metrics")).expect("url"),
        Url::parse(&format!("http://{good}/metrics")).expect("url"),
    );
    let all = NameFilter::all();
    let started = std::time::Instant::now();
    let (hung, ok) = tokio::join!(scrape(&c, &hang_url, &s, &all), async {
        let r = scrape(&c, &good_url, &s, &all).await;
        (r.is_ok(), started.elapsed())
    });
    assert_eq!(hung.err().map(|e| e.kind()), Some("timeout"));
    assert!(ok.0, "the healthy target scraped fine beside the hanging one");
    assert!(ok.1 < Duration::from_millis(1500), "the healthy scrape waited for the hanging one: {:?}", ok.1);
}

#[tokio::test]
async fn http_status() {
    let a = serve(|_| Reply::Http { status: 500, headers: vec![], body: b"oops".to_vec() }).await;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &spec(2000)).await;
    assert_eq!((kind.as_str(), msg.as_str()), ("http-status", "HTTP 500"));
}

#[tokio::test]
async fn tls_failure() {
    // A plain HTTP server answering a TLS handshake.
    let a = serve(|_| Reply::Raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec())).await;
    let (kind, msg) = reason(&format!("https://{a}/metrics"), &spec(2000)).await;
    assert_eq!(kind, "tls", "{msg}");
}

#[tokio::test]
async fn garbage_is_a_parse_error_at_its_line() {
    let a = serve(|_| Reply::text("<!DOCTYPE html>\n<html><body>Sign in</body></html>\n")).await;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &spec(2000)).await;
    assert_eq!(kind, "parse-error");
    assert!(msg.starts_with("parse error at line 1:"), "{msg}");
}

#[tokio::test]
async fn openmetrics_by_content_type_rejects_at_the_first_error() {
    let a = serve(|_| {
        Reply::ok(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "# TYPE a gauge\na 1\na{b=\"1\"} x\n# EOF\n",
        )
    })
    .await;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &spec(2000)).await;
    assert_eq!(kind, "parse-error");
    assert!(msg.starts_with("parse error at line 3:"), "{msg}");
    let b = serve(|_| Reply::ok("application/openmetrics-text; version=1.0.0", "# TYPE a gauge\na 1\n# EOF\n")).await;
    let ok = try_scrape(&format!("http://{b}/metrics"), &spec(2000)).await.expect("valid");
    assert_eq!(ok.report.format, Some(Format::OpenMetrics));
}

#[tokio::test]
async fn eleven_mebibytes_is_too_large() {
    let line = "big_metric{instance=\"a-long-label-value-to-fill-the-body\"} 12345\n";
    let body = line.repeat((11 << 20) / line.len() + 1);
    let a = serve(move |_| Reply::text(body.clone())).await;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &spec(5000)).await;
    assert_eq!(kind, "body-too-large", "{msg}");
    assert_eq!(msg, "body too large (over 10MiB)");
}

#[tokio::test]
async fn a_gzip_bomb_is_cut_off_early() {
    // 64 MiB of zeros compress to about 64 KiB; the cap is 10 MiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![b'0'; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).expect("compress");
    }
    let bomb = enc.finish().expect("compress");
    assert!(bomb.len() < 1 << 20);
    let a = serve(move |_| Reply::Http {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into()), ("Content-Encoding".into(), "gzip".into())],
        body: bomb.clone(),
    })
    .await;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &spec(10_000)).await;
    assert_eq!(kind, "body-too-large", "cut off at the cap, not after inflating it all: {msg}");
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"up 1\nnode_timex_offset_seconds 0.002\n").expect("compress");
    let gz = enc.finish().expect("compress");
    let a = serve(move |_| Reply::Http {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into()), ("Content-Encoding".into(), "gzip".into())],
        body: gz.clone(),
    })
    .await;
    let ok = try_scrape(&format!("http://{a}/metrics"), &spec(2000)).await.expect("scrapes");
    assert_eq!(ok.report.samples, 2);
}

#[tokio::test]
async fn sample_limit() {
    let body: String = (0..100).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect();
    let a = serve(move |_| Reply::text(body.clone())).await;
    let mut s = spec(2000);
    s.limits.samples = 50;
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &s).await;
    assert_eq!((kind.as_str(), msg.as_str()), ("sample-limit", "sample limit exceeded (more than 50 samples)"));
}

#[tokio::test]
async fn missing_credentials_are_named() {
    let a = serve(|_| Reply::text("up 1\n")).await;
    let mut s = spec(2000);
    s.auth.bearer = Some(nightwatch::config::Secret::Env("NIGHTWATCH_TEST_TOKEN_THAT_IS_NOT_SET".into()));
    let (kind, msg) = reason(&format!("http://{a}/metrics"), &s).await;
    assert_eq!(kind, "credentials");
    assert!(msg.contains("NIGHTWATCH_TEST_TOKEN_THAT_IS_NOT_SET is not set"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_parsed_while_it_arrives_gives_what_parsing_it_whole_gives() {
    use nightwatch::intake::scrape::parse_body;
    let mut body = String::new();
    for k in 0..4000 {
        body.push_str(&format!("# TYPE lat_{k}_seconds histogram\n"));
        for le in ["0.1", "1", "+Inf"] {
            body.push_str(&format!("lat_{k}_seconds_bucket{{path=\"/p{k}\",le=\"{le}\"}} {k}\n"));
        }
        body.push_str(&format!(
            "lat_{k}_seconds_sum{{path=\"/p{k}\"}} 1.5\nlat_{k}_seconds_count{{path=\"/p{k}\"}} {k}\n"
        ));
        if k % 997 == 500 {
            body.push_str("this line is not a sample\n");
        }
    }
    body.push_str("tail_without_newline 7");
    assert!(body.len() > 1 << 20);
    let served = body.clone();
    let a = serve(move |_| Reply::text(served.clone())).await;
    let s = spec(5000);
    let streamed = try_scrape(&format!("http://{a}/metrics"), &s).await.expect("scrapes");
    let whole = parse_body(body.into_bytes(), Format::Text, &s, &nightwatch::intake::scrape::NameFilter::all())
        .expect("parses");
    let view = |x: &nightwatch::intake::scrape::Scraped| {
        let r = &x.report;
        let kept: Vec<(String, f64)> =
            x.batch.samples().map(|s| (String::from_utf8_lossy(s.key).into_owned(), s.value)).collect();
        (r.samples, r.skipped_lines, r.first_skipped.clone(), r.bytes, kept)
    };
    let (a, b) = (view(&streamed), view(&whole));
    assert_eq!(a.0, 20_001);
    assert_eq!(a.1, 4, "bad lines counted (k = 500, 1497, 2494, 3491)");
    assert_eq!(
        a.2.as_ref().map(|e| e.line),
        Some(3007),
        "the first bad line (after 501 blocks of 6), numbered across regions"
    );
    assert_eq!(a, b);
}
