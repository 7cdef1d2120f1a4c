//! Conversation flows and their verdicts: EHLO/HELO, STARTTLS and TLS, AUTH, the envelope, the test message,
//! QUIT, expectations, thresholds and deadlines.

mod common;

use common::*;
use smtp_probe_proto::testing::{Feed, Harness, ServerStep, expect};
use smtp_probe_proto::{
    AuthMechanism, Cause, CertificateInfo, CertificateProblem, EnhancedCode, Keyword, Output, Phase, Probe,
    ProbeConfig, Report, Secret, Severity, Timeouts, TlsFailure, TlsInfo, TlsMode, TlsRequest, UsageError, Verdict,
};

const GREETING: &str = "220 mx.example.com ESMTP";

fn greeted(rest: impl IntoIterator<Item = ServerStep>) -> Vec<ServerStep> {
    let mut script = vec![line(GREETING), expect("EHLO")];
    script.extend(rest);
    script
}

fn then_quit(mut script: Vec<ServerStep>) -> Vec<ServerStep> {
    script.extend(quit());
    script
}

/// Greeting, EHLO offering STARTTLS, STARTTLS 220, a TLS 1.3 handshake, and the server waiting for EHLO again.
fn into_tls(tls: TlsInfo) -> Vec<ServerStep> {
    greeted([
        lines(&["250-mx.example.com", "250-PIPELINING", "250 STARTTLS"]),
        expect("STARTTLS"),
        line("220 2.0.0 Ready to start TLS"),
        ServerStep::TlsEstablished(tls),
        expect("EHLO"),
    ])
}

fn tls_then(rest: impl IntoIterator<Item = ServerStep>) -> Vec<ServerStep> {
    let mut script = into_tls(tls13());
    script.extend(rest);
    script
}

fn tls_ehlo_with_auth() -> ServerStep {
    lines(&["250-mx.example.com", "250-PIPELINING", "250 AUTH PLAIN LOGIN"])
}

fn client(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

const EHLO: &str = "EHLO probe.example.org";

// ---- EHLO and HELO -------------------------------------------------------------------------------------------------

#[test]
fn ehlo_falls_back_to_helo_on_500_and_502_only() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    for refusal in
        ["500 5.5.1 Command unrecognized: \"EHLO probe.example.org\"", "502 5.5.2 Error: command not recognized"]
    {
        let script = then_quit(greeted([line(refusal), expect("HELO"), line("250 mx.example.com")]));
        let (report, harness) = run_whole(&config, start, &script);
        assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{refusal}");
        assert_eq!(harness.client_lines(), client(&[EHLO, "HELO probe.example.org", "QUIT"]));
        assert_eq!(phases(&report), [Phase::Greeting, Phase::Ehlo, Phase::Helo, Phase::Quit]);
        assert_eq!(report.capabilities, None);
    }
}

#[test]
fn ehlo_421_is_a_temporary_failure_not_a_reason_for_helo() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let text = "421 4.3.2 Service not available, closing transmission channel";
    let (report, harness) = run_whole(&config, start, &then_quit(greeted([line(text)])));
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    assert_eq!(finding(&report, Cause::TemporaryFailure).server_text.as_deref(), Some(text));
    assert_eq!(finding(&report, Cause::TemporaryFailure).phase, Some(Phase::Ehlo));
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]));
}

#[test]
fn ehlo_550_is_ehlo_rejected_not_a_reason_for_helo() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let text = "550 5.7.1 Your EHLO name is not acceptable";
    let (report, harness) = run_whole(&config, start, &then_quit(greeted([line(text)])));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::EhloRejected)));
    assert_eq!(finding(&report, Cause::EhloRejected).server_text.as_deref(), Some(text));
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]));
}

#[test]
fn ehlo_answered_by_a_close_is_connection_closed_not_a_reason_for_helo() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let (report, harness) = run_whole(&config, start, &greeted([ServerStep::Close]));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectionClosed)));
    let closed = finding(&report, Cause::ConnectionClosed);
    assert_eq!(closed.phase, Some(Phase::Ehlo));
    assert!(closed.message.contains(&format!("after \"{GREETING}\"")), "{closed:?}");
    assert_eq!(harness.client_lines(), client(&[EHLO]), "no HELO and no QUIT on a closed connection");
    assert_eq!(step(&report, Phase::Ehlo).reply, None);
}

// ---- STARTTLS ------------------------------------------------------------------------------------------------------

#[test]
fn starttls_required_but_not_offered_is_down_and_sends_no_credentials() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 AUTH PLAIN LOGIN"])]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::StartTlsUnavailable)));
    assert!(finding(&report, Cause::StartTlsUnavailable).message.contains("TLS is required"));
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]));
    assert!(!contains(harness.client_bytes(), b"AUTH"));
    assert!(!contains(harness.client_bytes(), PLAIN_RESPONSE.as_bytes()));
}

#[test]
fn opportunistic_without_starttls_is_up_with_an_info_finding() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    let (report, harness) = run_whole(&config, start, &then_quit(greeted([line("250 mx.example.com")])));
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].phase, notes[0].cause), (Some(Phase::Ehlo), None));
    assert!(notes[0].message.contains("STARTTLS is not offered"), "{notes:?}");
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]));
    assert_eq!(report.tls, None);
}

#[test]
fn starttls_454_is_a_temporary_failure() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    let text = "454 4.7.0 TLS not available due to local problem";
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 STARTTLS"]), expect("STARTTLS"), line(text)]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    let temporary = finding(&report, Cause::TemporaryFailure);
    assert_eq!((temporary.phase, temporary.server_text.as_deref()), (Some(Phase::StartTls), Some(text)));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS", "QUIT"]));
    assert_eq!(report.tls, None);
}

#[test]
fn starttls_5xx_is_starttls_rejected() {
    let start = start();
    let config = builder(TlsMode::StartTlsRequired).build().unwrap();
    let text = "554 5.7.3 Unable to initialize security subsystem";
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 STARTTLS"]), expect("STARTTLS"), line(text)]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::StartTlsRejected)));
    assert_eq!(finding(&report, Cause::StartTlsRejected).server_text.as_deref(), Some(text));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS", "QUIT"]));
}

#[test]
fn starttls_is_judged_by_its_code_not_its_text() {
    let start = start();
    let config = builder(TlsMode::StartTlsRequired).build().unwrap();
    let script = then_quit(greeted([
        lines(&["250-mx.example.com", "250 starttls"]),
        expect("STARTTLS"),
        line("220 Go ahead, make my day"),
        ServerStep::TlsEstablished(tls13()),
        expect("EHLO"),
        line("250 mx.example.com"),
    ]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS", EHLO, "QUIT"]));
}

#[test]
fn plaintext_injected_after_the_starttls_220_is_never_processed() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    // The injected "EHLO reply" offers AUTH: were it processed, the probe would go on to send credentials.
    let script = greeted([
        lines(&["250-mx.example.com", "250 STARTTLS"]),
        expect("STARTTLS"),
        lines(&["220 2.0.0 Ready to start TLS", "250-evil.example", "250 AUTH PLAIN LOGIN"]),
        ServerStep::TlsEstablished(tls13()),
        expect("EHLO"),
        tls_ehlo_with_auth(),
        expect("AUTH"),
        line("235 2.7.0 ok"),
        expect("QUIT"),
        line("221 Bye"),
    ]);
    let (report, harness) = run(&config, start, &script, Feed::Whole);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    let violation = finding(&report, Cause::ProtocolViolation);
    assert!(violation.message.contains("injected"), "{violation:?}");
    assert_eq!(violation.phase, Some(Phase::StartTls));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS"]), "no TLS, no second EHLO, no AUTH, no QUIT");
    assert_eq!(report.tls, None, "TLS was never requested");
    assert_eq!(report.capabilities_tls, None);
    assert!(!report.transcript.iter().any(|l| l.text.contains("evil")), "the injected reply is not even shown");
    assert!(!contains(harness.client_bytes(), PLAIN_RESPONSE.as_bytes()));

    // However the 220 and the injected lines are cut into reads, the injection is never taken as a reply.
    let total = server_bytes(&script);
    for feed in (1..=total).map(Feed::SplitAt).chain((1..=64).map(Feed::Chunks)) {
        let (report, harness) = run(&config, start, &script, feed);
        assert_eq!(report.cause, Some(Cause::ProtocolViolation), "{feed:?}");
        assert_eq!(report.capabilities_tls, None, "{feed:?}");
        assert!(!report.transcript.iter().any(|l| l.text.contains("evil")), "{feed:?}");
        assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS"]), "{feed:?}");
    }
}

#[test]
fn ehlo_is_sent_again_after_tls_and_pre_tls_capabilities_are_forgotten() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    // Before TLS the server claims PLAIN; inside TLS it offers LOGIN only. Only the second list counts.
    let script = then_quit(greeted([
        lines(&["250-mx.example.com", "250-SIZE 1000", "250-AUTH PLAIN", "250 STARTTLS"]),
        expect("STARTTLS"),
        line("220 2.0.0 Ready to start TLS"),
        ServerStep::TlsEstablished(tls13()),
        expect("EHLO"),
        lines(&["250-mx.example.com", "250-SIZE 2000", "250 AUTH LOGIN"]),
        expect("AUTH LOGIN"),
        line("334 VXNlcm5hbWU6"),
        expect(LOGIN_USER),
        line("334 UGFzc3dvcmQ6"),
        expect(LOGIN_PASSWORD),
        line("235 2.7.0 Authentication successful"),
    ]));
    let (report, harness) = assert_split_invariant(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(
        harness.client_lines(),
        client(&[EHLO, "STARTTLS", EHLO, "AUTH LOGIN", LOGIN_USER, LOGIN_PASSWORD, "QUIT"])
    );
    let plain = report.capabilities.as_ref().unwrap();
    let tls = report.capabilities_tls.as_ref().unwrap();
    assert_eq!((plain.size_limit, tls.size_limit), (Some(1000), Some(2000)));
    assert_eq!(plain.auth_mechanisms, [AuthMechanism::Plain]);
    assert_eq!(tls.auth_mechanisms, [AuthMechanism::Login]);
    assert_eq!(report.effective_capabilities(), Some(tls));
    assert_eq!(
        phases(&report),
        [
            Phase::Greeting,
            Phase::Ehlo,
            Phase::StartTls,
            Phase::TlsHandshake,
            Phase::EhloTls,
            Phase::Auth,
            Phase::Auth,
            Phase::Auth,
            Phase::Quit
        ]
    );
    assert_eq!(step(&report, Phase::EhloTls).command.as_deref(), Some(EHLO));
}

#[test]
fn ehlo_500_inside_tls_does_not_fall_back_to_helo() {
    let start = start();
    let config = builder(TlsMode::StartTlsRequired).build().unwrap();
    let script = then_quit(tls_then([line("500 5.5.1 what?")]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::EhloRejected)));
    assert_eq!(finding(&report, Cause::EhloRejected).phase, Some(Phase::EhloTls));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS", EHLO, "QUIT"]));
}

// ---- AUTH ----------------------------------------------------------------------------------------------------------

fn auth_script(reply: &str) -> Vec<ServerStep> {
    then_quit(tls_then([tls_ehlo_with_auth(), expect("AUTH PLAIN"), line(reply)]))
}

#[test]
fn auth_plain_235_is_up() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let (report, harness) = run_whole(&config, start, &auth_script("235 2.7.0 Authentication successful"));
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(
        harness.client_lines(),
        client(&[EHLO, "STARTTLS", EHLO, &format!("AUTH PLAIN {PLAIN_RESPONSE}"), "QUIT"])
    );
    assert_eq!(step(&report, Phase::Auth).command.as_deref(), Some("AUTH PLAIN <redacted>"));
}

#[test]
fn auth_535_is_auth_failed_with_the_server_text() {
    let start = start();
    let config =
        with_auth(builder(TlsMode::StartTlsRequired)).mail_from(USER).rcpt_to("a@example.com").build().unwrap();
    let text = "535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6";
    let (report, harness) = run_whole(&config, start, &auth_script(text));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::AuthFailed)));
    let failed = finding(&report, Cause::AuthFailed);
    assert_eq!((failed.phase, failed.server_text.as_deref()), (Some(Phase::Auth), Some(text)));
    assert_eq!(harness.client_lines().last().map(String::as_str), Some("QUIT"), "no envelope after AUTH failed");
    assert!(!harness.client_lines().iter().any(|l| l.starts_with("MAIL")));
}

#[test]
fn auth_454_is_a_temporary_failure() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let text = "454 4.7.0 Temporary authentication failure";
    let (report, _) = run_whole(&config, start, &auth_script(text));
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    assert_eq!(finding(&report, Cause::TemporaryFailure).server_text.as_deref(), Some(text));
}

#[test]
fn auth_plain_answers_an_empty_challenge() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let script = then_quit(tls_then([
        tls_ehlo_with_auth(),
        expect("AUTH PLAIN"),
        line("334 "),
        expect(PLAIN_RESPONSE),
        line("235 2.7.0 ok"),
    ]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(harness.client_lines()[4], PLAIN_RESPONSE);
    assert!(report.transcript.iter().all(|l| !l.text.contains(PLAIN_RESPONSE)));
}

#[test]
fn auth_login_334_334_235() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).auth_mechanisms([AuthMechanism::Login]).build().unwrap();
    let script = then_quit(tls_then([
        tls_ehlo_with_auth(),
        expect("AUTH LOGIN"),
        line("334 VXNlcm5hbWU6"),
        expect(LOGIN_USER),
        line("334 UGFzc3dvcmQ6"),
        expect(LOGIN_PASSWORD),
        line("235 2.7.0 Authentication successful"),
    ]));
    let (report, harness) = assert_split_invariant(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(harness.client_lines()[3..], client(&["AUTH LOGIN", LOGIN_USER, LOGIN_PASSWORD, "QUIT"]));
    let auth: Vec<_> = report.steps.iter().filter(|s| s.phase == Phase::Auth).collect();
    let commands: Vec<_> = auth.iter().map(|s| s.command.as_deref().unwrap()).collect();
    assert_eq!(commands, ["AUTH LOGIN", "<redacted>", "<redacted>"]);
    let codes: Vec<_> = auth.iter().map(|s| s.reply.as_ref().unwrap().code.get()).collect();
    assert_eq!(codes, [334, 334, 235]);
}

fn assert_no_credentials(report: &Report, secrets: &[&str]) {
    let debug = format!("{report:?}");
    let json = serde_json::to_string(report).unwrap();
    for secret in secrets {
        assert!(report.transcript.iter().all(|l| !l.text.contains(secret)), "{secret} in the transcript");
        assert!(!debug.contains(secret), "{secret} in Debug");
        assert!(!json.contains(secret), "{secret} in JSON");
    }
}

#[test]
fn credentials_never_appear_in_the_report_but_do_go_on_the_wire() {
    let start = start();
    let secrets = [PASSWORD, PLAIN_RESPONSE, LOGIN_USER, LOGIN_PASSWORD];

    // PLAIN, accepted and refused.
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    for reply in ["235 2.7.0 ok", "535 5.7.8 Error: authentication failed"] {
        let (report, harness) = run_whole(&config, start, &auth_script(reply));
        assert!(!report.transcript.is_empty());
        assert_no_credentials(&report, &secrets);
        assert!(contains(harness.client_bytes(), format!("AUTH PLAIN {PLAIN_RESPONSE}\r\n").as_bytes()));
    }

    // LOGIN.
    let config = with_auth(builder(TlsMode::StartTlsRequired)).auth_mechanisms([AuthMechanism::Login]).build().unwrap();
    let script = then_quit(tls_then([
        tls_ehlo_with_auth(),
        expect("AUTH LOGIN"),
        line("334 VXNlcm5hbWU6"),
        expect(LOGIN_USER),
        line("334 UGFzc3dvcmQ6"),
        expect(LOGIN_PASSWORD),
        line("535 5.7.8 Error: authentication failed: UGFzc3dvcmQ6"),
    ]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::AuthFailed));
    assert_no_credentials(&report, &secrets);
    assert!(contains(harness.client_bytes(), format!("{LOGIN_USER}\r\n{LOGIN_PASSWORD}\r\n").as_bytes()));
}

/// A reply that echoes what the probe sent in AUTH (the PLAIN response, LOGIN's answers, the password itself) is
/// redacted like the command was: in the steps, the transcript, the findings and the JSON.
#[test]
fn replies_that_echo_an_auth_payload_are_redacted_like_the_command() {
    let start = start();
    let secrets = [PASSWORD, PLAIN_RESPONSE, LOGIN_USER, LOGIN_PASSWORD];
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let echo = format!("535 5.7.8 Error: authentication failed for {PLAIN_RESPONSE} (that is, {PASSWORD})");
    let (report, _) = run_whole(&config, start, &auth_script(&echo));
    assert_eq!(report.cause, Some(Cause::AuthFailed));
    assert_no_credentials(&report, &secrets);
    let failed = finding(&report, Cause::AuthFailed);
    let redacted = "535 5.7.8 Error: authentication failed for <redacted> (that is, <redacted>)";
    assert_eq!(failed.server_text.as_deref(), Some(redacted));
    assert_eq!(step(&report, Phase::Auth).reply.as_ref().unwrap().text_lossy(), &redacted[4..]);
    assert!(report.transcript.iter().any(|l| l.direction == smtp_probe_proto::Direction::Server && l.text == redacted));

    // LOGIN: a challenge that echoes the user name back, and a refusal quoting the password's response.
    let config = with_auth(builder(TlsMode::StartTlsRequired)).auth_mechanisms([AuthMechanism::Login]).build().unwrap();
    let script = then_quit(tls_then([
        tls_ehlo_with_auth(),
        expect("AUTH LOGIN"),
        line("334 VXNlcm5hbWU6"),
        expect(LOGIN_USER),
        line(&format!("334 UGFzc3dvcmQ6 {LOGIN_USER}")),
        expect(LOGIN_PASSWORD),
        line(&format!("535-5.7.8 bad password {LOGIN_PASSWORD}\r\n535 5.7.8 try again")),
    ]));
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::AuthFailed));
    assert_no_credentials(&report, &secrets);
    assert_eq!(
        finding(&report, Cause::AuthFailed).server_text.as_deref(),
        Some("535 5.7.8 bad password <redacted> 5.7.8 try again")
    );

    // Data nobody asked for, quoted in a finding, is redacted too.
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let script = then_quit(tls_then([
        tls_ehlo_with_auth(),
        expect("AUTH PLAIN"),
        line(&format!("235 2.7.0 ok\r\n250 extra {PASSWORD}")),
    ]));
    let (report, _) = run_whole(&config, start, &script);
    let violation = finding(&report, Cause::ProtocolViolation);
    assert!(violation.message.ends_with("\"250 extra <redacted>\\r\\n\""), "{}", violation.message);
    assert_no_credentials(&report, &secrets);
}

/// Every combination of TLS mode, certificate outcome and override: AUTH bytes go out only when the TLS the
/// report holds verified, or an override allows it, and a probe that withholds them is never up.
#[test]
fn no_auth_bytes_unless_verified_or_overridden_in_every_combination() {
    let start = start();
    for mode in [TlsMode::None, TlsMode::StartTlsOpportunistic, TlsMode::StartTlsRequired, TlsMode::Implicit] {
        for verified in [true, false] {
            for inspect_only in [false, true] {
                for plaintext in [false, true] {
                    for offers_starttls in [true, false] {
                        let case = format!(
                            "{mode}, verified {verified}, inspect-only {inspect_only}, plaintext {plaintext}, \
                             STARTTLS offered {offers_starttls}"
                        );
                        let trust = smtp_probe_proto::TlsConfig::builder().inspect_only(inspect_only).build().unwrap();
                        let built = with_auth(builder(mode)).allow_plaintext_auth(plaintext).tls_config(trust).build();
                        let Ok(config) = built else {
                            assert!(mode == TlsMode::None && !plaintext, "{case}: {built:?}");
                            continue;
                        };
                        let tls = TlsInfo {
                            verified,
                            verify_error: (!verified).then_some(CertificateProblem::UnknownIssuer),
                            ..tls13()
                        };
                        let ehlo = if offers_starttls {
                            lines(&["250-mx.example.com", "250-AUTH PLAIN", "250 STARTTLS"])
                        } else {
                            lines(&["250-mx.example.com", "250 AUTH PLAIN"])
                        };
                        let mut script = match mode {
                            TlsMode::Implicit => vec![ServerStep::TlsEstablished(tls.clone()), line(GREETING)],
                            _ => vec![line(GREETING)],
                        };
                        script.extend([expect("EHLO"), ehlo]);
                        if offers_starttls && matches!(mode, TlsMode::StartTlsOpportunistic | TlsMode::StartTlsRequired)
                        {
                            script.extend([
                                expect("STARTTLS"),
                                line("220 ready"),
                                ServerStep::TlsEstablished(tls.clone()),
                                expect("EHLO"),
                                tls_ehlo_with_auth(),
                            ]);
                        }
                        script.extend([expect("AUTH"), line("235 2.7.0 ok")]);
                        // The server expects AUTH; when the probe withholds it, the script simply does not match.
                        let mut harness = Harness::new(config, start, then_quit(script));
                        let report = harness.run();
                        let sent = contains(harness.client_bytes(), b"AUTH ");
                        let tls_up = report.tls.is_some() && report.capabilities_tls.is_some();
                        let verified_tls = tls_up && report.tls.as_ref().unwrap().is_verified();
                        let allowed = verified_tls || (tls_up && inspect_only) || plaintext;
                        assert!(!sent || allowed, "{case}: AUTH sent");
                        if !sent {
                            assert_ne!(report.verdict, Verdict::Up, "{case}: credentials withheld, yet up");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn auth_is_refused_over_plaintext_when_starttls_is_not_offered() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsOpportunistic)).build().unwrap();
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 AUTH PLAIN LOGIN"])]));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::AuthUnavailable)));
    assert!(finding(&report, Cause::AuthUnavailable).message.contains("not encrypted"));
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]));
    assert!(!contains(harness.client_bytes(), b"AUTH"));
    assert!(!contains(harness.client_bytes(), PLAIN_RESPONSE.as_bytes()));
}

#[test]
fn auth_not_offered_or_no_common_mechanism_is_auth_unavailable() {
    let start = start();
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    let (report, harness) = run_whole(&config, start, &then_quit(tls_then([line("250 mx.example.com")])));
    assert_eq!(report.cause, Some(Cause::AuthUnavailable));
    assert!(finding(&report, Cause::AuthUnavailable).message.contains("does not offer AUTH"));
    assert!(!contains(harness.client_bytes(), b"AUTH"));

    let script = then_quit(tls_then([lines(&["250-mx.example.com", "250 AUTH CRAM-MD5 XOAUTH2"])]));
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::AuthUnavailable));
    let message = &finding(&report, Cause::AuthUnavailable).message;
    assert!(message.contains("CRAM-MD5 XOAUTH2") && message.contains("PLAIN LOGIN"), "{message}");
}

// ---- the envelope --------------------------------------------------------------------------------------------------

fn envelope_config() -> ProbeConfig {
    builder(TlsMode::None).mail_from(USER).rcpt_to("postmaster@example.com").build().unwrap()
}

fn to_rcpt(rcpt_reply: &str) -> Vec<ServerStep> {
    then_quit(greeted([
        lines(&["250-mx.example.com", "250 ENHANCEDSTATUSCODES"]),
        expect("MAIL FROM"),
        line("250 2.1.0 Ok"),
        expect("RCPT TO"),
        line(rcpt_reply),
    ]))
}

#[test]
fn mail_from_5xx_is_sender_rejected() {
    let start = start();
    let text = "553 5.7.1 <probe@example.org>: Sender address rejected: not owned by user";
    let script = then_quit(greeted([line("250 mx.example.com"), expect("MAIL FROM"), line(text)]));
    let (report, harness) = run_whole(&envelope_config(), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::SenderRejected)));
    assert_eq!(finding(&report, Cause::SenderRejected).server_text.as_deref(), Some(text));
    assert_eq!(harness.client_lines(), client(&[EHLO, "MAIL FROM:<probe@example.org>", "QUIT"]));
}

#[test]
fn rcpt_550_is_recipient_rejected_with_its_enhanced_code() {
    let start = start();
    let text = "550 5.1.1 <postmaster@example.com>: Recipient address rejected: User unknown in local recipient table";
    let (report, harness) = run_whole(&envelope_config(), start, &to_rcpt(text));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::RecipientRejected)));
    let rejected = finding(&report, Cause::RecipientRejected);
    assert_eq!((rejected.phase, rejected.server_text.as_deref()), (Some(Phase::RcptTo), Some(text)));
    let reply = step(&report, Phase::RcptTo).reply.as_ref().unwrap();
    assert_eq!(reply.enhanced, Some(EnhancedCode { class: 5, subject: 1, detail: 1 }));
    assert_eq!(reply.enhanced.unwrap().to_string(), "5.1.1");
    assert!(!harness.client_lines().iter().any(|l| l == "RSET" || l == "DATA"));
    assert_eq!(harness.client_lines().last().map(String::as_str), Some("QUIT"));
}

#[test]
fn rcpt_450_greylisting_is_degraded() {
    let start = start();
    let text = "450 4.2.0 <postmaster@example.com>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/";
    let (report, _) = run_whole(&envelope_config(), start, &to_rcpt(text));
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    let temporary = finding(&report, Cause::TemporaryFailure);
    assert_eq!((temporary.phase, temporary.server_text.as_deref()), (Some(Phase::RcptTo), Some(text)));
    assert_eq!(temporary.severity, Severity::Warning);
}

#[test]
fn envelope_check_stops_before_data_with_rset_then_quit() {
    let start = start();
    let config =
        builder(TlsMode::None).mail_from("").rcpt_to("a@example.com").rcpt_to("b@example.com").build().unwrap();
    let script = then_quit(greeted([
        line("250 mx.example.com"),
        expect("MAIL FROM"),
        line("250 2.1.0 Ok"),
        expect("RCPT TO"),
        line("250 2.1.5 Ok"),
        expect("RCPT TO"),
        line("251 2.1.5 User not local; will forward"),
        expect("RSET"),
        line("250 2.0.0 Ok"),
    ]));
    let (report, harness) = assert_split_invariant(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(
        harness.client_lines(),
        client(&[EHLO, "MAIL FROM:<>", "RCPT TO:<a@example.com>", "RCPT TO:<b@example.com>", "RSET", "QUIT"])
    );
    assert_eq!(
        phases(&report),
        [Phase::Greeting, Phase::Ehlo, Phase::MailFrom, Phase::RcptTo, Phase::RcptTo, Phase::Rset, Phase::Quit]
    );
    assert_eq!(report.message_token, None);
    assert!(!contains(harness.client_bytes(), b"DATA"));
}

fn message_config(token: &str) -> ProbeConfig {
    builder(TlsMode::None)
        .mail_from(USER)
        .rcpt_to("inbox@example.com")
        .send_test_message(token)
        .test_message_date("Mon, 03 Mar 2025 10:00:00 +0000")
        .build()
        .unwrap()
}

fn to_data(rest: impl IntoIterator<Item = ServerStep>) -> Vec<ServerStep> {
    let mut script = greeted([
        lines(&["250-mx.example.com", "250 SIZE 10240000"]),
        expect("MAIL FROM"),
        line("250 2.1.0 Ok"),
        expect("RCPT TO"),
        line("250 2.1.5 Ok"),
        expect("DATA"),
    ]);
    script.extend(rest);
    then_quit(script)
}

#[test]
fn test_message_is_sent_with_its_token_and_accepted() {
    let start = start();
    let token = "probe-7c1e9a2b-2025";
    let script = to_data([
        line("354 End data with <CR><LF>.<CR><LF>"),
        expect("<message>"),
        line("250 2.0.0 Ok: queued as 4XyZ1r2abc"),
    ]);
    let (report, harness) = assert_split_invariant(&message_config(token), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(report.message_token.as_deref(), Some(token));
    assert_eq!(report.queue_id.as_deref(), Some("4XyZ1r2abc"), "the queue id from the 250");
    let accepted = report.message_accepted.expect("the acceptance is timed");
    let message_step = report.steps.iter().find(|s| s.phase == Phase::Message).unwrap();
    assert!(accepted >= message_step.duration && accepted <= report.total, "{accepted:?} vs {:?}", report.total);
    let lines = harness.client_lines();
    assert!(lines[1].starts_with("MAIL FROM:<probe@example.org> SIZE="), "SIZE declared when offered: {lines:?}");
    assert_eq!(lines[2..], client(&["RCPT TO:<inbox@example.com>", "DATA", "<message>", "QUIT"]));
    assert_eq!(
        phases(&report),
        [Phase::Greeting, Phase::Ehlo, Phase::MailFrom, Phase::RcptTo, Phase::Data, Phase::Message, Phase::Quit]
    );

    // The message itself, as it went on the wire: between "DATA\r\n" and "QUIT\r\n".
    let bytes = harness.client_bytes();
    let begin = bytes.windows(6).position(|w| w == b"DATA\r\n").unwrap() + 6;
    let end = bytes.len() - b"QUIT\r\n".len();
    assert_eq!(&bytes[end..], b"QUIT\r\n");
    let message = &bytes[begin..end];
    assert!(message.ends_with(b"\r\n.\r\n"), "terminated by CRLF . CRLF");
    assert!(contains(message, format!("\r\nX-Smtp-Probe-Token: {token}\r\n").as_bytes()));
    assert!(contains(message, b"\r\nDate: Mon, 03 Mar 2025 10:00:00 +0000\r\n"));
    assert!(message.starts_with(b"From: <probe@example.org>\r\nTo: <inbox@example.com>\r\n"));
    // Dot-stuffing intact: the terminator appears once, at the end; no bare LF or CR anywhere.
    let body = &message[..message.len() - 3];
    assert!(!contains(body, b"\r\n.\r\n"));
    for l in body.split(|&b| b == b'\n') {
        assert!(l.is_empty() || l.ends_with(b"\r"), "bare LF in the message");
        assert!(!l.starts_with(b".") || l.starts_with(b".."), "unstuffed dot line");
    }
    let declared: usize = lines[1].rsplit('=').next().unwrap().parse().unwrap();
    assert!(declared > 0 && declared <= message.len(), "SIZE={declared} for {} bytes", message.len());
    // The transcript shows the message, not its content.
    assert!(report.transcript.iter().any(|l| l.text.starts_with("<test message, ")));
}

#[test]
fn data_554_is_data_rejected() {
    let start = start();
    let text = "554 5.5.1 Error: no valid recipients";
    let (report, harness) = run_whole(&message_config("t1"), start, &to_data([line(text)]));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DataRejected)));
    let rejected = finding(&report, Cause::DataRejected);
    assert_eq!((rejected.phase, rejected.server_text.as_deref()), (Some(Phase::Data), Some(text)));
    assert_eq!(harness.client_lines()[3..], client(&["DATA", "QUIT"]));
    assert_eq!(report.message_token, None);

    // Refused after the body: the message phase.
    let text = "554 5.7.1 Message rejected as spam";
    let script = to_data([line("354 go ahead"), expect("<message>"), line(text)]);
    let (report, _) = run_whole(&message_config("t2"), start, &script);
    assert_eq!(report.cause, Some(Cause::DataRejected));
    assert_eq!(finding(&report, Cause::DataRejected).phase, Some(Phase::Message));
    assert_eq!(report.message_token, None);
    assert_eq!((report.queue_id, report.message_accepted), (None, None), "nothing was accepted");
}

// ---- QUIT and closes -----------------------------------------------------------------------------------------------

fn quit_config() -> ProbeConfig {
    builder(TlsMode::None).timeouts(Timeouts { quit: secs(3), ..Timeouts::default() }).build().unwrap()
}

#[test]
fn quit_unanswered_is_still_up_and_bounded_by_the_quit_timeout() {
    let start = start();
    let script = greeted([ServerStep::Delay(ms(100)), line("250 mx.example.com"), expect("QUIT"), ServerStep::Hang]);
    let (report, harness) = run_whole(&quit_config(), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].phase, Some(Phase::Quit));
    assert!(notes[0].message.contains("no reply to QUIT"));
    assert_eq!(client_sent_at(&report, "QUIT"), ms(100));
    assert_eq!(harness.elapsed(), ms(100) + secs(3), "waited exactly the QUIT timeout");
    assert_eq!((report.response_time, report.total), (ms(100), ms(3100)), "QUIT is not response time");
    assert_eq!(step(&report, Phase::Quit).reply, None);
}

#[test]
fn quit_answered_with_500_is_still_up() {
    let start = start();
    let script = greeted([line("250 mx.example.com"), expect("QUIT"), line("500 5.5.2 Error: bad syntax")]);
    let (report, harness) = run_whole(&quit_config(), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1);
    assert!(notes[0].message.contains("QUIT answered with 500"));
    assert_eq!(notes[0].server_text.as_deref(), Some("500 5.5.2 Error: bad syntax"));
    assert_eq!(harness.elapsed(), ms(0));
}

#[test]
fn connection_closed_before_221_is_still_up_with_a_note() {
    let start = start();
    let script = greeted([line("250 mx.example.com"), expect("QUIT"), ServerStep::Close]);
    let (report, harness) = run_whole(&quit_config(), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1, "the missing 221 is worth a note: {:#?}", report.findings);
    assert_eq!(notes[0].phase, Some(Phase::Quit));
    assert!(notes[0].message.contains("closed"), "{notes:?}");
    assert_eq!(harness.elapsed(), ms(0), "no waiting for a 221 that cannot come");
    assert_eq!(step(&report, Phase::Quit).reply, None);
}

#[test]
fn close_right_after_a_5xx_says_closed_after_that_reply() {
    let start = start();
    let text = "550 5.1.1 <postmaster@example.com>: User unknown";
    let script = greeted([
        line("250 mx.example.com"),
        expect("MAIL FROM"),
        line("250 2.1.0 Ok"),
        expect("RCPT TO"),
        line(text),
        ServerStep::Close,
    ]);
    let (report, harness) = run_whole(&envelope_config(), start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::RecipientRejected)));
    assert_eq!(finding(&report, Cause::RecipientRejected).server_text.as_deref(), Some(text));
    // The close is reported in words, with the reply it followed: not an opaque EOF, and not a second failure.
    let closed: Vec<_> = report.findings.iter().filter(|f| f.message.contains("closed")).collect();
    assert_eq!(closed.len(), 1, "{:#?}", report.findings);
    assert!(closed[0].message.contains(text), "{closed:?}");
    assert_eq!(closed[0].severity, Severity::Info);
    assert_eq!(harness.client_lines().last().map(String::as_str), Some("QUIT"));
    assert!(harness.elapsed() < secs(1));
}

#[test]
fn a_5xx_and_the_close_in_one_read_still_say_closed_after_that_reply() {
    let start = start();
    let mut probe = Probe::new(builder(TlsMode::None).build().unwrap(), start, wall_start());
    probe.handle_input(start, b"554 5.7.1 Go away\r\n");
    probe.handle_eof(start);
    assert_eq!(probe.poll_output(start), Output::Done, "no QUIT onto a closed connection");
    let report = probe.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingRejected)));
    assert_eq!(finding(&report, Cause::GreetingRejected).server_text.as_deref(), Some("554 5.7.1 Go away"));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1, "{:#?}", report.findings);
    assert_eq!(
        notes[0].message,
        "the server closed the connection before QUIT could be sent, after \"554 5.7.1 Go away\""
    );
}

// ---- expectations ----------------------------------------------------------------------------------------------------

#[test]
fn greeting_without_the_expected_text_is_expectation_failed() {
    let start = start();
    let config = builder(TlsMode::None).expect_greeting("Postfix").build().unwrap();
    let (report, harness) = run_whole(&config, start, &then_quit(greeted([line("250 mx.example.com")])));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ExpectationFailed)));
    let failed = finding(&report, Cause::ExpectationFailed);
    assert_eq!(failed.phase, Some(Phase::Greeting));
    assert!(failed.message.contains("\"Postfix\""));
    assert_eq!(failed.server_text.as_deref(), Some(GREETING));
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]), "the conversation still ends properly");

    let config = builder(TlsMode::None).expect_greeting("ESMTP").build().unwrap();
    let (report, _) = run_whole(&config, start, &then_quit(greeted([line("250 mx.example.com")])));
    assert_eq!(report.verdict, Verdict::Up);
}

#[test]
fn missing_required_capability_is_expectation_failed() {
    let start = start();
    let config =
        builder(TlsMode::None).require_capability(Keyword::SmtpUtf8).require_capability(Keyword::Pipelining).build();
    let config = config.unwrap();
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 PIPELINING"])]));
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ExpectationFailed)));
    let failed: Vec<_> = report.findings.iter().filter(|f| f.cause == Some(Cause::ExpectationFailed)).collect();
    assert_eq!(failed.len(), 1, "PIPELINING is there: {failed:?}");
    assert!(failed[0].message.contains("SMTPUTF8"));
    assert_eq!(failed[0].phase, Some(Phase::Ehlo));
}

#[test]
fn requiring_starttls_is_judged_on_the_ehlo_before_tls() {
    let start = start();
    // RFC 3207 §4.2: a server must not offer STARTTLS again inside TLS, so only the first EHLO can show it.
    let config = builder(TlsMode::StartTlsRequired).require_capability(Keyword::StartTls).build().unwrap();
    let script = then_quit(tls_then([lines(&["250-mx.example.com", "250 PIPELINING"])]));
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{:#?}", report.findings);

    let config = builder(TlsMode::None).require_capability(Keyword::StartTls).build().unwrap();
    let (report, _) = run_whole(&config, start, &then_quit(greeted([line("250 mx.example.com")])));
    assert_eq!(report.cause, Some(Cause::ExpectationFailed));
    assert!(finding(&report, Cause::ExpectationFailed).message.contains("STARTTLS"));
}

#[test]
fn size_below_the_minimum_is_expectation_failed() {
    let start = start();
    let config = builder(TlsMode::None).min_size(10_000_000).build().unwrap();
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 SIZE 1000000"])]));
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ExpectationFailed)));
    assert!(finding(&report, Cause::ExpectationFailed).message.contains("1000000 is below the expected 10000000"));

    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 SIZE 52428800"])]));
    assert_eq!(run_whole(&config, start, &script).0.verdict, Verdict::Up);
    // SIZE 0 is "no fixed limit" (RFC 1870): large enough.
    let script = then_quit(greeted([lines(&["250-mx.example.com", "250 SIZE 0"])]));
    assert_eq!(run_whole(&config, start, &script).0.verdict, Verdict::Up);
    let script = then_quit(greeted([line("250 mx.example.com")]));
    let (report, _) = run_whole(&config, start, &script);
    assert!(finding(&report, Cause::ExpectationFailed).message.contains("SIZE is not advertised"));
}

// ---- thresholds --------------------------------------------------------------------------------------------------------

#[test]
fn slow_responses_cross_the_warning_then_the_critical_threshold() {
    let start = start();
    let config = builder(TlsMode::None).response_time(Some(secs(2)), Some(secs(5))).build().unwrap();
    let slow = |delay| then_quit(greeted([ServerStep::Delay(delay), line("250 mx.example.com")]));

    let (report, _) = run_whole(&config, start, &slow(ms(1900)));
    assert_eq!((report.verdict, report.cause, report.response_time), (Verdict::Up, None, ms(1900)));

    let (report, _) = run_whole(&config, start, &slow(secs(3)));
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::SlowResponse)));
    assert_eq!(finding(&report, Cause::SlowResponse).severity, Severity::Warning);
    assert!(finding(&report, Cause::SlowResponse).message.contains("3000 ms is over the 2000 ms threshold"));

    let (report, _) = run_whole(&config, start, &slow(secs(6)));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::SlowResponse)));
    assert_eq!(finding(&report, Cause::SlowResponse).severity, Severity::Critical);

    // A slow goodbye is not a slow server.
    let script = greeted([line("250 mx.example.com"), expect("QUIT"), ServerStep::Delay(ms(2500)), line("221 Bye")]);
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.response_time, harness.elapsed()), (Verdict::Up, ms(0), ms(2000)));
}

fn certificate(subject: &str, days_left: i64) -> CertificateInfo {
    CertificateInfo {
        subject: subject.into(),
        issuer: "CN=Example Issuing CA".into(),
        sans: vec!["mx.example.com".into()],
        not_before: "2025-01-01T00:00:00Z".into(),
        not_after: "2025-03-08T00:00:00Z".into(),
        not_after_unix: 1_741_392_000 + days_left * 86_400,
        days_left,
        seconds_left: days_left * 86_400,
        ..Default::default()
    }
}

fn tls_with(certificates: Vec<CertificateInfo>) -> TlsInfo {
    TlsInfo { certificates, ..tls13() }
}

#[test]
fn certificate_days_thresholds_warn_then_go_critical() {
    let start = start();
    let script = |tls| {
        let mut script = into_tls(tls);
        script.push(line("250 mx.example.com"));
        then_quit(script)
    };
    let leaf = || tls_with(vec![certificate("CN=mx.example.com", 5)]);

    let config = builder(TlsMode::StartTlsRequired).certificate_days(Some(10), Some(3)).build().unwrap();
    let (report, harness) = run_whole(&config, start, &script(leaf()));
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::CertificateExpiring)));
    let expiring = finding(&report, Cause::CertificateExpiring);
    assert_eq!((expiring.severity, expiring.phase), (Severity::Warning, Some(Phase::TlsHandshake)));
    assert!(expiring.message.contains("CN=mx.example.com expires in 5 days"), "{expiring:?}");
    assert_eq!(harness.client_lines().last().map(String::as_str), Some("QUIT"), "the probe carries on");

    let config = builder(TlsMode::StartTlsRequired).certificate_days(Some(30), Some(7)).build().unwrap();
    let (report, _) = run_whole(&config, start, &script(leaf()));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::CertificateExpiring)));
    assert_eq!(finding(&report, Cause::CertificateExpiring).severity, Severity::Critical);

    let config = builder(TlsMode::StartTlsRequired).certificate_days(Some(5), Some(2)).build().unwrap();
    assert_eq!(run_whole(&config, start, &script(leaf())).0.verdict, Verdict::Up, "5 days left is not under 5");

    // The chain's earliest expiry counts, and is named as the intermediate it is.
    let intermediate = CertificateInfo { position: 1, ..certificate("CN=Example Issuing CA", 5) };
    let chain = tls_with(vec![certificate("CN=mx.example.com", 60), intermediate]);
    let config = builder(TlsMode::StartTlsRequired).certificate_days(Some(10), None).build().unwrap();
    let (report, _) = run_whole(&config, start, &script(chain));
    let message = &finding(&report, Cause::CertificateExpiring).message;
    assert!(message.starts_with("intermediate certificate CN=Example Issuing CA expires in 5 days"), "{message}");
}

#[test]
fn invalid_certificate_is_certificate_invalid_with_subject_and_days() {
    let start = start();
    let config = builder(TlsMode::StartTlsRequired).build().unwrap();
    let info = tls_with(vec![certificate("CN=mx.example.com", -3)]);
    let failure = TlsFailure::Certificate { problem: CertificateProblem::Expired, info: Box::new(info.clone()) };
    let mut script = greeted([
        lines(&["250-mx.example.com", "250 STARTTLS"]),
        expect("STARTTLS"),
        line("220 2.0.0 Ready to start TLS"),
    ]);
    script.push(ServerStep::TlsFailed(failure));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::CertificateInvalid)));
    let invalid = finding(&report, Cause::CertificateInvalid);
    assert_eq!(invalid.phase, Some(Phase::TlsHandshake));
    assert!(
        invalid.message.contains("CN=mx.example.com") && invalid.message.contains("expired 3 days ago"),
        "{invalid:?}"
    );
    assert_eq!(report.tls.as_ref(), Some(&info), "what was presented is kept");
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS"]), "nothing more on a failed handshake");
    assert_eq!(report.capabilities_tls, None);
}

#[test]
fn handshake_failure_is_tls_handshake_failed() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    let reason = "received fatal alert: ProtocolVersion";
    let mut script = greeted([lines(&["250-mx.example.com", "250 STARTTLS"]), expect("STARTTLS"), line("220 Ready")]);
    script.push(ServerStep::TlsFailed(TlsFailure::Handshake { reason: reason.into() }));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::TlsHandshakeFailed)));
    let failed = finding(&report, Cause::TlsHandshakeFailed);
    assert_eq!(failed.phase, Some(Phase::TlsHandshake));
    assert!(failed.message.contains(reason));
    assert_eq!(harness.client_lines(), client(&[EHLO, "STARTTLS"]));
    assert_eq!(report.tls, None);
}

#[test]
fn implicit_tls_asks_for_tls_before_the_greeting() {
    let start = start();
    let config = builder(TlsMode::Implicit).build().unwrap();
    let mut probe = Probe::new(config.clone(), start, wall_start());
    let request = TlsRequest { tls_name: Some(TARGET.into()), implicit: true };
    assert_eq!(probe.poll_output(start), Output::StartTls(request));

    let script = then_quit(vec![
        ServerStep::TlsEstablished(tls13()),
        line("220 mx.example.com ESMTP"),
        expect("EHLO"),
        lines(&["250-mx.example.com", "250 AUTH PLAIN"]),
    ]);
    let mut harness = Harness::new(config, start, script);
    let report = harness.run();
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(phases(&report), [Phase::TlsHandshake, Phase::Greeting, Phase::EhloTls, Phase::Quit]);
    assert_eq!(report.capabilities, None);
    assert_eq!(report.capabilities_tls.as_ref().unwrap().auth_mechanisms, [AuthMechanism::Plain]);
    assert_eq!(harness.client_lines(), client(&[EHLO, "QUIT"]), "no STARTTLS inside implicit TLS");
    assert_eq!(report.tls.as_ref().unwrap().version.as_deref(), Some("TLSv1.3"));
}

#[test]
fn a_handshake_that_never_completes_fails_at_the_tls_deadline() {
    let start = start();
    let timeouts = Timeouts { tls_handshake: secs(6), ..Timeouts::default() };
    let mut probe = Probe::new(builder(TlsMode::Implicit).timeouts(timeouts).build().unwrap(), start, wall_start());
    assert!(matches!(probe.poll_output(start), Output::StartTls(TlsRequest { implicit: true, .. })));
    assert_eq!(probe.poll_output(start), Output::Timeout(start + secs(6)));
    probe.handle_timeout(start + secs(6));
    assert_eq!(probe.poll_output(start + secs(6)), Output::Done, "the probe must give up");
    assert_eq!(probe.handle_tls_established(start + secs(7), tls13()), Err(UsageError::Finished));
    let report = probe.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::TlsHandshakeFailed)));
    assert!(finding(&report, Cause::TlsHandshakeFailed).message.contains("did not complete"));
    assert_eq!(report.total, secs(6));
    // The handshake that never completed is a step too: its time is the probe's.
    assert_eq!((step(&report, Phase::TlsHandshake).duration, report.steps.len()), (secs(6), 1));
}

#[test]
fn tls_outcomes_are_only_recorded_until_the_next_poll() {
    let start = start();
    let mut probe = Probe::new(builder(TlsMode::Implicit).build().unwrap(), start, wall_start());
    assert!(matches!(probe.poll_output(start), Output::StartTls(TlsRequest { implicit: true, .. })));
    assert_eq!(probe.handle_tls_established(start + ms(40), tls13()), Ok(()));
    // Recorded, not applied: nothing in the report yet, and a second outcome for the same handshake is refused.
    assert_eq!(probe.report().tls, None);
    assert!(probe.report().steps.is_empty());
    assert_eq!(probe.handle_tls_failed(start + ms(41), TlsFailure::Closed), Err(UsageError::TlsAlreadyReported));
    // Bytes after the news are TLS data: the implicit-TLS greeting, whichever comes first of it and the poll.
    probe.handle_input(start + ms(45), b"220 mx.example.com ESMTP\r\n");
    assert_eq!(probe.poll_output(start + ms(45)), Output::Transmit(b"EHLO probe.example.org\r\n".to_vec()));
    let report = probe.report();
    assert_eq!(report.tls.as_ref().and_then(|t| t.version.as_deref()), Some("TLSv1.3"));
    let steps: Vec<_> = report.steps.iter().map(|s| (s.phase, s.duration)).collect();
    assert_eq!(steps, [(Phase::TlsHandshake, ms(40)), (Phase::Greeting, ms(5))]);
}

#[test]
fn a_failed_handshake_is_a_step_with_its_time() {
    let start = start();
    let mut probe = Probe::new(builder(TlsMode::Implicit).build().unwrap(), start, wall_start());
    assert!(matches!(probe.poll_output(start), Output::StartTls(_)));
    let failure = TlsFailure::Handshake { reason: "received fatal alert: HandshakeFailure".into() };
    assert_eq!(probe.handle_tls_failed(start + ms(30), failure), Ok(()));
    assert!(!probe.is_done(), "only recorded");
    assert_eq!(probe.poll_output(start + ms(31)), Output::Done);
    let report = probe.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::TlsHandshakeFailed)));
    let tls = step(&report, Phase::TlsHandshake);
    assert_eq!((tls.duration, tls.command.as_deref(), tls.reply.as_ref()), (ms(30), None, None));
}

#[test]
fn tls_reported_when_not_requested_is_a_usage_error() {
    let start = start();
    let mut probe = Probe::new(builder(TlsMode::StartTlsRequired).build().unwrap(), start, wall_start());
    assert_eq!(probe.handle_tls_established(start, tls13()), Err(UsageError::TlsNotRequested));
    assert_eq!(probe.handle_tls_failed(start, TlsFailure::Closed), Err(UsageError::TlsNotRequested));
    probe.handle_input(start, b"220 ok\r\n");
    assert_eq!(probe.poll_output(start), Output::Transmit(b"EHLO probe.example.org\r\n".to_vec()));
}

// ---- deadlines ---------------------------------------------------------------------------------------------------------

#[test]
fn server_hanging_after_ehlo_is_reply_timeout_at_the_reply_deadline() {
    let start = start();
    let config = builder(TlsMode::None).timeouts(Timeouts { reply: secs(9), ..Timeouts::default() }).build().unwrap();
    let script = vec![ServerStep::Delay(ms(250)), line(GREETING), expect("EHLO"), ServerStep::Hang];
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ReplyTimeout)));
    let timeout = finding(&report, Cause::ReplyTimeout);
    assert_eq!(timeout.phase, Some(Phase::Ehlo));
    assert!(timeout.message.contains("no complete ehlo reply within its deadline"), "{timeout:?}");
    assert_eq!(harness.elapsed(), ms(250) + secs(9));
    assert_eq!((step(&report, Phase::Ehlo).reply.as_ref(), step(&report, Phase::Ehlo).duration), (None, secs(9)));
    assert_eq!(harness.client_lines(), client(&[EHLO]), "no QUIT into a conversation that is out of sync");

    // A partial reply does not extend the deadline, and is shown.
    let script = vec![line(GREETING), expect("EHLO"), ServerStep::Send(b"250-mx.example.com\r\n250-SIZ".to_vec())];
    let script = [script, vec![ServerStep::Hang]].concat();
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::ReplyTimeout));
    assert_eq!(harness.elapsed(), secs(9));
    assert!(finding(&report, Cause::ReplyTimeout).message.contains("partial reply received"));
}

#[test]
fn the_overall_deadline_cuts_every_phase_deadline() {
    let start = start();
    let config = builder(TlsMode::None)
        .timeouts(Timeouts { overall: secs(20), greeting: secs(15), reply: secs(15), ..Timeouts::default() })
        .build()
        .unwrap();
    // The greeting takes 10 s; EHLO would have 15 s, but only 10 s of the overall 20 s are left.
    let script = vec![ServerStep::Delay(secs(10)), line(GREETING), expect("EHLO"), ServerStep::Hang];
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::ReplyTimeout));
    assert_eq!(harness.elapsed(), secs(20));
    assert!(finding(&report, Cause::ReplyTimeout).message.contains("the overall deadline of 20s"));

    // The message's final reply has its own (longer) deadline, also cut by the overall one.
    let config = builder(TlsMode::None)
        .mail_from(USER)
        .rcpt_to("a@example.com")
        .send_test_message("t")
        .timeouts(Timeouts { overall: secs(60), data: secs(25), ..Timeouts::default() })
        .build()
        .unwrap();
    let script = greeted([
        line("250 mx.example.com"),
        expect("MAIL"),
        line("250 ok"),
        expect("RCPT"),
        line("250 ok"),
        expect("DATA"),
        line("354 go"),
        expect("<message>"),
        ServerStep::Hang,
    ]);
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::ReplyTimeout));
    assert_eq!(finding(&report, Cause::ReplyTimeout).phase, Some(Phase::Message));
    assert_eq!(harness.elapsed(), secs(25));

    // QUIT's wait is cut too: 1 s of overall time left, a 2 s QUIT timeout.
    let config = builder(TlsMode::None).overall_timeout(secs(5)).build().unwrap();
    let script = greeted([ServerStep::Delay(secs(4)), line("250 mx.example.com"), expect("QUIT"), ServerStep::Hang]);
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, harness.elapsed()), (Verdict::Up, secs(5)));
}

#[test]
fn secrets_stay_out_of_the_config_debug_too() {
    let config = with_auth(builder(TlsMode::StartTlsRequired)).build().unwrap();
    assert!(!format!("{config:?}").contains(PASSWORD));
    let _ = Secret::new(PASSWORD);
}
