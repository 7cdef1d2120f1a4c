//! Target `imap_parser`: the IMAP response parser fed in pieces, against a one-piece parse of the same bytes; the
//! same bytes read as a header block for the round-trip report.

use crate::imap::{Response, ResponseError, ResponseLimits, ResponseParser, Untagged};
use crate::roundtrip;

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

/// Input: `[chunk, limits, stream...]`; `chunk` 0 feeds the stream whole, else in pieces of
/// that many bytes (draining after each).
///
/// Checks that the parser never panics and never holds more than `max_buffered` bytes; that each framed response
/// is exactly the bytes fed for it, in order; that no more than `max_untagged` untagged responses come between two
/// tagged ones; that an error poisons it; and that the pieces do not matter: the responses are those of a one-piece
/// parse (a prefix of them when the buffer limit ended the run), with the same error. The stream is also read as a
/// header block for the round-trip report (hops and Authentication-Results), which must stay bounded.
pub fn check(data: &[u8]) -> ImapParserRun {
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
