//! [`MailboxSession`]: a [`MailboxProbe`] with TLS inside — raw socket bytes in and out, like the SMTP
//! [`Session`](crate::Session), using the same in-memory TLS layer and certificate report.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::imap::config::MailboxConfig;
use crate::imap::probe::{MailboxOutput, MailboxProbe};
use crate::imap::report::MailboxReport;
use crate::report::TlsFailure;
use crate::roundtrip::Token;
use crate::tls::{Fed, TlsLayer};

/// What the adapter must do next. Drain [`MailboxSession::poll_output`] until it returns `Timeout`, `Ready` or
/// `Done`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxSessionOutput {
    /// Write these bytes to the socket, then poll again.
    Transmit(Vec<u8>),
    /// Wait for socket bytes, end of stream, or this instant; report it, then poll again.
    Timeout(Instant),
    /// Logged in with the inbox selected: submit the message now, then call
    /// [`handle_accepted`](MailboxSession::handle_accepted) or [`handle_abandon`](MailboxSession::handle_abandon).
    Ready,
    /// The check is over: close the socket. Every later poll returns the same report.
    Done(Arc<MailboxReport>),
}

/// One mailbox check on one connection, TLS included.
#[derive(Debug)]
pub struct MailboxSession {
    probe: MailboxProbe,
    config: MailboxConfig,
    wall: SystemTime,
    tls: Option<TlsLayer>,
    scratch: Vec<u8>,
    closing: bool,
}

impl MailboxSession {
    /// A session on a connection established at `now`; `wall` is the wall-clock time certificates are checked
    /// against. See [`MailboxProbe::new`] for the deadlines.
    pub fn new(
        config: MailboxConfig,
        token: Token,
        now: Instant,
        wall: SystemTime,
        search_deadline: Instant,
        overall_deadline: Instant,
    ) -> MailboxSession {
        let probe = MailboxProbe::new(config.clone(), token, now, search_deadline, overall_deadline);
        MailboxSession { probe, config, wall, tls: None, scratch: Vec::new(), closing: false }
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let Some(tls) = &mut self.tls else {
            self.probe.handle_input(now, bytes);
            return;
        };
        self.scratch.clear();
        let fed = tls.feed(bytes, &mut self.scratch);
        if tls.poll_established() {
            let info = tls.info(now);
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
            Fed::Failed(_) => self.probe.handle_eof(now),
        }
    }

    /// The peer closed the connection.
    pub fn handle_eof(&mut self, now: Instant) {
        match &self.tls {
            Some(tls) if !tls.is_established() => {
                let _ = self.probe.handle_tls_failed(now, TlsFailure::Closed);
            }
            _ => self.probe.handle_eof(now),
        }
    }

    /// A deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.probe.handle_timeout(now);
    }

    /// The message was accepted at `accepted_at`: start searching.
    pub fn handle_accepted(&mut self, now: Instant, accepted_at: Instant) {
        self.probe.handle_accepted(now, accepted_at);
    }

    /// The message was not sent: log out.
    pub fn handle_abandon(&mut self, now: Instant) {
        self.probe.handle_abandon(now);
    }

    /// The next thing to do.
    pub fn poll_output(&mut self, now: Instant) -> MailboxSessionOutput {
        loop {
            if let Some(bytes) = self.tls.as_mut().and_then(TlsLayer::take_ciphertext) {
                return MailboxSessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                MailboxOutput::Transmit(bytes) => match &mut self.tls {
                    Some(tls) => tls.write(&bytes),
                    None => return MailboxSessionOutput::Transmit(bytes),
                },
                MailboxOutput::StartTls(request) => {
                    let name = request.server_name.unwrap_or_else(|| self.config.target().to_owned());
                    // Never lenient here: the password follows. Inspect-only (a stated override) is the only way
                    // past a certificate that does not verify.
                    match TlsLayer::start(&self.config.tls_config(), &name, false, now, self.wall) {
                        Ok(layer) => self.tls = Some(layer),
                        Err(failure) => {
                            let _ = self.probe.handle_tls_failed(now, failure);
                        }
                    }
                }
                MailboxOutput::Timeout(deadline) => return MailboxSessionOutput::Timeout(deadline),
                MailboxOutput::Ready => return MailboxSessionOutput::Ready,
                MailboxOutput::Done(report) => {
                    if let Some(tls) = self.tls.as_mut().filter(|t| t.is_established() && !self.closing) {
                        self.closing = true;
                        tls.close();
                        continue;
                    }
                    return MailboxSessionOutput::Done(report);
                }
            }
        }
    }

    /// The report so far.
    pub fn report(&self) -> &MailboxReport {
        self.probe.report()
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
