//! Thousands of seeded random mutations of the conformance bodies: the parser never panics,
//! never loops, and every error it reports names a line of the body.

use std::fs;
use std::path::Path;

use nightwatch::intake::exposition::{Event, Format, Parser, ValueRules};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut bodies = Vec::new();
    for entry in fs::read_dir(root.join("openmetrics")).expect("dir") {
        let p = entry.expect("entry").path();
        if p.is_dir() {
            bodies.push(fs::read(p.join("metrics")).expect("read"));
        }
    }
    for entry in fs::read_dir(root.join("prometheus/textparse")).expect("dir") {
        let body = fs::read(entry.expect("entry").path()).expect("read");
        // Keep the big bodies to a slice so that thousands of rounds stay fast.
        bodies.push(body[..body.len().min(4096)].to_vec());
    }
    bodies
}

const INTERESTING: &[u8] = b"{}\",=#\\\n\r \t_:.-+eE0123456789aINfn\x00\xff\xc3";

fn mutate(rng: &mut Rng, body: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..=rng.below(4) {
        let len = body.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                body[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            1 => {
                let i = rng.below(len + 1);
                body.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(16).min(len - i);
                body.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(32).min(len - i);
                let chunk = body[i..i + n].to_vec();
                let at = rng.below(body.len() + 1);
                body.splice(at..at, chunk);
            }
            4 if !other.is_empty() => {
                let i = rng.below(other.len());
                let n = rng.below(64).min(other.len() - i);
                let at = rng.below(len + 1);
                body.splice(at..at, other[i..i + n].iter().copied());
            }
            5 => body.truncate(rng.below(len + 1)),
            _ if len > 0 => {
                let i = rng.below(len);
                body[i] = rng.next() as u8;
            }
            _ => {}
        }
    }
}

fn exercise(body: &[u8]) {
    let max_line = body.split(|&b| b == b'\n').count() as u32 + 1;
    for format in [Format::Text, Format::OpenMetrics] {
        for rules in [ValueRules::Strict, ValueRules::Warn] {
            let mut p = Parser::with_value_rules(body, format, rules);
            let mut events = 0usize;
            while let Some(ev) = p.next_event() {
                events += 1;
                assert!(events <= body.len() + 2, "more events than bytes: the parser loops");
                match ev {
                    Err(e) => assert!(e.line >= 1 && e.line <= max_line, "line {} of {max_line}: {e}", e.line),
                    Ok(Event::Sample(s)) => {
                        for l in s.labels {
                            let _ = l.value();
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

#[test]
fn seeded_mutations_never_panic() {
    let bodies = corpus();
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let rounds = 50_000;
    for _ in 0..rounds {
        let a = rng.below(bodies.len());
        let b = rng.below(bodies.len());
        let mut body = bodies[a].clone();
        mutate(&mut rng, &mut body, &bodies[b]);
        exercise(&body);
    }
}

#[test]
fn pathological_bodies_do_not_panic() {
    let long_name = "a".repeat(1 << 20);
    let many_labels: String = (0..20_000).map(|i| format!("l{i}=\"v\",")).collect();
    for body in [
        String::new(),
        "\n".repeat(10_000),
        "{".repeat(100_000),
        "\"".repeat(100_000),
        "\\".repeat(100_000),
        format!("{long_name} 1\n"),
        format!("a{{{many_labels}}} 1\n# EOF\n"),
        "a{b=\"\\".to_string(),
        "# TYPE\n# HELP\n# UNIT\n#".to_string(),
        "a 1 1 # {".to_string(),
    ] {
        exercise(body.as_bytes());
    }
}
