use super::*;

fn text(body: &str) -> Exposition {
    parse_all(body.as_bytes(), Format::Text).expect("the text format never fails a whole body")
}

fn om(body: &str) -> Result<Exposition, ParseError> {
    parse_all(body.as_bytes(), Format::OpenMetrics)
}

fn labels(s: &OwnedSample) -> Vec<(&str, &str)> {
    s.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn awkward_label_values_and_names_survive() {
    let e = text(concat!(
        "job:requests:rate5m{a=\"x}y\",b=\"1,2\",c=\"k=v\",d=\"# not a comment\"} 3\n",
        "esc{v=\"q\\\"uote \\\\ back\\nnew\"} 1\n",
        "empty{} 2\n",
    ));
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    let s = &e.families[0].samples[0];
    assert_eq!(s.name, "job:requests:rate5m");
    assert_eq!(labels(s), [("a", "x}y"), ("b", "1,2"), ("c", "k=v"), ("d", "# not a comment")]);
    assert_eq!(labels(&e.families[1].samples[0]), [("v", "q\"uote \\ back\nnew")]);
    assert!(e.families[2].samples[0].labels.is_empty());
    assert_eq!(e.families[2].samples[0].value, 2.0);
}

#[test]
fn values_timestamps_and_line_endings() {
    let e = text("a 1 1700000000123\r\nb NaN\r\nc +Inf\nd -Inf\ne 1.5e-3\n\n  f\t2\t-5\ng 7");
    assert!(e.errors.is_empty(), "{:?}", e.errors);
    let v: Vec<(String, f64, Option<i64>)> =
        e.families.iter().map(|f| (f.name.clone(), f.samples[0].value, f.samples[0].timestamp_ms)).collect();
    assert_eq!(v[0], ("a".into(), 1.0, Some(1_700_000_000_123)));
    assert!(v[1].1.is_nan());
    assert_eq!(v[2].1, f64::INFINITY);
    assert_eq!(v[3].1, f64::NEG_INFINITY);
    assert_eq!(v[4].1, 0.0015);
    assert_eq!(v[5], ("f".into(), 2.0, Some(-5)));
    assert_eq!(v[6], ("g".into(), 7.0, None), "the last line needs no newline");
    assert_eq!(e.families[6].samples[0].line, 8);
}

#[test]
fn text_bad_lines_are_skipped_counted_and_located() {
    let e = text("ok 1\nbad{a=\"1\" 2\nok2 2\n0bad 1\nok3 x\nok4 4 4 4\nok5 5\n");
    let names: Vec<&str> = e.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["ok", "ok2", "ok5"]);
    assert_eq!(e.skipped_lines, 4);
    let lines: Vec<u32> = e.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4, 5, 6]);
    assert!(e.errors[2].message.contains("invalid value"), "{}", e.errors[2]);
}

#[test]
fn text_line_that_is_not_utf8_is_skipped_alone() {
    let mut body = b"a 1\nb{x=\"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(b"\"} 2\nc 3\n");
    let e = parse_all(&body, Format::Text).expect("text never fails whole");
    assert_eq!(e.series_count(), 2);
    assert_eq!(e.errors[0].line, 2);
    assert!(e.errors[0].message.contains("UTF-8"));
}

#[test]
fn text_histogram_and_summary_families_are_grouped() {
    let e = text(concat!(
        "# HELP rq_seconds Request time.\n",
        "# TYPE rq_seconds histogram\n",
        "rq_seconds_bucket{le=\"0.1\"} 1\n",
        "rq_seconds_bucket{le=\"+Inf\"} 3\n",
        "rq_seconds_sum 0.7\n",
        "rq_seconds_count 3\n",
        "rq_seconds_created 1.7e9\n",
        "# TYPE gc summary\n",
        "gc{quantile=\"0.5\"} 0.01\n",
        "gc_sum 1\n",
        "gc_count 9\n",
        "# TYPE hits_total counter\n",
        "hits_total 5\n",
        "loose_bucket 1\n",
    ));
    let fams: Vec<(&str, MetricType, usize)> =
        e.families.iter().map(|f| (f.name.as_str(), f.kind, f.samples.len())).collect();
    assert_eq!(
        fams,
        [
            ("rq_seconds", MetricType::Histogram, 5),
            ("gc", MetricType::Summary, 3),
            ("hits_total", MetricType::Counter, 1),
            ("loose_bucket", MetricType::Unknown, 1),
        ]
    );
    assert_eq!(e.families[0].help.as_deref(), Some("Request time."));
    let suffixes: Vec<Suffix> = e.families[0].samples.iter().map(|s| s.suffix).collect();
    assert_eq!(suffixes, [Suffix::Bucket, Suffix::Bucket, Suffix::Sum, Suffix::Count, Suffix::Created]);
}

#[test]
fn text_families_need_not_be_contiguous() {
    let e = text("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nother 1\nh_count 1\n");
    assert_eq!(e.families[0].samples.len(), 2);
    assert_eq!(e.families[0].samples[1].suffix, Suffix::Count);
}

#[test]
fn text_repeated_metadata_is_a_bad_line() {
    let e = text("# TYPE a gauge\n# TYPE a counter\n# HELP a x\n# HELP a y\na 1\n# just a comment\n#\n");
    assert_eq!(e.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(e.families[0].kind, MetricType::Gauge);
}

#[test]
fn openmetrics_timestamps_are_seconds_and_exemplars_kept_aside() {
    let e = om(concat!(
        "# TYPE rq_seconds counter\n",
        "# UNIT rq_seconds seconds\n",
        "rq_seconds_total{a=\"1\"} 4 1700000000.5 # {trace_id=\"abc\"} 0.2 1700000000.25\n",
        "rq_seconds_created{a=\"1\"} 1600000000 1700000000.5\n",
        "# EOF\n",
    ))
    .expect("valid");
    let f = &e.families[0];
    assert_eq!((f.kind, f.unit.as_deref()), (MetricType::Counter, Some("seconds")));
    assert_eq!(f.samples[0].timestamp_ms, Some(1_700_000_000_500));
    assert_eq!(e.exemplars.len(), 1);
    assert_eq!(e.exemplars[0].labels, [("trace_id".to_owned(), "abc".to_owned())]);
    assert_eq!(e.exemplars[0].timestamp_ms, Some(1_700_000_000_250));
}

#[test]
fn openmetrics_rejects_at_the_first_error_with_its_line() {
    let err = om("# TYPE a gauge\na 1\na{b=\"2\"} x\nc 3\n# EOF\n").expect_err("bad value");
    assert_eq!(err.line, 3);
    let err = om("a 1\n").expect_err("no EOF");
    assert!(err.message.contains("EOF"), "{err}");
    let err = om("a 1\n# EOF\n\n").expect_err("text after EOF");
    assert_eq!(err.line, 2);
}

#[test]
fn openmetrics_body_without_final_newline_and_with_crlf() {
    assert!(om("a 1\r\n# EOF").is_ok());
}

#[test]
fn content_type_selects_the_grammar() {
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        Format::OpenMetrics
    );
    assert_eq!(Format::from_content_type("text/plain; version=0.0.4"), Format::Text);
    assert_eq!(Format::from_content_type(""), Format::Text);
}

#[test]
fn series_text_is_the_line_prefix_identity() {
    let body = b"rq{a=\"1\",b=\"2\"} 5 123\n";
    let mut p = Parser::new(body, Format::Text);
    match p.next_event() {
        Some(Ok(Event::Sample(s))) => assert_eq!(s.series_text, "rq{a=\"1\",b=\"2\"}"),
        other => panic!("{other:?}"),
    }
}

/// Every sample and error of a text body, as (line, family, suffix, name, value) / (line, message).
fn text_events(p: &mut Parser<'_>, out: &mut Vec<String>) {
    while let Some(ev) = p.next_event() {
        match ev {
            Ok(Event::Sample(s)) => {
                out.push(format!("{} {} {:?} {} {}", s.line, s.family, s.suffix, s.series_text, s.value))
            }
            Ok(_) => {}
            Err(e) => out.push(format!("{} error {}", e.line, e.message)),
        }
    }
}

#[test]
fn parsing_in_regions_gives_what_parsing_whole_gives() {
    let body = concat!(
        "# TYPE rq_seconds histogram\n",
        "rq_seconds_bucket{le=\"0.1\"} 1\n",
        "rq_seconds_bucket{le=\"+Inf\"} 3\n",
        "bad line here\n",
        "# TYPE hits counter\n",
        "hits 5\n",
        "rq_seconds_count 3\n",
        "rq_seconds_sum 0.7\n",
        "last 1",
    )
    .as_bytes();
    let mut whole = Vec::new();
    text_events(&mut Parser::new(body, Format::Text), &mut whole);
    // Split after every possible set of line ends.
    let ends: Vec<usize> = body.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i + 1).collect();
    for mask in 0u32..(1 << ends.len()) {
        let mut cuts: Vec<usize> =
            ends.iter().enumerate().filter(|(k, _)| mask & (1 << k) != 0).map(|(_, e)| *e).collect();
        cuts.push(body.len());
        let (mut got, mut state, mut from) = (Vec::new(), TextState::default(), 0);
        for to in cuts {
            let mut p = Parser::resume_text(&body[from..to], state);
            text_events(&mut p, &mut got);
            state = p.into_text_state();
            from = to;
        }
        assert_eq!(got, whole, "cuts {mask:b}");
    }
}
