//! Everything around a connection that is the same for every runtime, without doing any IO: which addresses to
//! try and in which order, which of them the [`AddressPolicy`] allows, how long each connect may take, what a
//! failed lookup or connect means as a [`Report`], and the rules of the byte pump (feature `rustls`).
#![cfg_attr(
    feature = "rustls",
    doc = "Adapters step through a [`Dialer`] (resolve, connect) and a [`Conversation`] (read, write, close) the way they would drive a [`Session`](crate::Session), and are left with socket, timer and DNS calls."
)]
#![cfg_attr(
    not(feature = "rustls"),
    doc = "Adapters step through a `Dialer` (resolve, connect) and a `Conversation` (read, write, close) the way they would drive a `Session`, and are left with socket, timer and DNS calls."
)]
//!
//! ```text
//! dialer = Dialer::new(config, ProbeStart::new(config, now, wall))
//! loop {
//!     match dialer.poll(now) {
//!         Resolve { deadline }       => resolve dialer.target() → handle_resolved / handle_resolve_failed
//!         Connect { addr, deadline } => connect → handle_connected → drive a Conversation::over it → handle_report
//!                                       or handle_connect_failed
//!         Done                       => return dialer.into_report()   (or into_reports(): one per address group)
//!     }
//! }
//! ```
//!
//! The rules the planner applies, so that no adapter has to:
//!
//! - **One overall deadline**, started before DNS ([`ProbeStart`]): it bounds the lookup, every connect attempt (each
//!   also bounded by the connect timeout) and the conversation. No connect is asked for once it has passed; the
//!   addresses left are reported as not tried.
//! - **Address policy** after resolution (literal targets included): denied addresses are never contacted; they are
//!   findings in the report, and when no address is left the probe is down with
//!   [`Cause::AddressDenied`](crate::Cause::AddressDenied).
//! - **Address families** per [`AddressFamily`](crate::AddressFamily): one group of addresses tried in turn until
//!   one connects, or one group per family with `Both`, each giving its own report.
//! - **Local faults** (no file descriptor, no buffer space, a local firewall; no DNS lookup could start) are
//!   [`Cause::LocalError`](crate::Cause::LocalError): the probe could not run, which is not the server's fault.
//! - **DNS lookups** that cannot be interrupted (the OS resolver) run on threads of their own, at most
//!   [`MAX_LOOKUPS`] at once per adapter, counting the ones abandoned at their deadline until they return: a
//!   resolver that hangs cannot pile threads up. A probe that gets no slot before its deadline reports
//!   [`ResolveFailure::NoLookupSlot`].

use core::net::SocketAddr;
use std::io;
use std::time::{Instant, SystemTime};

use crate::config::ProbeConfig;
use crate::report::{Finding, Phase, Report, Severity, Verdict};
use crate::target::Target;

#[cfg(feature = "rustls")]
mod conversation;
#[cfg(feature = "rustls")]
mod dialer;
mod fault;
#[cfg(feature = "rustls")]
mod mailbox;
mod policy;

#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use conversation::{Conversation, Io};
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use dialer::{Connection, Dial, Dialer, Reach};
pub use fault::local_fault;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use mailbox::{MailboxConnection, MailboxConversation, MailboxIo};
pub use policy::{AddressPolicy, AddressRangeError, DenialReason, Origin};

/// How many OS resolver lookups an adapter runs at once, the ones abandoned at their deadline included until
/// they return (see the [module docs](self)).
pub const MAX_LOOKUPS: usize = 32;

/// When a probe started, on both of the adapter's clocks, and the overall deadline that follows: handed through
/// resolving, connecting and the session, so that every report of the probe carries the same start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeStart {
    /// The monotonic instant, before DNS.
    pub at: Instant,
    /// The wall-clock time at that instant: the reports' `started_at`.
    pub wall: SystemTime,
    /// `at` plus the configured overall timeout.
    pub deadline: Instant,
}

impl ProbeStart {
    /// A probe of `config` starting at `at` (monotonic) and `wall` (the same moment on the wall clock).
    pub fn new(config: &ProbeConfig, at: Instant, wall: SystemTime) -> ProbeStart {
        ProbeStart { at, wall, deadline: crate::config::deadline_after(at, config.timeouts().overall) }
    }
}

/// A connect attempt that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectFailure {
    /// The OS said no.
    Io(io::Error),
    /// No answer before the attempt's deadline.
    TimedOut,
}

/// A name lookup that failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResolveFailure {
    /// The OS resolver's (or the runtime's) error.
    Io(io::Error),
    /// A resolver's own account of the failure: NXDOMAIN, SERVFAIL, no usable answer.
    Failed(String),
    /// No answer before the deadline.
    TimedOut,
    /// No lookup could start before the deadline: [`MAX_LOOKUPS`] earlier lookups were still running.
    NoLookupSlot,
}

/// The target as an address, when it is an IP literal (no DNS needed).
pub fn literal_address(target: &Target) -> Option<SocketAddr> {
    target.ip().map(|ip| SocketAddr::new(ip, target.port()))
}

/// One report standing for several (the per-family reports of
/// [`AddressFamily::Both`](crate::AddressFamily::Both)): the worst, with the others' verdicts noted. `None` for
/// no reports.
pub fn worst(mut reports: Vec<Report>) -> Option<Report> {
    let index = (0..reports.len()).max_by_key(|&i| (reports[i].verdict, std::cmp::Reverse(i)))?;
    let mut chosen = reports.swap_remove(index);
    for other in &reports {
        let message = format!(
            "{} was {}{}",
            other.address.as_deref().unwrap_or("another address"),
            other.verdict,
            other.cause.map(|c| format!(" ({c})")).unwrap_or_default()
        );
        let severity = if other.verdict == Verdict::Up { Severity::Info } else { Severity::Warning };
        chosen.add_finding(Finding {
            severity,
            cause: other.cause,
            phase: Some(Phase::Connect),
            message,
            server_text: None,
        });
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Cause;

    #[test]
    fn worst_of_several() {
        let up = Report::empty("mx:25".into(), SystemTime::UNIX_EPOCH, 0);
        let down = Report::without_session("mx:25", SystemTime::UNIX_EPOCH, Cause::DnsFailure, Phase::Resolve, "no");
        let chosen = worst(vec![up, down]).unwrap();
        assert_eq!(chosen.verdict, Verdict::Down);
        assert_eq!(chosen.findings.len(), 2);
        assert_eq!(chosen.findings[1].severity, Severity::Info, "the other report was up");
        assert!(worst(Vec::new()).is_none());
    }
}
