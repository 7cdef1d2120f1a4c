//! The serialized report is the documented JSON shape: every kind of report the probe makes validates against
//! `schema/report.schema.json`, the fields carry what `JSON-SCHEMA.md` says they do, and the vocabularies (causes,
//! phases) are the same in the code, the schema and the document.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};
use smtp_probe_proto::mx::{MxAnswer, MxPlan, MxRecord, MxReport};
use smtp_probe_proto::testing::{ServerStep, expect};
use smtp_probe_proto::{
    AddressFamily, Cause, CertificateInfo, CertificateProblem, Domain, Phase, Report, Target, TlsFailure, TlsInfo,
    TlsMode, Verdict,
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
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
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
    assert_eq!(examples.len(), 2, "a target example and an MX example");
    for example in examples {
        assert_valid(&serde_json::from_str(example).expect("the example is JSON"));
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
