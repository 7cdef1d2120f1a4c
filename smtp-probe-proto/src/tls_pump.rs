//! The TLS pump both sessions ([`Session`](crate::Session) for SMTP, `MailboxSession` for IMAP) put between the
//! socket and their probe: `handle_*` only record ciphertext and closes; a poll feeds them to the in-memory
//! [`TlsLayer`] and hands the probe what came out, in the order it must hear it. One pump, so the rules that
//! keep credentials safe (handshake news before the data that came with it, a close during the handshake being a
//! failed handshake) are written once.

use std::time::{Instant, SystemTime};

use crate::error::UsageError;
use crate::report::{TlsFailure, TlsInfo};
use crate::tls::{Fed, TlsConfig, TlsLayer};

/// The largest TLS record on the wire: 16 KiB of data, 2 KiB of expansion, a 5-byte header (RFC 8446 §5.2): the
/// ciphertext a session buffers beyond the probe's own limit.
pub(crate) const MAX_TLS_RECORD: usize = 16 * 1024 + 2048 + 5;

/// What the pump tells a probe. Both probes have these as inherent methods; the ones returning a `Result` fail
/// only when the probe asked for no handshake, which the pump never reports without being asked.
pub(crate) trait TlsPeer {
    /// Plaintext bytes: before TLS, the socket's; after, the decrypted stream.
    fn peer_input(&mut self, now: Instant, bytes: &[u8]);
    /// The connection ended.
    fn peer_eof(&mut self, now: Instant);
    /// The handshake the probe asked for succeeded.
    fn peer_tls_established(&mut self, now: Instant, info: TlsInfo) -> Result<(), UsageError>;
    /// The handshake the probe asked for failed.
    fn peer_tls_failed(&mut self, now: Instant, failure: TlsFailure) -> Result<(), UsageError>;
    /// More ciphertext than `limit` bytes arrived between two polls.
    fn peer_overflow(&mut self, now: Instant, limit: usize);
}

/// Implements [`TlsPeer`] for a probe type by its inherent `handle_*` methods, which both probes have with the
/// same signatures.
macro_rules! tls_peer_by_handlers {
    ($probe:ty) => {
        impl $crate::tls_pump::TlsPeer for $probe {
            fn peer_input(&mut self, now: ::std::time::Instant, bytes: &[u8]) {
                self.handle_input(now, bytes);
            }

            fn peer_eof(&mut self, now: ::std::time::Instant) {
                self.handle_eof(now);
            }

            fn peer_tls_established(
                &mut self,
                now: ::std::time::Instant,
                info: $crate::report::TlsInfo,
            ) -> Result<(), $crate::error::UsageError> {
                self.handle_tls_established(now, info)
            }

            fn peer_tls_failed(
                &mut self,
                now: ::std::time::Instant,
                failure: $crate::report::TlsFailure,
            ) -> Result<(), $crate::error::UsageError> {
                self.handle_tls_failed(now, failure)
            }

            fn peer_overflow(&mut self, now: ::std::time::Instant, limit: usize) {
                self.handle_overflow(now, limit);
            }
        }
    };
}
pub(crate) use tls_peer_by_handlers;

/// The TLS side of a session: the layer once a handshake started, the ciphertext and close recorded for the
/// next poll.
#[derive(Debug)]
pub(crate) struct TlsPump {
    /// The wall-clock time certificates are checked against.
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
    /// Whether our close_notify was queued.
    closing: bool,
}

impl TlsPump {
    /// A pump for a probe that buffers at most `max_buffered` bytes itself (one TLS record more is allowed
    /// in ciphertext); `wall` is the time certificates are checked against.
    pub(crate) fn new(max_buffered: usize, now: Instant, wall: SystemTime) -> TlsPump {
        TlsPump {
            wall,
            tls: None,
            received: Vec::new(),
            received_at: now,
            max_received: max_buffered.saturating_add(MAX_TLS_RECORD),
            closed_at: None,
            close_delivered: false,
            scratch: Vec::new(),
            closing: false,
        }
    }

    /// Bytes read from the socket: plaintext goes to the probe's own (bounded) buffer, ciphertext is recorded
    /// for the next poll.
    pub(crate) fn handle_input(&mut self, peer: &mut impl TlsPeer, now: Instant, bytes: &[u8]) {
        if self.tls.is_none() {
            peer.peer_input(now, bytes);
            return;
        }
        if self.closed_at.is_some() || bytes.is_empty() {
            return;
        }
        if self.received.len().saturating_add(bytes.len()) > self.max_received {
            // More than a buffer's worth between two polls: the probe ends as its own full buffer would.
            peer.peer_overflow(now, self.max_received);
            return;
        }
        self.received.extend_from_slice(bytes);
        self.received_at = now;
    }

    /// The peer closed the connection: told at once without TLS, recorded for the next poll with it.
    pub(crate) fn handle_eof(&mut self, peer: &mut impl TlsPeer, now: Instant) {
        match &self.tls {
            None => peer.peer_eof(now),
            Some(_) => {
                self.closed_at.get_or_insert(now);
            }
        }
    }

    /// Starts the handshake the probe asked for; a configuration that cannot start one is the probe's news.
    pub(crate) fn start(&mut self, peer: &mut impl TlsPeer, config: &TlsConfig, name: &str, go_on: bool, now: Instant) {
        match TlsLayer::start(config, name, go_on, now, self.wall) {
            Ok(layer) => self.tls = Some(layer),
            Err(failure) => {
                // The probe asked for this handshake, so it takes the news.
                let _ = peer.peer_tls_failed(now, failure);
            }
        }
    }

    /// Hands what was recorded to TLS and what TLS makes of it to the probe; then the ciphertext to send, if
    /// any.
    pub(crate) fn pump(&mut self, peer: &mut impl TlsPeer) -> Option<Vec<u8>> {
        let tls = self.tls.as_mut()?;
        if !self.received.is_empty() {
            let at = self.received_at;
            self.scratch.clear();
            let fed = tls.feed(&self.received, &mut self.scratch);
            self.received.clear();
            // The handshake may complete in the same read that carries the first application data (an
            // implicit-TLS greeting): tell the probe about TLS first, so that data counts as TLS data.
            if tls.poll_established() {
                let info = tls.info(at);
                // The probe asked for this handshake, so it accepts the news.
                let _ = peer.peer_tls_established(at, info);
            }
            if !self.scratch.is_empty() {
                peer.peer_input(at, &self.scratch);
            }
            match fed {
                Fed::Ok => {}
                Fed::Closed => peer.peer_eof(at),
                Fed::Failed(err) if !tls.is_established() => {
                    let failure = tls.failure(&err, at);
                    let _ = peer.peer_tls_failed(at, failure);
                }
                // TLS broke after the handshake: the connection is unusable, as if closed.
                Fed::Failed(_) => peer.peer_eof(at),
            }
        }
        if let Some(at) = self.closed_at.filter(|_| !self.close_delivered) {
            self.close_delivered = true;
            if tls.is_established() {
                peer.peer_eof(at);
            } else {
                let _ = peer.peer_tls_failed(at, TlsFailure::Closed);
            }
        }
        tls.take_ciphertext()
    }

    /// Bytes the probe sends: encrypted when TLS is in use (`None`: poll again to get the ciphertext), else
    /// returned to be written as they are.
    pub(crate) fn send(&mut self, bytes: Vec<u8>) -> Option<Vec<u8>> {
        match &mut self.tls {
            Some(tls) => {
                tls.write(&bytes);
                None
            }
            None => Some(bytes),
        }
    }

    /// The probe is done: queues our close_notify once, on an established session. `true` when it did (poll
    /// again to send it).
    pub(crate) fn close(&mut self) -> bool {
        match self.tls.as_mut().filter(|t| t.is_established() && !self.closing) {
            Some(tls) => {
                self.closing = true;
                tls.close();
                true
            }
            None => false,
        }
    }
}
