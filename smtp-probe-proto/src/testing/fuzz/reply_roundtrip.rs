//! Target `reply_roundtrip`: replies encoded and parsed back, and every parsed reply re-encoded.

use super::input::Input;
use super::reply_parser::parse_all;
use crate::reply::{OwnedReply, ReplyCode, ReplyError, ReplyLimits, ReplyParser};

/// Target `reply_roundtrip`. Input: `[code lo, code hi, flags, text...]`, and the whole input again as a raw
/// stream.
///
/// 1. Builds a reply from `code % 1000` and the text split at LF, CR removed (no lines at all when `flags` is
///    odd): a valid code must encode and parse back to the same reply (a reply with no lines comes back as one
///    empty line, as documented), also with limits exactly at its size, and must be refused with limits one
///    below; an invalid three-digit code must be refused as `InvalidCode`.
/// 2. Parses the whole input: every reply, copied out and encoded again, parses back to the same reply, and
///    encoding is then a fixed point.
pub fn check(data: &[u8]) {
    let mut input = Input(data);
    let number = input.u16() % 1000;
    let flags = input.byte();
    let text = input.rest();
    let lines: Vec<Vec<u8>> = if flags & 1 == 1 {
        Vec::new()
    } else {
        text.split(|&b| b == b'\n').map(|line| line.iter().copied().filter(|&b| b != b'\r').collect()).collect()
    };
    match ReplyCode::new(number) {
        Some(code) => roundtrip(code, lines),
        None => {
            let wire = format!("{number:03} text\r\n");
            let err = parse_all(wire.as_bytes(), ReplyLimits::default()).expect_err("an invalid code was accepted");
            assert!(matches!(err, ReplyError::InvalidCode { .. }), "{number:03}: {err:?}");
        }
    }
    reencode_stream(data);
}

fn roundtrip(code: ReplyCode, lines: Vec<Vec<u8>>) {
    let reply = OwnedReply::new(code, lines.clone());
    assert_eq!((reply.code, &reply.lines), (code, &lines));
    let mut wire = Vec::new();
    reply.encode(&mut wire);
    let expected = if lines.is_empty() { OwnedReply::new(code, [Vec::<u8>::new()]) } else { reply.clone() };
    let count = expected.lines.len();
    let longest = wire.split_inclusive(|&b| b == b'\n').map(|l| l.len() - 2).max().expect("at least one line");
    let exact = ReplyLimits { max_line_len: longest, max_lines: count, max_buffered: wire.len() };
    assert_eq!(parse_all(&wire, exact), Ok(vec![expected.clone()]), "wire {:?}", wire.escape_ascii().to_string());
    let _ = reply.text_lossy();

    let shorter = ReplyLimits { max_line_len: longest - 1, ..exact };
    assert_eq!(parse_all(&wire, shorter), Err(ReplyError::LineTooLong { limit: longest - 1 }));
    let fewer = ReplyLimits { max_lines: count - 1, ..exact };
    assert_eq!(parse_all(&wire, fewer), Err(ReplyError::TooManyLines { limit: count - 1 }));
    let smaller = ReplyLimits { max_buffered: wire.len() - 1, ..exact };
    assert_eq!(parse_all(&wire, smaller), Err(ReplyError::BufferFull { limit: wire.len() - 1 }));
}

fn reencode_stream(data: &[u8]) {
    let roomy = ReplyLimits { max_line_len: usize::MAX, max_lines: usize::MAX, max_buffered: usize::MAX };
    let mut parser = ReplyParser::new(ReplyLimits { max_buffered: usize::MAX, ..ReplyLimits::default() });
    parser.feed(data).expect("no buffer limit");
    while let Ok(Some(reply)) = parser.next_reply() {
        let owned = reply.to_owned();
        let mut wire = Vec::new();
        owned.encode(&mut wire);
        let again = parse_all(&wire, roomy);
        assert_eq!(again, Ok(vec![owned.clone()]), "re-encoded as {:?}", wire.escape_ascii().to_string());
        let mut wire_again = Vec::new();
        again.expect("checked")[0].encode(&mut wire_again);
        assert_eq!(wire_again, wire, "encoding is not a fixed point");
    }
}
