//! Target `imap_session`: a whole mailbox check (the receiving side of a round trip) against a fuzzed IMAP server
//! on a simulated clock.

use std::time::{Duration, Instant};

use crate::imap::{
    MAX_RECORDED, MailboxConfig, MailboxOutput, MailboxProbe, MailboxReport, PollInterval, ResponseLimits,
};
use crate::roundtrip::Token;
use crate::{Secret, Target, TlsInfo, TlsMode};

/// The token the `imap_session` target looks for; seeds carry it in their FETCH header blocks.
pub const TOKEN: &str = "smtp-probe-fuzz0token";

/// Input: `[flags, seed, stream...]`. The stream is what the server says, in segments
/// separated by NUL bytes: the first is the greeting, then one segment answers each command the probe sends (a
/// segment may hold several responses, or none); each is fed in pieces of 1–64 bytes (from `seed`). Once the
/// segments are used up, time jumps to each deadline.
///
/// `flags`: bit 0 a junk folder, bit 1 LOGIN instead of any, bit 2 small parser limits, bit 3 close once the
/// segments are used up, bit 4 STARTTLS (the handshake then reported as done and verified; bit 5: not verified),
/// bit 6 abandon (never say the message was accepted), bit 7 no transcript.
///
/// Checks that the check never panics, ends within a bounded number of polls and by its deadline, never waits for an
/// instant already past, keeps its records bounded, never sends the credentials over TLS that did not verify, never
/// shows them in its report, and reports or deletes only a message whose headers carry the token.
pub fn check(data: &[u8], start: Instant) -> MailboxReport {
    let flags = data.first().copied().unwrap_or(0);
    let mut rng = u32::from(data.get(1).copied().unwrap_or(0)).wrapping_mul(0x9e37_79b9) | 1;
    let mut segments = data.get(2..).unwrap_or_default().split(|b| *b == 0);
    let target = Target::new("imap.example.org", 143).expect("a valid target");
    let mut builder = MailboxConfig::builder(target, "rt@example.org", Secret::new("fuzz-secret"))
        .poll_interval(PollInterval { initial: Duration::from_millis(100), max: Duration::from_secs(1) })
        .transcript(flags & 0x80 == 0);
    builder = if flags & 0x10 != 0 {
        builder.tls(TlsMode::StartTlsRequired)
    } else {
        builder.tls(TlsMode::None).allow_plaintext_login(true)
    };
    if flags & 1 != 0 {
        builder = builder.junk_folder("Junk");
    }
    if flags & 2 != 0 {
        builder = builder.login_method(crate::imap::LoginMethod::Login);
    }
    if flags & 4 != 0 {
        builder = builder.response_limits(ResponseLimits {
            max_line_len: 512,
            max_literal: 1024,
            max_buffered: 2048,
            max_untagged: 16,
        });
    }
    let config = builder.build().expect("a valid fuzz configuration");
    let token = Token::new(TOKEN).expect("a valid token");
    let search_deadline = start + Duration::from_secs(5);
    let overall_deadline = start + Duration::from_secs(7);
    let mut probe = MailboxProbe::new(config, token, start, search_deadline, overall_deadline);
    let mut now = start;
    let mut feed = |probe: &mut MailboxProbe, now: Instant, segment: &[u8]| {
        let mut rest = segment;
        while !rest.is_empty() {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            let (piece, after) = rest.split_at(((rng % 64 + 1) as usize).min(rest.len()));
            probe.handle_input(now, piece);
            rest = after;
        }
    };
    let mut exhausted = false;
    match segments.next() {
        Some(greeting) => feed(&mut probe, now, greeting),
        None => exhausted = true,
    }
    let mut closed = false;
    // The credentials as LOGIN and as AUTHENTICATE PLAIN would carry them.
    let plain = super::probe_session::base64(b"\0rt@example.org\0fuzz-secret");
    let mut tls_verified = false;
    for _ in 0..20_000 {
        match probe.poll_output(now) {
            MailboxOutput::Transmit(bytes) => {
                assert!(!bytes.is_empty());
                let text = String::from_utf8_lossy(&bytes);
                if text.contains("fuzz-secret") || text.contains(&plain) {
                    assert!(flags & 0x10 == 0 || tls_verified, "credentials over TLS that did not verify: {text}");
                }
                now += Duration::from_millis(1);
                // One segment per command line (an AUTHENTICATE response is a line too).
                for _ in text.split_terminator("\r\n") {
                    match segments.next() {
                        Some(segment) => feed(&mut probe, now, segment),
                        None => exhausted = true,
                    }
                }
            }
            MailboxOutput::Timeout(at) => {
                assert!(at > now, "a wait for an instant already past: {:?} <= {:?}", at - start, now - start);
                if exhausted && flags & 8 != 0 && !closed {
                    closed = true;
                    probe.handle_eof(now);
                } else {
                    now = at;
                    probe.handle_timeout(now);
                }
            }
            MailboxOutput::StartTls(request) => {
                assert!(!request.implicit);
                tls_verified = flags & 0x20 == 0;
                let info = TlsInfo { verified: tls_verified, ..TlsInfo::default() };
                probe.handle_tls_established(now, info).expect("TLS was asked for");
            }
            MailboxOutput::Ready => {
                if flags & 0x40 != 0 {
                    probe.handle_abandon(now);
                } else {
                    probe.handle_accepted(now, now);
                }
            }
            MailboxOutput::Done => {
                let report = probe.into_report();
                assert!(now <= overall_deadline + Duration::from_secs(1), "ran past its deadline: {:?}", now - start);
                assert!(report.steps.len() <= MAX_RECORDED && report.transcript.len() <= MAX_RECORDED);
                if let Some(found) = &report.message {
                    assert!(found.headers.contains(TOKEN), "reported a message without the token");
                }
                if report.cleanup.is_some() {
                    assert!(report.message.is_some(), "cleaned up without a message of ours");
                }
                assert!(!format!("{report:?}").contains("fuzz-secret"), "the password leaked into the report");
                return report;
            }
        }
    }
    panic!("the mailbox check did not end within 20,000 polls");
}

/// A complete, well-behaved session for seeds, one segment per server turn (greeting, then the answer to each
/// command, with the tags the probe uses): the message is found on the second search, in the inbox or in the junk
/// folder.
pub fn seed_session(found_in_junk: bool) -> Vec<Vec<u8>> {
    let headers = format!(
        "Received: from [127.0.0.1] by mx.example.org (Postfix) with ESMTPSA id 4Xyz;\r\n\tMon, 03 Mar 2025 10:00:01 +0000\r\n\
         Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org; dkim=none\r\n\
         Date: Mon, 03 Mar 2025 10:00:00 +0000\r\nX-Smtp-Probe-Token: {TOKEN}\r\n\r\n"
    );
    let mut turns = vec![
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] ready\r\n".to_owned(),
        "a1 OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] Logged in\r\n".to_owned(),
        "* FLAGS (\\Seen \\Deleted)\r\n* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\na2 OK [READ-WRITE] done\r\n".to_owned(),
        "a3 OK noop\r\n".to_owned(),
        "* SEARCH\r\na4 OK none\r\n".to_owned(),
    ];
    if found_in_junk {
        turns.push("* 3 EXISTS\r\na5 OK [READ-WRITE] Junk\r\n".to_owned());
    } else {
        turns.push("* 1 EXISTS\r\na5 OK noop\r\n".to_owned());
    }
    turns.push("* SEARCH 42\r\na6 OK found\r\n".to_owned());
    turns.push(format!(
        "* 1 FETCH (UID 42 INTERNALDATE \"03-Mar-2025 10:00:02 +0000\" RFC822.SIZE 512 BODY[HEADER] {{{}}}\r\n{headers})\r\na7 OK fetched\r\n",
        headers.len()
    ));
    turns.push("a8 OK stored\r\n".to_owned());
    turns.push("* 1 EXPUNGE\r\na9 OK expunged\r\n".to_owned());
    turns.push("* BYE\r\na10 OK bye\r\n".to_owned());
    turns.into_iter().map(String::into_bytes).collect()
}
