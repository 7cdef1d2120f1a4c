//! [`Session`]: a [`Probe`] with TLS inside. What every adapter drives: raw socket bytes in, raw socket bytes
//! out, and deadlines — STARTTLS and implicit TLS are handled here, in memory, so adapters stay byte pumps.

use std::time::{Instant, SystemTime};

use crate::assess;
use crate::config::ProbeConfig;
use crate::probe::{Output, Probe};
use crate::report::{Report, TlsFailure};
use crate::tls::{Fed, TlsLayer};

/// The largest TLS record on the wire: 16 KiB of data, 2 KiB of expansion, a 5-byte header (RFC 8446 §5.2).
pub(crate) const MAX_TLS_RECORD: usize = 16 * 1024 + 2048 + 5;

/// What the adapter must do next. Drain [`Session::poll_output`] until it returns `Timeout` or `Done`.
///
/// The set of variants is closed: a driver handles each of them, and a new one would be a breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutput {
    /// Write all these bytes to the socket, then poll again.
    Transmit(Vec<u8>),
    /// Wait for socket bytes, end of stream, or this instant; report it with `handle_input`, `handle_eof` or
    /// `handle_timeout`, then poll again.
    Timeout(Instant),
    /// The probe is over: close the socket, then take the report with [`Session::into_report`]. Every later poll
    /// returns `Done` again.
    Done,
}

/// A probe of one connection, TLS included.
///
/// As with [`Probe`], `handle_*` only record (ciphertext is buffered, up to the configured
/// [`max_buffered`](crate::ReplyLimits::max_buffered) plus one TLS record); `poll_output` decrypts, parses and
/// decides.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use smtp_probe_proto::{ProbeConfig, Session, SessionOutput, TlsMode, Verdict, Cause};
///
/// let config = ProbeConfig::builder("mx.example.com".parse()?).tls(TlsMode::StartTlsRequired).build()?;
/// let now = Instant::now();
/// let mut session = Session::new(config, now, SystemTime::now());
/// // A server that offers no STARTTLS, then says goodbye.
/// session.handle_input(now, b"220 mx.example.com ESMTP\r\n");
/// let mut replies = [&b"250-mx.example.com\r\n250 SIZE 1000\r\n"[..], b"221 bye\r\n"].into_iter();
/// loop {
///     match session.poll_output(now) {
///         SessionOutput::Transmit(_) => session.handle_input(now, replies.next().unwrap()),
///         SessionOutput::Timeout(deadline) => session.handle_timeout(deadline),
///         SessionOutput::Done => break,
///     }
/// }
/// let report = session.into_report();
/// assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::StartTlsUnavailable)));
/// # Ok::<(), smtp_probe_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct Session {
    probe: Probe,
    config: ProbeConfig,
    wall: SystemTime,
    tls: Option<TlsLayer>,
    /// Ciphertext received and not yet given to TLS, and when its last byte came.
    received: Vec<u8>,
    received_at: Instant,
    /// The most ciphertext `received` may hold between two polls.
    max_received: usize,
    /// The peer closed the connection (while TLS was in use), when.
    closed_at: Option<Instant>,
    /// Whether that close was handed on to the probe.
    close_delivered: bool,
    scratch: Vec<u8>,
    closing: bool,
}

impl Session {
    /// A session on a connection established at `now`. `wall` is the wall-clock time the probe started (the
    /// report's `started_at`), against which certificates are checked and their days left counted. The overall
    /// timeout starts at `now`.
    pub fn new(config: ProbeConfig, now: Instant, wall: SystemTime) -> Session {
        let overall_deadline = crate::config::deadline_after(now, config.timeouts().overall);
        Session::with_deadline(config, now, wall, overall_deadline)
    }

    /// As [`new`](Self::new), with the overall deadline given: adapters start it, and take `wall`, before DNS and
    /// connect.
    pub fn with_deadline(config: ProbeConfig, now: Instant, wall: SystemTime, overall_deadline: Instant) -> Session {
        let probe = Probe::with_deadline(config.clone(), now, wall, overall_deadline);
        let max_received = config.inner().limits.max_buffered.saturating_add(MAX_TLS_RECORD);
        Session {
            probe,
            config,
            wall,
            tls: None,
            received: Vec::new(),
            received_at: now,
            max_received,
            closed_at: None,
            close_delivered: false,
            scratch: Vec::new(),
            closing: false,
        }
    }

    /// Bytes read from the socket. Only recorded: the next poll processes them.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.tls.is_none() {
            self.probe.handle_input(now, bytes); // plaintext: the probe's own buffer records it
            return;
        }
        if self.closed_at.is_some() || bytes.is_empty() {
            return;
        }
        if self.received.len().saturating_add(bytes.len()) > self.max_received {
            // More than a reply buffer's worth between two polls: the probe ends as its own full buffer would.
            self.probe.handle_overflow(now, self.max_received);
            return;
        }
        self.received.extend_from_slice(bytes);
        self.received_at = now;
    }

    /// The peer closed the connection (or it was reset). Only recorded.
    pub fn handle_eof(&mut self, now: Instant) {
        match &self.tls {
            None => self.probe.handle_eof(now),
            Some(_) => {
                self.closed_at.get_or_insert(now);
            }
        }
    }

    /// A deadline passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.probe.handle_timeout(now);
    }

    /// The next thing to do. Decrypting, parsing and every decision happen here.
    pub fn poll_output(&mut self, now: Instant) -> SessionOutput {
        loop {
            self.pump();
            if let Some(bytes) = self.tls.as_mut().and_then(TlsLayer::take_ciphertext) {
                return SessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                Output::Transmit(bytes) => match &mut self.tls {
                    Some(tls) => tls.write(&bytes),
                    None => return SessionOutput::Transmit(bytes),
                },
                Output::StartTls(request) => {
                    let name = request.tls_name.unwrap_or_else(|| self.config.target().host().to_owned());
                    let tls_config = self.config.tls_config();
                    let go_on = assess::handshake_goes_on(self.config.inner());
                    match TlsLayer::start(&tls_config, &name, go_on, now, self.wall) {
                        Ok(layer) => self.tls = Some(layer),
                        Err(failure) => {
                            // The probe asked for this handshake, so it takes the news.
                            let _ = self.probe.handle_tls_failed(now, failure);
                        }
                    }
                }
                Output::Timeout(deadline) => return SessionOutput::Timeout(deadline),
                Output::Done => {
                    if let Some(tls) = self.tls.as_mut().filter(|t| t.is_established() && !self.closing) {
                        self.closing = true;
                        tls.close();
                        continue;
                    }
                    return SessionOutput::Done;
                }
            }
        }
    }

    /// Hands what `handle_input` and `handle_eof` recorded to TLS, and what TLS makes of it to the probe (which
    /// records it in turn, for its own poll).
    fn pump(&mut self) {
        let Some(tls) = &mut self.tls else { return };
        if !self.received.is_empty() {
            let at = self.received_at;
            self.scratch.clear();
            let fed = tls.feed(&self.received, &mut self.scratch);
            self.received.clear();
            // The handshake may complete in the same read that carries the first application data (an implicit-TLS
            // greeting): tell the probe about TLS first, so that data counts as TLS data.
            if tls.poll_established() {
                let info = tls.info(at);
                // The probe asked for this handshake, so it accepts the news.
                let _ = self.probe.handle_tls_established(at, info);
            }
            if !self.scratch.is_empty() {
                self.probe.handle_input(at, &self.scratch);
            }
            match fed {
                Fed::Ok => {}
                Fed::Closed => self.probe.handle_eof(at),
                Fed::Failed(err) if !tls.is_established() => {
                    let failure = tls.failure(&err, at);
                    let _ = self.probe.handle_tls_failed(at, failure);
                }
                // TLS broke after the handshake: the connection is unusable, as if closed.
                Fed::Failed(_) => self.probe.handle_eof(at),
            }
        }
        if let Some(at) = self.closed_at.filter(|_| !self.close_delivered) {
            self.close_delivered = true;
            if tls.is_established() {
                self.probe.handle_eof(at);
            } else {
                let _ = self.probe.handle_tls_failed(at, TlsFailure::Closed);
            }
        }
    }

    /// The report: final once `poll_output` returned [`SessionOutput::Done`], the findings so far before that.
    pub fn report(&self) -> &Report {
        self.probe.report()
    }

    /// The report, without a copy: final once `poll_output` returned [`SessionOutput::Done`].
    pub fn into_report(self) -> Report {
        self.probe.into_report()
    }

    /// Whether the probe has finished.
    pub fn is_done(&self) -> bool {
        self.probe.is_done()
    }

    /// The next deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.probe.next_deadline()
    }
}
