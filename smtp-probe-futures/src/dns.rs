//! The OS resolver, which cannot be interrupted, on the runtime's blocking threads: at most [`MAX_LOOKUPS`] lookups
//! alive in the process at once, the ones abandoned at their deadline counted until they return.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Instant;

use smtp_probe_proto::Target;
use smtp_probe_proto::connect::{MAX_LOOKUPS, ResolveFailure};

use crate::{Runtime, before};

/// Lookups alive, the ones abandoned at their deadline included.
static LOOKUPS: async_lock::Semaphore = async_lock::Semaphore::new(MAX_LOOKUPS);

/// The OS resolver on the runtime's blocking threads, bounded by [`LOOKUPS`] and `deadline`.
pub(crate) async fn resolve<R: Runtime>(
    runtime: &R,
    target: &Target,
    deadline: Instant,
) -> Result<Vec<IpAddr>, ResolveFailure> {
    let Some(slot) = before(runtime, deadline, LOOKUPS.acquire()).await else {
        return Err(ResolveFailure::NoLookupSlot);
    };
    let lookup = R::spawn_blocking(lookup(target.host().to_owned(), target.port(), slot));
    match before(runtime, deadline, lookup).await {
        Some(found) => found.map_err(ResolveFailure::Io),
        None => Err(ResolveFailure::TimedOut),
    }
}

/// The blocking lookup, holding its slot until it returns, whether anyone still waits for it or not. (A closure made
/// here rather than in the generic `resolve`, whose lifetimes it would carry, and the futures' `Send` with them.)
fn lookup(
    host: String,
    port: u16,
    slot: async_lock::SemaphoreGuard<'static>,
) -> impl FnOnce() -> io::Result<Vec<IpAddr>> + Send + 'static {
    move || {
        let _slot = slot;
        (host.as_str(), port).to_socket_addrs().map(|addrs| addrs.map(|a| a.ip()).collect())
    }
}
