//! Hostile and broken servers: each one ends in its documented outcome, with
//! bounded memory and time.

mod common;

use common::*;
use smtp_probe_proto::testing::{Feed, ServerStep, expect};
use smtp_probe_proto::{
    Cause, Direction, EnhancedCode, Output, Phase, Probe, ReplyLimits, ReplyParser, Severity, Timeouts, TlsMode,
    Verdict,
};

fn greeted(rest: impl IntoIterator<Item = ServerStep>) -> Vec<ServerStep> {
    let mut script = vec![line("220 mx.example.com ESMTP"), expect("EHLO")];
    script.extend(rest);
    script
}

// ---- reply framing ------------------------------------------------------------------------------------------------

#[test]
fn four_digit_code_is_not_250() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let (report, harness) = run_whole(&config, start, &greeted([line("2502 mx.example.com")]));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    let violation = finding(&report, Cause::ProtocolViolation);
    assert_eq!(violation.phase, Some(Phase::Ehlo));
    assert!(violation.message.contains("2502"), "{violation:?}");
    assert_eq!(report.capabilities, None, "2502 was not taken as a 250");
    // Out of sync: the probe closes without QUIT.
    assert_eq!(harness.client_lines(), ["EHLO probe.example.org"]);

    // Inside a multi-line reply too.
    let (report, _) = run_whole(&config, start, &greeted([lines(&["250-mx.example.com", "2502 SIZE"])]));
    assert_eq!(report.cause, Some(Cause::ProtocolViolation));
    assert_eq!(report.capabilities, None);
}

#[test]
fn mixed_codes_in_one_reply_are_a_violation_not_accepted() {
    let start = start();
    let config = builder(TlsMode::None).mail_from(USER).rcpt_to("a@example.com").build().unwrap();
    let (report, harness) = run_whole(&config, start, &greeted([lines(&["250-mx.example.com", "354 go ahead"])]));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    assert!(finding(&report, Cause::ProtocolViolation).message.contains("250 then 354"));
    assert_eq!(report.capabilities, None);
    assert_eq!(harness.client_lines(), ["EHLO probe.example.org"], "no MAIL FROM after a broken EHLO reply");
}

// ---- multi-line greetings -----------------------------------------------------------------------------------------

#[test]
fn nothing_is_sent_until_the_final_greeting_line() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let greeting = b"220-mx.example.com ESMTP postscreen\r\n220-please wait\r\n220 ready\r\n";

    // Cut the greeting at every offset and stop the server there: the client must not have said a word.
    for k in 1..greeting.len() {
        let script = vec![ServerStep::Send(greeting[..k].to_vec()), ServerStep::Hang];
        let (report, harness) = run_whole(&config, start, &script);
        assert_eq!(harness.client_lines(), &[] as &[String], "spoke early after {k} bytes");
        assert_eq!(report.cause, Some(Cause::GreetingTimeout), "{k}");
        assert_eq!(report.greeting, None);
    }

    // By hand: after each non-final line the probe only waits; after the final one it sends EHLO.
    let mut probe = Probe::new(config, start, wall_start());
    for part in [&b"220-mx.example.com ESMTP postscreen\r\n"[..], b"220-please wait\r\n", b"220 rea"] {
        probe.handle_input(start, part);
        assert!(matches!(probe.poll_output(start), Output::Timeout(_)), "spoke early");
    }
    probe.handle_input(start + ms(5), b"dy\r\n");
    assert_eq!(probe.poll_output(start + ms(5)), Output::Transmit(b"EHLO probe.example.org\r\n".to_vec()));
}

// ---- refusals in the greeting --------------------------------------------------------------------------------------

#[test]
fn greeting_421_is_temporary_with_text_and_quit() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    let text = "421 4.7.0 mx.example.com Too many concurrent SMTP connections; please try again later";
    let script = [vec![line(text)], quit().to_vec()].concat();
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    let temporary = finding(&report, Cause::TemporaryFailure);
    assert_eq!(temporary.phase, Some(Phase::Greeting));
    assert_eq!(temporary.server_text.as_deref(), Some(text));
    assert_eq!(temporary.severity, Severity::Warning);
    assert_eq!(harness.client_lines(), ["QUIT"]);
    assert_eq!(report.greeting.as_ref().unwrap().code.get(), 421);
    assert_eq!(phases(&report), [Phase::Greeting, Phase::Quit]);

    // The usual shape: 421, then the server closes without waiting for QUIT. Still a temporary failure.
    let (report, harness) = run_whole(&config, start, &[line(text), ServerStep::Close]);
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
    assert_eq!(harness.client_lines(), ["QUIT"]);
}

#[test]
fn greeting_554_is_down_greeting_rejected() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    let text = "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org";
    let script = [vec![line(text)], quit().to_vec()].concat();
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingRejected)));
    let rejected = finding(&report, Cause::GreetingRejected);
    assert_eq!(rejected.server_text.as_deref(), Some(text));
    assert_eq!(rejected.phase, Some(Phase::Greeting));
    assert_eq!(harness.client_lines(), ["QUIT"]);
    assert_eq!(report.greeting.as_ref().unwrap().enhanced, Some(EnhancedCode { class: 5, subject: 7, detail: 1 }));
}

// ---- enhanced status codes -----------------------------------------------------------------------------------------

#[test]
fn enhanced_codes_are_parsed_when_present_and_never_required() {
    let start = start();
    let config = builder(TlsMode::None).mail_from(USER).rcpt_to("a@example.com").build().unwrap();
    // No ENHANCEDSTATUSCODES, no enhanced codes anywhere: a perfectly good server.
    let script = greeted([
        lines(&["250-mx.example.com", "250 SIZE 1000000"]),
        expect("MAIL FROM"),
        line("250 Sender ok"),
        expect("RCPT TO"),
        line("250 Recipient ok"),
        expect("RSET"),
        line("250 Reset"),
        expect("QUIT"),
        line("221 Bye"),
    ]);
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert!(report.steps.iter().filter_map(|s| s.reply.as_ref()).all(|r| r.enhanced.is_none()));

    // A refusal without an enhanced code is still classified by its code.
    let script = greeted([
        line("250 mx.example.com"),
        expect("MAIL FROM"),
        line("250 ok"),
        expect("RCPT TO"),
        line("550 User unknown"),
        expect("QUIT"),
        line("221 Bye"),
    ]);
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::RecipientRejected));
    assert_eq!(step(&report, Phase::RcptTo).reply.as_ref().unwrap().enhanced, None);
    assert_eq!(finding(&report, Cause::RecipientRejected).server_text.as_deref(), Some("550 User unknown"));

    // And with one, it is read; something that only looks like one ("2.0" ) is not.
    let script = greeted([
        line("250 mx.example.com"),
        expect("MAIL FROM"),
        line("250 2.0 ok"),
        expect("RCPT TO"),
        line("550 5.1.1 <a@example.com>: Recipient address rejected"),
        expect("QUIT"),
        line("221 Bye"),
    ]);
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(step(&report, Phase::MailFrom).reply.as_ref().unwrap().enhanced, None);
    let rcpt = step(&report, Phase::RcptTo).reply.as_ref().unwrap();
    assert_eq!(rcpt.enhanced, Some(EnhancedCode { class: 5, subject: 1, detail: 1 }));
    assert_eq!(rcpt.lines[0], b"5.1.1 <a@example.com>: Recipient address rejected", "the text is kept whole");
}

#[test]
fn a_malformed_first_line_fails_the_same_way_however_it_is_cut() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let long_garbage = [vec![b'x'; 3000], b"\r\n".to_vec()].concat();
    let long_reply = [b"220 ".to_vec(), vec![b'a'; 3000], b"\r\n".to_vec()].concat();
    let cases: [(&[u8], Cause); 6] = [
        (b"0\0\0\0\0\0\n", Cause::NotSmtp),
        (b"6x ready\r\n", Cause::NotSmtp),
        (b"2z0 ready\r\n", Cause::NotSmtp),
        (b"650 ready\r\n", Cause::ProtocolViolation),
        (&long_garbage, Cause::NotSmtp),
        (&long_reply, Cause::ProtocolViolation),
    ];
    for (bytes, cause) in cases {
        let script = [ServerStep::Send(bytes.to_vec()), ServerStep::Hang];
        for feed in [Feed::Whole].into_iter().chain((1..=8).map(Feed::Chunks)).chain([Feed::Chunks(1000)]) {
            let (report, harness) = run(&config, start, &script, feed);
            assert_eq!(report.cause, Some(cause), "{:?} fed {feed:?}", bytes.escape_ascii().to_string());
            assert_eq!(finding(&report, cause).phase, Some(Phase::Greeting));
            assert_eq!(harness.elapsed(), ms(0));
        }
    }
}

#[test]
fn unbounded_parser_limits_do_not_overflow() {
    let mut parser =
        ReplyParser::new(ReplyLimits { max_line_len: usize::MAX, max_lines: usize::MAX, max_buffered: usize::MAX });
    parser.feed(b"250-mx.example.com\r\n250-SIZ").unwrap();
    assert!(parser.next_reply().unwrap().is_none(), "a partial line waits for more");
    parser.feed(b"E 1000\r\n250 OK\r\n").unwrap();
    let reply = parser.next_reply().unwrap().unwrap();
    assert_eq!(reply.lines().collect::<Vec<_>>(), [&b"mx.example.com"[..], b"SIZE 1000", b"OK"]);
}

// ---- bare LF -------------------------------------------------------------------------------------------------------

#[test]
fn bare_lf_is_tolerated_and_noted_once() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let script = vec![
        ServerStep::Send(b"220 mx.example.com ESMTP\n".to_vec()),
        expect("EHLO"),
        ServerStep::Send(b"250-mx.example.com\n250 SIZE 1000\n".to_vec()),
        expect("QUIT"),
        ServerStep::Send(b"221 Bye\n".to_vec()),
    ];
    let (report, _) = assert_split_invariant(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(report.capabilities.as_ref().unwrap().size_limit, Some(1000));
    let notes = infos(&report);
    assert_eq!(notes.len(), 1, "one note for the whole session: {notes:?}");
    assert_eq!(notes[0].phase, Some(Phase::Greeting));
    assert!(notes[0].message.contains("bare LF"), "{notes:?}");

    // Only the EHLO reply uses bare LF: the note names that phase.
    let script =
        greeted([ServerStep::Send(b"250-mx.example.com\r\n250 SIZE 1000\n".to_vec()), expect("QUIT"), line("221 Bye")]);
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(report.verdict, Verdict::Up);
    assert_eq!(infos(&report)[0].phase, Some(Phase::Ehlo));
}

// ---- non-UTF-8 -----------------------------------------------------------------------------------------------------

#[test]
fn non_utf8_reply_text_is_kept_as_bytes_and_shown_lossily() {
    let start = start();
    let config = builder(TlsMode::None).mail_from(USER).rcpt_to("a@example.com").build().unwrap();
    let script = vec![
        ServerStep::Send(b"220 mx.example.com ESMTP Bienvenue \xe0 caf\xe9 \xff\r\n".to_vec()),
        expect("EHLO"),
        line("250 mx.example.com"),
        expect("MAIL FROM"),
        line("250 ok"),
        expect("RCPT TO"),
        ServerStep::Send(b"550 Destinataire inconnu: caf\xe9\r\n".to_vec()),
        expect("QUIT"),
        line("221 Bye"),
    ];
    let (report, _) = run_whole(&config, start, &script);
    assert_eq!(report.greeting.as_ref().unwrap().lines[0], b"mx.example.com ESMTP Bienvenue \xe0 caf\xe9 \xff");
    let shown = report.transcript.iter().find(|l| l.direction == Direction::Server).unwrap();
    assert_eq!(shown.text, "220 mx.example.com ESMTP Bienvenue \u{fffd} caf\u{fffd} \u{fffd}");
    assert_eq!(report.cause, Some(Cause::RecipientRejected));
    assert_eq!(
        finding(&report, Cause::RecipientRejected).server_text.as_deref(),
        Some("550 Destinataire inconnu: caf\u{fffd}")
    );
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("caf\u{fffd}"), "{json}");
}

// ---- bounded memory and time ---------------------------------------------------------------------------------------

const SMALL: usize = 8 * 1024;

#[test]
fn endless_continuation_lines_are_a_bounded_violation() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    // 10,000 continuation lines, one write each.
    let script = greeted((0..10_000).map(|i| line(&format!("250-LINE{i}"))));
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    assert!(finding(&report, Cause::ProtocolViolation).message.contains("more than 128 lines"));
    assert!(harness.probe().buffer_capacity() <= SMALL, "{}", harness.probe().buffer_capacity());
    assert_eq!(harness.elapsed(), ms(0), "decided at once, not at a deadline");
    assert_eq!(report.capabilities, None);

    // The same 10,000 lines in one write: refused without buffering them.
    let all: Vec<u8> = (0..10_000).flat_map(|i| format!("250-LINE{i}\r\n").into_bytes()).collect();
    let (report, harness) = run_whole(&config, start, &greeted([ServerStep::Send(all.clone())]));
    assert_eq!(report.cause, Some(Cause::ProtocolViolation));
    assert!(harness.probe().buffer_capacity() <= ReplyLimits::default().max_buffered);
    // And in 4 KiB reads.
    let (report, harness) = run(&config, start, &greeted([ServerStep::Send(all)]), Feed::Chunks(4096));
    assert_eq!(report.cause, Some(Cause::ProtocolViolation));
    assert!(harness.probe().buffer_capacity() <= SMALL, "{}", harness.probe().buffer_capacity());
}

#[test]
fn megabyte_line_without_line_end_is_a_bounded_violation() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let mut huge = b"220 ".to_vec();
    huge.resize(1 << 20, b'a');
    let script = vec![ServerStep::Send(huge)];

    // In 1000-byte reads: cut off as soon as the line is over the line limit.
    let (report, harness) = run(&config, start, &script, Feed::Chunks(1000));
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    let violation = finding(&report, Cause::ProtocolViolation);
    assert_eq!(violation.phase, Some(Phase::Greeting));
    assert!(violation.message.contains("longer than 2048 bytes"), "{violation:?}");
    assert!(harness.probe().buffer_capacity() <= SMALL, "{}", harness.probe().buffer_capacity());
    assert_eq!(harness.elapsed(), ms(0));
    assert_eq!(harness.client_lines(), &[] as &[String]);

    // In one read: refused at the buffer limit, nothing stored.
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!(report.cause, Some(Cause::ProtocolViolation));
    assert!(harness.probe().buffer_capacity() <= ReplyLimits::default().max_buffered);
}

#[test]
fn one_byte_a_second_greeting_times_out_exactly_at_the_deadline() {
    let start = start();
    let greeting = b"220 mx.example.com ESMTP at a snail's pace\r\n";
    let drip: Vec<ServerStep> =
        greeting.iter().flat_map(|&b| [ServerStep::Delay(secs(1)), ServerStep::Send(vec![b])]).collect();

    // The greeting deadline (15 s by default) is not pushed back by each byte: 14 bytes came in time.
    let config = builder(TlsMode::None).build().unwrap();
    assert_eq!(config.timeouts().greeting, secs(15));
    let (report, harness) = run_whole(&config, start, &drip);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingTimeout)));
    assert_eq!(harness.elapsed(), secs(15));
    assert_eq!(report.total, secs(15));
    let timeout = finding(&report, Cause::GreetingTimeout);
    assert!(timeout.message.contains("partial reply received: \"220 mx.example\""), "{timeout:?}");
    assert_eq!(step(&report, Phase::Greeting).duration, secs(15));
    assert_eq!(harness.client_lines(), &[] as &[String]);

    // A shorter overall deadline cuts the greeting deadline, and the message says which one fired.
    let config = builder(TlsMode::None).overall_timeout(secs(7)).build().unwrap();
    let (report, harness) = run_whole(&config, start, &drip);
    assert_eq!(report.cause, Some(Cause::GreetingTimeout));
    assert_eq!(harness.elapsed(), secs(7));
    assert!(finding(&report, Cause::GreetingTimeout).message.contains("overall deadline of 7s"));
}

#[test]
fn silent_server_times_out_at_the_greeting_deadline() {
    let start = start();
    let timeouts = Timeouts { greeting: secs(4), ..Timeouts::default() };
    let config = builder(TlsMode::None).timeouts(timeouts).build().unwrap();
    let (report, harness) = run_whole(&config, start, &[ServerStep::Hang]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingTimeout)));
    assert_eq!(harness.elapsed(), secs(4));
    assert_eq!(report.steps.len(), 1);
    assert_eq!((report.steps[0].phase, report.steps[0].reply.as_ref()), (Phase::Greeting, None));
    assert_eq!(report.steps[0].duration, secs(4));
    assert_eq!(harness.client_lines(), &[] as &[String], "no QUIT to a server that never spoke");

    // Silence then a close is a different story: connection_closed, at once.
    let (report, harness) = run_whole(&config, start, &[ServerStep::Close]);
    assert_eq!(report.cause, Some(Cause::ConnectionClosed));
    assert!(finding(&report, Cause::ConnectionClosed).message.contains("without a greeting"));
    assert_eq!(harness.elapsed(), ms(0));
}

#[test]
fn empty_writes_deliver_nothing_however_the_bytes_are_fed() {
    let start = start();
    let config = builder(TlsMode::None).build().unwrap();
    let script = [
        vec![
            ServerStep::Send(Vec::new()),
            line("220 mx.example.com ESMTP"),
            expect("EHLO"),
            ServerStep::Send(Vec::new()),
        ],
        vec![line("250 mx.example.com"), expect("QUIT"), line("221 Bye")],
    ]
    .concat();
    let (report, harness) = assert_split_invariant(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
    assert_eq!(harness.client_lines(), ["EHLO probe.example.org", "QUIT"]);
}

#[test]
fn deadlines_at_the_end_of_time_do_not_overflow() {
    // A caller's clock can hand in any instant, even one a day before the last one `Instant` can represent: every
    // deadline is then cut to that last instant, and the probe still ends on its deadlines instead of panicking.
    let mut last = start();
    let mut step = std::time::Duration::MAX;
    while !step.is_zero() {
        match last.checked_add(step) {
            Some(later) => last = later,
            None => step /= 2,
        }
    }
    let near_the_end = last - secs(60);
    let config = builder(TlsMode::None).timeouts(Timeouts { greeting: secs(3600), ..Timeouts::default() }).build();
    let config = config.unwrap();
    let (report, harness) = run_whole(&config, near_the_end, &[line("220-mx.example.com"), ServerStep::Hang]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingTimeout)));
    assert_eq!(harness.elapsed(), secs(30), "the overall deadline (30 s) still holds");
    let a_day = Timeouts { overall: secs(24 * 3600), greeting: secs(24 * 3600), ..Timeouts::default() };
    let config = builder(TlsMode::None).timeouts(a_day).build().unwrap();
    let (report, harness) = run_whole(&config, near_the_end, &[ServerStep::Hang]);
    assert_eq!(report.cause, Some(Cause::GreetingTimeout));
    assert_eq!(harness.elapsed(), secs(60), "cut to the last instant that exists");
}

// ---- TLS where a greeting was expected -----------------------------------------------------------------------------

#[test]
fn tls_record_instead_of_greeting_is_not_smtp_with_implicit_tls_hint() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    // A TLS alert/handshake record, as some implicit-TLS servers send to a client that says nothing.
    let record = vec![0x16, 0x03, 0x01, 0x00, 0x2a, 0x02, 0x00, 0x00, 0x26, 0x03, 0x03];
    let (report, harness) = run_whole(&config, start, &[ServerStep::Send(record.clone()), ServerStep::Hang]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::NotSmtp)));
    let not_smtp = finding(&report, Cause::NotSmtp);
    assert!(not_smtp.message.contains("implicit-TLS port"), "{not_smtp:?}");
    assert_eq!(not_smtp.phase, Some(Phase::Greeting));
    assert_eq!(harness.elapsed(), ms(0), "recognised at once, no need to wait for a deadline");
    assert_eq!(harness.client_lines(), &[] as &[String]);
    // Even one byte at a time.
    let (chunked, _) = run(&config, start, &[ServerStep::Send(record), ServerStep::Hang], Feed::Chunks(1));
    assert_eq!(chunked.cause, Some(Cause::NotSmtp));

    // Other protocols are named too.
    let (report, _) = run_whole(&config, start, &[line("HTTP/1.1 400 Bad Request")]);
    assert_eq!(report.cause, Some(Cause::NotSmtp));
    assert!(finding(&report, Cause::NotSmtp).message.contains("HTTP"));
}

// ---- no pipelining: a reply nobody asked for ----------------------------------------------------------------------

#[test]
fn unsolicited_reply_after_the_greeting_is_a_violation_and_never_taken_as_the_ehlo_reply() {
    let start = start();
    let config = builder(TlsMode::StartTlsOpportunistic).build().unwrap();
    // A fake EHLO reply arrives with the greeting, before the probe said anything.
    let script = vec![lines(&["220 mx.example.com ESMTP", "250 fake.example"]), expect("EHLO"), line("250 real")];
    let (report, harness) = run_whole(&config, start, &script);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ProtocolViolation)));
    let violation = finding(&report, Cause::ProtocolViolation);
    assert!(violation.message.contains("250 fake.example"), "{}", violation.message);
    assert_eq!(violation.phase, Some(Phase::Greeting));
    assert!(report.capabilities.is_none(), "the fake reply must not count as EHLO");
    assert!(harness.client_lines().is_empty(), "nothing is sent to a server that breaks the protocol");
}

// ---- item 6 of the trust issue: linear cost and a bounded report, whatever the server sends -----------------------

/// A reply of `code` whose lines carry `texts`, as one write.
fn reply_of(code: u16, texts: &[String]) -> ServerStep {
    let last = texts.len() - 1;
    let mut bytes = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        bytes.extend_from_slice(format!("{code}{}{text}\r\n", if i == last { ' ' } else { '-' }).as_bytes());
    }
    ServerStep::Send(bytes)
}

/// Lines of `width` characters of `fill`, as many as fit in `limits` with `first` in front (one reply).
fn filled(limits: ReplyLimits, first: &[&str], width: usize, fill: &str) -> Vec<String> {
    let mut texts: Vec<String> = first.iter().map(|s| (*s).to_owned()).collect();
    let used = |texts: &[String]| texts.iter().map(|t| t.len() + 6).sum::<usize>();
    let line = fill.repeat(width / fill.len());
    while texts.len() < limits.max_lines && used(&texts) + line.len() + 6 <= limits.max_buffered {
        texts.push(line.clone());
    }
    texts
}

/// The documented bound (see `Report`): per reply, four copies of its bytes and 160 bytes per line, for at most
/// 11 + recipients replies; plus the TLS details and a fixed part.
fn documented_bound(limits: ReplyLimits, recipients: usize) -> usize {
    (11 + recipients) * (4 * limits.max_buffered + 160 * limits.max_lines) + 64 * 1024
}

fn ehlo_probe(limits: ReplyLimits, ehlo: ServerStep) -> (smtp_probe_proto::Report, usize) {
    let config = with_auth(builder(TlsMode::None)).allow_plaintext_auth(true).reply_limits(limits).build().unwrap();
    let script = greeted([ehlo, expect("AUTH"), line("535 5.7.8 no"), expect("QUIT"), line("221 bye")]);
    let (report, harness) = run_whole(&config, start(), &script);
    assert!(harness.mismatches().is_empty(), "{:?}", harness.mismatches());
    let bytes = smtp_probe_proto::testing::report_heap_bytes(&report);
    (report, bytes)
}

/// Tens of thousands of distinct AUTH mechanisms (with limits raised to let them through, and with the defaults):
/// the typed mechanism is still found, the kept list is capped (so each of the reply's mechanisms is compared
/// with a bounded list, which is what makes reading it linear: see the `capabilities` bench for the timing), and
/// the report stays under the documented bound.
#[test]
fn tens_of_thousands_of_auth_mechanisms_keep_the_report_bounded() {
    for limits in [ReplyLimits::default(), ReplyLimits { max_line_len: 8192, max_lines: 128, max_buffered: 1 << 20 }] {
        let mut n = 0;
        let mut lines = vec!["mx.example.com".to_owned()];
        'fill: while lines.len() < limits.max_lines - 1 {
            let mut text = String::from("AUTH");
            while text.len() + 12 < limits.max_line_len.min(limits.max_buffered / limits.max_lines - 8) {
                text.push_str(&format!(" {n:04X}"));
                n += 1;
            }
            lines.push(text);
            if lines.iter().map(|l| l.len() + 6).sum::<usize>() + limits.max_line_len > limits.max_buffered {
                break 'fill;
            }
        }
        lines.push("AUTH PLAIN".to_owned());
        let wire: usize = lines.iter().map(|l| l.len() + 6).sum();
        let (report, bytes) = ehlo_probe(limits, reply_of(250, &lines));
        assert!(n >= 10_000, "{n} mechanisms");
        let caps = report.capabilities.as_ref().expect("the EHLO reply was read");
        assert!(caps.supports_auth(&smtp_probe_proto::AuthMechanism::Plain));
        assert!(caps.auth_mechanisms.len() <= smtp_probe_proto::capabilities::MAX_OTHER_AUTH_MECHANISMS + 7);
        assert_eq!(caps.omitted, n - smtp_probe_proto::capabilities::MAX_OTHER_AUTH_MECHANISMS);
        assert!(bytes <= documented_bound(limits, 0), "{bytes} bytes for a {wire}-byte EHLO");
        // Three copies of the reply (step, transcript, raw lines) and small change: not one string per mechanism.
        assert!(bytes < 3 * wire + 40 * 1024, "{n} mechanisms in {wire} bytes: a {bytes}-byte report");
        println!(
            "{n} distinct AUTH mechanisms, {wire}-byte EHLO: report {bytes} bytes (bound {})",
            documented_bound(limits, 0)
        );
    }
}

/// 60 KB of one-character parameters, on an unknown keyword and on AUTH: a few kept, the report bounded.
#[test]
fn sixty_kilobytes_of_one_character_parameters_keep_the_report_bounded() {
    let limits = ReplyLimits::default();
    for keyword in ["X-PARAMS", "AUTH"] {
        let head = format!("{keyword} a");
        let mut lines = vec!["mx.example.com".to_owned()];
        lines.extend(filled(limits, &[], 2030, " a").into_iter().map(|l| format!("{head}{l}")).take(30));
        lines.push("AUTH PLAIN".to_owned());
        let wire: usize = lines.iter().map(|l| l.len() + 6).sum();
        assert!(wire >= 60_000, "{wire}");
        let (report, bytes) = ehlo_probe(limits, reply_of(250, &lines));
        let caps = report.capabilities.as_ref().expect("the EHLO reply was read");
        assert!(caps.unknown.iter().all(|u| u.params.len() <= smtp_probe_proto::capabilities::MAX_UNKNOWN_PARAMS));
        assert!(caps.omitted > 0 || keyword == "AUTH");
        assert!(bytes <= documented_bound(limits, 0), "{bytes}");
        assert!(bytes < 3 * wire + 40 * 1024, "{keyword}: {wire}-byte EHLO, {bytes}-byte report");
        println!("60 KB of one-character {keyword} parameters ({wire}-byte EHLO): report {bytes} bytes");
    }
}

/// The worst a server can do to one probe: every reply as large as the limits allow (the most lines, the most
/// bytes), through the longest conversation there is (STARTTLS, AUTH LOGIN, an envelope, a test message). The
/// report stays under the documented bound.
#[test]
fn every_reply_at_the_limits_keeps_the_report_under_the_documented_bound() {
    let limits = ReplyLimits::default();
    let config = with_auth(builder(TlsMode::StartTlsRequired))
        .auth_mechanisms([smtp_probe_proto::AuthMechanism::Login])
        .mail_from(USER)
        .rcpt_to("postmaster@example.com")
        .send_test_message("token-1")
        .reply_limits(limits)
        .build()
        .unwrap();
    let big = |code: u16, first: &[&str]| reply_of(code, &filled(limits, first, 500, "x"));
    let script = vec![
        big(220, &["mx.example.com ESMTP"]),
        expect("EHLO"),
        big(250, &["mx.example.com", "STARTTLS", "AUTH LOGIN"]),
        expect("STARTTLS"),
        big(220, &["ready"]),
        ServerStep::TlsEstablished(tls13()),
        expect("EHLO"),
        big(250, &["mx.example.com", "AUTH LOGIN"]),
        expect("AUTH LOGIN"),
        big(334, &["VXNlcm5hbWU6"]),
        expect(""),
        big(334, &["UGFzc3dvcmQ6"]),
        expect(""),
        big(235, &["ok"]),
        expect("MAIL FROM"),
        big(250, &["ok"]),
        expect("RCPT TO"),
        big(250, &["ok"]),
        expect("DATA"),
        big(354, &["go"]),
        expect("<message>"),
        big(250, &["queued"]),
        expect("QUIT"),
        big(221, &["bye"]),
    ];
    let (report, harness) = run_whole(&config, start(), &script);
    assert!(harness.mismatches().is_empty(), "{:?}", harness.mismatches());
    assert_eq!(report.verdict, Verdict::Up, "{:#?}", report.findings);
    assert_eq!(report.steps.iter().filter(|s| s.reply.is_some()).count(), 12);
    let bytes = smtp_probe_proto::testing::report_heap_bytes(&report);
    let bound = documented_bound(limits, 1);
    assert!(bytes <= bound, "{bytes} > {bound}");
    println!("every reply at the default limits, 12 replies: report {bytes} bytes (bound {bound})");
}
