//! The OS resolver (`getaddrinfo`), which cannot be interrupted: each lookup runs on a thread of its own, at most
//! [`MAX_LOOKUPS`] alive in the process at once. A probe whose deadline passes stops waiting; the thread keeps its
//! slot until the lookup returns, so a resolver that hangs cannot pile threads up.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

use smtp_probe_proto::Target;
use smtp_probe_proto::connect::{MAX_LOOKUPS, ResolveFailure};

/// Lookup threads alive, and a signal when one ends.
static ALIVE: Mutex<usize> = Mutex::new(0);
static ENDED: Condvar = Condvar::new();

/// One of the [`MAX_LOOKUPS`] slots, given back when dropped.
struct Slot;

impl Slot {
    /// Waits for a free slot until `deadline`.
    fn take(deadline: Instant) -> Option<Slot> {
        let mut alive = ALIVE.lock().unwrap_or_else(PoisonError::into_inner);
        while *alive >= MAX_LOOKUPS {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            alive = ENDED.wait_timeout(alive, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        *alive += 1;
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *ALIVE.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        ENDED.notify_one();
    }
}

/// The addresses of `target`'s host, unless `deadline` passes first.
pub(crate) fn resolve(target: &Target, deadline: Instant) -> Result<Vec<IpAddr>, ResolveFailure> {
    let slot = Slot::take(deadline).ok_or(ResolveFailure::NoLookupSlot)?;
    let (answer, answered) = mpsc::sync_channel(1);
    let (host, port) = (target.host().to_owned(), target.port());
    std::thread::Builder::new()
        .name("smtp-probe-dns".into())
        .spawn(move || {
            let _slot = slot; // until the lookup returns, whether anyone still waits for it or not
            let found = (host.as_str(), port).to_socket_addrs().map(|addrs| addrs.map(|a| a.ip()).collect());
            let _ = answer.send(found);
        })
        .map_err(ResolveFailure::Io)?;
    match answered.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(found) => found.map_err(ResolveFailure::Io),
        Err(RecvTimeoutError::Timeout) => Err(ResolveFailure::TimedOut),
        Err(RecvTimeoutError::Disconnected) => {
            Err(ResolveFailure::Failed("the lookup thread ended without an answer".into()))
        }
    }
}
