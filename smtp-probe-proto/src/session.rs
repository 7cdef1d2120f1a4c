//! [`Session`]: a [`Probe`] with TLS inside. What every adapter drives: raw socket bytes in, raw socket bytes
//! out, and deadlines — STARTTLS and implicit TLS are handled here, in memory, so adapters stay byte pumps.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::config::{ProbeConfig, TlsMode};
use crate::probe::{Output, Probe};
use crate::report::{Report, TlsFailure};
use crate::tls::{Fed, TlsLayer};

/// What the adapter must do next. Drain [`Session::poll_output`] until it returns `Timeout` or `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionOutput {
    /// Write all these bytes to the socket, then poll again.
    Transmit(Vec<u8>),
    /// Wait for socket bytes, end of stream, or this instant; report it with `handle_input`, `handle_eof` or
    /// `handle_timeout`, then poll again.
    Timeout(Instant),
    /// The probe is over: close the socket. Every later poll returns the same report (shared with the session, not
    /// copied: drop the session, then `Arc::unwrap_or_clone` owns it without a copy).
    Done(Arc<Report>),
}

/// A probe of one connection, TLS included.
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
/// let report = loop {
///     match session.poll_output(now) {
///         SessionOutput::Transmit(_) => session.handle_input(now, replies.next().unwrap()),
///         SessionOutput::Timeout(deadline) => session.handle_timeout(deadline),
///         SessionOutput::Done(report) => break report,
///         _ => unreachable!(),
///     }
/// };
/// assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::StarttlsUnavailable)));
/// # Ok::<(), smtp_probe_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct Session {
    probe: Probe,
    config: ProbeConfig,
    wall: SystemTime,
    tls: Option<TlsLayer>,
    scratch: Vec<u8>,
    closing: bool,
}

impl Session {
    /// A session on a connection established at `now`. `wall` is the current wall-clock time, against which
    /// certificates are checked and their days left counted.
    pub fn new(config: ProbeConfig, now: Instant, wall: SystemTime) -> Session {
        let overall_deadline = crate::config::deadline_after(now, config.timeouts().overall);
        Session::with_deadline(config, now, wall, overall_deadline)
    }

    /// As [`new`](Self::new), with the overall deadline given: adapters start it before DNS and connect.
    pub fn with_deadline(config: ProbeConfig, now: Instant, wall: SystemTime, overall_deadline: Instant) -> Session {
        let probe = Probe::with_deadline(config.clone(), now, overall_deadline);
        Session { probe, config, wall, tls: None, scratch: Vec::new(), closing: false }
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let Some(tls) = &mut self.tls else {
            self.probe.handle_input(now, bytes);
            return;
        };
        self.scratch.clear();
        let fed = tls.feed(bytes, &mut self.scratch);
        // The handshake may complete in the same read that carries the first application data (an implicit-TLS
        // greeting): tell the probe about TLS first, so that data counts as TLS data.
        if tls.poll_established() {
            let info = tls.info(now);
            // The probe asked for this handshake, so it accepts the news.
            let _ = self.probe.handle_tls_established(now, info);
        }
        if !self.scratch.is_empty() {
            self.probe.handle_input(now, &self.scratch);
        }
        match fed {
            Fed::Ok => {}
            Fed::Closed => self.probe.handle_eof(now),
            Fed::Failed(err) if !tls.is_established() => {
                let failure = tls.failure(&err, now);
                let _ = self.probe.handle_tls_failed(now, failure);
            }
            // TLS broke after the handshake: the connection is unusable, as if closed.
            Fed::Failed(_) => self.probe.handle_eof(now),
        }
    }

    /// The peer closed the connection (or it was reset).
    pub fn handle_eof(&mut self, now: Instant) {
        match &self.tls {
            Some(tls) if !tls.is_established() => {
                let _ = self.probe.handle_tls_failed(now, TlsFailure::Closed);
            }
            _ => self.probe.handle_eof(now),
        }
    }

    /// A deadline passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.probe.handle_timeout(now);
    }

    /// The next thing to do.
    pub fn poll_output(&mut self, now: Instant) -> SessionOutput {
        loop {
            if let Some(bytes) = self.tls.as_mut().and_then(TlsLayer::take_ciphertext) {
                return SessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                Output::Transmit(bytes) => match &mut self.tls {
                    Some(tls) => tls.write(&bytes),
                    None => return SessionOutput::Transmit(bytes),
                },
                Output::StartTls(request) => {
                    let name = request.server_name.unwrap_or_else(|| self.config.target().host().to_owned());
                    let tls_config = self.config.tls_config();
                    // Opportunistic STARTTLS is how MTAs deliver: they encrypt without verifying, so an invalid
                    // certificate there degrades the probe (and is reported in full) rather than stopping it.
                    let opportunistic = self.config.tls_mode() == TlsMode::StartTlsOpportunistic;
                    match TlsLayer::start(&tls_config, &name, opportunistic, now, self.wall) {
                        Ok(layer) => self.tls = Some(layer),
                        Err(failure) => {
                            let _ = self.probe.handle_tls_failed(now, failure);
                        }
                    }
                }
                Output::Timeout(deadline) => return SessionOutput::Timeout(deadline),
                Output::Done(report) => {
                    if let Some(tls) = self.tls.as_mut().filter(|t| t.is_established() && !self.closing) {
                        self.closing = true;
                        tls.close();
                        continue;
                    }
                    return SessionOutput::Done(report);
                }
            }
        }
    }

    /// The report so far (final once `Done` was returned).
    pub fn report(&self) -> &Report {
        self.probe.report()
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
