//! A scriptable loopback SMTP server for smtp-probe's tests, demo mode and
//! benchmarks.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use smtp_probe_testserver::Responder;
//!
//! let server = Responder::new().start()?; // 127.0.0.1, ephemeral port
//! let mut stream = std::net::TcpStream::connect(server.addr())?;
//! let mut reader = BufReader::new(stream.try_clone()?);
//! let mut greeting = String::new();
//! reader.read_line(&mut greeting)?;
//! assert_eq!(greeting, "220 mx.test ESMTP smtp-probe test server\r\n");
//!
//! stream.write_all(b"QUIT\r\n")?;
//! let mut bye = String::new();
//! reader.read_line(&mut bye)?;
//! assert_eq!(bye, "221 2.0.0 Bye\r\n");
//! assert_eq!(server.transcripts(), [["QUIT"]]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The server runs on its own thread with its own current-thread tokio
//! runtime, so it behaves the same under blocking tests, any async runtime and
//! a CLI. [`start`] (or [`Script::start`], [`Responder::start`],
//! [`ServerBuilder::start`]) binds `127.0.0.1:0` (or `[::1]:0`) and returns a
//! [`TestServer`] at once; dropping it stops the server and closes every
//! connection.
//!
//! Two behaviours:
//! - [`script`]: a fixed list of [`Step`]s per connection: send bytes
//!   verbatim, drip them, sleep, expect lines, STARTTLS, close, reset, hang.
//! - [`responder`]: a small, realistic ESMTP server with STARTTLS, implicit
//!   TLS, AUTH PLAIN/LOGIN, recipient checks, greylisting, delays, and a
//!   record of accepted messages.
//!
//! From an async test (any runtime) connect with that runtime's TCP stream to
//! [`TestServer::addr`] as usual; nothing needs to be spawned. The `wait_*`
//! methods block the calling thread, so in async tests call them once the
//! client side is done (they are never needed to make the server progress).
//! A CLI demo can use `ServerBuilder::new(responder).bind(fixed_addr).record(false)`
//! and keep the handle alive.
//!
//! Either way the handle records what every client sent
//! ([`TestServer::transcripts`], [`TestServer::connection_logs`]).
//! Certificates come from [`certs::TestPki`]. [`demo`] (feature `demo`) is the demo server `smtp-probe` probes
//! when given no target. MX-mode tests get their DNS from `dns` (feature `dns`): a tiny loopback DNS server.
//! Tests that need a real service read its env file through [`services`], which also decides whether a missing
//! service skips a test or fails it; [`domain_bed`] reads the domain check's loopback world: the DNSSEC bed of
//! `.ci/dns.sh` and the Exim of `.ci/exim.sh`.
//!
//! The suites the adapters share (conformance scenarios, Postfix interop cases, round trips through Dovecot, the
//! promtool and OpenMetrics checks) are in the dev-only crate `smtp-probe-testsuite`, built on these servers. This
//! crate does not depend on the probe's core, except for the demo's probe configuration (feature `demo`).
//! [`chromium`] loads a page on loopback in headless Chromium (`.ci/chromium.sh`) for a screenshot and the rendered
//! DOM.

pub mod certs;
pub mod chromium;
mod conn;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "dns")]
pub mod dns;
pub mod domain_bed;
pub mod policy_server;
pub mod responder;
pub mod script;
mod server;
pub mod services;

pub use certs::{CertSpec, IssuedBy, KeyType, TestCert, TestPki, Validity};
pub use responder::Responder;
pub use script::{Script, Step};
pub use server::{Behavior, ConnectionLog, ReceivedMessage, ServerBuilder, TestServer};

/// The rustls version the certificates and configs are made for.
pub use rustls;
/// The `time` version used in [`Validity::Between`] and [`TestCert::not_after`].
pub use time;
/// The tokio-rustls version matching [`rustls`].
pub use tokio_rustls;

/// Errors from setting up certificates or starting a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding, spawning the server thread or building its runtime failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// rcgen could not generate a key or certificate.
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls rejected a certificate/key or configuration.
    #[error("TLS configuration error: {0}")]
    Tls(#[from] rustls::Error),
    /// The server configuration is unusable (e.g. a non-loopback bind address).
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// Starts a server with this behaviour (a [`Script`], a `Vec<Script>` with one
/// script per connection, or a [`Responder`]) on `127.0.0.1:0`.
/// Use [`ServerBuilder`] for IPv6, a fixed port or no recording.
pub fn start(behavior: impl Into<Behavior>) -> Result<TestServer, Error> {
    ServerBuilder::new(behavior).start()
}
