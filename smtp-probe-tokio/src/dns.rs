//! The OS resolver (`getaddrinfo`), which cannot be interrupted: each lookup runs on a thread of its own, at most
//! [`MAX_LOOKUPS`] in the process at once. A probe whose deadline passes stops waiting; the thread keeps its slot
//! until the lookup returns, so a resolver that hangs cannot pile threads up. Not tokio's `spawn_blocking`: a
//! runtime waits for its blocking tasks when it shuts down, and a hung lookup would hold the program's exit.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Instant;

use smtp_probe_proto::connect::{MAX_LOOKUPS, ResolveFailure};
use smtp_probe_proto::{AddressFamily, Target};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::timeout_at;

static SLOTS: Semaphore = Semaphore::const_new(MAX_LOOKUPS);

/// The OS resolver.
pub(crate) struct System;

impl crate::Resolve for System {
    /// Every address `getaddrinfo` gives; the planner applies the family policy.
    async fn resolve(
        &self,
        target: &Target,
        _: AddressFamily,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, ResolveFailure> {
        let Ok(Ok(slot)) = timeout_at(deadline.into(), SLOTS.acquire()).await else {
            return Err(ResolveFailure::NoLookupSlot);
        };
        let (answer, answered) = oneshot::channel();
        let (host, port) = (target.host().to_owned(), target.port());
        std::thread::Builder::new()
            .name("smtp-probe-dns".into())
            .spawn(move || {
                let _slot = slot; // until the lookup returns, whether anyone still waits for it or not
                let found = (host.as_str(), port).to_socket_addrs().map(|addrs| addrs.map(|a| a.ip()).collect());
                let _ = answer.send(found);
            })
            .map_err(ResolveFailure::Io)?;
        match timeout_at(deadline.into(), answered).await {
            Ok(Ok(found)) => found.map_err(ResolveFailure::Io),
            Ok(Err(_)) => Err(ResolveFailure::Failed("the lookup thread ended without an answer".into())),
            Err(_) => Err(ResolveFailure::TimedOut),
        }
    }
}
