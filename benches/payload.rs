//! A deterministic exposition payload shaped like a large real target: counters, gauges and
//! 10-bucket histograms with 3–5 labels each (about 110 bytes per series line).
//! Shared by the criterion benchmark and the Prometheus comparison script.

/// Builds a Prometheus text-format body with exactly `series` sample lines.
pub fn generate(series: usize) -> String {
    let mut out = String::with_capacity(series * 112);
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let codes = ["200", "201", "404", "500", "503"];
    const LES: [&str; 10] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"];
    let mut written = 0;
    let mut family = 0;
    while written < series {
        let kind = family % 3;
        let name = match kind {
            0 => format!("app_requests_handled_{family}_total"),
            1 => format!("app_queue_depth_messages_{family}"),
            _ => format!("app_request_duration_{family}_seconds"),
        };
        let typ = ["counter", "gauge", "histogram"][kind];
        out.push_str(&format!(
            "# HELP {name} Synthetic family {family} for the parser benchmark.\n# TYPE {name} {typ}\n"
        ));
        for k in 0..40 {
            if written >= series {
                break;
            }
            let svc = next() % 300;
            let inst = format!("10.{}.{}.{}:9100", next() % 16, next() % 256, next() % 256);
            let method = methods[(next() % 4) as usize];
            match kind {
                0 | 1 => {
                    let code = codes[(next() % 5) as usize];
                    let v = next() % 10_000_000;
                    let extra = if k % 2 == 0 { format!(",zone=\"eu-west-{}\"", next() % 3) } else { String::new() };
                    out.push_str(&format!(
                        "{name}{{service=\"svc-{svc:03}\",instance=\"{inst}\",method=\"{method}\",code=\"{code}\"{extra}}} {v}\n"
                    ));
                    written += 1;
                }
                _ => {
                    let mut cum = 0;
                    for le in LES {
                        if written >= series {
                            break;
                        }
                        cum += next() % 1000;
                        out.push_str(&format!(
                            "{name}_bucket{{service=\"svc-{svc:03}\",instance=\"{inst}\",method=\"{method}\",le=\"{le}\"}} {cum}\n"
                        ));
                        written += 1;
                    }
                    for (sfx, v) in [("_sum", format!("{}.{:03}", cum / 7, next() % 1000)), ("_count", cum.to_string())]
                    {
                        if written >= series {
                            break;
                        }
                        out.push_str(&format!(
                            "{name}{sfx}{{service=\"svc-{svc:03}\",instance=\"{inst}\",method=\"{method}\"}} {v}\n"
                        ));
                        written += 1;
                    }
                }
            }
        }
        family += 1;
    }
    out
}
