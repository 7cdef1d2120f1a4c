//! Target `reply_parser`: the reply parser fed in pieces, against a one-piece parse of the same bytes.

use std::mem::discriminant;

use super::input::{Input, Rng};
use crate::reply::{EnhancedCode, OwnedReply, Reply, ReplyCode, ReplyError, ReplyLimits, ReplyParser};

/// How the `reply_parser` target cuts the stream into `feed` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunking {
    /// One `feed` of the whole stream.
    Whole,
    /// Pieces of this many bytes, drained after each.
    Fixed(usize),
    /// Pieces of 1–16 bytes from a generator seeded with this byte; draining is sometimes skipped, so several
    /// pieces pile up before `next_reply` runs.
    Random(u8),
}

impl Chunking {
    fn decode(b: u8) -> Chunking {
        match b {
            0 => Chunking::Whole,
            1..=0x7f => Chunking::Fixed(usize::from(b)),
            _ => Chunking::Random(b),
        }
    }
}

/// Parser limits from two bytes: defaults, tiny limits (to reach every limit error), or no limits at all.
pub fn decode_limits(l1: u8, l2: u8) -> ReplyLimits {
    match l1 & 7 {
        0 => ReplyLimits::default(),
        1 | 5 => ReplyLimits {
            max_line_len: usize::from(l1 >> 3),
            max_lines: usize::from(l2 & 0x0f) + 1,
            max_buffered: usize::from(l2 >> 4) * 24,
        },
        2 => ReplyLimits { max_line_len: 512, max_lines: 8, max_buffered: 1024 },
        3 | 6 => ReplyLimits {
            max_line_len: usize::from(l2) * 2,
            max_lines: usize::from(l1 >> 3) + 1,
            max_buffered: 64 * 1024,
        },
        4 => ReplyLimits { max_line_len: usize::MAX, max_lines: usize::MAX, max_buffered: usize::MAX },
        _ => ReplyLimits { max_line_len: usize::from(l2), max_lines: 2, max_buffered: usize::from(l1 >> 3) * 8 },
    }
}

/// A reply as observed, for comparing two runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenReply {
    /// The code.
    pub code: u16,
    /// The text of each line.
    pub lines: Vec<Vec<u8>>,
    /// The bytes as received.
    pub raw: Vec<u8>,
    /// Whether a line ended in a bare LF.
    pub bare_lf: bool,
}

/// What one run of the parser produced.
#[derive(Debug, Default)]
pub struct ParserRun {
    /// Every reply, in order.
    pub replies: Vec<SeenReply>,
    /// The error that ended the run, if any.
    pub error: Option<ReplyError>,
}

/// Target `reply_parser`. Input: `[chunking, limits1, limits2, stream...]` (see [`Chunking`] and
/// [`decode_limits`]).
///
/// Feeds the stream in pieces and checks that the parser never panics, never buffers more than `max_buffered`
/// bytes (nor holds more than twice that in capacity), that the replies taken plus the bytes still buffered are
/// exactly the bytes fed, that every reply is well formed and within the limits, that an error poisons the
/// parser (every later call repeats it), and that the pieces do not matter: the replies are those of a one-piece
/// parse of the whole stream (a prefix of them when the buffer limit ended the run) and the error is of the same
/// kind.
pub fn check(data: &[u8]) -> ParserRun {
    let mut input = Input(data);
    let chunking = Chunking::decode(input.byte());
    let limits = decode_limits(input.byte(), input.byte());
    let stream = input.rest();

    let chunked = run_parser(stream, limits, chunking);
    let reference = run_parser(stream, ReplyLimits { max_buffered: usize::MAX, ..limits }, Chunking::Whole);
    assert!(
        reference.replies.starts_with(&chunked.replies),
        "pieces changed the replies:\n chunked {:?}\n whole   {:?}",
        chunked.replies,
        reference.replies
    );
    match &chunked.error {
        Some(ReplyError::BufferFull { limit }) => assert_eq!(*limit, limits.max_buffered),
        Some(err) => {
            assert_eq!(chunked.replies, reference.replies, "replies before the error differ ({err:?})");
            let whole = reference.error.as_ref().expect("an error in pieces must be an error in one piece");
            assert!(same_kind(err, whole), "pieces changed the error: {err:?} in pieces, {whole:?} in one piece");
        }
        None => {
            assert_eq!(chunked.replies, reference.replies);
            assert_eq!(reference.error, None, "an error in one piece must be an error in pieces");
        }
    }
    chunked
}

/// Same error variant, and the same numbers where the variant carries numbers. The text of a rejected line
/// (`NotSmtp`, `InvalidCode`, `MalformedLine`) legitimately depends on how much of it had arrived.
pub fn same_kind(a: &ReplyError, b: &ReplyError) -> bool {
    match (a, b) {
        (ReplyError::MismatchedCodes { .. }, _)
        | (ReplyError::LineTooLong { .. }, _)
        | (ReplyError::TooManyLines { .. }, _)
        | (ReplyError::BufferFull { .. }, _) => a == b,
        _ => discriminant(a) == discriminant(b),
    }
}

fn run_parser(stream: &[u8], limits: ReplyLimits, chunking: Chunking) -> ParserRun {
    let mut parser = ReplyParser::new(limits);
    assert_eq!(parser.limits(), limits);
    let mut run = ParserRun::default();
    let mut fed = Vec::new();
    let mut taken = Vec::new();
    let mut rng = match chunking {
        Chunking::Random(seed) => Rng(u32::from(seed).wrapping_mul(0x9e37_79b9) | 1),
        _ => Rng(1),
    };
    let mut rest = stream;
    loop {
        if rest.is_empty() {
            // The final drain: a trailing partial line is checked as the peer would leave it.
            if let Err(err) = drain(&mut parser, limits, &mut run, &mut taken) {
                run.error = Some(err);
            }
            check_buffer(&parser, limits, &fed, &taken);
            break;
        }
        let (size, drain_now) = match chunking {
            Chunking::Whole => (rest.len(), true),
            Chunking::Fixed(n) => (n, true),
            Chunking::Random(_) => {
                let r = rng.next();
                (1 + (r % 16) as usize, (r >> 8) % 4 != 0)
            }
        };
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        if let Err(err) = parser.feed(chunk) {
            assert_eq!(err, ReplyError::BufferFull { limit: limits.max_buffered }, "feed fails only when full");
            assert!(
                parser.buffered().len() + chunk.len() > limits.max_buffered,
                "BufferFull with {} buffered + {} new <= {}",
                parser.buffered().len(),
                chunk.len(),
                limits.max_buffered
            );
            check_buffer(&parser, limits, &fed, &taken);
            run.error = Some(err);
            break;
        }
        fed.extend_from_slice(chunk);
        check_buffer(&parser, limits, &fed, &taken);
        if drain_now {
            if let Err(err) = drain(&mut parser, limits, &mut run, &mut taken) {
                check_buffer(&parser, limits, &fed, &taken);
                run.error = Some(err);
                break;
            }
            check_buffer(&parser, limits, &fed, &taken);
        }
    }
    if let Some(err) = &run.error {
        // Poisoned: every later call repeats the error and stores nothing.
        let buffered = parser.buffered().len();
        assert_eq!(parser.next_reply().err().as_ref(), Some(err));
        assert_eq!(parser.feed(b"250 ok\r\n").as_ref(), Err(err));
        assert_eq!(parser.feed(b"").as_ref(), Err(err));
        assert_eq!(parser.next_reply().err().as_ref(), Some(err));
        assert_eq!(parser.buffered().len(), buffered);
        let _ = err.to_string();
    }
    run
}

/// Takes every complete reply; `Err` ends the run.
fn drain(
    parser: &mut ReplyParser,
    limits: ReplyLimits,
    run: &mut ParserRun,
    taken: &mut Vec<u8>,
) -> Result<(), ReplyError> {
    while let Some(reply) = parser.next_reply()? {
        let seen = check_reply(&reply, limits);
        taken.extend_from_slice(&seen.raw);
        run.replies.push(seen);
    }
    Ok(())
}

fn check_buffer(parser: &ReplyParser, limits: ReplyLimits, fed: &[u8], taken: &[u8]) {
    let buffered = parser.buffered();
    assert!(buffered.len() <= limits.max_buffered, "{} bytes buffered, limit {}", buffered.len(), limits.max_buffered);
    let capacity_bound = limits.max_buffered; // the parser grows its buffer up to the cap, never past it
    assert!(parser.buffer_capacity() <= capacity_bound, "capacity {} > {capacity_bound}", parser.buffer_capacity());
    // Nothing lost, nothing invented: the replies taken, then what is buffered, are the bytes fed.
    assert_eq!(taken.len() + buffered.len(), fed.len());
    assert!(fed.starts_with(taken) && fed.ends_with(buffered), "replies + buffered != fed");
}

/// Checks one reply against its raw bytes and the limits.
fn check_reply(reply: &Reply<'_>, limits: ReplyLimits) -> SeenReply {
    let raw = reply.raw();
    let code = reply.code();
    assert_eq!(ReplyCode::new(code.get()), Some(code));
    let digits = format!("{:03}", code.get());
    let lines: Vec<&[u8]> = reply.lines().collect();
    assert_eq!(lines.len(), reply.line_count());
    assert!(reply.line_count() >= 1 && reply.line_count() <= limits.max_lines, "{} lines", reply.line_count());
    assert!(raw.ends_with(b"\n"));
    let raw_lines: Vec<&[u8]> = raw.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(raw_lines.len(), lines.len());
    let mut bare_lf = false;
    for (i, raw_line) in raw_lines.iter().enumerate() {
        let body = &raw_line[..raw_line.len() - 1];
        let body = match body.strip_suffix(b"\r") {
            Some(body) => body,
            None => {
                bare_lf = true;
                body
            }
        };
        assert!(body.len() <= limits.max_line_len, "line of {} bytes, limit {}", body.len(), limits.max_line_len);
        assert!(body.starts_with(digits.as_bytes()), "line {body:?} in a {digits} reply");
        let last = i + 1 == raw_lines.len();
        match body.get(3) {
            None | Some(b' ') => assert!(last, "a final line before the end of the reply"),
            Some(b'-') => assert!(!last, "a continuation line ends the reply"),
            Some(other) => panic!("separator {other:#x} accepted"),
        }
        assert_eq!(lines[i], body.get(4..).unwrap_or_default());
    }
    assert_eq!(reply.has_bare_lf(), bare_lf);
    let owned = reply.to_owned();
    assert_eq!(owned.code, code);
    assert_eq!(owned.lines, lines);
    assert_eq!(owned.enhanced, reply.enhanced_code());
    assert_eq!(owned.enhanced, EnhancedCode::parse_prefix(lines[0]).map(|(c, _)| c));
    if let Some(enhanced) = owned.enhanced {
        assert!(matches!(enhanced.class, 2 | 4 | 5) && enhanced.subject <= 999 && enhanced.detail <= 999);
    }
    let _ = (format!("{reply:?}"), owned.text_lossy());
    SeenReply { code: code.get(), lines: owned.lines, raw: raw.to_vec(), bare_lf }
}

/// Parses a whole byte string.
pub fn parse_all(bytes: &[u8], limits: ReplyLimits) -> Result<Vec<OwnedReply>, ReplyError> {
    let mut parser = ReplyParser::new(limits);
    parser.feed(bytes)?;
    let mut out = Vec::new();
    while let Some(reply) = parser.next_reply()? {
        out.push(reply.to_owned());
    }
    Ok(out)
}
