//! The sans-IO core of smtp-probe: it tells whether an SMTP server can take mail, from bytes and time the caller
//! feeds in. No sockets, no clock, no runtime: adapters move bytes, this crate understands them.
//!
//! A whole probe, driven by hand from a scripted server's bytes to a [`Report`]:
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use smtp_probe_proto::{Output, Probe, ProbeConfig, TlsMode, Verdict};
//!
//! let config = ProbeConfig::builder("mx.example.com".parse()?)
//!     .tls(TlsMode::None)
//!     .ehlo_name("probe.example.org")
//!     .build()?;
//! // What the server says, in order; one reply for each command the probe sends.
//! let mut server = [
//!     &b"220 mx.example.com ESMTP ready\r\n"[..],
//!     b"250-mx.example.com\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
//!     b"221 2.0.0 Bye\r\n",
//! ]
//! .into_iter();
//!
//! let mut now = Instant::now(); // the caller's clocks; the probe only ever receives them
//! let mut probe = Probe::new(config, now, SystemTime::now());
//! probe.handle_input(now, server.next().unwrap()); // the greeting arrived
//! let report = loop {
//!     match probe.poll_output(now) {
//!         // A real adapter writes these bytes to the socket; here the next scripted reply comes back.
//!         Output::Transmit(bytes) => {
//!             now += Duration::from_millis(2);
//!             probe.handle_input(now, server.next().expect("one reply per command"));
//!             assert!(bytes.ends_with(b"\r\n"));
//!         }
//!         // Nothing to do until more bytes arrive or this deadline passes.
//!         Output::Timeout(deadline) => probe.handle_timeout(deadline),
//!         Output::StartTls(_) => panic!("TLS is off in this example"),
//!         Output::Done => break probe.into_report(),
//!     }
//! };
//! assert_eq!(report.verdict, Verdict::Up);
//! assert_eq!(report.cause, None);
//! assert_eq!(report.capabilities.as_ref().unwrap().size_limit, Some(10_240_000));
//! assert_eq!(report.steps.len(), 3); // greeting, EHLO, QUIT
//! # Ok::<(), smtp_probe_proto::Error>(())
//! ```
//!
//! The loop is always the same: feed what happened (`handle_input`, `handle_eof`, `handle_timeout`, and after an
//! [`Output::StartTls`] `handle_tls_established` or `handle_tls_failed`), then drain [`Probe::poll_output`] until
//! it returns [`Output::Timeout`] (wait for IO or that instant) or [`Output::Done`] (close the connection and take
//! the report with [`Probe::into_report`]). The `handle_*` methods only record; every decision is taken in
//! `poll_output`, so the order of events reported between two polls does not matter.
#![cfg_attr(
    feature = "rustls",
    doc = "[`Session`] is the same loop with TLS inside (feature `rustls`): what adapters drive."
)]
#![cfg_attr(
    not(feature = "rustls"),
    doc = "`Session` is the same loop with TLS inside (feature `rustls`): what adapters drive."
)]
//!
//! Round trips (does mail actually arrive?) have their own sans-IO pieces: [`imap`] (the mailbox side: a bounded IMAP
//! response parser and the [`MailboxProbe`](imap::MailboxProbe) state machine) and [`roundtrip`] (the token, the
//! configuration, and the [`RoundTripReport`] with its verdict).
//!
//! What the server does wrong is never an `Err` here: it is a [`Finding`] in the [`Report`], which ends with a
//! [`Verdict`] and one primary [`Cause`]. Errors are only for the caller: an [`Error`] while setting up (a
//! [`TargetError`], [`DomainError`], [`ConfigError`] or `TlsConfigError`, each convertible into it with `?`), a
//! [`UsageError`] when the drive protocol is misused.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod assess;
mod auth;
pub mod capabilities;
#[cfg(feature = "rustls")]
mod certificate;
pub mod command;
mod config;
pub mod connect;
pub mod date;
pub mod domain;
mod error;
pub mod imap;
mod message;
pub mod mx;
mod name;
pub mod policy;
mod probe;
mod queue_id;
pub mod reply;
mod report;
pub mod roundtrip;
#[cfg(feature = "serde")]
mod schema;
#[cfg(feature = "rustls")]
mod session;
mod target;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "rustls")]
mod tls;
#[cfg(feature = "rustls")]
mod tls_pump;
mod vocabulary;

pub use assess::{PolicyMode, PolicyOutcome, TlsPolicy};
pub use capabilities::{AuthMechanism, Capabilities, Keyword};
pub use command::Secret;
pub use config::{
    AddressFamily, AuthConfig, Envelope, EnvelopeAction, Expectations, MAX_TIMEOUT, ProbeConfig, ProbeConfigBuilder,
    Thresholds, Timeouts, TlsMode,
};
pub use connect::{AddressPolicy, AddressRangeError, Origin};
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use error::TlsConfigError;
pub use error::{ConfigError, DomainError, EnvelopePart, Error, HostnameError, TargetError, UsageError};
pub use mx::MxLimits;
pub use name::Domain;
pub use probe::{Output, Probe, TlsRequest};
pub use reply::{EnhancedCode, OwnedReply, Reply, ReplyCode, ReplyLimits, ReplyParser};
pub use report::{
    Cause, CertificateInfo, CertificateProblem, Direction, Finding, MAX_DESCRIBED_CERTIFICATES, MAX_SANS, Phase,
    Report, Severity, Step, TlsFailure, TlsInfo, TranscriptLine, UnparsedCertificate, Verdict,
};
pub use roundtrip::{RoundTripConfig, RoundTripConfigBuilder, RoundTripReport, Token};
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use session::{Session, SessionOutput};
pub use target::Target;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use tls::{TlsConfig, TlsConfigBuilder};
pub use vocabulary::UnknownName;
