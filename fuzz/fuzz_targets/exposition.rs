//! `cargo +nightly fuzz run exposition` — both grammars, both value-rule modes, every event
//! consumed; errors must name a line of the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nightwatch::intake::exposition::{Event, Format, Parser, ValueRules};

fuzz_target!(|body: &[u8]| {
    let max_line = body.split(|&b| b == b'\n').count() as u32 + 1;
    for format in [Format::Text, Format::OpenMetrics] {
        for rules in [ValueRules::Strict, ValueRules::Warn] {
            let mut p = Parser::with_value_rules(body, format, rules);
            while let Some(ev) = p.next_event() {
                match ev {
                    Err(e) => assert!(e.line >= 1 && e.line <= max_line),
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
});
