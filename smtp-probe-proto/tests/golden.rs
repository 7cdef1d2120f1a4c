//! Golden transcripts of real server styles (`tests/golden/*.txt`): each conversation gives the documented
//! verdict, and the same report however the server's bytes are cut (every offset, chunks of 1 to 64 bytes).

mod common;

use common::*;
use smtp_probe_proto::{AuthMechanism, Cause, EnhancedCode, Keyword, Phase, Severity, TlsMode, Verdict};

fn enhanced(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
    Some(EnhancedCode { class, subject, detail })
}

#[test]
fn postfix_starttls_auth_and_envelope_check() {
    let start = start();
    let golden = golden("postfix");
    let config = with_auth(builder(TlsMode::StartTlsRequired))
        .mail_from(USER)
        .rcpt_to("postmaster@example.com")
        .build()
        .unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(report.findings, []);
    assert_eq!(harness.client_lines(), golden.client);
    assert_eq!(
        phases(&report),
        [
            Phase::Greeting,
            Phase::Ehlo,
            Phase::StartTls,
            Phase::TlsHandshake,
            Phase::EhloTls,
            Phase::Auth,
            Phase::MailFrom,
            Phase::RcptTo,
            Phase::Rset,
            Phase::Quit
        ]
    );
    let greeting = report.greeting.as_ref().unwrap();
    assert_eq!(greeting.text_lossy(), "mx.example.com ESMTP Postfix (Debian/GNU)");

    let plain = report.capabilities.as_ref().unwrap();
    assert_eq!(plain.domain, "mx.example.com");
    assert_eq!(plain.raw_lines.len(), 10, "11-line EHLO: domain + 10 keywords");
    assert!(plain.starttls() && plain.pipelining() && plain.smtputf8());
    assert_eq!(plain.size_limit, Some(10_240_000));
    assert!(plain.auth_mechanisms.is_empty(), "no AUTH before TLS");
    let tls = report.capabilities_tls.as_ref().unwrap();
    assert!(!tls.starttls());
    assert_eq!(tls.auth_mechanisms, [AuthMechanism::Plain, AuthMechanism::Login]);
    assert_eq!(report.effective_capabilities(), Some(tls));
    assert_eq!(report.tls.as_ref().unwrap().version.as_deref(), Some("TLSv1.3"));

    assert_eq!(step(&report, Phase::Auth).reply.as_ref().unwrap().code.get(), 235);
    assert_eq!(step(&report, Phase::Auth).command.as_deref(), Some("AUTH PLAIN <redacted>"));
    assert_eq!(step(&report, Phase::MailFrom).reply.as_ref().unwrap().enhanced, enhanced(2, 1, 0));
    assert_eq!(step(&report, Phase::RcptTo).reply.as_ref().unwrap().enhanced, enhanced(2, 1, 5));
    let bye = step(&report, Phase::Quit).reply.as_ref().unwrap();
    assert_eq!((bye.code.get(), bye.text_lossy()), (221, "2.0.0 Bye".to_owned()));

    // Pauses in the script: 12 ms before the EHLO reply, 40 ms for AUTH, 5 ms for RCPT.
    assert_eq!(step(&report, Phase::Ehlo).duration, ms(12));
    assert_eq!(step(&report, Phase::Auth).duration, ms(40));
    assert_eq!(step(&report, Phase::RcptTo).duration, ms(5));
    assert_eq!((report.response_time, report.total), (ms(57), ms(57)));
    assert_eq!(harness.elapsed(), ms(57));
    assert!(contains(harness.client_bytes(), PLAIN_RESPONSE.as_bytes()));
    assert!(report.transcript.iter().all(|l| !l.text.contains(PLAIN_RESPONSE)));
}

#[test]
fn exim_pipeconnect_chunking_and_bad_password() {
    let start = start();
    let golden = golden("exim");
    let config = with_auth(builder(TlsMode::StartTlsRequired))
        .mail_from(USER)
        .rcpt_to("postmaster@example.net")
        .build()
        .unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::AuthFailed)));
    let failed = finding(&report, Cause::AuthFailed);
    assert_eq!(failed.phase, Some(Phase::Auth));
    assert_eq!(failed.server_text.as_deref(), Some("535 Incorrect authentication data"));
    assert!(failed.message.contains("rejected the credentials"), "{}", failed.message);
    assert_eq!(harness.client_lines(), golden.client, "no envelope after a failed AUTH, straight to QUIT");
    assert_eq!(
        phases(&report),
        [Phase::Greeting, Phase::Ehlo, Phase::StartTls, Phase::TlsHandshake, Phase::EhloTls, Phase::Auth, Phase::Quit]
    );

    let plain = report.capabilities.as_ref().unwrap();
    assert!(plain.has(Keyword::PipeConnect) && plain.has(Keyword::Chunking) && plain.starttls());
    assert!(plain.auth_mechanisms.is_empty());
    assert_eq!(plain.size_limit, Some(52_428_800));
    assert_eq!(plain.unknown.iter().map(|u| u.keyword.as_str()).collect::<Vec<_>>(), ["PRDR", "HELP"]);
    let tls = report.capabilities_tls.as_ref().unwrap();
    assert!(!tls.starttls(), "Exim drops STARTTLS inside TLS");
    assert!(tls.has(Keyword::PipeConnect) && tls.has(Keyword::Chunking) && tls.has(Keyword::Auth));
    assert_eq!(step(&report, Phase::Auth).duration, secs(3));
    assert_eq!(report.response_time, secs(3));
    assert_eq!(
        report.summary(),
        "down: auth_failed (auth): the server rejected the credentials: 535 Incorrect authentication data"
    );
}

#[test]
fn exchange_530_5_7_57_without_authentication() {
    let start = start();
    let golden = golden("exchange");
    let config = builder(TlsMode::StartTlsOpportunistic)
        .expect_greeting("Microsoft ESMTP MAIL Service ready")
        .mail_from(USER)
        .rcpt_to("someone@contoso.com")
        .build()
        .unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::SenderRejected)));
    assert_eq!(report.findings.len(), 1, "the greeting expectation holds: {:#?}", report.findings);
    let rejected = finding(&report, Cause::SenderRejected);
    assert_eq!(rejected.phase, Some(Phase::MailFrom));
    assert!(
        rejected.server_text.as_deref().unwrap().starts_with("530 5.7.57 Client not authenticated to send mail."),
        "{rejected:?}"
    );
    let mail = step(&report, Phase::MailFrom).reply.as_ref().unwrap();
    assert_eq!((mail.code.get(), mail.enhanced), (530, enhanced(5, 7, 57)));
    assert_eq!(harness.client_lines(), golden.client, "no RCPT after MAIL FROM was refused");
    assert!(report.greeting.as_ref().unwrap().text_lossy().contains("Microsoft ESMTP MAIL Service ready at Mon"));

    let plain = report.capabilities.as_ref().unwrap();
    assert_eq!(plain.domain, "EX01.contoso.com Hello [192.0.2.10]");
    assert_eq!(plain.auth_mechanisms, [AuthMechanism::Other("NTLM".into())]);
    let unknown: Vec<&str> = plain.unknown.iter().map(|u| u.keyword.as_str()).collect();
    assert_eq!(unknown, ["X-ANONYMOUSTLS", "X-EXPS", "XRDST"]);
    assert_eq!(plain.unknown[1].params, ["GSSAPI", "NTLM"]);
    assert!(plain.smtputf8() && plain.has(Keyword::BinaryMime) && plain.has(Keyword::Chunking));
    let tls = report.capabilities_tls.as_ref().unwrap();
    assert_eq!(tls.auth_mechanisms, [AuthMechanism::Other("NTLM".into()), AuthMechanism::Login]);
    assert!(!tls.starttls() && tls.smtputf8());
    assert_eq!(tls.size_limit, Some(37_748_736));
}

#[test]
fn gmail_multi_line_550_with_enhanced_code_on_every_line() {
    let start = start();
    let golden = golden("gmail");
    let config = builder(TlsMode::StartTlsRequired)
        .mail_from(USER)
        .rcpt_to("no-such-user-7f3a@gmail.com")
        .expect_greeting("gsmtp")
        .build()
        .unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::RecipientRejected)));
    assert_eq!(harness.client_lines(), golden.client, "no RSET or DATA after a refused recipient");
    let rcpt = step(&report, Phase::RcptTo);
    assert_eq!(rcpt.command.as_deref(), Some("RCPT TO:<no-such-user-7f3a@gmail.com>"));
    let reply = rcpt.reply.as_ref().unwrap();
    assert_eq!((reply.code.get(), reply.lines.len(), reply.enhanced), (550, 4, enhanced(5, 1, 1)));
    assert!(reply.lines.iter().all(|l| l.starts_with(b"5.1.1 ")), "{reply:?}");
    let text = finding(&report, Cause::RecipientRejected).server_text.as_deref().unwrap();
    assert!(text.starts_with("550 5.1.1 The email account that you tried to reach does not exist."), "{text}");
    assert!(text.contains("?p=NoSuchUser"), "every line of the reply is kept: {text}");
    assert!(report.summary().starts_with("down: recipient_rejected (rcpt_to): the server refused the recipient: 550"));

    let plain = report.capabilities.as_ref().unwrap();
    assert_eq!(plain.raw_lines.len(), 7, "8-line EHLO");
    assert_eq!(plain.size_limit, Some(157_286_400));
    assert!(plain.starttls() && plain.has(Keyword::EnhancedStatusCodes));
    assert!(!report.capabilities_tls.as_ref().unwrap().starttls());
    assert_eq!(step(&report, Phase::MailFrom).reply.as_ref().unwrap().enhanced, enhanced(2, 1, 0));
}

#[test]
fn multi_line_greeting_is_read_whole_before_ehlo() {
    let start = start();
    let golden = golden("multiline-greeting");
    let config = builder(TlsMode::None).build().unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(report.findings, []);
    assert_eq!(harness.client_lines(), golden.client);
    let greeting = report.greeting.as_ref().unwrap();
    assert_eq!(greeting.lines.len(), 3);
    assert_eq!(greeting.lines[2], b"Unauthorised access is logged.");
    // The greeting's lines came 200 ms apart; EHLO went only after the last one.
    assert_eq!(step(&report, Phase::Greeting).duration, ms(400));
    assert_eq!(client_sent_at(&report, "EHLO"), ms(400));
    let caps = report.capabilities.as_ref().unwrap();
    assert!(caps.size() && caps.has(Keyword::DeliverBy));
    assert_eq!(caps.size_limit, None, "SIZE without a number is no fixed limit");
    assert_eq!(phases(&report), [Phase::Greeting, Phase::Ehlo, Phase::Quit]);
}

#[test]
fn helo_only_server_falls_back_after_502() {
    let start = start();
    let golden = golden("helo-only");
    let config = builder(TlsMode::StartTlsOpportunistic)
        .mail_from(USER)
        .rcpt_to("postmaster@legacy.example.net")
        .build()
        .unwrap();
    let (report, harness) = assert_split_invariant(&config, start, &golden.script);

    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(harness.client_lines(), golden.client);
    assert_eq!(
        phases(&report),
        [Phase::Greeting, Phase::Ehlo, Phase::Helo, Phase::MailFrom, Phase::RcptTo, Phase::Rset, Phase::Quit]
    );
    let ehlo = step(&report, Phase::Ehlo).reply.as_ref().unwrap();
    assert_eq!((ehlo.code.get(), ehlo.enhanced), (502, enhanced(5, 5, 2)));
    assert_eq!(report.capabilities, None);
    assert_eq!(report.capabilities_tls, None);
    assert_eq!(report.tls, None);
    let notes = infos(&report);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].message.contains("HELO") && notes[0].message.contains("without TLS"), "{notes:?}");
    assert_eq!(notes[0].severity, Severity::Info);
}
