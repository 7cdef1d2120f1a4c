//! The serialized report is the documented JSON shape: every kind of report the probe makes (and every kind of round
//! trip) validates against `schema/report.schema.json`, the fields carry what `JSON-SCHEMA.md` says they do, and the
//! vocabularies (causes, phases) are the same in the code, the schema and the document.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};
use smtp_probe_proto::connect::{ConnectFailure, Dial, Dialer};
use smtp_probe_proto::imap::{MailboxConfig, MailboxOutput, MailboxProbe, MailboxReport};
use smtp_probe_proto::mx::{MxAnswer, MxPlan, MxRecord, MxReport};
use smtp_probe_proto::roundtrip::{RoundTripStart, RoundTripTimings};
use smtp_probe_proto::testing::{ServerStep, expect, wall_start};
use smtp_probe_proto::{
    AddressFamily, Cause, CertificateInfo, CertificateProblem, Domain, Phase, Report, RoundTripConfig, RoundTripReport,
    Secret, Target, TlsFailure, TlsInfo, TlsMode, Verdict,
};

fn schema() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/report.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn document() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/JSON-SCHEMA.md")).unwrap()
}

#[track_caller]
fn assert_valid(value: &Value) {
    assert_valid_against(&schema(), value);
}

/// Validates against one definition of the schema (`round_trip_report`) rather than the command's output.
#[track_caller]
fn assert_valid_as(definition: &str, value: &Value) {
    let mut schema = schema();
    let root = schema.as_object_mut().expect("an object");
    root.remove("oneOf");
    root.insert("$ref".into(), json!(format!("#/$defs/{definition}")));
    assert_valid_against(&schema, value);
}

#[track_caller]
fn assert_valid_against(schema: &Value, value: &Value) {
    let validator = jsonschema::validator_for(schema).expect("a valid JSON Schema");
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
}

fn certificate(days_left: i64) -> CertificateInfo {
    CertificateInfo {
        position: 0,
        subject: "CN=mx.example.com".into(),
        issuer: "CN=Example CA".into(),
        sans: vec!["DNS:mx.example.com".into()],
        sans_omitted: 0,
        serial: "01".into(),
        not_before: "2025-01-01T00:00:00Z".into(),
        not_before_unix: 1_735_689_600,
        not_after: "2026-03-01T00:00:00Z".into(),
        not_after_unix: 1_772_323_200,
        days_left,
        seconds_left: days_left * 86_400,
        key_algorithm: "id-ecPublicKey prime256v1".into(),
        signature_algorithm: "ecdsa-with-SHA256".into(),
        sha256: "ab".repeat(32),
    }
}

/// A STARTTLS probe with a verified certificate, AUTH and an envelope: nearly every field filled.
fn full_report() -> Report {
    let config = with_auth(builder(TlsMode::StartTlsRequired)).mail_from(USER).rcpt_to("a@example.com").build();
    let tls = TlsInfo {
        sni: Some(TARGET.into()),
        verified_name: Some(TARGET.into()),
        handshake: ms(3),
        certificates: vec![certificate(59), certificate(400)],
        ..tls13()
    };
    let script = vec![
        line("220 mx.example.com ESMTP"),
        expect("EHLO"),
        lines(&["250-mx.example.com", "250-SIZE 1000", "250-X-UNKNOWN-KEYWORD 1", "250 STARTTLS"]),
        expect("STARTTLS"),
        line("220 2.0.0 go ahead"),
        ServerStep::TlsEstablished(tls),
        expect("EHLO"),
        lines(&["250-mx.example.com", "250 AUTH PLAIN LOGIN"]),
        expect("AUTH"),
        line("235 2.7.0 ok"),
        expect("MAIL"),
        line("250 2.1.0 ok"),
        expect("RCPT"),
        line("250 2.1.5 ok"),
        expect("RSET"),
        line("250 2.0.0 ok"),
        expect("QUIT"),
        line("221 2.0.0 bye"),
    ];
    let (report, _) = run_whole(&config.unwrap(), start(), &script);
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    report
}

#[test]
fn a_full_report_is_the_documented_object() {
    let report = full_report();
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!(value["target"], "mx.example.com:25");
    assert_eq!(value["verdict"], "up");
    assert_eq!(value["cause"], Value::Null);
    assert_eq!(value["summary"], report.summary());
    assert_eq!(value["started_at"], "2026-01-01T00:00:00.000Z", "the harness's wall time, RFC 3339");
    assert_eq!(value["resolve_ms"], Value::Null);
    let phases: Vec<&str> = value["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(
        phases,
        ["greeting", "ehlo", "starttls", "tls_handshake", "ehlo_tls", "auth", "mail_from", "rcpt_to", "rset", "quit"]
    );
    assert_eq!(value["phases"][5]["command"], "AUTH PLAIN <redacted>", "credentials stay redacted");
    assert_eq!(value["phases"][7]["reply"], json!({ "code": 250, "enhanced": "2.1.5", "lines": ["2.1.5 ok"] }));
    let plain = &value["capabilities"]["plain"];
    assert_eq!(plain["keywords"], json!(["STARTTLS", "SIZE", "X-UNKNOWN-KEYWORD"]), "typed ones first, then unknown");
    assert_eq!(
        (plain["size"].as_u64(), &value["capabilities"]["tls"]["auth"]),
        (Some(1000), &json!(["PLAIN", "LOGIN"]))
    );
    let tls = &value["tls"];
    assert_eq!((tls["version"].as_str(), tls["verified"].as_bool()), (Some("TLSv1.3"), Some(true)));
    assert_eq!((tls["handshake_ms"].as_f64(), tls["chain"].as_array().unwrap().len()), (Some(3.0), 2));
    assert_eq!(tls["chain_earliest_days_left"], 59);
    assert_eq!(tls["leaf"]["subject"], "CN=mx.example.com");
    assert!(tls["leaf"].get("seconds_left").is_none(), "not part of the shape");
    let transcript = value["transcript"].as_array().expect("recorded, so present");
    assert!(transcript.iter().any(|l| l["direction"] == "client" && l["text"] == "AUTH PLAIN <redacted>"));
    assert!(!value.to_string().contains(PASSWORD));
}

#[test]
fn every_kind_of_report_validates() {
    // Down at the certificate, with its details; no transcript recorded, so none serialized.
    let config = builder(TlsMode::Implicit).transcript(false).build().unwrap();
    let failure = TlsFailure::Certificate {
        problem: CertificateProblem::Other("BadSignature".into()),
        info: Box::new(TlsInfo { verify_error: Some(CertificateProblem::Expired), ..tls13() }),
    };
    let (report, _) = run_whole(&config, start(), &[ServerStep::TlsFailed(failure)]);
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!((value["verdict"].as_str(), value["cause"].as_str()), (Some("down"), Some("certificate_invalid")));
    assert_eq!(value["tls"]["verify_error"], "expired");
    assert_eq!(value["phases"][0]["phase"], "tls_handshake", "a failed handshake is a phase too");
    assert!(value.get("transcript").is_none());

    // Degraded by a 4xx, after a timed-out reply to nothing.
    let config = builder(TlsMode::None).build().unwrap();
    let (report, _) = run_whole(&config, start(), &[line("421 4.3.2 busy"), expect("QUIT"), line("221 bye")]);
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!(value["cause"], "temporary_failure");

    // Decided before any conversation, with the adapter's timings.
    let mut report = Report::without_session(
        "mx.example.com:25",
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_250),
        Cause::DnsFailure,
        Phase::Resolve,
        "mx.example.com: no such host",
    );
    report.resolve = Some(Duration::from_micros(1500));
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!(value["started_at"], "2026-01-01T00:00:00.250Z");
    assert_eq!(value["resolve_ms"], 1.5);
    assert_eq!(value["phases"], json!([{ "phase": "resolve", "command": null, "duration_ms": 1.5, "reply": null }]));
}

#[test]
fn mx_reports_validate() {
    let domain: Domain = "example.com".parse().unwrap();
    let plan = MxPlan::new(&domain, MxAnswer::Records(vec![MxRecord::new(10, "mx1.example.com.")]));
    let MxPlan::Probe(probe) = plan else { panic!("one host to probe") };
    let host_report = full_report();
    let report = probe.finish(vec![vec![host_report]]);
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!((value["mx"].as_str(), value["verdict"].as_str()), (Some("example.com"), Some("up")));
    assert_eq!(value["hosts"][0]["reports"][0]["target"], "mx.example.com:25");

    let null = MxPlan::new(&domain, MxAnswer::Records(vec![MxRecord::new(0, ".")]));
    let MxPlan::Done(report) = null else { panic!("nothing to probe") };
    let value = serde_json::to_value(&report).unwrap();
    assert_valid(&value);
    assert_eq!((value["null_mx"].as_bool(), value["hosts"].as_array().map(Vec::len)), (Some(true), Some(0)));
    assert_valid(&serde_json::to_value(MxReport::lookup_failed(&domain, "SERVFAIL")).unwrap());
}

#[test]
fn domain_reports_validate() {
    use smtp_probe_proto::domain::fetch::{FetchError, PolicyFetchReport};
    use smtp_probe_proto::domain::{
        Answer, DnssecStatus, DomainOptions, DomainParts, DomainReport, RecordLookup, RecordType,
    };
    use smtp_probe_proto::policy::mta_sts::MtaStsPolicy;

    let domain: Domain = "example.com".parse().unwrap();
    let plan = MxPlan::new(&domain, MxAnswer::Records(vec![MxRecord::new(10, "mx1.example.com.")]));
    let MxPlan::Probe(probe) = plan else { panic!("one host to probe") };
    let mx = probe.finish(vec![vec![full_report()]]);
    let txt = |name: &str, records: &[&str]| {
        let answer = Answer::Records(records.iter().map(|r| (*r).to_owned()).collect());
        RecordLookup::new(name, RecordType::Txt, DnssecStatus::Secure, answer)
    };
    let mx_lookup = RecordLookup::new(
        "example.com",
        RecordType::Mx,
        DnssecStatus::Secure,
        Answer::Records(vec!["10 mx1.example.com.".into()]),
    );
    let parts = |fetch: Result<MtaStsPolicy, FetchError>| {
        let mut parts = DomainParts::new(
            domain.clone(),
            SystemTime::UNIX_EPOCH,
            mx_lookup.clone(),
            mx.clone(),
            txt("_mta-sts.example.com", &["v=STSv1; id=20240101"]),
            RecordLookup::new("_smtp._tls.example.com", RecordType::Txt, DnssecStatus::Insecure, Answer::NxDomain),
            txt("_dmarc.example.com", &["v=DMARC1; p=none; rua=mailto:d@example.com"]),
            1_700_000_000,
        );
        let mut report = PolicyFetchReport::failed("example.com", FetchError::Closed, Duration::from_millis(3));
        report.outcome = fetch;
        report.status = Some(200);
        parts.policy_fetch = Some(report);
        parts.tlsa = vec![RecordLookup::new(
            "_25._tcp.mx1.example.com",
            RecordType::Tlsa,
            DnssecStatus::Indeterminate,
            Answer::Failed("SERVFAIL".into()),
        )];
        parts
    };
    let policy = MtaStsPolicy::parse(b"version: STSv1\nmode: testing\nmx: *.example.com\nmax_age: 3600\n").unwrap();
    for fetch in [
        Ok(policy),
        Err(FetchError::Redirect { status: 301, location: "https://x/".into() }),
        Err(FetchError::TooLarge),
    ] {
        let report = DomainReport::assemble(parts(fetch), DomainOptions::default());
        let value = serde_json::to_value(&report).unwrap();
        assert_valid(&value);
        assert_valid(&json!([value, serde_json::to_value(&report.mx).unwrap()]));
        assert_eq!(value["domain"], "example.com");
        assert_eq!(value["records"][0]["dnssec"], "secure");
        assert_eq!(value["records"][4]["answer"], json!({ "result": "failed", "data": "SERVFAIL" }));
    }
}

// ---- round trips ------------------------------------------------------------------------------------------------

const MAILBOX_USER: &str = "inbox@example.com";

fn round_trip_config(deadline: Duration) -> RoundTripConfig {
    let submit = builder(TlsMode::None).mail_from(USER).rcpt_to(MAILBOX_USER).build().unwrap();
    let mailbox =
        MailboxConfig::builder(Target::new("imap.example.com", 143).unwrap(), MAILBOX_USER, Secret::new(PASSWORD))
            .tls(TlsMode::None)
            .allow_plaintext_login(true)
            .junk_folder("Junk")
            .build()
            .unwrap();
    RoundTripConfig::builder(submit, mailbox).deadline(deadline).cleanup_time(Duration::from_secs(2)).build().unwrap()
}

/// The submission of `run` against a scripted server: accepted with a queue id, or refused at RCPT.
fn submit(config: &RoundTripConfig, run: &RoundTripStart, accepted: bool) -> Report {
    let mut script = vec![
        line("220 mx.example.com ESMTP"),
        expect("EHLO"),
        lines(&["250-mx.example.com", "250 SIZE 10240000"]),
        expect("MAIL"),
        line("250 2.1.0 ok"),
        expect("RCPT"),
    ];
    if accepted {
        script.extend([
            line("250 2.1.5 ok"),
            expect("DATA"),
            line("354 go ahead"),
            expect("<message>"),
            line("250 2.0.0 Ok: queued as 4XyZ1r2abc"),
        ]);
    } else {
        script.push(line("550 5.1.1 <inbox@example.com>: User unknown"));
    }
    script.extend([expect("QUIT"), line("221 2.0.0 bye")]);
    let (report, _) = run_whole(&config.submit_config(run, run.at), run.at, &script);
    report
}

/// A scripted IMAP server: logs in, selects, and finds the message (when `delivered`) in the inbox on the second
/// round (the first searched the inbox and the junk folder).
fn imap_answer(line: &str, token: &str, delivered: bool, searches: &mut u32) -> String {
    let (tag, command) = line.split_once(' ').unwrap();
    let verb: String = command.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let headers = format!(
        "Received: from mx.example.com by imap.example.com with LMTP id 9Abc;\r\n\tThu, 01 Jan 2026 00:00:02 +0000\r\n\
         Received: from [192.0.2.7] by mx.example.com (Postfix) with ESMTPSA id 4XyZ1r2abc;\r\n\tThu, 01 Jan 2026 00:00:01 +0000\r\n\
         Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=example.org; dkim=none\r\n\
         Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nX-Smtp-Probe-Token: {token}\r\n\r\n"
    );
    match verb.as_str() {
        "AUTHENTICATE PLAIN" => format!("{tag} OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n"),
        v if v.starts_with("SELECT") => format!("* 1 EXISTS\r\n{tag} OK [READ-WRITE] Select completed\r\n"),
        "UID SEARCH" => {
            *searches += 1;
            let found = if delivered && *searches > 2 { " 7" } else { "" };
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
    }
}

/// The mailbox side of `run` against the scripted IMAP server, in simulated time: 2 ms per reply.
fn mailbox(
    config: &RoundTripConfig,
    run: &RoundTripStart,
    submitted: Option<&Report>,
    delivered: bool,
) -> MailboxReport {
    let mut now = run.at;
    let mut probe =
        MailboxProbe::new(config.mailbox().clone(), run.token.clone(), now, run.search_deadline, run.deadline);
    probe.handle_input(now, b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n");
    let mut searches = 0;
    loop {
        match probe.poll_output(now) {
            MailboxOutput::Transmit(bytes) => {
                let line = String::from_utf8(bytes).unwrap();
                now += Duration::from_millis(2);
                probe.handle_input(
                    now,
                    imap_answer(line.trim_end(), run.token.as_str(), delivered, &mut searches).as_bytes(),
                );
            }
            MailboxOutput::Timeout(at) => {
                now = at;
                probe.handle_timeout(now);
            }
            MailboxOutput::Ready => match submitted.and_then(|s| s.message_accepted) {
                Some(accepted) => probe.handle_accepted(now, now + accepted),
                None => probe.handle_abandon(now),
            },
            MailboxOutput::StartTls(_) => panic!("TLS is off here"),
            MailboxOutput::Done => break,
        }
    }
    let mut report = probe.into_report();
    report.address = Some("192.0.2.8:143".into());
    report.connect = Some(Duration::from_micros(850));
    report
}

fn round_trip(deadline: Duration, accepted: bool, delivered: bool) -> RoundTripReport {
    let config = round_trip_config(deadline);
    let run = RoundTripStart::new(&config, start(), wall_start(), 7);
    let submitted = submit(&config, &run, accepted);
    let mailbox = mailbox(&config, &run, Some(&submitted), delivered);
    let timings = RoundTripTimings {
        mailbox_ready: mailbox.ready,
        submit_started: mailbox.ready,
        submit: Some(submitted.total),
        accepted: submitted.message_accepted.map(|a| a + mailbox.ready.unwrap()),
        total: mailbox.total,
        ..RoundTripTimings::default()
    };
    RoundTripReport::assemble(&config, &run, Some(submitted), mailbox, timings)
}

#[test]
fn round_trip_reports_are_the_documented_object() {
    let report = round_trip(Duration::from_secs(20), true, true);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
    let value = serde_json::to_value(&report).unwrap();
    assert_valid_as("round_trip_report", &value);
    assert_eq!(value["token"], report.token.as_str());
    assert_eq!(value["summary"], report.summary());
    assert_eq!(value["started_at"], "2026-01-01T00:00:00.000Z", "the run's wall time, RFC 3339");
    assert!(value["end_to_end_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{}", value["end_to_end_ms"]);
    assert!(value["not_visible_after_ms"].as_f64().is_some(), "the first search missed");
    let delivery = &value["delivery"];
    assert_eq!((delivery["folder"].as_str(), delivery["queue_id"].as_str()), (Some("INBOX"), Some("4XyZ1r2abc")));
    assert_eq!(delivery["stored_at"], "2026-01-01T00:00:02.000Z");
    assert_eq!(delivery["hops"][0]["by"], "mx.example.com");
    assert_eq!(
        (delivery["hops"][0]["at"].as_str(), delivery["hops"][0]["delay_ms"].as_i64()),
        (Some("2026-01-01T00:00:01.000Z"), Some(1000))
    );
    assert_eq!(
        delivery["authentication"][0],
        json!({ "authserv_id": "mx.example.com", "method": "spf", "result": "pass", "details": "smtp.mailfrom=example.org" })
    );
    assert_eq!(value["submit"]["queue_id"], "4XyZ1r2abc", "the submission is a report object");
    let mailbox = &value["mailbox"];
    assert_eq!(mailbox["target"], "imap.example.com:143");
    let phases: Vec<&str> =
        mailbox["phases"].as_array().unwrap().iter().map(|p| p["phase"].as_str().unwrap()).collect();
    assert_eq!(phases[..4], ["imap_connect", "imap_greeting", "imap_login", "imap_select"]);
    assert_eq!(phases.last(), Some(&"imap_logout"));
    assert_eq!(mailbox["phases"][2]["command"], "a1 AUTHENTICATE PLAIN <redacted>", "credentials stay redacted");
    assert_eq!(mailbox["phases"][2]["status"], "OK");
    assert_eq!((mailbox["cleanup"].as_str(), mailbox["searches"].as_u64()), (Some("expunged"), Some(2)));
    assert_eq!(mailbox["message"]["internal_date"], "2026-01-01T00:00:02.000Z");
    assert!(mailbox["transcript"].as_array().is_some_and(|t| !t.is_empty()), "recorded, so present");
    assert!(!value.to_string().contains(PASSWORD));
}

#[test]
fn every_kind_of_round_trip_validates() {
    // Accepted, never seen: not delivered at the deadline.
    let lost = round_trip(Duration::from_secs(1), true, false);
    assert_eq!(lost.cause, Some(Cause::NotDelivered), "{}", lost.summary());
    let value = serde_json::to_value(&lost).unwrap();
    assert_valid_as("round_trip_report", &value);
    assert_eq!((value["delivery"].clone(), value["end_to_end_ms"].clone()), (Value::Null, Value::Null));
    assert_eq!(value["findings"][0]["phase"], "delivery");

    // Refused at RCPT: the mailbox logs out without searching.
    let refused = round_trip(Duration::from_secs(20), false, false);
    assert_eq!(refused.cause, Some(Cause::RecipientRejected), "{}", refused.summary());
    let value = serde_json::to_value(&refused).unwrap();
    assert_valid_as("round_trip_report", &value);
    assert_eq!((value["accepted_ms"].clone(), value["mailbox"]["searches"].as_u64()), (Value::Null, Some(0)));

    // The mailbox could not be reached: nothing was sent.
    let config = round_trip_config(Duration::from_secs(20));
    let run = RoundTripStart::new(&config, start(), wall_start(), 7);
    let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    assert!(matches!(dialer.poll(run.at), Dial::Resolve { .. }));
    dialer.handle_resolved(run.at, ["192.0.2.8".parse().unwrap()]);
    assert!(matches!(dialer.poll(run.at), Dial::Connect { .. }));
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    dialer.handle_connect_failed(run.at + Duration::from_micros(300), ConnectFailure::Io(refused));
    assert_eq!(dialer.poll(run.at + Duration::from_micros(300)), Dial::Done);
    let unreachable = dialer.into_report();
    let timings = RoundTripTimings { total: Duration::from_millis(1), ..RoundTripTimings::default() };
    let report = RoundTripReport::assemble(&config, &run, None, unreachable, timings);
    assert_eq!(report.cause, Some(Cause::MailboxUnavailable));
    let value = serde_json::to_value(&report).unwrap();
    assert_valid_as("round_trip_report", &value);
    assert_eq!(value["submit"], Value::Null);
    assert_eq!(value["mailbox"]["address"], "192.0.2.8:143");
    assert_eq!(
        value["mailbox"]["phases"],
        json!([{ "phase": "imap_connect", "command": null, "duration_ms": 0.3, "status": null, "text": null }])
    );
    assert!(value["mailbox"].get("transcript").is_none(), "nothing recorded, so absent");
}

#[test]
fn the_schema_and_the_document_name_every_cause_and_phase() {
    let schema = schema();
    let listed = |def: &str| -> Vec<String> {
        schema["$defs"][def]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect()
    };
    let causes: Vec<String> = Cause::ALL.iter().map(ToString::to_string).collect();
    let phases: Vec<String> = Phase::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(listed("cause"), causes);
    assert_eq!(listed("phase_name"), phases);
    let doc = document();
    for name in causes.iter().chain(&phases) {
        assert!(doc.contains(&format!("`{name}`")), "JSON-SCHEMA.md does not document {name}");
    }
}

#[test]
fn the_documented_examples_validate() {
    let doc = document();
    let examples: Vec<&str> =
        doc.split("```json\n").skip(1).map(|rest| rest.split("```").next().expect("a closed block")).collect();
    assert_eq!(examples.len(), 3, "a target example, an MX example and a round-trip example");
    for example in examples {
        let value: Value = serde_json::from_str(example).expect("the example is JSON");
        match value.get("token") {
            Some(_) => assert_valid_as("round_trip_report", &value),
            None => assert_valid(&value),
        }
    }
}

#[test]
fn names_read_back() {
    let read = |text: &str| -> Value { serde_json::from_str(text).unwrap() };
    assert_eq!(serde_json::from_value::<Verdict>(read(r#""degraded""#)).unwrap(), Verdict::Degraded);
    assert_eq!(serde_json::from_value::<Cause>(read(r#""starttls_unavailable""#)).unwrap(), Cause::StartTlsUnavailable);
    assert_eq!(serde_json::from_value::<Phase>(read(r#""tls_handshake""#)).unwrap(), Phase::TlsHandshake);
    assert_eq!(serde_json::from_value::<TlsMode>(read(r#""starttls_required""#)).unwrap(), TlsMode::StartTlsRequired);
    assert_eq!(serde_json::from_value::<AddressFamily>(read(r#""ipv6_only""#)).unwrap(), AddressFamily::Ipv6Only);
    let target: Target = serde_json::from_value(read(r#""submission://mail.example.com""#)).unwrap();
    assert_eq!((target.port(), target.tls_mode()), (587, Some(TlsMode::StartTlsRequired)));
    assert_eq!(serde_json::to_value(&target).unwrap(), "submission://mail.example.com:587", "scheme kept");
    let err = serde_json::from_value::<Target>(read(r#""mail.example.com:0""#)).unwrap_err();
    assert!(err.to_string().contains("invalid port"), "{err}");
    let err = serde_json::from_value::<Cause>(read(r#""mystery""#)).unwrap_err();
    assert!(err.to_string().contains("unknown cause \"mystery\""), "{err}");
    for value in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
        assert_eq!(serde_json::from_value::<Verdict>(serde_json::to_value(value).unwrap()).unwrap(), value);
    }
}
