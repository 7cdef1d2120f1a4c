//! The mailbox side of a round trip, in memory.
//!
//! * `imap_fetch/<size>`: one `* 1 FETCH (… BODY[HEADER] {n})` response with a header block of 1 KiB, 10 KiB and
//!   100 KiB, then the tagged OK, fed in 4 KiB reads as a socket delivers them: smtp-probe's `ResponseParser`
//!   (framing first, each byte scanned once) against `imap-proto` (the parser of the `imap` and `async-imap`
//!   crates), which is retried on the growing buffer after each read until it stops answering `Incomplete`, as
//!   those clients do.
//! * `mailbox_check`: a whole mailbox check (greeting, AUTHENTICATE, SELECT, NOOP + UID SEARCH twice, UID FETCH,
//!   UID STORE, UID EXPUNGE, LOGOUT) driven by `MailboxProbe` against scripted bytes, transcript on.
//!
//! `cargo bench -p smtp-probe-benches --bench imap`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smtp_probe_proto::imap::{MailboxConfig, MailboxOutput, MailboxProbe, Response, ResponseLimits, ResponseParser};
use smtp_probe_proto::{Secret, Target, TlsMode, Token};

const READ: usize = 4096;
const TOKEN: &str = "smtp-probe-bench0000000000";

fn fetch_response(header_bytes: usize) -> Vec<u8> {
    let mut headers = String::new();
    let mut n = 0;
    while headers.len() + 80 < header_bytes {
        headers.push_str(&format!(
            "Received: from relay{n}.example.org by mx{n}.example.net with ESMTPS id 4Xy{n:05};\r\n"
        ));
        n += 1;
    }
    headers.push_str(&format!("X-Smtp-Probe-Token: {TOKEN}\r\n\r\n"));
    format!(
        "* 1 FETCH (UID 42 INTERNALDATE \"03-Mar-2025 10:00:02 +0000\" RFC822.SIZE {} BODY[HEADER] {{{}}}\r\n{headers})\r\na7 OK Fetch completed.\r\n",
        headers.len() + 100,
        headers.len()
    )
    .into_bytes()
}

/// smtp-probe: feed each read, take what is complete.
fn ours(parser: &mut ResponseParser, bytes: &[u8]) -> usize {
    let mut seen = 0;
    for read in bytes.chunks(READ) {
        parser.feed(read).expect("within limits");
        while let Some(response) = parser.next_response().expect("valid") {
            seen += usize::from(matches!(response, Response::Untagged(_) | Response::Tagged { .. }));
        }
    }
    seen
}

/// imap-proto, as its clients use it: append each read, parse from the start until it stops saying Incomplete.
fn theirs(buf: &mut Vec<u8>, bytes: &[u8]) -> usize {
    buf.clear();
    let mut seen = 0;
    let mut start = 0;
    for read in bytes.chunks(READ) {
        buf.extend_from_slice(read);
        loop {
            match imap_proto::Response::parse(&buf[start..]) {
                Ok((rest, _response)) => {
                    start = buf.len() - rest.len();
                    seen += 1;
                }
                Err(e) if e.is_incomplete() => break,
                Err(e) => panic!("imap-proto: {e:?}"),
            }
        }
    }
    seen
}

fn imap_fetch(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap_fetch");
    for size in [1_000, 10_000, 100_000] {
        let bytes = fetch_response(size);
        let limits = ResponseLimits { max_literal: 1 << 20, max_buffered: 2 << 20, ..ResponseLimits::default() };
        let mut parser = ResponseParser::new(limits);
        assert_eq!(ours(&mut parser, &bytes), 2);
        let mut buf = Vec::new();
        assert_eq!(theirs(&mut buf, &bytes), 2);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("smtp-probe", size), &bytes, |b, bytes| {
            b.iter(|| black_box(ours(&mut parser, black_box(bytes))))
        });
        group.bench_with_input(BenchmarkId::new("imap-proto", size), &bytes, |b, bytes| {
            b.iter(|| black_box(theirs(&mut buf, black_box(bytes))))
        });
    }
    group.finish();
}

/// The server's side of a check that finds the message on the second search: one reply per command.
fn server_turns() -> Vec<Vec<u8>> {
    let mut fetch = fetch_response(1_000);
    fetch.truncate(fetch.len() - b"a7 OK Fetch completed.\r\n".len());
    fetch.extend_from_slice(b"a7 OK Fetch completed.\r\n");
    [
        &b"a1 OK [CAPABILITY IMAP4rev1 UIDPLUS MOVE] Logged in\r\n"[..],
        b"* FLAGS (\\Seen \\Deleted)\r\n* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\na2 OK [READ-WRITE] done\r\n",
        b"a3 OK noop\r\n",
        b"* SEARCH\r\na4 OK none\r\n",
        b"* 1 EXISTS\r\na5 OK noop\r\n",
        b"* SEARCH 42\r\na6 OK found\r\n",
        &fetch,
        b"a8 OK stored\r\n",
        b"* 1 EXPUNGE\r\na9 OK expunged\r\n",
        b"* BYE\r\na10 OK bye\r\n",
    ]
    .iter()
    .map(|t| t.to_vec())
    .collect()
}

fn run_check(config: &MailboxConfig, turns: &[Vec<u8>], start: Instant) -> usize {
    let token = Token::new(TOKEN).expect("valid");
    let mut probe =
        MailboxProbe::new(config.clone(), token, start, start + Duration::from_secs(5), start + Duration::from_secs(6));
    probe.handle_input(start, b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] ready\r\n");
    let mut turns = turns.iter();
    let mut now = start;
    loop {
        match probe.poll_output(now) {
            MailboxOutput::Transmit(_) => {
                now += Duration::from_micros(50);
                if let Some(turn) = turns.next() {
                    probe.handle_input(now, turn);
                }
            }
            MailboxOutput::Timeout(at) => {
                now = at;
                probe.handle_timeout(now);
            }
            MailboxOutput::Ready => probe.handle_accepted(now, now),
            MailboxOutput::Done => return probe.report().steps.len(),
            MailboxOutput::StartTls(_) => unreachable!("TLS is off in this bench"),
        }
    }
}

fn mailbox_check(c: &mut Criterion) {
    let target = Target::new("imap.example.org", 143).expect("valid");
    let config = MailboxConfig::builder(target, "rt@example.org", Secret::new("secret"))
        .tls(TlsMode::None)
        .allow_plaintext_login(true)
        .build()
        .expect("valid");
    let turns = server_turns();
    let start = Instant::now();
    assert_eq!(run_check(&config, &turns, start), 11, "the greeting and every command answered");
    c.bench_function("mailbox_check", |b| b.iter(|| black_box(run_check(&config, black_box(&turns), start))));
}

criterion_group!(benches, imap_fetch, mailbox_check);
criterion_main!(benches);
