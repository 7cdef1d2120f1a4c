//! IMAP4rev1 server responses and the incremental, bounded response parser (RFC 3501 §7, §9).
//!
//! Framing comes first, as for SMTP replies: each byte is scanned for a line end once, and a line that ends in a
//! literal announcement (`{n}` or `{n+}`) is continued after `n` raw bytes, which are skipped without being
//! scanned. Every limit is checked as the bytes arrive: a line that grows past its cap, a literal announced larger
//! than allowed, too many bytes buffered, or too many untagged responses for one command fail at once, not when a
//! line end finally comes. A complete response is then parsed once, borrowing from the buffer.
//!
//! Only the subset a mailbox check needs is typed (status responses, CAPABILITY, EXISTS/RECENT/EXPUNGE, SEARCH,
//! FETCH with UID, INTERNALDATE, RFC822.SIZE, FLAGS and body sections); any other well-formed untagged response
//! is kept as [`Untagged::Other`].

use std::fmt;

use memchr::memchr;

/// Bounds on what the parser holds. No input can make it buffer more than `max_buffered` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseLimits {
    /// Longest line, literals excluded, without its line ending.
    pub max_line_len: usize,
    /// Largest literal a response may announce (a message's header block arrives as one).
    pub max_literal: usize,
    /// Most bytes buffered and not yet consumed.
    pub max_buffered: usize,
    /// Most untagged responses before a tagged one ends the command (a flood of `* n EXISTS` is bounded too).
    pub max_untagged: usize,
}

impl Default for ResponseLimits {
    fn default() -> Self {
        ResponseLimits { max_line_len: 8 * 1024, max_literal: 256 * 1024, max_buffered: 320 * 1024, max_untagged: 1000 }
    }
}

/// Why the byte stream is not a valid sequence of IMAP responses. Each one ends a mailbox check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The very first line is not an IMAP response at all.
    #[error("not an IMAP response: {preview:?}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    NotImap {
        /// The first bytes received, escaped.
        preview: String,
        /// What the bytes look like, when recognisable.
        hint: Option<&'static str>,
    },
    /// A complete response that does not follow the grammar.
    #[error("malformed IMAP response {line:?}: {why}")]
    Malformed {
        /// The response's first line, escaped and shortened.
        line: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A line (literals excluded) longer than [`ResponseLimits::max_line_len`].
    #[error("response line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A literal announced larger than [`ResponseLimits::max_literal`].
    #[error("literal of {size} bytes announced, more than the {limit} allowed")]
    LiteralTooLarge {
        /// The size announced (saturated at `u64::MAX`).
        size: u64,
        /// The limit in force.
        limit: usize,
    },
    /// More unconsumed bytes than [`ResponseLimits::max_buffered`].
    #[error("more than {limit} bytes buffered without a complete response being consumed")]
    BufferFull {
        /// The limit in force.
        limit: usize,
    },
    /// More untagged responses than [`ResponseLimits::max_untagged`] without a tagged one.
    #[error("more than {limit} untagged responses for one command")]
    TooManyUntagged {
        /// The limit in force.
        limit: usize,
    },
}

/// The status word of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Success.
    Ok,
    /// Failure (the command was understood).
    No,
    /// Protocol error (the command was not understood).
    Bad,
    /// Greeting only: already authenticated.
    PreAuth,
    /// Untagged only: the server is closing the connection.
    Bye,
}

impl Status {
    /// `"OK"`, `"NO"`, `"BAD"`, `"PREAUTH"` or `"BYE"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A response code in square brackets (RFC 3501 §7.1, RFC 5530): the machine-readable part of a status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Code<'a> {
    /// `[ALERT]`: text the server wants a person to read.
    Alert,
    /// `[CAPABILITY …]`: the capabilities, saving a CAPABILITY command.
    Capability(Atoms<'a>),
    /// `[UIDVALIDITY n]`.
    UidValidity(u32),
    /// `[UIDNEXT n]`.
    UidNext(u32),
    /// `[READ-ONLY]`.
    ReadOnly,
    /// `[READ-WRITE]`.
    ReadWrite,
    /// `[AUTHENTICATIONFAILED]`: wrong credentials (RFC 5530).
    AuthenticationFailed,
    /// `[AUTHORIZATIONFAILED]`: right credentials, but not allowed.
    AuthorizationFailed,
    /// `[UNAVAILABLE]`: temporary failure, try later.
    Unavailable,
    /// `[NONEXISTENT]`: no such mailbox.
    NonExistent,
    /// Any other code: its name and the raw arguments.
    Other {
        /// The code's name, e.g. `PERMANENTFLAGS`.
        name: &'a [u8],
        /// What followed the name inside the brackets.
        args: &'a [u8],
    },
}

/// Space-separated atoms (capability names), borrowed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Atoms<'a>(&'a [u8]);

impl<'a> Atoms<'a> {
    /// The atoms, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0.split(|b| *b == b' ').filter(|a| !a.is_empty())
    }
}

impl fmt::Debug for Atoms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|a| a.escape_ascii().to_string())).finish()
    }
}

/// A status response's text part: an optional code, then free text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a> {
    /// The response code, when present.
    pub code: Option<Code<'a>>,
    /// The human-readable text (bytes: servers send what they like).
    pub text: &'a [u8],
}

/// One attribute of a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchItem<'a> {
    /// `UID n`.
    Uid(u32),
    /// `INTERNALDATE "17-Jul-1996 02:44:25 -0700"` (the quoted date, unparsed).
    InternalDate(&'a [u8]),
    /// `RFC822.SIZE n`.
    Size(u32),
    /// `FLAGS (…)`: the flags, raw, without the parentheses.
    Flags(&'a [u8]),
    /// `BODY[section]<origin> data`: the section spec without brackets, and its data (`None` for NIL).
    Body {
        /// The section, e.g. `HEADER`.
        section: &'a [u8],
        /// The data.
        data: Option<&'a [u8]>,
    },
    /// Anything else: the attribute name (its value is skipped).
    Other(&'a [u8]),
}

/// An untagged response (`* …`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Untagged<'a> {
    /// `* OK|NO|BAD|PREAUTH|BYE [code] text`.
    Status {
        /// The status word.
        status: Status,
        /// Code and text.
        text: Text<'a>,
    },
    /// `* CAPABILITY …`.
    Capability(Atoms<'a>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT`.
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* SEARCH n…`: the numbers found (UIDs, for UID SEARCH).
    Search(Vec<u32>),
    /// `* n FETCH (…)`.
    Fetch {
        /// The message sequence number.
        seq: u32,
        /// The attributes, in the order sent.
        items: Vec<FetchItem<'a>>,
    },
    /// Any other well-formed untagged response (FLAGS, LIST, STATUS, ENABLED, …): its keyword and the whole line.
    Other {
        /// The keyword (after a number, if the response starts with one).
        name: &'a [u8],
        /// The response without the leading `* `.
        raw: &'a [u8],
    },
}

/// One complete server response, borrowed from the parser's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response<'a> {
    /// The end of a command: `tag OK|NO|BAD [code] text`.
    Tagged {
        /// The tag, as the client sent it.
        tag: &'a [u8],
        /// OK, NO or BAD.
        status: Status,
        /// Code and text.
        text: Text<'a>,
    },
    /// Data or status the server volunteers (`* …`).
    Untagged(Untagged<'a>),
    /// `+ text`: the server waits for more from the client (an AUTHENTICATE challenge).
    Continuation(&'a [u8]),
}

/// The incremental response parser: feed it bytes in any chunks, take complete responses out.
///
/// ```
/// use smtp_probe_proto::imap::{ResponseParser, Response, Untagged, FetchItem};
///
/// let mut parser = ResponseParser::default();
/// parser.feed(b"* 3 FETCH (UID 7 BODY[HEADER] {13}\r\nSubject: hi\r\n").unwrap();
/// assert!(parser.next_response().unwrap().is_none()); // the line after the literal is still missing
/// parser.feed(b")\r\na3 OK done\r\n").unwrap();
/// let Some(Response::Untagged(Untagged::Fetch { seq, items })) = parser.next_response().unwrap() else { panic!() };
/// assert_eq!((seq, &items[0]), (3, &FetchItem::Uid(7)));
/// assert_eq!(items[1], FetchItem::Body { section: b"HEADER", data: Some(b"Subject: hi\r\n") });
/// assert!(matches!(parser.next_response().unwrap(), Some(Response::Tagged { tag: b"a3", .. })));
/// ```
#[derive(Debug, Clone)]
pub struct ResponseParser {
    buf: Vec<u8>,
    limits: ResponseLimits,
    /// Start of the response being framed (everything before it is consumed).
    start: usize,
    /// Start of the current line segment (after the last literal).
    line_start: usize,
    /// Everything before this has been framed.
    scanned: usize,
    /// Raw literal bytes still to come before the line continues.
    literal_left: usize,
    /// Untagged responses since the last tagged one.
    untagged: usize,
    /// Whether a complete response was ever framed: a first line that is not IMAP means "not IMAP".
    seen: bool,
    error: Option<ResponseError>,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new(ResponseLimits::default())
    }
}

impl ResponseParser {
    /// A parser with these limits.
    pub fn new(limits: ResponseLimits) -> ResponseParser {
        ResponseParser {
            buf: Vec::new(),
            limits,
            start: 0,
            line_start: 0,
            scanned: 0,
            literal_left: 0,
            untagged: 0,
            seen: false,
            error: None,
        }
    }

    /// Appends received bytes. Fails, and poisons the parser, when the unconsumed bytes would exceed
    /// [`ResponseLimits::max_buffered`]; nothing past the limit is stored.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ResponseError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        self.compact();
        let needed = self.buf.len() + bytes.len();
        if needed > self.limits.max_buffered {
            return Err(self.fail(ResponseError::BufferFull { limit: self.limits.max_buffered }));
        }
        if needed > self.buf.capacity() {
            let capacity = (self.buf.capacity() * 2).max(needed).max(256).min(self.limits.max_buffered);
            self.buf.reserve_exact(capacity - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Bytes received but not yet part of a returned response.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Memory held by the buffer, in bytes.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Forgets everything buffered (the TLS hand-off: the byte stream changes underneath).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.line_start = 0;
        self.scanned = 0;
        self.literal_left = 0;
        self.untagged = 0;
    }

    /// The next complete response, `Ok(None)` when more bytes are needed. It borrows the buffer until the next
    /// call to any `&mut self` method. After an error the parser is poisoned and repeats it.
    pub fn next_response(&mut self) -> Result<Option<Response<'_>>, ResponseError> {
        Ok(self.next_framed()?.map(|(response, _)| response))
    }

    /// As [`next_response`](Self::next_response), with the response's bytes as received (literals included).
    pub fn next_framed(&mut self) -> Result<Option<(Response<'_>, &[u8])>, ResponseError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        let end = match self.frame() {
            Ok(Some(end)) => end,
            Ok(None) => return Ok(None),
            Err(err) => return Err(self.fail(err)),
        };
        let start = std::mem::replace(&mut self.start, end);
        self.line_start = end;
        let first = !std::mem::replace(&mut self.seen, true);
        let parsed = parse(&self.buf[start..end]);
        let response = match parsed {
            Ok(response) => response,
            Err(why) => {
                let line = first_line(&self.buf[start..end]);
                let err = match first {
                    true => ResponseError::NotImap { preview: escape_preview(line), hint: recognise(line) },
                    false => ResponseError::Malformed { line: escape_preview(line), why },
                };
                self.error = Some(err.clone());
                return Err(err);
            }
        };
        match response {
            Response::Untagged(_) => {
                self.untagged += 1;
                if self.untagged > self.limits.max_untagged {
                    let err = ResponseError::TooManyUntagged { limit: self.limits.max_untagged };
                    self.error = Some(err.clone());
                    return Err(err);
                }
            }
            _ => self.untagged = 0,
        }
        Ok(Some((response, &self.buf[start..end])))
    }

    /// Frames the next complete response; returns its end offset.
    fn frame(&mut self) -> Result<Option<usize>, ResponseError> {
        loop {
            // Judged before any length or literal, as the bytes arrive: however the first line was cut into reads,
            // it fails the same way.
            if !self.seen && self.line_start == self.start && self.literal_left == 0 {
                self.check_first_bytes()?;
            }
            if self.literal_left > 0 {
                let take = self.literal_left.min(self.buf.len() - self.scanned);
                self.scanned += take;
                self.literal_left -= take;
                if self.literal_left > 0 {
                    return Ok(None);
                }
                self.line_start = self.scanned;
            }
            let Some(pos) = memchr(b'\n', &self.buf[self.scanned..]) else {
                self.scanned = self.buf.len();
                // A line end may still come: allow for its CR.
                if self.buf.len() - self.line_start > self.limits.max_line_len + 1 {
                    return Err(ResponseError::LineTooLong { limit: self.limits.max_line_len });
                }
                return Ok(None);
            };
            let lf = self.scanned + pos;
            self.scanned = lf + 1;
            let line = &self.buf[self.line_start..lf];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.limits.max_line_len {
                return Err(ResponseError::LineTooLong { limit: self.limits.max_line_len });
            }
            match literal_announcement(line) {
                Some(size) if size > self.limits.max_literal as u64 => {
                    return Err(ResponseError::LiteralTooLarge { size, limit: self.limits.max_literal });
                }
                Some(size) => self.literal_left = size as usize,
                None => return Ok(Some(self.scanned)),
            }
            if self.literal_left == 0 {
                self.line_start = self.scanned;
            }
        }
    }

    /// Rejects a stream that cannot be IMAP from its first bytes (a TLS record, an SMTP greeting), so a wrong
    /// port fails at once instead of at the deadline.
    fn check_first_bytes(&self) -> Result<(), ResponseError> {
        // A server speaks first, and untagged: the greeting is `* OK`, `* PREAUTH` or `* BYE`.
        let head = &self.buf[self.start..];
        let imap_like = matches!(head, [] | [b'*'] | [b'*', b' ', ..]);
        if imap_like {
            return Ok(());
        }
        let line = first_line(head);
        Err(ResponseError::NotImap { preview: escape_preview(line), hint: recognise(line) })
    }

    fn fail(&mut self, err: ResponseError) -> ResponseError {
        self.error = Some(err.clone());
        err
    }

    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.line_start -= self.start;
        self.scanned -= self.start;
        self.start = 0;
    }
}

/// The size a line announces as a literal (`… {123}` or `… {123+}`), if it does.
fn literal_announcement(line: &[u8]) -> Option<u64> {
    let inner = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', inner)?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Saturates: an absurd size fails the literal limit instead of wrapping.
    Some(digits.iter().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

fn is_tag_char(b: u8) -> bool {
    // ASTRING-CHAR minus '+' (RFC 3501 §9).
    b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+')
}

fn is_atom_char(b: u8) -> bool {
    b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

fn first_line(bytes: &[u8]) -> &[u8] {
    let line = &bytes[..memchr(b'\n', bytes).unwrap_or(bytes.len())];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Names what a non-IMAP byte stream looks like.
fn recognise(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x16, 0x03, ..] => Some("a TLS handshake record: is this an implicit-TLS (IMAPS) port?"),
        [0x15, 0x03, ..] => Some("a TLS alert record: is this an implicit-TLS (IMAPS) port?"),
        [b'2', b'2', b'0', b' ' | b'-', ..] => Some("an SMTP greeting"),
        [b'+', b'O', b'K', ..] => Some("a POP3 greeting"),
        [b'H', b'T', b'T', b'P', b'/', ..] => Some("an HTTP response"),
        [b'S', b'S', b'H', b'-', ..] => Some("an SSH banner"),
        _ => None,
    }
}

/// At most 64 bytes, escaped, for error messages.
pub(crate) fn escape_preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(64)];
    let mut out = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        out.push('…');
    }
    out
}

// ---- the grammar, over one framed response --------------------------------------------------------------------

type Parsed<T> = Result<T, &'static str>;

/// A cursor over one complete response (literals included, already framed).
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    fn space(&mut self) -> Parsed<()> {
        if self.eat(b' ') { Ok(()) } else { Err("a space was expected") }
    }

    /// The rest of the current line, without its line ending; the cursor moves past it.
    fn rest_of_line(&mut self) -> &'a [u8] {
        let rest = &self.bytes[self.at..];
        let end = memchr(b'\n', rest).unwrap_or(rest.len());
        self.at += (end + 1).min(rest.len());
        let line = &rest[..end];
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.at;
        while self.peek().is_some_and(&keep) {
            self.at += 1;
        }
        &self.bytes[start..self.at]
    }

    fn atom(&mut self) -> Parsed<&'a [u8]> {
        let atom = self.take_while(is_atom_char);
        if atom.is_empty() { Err("an atom was expected") } else { Ok(atom) }
    }

    fn number(&mut self) -> Parsed<u32> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() || digits.len() > 10 {
            return Err("a number was expected");
        }
        let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        u32::try_from(n).map_err(|_| "a number out of range")
    }

    fn end_of_line(&mut self) -> Parsed<()> {
        let _ = self.eat(b'\r');
        if self.eat(b'\n') || self.at == self.bytes.len() { Ok(()) } else { Err("junk at the end of the line") }
    }

    /// A quoted string, without its quotes (escapes left in place: the probe only compares and displays these).
    fn quoted(&mut self) -> Parsed<&'a [u8]> {
        if !self.eat(b'"') {
            return Err("a quoted string was expected");
        }
        let start = self.at;
        loop {
            match self.peek() {
                Some(b'"') => {
                    let s = &self.bytes[start..self.at];
                    self.at += 1;
                    return Ok(s);
                }
                Some(b'\\') => self.at += 2,
                Some(b'\r' | b'\n') | None => return Err("an unterminated quoted string"),
                Some(_) => self.at += 1,
            }
        }
    }

    /// `{n}` or `{n+}`, CRLF, then n bytes (framing guarantees they are there).
    fn literal(&mut self) -> Parsed<&'a [u8]> {
        if !self.eat(b'{') {
            return Err("a literal was expected");
        }
        let size = self.take_while(|b| b.is_ascii_digit());
        let _ = self.eat(b'+');
        if size.is_empty() || !self.eat(b'}') {
            return Err("a malformed literal announcement");
        }
        let _ = self.eat(b'\r');
        if !self.eat(b'\n') {
            return Err("a literal announcement not at the end of a line");
        }
        let size = size.iter().fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0')));
        let end = self.at.checked_add(size).filter(|end| *end <= self.bytes.len()).ok_or("a truncated literal")?;
        let data = &self.bytes[self.at..end];
        self.at = end;
        Ok(data)
    }

    /// `NIL`, a quoted string or a literal.
    fn nstring(&mut self) -> Parsed<Option<&'a [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted().map(Some),
            Some(b'{') => self.literal().map(Some),
            _ if self.bytes[self.at..].get(..3).is_some_and(|w| w.eq_ignore_ascii_case(b"NIL")) => {
                self.at += 3;
                Ok(None)
            }
            _ => Err("a string or NIL was expected"),
        }
    }

    /// Skips one value of any shape (atom, number, string, literal, NIL, nested list), at most 16 lists deep.
    fn skip_value(&mut self, depth: u8) -> Parsed<()> {
        match self.peek() {
            Some(b'(') if depth < 16 => {
                self.at += 1;
                loop {
                    match self.peek() {
                        Some(b')') => {
                            self.at += 1;
                            return Ok(());
                        }
                        Some(b' ') => self.at += 1,
                        Some(_) => self.skip_value(depth + 1)?,
                        None => return Err("an unclosed list"),
                    }
                }
            }
            Some(b'(') => Err("lists nested too deeply"),
            Some(b'"') => self.quoted().map(drop),
            Some(b'{') => self.literal().map(drop),
            Some(b) if is_atom_char(b) || b == b'\\' => {
                // Atoms here may carry a section: BODY[HEADER.FIELDS (A B)]<0>.
                self.at += 1;
                self.skip_atom_with_section()
            }
            _ => Err("a value was expected"),
        }
    }

    /// The rest of an atom that may carry `[section]` and `<origin>`.
    fn skip_atom_with_section(&mut self) -> Parsed<()> {
        loop {
            match self.peek() {
                Some(b'[') => {
                    let rest = &self.bytes[self.at..];
                    let close = rest.iter().position(|b| matches!(b, b']' | b'\n')).ok_or("an unclosed section")?;
                    if rest[close] != b']' {
                        return Err("an unclosed section");
                    }
                    self.at += close + 1;
                }
                Some(b) if is_atom_char(b) || b == b'\\' => self.at += 1,
                _ => return Ok(()),
            }
        }
    }
}

fn parse(bytes: &[u8]) -> Parsed<Response<'_>> {
    let mut c = Cursor { bytes, at: 0 };
    match c.peek() {
        Some(b'+') => {
            c.at += 1;
            let _ = c.eat(b' ');
            let text = c.rest_of_line();
            Ok(Response::Continuation(text))
        }
        Some(b'*') => {
            c.at += 1;
            c.space()?;
            untagged(&mut c).map(Response::Untagged)
        }
        _ => {
            let tag = c.take_while(is_tag_char);
            if tag.is_empty() {
                return Err("no tag");
            }
            c.space()?;
            let status = match c.atom()?.to_ascii_uppercase().as_slice() {
                b"OK" => Status::Ok,
                b"NO" => Status::No,
                b"BAD" => Status::Bad,
                _ => return Err("a tagged response must be OK, NO or BAD"),
            };
            let text = resp_text(&mut c)?;
            Ok(Response::Tagged { tag, status, text })
        }
    }
}

fn untagged<'a>(c: &mut Cursor<'a>) -> Parsed<Untagged<'a>> {
    let raw_start = c.at;
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let n = c.number()?;
        c.space()?;
        let name = c.atom()?;
        let upper = name.to_ascii_uppercase();
        return match upper.as_slice() {
            b"EXISTS" => c.end_of_line().map(|()| Untagged::Exists(n)),
            b"RECENT" => c.end_of_line().map(|()| Untagged::Recent(n)),
            b"EXPUNGE" => c.end_of_line().map(|()| Untagged::Expunge(n)),
            b"FETCH" => {
                c.space()?;
                fetch(c).map(|items| Untagged::Fetch { seq: n, items })
            }
            _ => other(c, name, raw_start),
        };
    }
    let name = c.atom()?;
    let upper = name.to_ascii_uppercase();
    let status = match upper.as_slice() {
        b"OK" => Some(Status::Ok),
        b"NO" => Some(Status::No),
        b"BAD" => Some(Status::Bad),
        b"PREAUTH" => Some(Status::PreAuth),
        b"BYE" => Some(Status::Bye),
        _ => None,
    };
    if let Some(status) = status {
        return resp_text(c).map(|text| Untagged::Status { status, text });
    }
    match upper.as_slice() {
        b"CAPABILITY" => {
            let _ = c.eat(b' ');
            Ok(Untagged::Capability(Atoms(c.rest_of_line())))
        }
        b"SEARCH" => {
            let mut found = Vec::new();
            while c.eat(b' ') {
                match c.peek() {
                    // RFC 7162: `(MODSEQ n)` may close the list.
                    Some(b'(') => c.skip_value(0)?,
                    Some(b'\r' | b'\n') | None => break,
                    _ => found.push(c.number()?),
                }
            }
            c.end_of_line().map(|()| Untagged::Search(found))
        }
        _ => other(c, name, raw_start),
    }
}

/// Any other untagged response: it must still be well-formed values, so framing and literals stay in sync.
fn other<'a>(c: &mut Cursor<'a>, name: &'a [u8], raw_start: usize) -> Parsed<Untagged<'a>> {
    while c.eat(b' ') {
        if matches!(c.peek(), Some(b'\r' | b'\n') | None) {
            break;
        }
        // Free text (e.g. `* ID (…)` values, `* FLAGS (\Seen)`, or text after a keyword): skip what parses as
        // values, and accept the rest of the line as text.
        if c.skip_value(0).is_err() {
            let _ = c.rest_of_line();
            return Ok(Untagged::Other { name, raw: first_line(&c.bytes[raw_start..]) });
        }
    }
    c.end_of_line()?;
    Ok(Untagged::Other { name, raw: first_line(&c.bytes[raw_start..]) })
}

/// `[code] text` after a status word (both optional, as real servers send `a1 OK` bare).
fn resp_text<'a>(c: &mut Cursor<'a>) -> Parsed<Text<'a>> {
    if !c.eat(b' ') {
        c.end_of_line()?;
        return Ok(Text { code: None, text: b"" });
    }
    let mut code = None;
    if c.peek() == Some(b'[') {
        let rest = &c.bytes[c.at..];
        let line_end = memchr(b'\n', rest).unwrap_or(rest.len());
        let close = memchr(b']', &rest[..line_end]).ok_or("an unclosed response code")?;
        code = Some(response_code(&rest[1..close])?);
        c.at += close + 1;
        let _ = c.eat(b' ');
    }
    let text = c.rest_of_line();
    if c.at != c.bytes.len() {
        return Err("a status response with a literal");
    }
    Ok(Text { code, text })
}

fn response_code(inner: &[u8]) -> Parsed<Code<'_>> {
    let (name, args) = match memchr(b' ', inner) {
        Some(sp) => (&inner[..sp], &inner[sp + 1..]),
        None => (inner, &b""[..]),
    };
    if name.is_empty() || !name.iter().all(|b| is_atom_char(*b)) {
        return Err("a malformed response code");
    }
    let number = |args: &[u8]| -> Parsed<u32> {
        let mut c = Cursor { bytes: args, at: 0 };
        let n = c.number()?;
        if c.at == args.len() { Ok(n) } else { Err("a malformed response code number") }
    };
    Ok(match name.to_ascii_uppercase().as_slice() {
        b"ALERT" => Code::Alert,
        b"CAPABILITY" => Code::Capability(Atoms(args)),
        b"UIDVALIDITY" => Code::UidValidity(number(args)?),
        b"UIDNEXT" => Code::UidNext(number(args)?),
        b"READ-ONLY" => Code::ReadOnly,
        b"READ-WRITE" => Code::ReadWrite,
        b"AUTHENTICATIONFAILED" => Code::AuthenticationFailed,
        b"AUTHORIZATIONFAILED" => Code::AuthorizationFailed,
        b"UNAVAILABLE" => Code::Unavailable,
        b"NONEXISTENT" => Code::NonExistent,
        _ => Code::Other { name, args },
    })
}

/// `(name value name value …)`.
fn fetch<'a>(c: &mut Cursor<'a>) -> Parsed<Vec<FetchItem<'a>>> {
    if !c.eat(b'(') {
        return Err("FETCH data must be a list");
    }
    let mut items = Vec::new();
    loop {
        if c.eat(b')') {
            break;
        }
        if !items.is_empty() {
            c.space()?;
        }
        let name_start = c.at;
        c.atom()?;
        c.at = name_start;
        c.take_while(|b| is_atom_char(b) && b != b'[');
        if c.peek() == Some(b'[') {
            c.skip_atom_with_section()?;
        }
        let name = &c.bytes[name_start..c.at];
        c.space()?;
        let upper = name.to_ascii_uppercase();
        let item = match upper.as_slice() {
            b"UID" => FetchItem::Uid(c.number()?),
            b"RFC822.SIZE" => FetchItem::Size(c.number()?),
            b"INTERNALDATE" => FetchItem::InternalDate(c.quoted()?),
            b"FLAGS" => {
                let start = c.at;
                c.skip_value(0)?;
                let list = &c.bytes[start..c.at];
                FetchItem::Flags(list.strip_prefix(b"(").and_then(|l| l.strip_suffix(b")")).unwrap_or(list))
            }
            _ if upper.starts_with(b"BODY[") || upper.starts_with(b"RFC822") || upper.starts_with(b"BINARY[") => {
                let open = memchr(b'[', name);
                let close = memchr::memrchr(b']', name);
                let section = match (open, close) {
                    (Some(o), Some(e)) if e > o => &name[o + 1..e],
                    _ => &name[..0],
                };
                FetchItem::Body { section, data: c.nstring()? }
            }
            _ => {
                c.skip_value(0)?;
                FetchItem::Other(name)
            }
        };
        items.push(item);
        if items.len() > 64 {
            return Err("too many FETCH attributes");
        }
    }
    c.end_of_line()?;
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Result<Vec<String>, ResponseError> {
        let mut parser = ResponseParser::default();
        parser.feed(input)?;
        let mut out = Vec::new();
        while let Some(r) = parser.next_response()? {
            out.push(format!("{r:?}"));
        }
        Ok(out)
    }

    fn one(input: &[u8]) -> Response<'_> {
        parse(input).unwrap()
    }

    #[test]
    fn greeting_with_capability_code() {
        let r = one(b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n");
        let Response::Untagged(Untagged::Status { status: Status::Ok, text }) = r else { panic!("{r:?}") };
        let Some(Code::Capability(caps)) = text.code else { panic!() };
        assert_eq!(
            caps.iter().collect::<Vec<_>>(),
            [&b"IMAP4rev1"[..], b"SASL-IR", b"LITERAL+", b"STARTTLS", b"AUTH=PLAIN"]
        );
        assert_eq!(text.text, b"Dovecot ready.");
    }

    #[test]
    fn tagged_responses_with_and_without_text() {
        assert!(matches!(
            one(b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
            Response::Tagged {
                tag: b"a1",
                status: Status::No,
                text: Text { code: Some(Code::AuthenticationFailed), .. }
            }
        ));
        assert!(matches!(one(b"a2 OK\r\n"), Response::Tagged { status: Status::Ok, .. }));
        assert!(matches!(one(b"a2 ok done\r\n"), Response::Tagged { status: Status::Ok, .. }));
        assert!(parse(b"a2 MAYBE x\r\n").is_err());
    }

    #[test]
    fn select_data() {
        let text = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Flags permitted.\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\na3 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n";
        let out = all(text).unwrap();
        assert_eq!(out.len(), 7);
        assert!(out[2].contains("Exists(3)"));
        assert!(out[4].contains("UidValidity(1700000000)"));
        assert!(out[6].contains("ReadWrite"));
    }

    #[test]
    fn search_results() {
        assert_eq!(one(b"* SEARCH\r\n"), Response::Untagged(Untagged::Search(vec![])));
        assert_eq!(one(b"* SEARCH 4 17\r\n"), Response::Untagged(Untagged::Search(vec![4, 17])));
        assert_eq!(one(b"* SEARCH 4 (MODSEQ 9)\r\n"), Response::Untagged(Untagged::Search(vec![4])));
        assert!(parse(b"* SEARCH 4 x\r\n").is_err());
    }

    #[test]
    fn fetch_with_literal_and_quoted_date() {
        let bytes = b"* 2 FETCH (UID 9 RFC822.SIZE 420 INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" FLAGS (\\Seen) BODY[HEADER] {8}\r\nA: b\r\n\r\n)\r\n";
        let Response::Untagged(Untagged::Fetch { seq: 2, items }) = one(bytes) else { panic!() };
        assert_eq!(
            items,
            [
                FetchItem::Uid(9),
                FetchItem::Size(420),
                FetchItem::InternalDate(b"17-Jul-1996 02:44:25 -0700"),
                FetchItem::Flags(b"\\Seen"),
                FetchItem::Body { section: b"HEADER", data: Some(b"A: b\r\n\r\n") },
            ]
        );
        let Response::Untagged(Untagged::Fetch { items, .. }) =
            one(b"* 1 FETCH (BODY[HEADER.FIELDS (DATE FROM)]<0> NIL X-GM-MSGID 123)\r\n")
        else {
            panic!()
        };
        assert_eq!(
            items,
            [FetchItem::Body { section: b"HEADER.FIELDS (DATE FROM)", data: None }, FetchItem::Other(b"X-GM-MSGID")]
        );
    }

    #[test]
    fn a_literal_may_hold_line_ends_and_braces() {
        // The literal's bytes are never scanned: a `}` or CRLF inside cannot end or extend the response.
        let out = all(b"* 1 FETCH (BODY[HEADER] {9}\r\nx {3}\r\n\r\n)\r\na OK\r\n").unwrap();
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(out[0].contains("Fetch"));
    }

    #[test]
    fn continuation_and_other_untagged() {
        assert_eq!(one(b"+ \r\n"), Response::Continuation(b""));
        assert_eq!(one(b"+ VXNlcm5hbWU6\r\n"), Response::Continuation(b"VXNlcm5hbWU6"));
        assert!(matches!(
            one(b"* ENABLED CONDSTORE\r\n"),
            Response::Untagged(Untagged::Other { name: b"ENABLED", .. })
        ));
        assert!(matches!(
            one(b"* ID (\"name\" \"Dovecot\")\r\n"),
            Response::Untagged(Untagged::Other { name: b"ID", .. })
        ));
    }

    #[test]
    fn not_imap_is_recognised_from_the_first_bytes() {
        let mut parser = ResponseParser::default();
        parser.feed(b"220 mx.example.com ESMTP").unwrap();
        match parser.next_response() {
            Err(ResponseError::NotImap { hint: Some(hint), .. }) => assert!(hint.contains("SMTP")),
            other => panic!("{other:?}"),
        }
        let mut parser = ResponseParser::default();
        parser.feed(&[0x16, 0x03, 0x01, 0x00]).unwrap();
        assert!(matches!(parser.next_response(), Err(ResponseError::NotImap { hint: Some(_), .. })));
    }

    #[test]
    fn limits_fail_as_bytes_arrive() {
        let limits = ResponseLimits { max_line_len: 32, max_literal: 100, max_buffered: 1000, max_untagged: 3 };
        let mut parser = ResponseParser::new(limits);
        parser.feed(b"* OK ").unwrap();
        parser.feed(&[b'a'; 40]).unwrap();
        assert_eq!(parser.next_response(), Err(ResponseError::LineTooLong { limit: 32 }));

        let mut parser = ResponseParser::new(limits);
        parser.feed(b"* 1 FETCH (BODY[] {101}\r\n").unwrap();
        assert_eq!(parser.next_response(), Err(ResponseError::LiteralTooLarge { size: 101, limit: 100 }));
        let mut parser = ResponseParser::new(ResponseLimits { max_line_len: 64, ..limits });
        parser.feed(b"* 1 FETCH (BODY[] {99999999999999999999999}\r\n").unwrap();
        assert!(matches!(parser.next_response(), Err(ResponseError::LiteralTooLarge { size: u64::MAX, .. })));

        let mut parser = ResponseParser::new(limits);
        parser.feed(b"* 1 EXISTS\r\n* 2 EXISTS\r\n* 3 EXISTS\r\n* 4 EXISTS\r\n").unwrap();
        for _ in 0..3 {
            assert!(parser.next_response().unwrap().is_some());
        }
        assert_eq!(parser.next_response(), Err(ResponseError::TooManyUntagged { limit: 3 }));

        let mut parser = ResponseParser::new(ResponseLimits { max_buffered: 10, ..limits });
        assert_eq!(parser.feed(&[b'a'; 11]), Err(ResponseError::BufferFull { limit: 10 }));
    }

    #[test]
    fn a_first_line_fails_the_same_however_it_is_cut() {
        // Found by the imap_parser fuzz target: whole, the literal announced was too large; cut after "H ", the
        // line was not IMAP. Not IMAP either way now, as the first bytes already show.
        let line = b"H (BODY[] {99999999999999999999}\r\n";
        let whole = all(line);
        let mut parser = ResponseParser::default();
        let mut cut = Ok(None);
        for piece in line.chunks(2) {
            parser.feed(piece).unwrap();
            cut = parser.next_response().map(|r| r.map(|r| format!("{r:?}")));
            if cut.is_err() {
                break;
            }
        }
        assert!(matches!(whole, Err(ResponseError::NotImap { .. })), "{whole:?}");
        assert!(matches!(cut, Err(ResponseError::NotImap { .. })), "{cut:?}");
    }

    #[test]
    fn tagged_responses_reset_the_untagged_count() {
        let limits = ResponseLimits { max_untagged: 2, ..ResponseLimits::default() };
        let mut parser = ResponseParser::new(limits);
        for _ in 0..100 {
            parser.feed(b"* 1 EXISTS\r\n* 1 RECENT\r\na OK\r\n").unwrap();
            while parser.next_response().unwrap().is_some() {}
        }
        assert!(parser.buffer_capacity() < 1024);
    }

    #[test]
    fn malformed_later_responses_are_not_not_imap() {
        assert!(matches!(all(b"* OK hi\r\n* 1 FETCH UID\r\n"), Err(ResponseError::Malformed { .. })));
        assert!(matches!(all(b"* OK hi\r\n* OK [ALERT x\r\n"), Err(ResponseError::Malformed { .. })));
    }
}
