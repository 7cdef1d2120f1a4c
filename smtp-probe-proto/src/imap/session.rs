//! [`MailboxSession`]: a [`MailboxProbe`] with TLS inside — raw socket bytes in and out, like the SMTP
//! [`Session`](crate::Session), using the same in-memory TLS layer and certificate report.

use std::time::{Instant, SystemTime};

use crate::imap::config::MailboxConfig;
use crate::imap::probe::{MailboxOutput, MailboxProbe};
use crate::imap::report::MailboxReport;
use crate::report::TlsFailure;
use crate::roundtrip::Token;
use crate::session::MAX_TLS_RECORD;
use crate::tls::{Fed, TlsLayer};

/// What the adapter must do next. Drain [`MailboxSession::poll_output`] until it returns `Timeout`, `Ready` or
/// `Done`.
///
/// The set of variants is closed: a driver handles each of them, and a new one would be a breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxSessionOutput {
    /// Write all these bytes to the socket, then poll again.
    Transmit(Vec<u8>),
    /// Wait for socket bytes, end of stream, or this instant; report it with `handle_input`, `handle_eof` or
    /// `handle_timeout`, then poll again.
    Timeout(Instant),
    /// Logged in with the inbox selected: submit the message now (keeping this connection open), then call
    /// [`handle_accepted`](MailboxSession::handle_accepted) or [`handle_abandon`](MailboxSession::handle_abandon)
    /// and poll again. Returned once.
    Ready,
    /// The check is over: close the socket, then take the report with [`MailboxSession::into_report`]. Every later
    /// poll returns `Done` again.
    Done,
}

/// One mailbox check on one connection, TLS included.
///
/// As with [`MailboxProbe`], `handle_*` only record (ciphertext is buffered, up to the configured
/// [`max_buffered`](crate::imap::ResponseLimits::max_buffered) plus one TLS record); `poll_output` decrypts,
/// parses and decides.
#[derive(Debug)]
pub struct MailboxSession {
    probe: MailboxProbe,
    config: MailboxConfig,
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

impl MailboxSession {
    /// A session on a connection established at `now`; `wall` is the wall-clock time certificates are checked
    /// against. See [`MailboxProbe::new`] for the token and the deadlines.
    pub fn new(
        config: MailboxConfig,
        token: Token,
        now: Instant,
        wall: SystemTime,
        search_deadline: Instant,
        overall_deadline: Instant,
    ) -> MailboxSession {
        let probe = MailboxProbe::new(config.clone(), token, now, search_deadline, overall_deadline);
        let max_received = config.inner().limits.max_buffered.saturating_add(MAX_TLS_RECORD);
        MailboxSession {
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
            // More than a response buffer's worth between two polls: the check ends as its own full buffer would.
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

    /// The message was accepted at `accepted_at`: the next poll starts searching.
    pub fn handle_accepted(&mut self, now: Instant, accepted_at: Instant) {
        self.probe.handle_accepted(now, accepted_at);
    }

    /// The message was not sent: the next poll logs out.
    pub fn handle_abandon(&mut self, now: Instant) {
        self.probe.handle_abandon(now);
    }

    /// The next thing to do. Decrypting, parsing and every decision happen here.
    pub fn poll_output(&mut self, now: Instant) -> MailboxSessionOutput {
        loop {
            self.pump();
            if let Some(bytes) = self.tls.as_mut().and_then(TlsLayer::take_ciphertext) {
                return MailboxSessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                MailboxOutput::Transmit(bytes) => match &mut self.tls {
                    Some(tls) => tls.write(&bytes),
                    None => return MailboxSessionOutput::Transmit(bytes),
                },
                MailboxOutput::StartTls(request) => {
                    let name = request.tls_name.unwrap_or_else(|| self.config.target().host().to_owned());
                    // Never lenient here: the password follows. Inspect-only (a stated override) is the only way
                    // past a certificate that does not verify.
                    let tls_config = self.config.tls_config();
                    let go_on = tls_config.inspect_only();
                    match TlsLayer::start(&tls_config, &name, go_on, now, self.wall) {
                        Ok(layer) => self.tls = Some(layer),
                        Err(failure) => {
                            // The probe asked for this handshake, so it takes the news.
                            let _ = self.probe.handle_tls_failed(now, failure);
                        }
                    }
                }
                MailboxOutput::Timeout(deadline) => return MailboxSessionOutput::Timeout(deadline),
                MailboxOutput::Ready => return MailboxSessionOutput::Ready,
                MailboxOutput::Done => {
                    if let Some(tls) = self.tls.as_mut().filter(|t| t.is_established() && !self.closing) {
                        self.closing = true;
                        tls.close();
                        continue;
                    }
                    return MailboxSessionOutput::Done;
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
            // The handshake may complete in the same read that carries the first data (an implicit-TLS greeting):
            // tell the probe about TLS first, so that data counts as TLS data.
            if tls.poll_established() {
                let info = tls.info(at);
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

    /// The report: final once `poll_output` returned [`MailboxSessionOutput::Done`], the findings so far before
    /// that.
    pub fn report(&self) -> &MailboxReport {
        self.probe.report()
    }

    /// The report, without a copy: final once `poll_output` returned [`MailboxSessionOutput::Done`].
    pub fn into_report(self) -> MailboxReport {
        self.probe.into_report()
    }

    /// Whether the check has finished.
    pub fn is_done(&self) -> bool {
        self.probe.is_done()
    }

    /// The next deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.probe.next_deadline()
    }
}
