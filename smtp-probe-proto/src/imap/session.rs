//! [`MailboxSession`]: a [`MailboxProbe`] with TLS inside — raw socket bytes in and out, like the SMTP
//! [`Session`](crate::Session), using the same TLS pump and certificate report.

use std::time::{Instant, SystemTime};

use crate::imap::config::MailboxConfig;
use crate::imap::probe::{MailboxOutput, MailboxProbe};
use crate::imap::report::MailboxReport;
use crate::roundtrip::Token;
use crate::tls_pump::TlsPump;

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
    pump: TlsPump,
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
        let pump = TlsPump::new(config.inner().limits.max_buffered, now, wall);
        MailboxSession { probe, config, pump }
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
            if let Some(bytes) = self.pump.pump(&mut self.probe) {
                return MailboxSessionOutput::Transmit(bytes);
            }
            match self.probe.poll_output(now) {
                MailboxOutput::Transmit(bytes) => {
                    if let Some(plaintext) = self.pump.send(bytes) {
                        return MailboxSessionOutput::Transmit(plaintext);
                    }
                }
                MailboxOutput::StartTls(request) => {
                    let name = request.tls_name.unwrap_or_else(|| self.config.target().host().to_owned());
                    // Never lenient here: the password follows. Inspect-only (a stated override) is the only way
                    // past a certificate that does not verify.
                    let tls_config = self.config.tls_config();
                    let go_on = tls_config.inspect_only();
                    self.pump.start(&mut self.probe, &tls_config, &name, go_on, now);
                }
                MailboxOutput::Timeout(deadline) => return MailboxSessionOutput::Timeout(deadline),
                MailboxOutput::Ready => return MailboxSessionOutput::Ready,
                MailboxOutput::Done if self.pump.close() => continue,
                MailboxOutput::Done => return MailboxSessionOutput::Done,
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

crate::tls_pump::tls_peer_by_handlers!(MailboxProbe);
