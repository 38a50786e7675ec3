use super::*;

const GOOD: &str = r#"+++
id = "clock-skew"
title = "Impossible timestamps / clock skew"
alerts = ["clock-skew"]
severity = "P2"
owner = "Platform"
escalation = "@platform-oncall"
last-reviewed = "2026-11-23"
+++
# Clock skew

## What the alert means
Clocks disagree.

## Detection
## Diagnosis

```mermaid
graph TD
    Start[Impossible timestamps] --> Check{Skew > 500ms?}
    %% bind Check: clock-skew > 500ms
    Check -->|Yes| Force[Force NTP sync]
    Check -->|No| Done(Watch)
    %% bind Force: step ntp-sync
```

## Recovery

```sh {id=ntp-sync phase=recover profile=sim target=node allow-node="node-[0-9]+" verify="clock-skew < 100ms within 2m"}
nightwatch sim ctl --sim {sim} ntp-sync --nodes {node}
```

```sh {id=ntp-sync phase=recover profile=prod target=node confirm=type allow-node="[a-z0-9.-]+" remote-shell=2 verify=offsets}
ssh {node} 'sudo ntpdate -b pool.ntp.org'
```

## Verification

```sh {id=offsets phase=verify expect-output="ok"}
chronyc tracking
```

## Rollback
Nothing to undo.

## Escalation
@platform-oncall
"#;

fn problems(text: &str) -> Vec<(usize, String)> {
    parse("t.md", text).1.into_iter().map(|p| (p.line, p.message)).collect()
}

#[test]
fn a_good_runbook_reads_whole() {
    let (rb, ps) = parse("t.md", GOOD);
    assert!(ps.is_empty(), "{ps:?}");
    let rb = rb.expect("parsed");
    assert_eq!(rb.id, "clock-skew");
    assert_eq!(rb.alerts, ["clock-skew"]);
    assert_eq!(rb.alerts_line, 4);
    assert_eq!(rb.flowchart.as_ref().map(|f| f.nodes.len()), Some(4));
    assert_eq!(rb.binding("Force"), Some(&Bound::Step("ntp-sync".into())));
    assert!(matches!(rb.binding("Check"), Some(Bound::Condition(c)) if c.signal == "clock-skew"));
    let sim = rb.step("ntp-sync", Profile::Sim).expect("sim step");
    assert_eq!(sim.line, 29);
    assert_eq!(sim.target.as_deref(), Some("node"));
    assert!(sim.patterns["node"].regex.is_match("node-17"));
    assert!(!sim.patterns["node"].regex.is_match("node-17; id"), "patterns match the whole value");
    let prod = rb.step("ntp-sync", Profile::Prod).expect("prod step");
    assert_eq!((prod.confirm, prod.remote_shell), (Confirm::Type, Some(2)));
    assert_eq!(rb.step("offsets", Profile::Prod).map(|s| s.phase), Some(Phase::Verify));
    assert_eq!(rb.section("Rollback").as_deref(), Some("Nothing to undo."));
    assert!(rb.section("Recovery").expect("section").contains("ssh {node}"));
}

#[test]
fn each_mistake_is_named_at_its_line() {
    let cases: Vec<(&str, &str, usize, &str)> = vec![
        ("Check -->|No| Done(Watch)", "Check -->|No| Nowhere", 23, "Nowhere"),
        ("%% bind Force: step ntp-sync", "%% bind Force: step ntp-fix", 24, "step \"ntp-fix\""),
        ("%% bind Check: clock-skew > 500ms", "%% bind Check: clock-skew 500ms", 21, "condition does not parse"),
        ("%% bind Check: clock-skew > 500ms", "%% bind Ghost: clock-skew > 1s", 21, "node Ghost"),
        (" verify=\"clock-skew < 100ms within 2m\"}", "}", 29, "recover step ntp-sync has no verify"),
        (" allow-node=\"node-[0-9]+\"", "", 29, "{node} has no allowed pattern"),
        ("phase=verify", "phase=check", 39, "unknown phase"),
        ("verify=offsets}", "verify=offset}", 33, "\"offset\""),
        ("## Rollback", "## Undo", 1, "missing section \"Rollback\""),
        ("last-reviewed = \"2026-11-23\"", "last-reviewed = \"yesterday\"", 8, "YYYY-MM-DD"),
        ("allow-node=\"[a-z0-9.-]+\"", "allow-node=\"[a-z\"", 33, "pattern"),
        (" remote-shell=2", "", 33, "remote-shell"),
        ("profile=prod ", "profile=sim ", 29, "more than once"),
        ("chronyc tracking", "chronyc 'tracking", 40, "unterminated"),
        ("%% bind Force: step ntp-sync", "%% bind Start: clock-skew > 1s", 24, "not a decision"),
    ];
    for (from, to, line, needle) in cases {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        let ps = problems(&text);
        let hit = ps.iter().find(|(_, m)| m.contains(needle));
        let Some((l, _)) = hit else { panic!("{from} -> {to}: no problem with {needle:?} in {ps:?}") };
        if needle.starts_with("missing section") {
            continue;
        }
        assert_eq!(*l, line, "{from} -> {to}: {ps:?}");
    }
}

#[test]
fn without_front_matter_or_flowchart() {
    assert!(problems("# just markdown\n")[0].1.contains("front matter"));
    assert!(problems("+++\nid = \"x\"\n")[0].1.contains("closing"));
    let ps = problems("+++\nid = \"x\"\ntitle = 3\n+++\n");
    assert_eq!(ps[0].0, 3, "{ps:?}");
    let no_chart = GOOD.replace("```mermaid", "```text");
    assert!(problems(&no_chart).iter().any(|(_, m)| m.contains("no ```mermaid")));
}

#[test]
fn mutations_never_panic() {
    let mut seed: u64 = 7;
    let bytes = GOOD.as_bytes();
    for _ in 0..3000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut b = bytes.to_vec();
        for k in 0..(seed >> 60) + 1 {
            let at = ((seed >> (8 + k)) as usize) % b.len();
            let choices = b"{}[]()|%\"'\\=+-\n `<>#x";
            b[at] = choices[((seed >> (20 + k)) as usize) % choices.len()];
        }
        let text = String::from_utf8_lossy(&b);
        let _ = parse("m.md", &text);
    }
}
