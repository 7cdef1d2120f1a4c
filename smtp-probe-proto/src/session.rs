//! [`Session`]: a [`Probe`] with TLS inside. What every adapter drives: raw socket bytes in, raw socket bytes
//! out, and deadlines — STARTTLS and implicit TLS are handled here, in memory, so adapters stay byte pumps.

use std::time::{Instant, SystemTime};

use crate::assess;
use crate::config::ProbeConfig;
use crate::probe::{Output, Probe};
use crate::report::Report;
use crate::tls_pump::TlsPump;

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
    pump: TlsPump,
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
        let pump = TlsPump::new(config.inner().limits.max_buffered, now, wall);
        Session { probe, config, pump }
    }

    /// Bytes read from the socket. Only recorded: the next poll processes them.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.pump.handle_input(&mut self.probe, now, bytes);
    }

    /// The peer closed the connection (or it was reset). Only recorded.
    pub fn handle_eof(&mut self, now: Instant) {
        self.pump.handle_eof(&mut self.probe, now);
    }

    /// A deadline passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.probe.handle_timeout(now);
    }

    /// The next thing to do. Decrypting, parsing and every decision happen here.
    pub fn poll_output(&mut self, now: Instant) -> SessionOutput {
        loop {
            if let Some(bytes) = self.pump.pump(&mut self.probe) {
                return SessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                Output::Transmit(bytes) => {
                    if let Some(plaintext) = self.pump.send(bytes) {
                        return SessionOutput::Transmit(plaintext);
                    }
                }
                Output::StartTls(request) => {
                    let name = request.tls_name.unwrap_or_else(|| self.config.target().host().to_owned());
                    let go_on = assess::handshake_goes_on(self.config.inner());
                    self.pump.start(&mut self.probe, &self.config.tls_config(), &name, go_on, now);
                }
                Output::Timeout(deadline) => return SessionOutput::Timeout(deadline),
                Output::Done if self.pump.close() => continue,
                Output::Done => return SessionOutput::Done,
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

crate::tls_pump::tls_peer_by_handlers!(Probe);
