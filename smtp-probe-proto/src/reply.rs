//! SMTP replies and the incremental, zero-copy reply parser.
//!
//! The parser frames lines first (one `memchr` pass over each byte, never repeated) and validates each complete
//! line once, with hand-written checks: that is the hot path. Enhanced status codes (RFC 3463) are parsed with nom
//! only when asked for, off the hot path.

use std::fmt;

use memchr::memchr;

/// A three-digit SMTP reply code, validated to RFC 5321's ranges: first digit 2–5, second 0–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220` Service ready.
    pub const SERVICE_READY: ReplyCode = ReplyCode(220);
    /// `221` Service closing transmission channel.
    pub const CLOSING: ReplyCode = ReplyCode(221);
    /// `235` Authentication succeeded (RFC 4954).
    pub const AUTH_OK: ReplyCode = ReplyCode(235);
    /// `250` Requested mail action okay, completed.
    pub const OK: ReplyCode = ReplyCode(250);
    /// `334` Server challenge (RFC 4954).
    pub const AUTH_CHALLENGE: ReplyCode = ReplyCode(334);
    /// `354` Start mail input.
    pub const START_DATA: ReplyCode = ReplyCode(354);

    /// Validates a numeric code; `None` unless it is a well-formed SMTP reply code.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        let (d0, d1) = (code / 100, (code / 10) % 10);
        if d0 >= 2 && d0 <= 5 && d1 <= 5 { Some(ReplyCode(code)) } else { None }
    }

    /// The code as a number, e.g. `250`.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The reply's class, from its first digit.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// `2xx`.
    pub const fn is_positive_completion(self) -> bool {
        self.0 / 100 == 2
    }

    /// `3xx`.
    pub const fn is_positive_intermediate(self) -> bool {
        self.0 / 100 == 3
    }

    /// `4xx`: try again later.
    pub const fn is_transient(self) -> bool {
        self.0 / 100 == 4
    }

    /// `5xx`: permanent failure.
    pub const fn is_permanent(self) -> bool {
        self.0 / 100 == 5
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The class of a reply code, as RFC 5321 §4.2.1 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// `2xx`
    PositiveCompletion,
    /// `3xx`
    PositiveIntermediate,
    /// `4xx`
    TransientNegative,
    /// `5xx`
    PermanentNegative,
}

/// An enhanced mail system status code (RFC 3463), such as `5.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// The subject, 0–999.
    pub subject: u16,
    /// The detail, 0–999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Parses an enhanced code at the start of reply text (`"5.1.1 User unknown"`), returning the code and the rest
    /// of the text after the separating space. `None` when the text does not start with one.
    pub fn parse_prefix(text: &[u8]) -> Option<(EnhancedCode, &[u8])> {
        use nom::bytes::complete::{tag, take_while_m_n};
        use nom::character::complete::one_of;
        use nom::{IResult, Parser};

        fn number(input: &[u8]) -> IResult<&[u8], u16> {
            let (rest, digits) = take_while_m_n(1, 3, |b: u8| b.is_ascii_digit())(input)?;
            let value = digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
            Ok((rest, value))
        }
        let mut parser = (one_of("245"), tag(&b"."[..]), number, tag(&b"."[..]), number);
        let (rest, (class, _, subject, _, detail)) = parser.parse(text).ok()?;
        // The code must stand alone: followed by a space or the end of the line.
        let rest = match rest.split_first() {
            None => rest,
            Some((b' ', after)) => after,
            Some(_) => return None,
        };
        let class = class as u8 - b'0';
        Some((EnhancedCode { class, subject, detail }, rest))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One complete reply, borrowed from the parser's receive buffer (no copy, no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    code: ReplyCode,
    raw: &'a [u8],
    line_count: u32,
    bare_lf: bool,
}

impl<'a> Reply<'a> {
    /// The reply code shared by all lines.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The reply exactly as received, line endings included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// How many lines the reply has.
    pub fn line_count(&self) -> usize {
        self.line_count as usize
    }

    /// True when at least one line ended in a bare LF rather than CRLF (tolerated, but a deviation).
    pub fn has_bare_lf(&self) -> bool {
        self.bare_lf
    }

    /// The text of each line, after the code and separator, without the line ending. Bytes, not `str`: servers
    /// send what they like.
    pub fn lines(&self) -> Lines<'a> {
        Lines { rest: self.raw }
    }

    /// The enhanced status code at the start of the first line, when the server sent one.
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        self.lines().next().and_then(|text| EnhancedCode::parse_prefix(text)).map(|(code, _)| code)
    }

    /// Copies the reply out of the receive buffer.
    pub fn to_owned(&self) -> OwnedReply {
        OwnedReply {
            code: self.code,
            enhanced: self.enhanced_code(),
            lines: self.lines().map(<[u8]>::to_vec).collect(),
        }
    }
}

impl fmt::Debug for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("code", &self.code.0)
            .field("lines", &self.lines().map(String::from_utf8_lossy).collect::<Vec<_>>())
            .field("bare_lf", &self.bare_lf)
            .finish()
    }
}

/// Iterator over the text of a reply's lines; see [`Reply::lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = memchr(b'\n', self.rest).unwrap_or(self.rest.len());
        let line = &self.rest[..end];
        self.rest = self.rest.get(end + 1..).unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Validated by the parser: three digits, then a separator or nothing.
        Some(line.get(4..).unwrap_or(&[]))
    }
}

/// A reply copied out of the receive buffer: what reports keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedReply {
    /// The reply code.
    pub code: ReplyCode,
    /// The enhanced status code of the first line, when present.
    pub enhanced: Option<EnhancedCode>,
    /// The text of each line, as sent (bytes; see [`OwnedReply::text_lossy`] to display them).
    pub lines: Vec<Vec<u8>>,
}

impl OwnedReply {
    /// Builds a reply from a code and lines of text (for servers, tests and fuzzers).
    pub fn new(code: ReplyCode, lines: impl IntoIterator<Item = impl Into<Vec<u8>>>) -> OwnedReply {
        let lines: Vec<Vec<u8>> = lines.into_iter().map(Into::into).collect();
        let enhanced = lines.first().and_then(|l| EnhancedCode::parse_prefix(l)).map(|(c, _)| c);
        OwnedReply { code, enhanced, lines }
    }

    /// The lines joined by a space, invalid UTF-8 replaced: the server's own words, for people.
    pub fn text_lossy(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&String::from_utf8_lossy(line));
        }
        out
    }

    /// The reply in wire form: `250-first\r\n250 last\r\n`. A reply with no lines encodes as a bare code line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let code = self.code.0;
        let digits = [b'0' + (code / 100) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8];
        if self.lines.is_empty() {
            out.extend_from_slice(&digits);
            out.extend_from_slice(b"\r\n");
            return;
        }
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            out.extend_from_slice(&digits);
            out.push(if i == last { b' ' } else { b'-' });
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Bounds on what the parser will hold. No input can make it use more memory than `max_buffered` bytes of buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest line accepted, without its line ending. RFC 5321 allows 512 octets; real servers go a little over.
    pub max_line_len: usize,
    /// Most lines in one reply. Real EHLO replies have about 10–25.
    pub max_lines: usize,
    /// Most bytes buffered and not yet consumed.
    pub max_buffered: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits { max_line_len: 2048, max_lines: 128, max_buffered: 64 * 1024 }
    }
}

/// Why the byte stream is not a valid sequence of SMTP replies. Each one ends a probe as a protocol violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The stream does not start with an SMTP reply at all.
    #[error("not an SMTP reply: {preview:?}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    NotSmtp {
        /// The first bytes received, escaped.
        preview: String,
        /// What the bytes look like, when recognisable (a TLS record, HTTP, SSH, POP3, IMAP).
        hint: Option<&'static str>,
    },
    /// A line that does not start with a reply code in 200–599 (first digit 2–5, second 0–5).
    #[error("invalid reply code in line {line:?}")]
    InvalidCode {
        /// The offending line, escaped and shortened.
        line: String,
    },
    /// A code followed by something other than a space, a hyphen or the line end (`2502`).
    #[error("malformed reply line {line:?}")]
    MalformedLine {
        /// The offending line, escaped and shortened.
        line: String,
    },
    /// Lines of one multi-line reply carry different codes.
    #[error("reply codes differ within one reply: {first} then {then}")]
    MismatchedCodes {
        /// The code of the reply's first line.
        first: u16,
        /// The code that broke it.
        then: u16,
    },
    /// A line longer than [`ReplyLimits::max_line_len`].
    #[error("reply line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A reply with more lines than [`ReplyLimits::max_lines`].
    #[error("reply has more than {limit} lines")]
    TooManyLines {
        /// The limit in force.
        limit: usize,
    },
    /// More unconsumed bytes than [`ReplyLimits::max_buffered`].
    #[error("more than {limit} bytes buffered without a complete reply being consumed")]
    BufferFull {
        /// The limit in force.
        limit: usize,
    },
}

/// The incremental reply parser: feed it bytes as they arrive, in any chunks, and take complete replies out.
///
/// Each byte is scanned for a line end once; each complete line is validated once, as soon as it is complete.
/// Replies borrow from the internal buffer, which is compacted lazily on the next [`feed`](Self::feed). After an
/// error the parser is poisoned and repeats that error.
///
/// ```
/// use smtp_probe_proto::reply::ReplyParser;
///
/// let mut parser = ReplyParser::default();
/// parser.feed(b"250-mx.example.com\r\n250-PIPE").unwrap();
/// assert!(parser.next_reply().unwrap().is_none()); // incomplete: wait for more bytes
/// parser.feed(b"LINING\r\n250 SMTPUTF8\r\n").unwrap();
/// let reply = parser.next_reply().unwrap().unwrap();
/// assert_eq!(reply.code().get(), 250);
/// assert_eq!(reply.lines().collect::<Vec<_>>(), [&b"mx.example.com"[..], b"PIPELINING", b"SMTPUTF8"]);
/// ```
#[derive(Debug, Clone)]
pub struct ReplyParser {
    buf: Vec<u8>,
    limits: ReplyLimits,
    /// Start of the reply being assembled (everything before it is consumed).
    reply_start: usize,
    /// Start of the line being framed.
    line_start: usize,
    /// Everything before this has been scanned for a line end.
    scanned: usize,
    /// The code of the reply being assembled, once its first line is complete.
    code: Option<ReplyCode>,
    lines: u32,
    bare_lf: bool,
    /// Whether any line was ever completed: a first line that is not a reply means "not SMTP".
    seen_line: bool,
    error: Option<ReplyError>,
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new(ReplyLimits::default())
    }
}

impl ReplyParser {
    /// A parser with these limits.
    pub fn new(limits: ReplyLimits) -> ReplyParser {
        ReplyParser {
            buf: Vec::new(),
            limits,
            reply_start: 0,
            line_start: 0,
            scanned: 0,
            code: None,
            lines: 0,
            bare_lf: false,
            seen_line: false,
            error: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ReplyLimits {
        self.limits
    }

    /// Appends received bytes. Fails, and poisons the parser, when the unconsumed bytes would exceed
    /// [`ReplyLimits::max_buffered`]; nothing past the limit is stored.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ReplyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        self.compact();
        let needed = self.buf.len() + bytes.len();
        if needed > self.limits.max_buffered {
            return Err(self.fail(ReplyError::BufferFull { limit: self.limits.max_buffered }));
        }
        if needed > self.buf.capacity() {
            // Grow as a Vec would (doubling), but never past the cap: the cap bounds memory, not just length.
            let capacity = (self.buf.capacity() * 2).max(needed).max(256).min(self.limits.max_buffered);
            self.buf.reserve_exact(capacity - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes received but not yet part of a returned reply (a partial reply, or replies not yet taken).
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.reply_start..]
    }

    /// Memory held by the buffer, in bytes (its capacity).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Forgets everything buffered. Used when the byte stream changes underneath (the TLS hand-off).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.reply_start = 0;
        self.line_start = 0;
        self.scanned = 0;
        self.code = None;
        self.lines = 0;
        self.bare_lf = false;
    }

    /// The next complete reply, `Ok(None)` when more bytes are needed. The reply borrows the buffer until the
    /// next call to any `&mut self` method.
    pub fn next_reply(&mut self) -> Result<Option<Reply<'_>>, ReplyError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        loop {
            let Some(pos) = memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                self.check_partial_line()?;
                return Ok(None);
            };
            let line_end = self.scanned + pos;
            let next_line = line_end + 1;
            self.scanned = next_line;
            let is_last = self.complete_line(line_end)?;
            self.line_start = next_line;
            if is_last {
                let reply = Reply {
                    code: self.code.take().expect("a completed line always sets the code"),
                    raw: &self.buf[self.reply_start..next_line],
                    line_count: std::mem::take(&mut self.lines),
                    bare_lf: std::mem::take(&mut self.bare_lf),
                };
                self.reply_start = next_line;
                return Ok(Some(reply));
            }
        }
    }

    /// Validates the line `line_start..line_end` (line_end is the LF) and folds it into the current reply.
    /// Returns whether it was the reply's last line.
    fn complete_line(&mut self, line_end: usize) -> Result<bool, ReplyError> {
        let line = &self.buf[self.line_start..line_end];
        let line = match line.split_last() {
            Some((b'\r', rest)) => rest,
            _ => {
                self.bare_lf = true;
                line
            }
        };
        // The head is judged before the length, as in `check_partial_line`: however the line was cut into
        // reads, it fails the same way.
        let too_long = line.len() > self.limits.max_line_len;
        let (code, is_last) = match parse_line_head(line) {
            Ok(head) => head,
            Err(kind) => {
                let err = self.line_error(kind, line);
                return Err(self.fail(err));
            }
        };
        if too_long {
            return Err(self.fail(ReplyError::LineTooLong { limit: self.limits.max_line_len }));
        }
        self.seen_line = true;
        match self.code {
            None => self.code = Some(code),
            Some(first) if first != code => {
                return Err(self.fail(ReplyError::MismatchedCodes { first: first.0, then: code.0 }));
            }
            Some(_) => {}
        }
        self.lines += 1;
        if self.lines as usize > self.limits.max_lines {
            return Err(self.fail(ReplyError::TooManyLines { limit: self.limits.max_lines }));
        }
        Ok(is_last)
    }

    /// Rejects a partial line early when it is already too long or cannot become a reply line, so a hostile
    /// peer cannot make us wait for a line end that will never come.
    fn check_partial_line(&mut self) -> Result<(), ReplyError> {
        let partial = &self.buf[self.line_start..];
        let head = &partial[..partial.len().min(5)];
        if let Some(kind) = prefix_error(head) {
            let err = self.line_error(kind, partial);
            return Err(self.fail(err));
        }
        // The length counts only once the head is known good (past a CR after the code, which may yet end the line).
        if partial.len() > self.limits.max_line_len.saturating_add(1).max(4) {
            return Err(self.fail(ReplyError::LineTooLong { limit: self.limits.max_line_len }));
        }
        Ok(())
    }

    fn line_error(&self, kind: LineError, line: &[u8]) -> ReplyError {
        match kind {
            LineError::NotACode if !self.seen_line && self.code.is_none() => {
                ReplyError::NotSmtp { preview: escape_preview(line), hint: recognise(line) }
            }
            LineError::NotACode | LineError::CodeOutOfRange => ReplyError::InvalidCode { line: escape_preview(line) },
            LineError::BadSeparator => ReplyError::MalformedLine { line: escape_preview(line) },
        }
    }

    fn fail(&mut self, err: ReplyError) -> ReplyError {
        self.error = Some(err.clone());
        err
    }

    /// Drops consumed bytes so the buffer holds only what is still needed.
    fn compact(&mut self) {
        if self.reply_start == 0 {
            return;
        }
        if self.reply_start == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.reply_start);
        }
        self.line_start -= self.reply_start;
        self.scanned -= self.reply_start;
        self.reply_start = 0;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineError {
    NotACode,
    CodeOutOfRange,
    BadSeparator,
}

/// The hot path: three digits in range, then a space, a hyphen or nothing.
#[inline]
fn parse_line_head(line: &[u8]) -> Result<(ReplyCode, bool), LineError> {
    let [d0, d1, d2, rest @ ..] = line else {
        return Err(LineError::NotACode);
    };
    if !(d0.is_ascii_digit() && d1.is_ascii_digit() && d2.is_ascii_digit()) {
        return Err(LineError::NotACode);
    }
    let code = u16::from(d0 - b'0') * 100 + u16::from(d1 - b'0') * 10 + u16::from(d2 - b'0');
    let code = ReplyCode::new(code).ok_or(LineError::CodeOutOfRange)?;
    match rest.first() {
        None | Some(b' ') => Ok((code, true)),
        Some(b'-') => Ok((code, false)),
        Some(_) => Err(LineError::BadSeparator),
    }
}

/// What is wrong with the first bytes (up to five) of a line, if anything is already certain. Checked in the
/// order of `parse_line_head` (three digits, then their range, then the separator), so a cut line fails as the
/// whole line would: `0` then `\0` is not a code at all (not SMTP), not an out-of-range one.
fn prefix_error(head: &[u8]) -> Option<LineError> {
    if head.iter().take(3).any(|b| !b.is_ascii_digit()) {
        return Some(LineError::NotACode);
    }
    match head {
        [d0, d1, _, ..] if !(b'2'..=b'5').contains(d0) || !(b'0'..=b'5').contains(d1) => {
            Some(LineError::CodeOutOfRange)
        }
        // A CR after the code is the line ending only if LF comes next.
        [_, _, _, b'\r', _, ..] => Some(LineError::BadSeparator),
        [_, _, _, sep, ..] if !matches!(sep, b' ' | b'-' | b'\r') => Some(LineError::BadSeparator),
        _ => None,
    }
}

/// Names what a non-SMTP byte stream looks like, so a report can say more than "garbage".
fn recognise(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x16, 0x03, ..] => Some("a TLS handshake record: is this an implicit-TLS port?"),
        [0x15, 0x03, ..] => Some("a TLS alert record: is this an implicit-TLS port?"),
        [b'H', b'T', b'T', b'P', b'/', ..] => Some("an HTTP response"),
        [b'S', b'S', b'H', b'-', ..] => Some("an SSH banner"),
        [b'+', b'O', b'K', ..] => Some("a POP3 greeting"),
        [b'*', b' ', b'O', b'K', ..] => Some("an IMAP greeting"),
        _ => None,
    }
}

/// At most 64 bytes, escaped, for error messages.
fn escape_preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(64)];
    let mut out = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<OwnedReply>, ReplyError> {
        let mut parser = ReplyParser::new(ReplyLimits { max_buffered: 1 << 20, ..ReplyLimits::default() });
        parser.feed(input)?;
        let mut out = Vec::new();
        while let Some(reply) = parser.next_reply()? {
            out.push(reply.to_owned());
        }
        Ok(out)
    }

    fn texts(reply: &OwnedReply) -> Vec<&str> {
        reply.lines.iter().map(|l| std::str::from_utf8(l).unwrap()).collect()
    }

    #[test]
    fn code_ranges() {
        assert!(ReplyCode::new(200).is_some());
        assert!(ReplyCode::new(559).is_some());
        assert!(ReplyCode::new(599).is_none(), "second digit 9");
        assert!(ReplyCode::new(199).is_none());
        assert!(ReplyCode::new(600).is_none());
        assert_eq!(ReplyCode::new(421).unwrap().class(), ReplyClass::TransientNegative);
    }

    #[test]
    fn multi_line_reply_ends_at_space_line() {
        let replies = parse_all(b"250-a\r\n250-b\r\n250 c\r\n221 bye\r\n").unwrap();
        assert_eq!(replies.len(), 2);
        assert_eq!(texts(&replies[0]), ["a", "b", "c"]);
        assert_eq!(replies[1].code.get(), 221);
    }

    #[test]
    fn bare_code_line_ends_a_reply() {
        let replies = parse_all(b"250-first\r\n250\r\n").unwrap();
        assert_eq!(texts(&replies[0]), ["first", ""]);
    }

    #[test]
    fn four_digits_is_not_a_code_and_separator() {
        assert!(matches!(parse_all(b"2502 x\r\n"), Err(ReplyError::MalformedLine { .. })));
    }

    #[test]
    fn mixed_codes_are_rejected() {
        assert_eq!(parse_all(b"250-a\r\n354 b\r\n"), Err(ReplyError::MismatchedCodes { first: 250, then: 354 }));
    }

    #[test]
    fn out_of_range_codes_are_rejected() {
        assert!(matches!(parse_all(b"220 ok\r\n199 x\r\n"), Err(ReplyError::InvalidCode { .. })));
        assert!(matches!(parse_all(b"220 ok\r\n260 x\r\n"), Err(ReplyError::InvalidCode { .. })));
        assert!(matches!(parse_all(b"220 ok\r\n650 x\r\n"), Err(ReplyError::InvalidCode { .. })));
    }

    #[test]
    fn bare_lf_is_tolerated_and_flagged() {
        let mut parser = ReplyParser::default();
        parser.feed(b"220 hi\n250 ok\r\n").unwrap();
        assert!(parser.next_reply().unwrap().unwrap().has_bare_lf());
        assert!(!parser.next_reply().unwrap().unwrap().has_bare_lf());
    }

    #[test]
    fn non_utf8_text_is_kept_as_bytes() {
        let replies = parse_all(b"220 caf\xe9\r\n").unwrap();
        assert_eq!(replies[0].lines[0], b"caf\xe9");
        assert_eq!(replies[0].text_lossy(), "caf\u{fffd}");
    }

    #[test]
    fn enhanced_codes_when_present_only() {
        let replies = parse_all(b"550 5.1.1 <x@y>: unknown\r\n250 Ok\r\n250 2.0 x\r\n451 4.7.1\r\n").unwrap();
        assert_eq!(replies[0].enhanced, Some(EnhancedCode { class: 5, subject: 1, detail: 1 }));
        assert_eq!(replies[1].enhanced, None);
        assert_eq!(replies[2].enhanced, None);
        assert_eq!(replies[3].enhanced.unwrap().to_string(), "4.7.1");
        assert_eq!(EnhancedCode::parse_prefix(b"5.1.1000 x"), None);
    }

    #[test]
    fn tls_record_is_not_smtp_with_a_hint_before_any_line_end() {
        let mut parser = ReplyParser::default();
        parser.feed(&[0x16, 0x03, 0x03, 0x00, 0x7a]).unwrap();
        match parser.next_reply() {
            Err(ReplyError::NotSmtp { hint: Some(hint), .. }) => assert!(hint.contains("implicit-TLS")),
            other => panic!("{other:?}"),
        }
        // Poisoned: the error repeats.
        assert!(matches!(parser.next_reply(), Err(ReplyError::NotSmtp { .. })));
    }

    #[test]
    fn garbage_later_in_the_stream_is_invalid_not_not_smtp() {
        assert!(matches!(parse_all(b"220 hi\r\nhello\r\n"), Err(ReplyError::InvalidCode { .. })));
    }

    #[test]
    fn endless_line_without_line_end_is_bounded() {
        let mut parser = ReplyParser::default();
        let chunk = [b'a'; 1000];
        parser.feed(b"220 ").unwrap();
        let mut result = Ok(None);
        for _ in 0..10 {
            if parser.feed(&chunk).is_err() {
                break;
            }
            result = parser.next_reply().map(|r| r.map(|r| r.to_owned()));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ReplyError::LineTooLong { limit: 2048 }));
        assert!(parser.buffer_capacity() <= 8 * 1024);
    }

    #[test]
    fn endless_continuation_lines_are_bounded() {
        let mut parser = ReplyParser::default();
        let mut outcome = None;
        for _ in 0..10_000 {
            if let Err(e) = parser.feed(b"250-more\r\n").and_then(|()| parser.next_reply().map(|_| ())) {
                outcome = Some(e);
                break;
            }
        }
        assert_eq!(outcome, Some(ReplyError::TooManyLines { limit: 128 }));
    }

    #[test]
    fn buffer_limit_is_enforced_on_feed() {
        let mut parser = ReplyParser::new(ReplyLimits { max_buffered: 16, ..ReplyLimits::default() });
        parser.feed(b"250 ok\r\n").unwrap();
        assert_eq!(parser.feed(&[b'2'; 20]), Err(ReplyError::BufferFull { limit: 16 }));
        assert!(parser.buffered().len() <= 16);
    }

    #[test]
    fn consumed_replies_free_their_space() {
        let mut parser = ReplyParser::new(ReplyLimits { max_buffered: 32, ..ReplyLimits::default() });
        for _ in 0..100 {
            parser.feed(b"250 ok\r\n250-a\r\n").unwrap();
            assert!(parser.next_reply().unwrap().is_some());
            parser.feed(b"250 b\r\n").unwrap();
            assert_eq!(parser.next_reply().unwrap().unwrap().line_count(), 2);
        }
    }

    #[test]
    fn encode_then_parse_is_identity() {
        let reply = OwnedReply::new(ReplyCode::new(250).unwrap(), ["mx", "SIZE 100", "8BITMIME"]);
        let mut wire = Vec::new();
        reply.encode(&mut wire);
        assert_eq!(wire, b"250-mx\r\n250-SIZE 100\r\n250 8BITMIME\r\n");
        assert_eq!(parse_all(&wire).unwrap(), vec![reply]);
    }
}
