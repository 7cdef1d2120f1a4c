//! Shared pieces of smtp-probe's benchmarks and allocation proofs: the reply corpus, one driver per parser that
//! streams the corpus the way a socket would deliver it, sample replies, an in-memory probe run and a counting
//! global allocator.
//!
//! Every driver returns a [`Tally`] (replies seen, sum of their codes) so each parser can be checked against the
//! corpus totals, [`CORPUS_REPLIES`] and [`CORPUS_CODE_SUM`], before it is timed.

pub mod load;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use lettre::transport::smtp::response::Response as LettreResponse;
use smtp_probe_proto::reply::ReplyParser;
use smtp_probe_proto::{Output, Probe, ProbeConfig, Report, TlsMode};
use smtp_proto::response::parser::ResponseReceiver;

/// File name of the shared corpus: 10,000 server replies back to back, CRLF line ends.
pub const CORPUS_FILE: &str = "replies-10k-mixed.smtp";
/// Size of the corpus in bytes.
pub const CORPUS_LEN: usize = 642_000;
/// Number of replies in the corpus.
pub const CORPUS_REPLIES: u64 = 10_000;
/// Sum of the corpus's reply codes: a parser that reads every reply correctly reproduces it.
pub const CORPUS_CODE_SUM: u64 = 3_016_000;
/// Bytes handed to a parser per feed: one socket read into a 16 KiB buffer.
pub const READ_CHUNK: usize = 16 * 1024;

/// Where the corpus lives: `data/` in this crate, found from `CARGO_MANIFEST_DIR`.
pub fn corpus_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(CORPUS_FILE)
}

/// Reads the corpus and checks its size. Panics if it is missing or not the expected file.
pub fn load_corpus() -> Vec<u8> {
    let path = corpus_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(bytes.len(), CORPUS_LEN, "unexpected corpus size at {}", path.display());
    bytes
}

/// Replies counted and the sum of their codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Replies parsed.
    pub replies: u64,
    /// Sum of their three-digit codes.
    pub code_sum: u64,
}

impl Tally {
    /// Counts one reply.
    #[inline]
    pub fn add(&mut self, code: u16) {
        self.replies += 1;
        self.code_sum += u64::from(code);
    }

    /// Panics unless this is exactly the corpus: [`CORPUS_REPLIES`] replies summing to [`CORPUS_CODE_SUM`].
    pub fn assert_corpus(&self, parser: &str) {
        assert_eq!(
            *self,
            Tally { replies: CORPUS_REPLIES, code_sum: CORPUS_CODE_SUM },
            "{parser} did not reproduce the corpus totals"
        );
    }
}

/// Streams `input` through smtp-probe's [`ReplyParser`] in `chunk`-byte feeds, draining every complete reply
/// after each feed, as an adapter does after each socket read. The parser is reused as is: its buffer keeps
/// the capacity earlier runs gave it.
///
/// With [`READ_CHUNK`] feeds the default limits (64 KiB buffered) are never approached: at most one partial
/// reply plus one chunk is ever held.
pub fn smtp_probe_stream(parser: &mut ReplyParser, input: &[u8], chunk: usize) -> Tally {
    let mut tally = Tally::default();
    for piece in input.chunks(chunk) {
        parser.feed(piece).expect("smtp-probe: feed");
        while let Some(reply) = parser.next_reply().expect("smtp-probe: valid reply") {
            tally.add(reply.code().get());
        }
    }
    tally
}

/// Streams `input` through smtp-proto's [`ResponseReceiver`] in `chunk`-byte slices, taking every complete
/// response out of each slice and resetting the receiver after each one, as its own tests and users do.
pub fn smtp_proto_stream(receiver: &mut ResponseReceiver, input: &[u8], chunk: usize) -> Tally {
    let mut tally = Tally::default();
    for piece in input.chunks(chunk) {
        let mut bytes = piece.iter();
        loop {
            match receiver.parse(&mut bytes) {
                Ok(response) => {
                    tally.add(response.code);
                    receiver.reset();
                }
                Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                Err(err) => panic!("smtp-proto: {err:?}"),
            }
        }
    }
    tally
}

/// Parses `input` with lettre, one reply after another, through its public `Response: FromStr`.
///
/// lettre has no public incremental parser (`parse_response` is crate-private; its client re-parses a growing
/// line buffer after every line read). So lettre gets the whole corpus as one already-validated `&str`, and the
/// length of each reply is recomputed from its lines (`code + separator + text + CRLF`): this is a lower bound
/// on lettre's real cost, which only flatters it in the comparison.
pub fn lettre_whole(input: &str) -> Tally {
    let mut tally = Tally::default();
    let mut rest = input;
    while !rest.is_empty() {
        let response: LettreResponse = rest.parse().expect("lettre: valid reply");
        let consumed: usize = response.message().map(|line| line.len() + 6).sum();
        rest = &rest[consumed..];
        tally.add(u16::from(response.code()));
    }
    tally
}

/// Sample replies for the single-reply benchmarks, as `(name, wire bytes)`.
pub const SINGLE_REPLIES: [(&str, &[u8]); 4] = [
    ("greeting", GREETING),
    ("ehlo_postfix_11", EHLO_POSTFIX),
    ("ehlo_gmail_8", EHLO_GMAIL),
    ("error_enhanced", ERROR_ENHANCED),
];

/// Postfix's greeting.
pub const GREETING: &[u8] = b"220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n";

/// Postfix's 11-line EHLO reply.
pub const EHLO_POSTFIX: &[u8] = b"250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n\
250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
250 CHUNKING\r\n";

/// A Gmail-style 8-line EHLO reply with AUTH.
pub const EHLO_GMAIL: &[u8] = b"250-smtp.gmail.com at your service, [203.0.113.7]\r\n250-SIZE 35882577\r\n\
250-8BITMIME\r\n250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n250-ENHANCEDSTATUSCODES\r\n\
250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";

/// A rejection with an enhanced status code.
pub const ERROR_ENHANCED: &[u8] = b"550 5.1.1 <x@y>: Recipient address rejected: User unknown\r\n";

/// The server's side of a plain probe: greeting, the Postfix EHLO reply, then `221` to QUIT.
pub const PLAIN_PROBE_SERVER: [&[u8]; 3] = [GREETING, EHLO_POSTFIX, b"221 2.0.0 Bye\r\n"];

/// A configuration for the in-memory plain probe: no TLS, transcript on or off.
pub fn plain_probe_config(transcript: bool) -> ProbeConfig {
    ProbeConfig::builder("mx.example.com".parse().expect("a valid target"))
        .tls(TlsMode::None)
        .ehlo_name("probe.example.org")
        .transcript(transcript)
        .build()
        .expect("valid probe configuration")
}

/// Runs one whole plain probe (greeting, EHLO, QUIT) in memory against [`PLAIN_PROBE_SERVER`], every event at
/// `now`, and returns its report. Panics if the probe asks for more than the script holds.
pub fn run_plain_probe(config: &ProbeConfig, now: Instant) -> Report {
    let mut server = PLAIN_PROBE_SERVER.into_iter();
    let mut probe = Probe::new(config.clone(), now, SystemTime::UNIX_EPOCH);
    probe.handle_input(now, server.next().expect("greeting"));
    loop {
        match probe.poll_output(now) {
            Output::Transmit(bytes) => {
                std::hint::black_box(&bytes);
                probe.handle_input(now, server.next().expect("one reply per command"));
            }
            Output::Timeout(deadline) => probe.handle_timeout(deadline),
            Output::Done => return probe.into_report(),
            other @ Output::StartTls(_) => panic!("unexpected output of a plain probe: {other:?}"),
        }
    }
}

thread_local! {
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static THREAD_ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
}

/// A global allocator that forwards to [`System`] and counts, per thread, every allocation and reallocation
/// (frees are not counted). Install it in a test or bench binary:
///
/// ```
/// use smtp_probe_benches::{AllocStats, CountingAllocator};
///
/// #[global_allocator]
/// static ALLOC: CountingAllocator = CountingAllocator;
///
/// # fn main() {
/// let (stats, v) = AllocStats::during(|| vec![0u8; 100]);
/// assert_eq!((stats.allocations, stats.bytes), (1, 100));
/// # drop(v);
/// # }
/// ```
///
/// Counts are per thread so that other tests running in parallel cannot disturb a measurement.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

impl CountingAllocator {
    fn count(size: usize) {
        // `try_with`: the slots may already be gone while a thread is being torn down.
        let _ = THREAD_ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        let _ = THREAD_ALLOCATED_BYTES.try_with(|n| n.set(n.get() + size as u64));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters are `const`
// thread-locals of `Cell<u64>`, which never allocate, so counting cannot recurse into the allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::count(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::count(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocation counts of the current thread, as seen by [`CountingAllocator`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Allocations and reallocations.
    pub allocations: u64,
    /// Bytes requested by them.
    pub bytes: u64,
}

impl AllocStats {
    /// The current thread's counts so far (all zero unless [`CountingAllocator`] is the global allocator).
    pub fn now() -> AllocStats {
        AllocStats { allocations: THREAD_ALLOCATIONS.with(Cell::get), bytes: THREAD_ALLOCATED_BYTES.with(Cell::get) }
    }

    /// What happened on this thread while `f` ran, with `f`'s result.
    pub fn during<T>(f: impl FnOnce() -> T) -> (AllocStats, T) {
        let before = AllocStats::now();
        let out = f();
        let after = AllocStats::now();
        (AllocStats { allocations: after.allocations - before.allocations, bytes: after.bytes - before.bytes }, out)
    }
}

// ---- hostile EHLO replies ----------------------------------------------------------------------------------------

/// A hostile EHLO reply, as the `capabilities` bench and the `ehlo-cost` tool build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostileEhlo {
    /// `n` distinct AUTH mechanisms, then `AUTH PLAIN` (the one the probe needs) last.
    AuthMechanisms,
    /// `n` one-character parameters on an unknown keyword.
    OneCharParams,
}

/// The wire bytes of a hostile EHLO reply with `n` elements: lines of at most 8,000 characters, one `250` reply.
pub fn hostile_ehlo(kind: HostileEhlo, n: usize) -> Vec<u8> {
    let (head, items): (&str, Box<dyn Iterator<Item = String>>) = match kind {
        HostileEhlo::AuthMechanisms => ("AUTH", Box::new((0..n).map(|i| format!("M{i:X}")))),
        HostileEhlo::OneCharParams => ("X-PARAMS", Box::new((0..n).map(|_| "a".to_owned()))),
    };
    let mut lines = vec!["mx.example.com".to_owned()];
    let mut line = head.to_owned();
    for item in items {
        if line.len() + item.len() + 1 > 8000 {
            lines.push(std::mem::replace(&mut line, head.to_owned()));
        }
        line.push(' ');
        line.push_str(&item);
    }
    lines.push(line);
    lines.push("AUTH PLAIN".to_owned());
    let mut wire = Vec::new();
    for (i, text) in lines.iter().enumerate() {
        let separator = if i + 1 == lines.len() { ' ' } else { '-' };
        wire.extend_from_slice(format!("250{separator}{text}\r\n").as_bytes());
    }
    wire
}

/// Limits that let the largest hostile reply through (16 MiB, 4,096 lines of 8 KiB).
pub fn hostile_limits() -> smtp_probe_proto::ReplyLimits {
    smtp_probe_proto::ReplyLimits { max_line_len: 8192, max_lines: 4096, max_buffered: 16 << 20 }
}

/// smtp-probe: frame the reply and read it into `Capabilities`.
pub fn smtp_probe_capabilities(wire: &[u8]) -> smtp_probe_proto::Capabilities {
    let mut parser = ReplyParser::new(hostile_limits());
    parser.feed(wire).expect("within the limits");
    let reply = parser.next_reply().expect("a valid reply").expect("a whole reply").to_owned();
    smtp_probe_proto::Capabilities::from_ehlo(&reply)
}

/// smtp-proto: `EhloResponse::parse` on the same bytes.
pub fn smtp_proto_ehlo(wire: &[u8]) -> smtp_proto::EhloResponse<String> {
    smtp_proto::EhloResponse::parse(&mut wire.iter()).expect("a valid EHLO reply")
}
