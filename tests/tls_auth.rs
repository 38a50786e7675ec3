//! Credentials and TLS as sources use them: a custom CA, bearer tokens from a file or the
//! environment, basic auth; and what a target or server that wants them says without them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use nightwatch::commands::eval::evaluate_once;
use nightwatch::config::Config;
use nightwatch::signals::{Level, Outcome};
use support::{Reply, Request, serve_requests, serve_tls};

struct Certs {
    dir: PathBuf,
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Certs {
    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    fn cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
}

/// A throwaway CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn certs(tag: &str) -> Option<Certs> {
    let openssl = support::external("openssl", "openssl")?;
    let dir = std::env::temp_dir().join(format!("nightwatch-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl).args(args).current_dir(&dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=nightwatch test CA"],
    ]
    .concat());
    run(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat());
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    Some(Certs { dir })
}

fn config(text: &str) -> Config {
    let full = format!("[cockpit]\nbuiltin-signals = false\n\n{text}");
    Config::from_texts(Some((Path::new("/tmp/tls.toml"), &full))).unwrap_or_else(|e| panic!("{e}"))
}

fn level(c: &Config, o: &[Outcome]) -> Vec<(String, Level)> {
    c.signals.iter().zip(o).map(|(s, o)| (s.id.clone(), o.level())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_custom_ca_lets_nightwatch_scrape_a_private_target() {
    let Some(c) = certs("scrape") else { return };
    let addr = serve_tls(&c.cert(), &c.key(), |_: &Request| Reply::text("probe 0.2\n")).await;
    let scrape = |extra: &str| {
        config(&format!(
            "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"https://{addr}/metrics\"]\ninterval = \"1s\"\n{extra}\n\
             [[signal]]\nid = \"probe\"\nexpr = \"probe\"\nwarn = 0.1\n"
        ))
    };
    let trusted = scrape(&format!("ca-file = \"{}\"\n", c.ca().display()));
    let snap = evaluate_once(&trusted).await;
    assert_eq!(level(&trusted, &snap.outcomes), [("probe".to_owned(), Level::Warn)], "{:?}", snap.targets);

    let untrusted = scrape("");
    let snap = evaluate_once(&untrusted).await;
    assert_eq!(snap.targets[0].error_kind, Some("tls"), "{:?}", snap.targets[0].error);
    assert_eq!(snap.outcomes[0].level(), Level::Unknown);

    let insecure = scrape("insecure-skip-verify = true\n");
    let snap = evaluate_once(&insecure).await;
    assert_eq!(snap.outcomes[0].level(), Level::Warn);
}

fn query_answer(r: &Request, token: &str) -> Reply {
    if r.header("authorization") != Some(&format!("Bearer {token}")) {
        return Reply::Http {
            status: 401,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"status":"error","errorType":"unauthorized","error":"missing token"}"#.to_vec(),
        };
    }
    Reply::ok(
        "application/json",
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"hop":"db"},"value":[1700000000,"0.12"]}]}}"#,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_sources_send_bearer_tokens_over_a_custom_ca() {
    let Some(c) = certs("prom") else { return };
    let addr = serve_tls(&c.cert(), &c.key(), |r: &Request| query_answer(r, "s3cret")).await;
    let token = c.dir.join("token");
    std::fs::write(&token, "s3cret\n").expect("write");
    let source = |auth: &str| {
        config(&format!(
            "[[source]]\nname = \"prom\"\nkind = \"prometheus\"\nurl = \"https://{addr}\"\ninterval = \"5s\"\n\
             ca-file = \"{}\"\n{auth}\n[[signal]]\nid = \"ratio\"\nexpr = \"timeout_ratio\"\nunit = \"ratio\"\nwarn = \"5%\"\npage = \"10%\"\n",
            c.ca().display()
        ))
    };
    let with_file = source(&format!("bearer-token-file = \"{}\"\n", token.display()));
    let snap = evaluate_once(&with_file).await;
    assert_eq!(snap.outcomes[0].level(), Level::Page, "{:?}", snap.outcomes[0]);

    // From the environment: through the binary, with the variable set on its process.
    let cfg = c.dir.join("env.toml");
    std::fs::write(
        &cfg,
        format!(
            "[cockpit]\nbuiltin-signals = false\n\n[[source]]\nname = \"prom\"\nkind = \"prometheus\"\n\
             url = \"https://{addr}\"\ninterval = \"5s\"\nca-file = \"{}\"\nbearer-token-env = \"NW_TEST_TOKEN\"\n\n\
             [[signal]]\nid = \"ratio\"\nexpr = \"timeout_ratio\"\nwarn = 0.05\npage = 0.1\n",
            c.ca().display()
        ),
    )
    .expect("write");
    let run = move |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nightwatch"));
        cmd.args(["eval", "--config"]).arg(&cfg).env_remove("NW_TEST_TOKEN");
        if let Some(t) = token {
            cmd.env("NW_TEST_TOKEN", t);
        }
        cmd.output().expect("run nightwatch")
    };
    let (good, missing) = tokio::task::spawn_blocking(move || (run(Some("s3cret")), run(None))).await.expect("run");
    assert_eq!(good.status.code(), Some(2), "PAGE: {}", String::from_utf8_lossy(&good.stdout));
    assert_eq!(missing.status.code(), Some(3));
    let out = String::from_utf8_lossy(&missing.stdout);
    assert!(out.contains("environment variable NW_TEST_TOKEN is not set"), "{out}");

    let without = source("");
    let snap = evaluate_once(&without).await;
    let Outcome::Failed { reason } = &snap.outcomes[0] else { panic!("{:?}", snap.outcomes[0]) };
    assert!(reason.contains("unauthorized"), "{reason}");
    assert_eq!(snap.verdict(), Level::Unknown);
}

#[tokio::test(flavor = "multi_thread")]
async fn scrape_sources_send_basic_auth() {
    // "scraper:hunter2" in base64.
    let addr = serve_requests(|r: &Request| {
        if r.header("authorization") == Some("Basic c2NyYXBlcjpodW50ZXIy") {
            Reply::text("probe 1\n")
        } else {
            Reply::Http { status: 401, headers: vec![], body: b"who are you".to_vec() }
        }
    })
    .await;
    let dir = std::env::temp_dir().join(format!("nightwatch-basic-{}", addr.port()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let pass = dir.join("password");
    std::fs::write(&pass, "hunter2\n").expect("write");
    let with = |auth: &str| {
        config(&format!(
            "[[source]]\nname = \"t\"\nkind = \"scrape\"\ntargets = [\"{addr}\"]\ninterval = \"1s\"\n{auth}\n\
             [[signal]]\nid = \"probe\"\nexpr = \"probe\"\nwarn = 5\n"
        ))
    };
    let ok = with(&format!("basic-auth = {{ username = \"scraper\", password-file = \"{}\" }}\n", pass.display()));
    assert_eq!(evaluate_once(&ok).await.outcomes[0].level(), Level::Ok);
    let snap = evaluate_once(&with("")).await;
    assert_eq!(snap.targets[0].error.as_deref(), Some("HTTP 401"));
    let _ = std::fs::remove_dir_all(dir);
}
