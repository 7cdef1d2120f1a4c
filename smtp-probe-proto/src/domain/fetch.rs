//! The MTA-STS policy fetch without IO (RFC 8461 §3.3): `GET /.well-known/mta-sts.txt` over HTTPS from
//! `mta-sts.<domain>`, the way senders fetch it.
//!
//! [`PolicyFetch`] is driven like a probe session: the adapter connects to the policy host, moves ciphertext with
//! [`PolicyFetch::handle_input`] and [`PolicyFetch::poll_transmit`], and calls [`PolicyFetch::handle_timeout`] at
//! [`PolicyFetch::poll_deadline`]. TLS is the core's own in-memory session, with the same trust settings
//! ([`TlsConfig`]) and the same certificate reporting ([`TlsInfo`]) as the SMTP probe. The HTTP side is a small,
//! strict HTTP/1.1 client: one request, `Connection: close`, the response framed by `Content-Length`, chunked
//! encoding or the end of the connection. Senders' rules apply:
//!
//! - the certificate must verify for `mta-sts.<domain>` (a failure is [`FetchError::Certificate`], reported with
//!   what was presented);
//! - only `200` counts; a redirect is refused, not followed ([`FetchError::Redirect`]);
//! - the media type must be `text/plain` ([`FetchError::ContentType`]);
//! - at most [`POLICY_MAX_BYTES`] of body are read: past that the fetch stops ([`FetchError::TooLarge`]).
//!
//! A response head above 16 KiB is malformed; nothing grows without bound.

use std::time::Duration;
#[cfg(feature = "rustls")]
use std::time::{Instant, SystemTime};

#[cfg(feature = "rustls")]
use crate::name::Domain;
use crate::policy::mta_sts::{MtaStsPolicy, MtaStsPolicyError, POLICY_MAX_BYTES};
#[cfg(feature = "rustls")]
use crate::report::TlsFailure;
use crate::report::{CertificateProblem, TlsInfo};
#[cfg(feature = "rustls")]
use crate::tls::{Fed, TlsConfig, TlsLayer};

/// The path senders fetch.
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
/// The largest response head (status line and headers) accepted.
#[cfg(feature = "rustls")]
const HEAD_MAX_BYTES: usize = 16 * 1024;
/// The most header fields parsed.
#[cfg(feature = "rustls")]
const MAX_HEADERS: usize = 64;
/// The longest chunk-size line (with extensions) accepted.
#[cfg(feature = "rustls")]
const CHUNK_LINE_MAX: usize = 1024;

/// Why no policy came out of a fetch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The policy host did not resolve (adapters).
    #[error("mta-sts host did not resolve: {0}")]
    Resolve(String),
    /// The TCP connection failed (adapters).
    #[error("connection failed: {0}")]
    Connect(String),
    /// Nothing complete before the deadline.
    #[error("no complete response before the deadline")]
    Timeout,
    /// The certificate of the policy host did not verify.
    #[error("the policy host's {0}")]
    Certificate(CertificateProblem),
    /// TLS failed for another reason.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// A status other than 200 (and not a redirect).
    #[error("HTTP status {0}")]
    Status(u16),
    /// A redirect, which senders must not follow (RFC 8461 §3.3).
    #[error("HTTP {status} redirect to {location:?} (redirects are not followed)")]
    Redirect {
        /// The status.
        status: u16,
        /// The `Location` header, escaped and cut.
        location: String,
    },
    /// A media type other than `text/plain`.
    #[error("Content-Type {0:?} is not text/plain")]
    ContentType(String),
    /// More than [`POLICY_MAX_BYTES`] of body: the fetch stopped reading.
    #[error("the policy is larger than {POLICY_MAX_BYTES} bytes (reading stopped)")]
    TooLarge,
    /// Not HTTP/1.x, a head too large, broken chunked framing.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
    /// The connection ended before the response was complete.
    #[error("the connection closed before the response was complete")]
    Closed,
    /// The body is no valid policy.
    #[error("invalid policy: {0}")]
    Invalid(MtaStsPolicyError),
}

impl FetchError {
    /// The `snake_case` name of the kind, the same in every output.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Resolve(_) => "resolve",
            FetchError::Connect(_) => "connect",
            FetchError::Timeout => "timeout",
            FetchError::Certificate(_) => "certificate",
            FetchError::Tls(_) => "tls",
            FetchError::Status(_) => "http_status",
            FetchError::Redirect { .. } => "redirect",
            FetchError::ContentType(_) => "content_type",
            FetchError::TooLarge => "too_large",
            FetchError::Malformed(_) => "malformed",
            FetchError::Closed => "closed",
            FetchError::Invalid(_) => "invalid_policy",
        }
    }
}

/// What a fetch found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PolicyFetchReport {
    /// `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    pub url: String,
    /// The address connected to (adapters).
    pub address: Option<String>,
    /// The policy, or why there is none.
    pub outcome: Result<MtaStsPolicy, FetchError>,
    /// The HTTP status, when a response head came.
    pub status: Option<u16>,
    /// The `Content-Type`, escaped and cut.
    pub content_type: Option<String>,
    /// Body bytes read.
    pub body_bytes: usize,
    /// The policy host's TLS: version, certificate chain, whether it verified.
    pub tls: Option<TlsInfo>,
    /// From the start (before DNS, when the adapter starts it then) to the end.
    pub elapsed: Duration,
}

impl PolicyFetchReport {
    /// A fetch that ended before TLS began (no address, no connection).
    pub fn failed(domain: &str, error: FetchError, elapsed: Duration) -> PolicyFetchReport {
        PolicyFetchReport {
            url: policy_url(domain),
            address: None,
            outcome: Err(error),
            status: None,
            content_type: None,
            body_bytes: 0,
            tls: None,
            elapsed,
        }
    }

    /// The policy, when the fetch gave one.
    pub fn policy(&self) -> Option<&MtaStsPolicy> {
        self.outcome.as_ref().ok()
    }
}

/// `mta-sts.<domain>`, the policy host.
pub fn policy_host(domain: &str) -> String {
    format!("mta-sts.{}", domain.trim_end_matches('.'))
}

/// The URL senders fetch.
pub fn policy_url(domain: &str) -> String {
    format!("https://{}{POLICY_PATH}", policy_host(domain))
}

#[cfg(feature = "rustls")]
#[derive(Debug)]
enum Body {
    /// `Content-Length`.
    Length(usize),
    /// Chunked: the decoder state.
    Chunked(Chunked),
    /// Until the connection closes.
    UntilClose,
}

#[cfg(feature = "rustls")]
#[derive(Debug)]
enum Chunked {
    /// Reading a chunk-size line.
    Size(Vec<u8>),
    /// So many data bytes left in this chunk.
    Data(usize),
    /// The CRLF after a chunk's data (bytes of it seen).
    DataEnd(u8),
    /// After the last chunk: trailer lines until an empty one (bytes of the current line).
    Trailer(Vec<u8>),
    Done,
}

/// One policy fetch (see the [module documentation](self)).
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
#[derive(Debug)]
pub struct PolicyFetch {
    tls: Option<TlsLayer>,
    started: Instant,
    deadline: Instant,
    head: Vec<u8>,
    body_mode: Option<Body>,
    body: Vec<u8>,
    report: PolicyFetchReport,
    done: bool,
}

#[cfg(feature = "rustls")]
impl PolicyFetch {
    /// Starts a fetch of `domain`'s policy: the TLS client for `mta-sts.<domain>` with `tls`'s trust settings (a
    /// certificate that does not verify ends the handshake), the request queued. `timeout` bounds the whole fetch
    /// from `now`; `wall` is the time certificates are checked at.
    pub fn new(domain: &Domain, tls: &TlsConfig, now: Instant, wall: SystemTime, timeout: Duration) -> PolicyFetch {
        let host = policy_host(domain.as_str());
        let mut report = PolicyFetchReport::failed(domain.as_str(), FetchError::Closed, Duration::ZERO);
        let layer = match TlsLayer::start(tls, &host, false, now, wall) {
            Ok(mut layer) => {
                let request = format!(
                    "GET {POLICY_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: smtp-probe\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
                );
                layer.write(request.as_bytes());
                Some(layer)
            }
            // Only a name rustls refuses fails here, which a valid domain never makes; still, no panic.
            Err(failure) => {
                report.outcome = Err(tls_error(failure, &mut report));
                None
            }
        };
        PolicyFetch {
            done: layer.is_none(),
            tls: layer,
            started: now,
            deadline: now + timeout,
            head: Vec::new(),
            body_mode: None,
            body: Vec::new(),
            report,
        }
    }

    /// Ciphertext to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        self.tls.as_mut()?.take_ciphertext()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due; `None` once done.
    pub fn poll_deadline(&self) -> Option<Instant> {
        (!self.done).then_some(self.deadline)
    }

    /// Whether the fetch is over ([`into_report`](Self::into_report) then has the outcome).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Ciphertext from the server.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        let Some(tls) = self.tls.as_mut().filter(|_| !self.done) else { return };
        let mut plaintext = Vec::new();
        let fed = tls.feed(bytes, &mut plaintext);
        tls.poll_established();
        if !plaintext.is_empty() {
            self.on_plaintext(&plaintext, now);
        }
        if self.done {
            return;
        }
        match fed {
            Fed::Ok => {}
            Fed::Closed => self.handle_eof(now),
            Fed::Failed(err) => {
                let Some(tls) = self.tls.as_ref() else { return };
                let failure = tls.failure(&err, now);
                let error = tls_error(failure, &mut self.report);
                self.finish(Err(error), now);
            }
        }
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self, now: Instant) {
        if self.done {
            return;
        }
        match &self.body_mode {
            Some(Body::UntilClose) => self.complete(now),
            _ => self.finish(Err(FetchError::Closed), now),
        }
    }

    /// The deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.done && now >= self.deadline {
            self.finish(Err(FetchError::Timeout), now);
        }
    }

    /// The connection could not be made or broke (adapters).
    pub fn handle_io_error(&mut self, error: FetchError, now: Instant) {
        if !self.done {
            self.finish(Err(error), now);
        }
    }

    /// Records the address connected to (adapters).
    pub fn set_address(&mut self, address: String) {
        self.report.address = Some(address);
    }

    /// The report; call when [`is_done`](Self::is_done) (before, it says the fetch was cut short).
    pub fn into_report(mut self, now: Instant) -> PolicyFetchReport {
        if !self.done {
            self.finish(Err(FetchError::Timeout), now);
        }
        self.report
    }

    /// A fetch whose TLS is already up, fed decrypted bytes with [`handle_plaintext`](Self::handle_plaintext): for
    /// the fuzz target of the HTTP side.
    #[cfg(feature = "testing")]
    pub(crate) fn plaintext(now: Instant) -> PolicyFetch {
        PolicyFetch {
            tls: None,
            started: now,
            deadline: now + std::time::Duration::from_secs(10),
            head: Vec::new(),
            body_mode: None,
            body: Vec::new(),
            report: PolicyFetchReport::failed("fuzz.invalid", FetchError::Closed, Duration::ZERO),
            done: false,
        }
    }

    /// Decrypted bytes from the server (see [`plaintext`](Self::plaintext)).
    #[cfg(feature = "testing")]
    pub(crate) fn handle_plaintext(&mut self, bytes: &[u8], now: Instant) {
        if !self.done {
            self.on_plaintext(bytes, now);
        }
    }

    fn finish(&mut self, outcome: Result<MtaStsPolicy, FetchError>, now: Instant) {
        if let Some(tls) = self.tls.as_ref().filter(|t| t.is_established() && self.report.tls.is_none()) {
            self.report.tls = Some(tls.info(now));
        }
        self.report.outcome = outcome;
        self.report.body_bytes = self.body.len();
        self.report.elapsed = now.saturating_duration_since(self.started);
        self.done = true;
    }

    fn complete(&mut self, now: Instant) {
        let outcome = MtaStsPolicy::parse(&self.body).map_err(FetchError::Invalid);
        self.finish(outcome, now);
    }

    fn on_plaintext(&mut self, mut data: &[u8], now: Instant) {
        if self.body_mode.is_none() {
            let room = HEAD_MAX_BYTES + 4 - self.head.len().min(HEAD_MAX_BYTES + 4);
            let take = data.len().min(room);
            self.head.extend_from_slice(&data[..take]);
            match self.parse_head() {
                Ok(None) if take < data.len() || self.head.len() > HEAD_MAX_BYTES => {
                    self.finish(Err(FetchError::Malformed("response head larger than 16 KiB".into())), now);
                    return;
                }
                Ok(None) => return,
                Ok(Some((head_len, mode))) => {
                    // What came after the head is body.
                    let rest = self.head.split_off(head_len);
                    self.body_mode = Some(mode);
                    let mut pending = rest;
                    pending.extend_from_slice(&data[take..]);
                    data = &[];
                    self.on_body(&pending, now);
                }
                Err(error) => {
                    self.finish(Err(error), now);
                    return;
                }
            }
        }
        if !data.is_empty() && !self.done {
            self.on_body(data, now);
        }
    }

    /// Parses the head when complete: the body framing, or why the response is refused.
    fn parse_head(&mut self) -> Result<Option<(usize, Body)>, FetchError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(&self.head) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(FetchError::Malformed(e.to_string())),
        };
        let status = response.code.unwrap_or(0);
        self.report.status = Some(status);
        let header = |name: &str| response.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        let content_type = header("content-type").map(crate::policy::text::quote);
        self.report.content_type = content_type.clone();
        if (300..400).contains(&status) {
            let location = header("location").map(crate::policy::text::quote).unwrap_or_default();
            return Err(FetchError::Redirect { status, location });
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        let media = content_type.as_deref().map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        if media.as_deref() != Some("text/plain") {
            return Err(FetchError::ContentType(content_type.unwrap_or_default()));
        }
        let chunked = header("transfer-encoding")
            .is_some_and(|v| v.split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked")));
        let mode = if chunked {
            Body::Chunked(Chunked::Size(Vec::new()))
        } else if let Some(value) = header("content-length") {
            let length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| FetchError::Malformed("Content-Length is not a number".into()))?;
            if length > POLICY_MAX_BYTES as u64 {
                return Err(FetchError::TooLarge);
            }
            Body::Length(length as usize)
        } else {
            Body::UntilClose
        };
        Ok(Some((len, mode)))
    }

    fn on_body(&mut self, data: &[u8], now: Instant) {
        let Some(mode) = self.body_mode.as_mut() else { return };
        let result = match mode {
            Body::Length(length) => {
                let take = data.len().min(*length - self.body.len());
                self.body.extend_from_slice(&data[..take]);
                Ok(self.body.len() == *length)
            }
            Body::UntilClose => {
                self.body.extend_from_slice(&data[..data.len().min(POLICY_MAX_BYTES + 1 - self.body.len())]);
                Ok(false)
            }
            Body::Chunked(state) => dechunk(state, data, &mut self.body),
        };
        match result {
            _ if self.body.len() > POLICY_MAX_BYTES => self.finish(Err(FetchError::TooLarge), now),
            Ok(true) => self.complete(now),
            Ok(false) => {}
            Err(error) => self.finish(Err(error), now),
        }
    }
}

#[cfg(feature = "rustls")]
/// Decodes chunked data into `body` (stopping once it holds more than the policy limit); `Ok(true)` at the end.
fn dechunk(state: &mut Chunked, mut data: &[u8], body: &mut Vec<u8>) -> Result<bool, FetchError> {
    let malformed = |what: &str| FetchError::Malformed(format!("chunked encoding: {what}"));
    while !data.is_empty() && body.len() <= POLICY_MAX_BYTES {
        match state {
            Chunked::Size(line) => {
                let (byte, rest) = (data[0], &data[1..]);
                data = rest;
                if byte != b'\n' {
                    if line.len() >= CHUNK_LINE_MAX {
                        return Err(malformed("chunk-size line too long"));
                    }
                    line.push(byte);
                    continue;
                }
                let text = line.strip_suffix(b"\r").unwrap_or(line);
                let digits = text.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
                let size = std::str::from_utf8(digits)
                    .ok()
                    .filter(|d| !d.is_empty() && d.len() <= 8)
                    .and_then(|d| usize::from_str_radix(d, 16).ok())
                    .ok_or_else(|| malformed("bad chunk size"))?;
                *state = if size == 0 { Chunked::Trailer(Vec::new()) } else { Chunked::Data(size) };
            }
            Chunked::Data(left) => {
                let take = data.len().min(*left).min(POLICY_MAX_BYTES + 1 - body.len());
                body.extend_from_slice(&data[..take]);
                data = &data[take..];
                *left -= take;
                if *left == 0 {
                    *state = Chunked::DataEnd(0);
                }
            }
            Chunked::DataEnd(seen) => {
                let expected = if *seen == 0 { b'\r' } else { b'\n' };
                if data[0] != expected {
                    return Err(malformed("no CRLF after chunk data"));
                }
                data = &data[1..];
                *state = if *seen == 0 { Chunked::DataEnd(1) } else { Chunked::Size(Vec::new()) };
            }
            Chunked::Trailer(line) => {
                let (byte, rest) = (data[0], &data[1..]);
                data = rest;
                if byte != b'\n' {
                    if line.len() >= CHUNK_LINE_MAX {
                        return Err(malformed("trailer line too long"));
                    }
                    line.push(byte);
                    continue;
                }
                if line.is_empty() || line.as_slice() == b"\r" {
                    *state = Chunked::Done;
                    return Ok(true);
                }
                line.clear();
            }
            Chunked::Done => return Ok(true),
        }
    }
    Ok(matches!(state, Chunked::Done))
}

#[cfg(feature = "rustls")]
fn tls_error(failure: TlsFailure, report: &mut PolicyFetchReport) -> FetchError {
    match failure {
        TlsFailure::Certificate { problem, info } => {
            report.tls = Some(*info);
            FetchError::Certificate(problem)
        }
        TlsFailure::Handshake { reason } => FetchError::Tls(reason),
        TlsFailure::Closed => FetchError::Closed,
    }
}

#[cfg(all(test, feature = "rustls"))]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Result<(bool, Vec<u8>), FetchError> {
        let mut state = Chunked::Size(Vec::new());
        let mut body = Vec::new();
        let mut done = false;
        for chunk in chunks {
            done = dechunk(&mut state, chunk, &mut body)?;
        }
        Ok((done, body))
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_split() {
        let wire = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for split in 0..wire.len() {
            let (a, b) = wire.split_at(split);
            let (done, body) = decode(&[a, b]).unwrap();
            assert!(done, "split at {split}");
            assert_eq!(body, b"hello, world");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(decode(&bytes).unwrap(), (true, b"hello, world".to_vec()));
    }

    #[test]
    fn chunked_framing_errors_are_malformed_and_sizes_are_bounded() {
        assert!(matches!(decode(&[b"zz\r\n"]), Err(FetchError::Malformed(_))));
        assert!(matches!(decode(&[b"3\r\nabcX"]), Err(FetchError::Malformed(_))));
        assert!(matches!(decode(&[b"123456789\r\n"]), Err(FetchError::Malformed(_))));
        assert!(matches!(decode(&[&[b'1'; 2000]]), Err(FetchError::Malformed(_))));
        // A huge chunk stops once past the limit, without buffering it all.
        let mut state = Chunked::Size(Vec::new());
        let mut body = Vec::new();
        let data = vec![b'a'; 200_000];
        dechunk(&mut state, b"ffffff\r\n", &mut body).unwrap();
        dechunk(&mut state, &data, &mut body).unwrap();
        assert_eq!(body.len(), POLICY_MAX_BYTES + 1);
    }

    proptest::proptest! {
        /// Whatever a hostile server sends as a chunked body, split however the network splits it: no panic, and
        /// never more than the policy limit (plus the byte that proves it was exceeded) kept.
        #[test]
        fn hostile_chunked_bodies_are_bounded(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
                                              cuts in proptest::collection::vec(0usize..4096, 0..8)) {
            let mut state = Chunked::Size(Vec::new());
            let mut body = Vec::new();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            points.push(0);
            points.push(data.len());
            points.sort_unstable();
            for pair in points.windows(2) {
                if dechunk(&mut state, &data[pair[0]..pair[1]], &mut body).is_err() {
                    break;
                }
            }
            proptest::prop_assert!(body.len() <= POLICY_MAX_BYTES + 1);
        }
    }

    #[test]
    fn urls_and_error_kinds() {
        assert_eq!(policy_url("example.com."), "https://mta-sts.example.com/.well-known/mta-sts.txt");
        assert_eq!(FetchError::Status(404).kind(), "http_status");
        assert_eq!(FetchError::Status(404).to_string(), "HTTP status 404");
        let redirect = FetchError::Redirect { status: 301, location: "https://x/".into() };
        assert!(redirect.to_string().contains("not followed"));
    }
}
