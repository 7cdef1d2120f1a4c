//! Input decoders and property checks for the IMAP fuzz targets, in plain Rust (see `checks.rs` for why): shared by
//! `fuzz/fuzz_targets/imap_*.rs` and the stable replay test `smtp-probe-proto/tests/fuzz_corpus.rs`.

use std::time::{Duration, Instant};

use smtp_probe_proto::imap::{
    MAX_RECORDED, MailboxConfig, MailboxOutput, MailboxProbe, MailboxReport, PollInterval, Response, ResponseError,
    ResponseLimits, ResponseParser, Untagged,
};
use smtp_probe_proto::roundtrip::{self, Token};
use smtp_probe_proto::{Secret, Target, TlsInfo, TlsMode};

/// The token the `imap_session` target looks for; seeds carry it in their FETCH header blocks.
pub const TOKEN: &str = "smtp-probe-fuzz0token";

/// Parser limits from one byte: defaults, or small ones (to reach every limit), or large ones.
pub fn decode_limits(b: u8) -> ResponseLimits {
    match b & 3 {
        0 => ResponseLimits::default(),
        1 => ResponseLimits {
            max_line_len: usize::from(b >> 2) + 1,
            max_literal: usize::from(b >> 4) * 8,
            max_buffered: usize::from(b >> 2) * 16 + 1,
            max_untagged: usize::from(b >> 5),
        },
        2 => ResponseLimits { max_line_len: 64, max_literal: 64, max_buffered: 256, max_untagged: 4 },
        _ => {
            ResponseLimits { max_line_len: 1 << 20, max_literal: 1 << 20, max_buffered: 4 << 20, max_untagged: 1 << 20 }
        }
    }
}

/// What one parser run produced: each response's `Debug` form and bytes, then the error that ended it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImapParserRun {
    /// Every response, as `Debug` text and as received.
    pub responses: Vec<(String, Vec<u8>)>,
    /// The error that ended the run.
    pub error: Option<ResponseError>,
}

/// Target `imap_parser`. Input: `[chunk, limits, stream...]`; `chunk` 0 feeds the stream whole, else in pieces of
/// that many bytes (draining after each).
///
/// Checks that the parser never panics and never holds more than `max_buffered` bytes; that each framed response
/// is exactly the bytes fed for it, in order; that no more than `max_untagged` untagged responses come between two
/// tagged ones; that an error poisons it; and that the pieces do not matter: the responses are those of a one-piece
/// parse (a prefix of them when the buffer limit ended the run), with the same error. The stream is also read as a
/// header block for the round-trip report (hops and Authentication-Results), which must stay bounded.
pub fn check_imap_parser(data: &[u8]) -> ImapParserRun {
    let chunk = usize::from(data.first().copied().unwrap_or(0));
    let limits = decode_limits(data.get(1).copied().unwrap_or(0));
    let stream = data.get(2..).unwrap_or_default();

    let chunked = run_parser(stream, limits, chunk);
    let reference = run_parser(stream, ResponseLimits { max_buffered: usize::MAX, ..limits }, 0);
    assert!(
        reference.responses.starts_with(&chunked.responses),
        "pieces changed the responses:\n chunked {:?}\n whole   {:?}",
        chunked.responses,
        reference.responses
    );
    match &chunked.error {
        Some(ResponseError::BufferFull { limit }) => assert_eq!(*limit, limits.max_buffered),
        Some(err) => {
            assert_eq!(chunked.responses, reference.responses, "responses before the error differ ({err:?})");
            let whole = reference.error.as_ref().expect("an error in pieces must be an error in one piece");
            assert_eq!(std::mem::discriminant(err), std::mem::discriminant(whole), "{err:?} vs {whole:?}");
        }
        None => assert_eq!(chunked, reference),
    }

    assert!(roundtrip::hops(stream).len() <= roundtrip::MAX_ITEMS);
    assert!(roundtrip::authentication_results(stream).len() <= roundtrip::MAX_ITEMS);
    chunked
}

fn run_parser(stream: &[u8], limits: ResponseLimits, chunk: usize) -> ImapParserRun {
    let mut parser = ResponseParser::new(limits);
    let mut run = ImapParserRun::default();
    let mut taken = Vec::new();
    let mut untagged = 0usize;
    let pieces: Vec<&[u8]> = if chunk == 0 { vec![stream] } else { stream.chunks(chunk).collect() };
    'feed: for piece in pieces {
        if let Err(err) = parser.feed(piece) {
            run.error = Some(err);
            break;
        }
        assert!(parser.buffered().len() <= limits.max_buffered);
        assert!(parser.buffer_capacity() <= limits.max_buffered.max(256), "capacity {}", parser.buffer_capacity());
        loop {
            match parser.next_framed() {
                Ok(Some((response, raw))) => {
                    taken.extend_from_slice(raw);
                    match response {
                        Response::Untagged(_) => untagged += 1,
                        _ => untagged = 0,
                    }
                    assert!(untagged <= limits.max_untagged, "{untagged} untagged over {}", limits.max_untagged);
                    if let Response::Untagged(Untagged::Search(found)) = &response {
                        assert!(found.len() <= raw.len());
                    }
                    run.responses.push((format!("{response:?}"), raw.to_vec()));
                }
                Ok(None) => break,
                Err(err) => {
                    run.error = Some(err);
                    break 'feed;
                }
            }
        }
    }
    if let Some(err) = &run.error {
        // Poisoned: the error repeats.
        assert_eq!(parser.next_response().err().as_ref(), Some(err));
        assert_eq!(parser.feed(b"* OK\r\n").err().as_ref(), Some(err));
    } else {
        assert!(stream.starts_with(&taken), "responses are the bytes fed, in order");
        assert_eq!(&stream[taken.len()..], parser.buffered());
    }
    run
}

/// Target `imap_session`. Input: `[flags, seed, stream...]`. The stream is what the server says, in segments
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
pub fn check_imap_session(data: &[u8], start: Instant) -> MailboxReport {
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
        builder = builder.login_method(smtp_probe_proto::imap::LoginMethod::Login);
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
    let plain = crate::checks::base64(b"\0rt@example.org\0fuzz-secret");
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
