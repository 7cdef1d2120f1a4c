//! Round trips through every format: the core's JSON (validated against the schema), metrics of the vocabulary
//! (through promtool and the OpenMetrics parser, with no server text in them), Nagios plugin output and the story
//! for people, with hostile mailbox text escaped everywhere it is shown.
//!
//! The reports are real: the core's SMTP probe against a scripted submission server and its IMAP client against a
//! scripted mailbox, in simulated time.

use std::time::{Duration, Instant};

use smtp_probe_proto::imap::{MailboxConfig, MailboxOutput, MailboxProbe, MailboxReport};
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::testing::{Harness, expect, send, wall_start};
use smtp_probe_proto::{
    Cause, ProbeConfig, Report, RoundTripConfig, RoundTripReport, Secret, Target, TlsMode, Verdict,
};
use smtp_probe_render::{HumanOptions, Item, JsonOptions, NagiosOptions};

const PASSWORD: &str = "imap-secret-pw";

/// What the scripted mailbox does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The message shows up in this folder on the second round.
    Delivered(&'static str),
    /// It never shows up.
    Lost,
    /// The login is refused: nothing is submitted.
    LoginRefused,
}

fn config() -> RoundTripConfig {
    let submit = ProbeConfig::builder("submission://smtp.example.org".parse().unwrap())
        .tls(TlsMode::None)
        .ehlo_name("probe.test")
        .mail_from("monitor@example.org")
        .rcpt_to("roundtrip@example.net")
        .transcript(true)
        .build()
        .unwrap();
    let mailbox =
        MailboxConfig::builder(Target::new("imap.example.net", 143).unwrap(), "roundtrip", Secret::new(PASSWORD))
            .tls(TlsMode::None)
            .allow_plaintext_login(true)
            .junk_folder("Junk")
            .build()
            .unwrap();
    RoundTripConfig::builder(submit, mailbox)
        .deadline(Duration::from_secs(3))
        .cleanup_time(Duration::from_secs(1))
        .delivery_time(Some(Duration::from_secs(2)), Some(Duration::from_secs(30)))
        .build()
        .unwrap()
}

/// The submission against a scripted server that accepts the message with a queue id.
fn submit(config: &RoundTripConfig, run: &RoundTripStart) -> Report {
    let script = vec![
        send("220 smtp.example.org ESMTP\r\n"),
        expect("EHLO"),
        send("250-smtp.example.org\r\n250 SIZE 10240000\r\n"),
        expect("MAIL"),
        send("250 2.1.0 ok\r\n"),
        expect("RCPT"),
        send("250 2.1.5 ok\r\n"),
        expect("DATA"),
        send("354 go ahead\r\n"),
        expect("<message>"),
        send("250 2.0.0 Ok: queued as 4XyZ1r2abc\r\n"),
        expect("QUIT"),
        send("221 2.0.0 bye\r\n"),
    ];
    Harness::new(config.submit_config(run, run.at), run.at, script).run()
}

/// A scripted IMAP server's answer to one command line.
fn imap_answer(
    line: &str,
    token: &str,
    outcome: Outcome,
    hostile: bool,
    selected: &mut String,
    searches: &mut u32,
) -> Vec<u8> {
    let (tag, command) = line.split_once(' ').unwrap();
    let verb: String = command.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let (by, result) = if hostile { ("mx\x1b[2J\x07.example.net", "pa\x1bss") } else { ("mx.example.net", "pass") };
    let headers = format!(
        "Received: from smtp.example.org by {by} with LMTP id 9Abc;\r\n\tThu, 01 Jan 2026 00:00:02 +0000\r\n\
         Received: from [192.0.2.7] by smtp.example.org (Postfix) with ESMTPSA id 4XyZ1r2abc;\r\n\tThu, 01 Jan 2026 00:00:01 +0000\r\n\
         Authentication-Results: {by}; spf={result} smtp.mailfrom=example.org; dkim=pass header.d=example.org;\r\n\
         \tdkim=pass header.d=example.net; dmarc=none\r\n\
         Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nX-Smtp-Probe-Token: {token}\r\n\r\n"
    );
    let text = match verb.as_str() {
        "AUTHENTICATE PLAIN" | "LOGIN \"roundtrip\"" if outcome == Outcome::LoginRefused => {
            format!("{tag} NO [AUTHENTICATIONFAILED] no\x1b]0;owned\x07 entry | for you\r\n")
        }
        "AUTHENTICATE PLAIN" => format!("{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n"),
        v if v.starts_with("SELECT") => {
            *selected = v.trim_start_matches("SELECT ").trim_matches('"').to_owned();
            format!("* 1 EXISTS\r\n{tag} OK [READ-WRITE] Select completed\r\n")
        }
        "UID SEARCH" => {
            if selected == "INBOX" {
                *searches += 1;
            }
            let found = match outcome {
                Outcome::Delivered(folder) if *searches > 1 && folder == selected => " 7",
                _ => "",
            };
            format!("* SEARCH{found}\r\n{tag} OK Search completed\r\n")
        }
        "UID FETCH" => format!(
            "* 2 FETCH (UID 7 INTERNALDATE \"01-Jan-2026 00:00:02 +0000\" RFC822.SIZE 640 BODY[HEADER] {{{}}}\r\n{headers})\r\n\
             {tag} OK Fetch completed\r\n",
            headers.len()
        ),
        "UID EXPUNGE" => format!("* 2 EXPUNGE\r\n{tag} OK Expunge completed\r\n"),
        "LOGOUT" => format!("* BYE Logging out\r\n{tag} OK Logout completed\r\n"),
        _ => format!("{tag} OK done\r\n"),
    };
    text.into_bytes()
}

/// A whole round trip in simulated time: 2 ms per IMAP reply, the submission in between.
fn roundtrip(outcome: Outcome, hostile: bool) -> RoundTripReport {
    let config = config();
    #[allow(clippy::disallowed_methods)] // a test may read the clock to find an instant to start from
    let at = Instant::now();
    let run = RoundTripStart::new(&config, at, wall_start(), 7);
    let mut now = run.at;
    let mut probe =
        MailboxProbe::new(config.mailbox().clone(), run.token.clone(), now, run.search_deadline, run.deadline);
    let greeting: &[u8] = if hostile {
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot\x1b[31m ready\xff\r\n"
    } else {
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] Dovecot ready\r\n"
    };
    probe.handle_input(now, greeting);
    let (mut selected, mut searches) = (String::new(), 0);
    let mut submitted = None;
    let mut timings = RoundTripTimings::default();
    let mailbox: MailboxReport = loop {
        match probe.poll_output(now) {
            MailboxOutput::Transmit(bytes) => {
                let line = String::from_utf8(bytes).unwrap();
                now += Duration::from_millis(2);
                let answer =
                    imap_answer(line.trim_end(), run.token.as_str(), outcome, hostile, &mut selected, &mut searches);
                probe.handle_input(now, &answer);
            }
            MailboxOutput::Timeout(deadline) => {
                now = deadline;
                probe.handle_timeout(now);
            }
            MailboxOutput::Ready => {
                let started = now - run.at;
                let report = submit(&config, &run);
                timings.mailbox_ready = Some(started);
                timings.submit_started = Some(started);
                timings.submit = Some(report.total);
                timings.accepted = RoundTripTimings::accepted_from(started, report.total, &report);
                now += report.total;
                match timings.accepted {
                    Some(accepted) => probe.handle_accepted(now, run.at + accepted),
                    None => probe.handle_abandon(now),
                }
                submitted = Some(report);
            }
            MailboxOutput::StartTls(_) => panic!("TLS is off here"),
            MailboxOutput::Done => break probe.into_report(),
        }
    };
    timings.total = now - run.at;
    RoundTripReport::assemble(&config, &run, submitted, mailbox, timings)
}

fn all() -> Vec<(&'static str, RoundTripReport)> {
    vec![
        ("up", roundtrip(Outcome::Delivered("INBOX"), false)),
        ("junk", roundtrip(Outcome::Delivered("Junk"), false)),
        ("lost", roundtrip(Outcome::Lost, false)),
        ("refused", roundtrip(Outcome::LoginRefused, true)),
        ("hostile", roundtrip(Outcome::Delivered("INBOX"), true)),
    ]
}

fn human(report: &RoundTripReport, verbose: u8, transcript: bool) -> String {
    smtp_probe_render::human(&[Item::from(report)], &HumanOptions { color: false, verbose, transcript })
}

fn nagios(report: &RoundTripReport) -> String {
    let options = NagiosOptions {
        verbose: true,
        transcript: true,
        delivery_time: (Some(Duration::from_secs(2)), Some(Duration::from_secs(30))),
        ..NagiosOptions::default()
    };
    smtp_probe_render::nagios(&[Item::from(report)], &options)
}

fn metrics(report: &RoundTripReport) -> String {
    smtp_probe_render::prometheus(&[Item::from(report)], wall_start())
}

/// No control character is left: only line feeds that end our own lines.
fn assert_no_controls(text: &str) {
    for line in text.lines() {
        assert!(!line.chars().any(char::is_control), "a control character got through: {line:?}");
    }
}

#[test]
fn the_scenarios_have_the_verdicts_they_are_named_for() {
    let verdicts: Vec<(&str, Verdict, Option<Cause>)> =
        all().iter().map(|(name, r)| (*name, r.verdict, r.cause)).collect();
    assert_eq!(
        verdicts,
        [
            ("up", Verdict::Up, None),
            ("junk", Verdict::Degraded, Some(Cause::DeliveredToJunk)),
            ("lost", Verdict::Down, Some(Cause::NotDelivered)),
            ("refused", Verdict::Down, Some(Cause::MailboxAuthFailed)),
            ("hostile", Verdict::Up, None),
        ]
    );
}

#[test]
fn json_is_the_core_serialization_and_matches_the_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-probe-proto/schema/report.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    for (name, report) in all() {
        let text = smtp_probe_render::json(&[Item::from(&report)], &JsonOptions::default());
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, serde_json::to_value(&report).unwrap(), "{name}: nothing is mapped in the renderer");
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert_eq!(value["submit_target"], "smtp.example.org:587", "{name}");
    }
    // With a target, an array of both kinds: the schema takes it.
    let probe = Report::without_session(
        "mx.example.org:25",
        wall_start(),
        Cause::ConnectRefused,
        smtp_probe_proto::Phase::Connect,
        "refused",
    );
    let report = roundtrip(Outcome::Delivered("INBOX"), false);
    let text = smtp_probe_render::json(&[Item::from(&probe), Item::from(&report)], &JsonOptions::default());
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(validator.is_valid(&value), "{value:#}");
    // JSON has what the core kept (header values with their control characters made visible by the core).
    let hostile = roundtrip(Outcome::Delivered("INBOX"), true);
    let value = serde_json::to_value(&hostile).unwrap();
    assert_eq!(value["delivery"]["authentication"][0]["result"], "pa\\u{1b}ss");
}

#[test]
fn metrics_pass_the_checkers_and_follow_the_verdict() {
    for (name, report) in all() {
        for (format, text) in [
            ("prometheus", metrics(&report)),
            ("openmetrics", smtp_probe_render::openmetrics(&[Item::from(&report)], wall_start())),
        ] {
            if format == "prometheus" {
                if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&text) {
                    checked.unwrap_or_else(|e| panic!("{name}: promtool: {e}\n{text}"));
                }
            } else if let Some(checked) = smtp_probe_testsuite::openmetrics::check(name, &text) {
                checked.unwrap_or_else(|e| panic!("{name}: OpenMetrics: {e}\n{text}"));
            }
            assert!(!text.contains('\x1b') && !text.contains('\x07'), "{name}: no server text in metrics:\n{text}");
        }
    }
    let labels = r#"submit="smtp.example.org:587",mailbox="imap.example.net:143""#;
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);

    let up = metrics(&all()[0].1);
    for line in [
        format!("smtp_probe_roundtrip_up{{{labels}}} 1"),
        format!("smtp_probe_roundtrip_verdict{{{labels},verdict=\"up\"}} 1"),
        format!("smtp_probe_roundtrip_folder{{{labels},folder=\"INBOX\"}} 1"),
        format!("smtp_probe_roundtrip_junk{{{labels}}} 0"),
        format!("smtp_probe_roundtrip_hops{{{labels}}} 2"),
        format!("smtp_probe_roundtrip_searches{{{labels}}} 2"),
        format!("smtp_probe_roundtrip_authentication_results{{{labels},method=\"dkim\",result=\"pass\"}} 2"),
        format!("smtp_probe_roundtrip_authentication_results{{{labels},method=\"spf\",result=\"pass\"}} 1"),
    ] {
        assert!(has(&up, &line), "missing {line}:\n{up}");
    }
    assert!(up.contains("smtp_probe_roundtrip_delivery_seconds{") && up.contains("phase=\"imap_search\""), "{up}");
    assert!(up.contains("phase=\"data\"") && up.contains("phase=\"imap_login\""), "both sides' phases:\n{up}");
    assert!(!up.contains("smtp_probe_up{"), "the submission is part of the round trip, not a probe of its own");
    assert!(!up.contains("smtp_probe_roundtrip_cause{"), "no cause when up");

    let junk = metrics(&all()[1].1);
    assert!(has(&junk, &format!("smtp_probe_roundtrip_junk{{{labels}}} 1")), "{junk}");
    assert!(has(&junk, &format!("smtp_probe_roundtrip_cause{{{labels},cause=\"delivered_to_junk\"}} 1")), "{junk}");
    assert!(has(&junk, &format!("smtp_probe_roundtrip_up{{{labels}}} 1")), "degraded still delivers");

    let lost = metrics(&all()[2].1);
    assert!(has(&lost, &format!("smtp_probe_roundtrip_up{{{labels}}} 0")), "{lost}");
    assert!(!lost.contains("smtp_probe_roundtrip_delivery_seconds{") && !lost.contains("_folder{"), "{lost}");
    assert!(has(&lost, &format!("smtp_probe_roundtrip_searches{{{labels}}} 7")), "how long it was looked for: {lost}");

    let refused = metrics(&all()[3].1);
    assert!(has(&refused, &format!("smtp_probe_roundtrip_cause{{{labels},cause=\"mailbox_auth_failed\"}} 1")));
    assert!(!refused.contains("smtp_probe_roundtrip_submit_seconds{"), "nothing was submitted:\n{refused}");

    // A result outside the vocabulary is `other`: the header's text never reaches a label.
    let hostile = metrics(&all()[4].1);
    assert!(hostile.contains("method=\"spf\",result=\"other\"} 1"), "{hostile}");
}

#[test]
fn nagios_has_a_status_line_with_perfdata_and_escapes_server_text() {
    let number = r"-?[0-9]+(?:\.[0-9]+)?";
    let item = format!(r"'[^'=]+'=({number})(s)?;({number})?;({number})?;({number})?;({number})?");
    let status = regex::Regex::new(r"^SMTP (OK|WARNING|CRITICAL) - ([^|\n]+)\|(.*)$").unwrap();
    let perfdata = regex::Regex::new(&format!("^{item}(?: {item})*$")).unwrap();
    for (name, report) in all() {
        let out = nagios(&report);
        let first = out.lines().next().unwrap();
        let caps = status.captures(first).unwrap_or_else(|| panic!("{name}: bad status line {first:?}"));
        assert_eq!(&caps[1], ["OK", "WARNING", "CRITICAL"][report.verdict as usize], "{name}: {first}");
        assert!(perfdata.is_match(&caps[3]), "{name}: bad perfdata {first}");
        assert!(caps[2].starts_with("roundtrip smtp.example.org:587 → imap.example.net:143 "), "{first}");
        assert_no_controls(&out);
        assert_eq!(first.matches('|').count(), 1, "{name}: {first}");
    }
    let up = nagios(&all()[0].1);
    assert!(
        up.starts_with("SMTP OK - roundtrip smtp.example.org:587 → imap.example.net:143 up: delivered to INBOX in ")
    );
    assert!(up.contains("(queued as 4XyZ1r2abc)|'delivery'="), "{up}");
    assert!(up.contains("s;2.000000;30.000000;0; 'submit'="), "the delivery thresholds as ranges: {up}");
    assert!(up.contains(" 'searches'=2;;;0;"), "{up}");
    assert!(up.contains("C: a2 AUTHENTICATE PLAIN <redacted>") || up.contains("<redacted>"), "{up}");
    assert!(!up.contains(PASSWORD), "{up}");
    let lost = nagios(&all()[2].1);
    assert!(lost.starts_with("SMTP CRITICAL - ") && lost.contains("not_delivered (delivery)"), "{lost}");
    assert!(lost.contains("(queued as 4XyZ1r2abc)|"), "the queue id, to look for in the logs: {lost}");
    assert!(!lost.contains("'delivery'="), "no delivery time when nothing arrived: {lost}");
    let refused = nagios(&all()[3].1);
    assert!(refused.contains("mailbox_auth_failed") && refused.contains("¦ for you"), "{refused}");
    assert!(refused.contains("no\\u{1b}]0;owned\\u{7} entry"), "the server's escape sequence, made visible: {refused}");
}

#[test]
fn human_output_tells_the_story() {
    let up = human(&all()[0].1, 0, false);
    let lines: Vec<&str> = up.lines().collect();
    assert!(
        lines[0].starts_with("roundtrip smtp.example.org:587 → imap.example.net:143  UP  delivered to INBOX in "),
        "{up}"
    );
    for part in [
        "  token        smtp-probe-",
        "  mailbox      logged in to imap.example.net:143 in ",
        "  submitted    smtp.example.org:587 in ",
        "  accepted     ",
        " into the run, queued as 4XyZ1r2abc",
        "  delivered    to INBOX, visible ",
        " after acceptance (not yet at ",
        "; 2 searches)",
        "  cleanup      expunged",
        "  hops          1  192.0.2.7 → smtp.example.org  ESMTPSA  id 4XyZ1r2abc  +1 s",
        "                2  smtp.example.org → mx.example.net  LMTP  id 9Abc  +1 s",
        "  auth results mx.example.net: spf=pass dkim=pass dkim=pass dmarc=none",
    ] {
        assert!(up.contains(part), "missing {part:?}:\n{up}");
    }
    assert!(!up.contains("findings") && !up.contains("transcript"), "{up}");

    let junk = human(&all()[1].1, 0, false);
    assert!(junk.contains("DEGRADED  delivered_to_junk (delivery)") && junk.contains("to Junk (junk)"), "{junk}");
    let lost = human(&all()[2].1, 0, false);
    assert!(lost.contains("DOWN  not_delivered (delivery)") && lost.contains("not found: "), "{lost}");
    let refused = human(&all()[3].1, 0, false);
    assert!(refused.contains("DOWN  mailbox_auth_failed (imap_login)"), "{refused}");
    assert!(refused.contains("submitted    nothing: the mailbox was not ready"), "{refused}");

    let verbose = human(&all()[0].1, 1, true);
    for part in ["── submission ──", "smtp.example.org:587  UP", "── mailbox ──", "imap_login", "<redacted>"]
    {
        assert!(verbose.contains(part), "missing {part:?}:\n{verbose}");
    }
    assert!(verbose.contains("transcript   submission smtp.example.org:587"), "{verbose}");
    assert!(verbose.contains("transcript   mailbox imap.example.net:143"), "{verbose}");
    assert!(!verbose.contains(PASSWORD), "{verbose}");
}

#[test]
fn human_output_escapes_every_server_text() {
    for (name, report) in all() {
        for (verbose, transcript) in [(0, false), (2, true)] {
            let text = human(&report, verbose, transcript);
            assert_no_controls(&text);
            assert!(!text.contains(PASSWORD), "{name}");
        }
    }
    let hostile = human(&all()[4].1, 2, true);
    assert!(hostile.contains("auth results mx\\u{1b}[2J\\u{7}.example.net: spf=pa\\u{1b}ss"), "{hostile}");
    assert!(hostile.contains("Dovecot\\u{1b}[31m ready"), "the greeting: {hostile}");
}

#[test]
fn a_round_trip_among_other_checks() {
    let probe = Report::without_session(
        "mx.example.org:25",
        wall_start(),
        Cause::ConnectRefused,
        smtp_probe_proto::Phase::Connect,
        "refused",
    );
    let report = roundtrip(Outcome::Delivered("Junk"), false);
    let items = [Item::from(&probe), Item::from(&report)];
    assert_eq!(smtp_probe_render::worst_verdict(&items), Some(Verdict::Down));
    let text = smtp_probe_render::human(&items, &HumanOptions::default());
    assert!(text.ends_with("2 checks (1 target, 1 round trip): 0 up, 1 degraded, 1 down\n"), "{text}");
    let metrics = smtp_probe_render::prometheus(&items, wall_start());
    assert!(metrics.contains("smtp_probe_up{target=\"mx.example.org:25\"} 0") && metrics.contains("roundtrip_up{"));
    if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(&metrics) {
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{metrics}"));
    }
    let nagios = smtp_probe_render::nagios(&items, &NagiosOptions::default());
    assert!(nagios.starts_with("SMTP CRITICAL - 2 of 2 checks not up: mx.example.org:25 down"), "{nagios}");
    assert!(nagios.contains("'roundtrip smtp.example.org:587 imap.example.net:143 delivery'="), "{nagios}");
}
