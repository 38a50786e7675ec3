//! `cargo +nightly fuzz run runbook` — the runbook file parser (front matter, flowchart,
//! bindings, step attributes, command templates); problems must name a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::runbooks::file::parse;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1) + 1;
    let (rb, problems) = parse("fuzz.md", &text);
    for p in &problems {
        assert!(p.line >= 1 && p.line <= lines, "line {} of {lines}: {}", p.line, p.message);
    }
    if let Some(rb) = rb {
        for s in &rb.steps {
            let _ = s.template.value_names();
        }
        if let Some(f) = &rb.flowchart {
            let _ = nightwatch::runbooks::outline::outline(f);
        }
    }
});
