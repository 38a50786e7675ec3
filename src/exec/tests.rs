use super::*;
use crate::runbooks::file;

const RUNBOOK: &str = r#"+++
id = "test"
title = "Executor test"
alerts = []
severity = "P3"
owner = "me"
escalation = "@me"
last-reviewed = "2026-11-23"
+++
## What the alert means
## Detection
## Diagnosis
```mermaid
graph TD
    A[Start] --> B[End]
```
## Recovery
```sh {id=ping phase=recover target=node allow-node="node-[0-9]{1,4}" verify=check}
printf %s {node}
```
```sh {id=literal phase=diagnose allow-v="[a-z;$() `]+"}
printf %s|%s|%s| {v} '$HOME' 'a;b'
```
```sh {id=hang phase=diagnose timeout=2s}
sh -c 'echo $$; sleep 300 & wait'
```
```sh {id=flood phase=diagnose timeout=60s}
head -c 1G /dev/zero
```
```sh {id=escape phase=diagnose}
printf 'red\033[31m\tbell\007\n'
```
```sh {id=touch phase=recover target=path confirm=type allow-path="/[a-zA-Z0-9/._-]+" verify=check}
touch {path}
```
```sh {id=slow phase=diagnose}
sleep 2
```
## Verification
```sh {id=check phase=verify}
true
```
## Rollback
## Escalation
"#;

fn runbook() -> Runbook {
    let (rb, problems) = file::parse("test.md", RUNBOOK);
    assert!(problems.is_empty(), "{problems:?}");
    rb.expect("parsed")
}

fn ctx(mode: Mode) -> (PathBuf, Context) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("nw-exec-{}-{nanos}", std::process::id()));
    let ctx = Context {
        mode,
        profile: Profile::Sim,
        default_timeout: Duration::from_secs(30),
        output_cap: 64 << 10,
        audit: AuditLog::new(dir.join("audit.jsonl")),
        builtins: BTreeMap::new(),
        incident: None,
        exe: None,
    };
    (dir, ctx)
}

fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn yes() -> Confirmation {
    Confirmation { yes: true, typed: None, batch: false }
}

async fn go(rb: &Runbook, p: &Prepared, c: &Confirmation, ctx: &Context) -> (Result<Done, Refusal>, String) {
    let mut seen = String::new();
    let r = execute(rb, p, c, ctx, &mut |s: &str| seen.push_str(s), std::future::pending()).await;
    (r, seen)
}

#[test]
fn untrusted_values_are_refused_before_any_prompt() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    for (bad, why) in [
        ("node-1; rm -rf /", "does not match"),
        ("$(id)", "does not match"),
        ("`id`", "does not match"),
        ("node-1\nnode-2", "control character"),
        ("-oProxyCommand=x", "starts with '-'"),
        ("n\u{043e}de-1", "non-ASCII"),
        ("", "empty"),
    ] {
        let e = prepare(&rb, "ping", &set(&[("node", bad)]), &ctx).expect_err(bad);
        assert!(e.0.contains(why), "{bad:?}: {e}");
        assert!(!e.0.contains('\n'), "the refusal shows the value escaped: {e}");
    }
    let e = prepare(&rb, "ping", &set(&[("node", "node-1; rm -rf /")]), &ctx).expect_err("refused");
    assert!(e.0.contains("node-[0-9]{1,4}"), "the pattern is named: {e}");
    assert!(prepare(&rb, "ping", &BTreeMap::new(), &ctx).expect_err("missing").0.contains("--set node="));
    let p = prepare(&rb, "ping", &set(&[("node", "node-17")]), &ctx).expect("a good value");
    assert_eq!(p.argv, ["printf", "%s", "node-17"]);
    assert_eq!(p.target, "node-17");
}

#[tokio::test]
async fn argv_steps_run_without_a_shell() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    let p = prepare(&rb, "literal", &set(&[("v", "x; $(id) `id`")]), &ctx).expect("allowed by its pattern");
    let (r, seen) = go(&rb, &p, &yes(), &ctx).await;
    let Ok(Done::Ran { outcome, passed, .. }) = r else { panic!("{r:?}") };
    // A shell would have run `id`, expanded $HOME and split at `;`.
    assert_eq!(outcome.output.text(), "x; $(id) `id`|$HOME|a;b|");
    assert_eq!(seen, "x; $(id) `id`|$HOME|a;b|");
    assert_eq!(outcome.output.digest(), crate::audit::sha256_hex(b"x; $(id) `id`|$HOME|a;b|"));
    assert!(passed);
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    let p = prepare(&rb, "hang", &BTreeMap::new(), &ctx).expect("prepared");
    let t0 = std::time::Instant::now();
    let (r, _) = go(&rb, &p, &yes(), &ctx).await;
    let elapsed = t0.elapsed();
    let Ok(Done::Ran { outcome, passed, .. }) = r else { panic!("{r:?}") };
    assert!(elapsed < Duration::from_secs(3), "returned after {elapsed:?}");
    assert_eq!(outcome.status, Status::TimedOut);
    assert!(!passed);
    let pgid: u32 = outcome.output.text().trim().parse().expect("the shell printed its pid");
    std::thread::sleep(Duration::from_millis(100));
    let left: Vec<String> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            let fields: Vec<&str> = after.split_whitespace().collect();
            // A zombie is dead already, waiting for its new parent (init) to reap it.
            fields.first() != Some(&"Z") && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid)
        })
        .collect();
    assert!(left.is_empty(), "processes of group {pgid} left: {left:?}");
    let records = ctx.audit.read().expect("read");
    let fin = records.iter().find(|r| r.kind() == "step-finished").expect("finished");
    assert_eq!(fin.fields["timed_out"], true);
}

#[tokio::test]
async fn huge_output_is_kept_within_the_bound_and_marked() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    let p = prepare(&rb, "flood", &BTreeMap::new(), &ctx).expect("prepared");
    let (r, seen) = go(&rb, &p, &yes(), &ctx).await;
    let Ok(Done::Ran { outcome, .. }) = r else { panic!("{r:?}") };
    assert_eq!(outcome.status, Status::Exited(0));
    assert_eq!(outcome.output.total, 1 << 30);
    assert!(outcome.output.truncated());
    assert_eq!(outcome.output.kept_bytes(), 64 << 10);
    assert!(outcome.output.text().contains("bytes not kept"));
    // The screen got the head only (each NUL shown as the 4 characters `\x00`).
    assert_eq!(seen.len(), (32 << 10) * 4);
    let fin = ctx.audit.read().expect("read").into_iter().find(|r| r.kind() == "step-finished").expect("finished");
    assert_eq!(fin.fields["output_truncated"], true);
    assert_eq!(fin.fields["output_bytes"], 1u64 << 30);
    assert!(fin.str("output_tail").is_some_and(|t| t.len() <= 4 * 4096));
}

#[tokio::test]
async fn control_characters_are_escaped_on_screen_and_in_the_log() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    let p = prepare(&rb, "escape", &BTreeMap::new(), &ctx).expect("prepared");
    let (_, seen) = go(&rb, &p, &yes(), &ctx).await;
    assert_eq!(seen, "red\\x1b[31m\tbell\\x07\n");
    let text = std::fs::read_to_string(ctx.audit.path()).expect("log");
    assert!(!text.contains('\u{1b}') && !text.contains("\\u001b"), "{text}");
}

#[tokio::test]
async fn an_unwritable_audit_log_refuses_the_step() {
    let rb = runbook();
    let (dir, mut ctx) = ctx(Mode::Run);
    // A directory where the log file should be: it cannot be opened for writing, even as
    // root (the lock directory beside it can still be made).
    std::fs::create_dir_all(dir.join("audit.jsonl")).expect("dir");
    ctx.audit = AuditLog::new(dir.join("audit.jsonl"));
    let marker = dir.join("marker");
    let p = prepare(&rb, "touch", &set(&[("path", &marker.display().to_string())]), &ctx).expect("prepared");
    let c = Confirmation { yes: true, typed: Some(marker.display().to_string()), batch: false };
    let (r, _) = go(&rb, &p, &c, &ctx).await;
    let e = r.expect_err("refused").0;
    assert!(e.contains("audit log") && e.contains("never runs unrecorded"), "{e}");
    assert!(!marker.exists(), "the step ran without its record");
    // A directory without write permission, where that means something (not as root).
    if rustix::process::getuid().as_raw() != 0 {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.join("ro");
        std::fs::create_dir_all(ro.join("locks")).expect("dir");
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
        ctx.audit = AuditLog::new(ro.join("audit.jsonl"));
        let (r, _) = go(&rb, &p, &c, &ctx).await;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
        assert!(r.expect_err("refused").0.contains("never runs unrecorded"));
        assert!(!marker.exists());
    }
}

#[tokio::test]
async fn modes_confirmations_and_batches_are_enforced_by_the_executor() {
    let rb = runbook();
    let (dir, ctx_run) = ctx(Mode::Run);
    let marker = dir.join("m");
    let vals = set(&[("path", &marker.display().to_string())]);
    let p = prepare(&rb, "touch", &vals, &ctx_run).expect("prepared");
    let typed = Confirmation { yes: true, typed: Some(marker.display().to_string()), batch: false };

    let (_, ro) = ctx(Mode::ReadOnly);
    assert!(go(&rb, &p, &typed, &ro).await.0.expect_err("read-only").0.contains("read-only"));
    let (_, dry) = ctx(Mode::DryRun);
    assert!(matches!(go(&rb, &p, &typed, &dry).await.0, Ok(Done::WouldRun(_))));
    assert!(!marker.exists());
    assert!(dry.audit.read().expect("read").is_empty(), "a dry run records no start");

    let no = Confirmation::default();
    assert!(go(&rb, &p, &no, &ctx_run).await.0.expect_err("not confirmed").0.contains("not confirmed"));
    let wrong = Confirmation { yes: true, typed: Some("something else".into()), batch: false };
    assert!(go(&rb, &p, &wrong, &ctx_run).await.0.expect_err("typed").0.contains("typing the target"));
    let batch = Confirmation { batch: true, ..typed.clone() };
    assert!(go(&rb, &p, &batch, &ctx_run).await.0.expect_err("batch").0.contains("run all"));
    assert!(!marker.exists());

    let (r, _) = go(&rb, &p, &typed, &ctx_run).await;
    assert!(matches!(r, Ok(Done::Ran { passed: true, .. })), "{r:?}");
    assert!(marker.exists());
    let kinds: Vec<String> = ctx_run.audit.read().expect("read").iter().map(|r| r.kind().to_owned()).collect();
    assert_eq!(kinds, ["step-started", "step-finished"]);
}

#[tokio::test]
async fn one_run_at_a_time_per_step_and_target() {
    let rb = runbook();
    let (_d, ctx) = ctx(Mode::Run);
    let p = prepare(&rb, "slow", &BTreeMap::new(), &ctx).expect("prepared");
    let y = yes();
    let first = go(&rb, &p, &y, &ctx);
    let second = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        go(&rb, &p, &y, &ctx).await
    };
    let ((a, _), (b, _)) = tokio::join!(first, second);
    assert!(matches!(a, Ok(Done::Ran { .. })), "{a:?}");
    let e = b.expect_err("the second is refused").0;
    assert!(e.contains("already running") && e.contains(&format!("pid {}", std::process::id())), "{e}");
}

#[test]
fn posix_quoting_survives_a_real_shell() {
    for v in ["plain", "a b", "it's", "$(id)", "`id`", "a\"b", "x; echo pwned", "*", ""] {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", template::posix_quote(v)))
            .output()
            .expect("sh");
        assert_eq!(String::from_utf8_lossy(&out.stdout), v);
    }
}
