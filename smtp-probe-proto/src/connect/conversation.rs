//! [`Conversation`]: a [`Session`] over one connection, with the rules every adapter follows when it moves the
//! bytes, decided here once: how long a write may take, when to acknowledge at once, when to close. The socket
//! options and the ACK policy every adapter follows are told once, on [`Io`].

use core::net::SocketAddr;
use std::time::Instant;

use super::dialer::{Connection, Dialed};
use crate::config::ProbeConfig;
use crate::connect::ProbeStart;
use crate::report::Report;
use crate::session::{Session, SessionOutput};

/// What to do next with the socket: the result of [`Conversation::poll`].
///
/// The set of variants is closed: a driver handles each of them.
///
/// # Socket options and the ACK policy
///
/// Every adapter sets these on every connection it probes over (the ones it connects, and the TCP streams callers
/// hand it):
///
/// - **`TCP_NODELAY`**, before the first write. A command is one small segment and the probe waits for its reply:
///   with Nagle's algorithm on, a command written in pieces (TLS records) waits for the server's ACK of the
///   previous one, and that wait would be counted as the server's.
/// - **`TCP_QUICKACK`** (Linux), before a read when [`Io::Read`]'s `quick_ack` says so: after input was consumed
///   and the session still waits for more. A server that writes one reply in two pieces with Nagle's algorithm on
///   (OpenSSL's TLS 1.3 session tickets, then the EHLO reply) holds the second piece until the first is
///   acknowledged, and a delayed ACK costs ~40 ms that the report would show as the server's. Linux leaves quick-ACK
///   mode by itself, so the flag is set again each time. After a read that the probe answers with a command, no
///   quick ACK is needed: the command's own segment carries the ACK, which saves a system call and a bare ACK
///   packet per reply.
///
/// The tokio, blocking and smol adapters do both. async-std's `TcpStream` gives no access to its socket without
/// `unsafe` (the adapters forbid it), so under async-std there is no quick ACK, and a reply split by the server as
/// above can show ~40 ms more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Io {
    /// Write all of `bytes`, giving up at `until` ([`Conversation::handle_timeout`]); a failed write is the end of
    /// the stream ([`Conversation::handle_eof`]). Then poll again.
    Write {
        /// What to send.
        bytes: Vec<u8>,
        /// When to give up: the session's next deadline, so a peer that stops reading cannot hold the probe.
        until: Instant,
    },
    /// Read once, giving up at `until`: hand what came to [`Conversation::handle_input`], a closed stream or an
    /// error to [`Conversation::handle_eof`], the deadline to [`Conversation::handle_timeout`]. Then poll again.
    Read {
        /// When to give up.
        until: Instant,
        /// Set `TCP_QUICKACK` before this read (see the ACK policy above).
        quick_ack: bool,
    },
    /// The probe is over: close the socket (a clean shutdown, bounded by the overall deadline), then take the
    /// report with [`Conversation::into_report`] (and hand it to the [`Dialer`](super::Dialer), when one dialed).
    Close,
}

/// A probe over one connection: the [`Session`] and the IO rules around it.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use smtp_probe_proto::connect::{Conversation, Io, ProbeStart};
/// use smtp_probe_proto::{ProbeConfig, TlsMode, Verdict};
///
/// let config = ProbeConfig::builder("mx.example.com".parse()?).tls(TlsMode::None).build()?;
/// let now = Instant::now();
/// let mut conversation = Conversation::new(&config, now, ProbeStart::new(&config, now, SystemTime::now()), None);
/// let mut server = [&b"220 mx.example.com ESMTP\r\n"[..], b"250 mx.example.com\r\n", b"221 bye\r\n"].into_iter();
/// loop {
///     match conversation.poll(now) {
///         Io::Write { .. } => {}
///         Io::Read { .. } => conversation.handle_input(now, server.next().unwrap()),
///         Io::Close => break,
///     }
/// }
/// assert_eq!(conversation.into_report().verdict, Verdict::Up);
/// # Ok::<(), smtp_probe_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct Conversation {
    /// A few KiB: made where it is driven (an adapter's pump), not moved around.
    session: Session,
    deadline: Instant,
    /// Input was handed to the session since the last write.
    fed: bool,
    peer: Option<SocketAddr>,
    /// Set when a [`Dialer`](super::Dialer) made the connection: what it adds to the report.
    dialed: Option<Dialed>,
}

impl Conversation {
    /// A conversation of `config` over a connection established at `connected` to `peer` (when known), for a probe
    /// that started at `start`: its overall deadline bounds everything.
    #[inline] // so that the session is made (or its report taken) in place, not copied: it is a few KiB
    pub fn new(config: &ProbeConfig, connected: Instant, start: ProbeStart, peer: Option<SocketAddr>) -> Conversation {
        let session = Session::with_deadline(config.clone(), connected, start.wall, start.deadline);
        Conversation { session, deadline: start.deadline, fed: false, peer, dialed: None }
    }

    /// A conversation over a connection a [`Dialer`](super::Dialer) made (the [`Connection`] from its
    /// `handle_connected`): its report says where it connected and how long that took.
    #[inline]
    pub fn over(connection: Connection) -> Conversation {
        let Connection { config, connected, start, peer, dialed } = connection;
        let mut conversation = Conversation::new(&config, connected, start, peer);
        conversation.dialed = dialed;
        conversation
    }

    /// The next thing to do with the socket.
    pub fn poll(&mut self, now: Instant) -> Io {
        match self.session.poll_output(now) {
            SessionOutput::Transmit(bytes) => {
                self.fed = false;
                Io::Write { bytes, until: self.session.next_deadline().unwrap_or(self.deadline) }
            }
            SessionOutput::Timeout(until) => Io::Read { until, quick_ack: std::mem::take(&mut self.fed) },
            SessionOutput::Done => Io::Close,
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

    /// The overall deadline: closing the socket at the end should not take longer.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The report, with the peer's address (and, for a [`Dialer`](super::Dialer)'s connection, the connect time):
    /// final once [`poll`](Self::poll) returned [`Io::Close`].
    #[inline]
    pub fn into_report(self) -> Report {
        let mut report = self.session.into_report();
        if let Some(peer) = self.peer {
            report.address = Some(peer.to_string());
        }
        if let Some(dialed) = self.dialed {
            dialed.complete(&mut report);
        }
        report
    }
}
