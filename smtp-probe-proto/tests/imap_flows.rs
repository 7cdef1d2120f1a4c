//! The mailbox check's state machine against scripted IMAP servers, in simulated time: every transition a round
//! trip depends on, the failures that must give a clear cause, and the safety rules (credentials, cleanup).

use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use smtp_probe_proto::imap::{
    Cleanup, CleanupOutcome, LoginMethod, MailboxConfig, MailboxConfigBuilder, MailboxOutput, MailboxProbe,
    MailboxReport, MailboxSession, MailboxSessionOutput, MailboxTimeouts, PollInterval, ResponseLimits,
};
use smtp_probe_proto::{Cause, Phase, Secret, Target, TlsFailure, TlsInfo, TlsMode, Token, UsageError, Verdict};

const TOKEN: &str = "smtp-probe-0123456789abcdef";
const PASSWORD: &str = "hunter2-imap";

/// What the scripted server does with one client line.
enum Answer {
    Bytes(Vec<u8>),
    Silent,
    /// These bytes, then the server closes the connection.
    Last(Vec<u8>),
}

/// The simulated start instant (the core itself never reads the clock).
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn say(text: &str) -> Answer {
    Answer::Bytes(text.as_bytes().to_vec())
}

/// The IMAP server of these tests, on the STARTTLS port.
fn imap() -> Target {
    Target::new("imap.example.org", 143).unwrap()
}

fn plain() -> MailboxConfigBuilder {
    MailboxConfig::builder(imap(), "rt@example.org", Secret::new(PASSWORD))
        .tls(TlsMode::None)
        .allow_plaintext_login(true)
        .poll_interval(PollInterval { initial: Duration::from_millis(100), max: Duration::from_millis(400) })
}

struct Run {
    report: MailboxReport,
    client: Vec<String>,
    /// Simulated time at the end.
    elapsed: Duration,
}

/// Drives a probe against `server` (called with each client line and the simulated time since the start), with
/// `greeting` sent first. Replies arrive 1 ms after their command; `chunk` splits every server write.
fn run_with(
    config: MailboxConfig,
    greeting: &[u8],
    chunk: usize,
    mut server: impl FnMut(&str, Duration) -> Answer,
) -> Run {
    let start = start();
    let mut now = start;
    let token = Token::new(TOKEN).unwrap();
    let mut probe =
        MailboxProbe::new(config, token, start, start + Duration::from_secs(5), start + Duration::from_secs(7));
    let feed = |probe: &mut MailboxProbe, now: Instant, bytes: &[u8]| {
        for piece in bytes.chunks(chunk.max(1)) {
            probe.handle_input(now, piece);
        }
    };
    feed(&mut probe, now, greeting);
    let mut client = Vec::new();
    let mut closed = false;
    for _ in 0..10_000 {
        match probe.poll_output(now) {
            MailboxOutput::Transmit(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                for line in text.split_terminator("\r\n") {
                    client.push(line.to_owned());
                    if closed {
                        continue;
                    }
                    now += Duration::from_millis(1);
                    match server(line, now - start) {
                        Answer::Bytes(reply) => feed(&mut probe, now, &reply),
                        Answer::Silent => {}
                        Answer::Last(reply) => {
                            feed(&mut probe, now, &reply);
                            closed = true;
                            probe.handle_eof(now);
                        }
                    }
                }
            }
            MailboxOutput::Timeout(at) => {
                assert!(at >= now, "a deadline in the past: {at:?} < {now:?}");
                now = at;
                probe.handle_timeout(now);
            }
            MailboxOutput::Ready => probe.handle_accepted(now, now),
            MailboxOutput::Done => {
                return Run { report: probe.into_report(), client, elapsed: now - start };
            }
            other => panic!("unexpected output {other:?}"),
        }
    }
    panic!("the probe did not finish in 10,000 polls");
}

fn run(config: MailboxConfig, greeting: &str, server: impl FnMut(&str, Duration) -> Answer) -> Run {
    run_with(config, greeting.as_bytes(), usize::MAX, server)
}

const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready\r\n";
const POST_LOGIN: &str = "IMAP4rev1 SASL-IR LITERAL+ UIDPLUS MOVE";

fn header_block() -> String {
    format!(
        "Received: from [127.0.0.1] by mx.example.org (Postfix) with ESMTPSA id 4Xyz;\r\n Mon, 03 Mar 2025 10:00:01 +0000\r\n\
         Date: Mon, 03 Mar 2025 10:00:00 +0000\r\nX-Smtp-Probe-Token: {TOKEN}\r\nSubject: smtp-probe test message {TOKEN}\r\n\r\n"
    )
}

/// A well-behaved server whose message appears in `folder` at `arrives` (simulated time).
fn mailbox_server(arrives: Duration, folder: &'static str, uidplus: bool) -> impl FnMut(&str, Duration) -> Answer {
    let mut selected = String::new();
    let mut deleted = false;
    move |line, at| {
        let (tag, command) = line.split_once(' ').unwrap_or((line, ""));
        let present = at >= arrives && !deleted && selected == folder;
        match command {
            c if c.starts_with("AUTHENTICATE PLAIN ") => {
                let caps = if uidplus { POST_LOGIN.to_owned() } else { POST_LOGIN.replace(" UIDPLUS", "") };
                say(&format!("{tag} OK [CAPABILITY {caps}] Logged in\r\n"))
            }
            c if c.starts_with("SELECT ") => {
                selected = c[7..].trim_matches('"').to_owned();
                let exists = if present { 1 } else { 0 };
                say(&format!(
                    "* FLAGS (\\Seen \\Deleted)\r\n* {exists} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-WRITE] done\r\n"
                ))
            }
            "NOOP" if present => say(&format!("* 1 EXISTS\r\n* 1 RECENT\r\n{tag} OK done\r\n")),
            "NOOP" => say(&format!("{tag} OK done\r\n")),
            c if c.starts_with("UID SEARCH HEADER X-Smtp-Probe-Token ") => {
                assert!(c.ends_with(&format!("\"{TOKEN}\"")), "{c}");
                let hits = if present { " 42" } else { "" };
                say(&format!("* SEARCH{hits}\r\n{tag} OK search done\r\n"))
            }
            c if c.starts_with("UID FETCH 42 ") => {
                let headers = header_block();
                say(&format!(
                    "* 1 FETCH (UID 42 INTERNALDATE \"03-Mar-2025 10:00:02 +0000\" RFC822.SIZE 512 BODY[HEADER] {{{}}}\r\n{headers})\r\n{tag} OK fetched\r\n",
                    headers.len()
                ))
            }
            "UID STORE 42 +FLAGS.SILENT (\\Deleted)" => say(&format!("{tag} OK stored\r\n")),
            "UID EXPUNGE 42" => {
                deleted = true;
                say(&format!("* 1 EXPUNGE\r\n{tag} OK expunged\r\n"))
            }
            "LOGOUT" => say(&format!("* BYE bye\r\n{tag} OK logged out\r\n")),
            other => say(&format!("{tag} BAD unexpected {other}\r\n")),
        }
    }
}

fn commands(run: &Run) -> Vec<String> {
    run.client.iter().map(|l| l.split_once(' ').map_or(l.as_str(), |(_, c)| c).to_owned()).collect()
}

#[test]
fn finds_reads_and_deletes_the_message() {
    let run = run(
        plain().junk_folder("Junk").build().unwrap(),
        GREETING,
        mailbox_server(Duration::from_millis(200), "INBOX", true),
    );
    let report = &run.report;
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{:?}", report.findings);
    let found = report.message.as_ref().expect("found");
    assert_eq!((found.folder.as_str(), found.junk, found.uids.as_slice()), ("INBOX", false, &[42][..]));
    assert_eq!(found.internal_date, Some(1_740_996_002));
    assert!(found.headers.contains(TOKEN));
    // Searched at once, after 100 ms and after 250 ms: the message (there from 200 ms) is found in the third round.
    let visible = found.visible_after.unwrap();
    let missed = found.not_visible_after.unwrap();
    assert!(missed >= Duration::from_millis(95) && missed < Duration::from_millis(200), "{missed:?}");
    assert!(visible >= Duration::from_millis(200) && visible < Duration::from_millis(300), "{visible:?}");
    assert_eq!(report.cleanup, Some(CleanupOutcome::Expunged));
    let sent = commands(&run);
    assert!(sent[0].starts_with("AUTHENTICATE PLAIN "), "SASL-IR offered: one line: {sent:?}");
    assert!(sent.contains(&"UID EXPUNGE 42".to_owned()));
    assert!(!sent.contains(&"EXPUNGE".to_owned()), "never a plain EXPUNGE");
    assert_eq!(sent.last().map(String::as_str), Some("LOGOUT"));
    // Both folders in each round that missed: INBOX, then Junk, then INBOX again (SELECT, not NOOP, after Junk).
    assert!(sent.iter().any(|c| c == "SELECT \"Junk\""));
    assert!(report.searches >= 3);
    assert!(report.bytes_sent > 0 && report.bytes_received > 0 && report.commands as usize == run.client.len());
    assert!(report.ready.is_some());
}

#[test]
fn the_password_never_shows() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n";
    let config = plain().login_method(LoginMethod::Login).build().unwrap();
    let run = run(config, greeting, |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        // A server that echoes what it got, password included.
        say(&format!("{tag} NO [AUTHENTICATIONFAILED] bad credentials for {line}\r\n"))
    });
    assert_eq!(run.client[0], format!("a1 LOGIN \"rt@example.org\" \"{PASSWORD}\""));
    let report = &run.report;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MailboxAuthFailed)));
    let shown = format!("{report:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[test]
fn no_to_login_is_mailbox_auth_failed_and_logs_out() {
    let run = run(plain().build().unwrap(), GREETING, |line, _| {
        let (tag, command) = line.split_once(' ').unwrap();
        match command {
            "LOGOUT" => say(&format!("* BYE\r\n{tag} OK bye\r\n")),
            _ => say(&format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")),
        }
    });
    let report = &run.report;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MailboxAuthFailed)));
    let finding = report.primary_finding().unwrap();
    assert_eq!(finding.phase, Some(Phase::ImapLogin));
    assert!(finding.message.contains("AUTHENTICATIONFAILED"), "{}", finding.message);
    assert_eq!(commands(&run).last().map(String::as_str), Some("LOGOUT"));
    assert!(!report.mailbox_read());
}

#[test]
fn unavailable_login_is_not_a_wrong_password() {
    let run = run(plain().build().unwrap(), GREETING, |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        say(&format!("{tag} NO [UNAVAILABLE] backend down\r\n"))
    });
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
}

#[test]
fn greeting_bye_is_mailbox_unavailable() {
    let run = run(plain().build().unwrap(), "* BYE too many connections\r\n", |_, _| Answer::Silent);
    assert_eq!((run.report.verdict, run.report.cause), (Verdict::Down, Some(Cause::MailboxUnavailable)));
    assert!(run.client.is_empty(), "nothing sent to a server that said BYE");
    assert!(run.report.findings[0].message.contains("too many connections"));
}

#[test]
fn an_smtp_server_is_not_imap() {
    let run = run(plain().build().unwrap(), "220 mx.example.org ESMTP\r\n", |_, _| Answer::Silent);
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert!(run.report.findings[0].message.contains("SMTP greeting"), "{}", run.report.findings[0].message);
    assert!(run.elapsed < Duration::from_millis(10), "at once, not at a deadline");
}

#[test]
fn a_server_that_never_answers_ends_at_its_deadline() {
    let config = plain()
        .timeouts(smtp_probe_proto::imap::MailboxTimeouts { reply: Duration::from_secs(2), ..Default::default() })
        .build()
        .unwrap();
    let run = run(config, GREETING, |_, _| Answer::Silent);
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    let finding = run.report.primary_finding().unwrap();
    assert!(finding.message.contains("no reply in imap_login within 2000 ms"), "{finding:?}");
    assert!(run.elapsed >= Duration::from_secs(2) && run.elapsed < Duration::from_millis(2100), "{:?}", run.elapsed);

    // No greeting at all: the greeting deadline (cut by the search deadline, 5 s here).
    let run = run_with(plain().build().unwrap(), b"", 1, |_, _| Answer::Silent);
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert_eq!(run.elapsed, Duration::from_secs(5));
}

#[test]
fn not_found_by_the_deadline_is_reported_as_read_but_absent() {
    let run = run(plain().build().unwrap(), GREETING, mailbox_server(Duration::from_secs(60), "INBOX", true));
    let report = &run.report;
    assert_eq!(report.verdict, Verdict::Up, "reading the mailbox went fine: {:?}", report.findings);
    assert!(report.mailbox_read());
    assert!(report.message.is_none());
    assert!(report.cleanup.is_none(), "nothing of ours to delete");
    // 5 s search deadline with waits of 100, 150, 225, 337, 400, 400… ms: about 15 searches, not hundreds.
    assert!((10..=20).contains(&report.searches), "{}", report.searches);
    assert!(run.elapsed >= Duration::from_secs(5) && run.elapsed < Duration::from_millis(5100), "{:?}", run.elapsed);
    assert_eq!(commands(&run).last().map(String::as_str), Some("LOGOUT"));
}

#[test]
fn junk_placement_is_reported() {
    let run = run(plain().junk_folder("Junk").build().unwrap(), GREETING, mailbox_server(Duration::ZERO, "Junk", true));
    let found = run.report.message.as_ref().expect("found in junk");
    assert!(found.junk);
    assert_eq!(found.folder, "Junk");
    assert_eq!(run.report.cleanup, Some(CleanupOutcome::Expunged));
}

#[test]
fn without_uidplus_the_message_is_only_flagged() {
    let run = run(plain().build().unwrap(), GREETING, mailbox_server(Duration::ZERO, "INBOX", false));
    assert_eq!(run.report.cleanup, Some(CleanupOutcome::FlaggedDeleted));
    let sent = commands(&run);
    assert!(sent.contains(&"UID STORE 42 +FLAGS.SILENT (\\Deleted)".to_owned()));
    assert!(!sent.iter().any(|c| c.contains("EXPUNGE")), "no EXPUNGE that could remove others' messages: {sent:?}");
    assert!(run.report.findings.iter().any(|f| f.message.contains("UIDPLUS")));

    // A mailbox the configuration says is the probe's alone: a plain EXPUNGE then.
    let config = plain().cleanup(Cleanup::DeleteExpungingMailbox).build().unwrap();
    let mut server = mailbox_server(Duration::ZERO, "INBOX", false);
    let run = run_with(config, GREETING.as_bytes(), usize::MAX, move |line, at| match line.split_once(' ') {
        Some((tag, "EXPUNGE")) => say(&format!("* 1 EXPUNGE\r\n{tag} OK expunged\r\n")),
        _ => server(line, at),
    });
    assert_eq!(run.report.cleanup, Some(CleanupOutcome::ExpungedMailbox));

    let run = run_with(
        plain().cleanup(Cleanup::Keep).build().unwrap(),
        GREETING.as_bytes(),
        usize::MAX,
        mailbox_server(Duration::ZERO, "INBOX", true),
    );
    assert_eq!(run.report.cleanup, Some(CleanupOutcome::Kept));
    assert!(!commands(&run).iter().any(|c| c.contains("STORE")));
}

#[test]
fn a_search_hit_without_the_token_is_never_deleted() {
    let mut server = mailbox_server(Duration::ZERO, "INBOX", true);
    // A broken server that returns someone else's message for the search.
    let run = run(plain().build().unwrap(), GREETING, move |line, at| {
        let (tag, command) = line.split_once(' ').unwrap();
        if command.starts_with("UID FETCH") {
            let headers = "Subject: the boss's mail\r\n\r\n";
            return say(&format!("* 1 FETCH (UID 42 BODY[HEADER] {{{}}}\r\n{headers})\r\n{tag} OK\r\n", headers.len()));
        }
        server(line, at)
    });
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert!(!commands(&run).iter().any(|c| c.contains("STORE") || c.contains("EXPUNGE")));
    assert!(run.report.message.is_none());
}

#[test]
fn untagged_exists_and_expunge_interleave_anywhere() {
    let mut server = mailbox_server(Duration::ZERO, "INBOX", true);
    let run = run_with(plain().build().unwrap(), GREETING.as_bytes(), 3, move |line, at| match server(line, at) {
        Answer::Bytes(reply) => {
            let mut noisy = b"* 7 EXISTS\r\n* 3 EXPUNGE\r\n* 2 FETCH (FLAGS (\\Seen))\r\n".to_vec();
            noisy.extend_from_slice(&reply);
            Answer::Bytes(noisy)
        }
        other => other,
    });
    assert_eq!(run.report.verdict, Verdict::Up, "{:?}", run.report.findings);
    assert_eq!(run.report.cleanup, Some(CleanupOutcome::Expunged));
}

#[test]
fn a_server_that_closes_while_searching_is_mailbox_unavailable() {
    let mut server = mailbox_server(Duration::from_secs(60), "INBOX", true);
    let mut searches = 0;
    let run = run(plain().build().unwrap(), GREETING, move |line, at| {
        if line.contains("UID SEARCH") {
            searches += 1;
            if searches == 2 {
                return Answer::Last(b"* BYE shutting down\r\n".to_vec());
            }
        }
        server(line, at)
    });
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert!(!run.report.mailbox_read(), "a mailbox that went away was not read to the deadline");
    let finding = run.report.primary_finding().unwrap();
    assert!(finding.message.contains("shutting down"), "{finding:?}");
}

#[test]
fn too_many_untagged_responses_end_the_check() {
    let limits = ResponseLimits { max_untagged: 16, ..ResponseLimits::default() };
    let config = plain().response_limits(limits).build().unwrap();
    let run = run(config, GREETING, |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        Answer::Bytes(format!("{}{tag} OK\r\n", "* 1 EXISTS\r\n".repeat(17)).into_bytes())
    });
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    let finding = run.report.primary_finding().unwrap();
    assert!(finding.message.contains("more than 16 untagged"), "{finding:?}");
}

#[test]
fn starttls_required_but_missing_sends_no_password() {
    let config =
        MailboxConfig::builder(imap(), "u", Secret::new(PASSWORD)).tls(TlsMode::StartTlsRequired).build().unwrap();
    let run = run(config, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hi\r\n", |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        say(&format!("* BYE\r\n{tag} OK bye\r\n"))
    });
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert_eq!(commands(&run), ["LOGOUT"]);
}

#[test]
fn starttls_response_injection_is_refused() {
    let config =
        MailboxConfig::builder(imap(), "u", Secret::new(PASSWORD)).tls(TlsMode::StartTlsRequired).build().unwrap();
    let run = run(config, "* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n", |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        say(&format!("{tag} OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN LOGINDISABLED] injected\r\n"))
    });
    assert_eq!(commands(&run), ["STARTTLS"]);
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert!(run.report.findings[0].message.contains("injected"), "{:?}", run.report.findings);
}

/// After STARTTLS, the credentials go only over a certificate that verified.
fn after_starttls(info: TlsInfo) -> (Vec<String>, MailboxReport) {
    let config =
        MailboxConfig::builder(imap(), "u", Secret::new(PASSWORD)).tls(TlsMode::StartTlsRequired).build().unwrap();
    let start = start();
    let mut probe = MailboxProbe::new(
        config,
        Token::new(TOKEN).unwrap(),
        start,
        start + Duration::from_secs(5),
        start + Duration::from_secs(6),
    );
    probe.handle_input(start, b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n");
    let mut sent = Vec::new();
    let mut info = Some(info);
    loop {
        match probe.poll_output(start) {
            MailboxOutput::Transmit(bytes) => {
                let line = String::from_utf8(bytes).unwrap();
                let tag = line.split(' ').next().unwrap().to_owned();
                let reply = match line.split_once(' ').unwrap().1.trim_end() {
                    "STARTTLS" => format!("{tag} OK go\r\n"),
                    "CAPABILITY" => format!("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK\r\n"),
                    "LOGOUT" => format!("{tag} OK\r\n"),
                    _ => format!("{tag} NO stop here\r\n"),
                };
                sent.push(line.trim_end().to_owned());
                probe.handle_input(start, reply.as_bytes());
            }
            MailboxOutput::StartTls(request) => {
                assert_eq!(request.tls_name.as_deref(), Some("imap.example.org"));
                assert!(!request.implicit);
                probe.handle_tls_established(start, info.take().unwrap()).unwrap();
            }
            MailboxOutput::Done => return (sent, probe.into_report()),
            MailboxOutput::Timeout(at) => probe.handle_timeout(at),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn credentials_only_over_a_verified_certificate() {
    let verified = TlsInfo { verified: true, ..TlsInfo::default() };
    let (sent, report) = after_starttls(verified);
    assert_eq!(sent[..2], ["a1 STARTTLS", "a2 CAPABILITY"], "capabilities asked again inside TLS");
    assert_eq!(sent[2], "a3 AUTHENTICATE PLAIN", "no SASL-IR offered: the response follows a continuation");
    assert_eq!(report.cause, Some(Cause::MailboxAuthFailed));

    let unverified = TlsInfo {
        verified: false,
        verify_error: Some(smtp_probe_proto::CertificateProblem::UnknownIssuer),
        ..TlsInfo::default()
    };
    let (sent, report) = after_starttls(unverified);
    assert_eq!(sent, ["a1 STARTTLS", "a2 CAPABILITY", "a3 LOGOUT"], "no credentials over an unverified certificate");
    assert_eq!(report.cause, Some(Cause::CertificateInvalid));
}

#[test]
fn logindisabled_is_respected() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n";
    let run = run(plain().build().unwrap(), greeting, |line, _| {
        let (tag, _) = line.split_once(' ').unwrap();
        say(&format!("{tag} OK\r\n"))
    });
    assert_eq!(commands(&run), ["LOGOUT"], "neither LOGIN nor an unoffered AUTHENTICATE");
    assert_eq!(run.report.cause, Some(Cause::MailboxUnavailable));
    assert!(run.report.primary_finding().unwrap().message.contains("LOGINDISABLED"));
}

#[test]
fn abandon_logs_out_without_searching() {
    let config = plain().build().unwrap();
    let start = start();
    let mut probe = MailboxProbe::new(
        config,
        Token::new(TOKEN).unwrap(),
        start,
        start + Duration::from_secs(5),
        start + Duration::from_secs(6),
    );
    let mut server = mailbox_server(Duration::ZERO, "INBOX", true);
    probe.handle_input(start, GREETING.as_bytes());
    let mut sent = Vec::new();
    let report = loop {
        match probe.poll_output(start) {
            MailboxOutput::Transmit(bytes) => {
                let line = String::from_utf8(bytes).unwrap().trim_end().to_owned();
                if let Answer::Bytes(reply) = server(&line, Duration::ZERO) {
                    probe.handle_input(start, &reply);
                }
                sent.push(line);
            }
            MailboxOutput::Ready => probe.handle_abandon(start),
            MailboxOutput::Done => break probe.into_report(),
            other => panic!("{other:?}"),
        }
    };
    assert!(report.message.is_none());
    assert!(!sent.iter().any(|l| l.contains("SEARCH")), "{sent:?}");
    assert!(sent.last().unwrap().ends_with("LOGOUT"));
}

// ---- the drive API: handle_* only record, the poll decides -------------------------------------------------------

fn starttls_probe(start: Instant) -> MailboxProbe {
    let config = MailboxConfig::builder(imap(), "u", Secret::new(PASSWORD)).build().unwrap();
    let (search, overall) = (start + Duration::from_secs(5), start + Duration::from_secs(6));
    let mut probe = MailboxProbe::new(config, Token::new(TOKEN).unwrap(), start, search, overall);
    probe.handle_input(start, b"* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] hi\r\n");
    assert_eq!(probe.poll_output(start), MailboxOutput::Transmit(b"a1 STARTTLS\r\n".to_vec()));
    probe.handle_input(start + Duration::from_millis(1), b"a1 OK go\r\n");
    let at = start + Duration::from_millis(1);
    assert!(matches!(probe.poll_output(at), MailboxOutput::StartTls(request) if !request.implicit));
    probe
}

#[test]
fn a_tls_outcome_is_recorded_once_and_applied_by_the_next_poll() {
    let start = start();
    let config = plain().build().unwrap();
    let mut plain_probe = MailboxProbe::new(config, Token::new(TOKEN).unwrap(), start, start, start);
    let verified = TlsInfo { verified: true, ..TlsInfo::default() };
    assert_eq!(plain_probe.handle_tls_established(start, verified.clone()), Err(UsageError::TlsNotRequested));

    let mut probe = starttls_probe(start);
    let done_at = start + Duration::from_millis(4);
    assert_eq!(probe.handle_tls_established(done_at, verified.clone()), Ok(()));
    assert_eq!(probe.handle_tls_established(done_at, verified.clone()), Err(UsageError::TlsAlreadyReported));
    let failure = TlsFailure::Closed;
    assert_eq!(probe.handle_tls_failed(done_at, failure), Err(UsageError::TlsAlreadyReported));
    assert!(!probe.report().steps.iter().any(|s| s.phase == Phase::ImapTlsHandshake), "nothing applied yet");
    // The poll applies it: the handshake is a step, timed to when it was reported, and CAPABILITY goes out in TLS.
    let later = start + Duration::from_millis(9);
    assert_eq!(probe.poll_output(later), MailboxOutput::Transmit(b"a2 CAPABILITY\r\n".to_vec()));
    let handshake = probe.report().steps.iter().find(|s| s.phase == Phase::ImapTlsHandshake).unwrap();
    assert_eq!(handshake.duration, Duration::from_millis(3));
    assert_eq!(probe.report().tls.as_ref().map(|t| t.verified), Some(true));
}

#[test]
fn a_failed_handshake_is_a_step_and_ends_the_check_without_a_password() {
    let start = start();
    let mut probe = starttls_probe(start);
    let failed_at = start + Duration::from_millis(21);
    let failure = TlsFailure::Handshake { reason: "received fatal alert: HandshakeFailure".into() };
    probe.handle_tls_failed(failed_at, failure).unwrap();
    assert_eq!(probe.poll_output(failed_at), MailboxOutput::Done);
    assert_eq!(probe.handle_tls_established(failed_at, TlsInfo::default()), Err(UsageError::Finished));
    let report = probe.into_report();
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MailboxUnavailable)));
    let finding = report.primary_finding().unwrap();
    assert_eq!(finding.message, "TLS handshake with the IMAP server failed: received fatal alert: HandshakeFailure");
    let steps: Vec<(Phase, Duration)> = report.steps.iter().map(|s| (s.phase, s.duration)).collect();
    assert_eq!(
        steps[1..],
        [(Phase::ImapStartTls, Duration::from_millis(1)), (Phase::ImapTlsHandshake, Duration::from_millis(20))]
    );
    assert!(!report.steps.iter().any(|s| s.phase == Phase::ImapLogin));
}

#[test]
fn the_implicit_tls_greeting_is_due_from_the_end_of_the_handshake() {
    let start = start();
    let timeouts = MailboxTimeouts { greeting: Duration::from_secs(1), ..MailboxTimeouts::default() };
    let config = MailboxConfig::builder(Target::new("imap.example.org", 993).unwrap(), "u", Secret::new(PASSWORD))
        .timeouts(timeouts)
        .build()
        .unwrap();
    let (search, overall) = (start + Duration::from_secs(30), start + Duration::from_secs(35));
    let mut probe = MailboxProbe::new(config, Token::new(TOKEN).unwrap(), start, search, overall);
    assert!(matches!(probe.poll_output(start), MailboxOutput::StartTls(request) if request.implicit));
    let established = start + Duration::from_secs(2);
    probe.handle_tls_established(established, TlsInfo { verified: true, ..TlsInfo::default() }).unwrap();
    // Polled half a second after the news: the greeting is still due a second after the handshake ended.
    let polled = established + Duration::from_millis(500);
    assert_eq!(probe.poll_output(polled), MailboxOutput::Timeout(established + Duration::from_secs(1)));
}

/// Polls a session to its end (a TLS alert may go out first).
fn finish(session: &mut MailboxSession, now: Instant) {
    for _ in 0..100 {
        match session.poll_output(now) {
            MailboxSessionOutput::Done => return,
            MailboxSessionOutput::Transmit(_) => {}
            MailboxSessionOutput::Timeout(deadline) => session.handle_timeout(deadline),
            MailboxSessionOutput::Ready => panic!("not logged in"),
        }
    }
    panic!("the session did not finish");
}

#[test]
fn the_session_only_records_until_the_next_poll() {
    let start = start();
    let config = MailboxConfig::builder(Target::new("127.0.0.1", 993).unwrap(), "u", Secret::new(PASSWORD))
        .tls_name("imap.example.org")
        .build()
        .unwrap();
    let (search, overall) = (start + Duration::from_secs(5), start + Duration::from_secs(6));
    let mut session = MailboxSession::new(
        config,
        Token::new(TOKEN).unwrap(),
        start,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        search,
        overall,
    );
    assert!(matches!(session.poll_output(start), MailboxSessionOutput::Transmit(_)), "the ClientHello");
    // Plaintext where the ServerHello belongs, then the close: recorded, nothing decided yet.
    let at = start + Duration::from_millis(3);
    session.handle_input(at, b"* OK [CAPABILITY IMAP4rev1] not TLS at all\r\n");
    session.handle_eof(at);
    assert!(!session.is_done());
    assert!(session.report().findings.is_empty() && session.report().steps.is_empty());
    finish(&mut session, at);
    let report = session.into_report();
    assert_eq!(report.cause, Some(Cause::MailboxUnavailable));
    let message = &report.primary_finding().unwrap().message;
    assert!(message.starts_with("TLS handshake with the IMAP server failed: received corrupt message"), "{message}");
    assert_eq!(
        report.steps.iter().map(|s| (s.phase, s.duration)).collect::<Vec<_>>(),
        [(Phase::ImapTlsHandshake, Duration::from_millis(3))]
    );
}

#[test]
fn ciphertext_held_between_two_polls_is_bounded() {
    let start = start();
    let limits = ResponseLimits { max_line_len: 512, max_literal: 1024, max_buffered: 1536, max_untagged: 16 };
    let config = MailboxConfig::builder(Target::new("127.0.0.1", 993).unwrap(), "u", Secret::new(PASSWORD))
        .response_limits(limits)
        .build()
        .unwrap();
    let (search, overall) = (start + Duration::from_secs(5), start + Duration::from_secs(6));
    let mut session = MailboxSession::new(
        config,
        Token::new(TOKEN).unwrap(),
        start,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
        search,
        overall,
    );
    assert!(matches!(session.poll_output(start), MailboxSessionOutput::Transmit(_)));
    // A megabyte of TLS-looking bytes without a single poll: not all of it is kept.
    for _ in 0..1024 {
        session.handle_input(start, &[0x17; 1024]);
    }
    finish(&mut session, start);
    let report = session.into_report();
    assert_eq!(report.cause, Some(Cause::MailboxUnavailable));
    let bound = 1536 + 16 * 1024 + 2048 + 5;
    let message = &report.primary_finding().unwrap().message;
    assert_eq!(
        message,
        &format!(
            "the IMAP server broke the protocol: more than {bound} bytes buffered without a complete response being consumed"
        )
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However the server's bytes are cut, the check ends the same way.
    #[test]
    fn any_split_gives_the_same_report(chunk in 1usize..64) {
        let whole = run_with(plain().junk_folder("Junk").build().unwrap(), GREETING.as_bytes(), usize::MAX, mailbox_server(Duration::from_millis(120), "INBOX", true));
        let split = run_with(plain().junk_folder("Junk").build().unwrap(), GREETING.as_bytes(), chunk, mailbox_server(Duration::from_millis(120), "INBOX", true));
        prop_assert_eq!(&whole.client, &split.client);
        prop_assert_eq!(whole.report, split.report);
    }
}
