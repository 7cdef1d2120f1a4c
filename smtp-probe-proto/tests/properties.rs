//! Properties: how the server's bytes are cut never matters, replies survive encode/parse round trips, and
//! whatever a server sends, the probe ends within its deadline and its memory bound.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use smtp_probe_proto::testing::{Feed, ServerStep, expect};
use smtp_probe_proto::{Cause, OwnedReply, ReplyCode, ReplyLimits, ReplyParser, TlsMode, Verdict};

fn code() -> impl Strategy<Value = ReplyCode> {
    (200u16..600).prop_filter_map("a valid reply code", ReplyCode::new)
}

/// Any bytes but CR and LF: what a reply line's text may hold.
fn text() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>().prop_filter("no line ends", |b| *b != b'\r' && *b != b'\n'), 0..60)
}

fn reply() -> impl Strategy<Value = OwnedReply> {
    (code(), vec(text(), 1..=20)).prop_map(|(code, lines)| OwnedReply::new(code, lines))
}

fn parser() -> ReplyParser {
    ReplyParser::new(ReplyLimits { max_buffered: 1 << 20, ..ReplyLimits::default() })
}

/// Feeds `wire` cut at `cuts`, taking every complete reply after each piece.
fn parse_in_pieces(wire: &[u8], cuts: &[usize]) -> Vec<OwnedReply> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(wire.len());
    let mut parser = parser();
    let mut out = Vec::new();
    let mut from = 0;
    for to in cuts {
        parser.feed(&wire[from..to]).unwrap();
        from = to;
        while let Some(reply) = parser.next_reply().unwrap() {
            out.push(reply.to_owned());
        }
    }
    assert!(parser.buffered().is_empty());
    out
}

proptest! {
    #[test]
    fn any_split_of_a_reply_stream_gives_the_same_replies(
        replies in vec(reply(), 1..10),
        cuts in vec(any::<usize>(), 0..24),
    ) {
        let mut wire = Vec::new();
        for r in &replies {
            r.encode(&mut wire);
        }
        let whole = parse_in_pieces(&wire, &[]);
        prop_assert_eq!(&whole, &replies);
        prop_assert_eq!(parse_in_pieces(&wire, &cuts), whole);
        // Byte by byte, the slowest drip there is.
        let every: Vec<usize> = (1..wire.len()).collect();
        prop_assert_eq!(parse_in_pieces(&wire, &every), replies);
    }

    #[test]
    fn parse_encode_parse_is_identity(original in reply()) {
        let mut wire = Vec::new();
        original.encode(&mut wire);
        let mut p = parser();
        p.feed(&wire).unwrap();
        let parsed = p.next_reply().unwrap().expect("one complete reply");
        prop_assert_eq!(parsed.raw(), &wire[..]);
        prop_assert_eq!(parsed.code(), original.code);
        prop_assert_eq!(parsed.line_count(), original.lines.len());
        prop_assert!(!parsed.has_bare_lf());
        let owned = parsed.to_owned();
        prop_assert_eq!(&owned, &original);

        let mut again = Vec::new();
        owned.encode(&mut again);
        prop_assert_eq!(&again, &wire);
        let mut p = parser();
        p.feed(&again).unwrap();
        prop_assert_eq!(p.next_reply().unwrap().map(|r| r.to_owned()), Some(owned));
        prop_assert!(p.next_reply().unwrap().is_none());
    }
}

/// A randomly shaped but well-formed session: multi-line greeting, EHLO with random keywords, optional
/// STARTTLS, an envelope whose recipient gets `rcpt`, pauses before replies, CRLF or bare LF line ends.
#[derive(Debug, Clone)]
struct Session {
    greeting: Vec<String>,
    keywords: Vec<String>,
    starttls: bool,
    rcpt: u16,
    rcpt_text: String,
    delays: Vec<u64>,
    bare_lf: bool,
}

fn session() -> impl Strategy<Value = Session> {
    (
        vec("[ -~]{0,40}", 1..4),
        vec("[A-Z][A-Z0-9-]{0,12}( [ -~]{0,20})?", 0..12),
        any::<bool>(),
        prop_oneof![Just(250u16), Just(251), Just(450), Just(451), Just(550), Just(553)],
        "[ -~]{0,60}",
        vec(0u64..3000, 8),
        any::<bool>(),
    )
        .prop_map(|(greeting, keywords, starttls, rcpt, rcpt_text, delays, bare_lf)| Session {
            greeting,
            keywords,
            starttls,
            rcpt,
            rcpt_text,
            delays,
            bare_lf,
        })
}

impl Session {
    fn reply(&self, code: u16, lines: &[String]) -> ServerStep {
        let end = if self.bare_lf { "\n" } else { "\r\n" };
        let last = lines.len() - 1;
        let bytes = lines
            .iter()
            .enumerate()
            .flat_map(|(i, l)| format!("{code}{}{l}{end}", if i == last { ' ' } else { '-' }).into_bytes())
            .collect();
        ServerStep::Send(bytes)
    }

    fn ehlo(&self, with_starttls: bool) -> ServerStep {
        let mut lines = vec!["mx.example.com".to_owned()];
        lines.extend(self.keywords.iter().filter(|k| !k.to_ascii_uppercase().starts_with("STARTTLS")).cloned());
        if with_starttls {
            lines.push("STARTTLS".to_owned());
        }
        self.reply(250, &lines)
    }

    fn script(&self) -> Vec<ServerStep> {
        let pause = |i: usize| ServerStep::Delay(ms(self.delays[i]));
        let one = |code: u16, text: &str| self.reply(code, &[text.to_owned()]);
        let mut script =
            vec![pause(0), self.reply(220, &self.greeting), expect("EHLO"), pause(1), self.ehlo(self.starttls)];
        if self.starttls {
            script.extend([
                expect("STARTTLS"),
                one(220, "2.0.0 Ready to start TLS"),
                ServerStep::TlsEstablished(tls13()),
                expect("EHLO"),
                pause(2),
                self.ehlo(false),
            ]);
        }
        script.extend([expect("MAIL FROM"), pause(3), one(250, "2.1.0 Ok"), expect("RCPT TO"), pause(4)]);
        script.push(one(self.rcpt, &self.rcpt_text));
        if self.rcpt < 300 {
            script.extend([expect("RSET"), pause(5), one(250, "2.0.0 Ok")]);
        }
        script.extend([expect("QUIT"), pause(6), one(221, "2.0.0 Bye")]);
        script
    }

    fn expected(&self) -> (Verdict, Option<Cause>) {
        match self.rcpt {
            250 | 251 => (Verdict::Up, None),
            400..=499 => (Verdict::Degraded, Some(Cause::TemporaryFailure)),
            _ => (Verdict::Down, Some(Cause::RecipientRejected)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_split_of_a_whole_session_gives_the_same_report(
        session in session(),
        at in any::<usize>(),
        chunk in 1usize..300,
    ) {
        let start = start();
        let config = builder(TlsMode::StartTlsOpportunistic)
            .mail_from(USER)
            .rcpt_to("postmaster@example.com")
            .build()
            .unwrap();
        let script = session.script();
        let (whole, harness) = run(&config, start, &script, Feed::Whole);
        prop_assert_eq!(harness.mismatches(), &[] as &[String]);
        prop_assert_eq!((whole.verdict, whole.cause), session.expected());
        prop_assert_eq!(whole.capabilities_tls.is_some(), session.starttls);
        let total = server_bytes(&script);
        for feed in [Feed::SplitAt(1 + at % total), Feed::Chunks(chunk)] {
            let (report, other) = run(&config, start, &script, feed);
            prop_assert_eq!(&report, &whole, "{:?}", feed);
            prop_assert_eq!(other.client_lines(), harness.client_lines());
            prop_assert_eq!(other.elapsed(), harness.elapsed());
        }
    }

    #[test]
    fn whatever_the_server_sends_the_probe_ends_in_time_and_in_bounded_memory(
        writes in vec(
            prop_oneof![
                vec(any::<u8>(), 0..64),
                "(2[0-9][0-9]|[0-9]{3,4})[ -]?[ -~]{0,20}\r?\n".prop_map(String::into_bytes),
                Just(b"220 mx.example.com ESMTP\r\n".to_vec()),
                Just(b"250-mx.example.com\r\n".to_vec()),
                Just(b"250 STARTTLS\r\n".to_vec()),
            ],
            0..40,
        ),
        delays in vec(0u64..2000, 40),
        hang in any::<bool>(),
        chunk in 1usize..16,
    ) {
        let start = start();
        let config = builder(TlsMode::StartTlsOpportunistic).mail_from(USER).rcpt_to("a@example.com").build().unwrap();
        let mut script: Vec<ServerStep> = writes
            .iter()
            .zip(&delays)
            .flat_map(|(w, d)| [ServerStep::Delay(ms(*d)), ServerStep::Send(w.clone())])
            .collect();
        if hang {
            script.push(ServerStep::Hang);
        }
        let overall = config.timeouts().overall;
        let bound = ReplyLimits::default().max_buffered + 4096;
        let mut outcomes = Vec::new();
        for feed in [Feed::Whole, Feed::Chunks(chunk)] {
            let (report, harness) = run(&config, start, &script, feed);
            prop_assert!(harness.elapsed() <= overall, "{:?} ran {:?}", feed, harness.elapsed());
            prop_assert!(report.total <= overall);
            prop_assert!(harness.probe().buffer_capacity() <= bound);
            prop_assert_eq!(report.verdict == Verdict::Up, report.cause.is_none());
            if report.verdict == Verdict::Up {
                // Up: the server must at least have greeted properly.
                prop_assert_eq!(report.greeting.as_ref().map(|g| g.code.get()), Some(220));
            }
            if report.verdict == Verdict::Degraded {
                // Degraded is a 4xx somewhere, which means a reply was read.
                prop_assert_eq!(report.cause, Some(Cause::TemporaryFailure));
                prop_assert!(report.steps.iter().filter_map(|s| s.reply.as_ref()).any(|r| r.code.is_transient()));
            }
            let phases: Vec<_> = report.findings.iter().map(|f| (f.cause, f.phase)).collect();
            outcomes.push((report.verdict, report.cause, phases, harness.client_lines().to_vec()));
        }
        // The cut of the garbage may change how an error is worded, never what happened.
        prop_assert_eq!(&outcomes[0], &outcomes[1]);
    }
}
