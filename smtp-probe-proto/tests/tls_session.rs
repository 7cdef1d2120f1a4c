//! The in-memory TLS `Session` against a real (rustls) in-memory SMTP server, over STARTTLS and implicit TLS:
//! certificate verdicts and details, pins, inspect-only mode, IP targets, handshake failures told apart from
//! certificate failures, the handshake deadline, and the implicit-TLS greeting arriving with the handshake.

#[path = "support/tls_server.rs"]
mod tls_server;

use std::sync::Arc;
use std::time::Duration;

use rustls::SupportedProtocolVersion;

use smtp_probe_proto::{
    AuthMechanism, Cause, CertificateProblem, Direction, Finding, Phase, PolicyMode, PolicyOutcome, ProbeConfig,
    ProbeConfigBuilder, ReplyLimits, Report, Secret, Session, SessionOutput, Severity, Timeouts, TlsConfig, TlsMode,
    TlsPolicy, Verdict,
};
use tls_server::{
    Ca, DAY, LATENCY, Leaf, Mode, OnHello, PASSWORD, Reads, Run, Server, ServerTls, USER, drive, rfc3339, sha256_hex,
    start, wall, wall_unix,
};

const TARGET: &str = "mx.test";
const CA_NAME: &str = "smtp-probe test CA";
static TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

// ---- helpers ------------------------------------------------------------------------------------------------------

fn builder(mode: Mode, target: &str) -> ProbeConfigBuilder {
    let tls = match mode {
        Mode::StartTls => TlsMode::StartTlsRequired,
        Mode::Implicit => TlsMode::Implicit,
    };
    ProbeConfig::builder(target.parse().unwrap()).tls(tls).ehlo_name("probe.test")
}

/// Trust only the test CA.
fn trusting(ca: &Ca) -> TlsConfig {
    TlsConfig::builder().webpki_roots(false).add_ca_pem("test CA", ca.pem().as_bytes()).unwrap().build().unwrap()
}

/// A valid leaf for `mx.test` and `127.0.0.1`: issued 30 days ago, 60 days left.
fn valid_leaf(ca: &Ca) -> Leaf {
    ca.leaf(&["mx.test", "127.0.0.1"], -30 * DAY, 60 * DAY)
}

fn run(mode: Mode, config: ProbeConfig, tls: &ServerTls) -> Run {
    run_with(config, Server::new(mode, tls), Reads::Whole)
}

fn run_with(config: ProbeConfig, server: Server, reads: Reads) -> Run {
    let start = start();
    drive(Session::new(config, start, wall()), server, start, reads)
}

fn phases(report: &Report) -> Vec<Phase> {
    report.steps.iter().map(|s| s.phase).collect()
}

fn finding(report: &Report, cause: Cause) -> &Finding {
    report.findings.iter().find(|f| f.cause == Some(cause)).unwrap_or_else(|| panic!("no {cause} in {report:#?}"))
}

fn assert_outcome(report: &Report, verdict: Verdict, cause: Option<Cause>) {
    assert_eq!((report.verdict, report.cause), (verdict, cause), "findings: {:#?}", report.findings);
}

/// The probe stopped at the handshake: nothing after it was sent, and the server never saw a command inside TLS.
/// The failed handshake is the last step, with its time.
fn assert_stopped_at_handshake(run: &Run, mode: Mode) {
    let expected: &[Phase] = match mode {
        Mode::StartTls => &[Phase::Greeting, Phase::Ehlo, Phase::StartTls, Phase::TlsHandshake],
        Mode::Implicit => &[Phase::TlsHandshake],
    };
    assert_eq!(phases(&run.report), expected);
    let handshake = run.report.steps.last().expect("the handshake step");
    assert_eq!((handshake.command.as_ref(), handshake.reply.as_ref()), (None, None));
    assert!(handshake.duration <= run.report.total, "{handshake:?}");
    assert!(run.server.received.iter().all(|r| !r.tls), "{:?}", run.server.received);
    assert!(run.report.greeting.is_some() == (mode == Mode::StartTls));
    assert_eq!(run.report.capabilities_tls, None);
}

/// The certificate was refused: down, certificate_invalid at the handshake, the leaf's details reported anyway.
fn assert_certificate_refused(run: &Run, mode: Mode, problem: CertificateProblem, leaf: &Leaf) -> String {
    let report = &run.report;
    assert_outcome(report, Verdict::Down, Some(Cause::CertificateInvalid));
    let f = finding(report, Cause::CertificateInvalid);
    assert_eq!((f.severity, f.phase), (Severity::Critical, Some(Phase::TlsHandshake)));
    let tls = report.tls.as_ref().expect("certificate details even though the handshake failed");
    assert!(!tls.verified);
    assert_eq!(tls.verify_error, Some(problem));
    assert_eq!(tls.sni.as_deref(), Some(TARGET));
    assert_eq!(tls.verified_name.as_deref(), Some(TARGET));
    let presented = tls.leaf().expect("the leaf is reported");
    assert_eq!(presented.sha256, leaf.sha256());
    assert!(!run.server.handshake_done(), "the client must abort the handshake");
    assert!(
        matches!(run.server.tls_error, Some(rustls::Error::AlertReceived(_))),
        "the client tells the server with an alert: {:?}",
        run.server.tls_error
    );
    assert_stopped_at_handshake(run, mode);
    f.message.clone()
}

/// A handshake failure, not a certificate failure.
fn assert_handshake_failed(run: &Run, mode: Mode) -> String {
    let report = &run.report;
    assert_outcome(report, Verdict::Down, Some(Cause::TlsHandshakeFailed));
    assert!(report.findings.iter().all(|f| f.cause != Some(Cause::CertificateInvalid)), "{:#?}", report.findings);
    assert!(report.tls.as_ref().is_none_or(|t| t.verify_error.is_none()), "{:#?}", report.tls);
    let f = finding(report, Cause::TlsHandshakeFailed);
    assert_eq!((f.severity, f.phase), (Severity::Critical, Some(Phase::TlsHandshake)));
    assert_stopped_at_handshake(run, mode);
    f.message.clone()
}

macro_rules! both_modes {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[test]
            fn starttls() {
                super::$case(super::Mode::StartTls);
            }

            #[test]
            fn implicit() {
                super::$case(super::Mode::Implicit);
            }
        }
    )*};
}

both_modes!(
    valid_certificate,
    valid_certificate_fed_one_byte_at_a_time,
    tls12_server,
    wrong_password,
    expired_certificate,
    wrong_name,
    untrusted_issuer,
    not_yet_valid,
    nearly_expiring,
    inspect_only,
    pinning,
    pin_does_not_excuse_a_wrong_name,
    ip_target,
    trailing_dot_target,
    garbage_instead_of_tls,
    close_during_handshake,
    no_common_cipher_suite,
    silent_during_handshake,
    handshake_deadline_cut_by_overall_deadline,
    greeting_in_the_handshake_read,
);

// ---- 1. a valid certificate ---------------------------------------------------------------------------------------

fn valid_certificate(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let mut server_tls = ServerTls::new(leaf.clone());
    server_tls.send_ca = true;
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).auth(USER, Secret::new(PASSWORD)).build().unwrap();
    let run = run(mode, config, &server_tls);
    let report = &run.report;
    assert_outcome(report, Verdict::Up, None);

    let tls = report.tls.as_ref().expect("TLS details");
    assert!(tls.verified);
    assert_eq!(tls.verify_error, None);
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(tls.cipher.as_deref().is_some_and(|c| c.starts_with("TLS13_")), "{:?}", tls.cipher);
    assert_eq!(tls.sni.as_deref(), Some("mx.test"));
    assert_eq!(run.server.sni.as_deref(), Some("mx.test"), "the SNI the server received");
    assert_eq!(tls.verified_name.as_deref(), Some("mx.test"));
    // One round trip: the ClientHello out, the server's flight back.
    assert_eq!(tls.handshake, LATENCY);

    assert_eq!(tls.certificates.len(), 2, "leaf and CA, as sent");
    let l = tls.leaf().unwrap();
    assert_eq!(l.subject, "CN=mx.test");
    assert_eq!(l.issuer, format!("CN={CA_NAME}"));
    assert_eq!(l.sans, ["DNS:mx.test", "IP:127.0.0.1"]);
    assert_eq!(l.not_before, rfc3339(-30 * DAY));
    assert_eq!(l.not_after, rfc3339(60 * DAY));
    assert_eq!(l.not_after_unix, wall_unix() + 60 * DAY);
    assert_eq!(l.days_left, 60);
    assert_eq!(l.sha256, leaf.sha256());
    assert_eq!(l.sha256.len(), 64);
    assert_eq!(l.signature_algorithm, "ecdsa-with-SHA256");
    assert!(!l.serial.is_empty() && !l.serial.contains(':'));
    let ca_info = &tls.certificates[1];
    assert_eq!(ca_info.subject, format!("CN={CA_NAME}"));
    assert_eq!(ca_info.sha256, sha256_hex(&ca.der()));
    assert_eq!(tls.chain_earliest_expiry().unwrap().sha256, leaf.sha256());

    // EHLO again inside TLS; both capability sets kept; AUTH only offered (and done) inside TLS.
    let caps_tls = report.capabilities_tls.as_ref().expect("EHLO inside TLS");
    assert!(!caps_tls.starttls());
    assert_eq!(caps_tls.auth_mechanisms, [AuthMechanism::Plain, AuthMechanism::Login]);
    match mode {
        Mode::StartTls => {
            let caps = report.capabilities.as_ref().expect("EHLO before STARTTLS");
            assert!(caps.starttls());
            assert!(caps.auth_mechanisms.is_empty());
            assert_eq!(
                phases(report),
                [
                    Phase::Greeting,
                    Phase::Ehlo,
                    Phase::StartTls,
                    Phase::TlsHandshake,
                    Phase::EhloTls,
                    Phase::Auth,
                    Phase::Quit
                ]
            );
        }
        Mode::Implicit => {
            assert_eq!(report.capabilities, None, "no plaintext EHLO with implicit TLS");
            assert_eq!(
                phases(report),
                [Phase::TlsHandshake, Phase::Greeting, Phase::EhloTls, Phase::Auth, Phase::Quit]
            );
        }
    }
    let handshake = report.steps.iter().find(|s| s.phase == Phase::TlsHandshake).unwrap();
    assert_eq!(handshake.duration, LATENCY);
    let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).unwrap();
    assert_eq!(auth.reply.as_ref().map(|r| r.code.get()), Some(235));
    let commands: Vec<(&str, bool)> = run.server.received.iter().map(|r| (r.line.as_str(), r.tls)).collect();
    let expected_tls = match mode {
        Mode::StartTls => vec![("EHLO probe.test", false), ("STARTTLS", false), ("EHLO probe.test", true)],
        Mode::Implicit => vec![("EHLO probe.test", true)],
    };
    assert_eq!(commands[..expected_tls.len()], expected_tls[..]);
    assert!(commands[expected_tls.len()].0.starts_with("AUTH PLAIN ") && commands[expected_tls.len()].1);
    assert_eq!(commands.last(), Some(&("QUIT", true)));

    // The password is nowhere: not in the report (Debug, JSON, transcript), not on the wire in clear.
    let plain_response = "AHByb2JlQG14LnRlc3QAYzBycmVjdC1oMHJzZS1UTFM="; // base64("\0probe@mx.test\0c0rrect-h0rse-TLS")
    assert!(run.server.received.iter().any(|r| r.line == format!("AUTH PLAIN {plain_response}")));
    let debug = format!("{report:?}");
    let json = serde_json::to_string(report).unwrap();
    for secret in [PASSWORD, plain_response] {
        assert!(!debug.contains(secret), "{secret} in the report's Debug");
        assert!(!json.contains(secret), "{secret} in the report's JSON");
        assert!(report.transcript.iter().all(|l| !l.text.contains(secret)), "{secret} in the transcript");
        assert!(!run.client_bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} sent in clear");
    }
    assert!(report.transcript.iter().any(|l| l.direction == Direction::Client && l.text.starts_with("AUTH PLAIN")));
    assert!(report.transcript.iter().any(|l| l.direction == Direction::Event && l.text.starts_with("TLS established")));
    assert!(run.server.close_notify, "the session ends TLS with close_notify");
}

fn valid_certificate_fed_one_byte_at_a_time(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).auth(USER, Secret::new(PASSWORD)).build().unwrap();
    let run = run_with(config, Server::new(mode, &ServerTls::new(valid_leaf(&ca))), Reads::Bytewise);
    assert_outcome(&run.report, Verdict::Up, None);
    assert!(run.reads > 1000, "{} reads", run.reads);
    let tls = run.report.tls.as_ref().unwrap();
    assert!(tls.verified);
    assert_eq!(tls.leaf().unwrap().days_left, 60);
    assert!(run.report.steps.iter().any(|s| s.phase == Phase::Auth && s.reply.as_ref().unwrap().code.get() == 235));
}

fn tls12_server(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let mut server_tls = ServerTls::new(valid_leaf(&ca));
    server_tls.versions = TLS12_ONLY;
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &server_tls);
    assert_outcome(&run.report, Verdict::Up, None);
    let tls = run.report.tls.as_ref().unwrap();
    assert!(tls.verified);
    assert_eq!(tls.version.as_deref(), Some("TLSv1.2"));
    assert!(tls.cipher.as_deref().is_some_and(|c| c.starts_with("TLS_ECDHE_ECDSA_WITH_")), "{:?}", tls.cipher);
    // TLS 1.2 takes two round trips.
    assert_eq!(tls.handshake, 2 * LATENCY);
    assert!(run.server.received.iter().any(|r| r.tls && r.line == "EHLO probe.test"));
}

fn wrong_password(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let config = builder(mode, TARGET)
        .tls_config(trusting(&ca))
        .auth(USER, Secret::new("not-the-password"))
        .auth_mechanisms([AuthMechanism::Login])
        .build()
        .unwrap();
    let run = run(mode, config, &ServerTls::new(valid_leaf(&ca)));
    let report = &run.report;
    assert_outcome(report, Verdict::Down, Some(Cause::AuthFailed));
    assert!(report.tls.as_ref().unwrap().verified);
    assert_eq!(
        finding(report, Cause::AuthFailed).server_text.as_deref(),
        Some("535 5.7.8 Authentication credentials invalid")
    );
    assert_eq!(phases(report).last(), Some(&Phase::Quit));
    let debug = format!("{report:?}");
    // base64("not-the-password"), the LOGIN response
    for secret in ["not-the-password", "bm90LXRoZS1wYXNzd29yZA=="] {
        assert!(!debug.contains(secret));
        assert!(report.transcript.iter().all(|l| !l.text.contains(secret)));
    }
    assert!(run.server.received.iter().any(|r| r.tls && r.line == "bm90LXRoZS1wYXNzd29yZA=="));
}

// ---- 2-5. certificates that do not verify -------------------------------------------------------------------------

fn expired_certificate(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["mx.test", "127.0.0.1"], -100 * DAY, -12 * DAY);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).certificate_days(Some(30), Some(7)).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let message = assert_certificate_refused(&run, mode, CertificateProblem::Expired, &leaf);
    assert_eq!(message, format!("certificate CN=mx.test expired 12 days ago ({})", rfc3339(-12 * DAY)));
    let tls = run.report.tls.as_ref().unwrap();
    let l = tls.leaf().unwrap();
    assert_eq!(l.days_left, -12);
    assert_eq!(l.subject, "CN=mx.test");
    assert_eq!(l.sans, ["DNS:mx.test", "IP:127.0.0.1"]);
    assert_eq!(l.not_after, rfc3339(-12 * DAY));
    // One finding, not a second one for "expiring": the certificate is invalid, that is the whole story.
    assert_eq!(run.report.findings.len(), 1, "{:#?}", run.report.findings);
}

fn wrong_name(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["other.test", "www.other.test"], -30 * DAY, 60 * DAY);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let message = assert_certificate_refused(&run, mode, CertificateProblem::NameMismatch, &leaf);
    assert_eq!(
        message,
        "certificate CN=other.test is not valid for mx.test (it names DNS:other.test, DNS:www.other.test)"
    );
    assert_eq!(run.report.tls.as_ref().unwrap().leaf().unwrap().days_left, 60);
}

fn untrusted_issuer(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    // The bundled webpki roots only: the private CA is not added.
    let config = builder(mode, TARGET).tls_config(TlsConfig::builder().build().unwrap()).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let message = assert_certificate_refused(&run, mode, CertificateProblem::UnknownIssuer, &leaf);
    assert_eq!(message, format!("certificate CN=mx.test is issued by an untrusted authority (CN={CA_NAME})"));

    // The shared default configuration (no tls_config at all) says the same.
    let config = builder(mode, TARGET).build().unwrap();
    let run = self::run(mode, config, &ServerTls::new(leaf.clone()));
    assert_certificate_refused(&run, mode, CertificateProblem::UnknownIssuer, &leaf);

    // So does a different private CA.
    let other = Ca::new("some other CA");
    let config = builder(mode, TARGET).tls_config(trusting(&other)).build().unwrap();
    let run = self::run(mode, config, &ServerTls::new(leaf.clone()));
    assert_certificate_refused(&run, mode, CertificateProblem::UnknownIssuer, &leaf);
}

fn not_yet_valid(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["mx.test"], 2 * DAY, 90 * DAY);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let message = assert_certificate_refused(&run, mode, CertificateProblem::NotYetValid, &leaf);
    assert_eq!(message, format!("certificate CN=mx.test is not valid before {}", rfc3339(2 * DAY)));
    assert_eq!(run.report.tls.as_ref().unwrap().leaf().unwrap().not_before, rfc3339(2 * DAY));
}

// ---- 6. expiry thresholds -----------------------------------------------------------------------------------------

fn nearly_expiring(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["mx.test"], -80 * DAY, 5 * DAY);
    let server_tls = ServerTls::new(leaf.clone());
    let expected_message = format!("certificate CN=mx.test expires in 5 days ({})", rfc3339(5 * DAY));
    for (warn, crit, verdict, cause) in [
        (Some(30), Some(7), Verdict::Down, Some(Cause::CertificateExpiring)),
        (Some(30), Some(3), Verdict::Degraded, Some(Cause::CertificateExpiring)),
        (None, None, Verdict::Up, None),
        (Some(5), None, Verdict::Up, None),
        (Some(6), None, Verdict::Degraded, Some(Cause::CertificateExpiring)),
    ] {
        let config = builder(mode, TARGET).tls_config(trusting(&ca)).certificate_days(warn, crit).build().unwrap();
        let run = run(mode, config, &server_tls);
        let report = &run.report;
        assert_outcome(report, verdict, cause);
        let tls = report.tls.as_ref().unwrap();
        assert!(tls.verified, "an expiring certificate is still valid");
        assert_eq!(tls.leaf().unwrap().days_left, 5);
        if cause.is_some() {
            let f = finding(report, Cause::CertificateExpiring);
            assert_eq!(f.message, expected_message);
            assert_eq!(f.phase, Some(Phase::TlsHandshake));
        }
        // The probe carried on and ended politely in every case.
        assert!(run.server.received.iter().any(|r| r.tls && r.line.starts_with("EHLO")));
        assert_eq!(phases(report).last(), Some(&Phase::Quit));
        assert_eq!(report.steps.last().unwrap().reply.as_ref().map(|r| r.code.get()), Some(221));
    }
}

// ---- 7. inspect-only ----------------------------------------------------------------------------------------------

fn inspect_only(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["mx.test"], -100 * DAY, -12 * DAY);
    let tls_config = TlsConfig::builder().webpki_roots(false).add_ca_der(ca.der()).inspect_only(true).build().unwrap();
    assert!(tls_config.inspect_only());
    let config = builder(mode, TARGET).tls_config(tls_config).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let report = &run.report;
    assert_outcome(report, Verdict::Degraded, Some(Cause::CertificateInvalid));
    let f = finding(report, Cause::CertificateInvalid);
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.message,
        format!(
            "certificate CN=mx.test expired 12 days ago ({}) (inspect-only override: the probe carried on)",
            rfc3339(-12 * DAY)
        )
    );
    let tls = report.tls.as_ref().unwrap();
    assert!(!tls.verified);
    assert_eq!(tls.verify_error, Some(CertificateProblem::Expired));
    assert_eq!(tls.leaf().unwrap().sha256, leaf.sha256());
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(run.server.handshake_done());
    assert!(run.server.received.iter().any(|r| r.tls && r.line == "EHLO probe.test"), "EHLO inside TLS");
    assert!(report.capabilities_tls.is_some());
    assert_eq!(phases(report).last(), Some(&Phase::Quit));
    assert_eq!(report.steps.last().unwrap().reply.as_ref().map(|r| r.code.get()), Some(221));
}

// ---- 8. pins ------------------------------------------------------------------------------------------------------

/// `AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it.
fn openssl_style(hex: &str) -> String {
    hex.to_ascii_uppercase().as_bytes().chunks(2).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":")
}

fn pinning(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);

    // Untrusted issuer, right pin: the pin is a trust anchor of its own.
    let pinned = TlsConfig::builder().pin_sha256(&openssl_style(&leaf.sha256())).unwrap().build().unwrap();
    let config = builder(mode, TARGET).tls_config(pinned.clone()).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    assert_outcome(&run.report, Verdict::Up, None);
    let tls = run.report.tls.as_ref().unwrap();
    assert!(tls.verified);
    assert_eq!(tls.verify_error, None);
    assert_eq!(tls.leaf().unwrap().sha256, leaf.sha256());

    // A pin on one of several pins matches too.
    let two_pins =
        TlsConfig::builder().pin_sha256(&"00".repeat(32)).unwrap().pin_sha256(&leaf.sha256()).unwrap().build().unwrap();
    let config = builder(mode, TARGET).tls_config(two_pins).build().unwrap();
    assert_outcome(&run_again(mode, config, &leaf).report, Verdict::Up, None);

    // Trusted issuer, wrong pin: refused.
    let wrong = TlsConfig::builder()
        .webpki_roots(false)
        .add_ca_pem("test CA", ca.pem().as_bytes())
        .unwrap()
        .pin_sha256(&"ab".repeat(32))
        .unwrap()
        .build()
        .unwrap();
    let config = builder(mode, TARGET).tls_config(wrong).build().unwrap();
    let run = run_again(mode, config, &leaf);
    let message = assert_certificate_refused(&run, mode, CertificateProblem::PinMismatch, &leaf);
    assert_eq!(message, "certificate does not match the pinned fingerprint: CN=mx.test");

    // The pin forgives the issuer, not the expiry.
    let expired = ca.leaf(&["mx.test"], -100 * DAY, -12 * DAY);
    let pinned_expired = TlsConfig::builder().pin_sha256(&expired.sha256()).unwrap().build().unwrap();
    let config = builder(mode, TARGET).tls_config(pinned_expired).build().unwrap();
    let run = run_again(mode, config, &expired);
    assert_certificate_refused(&run, mode, CertificateProblem::Expired, &expired);

    // Malformed pins are refused when the configuration is built.
    for bad in ["", "abc", &"0".repeat(63), &"zz".repeat(32), &"00".repeat(33)] {
        assert!(TlsConfig::builder().pin_sha256(bad).is_err(), "{bad:?}");
    }
}

fn run_again(mode: Mode, config: ProbeConfig, leaf: &Leaf) -> Run {
    run(mode, config, &ServerTls::new(leaf.clone()))
}

/// A pin stands in for the issuer only: a pinned certificate for another name is still the wrong certificate.
fn pin_does_not_excuse_a_wrong_name(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["other.test"], -30 * DAY, 60 * DAY);
    let pinned = TlsConfig::builder().pin_sha256(&leaf.sha256()).unwrap().build().unwrap();
    let config = builder(mode, TARGET).tls_config(pinned).build().unwrap();
    let run = run(mode, config, &ServerTls::new(leaf.clone()));
    let message = assert_certificate_refused(&run, mode, CertificateProblem::NameMismatch, &leaf);
    assert_eq!(message, "certificate CN=other.test is not valid for mx.test (it names DNS:other.test)");
}

// ---- 9. an IP address target ----------------------------------------------------------------------------------------

fn ip_target(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let server_tls = ServerTls::new(valid_leaf(&ca));

    // No name: no SNI, the certificate checked against its IP SAN.
    let config = builder(mode, "127.0.0.1").tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &server_tls);
    assert_outcome(&run.report, Verdict::Up, None);
    let tls = run.report.tls.as_ref().unwrap();
    assert!(tls.verified);
    assert_eq!(tls.sni, None);
    assert_eq!(run.server.sni, None, "no SNI on the wire");
    assert_eq!(tls.verified_name.as_deref(), Some("127.0.0.1"));

    // With a name: SNI and verification use it.
    let config = builder(mode, "127.0.0.1").tls_name("mx.test").tls_config(trusting(&ca)).build().unwrap();
    let run = self::run(mode, config, &server_tls);
    assert_outcome(&run.report, Verdict::Up, None);
    let tls = run.report.tls.as_ref().unwrap();
    assert_eq!(tls.sni.as_deref(), Some("mx.test"));
    assert_eq!(run.server.sni.as_deref(), Some("mx.test"));
    assert_eq!(tls.verified_name.as_deref(), Some("mx.test"));
    assert_eq!(run.report.target, "127.0.0.1:25");

    // IPv6, bare or bracketed.
    let v6 = ServerTls::new(ca.leaf(&["mx.test", "::1"], -30 * DAY, 60 * DAY));
    for target in ["::1", "[::1]"] {
        let config = builder(mode, target).tls_config(trusting(&ca)).build().unwrap();
        let run = self::run(mode, config, &v6);
        assert_outcome(&run.report, Verdict::Up, None);
        let tls = run.report.tls.as_ref().unwrap();
        assert_eq!((tls.sni.as_deref(), run.server.sni.as_deref()), (None, None));
        assert_eq!(tls.leaf().unwrap().sans, ["DNS:mx.test", "IP:::1"]);
    }

    // An address the certificate does not list.
    let config = builder(mode, "127.0.0.2").tls_config(trusting(&ca)).build().unwrap();
    let run = self::run(mode, config, &server_tls);
    assert_outcome(&run.report, Verdict::Down, Some(Cause::CertificateInvalid));
    let tls = run.report.tls.as_ref().unwrap();
    assert_eq!(tls.verify_error, Some(CertificateProblem::NameMismatch));
    assert_eq!(tls.sni, None);
    assert_eq!(
        finding(&run.report, Cause::CertificateInvalid).message,
        "certificate CN=mx.test is not valid for 127.0.0.2 (it names DNS:mx.test, IP:127.0.0.1)"
    );
}

/// An MX name as DNS returns it, with its trailing dot: rustls sends the SNI without it, and the report says so.
fn trailing_dot_target(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let config = builder(mode, "mx.test.").tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &ServerTls::new(valid_leaf(&ca)));
    assert_outcome(&run.report, Verdict::Up, None);
    let tls = run.report.tls.as_ref().unwrap();
    assert!(tls.verified);
    assert_eq!(run.server.sni.as_deref(), Some("mx.test"));
    assert_eq!(tls.sni.as_deref(), Some("mx.test"), "the SNI as sent");
    assert_eq!(tls.verified_name.as_deref(), Some("mx.test."));
}

// ---- 10. handshake failures are not certificate failures ----------------------------------------------------------

fn garbage_instead_of_tls(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let server = Server::new(mode, &ServerTls::new(valid_leaf(&ca))).on_hello(OnHello::Garbage);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run_with(config, server, Reads::Whole);
    let message = assert_handshake_failed(&run, mode);
    assert_eq!(message, "TLS handshake failed: received corrupt message of type InvalidContentType");
}

fn close_during_handshake(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let server = Server::new(mode, &ServerTls::new(valid_leaf(&ca))).on_hello(OnHello::Close);
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run_with(config, server, Reads::Whole);
    let message = assert_handshake_failed(&run, mode);
    assert_eq!(message, "the server closed the connection during the TLS handshake");
}

fn no_common_cipher_suite(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    // TLS 1.2 only, and only an RSA suite, with an ECDSA certificate: nothing the client offers can be chosen.
    let mut server_tls = ServerTls::new(valid_leaf(&ca));
    server_tls.versions = TLS12_ONLY;
    server_tls.provider.cipher_suites = vec![rustls::crypto::ring::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384];
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let run = run(mode, config, &server_tls);
    let message = assert_handshake_failed(&run, mode);
    assert_eq!(message, "TLS handshake failed: received fatal alert: HandshakeFailure");
    assert!(
        matches!(run.server.tls_error, Some(rustls::Error::PeerIncompatible(_))),
        "the server found nothing in common: {:?}",
        run.server.tls_error
    );
}

// ---- 11. the handshake deadline -------------------------------------------------------------------------------------

/// When the probe asked for the handshake (STARTTLS accepted, or the connection itself for implicit TLS).
fn handshake_requested_at(report: &Report, mode: Mode) -> Duration {
    match mode {
        Mode::Implicit => Duration::ZERO,
        Mode::StartTls => {
            report
                .transcript
                .iter()
                .find(|l| l.direction == Direction::Event && l.text == "TLS handshake requested")
                .expect("the hand-off is in the transcript")
                .at
        }
    }
}

fn silent_during_handshake(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let server = Server::new(mode, &ServerTls::new(valid_leaf(&ca))).on_hello(OnHello::Silent);
    let timeouts = Timeouts { tls_handshake: Duration::from_secs(7), ..Timeouts::default() };
    let config = builder(mode, TARGET).tls_config(trusting(&ca)).timeouts(timeouts).build().unwrap();
    let run = run_with(config, server, Reads::Whole);
    let message = assert_handshake_failed(&run, mode);
    assert_eq!(message, "TLS handshake did not complete within its deadline");
    let report = &run.report;
    assert_eq!(report.total, run.elapsed());
    assert_eq!(report.total - handshake_requested_at(report, mode), Duration::from_secs(7));
    if mode == Mode::StartTls {
        assert_eq!(handshake_requested_at(report, mode), 3 * LATENCY, "greeting, EHLO and STARTTLS replies");
    }
}

fn handshake_deadline_cut_by_overall_deadline(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    let server = Server::new(mode, &ServerTls::new(valid_leaf(&ca))).on_hello(OnHello::Silent);
    let config =
        builder(mode, TARGET).tls_config(trusting(&ca)).overall_timeout(Duration::from_secs(4)).build().unwrap();
    let run = run_with(config, server, Reads::Whole);
    let message = assert_handshake_failed(&run, mode);
    assert_eq!(message, "TLS handshake did not complete within the overall deadline of 4s");
    assert_eq!(run.report.total, Duration::from_secs(4));
}

// ---- 12. the implicit-TLS greeting in the same read as the handshake -----------------------------------------------

fn greeting_in_the_handshake_read(mode: Mode) {
    let ca = Ca::new(CA_NAME);
    // TLS 1.3 with 0.5-RTT data: the server's flight and the greeting (implicit TLS) or, with STARTTLS, nothing
    // more (the server has nothing to say before EHLO). TLS 1.2: the greeting follows the server's Finished.
    for versions in [TLS13_ONLY, TLS12_ONLY] {
        let mut server_tls = ServerTls::new(valid_leaf(&ca));
        server_tls.half_rtt = true;
        server_tls.versions = versions;
        let config = builder(mode, TARGET).tls_config(trusting(&ca)).build().unwrap();
        let run = run(mode, config, &server_tls);
        let report = &run.report;
        assert_outcome(report, Verdict::Up, None);
        assert!(report.findings.iter().all(|f| f.cause != Some(Cause::ProtocolViolation)), "{:#?}", report.findings);
        let tls = report.tls.as_ref().unwrap();
        assert!(tls.verified);
        let greeting = report.greeting.as_ref().expect("the greeting was read");
        assert_eq!(greeting.code.get(), 220);
        if mode == Mode::Implicit {
            assert_eq!(greeting.text_lossy(), "mx.test ESMTP test server (TLS)");
            // The greeting arrived in the very read that completed the handshake.
            let established = report
                .transcript
                .iter()
                .find(|l| l.direction == Direction::Event && l.text.starts_with("TLS established"))
                .unwrap();
            let greeting_line = report.transcript.iter().find(|l| l.text.starts_with("220 ")).unwrap();
            assert_eq!(greeting_line.at, established.at);
            assert_eq!(greeting_line.at, tls.handshake);
            let greeting_step = report.steps.iter().find(|s| s.phase == Phase::Greeting).unwrap();
            assert_eq!(greeting_step.duration, Duration::ZERO);
            assert_eq!(phases(report), [Phase::TlsHandshake, Phase::Greeting, Phase::EhloTls, Phase::Quit]);
        }
    }
}

// ---- opportunistic STARTTLS: how MTAs deliver ---------------------------------------------------------------------

/// A configuration for `mode` whose trust settings do not know the test CA (the webpki roots only): the
/// certificate never verifies.
fn untrusting(mode: TlsMode) -> ProbeConfigBuilder {
    ProbeConfig::builder(TARGET.parse().unwrap())
        .tls(mode)
        .ehlo_name("probe.test")
        .tls_config(TlsConfig::builder().build().unwrap())
}

/// The same, with the inspect-only override.
fn untrusting_inspect_only(mode: TlsMode) -> ProbeConfigBuilder {
    untrusting(mode).tls_config(TlsConfig::builder().inspect_only(true).build().unwrap())
}

fn run_starttls(config: ProbeConfig, leaf: &Leaf) -> Run {
    run(Mode::StartTls, config, &ServerTls::new(leaf.clone()))
}

/// No AUTH command reached the server, and no credential left the client in any form.
fn assert_no_credentials_sent(run: &Run) {
    assert!(
        run.server.received.iter().all(|r| !r.line.to_ascii_uppercase().starts_with("AUTH")),
        "{:?}",
        run.server.received
    );
    assert!(run.report.steps.iter().all(|s| s.phase != Phase::Auth), "{:#?}", run.report.steps);
    assert!(run.report.transcript.iter().all(|l| !(l.direction == Direction::Client && l.text.starts_with("AUTH"))));
    assert!(!run.client_bytes.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));
}

/// Senders using opportunistic STARTTLS encrypt without verifying (RFC 7435), so mail still flows to a server whose
/// certificate does not verify: the probe carries on, reports the certificate in full, and the verdict is up.
#[test]
fn opportunistic_starttls_with_an_untrusted_certificate_is_up_and_reported() {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let run = run_starttls(untrusting(TlsMode::StartTlsOpportunistic).build().unwrap(), &leaf);
    let report = &run.report;
    assert_outcome(report, Verdict::Up, None);
    let f = report.findings.iter().find(|f| f.phase == Some(Phase::TlsHandshake)).expect("the certificate finding");
    assert_eq!((f.severity, f.cause), (Severity::Info, None));
    assert_eq!(
        f.message,
        format!(
            "certificate CN=mx.test is issued by an untrusted authority (CN={CA_NAME}) (opportunistic TLS: reported, \
             not counted; senders that do not verify still deliver)"
        )
    );
    let tls = report.tls.as_ref().unwrap();
    assert!(!tls.verified && !tls.is_verified());
    assert_eq!(tls.verify_error, Some(CertificateProblem::UnknownIssuer));
    assert_eq!(tls.leaf().unwrap().sha256, leaf.sha256());
    assert_eq!(tls.chain_der, std::slice::from_ref(&leaf.der), "the presented chain, as DER, for DANE");
    assert!(run.server.received.iter().any(|r| r.tls && r.line == "EHLO probe.test"), "EHLO inside TLS");
    assert_eq!(phases(report).last(), Some(&Phase::Quit));
}

/// Credentials are sent only over TLS whose certificate verified. Opportunistic STARTTLS goes on past the
/// certificate (so the report shows what the server offers inside TLS), then withholds AUTH: down,
/// `certificate_invalid`, and the finding says what is wrong and that nothing was sent.
#[test]
fn credentials_are_withheld_over_opportunistic_tls_whose_certificate_does_not_verify() {
    let ca = Ca::new(CA_NAME);
    let config = untrusting(TlsMode::StartTlsOpportunistic).auth(USER, Secret::new(PASSWORD)).build().unwrap();
    let run = run_starttls(config, &valid_leaf(&ca));
    let report = &run.report;
    assert_outcome(report, Verdict::Down, Some(Cause::CertificateInvalid));
    let f = report.primary_finding().unwrap();
    assert_eq!((f.severity, f.phase), (Severity::Critical, Some(Phase::Auth)));
    assert!(
        f.message.starts_with(&format!(
            "credentials withheld: certificate CN=mx.test is issued by an untrusted authority (CN={CA_NAME}); they are \
             sent only over TLS whose certificate verifies"
        )),
        "{}",
        f.message
    );
    assert_no_credentials_sent(&run);
    let caps = report.capabilities_tls.as_ref().expect("EHLO inside TLS still reported");
    assert!(caps.supports_auth(&AuthMechanism::Plain));
    assert_eq!(phases(report)[3..], [Phase::TlsHandshake, Phase::EhloTls, Phase::Quit]);
}

/// With required or implicit TLS the handshake itself is refused, and its finding says the credentials were not
/// sent.
#[test]
fn credentials_with_required_tls_and_an_unverified_certificate_stop_at_the_handshake() {
    for (tls_mode, mode) in [(TlsMode::StartTlsRequired, Mode::StartTls), (TlsMode::Implicit, Mode::Implicit)] {
        let ca = Ca::new(CA_NAME);
        let config = untrusting(tls_mode).auth(USER, Secret::new(PASSWORD)).build().unwrap();
        let leaf = valid_leaf(&ca);
        let run = run(mode, config, &ServerTls::new(leaf.clone()));
        let message = assert_certificate_refused(&run, mode, CertificateProblem::UnknownIssuer, &leaf);
        assert!(message.ends_with("; credentials not sent"), "{message}");
        assert_no_credentials_sent(&run);
    }
}

/// The inspect-only override: the credentials go out over the unverified TLS, and a finding names the override.
#[test]
fn inspect_only_sends_credentials_and_names_the_override() {
    let ca = Ca::new(CA_NAME);
    for tls_mode in [TlsMode::StartTlsOpportunistic, TlsMode::StartTlsRequired] {
        let config = untrusting_inspect_only(tls_mode).auth(USER, Secret::new(PASSWORD)).build().unwrap();
        let run = run_starttls(config, &valid_leaf(&ca));
        let report = &run.report;
        assert_outcome(report, Verdict::Degraded, Some(Cause::CertificateInvalid));
        let auth = report.steps.iter().find(|s| s.phase == Phase::Auth).expect("AUTH was sent");
        assert_eq!(auth.reply.as_ref().map(|r| r.code.get()), Some(235));
        let named =
            report.findings.iter().find(|f| f.phase == Some(Phase::Auth)).expect("a finding about the credentials");
        assert_eq!((named.severity, named.cause), (Severity::Warning, Some(Cause::CertificateInvalid)));
        assert!(named.message.starts_with("credentials sent over TLS whose certificate did not verify (certificate CN=mx.test is issued by an untrusted authority"), "{}", named.message);
        assert!(named.message.ends_with("the inspect-only override allows it"), "{}", named.message);
    }
}

/// Allowing plaintext AUTH allows unverified TLS too (it is no worse), and says so without changing the verdict.
#[test]
fn allowing_plaintext_auth_covers_unverified_tls_and_says_so() {
    let ca = Ca::new(CA_NAME);
    let config = untrusting(TlsMode::StartTlsOpportunistic)
        .auth(USER, Secret::new(PASSWORD))
        .allow_plaintext_auth(true)
        .build()
        .unwrap();
    let run = run_starttls(config, &valid_leaf(&ca));
    let report = &run.report;
    assert_outcome(report, Verdict::Up, None);
    assert!(
        report.steps.iter().any(|s| s.phase == Phase::Auth && s.reply.as_ref().is_some_and(|r| r.code.get() == 235))
    );
    let named = report.findings.iter().find(|f| f.phase == Some(Phase::Auth)).expect("the override is named");
    assert_eq!((named.severity, named.cause), (Severity::Info, None));
    assert!(named.message.ends_with("plaintext AUTH is allowed, so this is too"), "{}", named.message);
}

/// Certificate-days thresholds judge the certificate even over opportunistic STARTTLS: the handshake is refused,
/// and the finding says why it counted. With the inspect-only override the probe carries on, degraded.
#[test]
fn days_thresholds_judge_an_opportunistic_certificate() {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let config = untrusting(TlsMode::StartTlsOpportunistic).certificate_days(Some(14), None).build().unwrap();
    let run = run_starttls(config, &leaf);
    let message = assert_certificate_refused(&run, Mode::StartTls, CertificateProblem::UnknownIssuer, &leaf);
    assert!(message.ends_with("(the certificate is being checked (days thresholds))"), "{message}");

    let config =
        untrusting_inspect_only(TlsMode::StartTlsOpportunistic).certificate_days(Some(14), None).build().unwrap();
    let run = run_starttls(config, &leaf);
    assert_outcome(&run.report, Verdict::Degraded, Some(Cause::CertificateInvalid));
    let f = finding(&run.report, Cause::CertificateInvalid);
    assert!(f.message.ends_with("(inspect-only override: the probe carried on)"), "{}", f.message);
    // Without the thresholds, inspect-only changes nothing for opportunistic TLS: reported, not counted.
    let run = run_starttls(untrusting_inspect_only(TlsMode::StartTlsOpportunistic).build().unwrap(), &leaf);
    assert_outcome(&run.report, Verdict::Up, None);
}

// ---- a published policy (the seam MTA-STS and DANE plug into) -----------------------------------------------------

/// A policy that accepts one leaf certificate by its fingerprint, whatever the roots say (the shape of DANE-EE),
/// and checks that it is handed the presented chain as DER.
#[derive(Debug)]
struct LeafPolicy {
    sha256: String,
    mode: PolicyMode,
}

impl TlsPolicy for LeafPolicy {
    fn name(&self) -> &str {
        "DANE"
    }

    fn mode(&self) -> PolicyMode {
        self.mode
    }

    fn check(&self, target: &smtp_probe_proto::Target, tls: &smtp_probe_proto::TlsInfo) -> PolicyOutcome {
        assert_eq!(target.host(), TARGET);
        match tls.chain_der.first() {
            Some(der) if sha256_hex(der) == self.sha256 => PolicyOutcome::Satisfied,
            _ => PolicyOutcome::Failed { reason: "no TLSA record matches the presented chain".into() },
        }
    }
}

fn with_policy(builder: ProbeConfigBuilder, sha256: &str, mode: PolicyMode) -> ProbeConfig {
    builder.tls_policy(Arc::new(LeafPolicy { sha256: sha256.to_owned(), mode })).build().unwrap()
}

/// A policy that authenticates the server stands in for the roots: required TLS with an untrusted certificate
/// is up, the handshake having gone on so that the policy could see it.
#[test]
fn a_satisfied_policy_authenticates_a_certificate_the_roots_do_not() {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let config = with_policy(untrusting(TlsMode::StartTlsRequired), &leaf.sha256(), PolicyMode::Enforce);
    let run = run_starttls(config, &leaf);
    assert_outcome(&run.report, Verdict::Up, None);
    let f = run.report.findings.iter().find(|f| f.phase == Some(Phase::TlsHandshake)).unwrap();
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.ends_with("(DANE authenticates the server instead)"), "{}", f.message);
    assert!(run.server.handshake_done());
}

/// A policy that fails: critical under `enforce` (whatever the overrides), a warning under `testing`, and the
/// worse of that and the certificate's own finding.
#[test]
fn a_failed_policy_counts_by_its_mode() {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let other = "00".repeat(32);
    let cases = [
        // (trusting the CA, inspect-only, mode, verdict)
        (true, false, PolicyMode::Enforce, Verdict::Down),
        (true, false, PolicyMode::Testing, Verdict::Degraded),
        (false, true, PolicyMode::Enforce, Verdict::Down),
        (false, false, PolicyMode::Testing, Verdict::Degraded),
    ];
    for (trusted, inspect_only, mode, verdict) in cases {
        let builder = match (trusted, inspect_only) {
            (true, _) => ProbeConfig::builder(TARGET.parse().unwrap())
                .tls(TlsMode::StartTlsOpportunistic)
                .ehlo_name("probe.test")
                .tls_config(trusting(&ca)),
            (false, true) => untrusting_inspect_only(TlsMode::StartTlsOpportunistic),
            (false, false) => untrusting(TlsMode::StartTlsOpportunistic),
        };
        let run = run_starttls(with_policy(builder, &other, mode), &leaf);
        let case = format!("trusted {trusted}, inspect-only {inspect_only}, {mode}");
        assert_eq!((run.report.verdict, run.report.cause), (verdict, Some(Cause::CertificateInvalid)), "{case}");
        let f = run.report.findings.iter().find(|f| f.message.starts_with("DANE (")).expect("the policy's finding");
        assert_eq!(f.message, format!("DANE ({mode}) is not satisfied: no TLSA record matches the presented chain"));
        assert_eq!(f.severity, if mode == PolicyMode::Enforce { Severity::Critical } else { Severity::Warning });
        assert!(run.server.handshake_done(), "{case}: the handshake completes for the policy to see it");
    }
}

// ---- certificates told right ----------------------------------------------------------------------------------------

/// An expired intermediate is named as the intermediate, with its own dates, not as the leaf.
#[test]
fn an_expired_intermediate_is_described_as_the_intermediate() {
    let root = Ca::new(CA_NAME);
    let intermediate = root.intermediate("Example Issuing CA", -400 * DAY, -2 * DAY);
    let leaf = intermediate.leaf(&["mx.test"], -30 * DAY, 60 * DAY);
    let mut server_tls = ServerTls::new(leaf);
    server_tls.send_ca = true; // the intermediate
    let config = builder(Mode::Implicit, TARGET).tls_config(trusting(&root)).build().unwrap();
    let run = run(Mode::Implicit, config, &server_tls);
    assert_outcome(&run.report, Verdict::Down, Some(Cause::CertificateInvalid));
    let tls = run.report.tls.as_ref().unwrap();
    assert_eq!(tls.verify_error, Some(CertificateProblem::Expired));
    assert_eq!(tls.leaf().unwrap().days_left, 60, "the leaf itself is fine");
    assert_eq!(tls.certificates[1].position, 1);
    assert_eq!(
        finding(&run.report, Cause::CertificateInvalid).message,
        format!("intermediate certificate CN=Example Issuing CA expired 2 days ago ({})", rfc3339(-2 * DAY))
    );
}

/// A certificate in the chain that cannot be parsed is skipped with a finding: it never reads as a certificate
/// that expires in 1970, nor as "0 days left" for the days thresholds.
#[test]
fn an_unparseable_chain_certificate_is_skipped_with_a_finding() {
    let ca = Ca::new(CA_NAME);
    let leaf = valid_leaf(&ca);
    let garbage = vec![0x30, 0x03, 0x02, 0x01, 0x07];
    let mut server_tls = ServerTls::new(leaf.clone());
    server_tls.extra_chain = vec![garbage.clone()];
    let config =
        builder(Mode::Implicit, TARGET).tls_config(trusting(&ca)).certificate_days(Some(30), Some(7)).build().unwrap();
    let run = run(Mode::Implicit, config, &server_tls);
    let report = &run.report;
    assert_outcome(report, Verdict::Up, None);
    let tls = report.tls.as_ref().unwrap();
    assert!(tls.verified, "the leaf chains to the CA without it");
    assert_eq!(tls.chain_der, [leaf.der.clone(), garbage.clone()]);
    assert_eq!(tls.certificates.len(), 1);
    assert_eq!((tls.unparsed.len(), tls.unparsed[0].position, tls.unparsed[0].len), (1, 1, garbage.len()));
    assert_eq!(tls.chain_earliest_expiry().unwrap().days_left, 60, "not 0, not 1970");
    let f = report.findings.iter().find(|f| f.message.contains("could not be parsed")).expect("a finding");
    assert_eq!((f.severity, f.cause), (Severity::Info, None));
    assert!(
        f.message
            .starts_with(&format!("certificate 1 of the presented chain (5 bytes, SHA-256 {})", sha256_hex(&garbage))),
        "{}",
        f.message
    );
    let json = serde_json::to_value(report).unwrap();
    assert!(!json.to_string().contains("1970"), "{json:#}");
    assert_eq!(json["tls"]["chain"].as_array().unwrap().len(), 1);
}

/// A not-yet-valid intermediate, likewise.
#[test]
fn a_not_yet_valid_intermediate_is_described_as_the_intermediate() {
    let root = Ca::new(CA_NAME);
    let intermediate = root.intermediate("Example Issuing CA", 3 * DAY, 400 * DAY);
    let mut server_tls = ServerTls::new(intermediate.leaf(&["mx.test"], -30 * DAY, 60 * DAY));
    server_tls.send_ca = true;
    let config = builder(Mode::Implicit, TARGET).tls_config(trusting(&root)).build().unwrap();
    let run = run(Mode::Implicit, config, &server_tls);
    assert_eq!(run.report.tls.as_ref().unwrap().verify_error, Some(CertificateProblem::NotYetValid));
    assert_eq!(
        finding(&run.report, Cause::CertificateInvalid).message,
        format!("intermediate certificate CN=Example Issuing CA is not valid before {}", rfc3339(3 * DAY))
    );
}

/// In inspect-only mode an expired certificate is invalid (degraded), and not also "expiring in -12 days" (which
/// a critical days threshold would turn into down).
#[test]
fn inspect_only_expired_certificate_is_not_also_expiring() {
    let ca = Ca::new(CA_NAME);
    let leaf = ca.leaf(&["mx.test"], -100 * DAY, -12 * DAY);
    let tls_config = TlsConfig::builder().webpki_roots(false).add_ca_der(ca.der()).inspect_only(true).build().unwrap();
    let config =
        builder(Mode::Implicit, TARGET).tls_config(tls_config).certificate_days(Some(30), Some(7)).build().unwrap();
    let run = run(Mode::Implicit, config, &ServerTls::new(leaf));
    assert_outcome(&run.report, Verdict::Degraded, Some(Cause::CertificateInvalid));
    assert!(
        run.report.findings.iter().all(|f| f.cause != Some(Cause::CertificateExpiring)),
        "{:#?}",
        run.report.findings
    );
}

// ---- the drive rule: `handle_*` only record -------------------------------------------------------------------------

/// Polls until `Done`, ignoring what the session transmits.
fn finish(session: &mut Session, now: std::time::Instant) -> Report {
    for _ in 0..100 {
        match session.poll_output(now) {
            SessionOutput::Done => return session.report().clone(),
            SessionOutput::Transmit(_) => {}
            SessionOutput::Timeout(deadline) => session.handle_timeout(deadline),
        }
    }
    panic!("the session did not finish");
}

#[test]
fn session_handle_calls_only_record_until_the_next_poll() {
    let ca = Ca::new(CA_NAME);
    let config = builder(Mode::Implicit, TARGET).tls_config(trusting(&ca)).build().unwrap();
    let now = start();
    let mut session = Session::new(config, now, wall());
    assert!(matches!(session.poll_output(now), SessionOutput::Transmit(_)), "the ClientHello");
    // Plaintext where the ServerHello belongs, then the close: recorded, nothing decided yet.
    session.handle_input(now + LATENCY, b"220 mx.test ESMTP, but not TLS\r\n");
    session.handle_eof(now + LATENCY);
    assert!(!session.is_done());
    assert!(session.report().findings.is_empty() && session.report().steps.is_empty());
    // The poll takes them in the order they came: the bytes are no TLS, which ends the handshake.
    let report = finish(&mut session, now + LATENCY);
    assert_outcome(&report, Verdict::Down, Some(Cause::TlsHandshakeFailed));
    let message = &finding(&report, Cause::TlsHandshakeFailed).message;
    assert!(message.starts_with("TLS handshake failed: received corrupt message"), "{message}");
    assert_eq!(phases(&report), [Phase::TlsHandshake]);
    assert_eq!(report.steps[0].duration, LATENCY);
}

#[test]
fn ciphertext_held_between_two_polls_is_bounded() {
    let ca = Ca::new(CA_NAME);
    let limits = ReplyLimits { max_buffered: 1024, ..ReplyLimits::default() };
    let config = builder(Mode::Implicit, TARGET).tls_config(trusting(&ca)).reply_limits(limits).build().unwrap();
    let now = start();
    let mut session = Session::new(config, now, wall());
    assert!(matches!(session.poll_output(now), SessionOutput::Transmit(_)));
    // A megabyte of TLS-looking bytes fed without a single poll: not all of it is kept.
    for _ in 0..1024 {
        session.handle_input(now, &[0x17; 1024]);
    }
    let report = finish(&mut session, now);
    assert_outcome(&report, Verdict::Down, Some(Cause::ProtocolViolation));
    let message = &finding(&report, Cause::ProtocolViolation).message;
    let bound = 1024 + 16 * 1024 + 2048 + 5;
    assert_eq!(message, &format!("more than {bound} bytes buffered without a complete reply being consumed"));
}
