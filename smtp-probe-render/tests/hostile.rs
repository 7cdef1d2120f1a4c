//! What a server sends is data: hostile reply text (ESC sequences, BEL, bare CR, `|`, bytes that are not UTF-8,
//! very long lines) through every format. Human and Nagios output escape it exactly; JSON keeps the exact text;
//! metrics never carry it.

use std::time::Instant;

use smtp_probe_proto::testing::{Harness, ServerStep, expect};
use smtp_probe_proto::{ProbeConfig, Report, TlsMode};
use smtp_probe_render::{HumanOptions, Item, JsonOptions, MAX_ITEM_CHARS, MAX_REPLY_CHARS, NagiosOptions};

fn probe(script: Vec<ServerStep>) -> Report {
    let config = ProbeConfig::builder("192.0.2.25".parse().unwrap())
        .tls(TlsMode::None)
        .ehlo_name("probe.test")
        .transcript(true)
        .build()
        .unwrap();
    Harness::new(config, Instant::now(), script).run()
}

fn bytes(b: &[u8]) -> ServerStep {
    ServerStep::Send(b.to_vec())
}

/// A greeting that refuses the connection, with a terminal attack, a pipe, a byte that is not UTF-8 and a bare CR.
fn hostile_refusal() -> Report {
    probe(vec![bytes(b"554 5.7.1 \x1b[2J\x1b]0;owned\x07 no | entry\xff\rX\r\n")])
}

/// An up server whose greeting and EHLO lines carry control characters and a line of 2000 characters.
fn hostile_up() -> Report {
    let long = "x".repeat(2000);
    probe(vec![
        bytes(b"220 mx.test \x1b[31mred\x1b[0m \x07ready\r\n"),
        expect("EHLO"),
        ServerStep::Send(format!("250-mx.test\r\n250-{long}\r\n250 SIZE\x1b[1m 1000\r\n").into_bytes()),
        expect("QUIT"),
        bytes(b"221 bye\r\n"),
    ])
}

fn human(report: &Report, verbose: u8) -> String {
    smtp_probe_render::human(&[Item::from(report)], &HumanOptions { color: false, verbose, transcript: true })
}

fn nagios(report: &Report) -> String {
    let options = NagiosOptions { verbose: true, transcript: true, ..NagiosOptions::default() };
    smtp_probe_render::nagios(&[Item::from(report)], &options)
}

/// No control character of the server's is left: only line feeds that end our own lines.
fn assert_no_controls(text: &str) {
    for line in text.lines() {
        assert!(!line.chars().any(char::is_control), "a control character got through: {line:?}");
    }
    assert!(!text.contains('\r'), "{text:?}");
}

#[test]
fn human_output_escapes_exactly() {
    let report = hostile_refusal();
    let out = human(&report, 1);
    assert_no_controls(&out);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        "192.0.2.25:25  DOWN  greeting_rejected (greeting): the server refused the connection in its greeting: \
         554 5.7.1 \\x1b[2J\\x1b]0;owned\\x07 no | entry\u{fffd}\\rX"
    );
    // The reply line itself comes from the bytes: what is not UTF-8 is shown as it was sent.
    assert!(
        out.contains("  greeting         0.0 ms  < 554 5.7.1 \\x1b[2J\\x1b]0;owned\\x07 no | entry\\xff\\rX\n"),
        "{out}"
    );
    assert!(out.contains("S: 554 5.7.1 \\x1b[2J\\x1b]0;owned\\x07 no | entry\u{fffd}\\rX\n"), "the transcript: {out}");

    let up = hostile_up();
    let out = human(&up, 0);
    assert_no_controls(&out);
    assert!(out.contains("  greeting         0.0 ms  220 mx.test \\x1b[31mred\\x1b[0m \\x07ready\n"), "{out}");
    assert!(out.contains("SIZE\\x1b[1m 1000"), "capabilities are escaped: {out}");
    assert!(out.contains("  ehlo             0.0 ms  250 mx.test (+2 lines)\n"), "{out}");
    // With -v every reply line is shown, a long one whole.
    let verbose = human(&up, 1);
    assert!(verbose.contains(&format!("    {}\n", "x".repeat(2000))), "{verbose}");

    // Without -v, a long first line is cut to MAX_REPLY_CHARS.
    let long = probe(vec![ServerStep::Send(format!("220 {}\r\n", "z".repeat(1500)).into_bytes()), expect("EHLO")]);
    let out = human(&long, 0);
    let cut = format!("{}… ({} more characters)", "z".repeat(MAX_REPLY_CHARS), 1500 - MAX_REPLY_CHARS);
    assert!(out.contains(&format!("< 220 {cut}")) || out.contains(&format!("  220 {cut}")), "{out}");
}

#[test]
fn nagios_output_escapes_pipes_and_controls() {
    let report = hostile_refusal();
    let out = nagios(&report);
    assert_no_controls(&out);
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "SMTP CRITICAL - 192.0.2.25:25 down: greeting_rejected (greeting): the server refused the connection in \
         its greeting: 554 5.7.1 \\x1b[2J\\x1b]0;owned\\x07 no ¦ entry\u{fffd}\\rX|'time'=0.000000s;;;0; \
         'greeting'=0.000000s;;;0; 'quit'=0.000000s;;;0;"
    );
    for line in lines {
        assert!(!line.contains('|'), "long output must not start perfdata: {line}");
    }

    // An item's text is cut, so the perfdata after it survives a monitoring system's output limit.
    let long = "y".repeat(2000); // under the core's line limit (2048)
    let refused = probe(vec![ServerStep::Send(format!("554 {long}\r\n").into_bytes())]);
    let status = nagios(&refused).lines().next().unwrap().to_owned();
    let (text, perfdata) = status.split_once('|').unwrap();
    assert!(text.chars().count() < MAX_ITEM_CHARS + 100, "{}", text.chars().count());
    assert!(text.ends_with(" more characters)"), "{text}");
    assert!(perfdata.starts_with("'time'="), "{perfdata}");
}

#[test]
fn unknown_lines_are_escaped_too() {
    assert_eq!(smtp_probe_render::nagios_unknown("bad \x1b[2J | arg\n"), "SMTP UNKNOWN - bad \\x1b[2J ¦ arg\\n\n");
    assert_eq!(smtp_probe_render::nagios(&[], &NagiosOptions::default()), "SMTP UNKNOWN - nothing was probed\n");
}

#[test]
fn json_keeps_the_exact_text() {
    let report = hostile_up();
    let json: serde_json::Value =
        serde_json::from_str(&smtp_probe_render::json(&[Item::from(&report)], &JsonOptions::default())).unwrap();
    assert_eq!(json["greeting"]["lines"][0], "mx.test \x1b[31mred\x1b[0m \x07ready");
    assert_eq!(json["capabilities"]["plain"]["lines"][0], "x".repeat(2000));
    assert_eq!(json["capabilities"]["plain"]["lines"][1], "SIZE\x1b[1m 1000");

    let refused = hostile_refusal();
    let text = smtp_probe_render::json(&[Item::from(&refused)], &JsonOptions { pretty: true, array: true });
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Bare CR, ESC, BEL and | come back exactly; the byte that is not UTF-8 is the core's U+FFFD.
    assert_eq!(json[0]["greeting"]["lines"][0], "5.7.1 \x1b[2J\x1b]0;owned\x07 no | entry\u{fffd}\rX");
    assert!(!text.contains('\x1b') && !text.contains('\r'), "JSON escapes control characters itself");
}

#[test]
fn metrics_carry_no_server_text() {
    for report in [hostile_refusal(), hostile_up()] {
        let items = [Item::from(&report)];
        for text in [
            smtp_probe_render::prometheus(&items, report.started_at),
            smtp_probe_render::openmetrics(&items, report.started_at),
        ] {
            assert_no_controls(&text);
            for needle in ["owned", "red", "xxxx", "SIZE", "entry"] {
                assert!(!text.contains(needle), "{needle} in\n{text}");
            }
        }
    }
}
