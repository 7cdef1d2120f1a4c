//! A round trip's connection to its mailbox, by the rules of a probe's: [`Dialer::mailbox`] plans it (resolve, the
//! address policy, the address-family policy, connect deadlines, local faults), and a [`MailboxConversation`] is the
//! [`MailboxSession`] over it with the pump's rules of [`Io`](super::Io): write deadlines, when to acknowledge at
//! once, when to close.

use core::net::SocketAddr;
use std::time::{Duration, Instant};

use super::ProbeStart;
use super::dialer::{Dialed, Dialer};
use crate::imap::{MailboxConfig, MailboxReport, MailboxSession, MailboxSessionOutput};
use crate::roundtrip::RoundTripStart;

impl Dialer<MailboxConfig> {
    /// The planner of the connection to the mailbox of the round trip `run`: it starts with the run, and no connect
    /// is asked for once the run's search deadline has passed (the message could no longer be found in time).
    ///
    /// ```
    /// use std::time::{Instant, SystemTime};
    /// use smtp_probe_proto::connect::{ConnectFailure, Dial, Dialer};
    /// use smtp_probe_proto::imap::MailboxConfig;
    /// use smtp_probe_proto::roundtrip::RoundTripStart;
    /// use smtp_probe_proto::{Cause, ProbeConfig, RoundTripConfig, Secret, Target};
    ///
    /// let submit = ProbeConfig::builder("smtps://smtp.example.org".parse()?).mail_from("a@example.org")
    ///     .rcpt_to("b@example.net").build()?;
    /// let mailbox = MailboxConfig::builder(Target::new("192.0.2.8", 993)?, "b", Secret::new("p")).build()?;
    /// let config = RoundTripConfig::builder(submit, mailbox).build()?;
    /// let now = Instant::now();
    /// let run = RoundTripStart::new(&config, now, SystemTime::now(), 7);
    /// let mut dialer = Dialer::mailbox(config.mailbox(), &run);
    /// let Dial::Connect { addr, .. } = dialer.poll(now) else { panic!("an address needs no lookup") };
    /// assert_eq!(addr.to_string(), "192.0.2.8:993");
    /// dialer.handle_connect_failed(now, ConnectFailure::Io(std::io::ErrorKind::ConnectionRefused.into()));
    /// assert_eq!(dialer.poll(now), Dial::Done);
    /// let report = dialer.into_report();
    /// assert_eq!(report.cause, Some(Cause::MailboxUnavailable));
    /// assert_eq!(report.address.as_deref(), Some("192.0.2.8:993"));
    /// # Ok::<(), smtp_probe_proto::Error>(())
    /// ```
    pub fn mailbox(config: &MailboxConfig, run: &RoundTripStart) -> Dialer<MailboxConfig> {
        let start = ProbeStart { at: run.at, wall: run.wall, deadline: run.search_deadline };
        Dialer::planning(config.clone(), start)
    }

    /// The connection asked for by the last [`Dial::Connect`](super::Dial::Connect) is established: returns what a
    /// [`MailboxConversation::over`] it needs. The planner is done.
    pub fn handle_connected(&mut self, now: Instant) -> MailboxConnection {
        let (peer, dialed) = self.connected(now);
        MailboxConnection { config: self.reach().clone(), connected: now, peer, connect: dialed.map(Dialed::connect) }
    }

    /// The mailbox report when no connection was made: the failed lookup or connects, the denied addresses, a local
    /// fault. Causes that would blame the SMTP server's side are `mailbox_unavailable` here; `address_denied` and
    /// `local_error` stay what they are. Every finding is in the `imap_connect` phase.
    pub fn into_report(self) -> MailboxReport {
        let config = self.reach().clone();
        let wall = self.start().wall;
        let dialed = super::worst(self.reports());
        MailboxReport::not_connected(&config, dialed.unwrap_or_else(|| crate::Report::empty(String::new(), wall, 0)))
    }
}

/// A connection to a round trip's mailbox a [`Dialer`] made: what a [`MailboxConversation::over`] it needs.
#[derive(Debug, Clone)]
pub struct MailboxConnection {
    config: MailboxConfig,
    connected: Instant,
    peer: Option<SocketAddr>,
    connect: Option<Duration>,
}

/// What to do next with the mailbox's socket: the result of [`MailboxConversation::poll`]. The socket options and
/// the ACK policy are those of a probe ([`Io`](super::Io)).
///
/// The set of variants is closed: a driver handles each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxIo {
    /// Write all of `bytes`, giving up at `until` ([`MailboxConversation::handle_timeout`]); a failed write is the
    /// end of the stream ([`MailboxConversation::handle_eof`]). Then poll again.
    Write {
        /// What to send.
        bytes: Vec<u8>,
        /// When to give up: the session's next deadline, so a peer that stops reading cannot hold the run.
        until: Instant,
    },
    /// Read once, giving up at `until`: hand what came to [`MailboxConversation::handle_input`], a closed stream or
    /// an error to [`MailboxConversation::handle_eof`], the deadline to [`MailboxConversation::handle_timeout`].
    /// Then poll again.
    Read {
        /// When to give up.
        until: Instant,
        /// Set `TCP_QUICKACK` before this read (the ACK policy of [`Io`](super::Io)).
        quick_ack: bool,
    },
    /// Logged in with the inbox selected: submit the message now, keeping this connection open, then call
    /// [`handle_accepted`](MailboxConversation::handle_accepted) or
    /// [`handle_abandon`](MailboxConversation::handle_abandon) and poll again. Returned once.
    Ready,
    /// The check is over: close the socket (bounded by the run's deadline), then take the report with
    /// [`MailboxConversation::into_report`].
    Close,
}

/// The mailbox side of a round trip over one connection: the [`MailboxSession`] and the IO rules around it.
#[derive(Debug)]
pub struct MailboxConversation {
    session: MailboxSession,
    deadline: Instant,
    /// Input was handed to the session since the last write.
    fed: bool,
    peer: Option<SocketAddr>,
    connect: Option<Duration>,
}

impl MailboxConversation {
    /// The conversation of the round trip `run` over a connection its mailbox [`Dialer`] made.
    pub fn over(connection: MailboxConnection, run: &RoundTripStart) -> MailboxConversation {
        let MailboxConnection { config, connected, peer, connect } = connection;
        let session =
            MailboxSession::new(config, run.token.clone(), connected, run.wall, run.search_deadline, run.deadline);
        MailboxConversation { session, deadline: run.deadline, fed: false, peer, connect }
    }

    /// The next thing to do with the socket.
    pub fn poll(&mut self, now: Instant) -> MailboxIo {
        match self.session.poll_output(now) {
            MailboxSessionOutput::Transmit(bytes) => {
                self.fed = false;
                MailboxIo::Write { bytes, until: self.session.next_deadline().unwrap_or(self.deadline) }
            }
            MailboxSessionOutput::Timeout(until) => MailboxIo::Read { until, quick_ack: std::mem::take(&mut self.fed) },
            MailboxSessionOutput::Ready => MailboxIo::Ready,
            MailboxSessionOutput::Done => MailboxIo::Close,
        }
    }

    /// Bytes read from the socket.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.session.handle_input(now, bytes);
        self.fed = true;
    }

    /// The peer closed the connection, or reading or writing failed.
    pub fn handle_eof(&mut self, now: Instant) {
        self.session.handle_eof(now);
    }

    /// The `until` of a read or write passed first.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
    }

    /// After [`MailboxIo::Ready`]: the submission server accepted the message at `accepted_at`; search for it.
    pub fn handle_accepted(&mut self, now: Instant, accepted_at: Instant) {
        self.session.handle_accepted(now, accepted_at);
    }

    /// After [`MailboxIo::Ready`]: nothing was accepted; log out.
    pub fn handle_abandon(&mut self, now: Instant) {
        self.session.handle_abandon(now);
    }

    /// The run's deadline: closing the socket at the end should not take longer.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The mailbox report, with the peer's address and the connect time: final once [`poll`](Self::poll) returned
    /// [`MailboxIo::Close`].
    pub fn into_report(self) -> MailboxReport {
        let mut report = self.session.into_report();
        if let Some(peer) = self.peer {
            report.address = Some(peer.to_string());
        }
        report.connect = self.connect;
        report
    }
}
