//! Errors for the caller: setting a probe up ([`Error`] and the errors it gathers), and misuse of the drive API
//! ([`UsageError`]).
//!
//! What the *server* does wrong is never an error here: it is a finding in the [`Report`](crate::Report).

use std::time::Duration;

use crate::capabilities::AuthMechanism;
use crate::imap::ResponseLimits;
use crate::reply::ReplyLimits;

pub use crate::name::{DomainError, HostnameError};
pub use crate::target::TargetError;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use crate::tls::TlsConfigError;

/// Anything that can go wrong while setting a probe up: a target, a domain, TLS settings or a configuration
/// refused before anything is sent. Each setup error converts into it, so `?` works across them:
///
/// ```
/// use smtp_probe_proto::{Error, ProbeConfig, TargetError};
///
/// fn config(target: &str) -> Result<ProbeConfig, Error> {
///     Ok(ProbeConfig::builder(target.parse()?).ehlo_name("probe.example.org").build()?)
/// }
/// assert!(config("submission://mail.example.com").is_ok());
/// assert!(matches!(config("mail.example.com:0"), Err(Error::Target(TargetError::InvalidPort { .. }))));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A target that is not one.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A domain that is not one (MX mode).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A configuration refused when it was built.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An address range for the address policy that is not one.
    #[error(transparent)]
    AddressRange(#[from] crate::connect::AddressRangeError),
    /// TLS trust settings that could not be built.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

/// A configuration refused when it was built: a probe's ([`ProbeConfig`](crate::ProbeConfig)), a mailbox's
/// ([`MailboxConfig`](crate::imap::MailboxConfig)) or a round trip's ([`RoundTripConfig`](crate::RoundTripConfig)).
/// Nothing has been sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A caller-supplied string holds a byte that could inject or corrupt SMTP commands.
    #[error("{field} contains the forbidden byte {:?} (CR, LF, NUL, or in addresses also space, tab and angle brackets)", char::from(*byte))]
    ForbiddenByte {
        /// Which setting.
        field: &'static str,
        /// The offending byte.
        byte: u8,
    },
    /// A setting that must not be empty is.
    #[error("{field} must not be empty")]
    Empty {
        /// Which setting.
        field: &'static str,
    },
    /// The name to send as SNI and verify the certificate against is neither a valid DNS name nor an IP address.
    #[error("invalid TLS name {name:?}: {reason}")]
    InvalidTlsName {
        /// The name, as given.
        name: String,
        /// Why it is not valid.
        reason: String,
    },
    /// Credentials with TLS off, without the explicit override
    /// ([`allow_plaintext_auth`](crate::ProbeConfigBuilder::allow_plaintext_auth)).
    #[error(
        "AUTH without TLS would send credentials in the clear: enable STARTTLS or implicit TLS, or allow plaintext \
         AUTH explicitly"
    )]
    PlaintextAuth,
    /// An AUTH mechanism the probe cannot perform (only PLAIN and LOGIN are).
    #[error("the {mechanism} AUTH mechanism is not supported: only PLAIN and LOGIN are")]
    UnsupportedMechanism {
        /// The mechanism asked for.
        mechanism: AuthMechanism,
    },
    /// An envelope check, or a test message, without a sender or without a recipient.
    #[error("{}", incomplete_envelope(*missing, *test_message))]
    IncompleteEnvelope {
        /// What is missing.
        missing: EnvelopePart,
        /// Whether a test message was asked for (it needs the whole envelope).
        test_message: bool,
    },
    /// A timeout of zero, or longer than [`MAX_TIMEOUT`](crate::MAX_TIMEOUT) (24 h).
    #[error(
        "the {field} timeout of {value:?} is out of range: it must be greater than zero and at most {} h",
        max.as_secs() / 3600
    )]
    TimeoutOutOfRange {
        /// Which timeout: `connect`, `overall`, `greeting`, `reply`, `tls_handshake`, `data` or `quit` (a probe);
        /// `imap_connect`, `imap_greeting`, `imap_reply`, `imap_tls_handshake` or `imap_logout` (a mailbox);
        /// `round_trip_deadline` or `round_trip_cleanup` (a round trip).
        field: &'static str,
        /// The value given.
        value: Duration,
        /// The largest value allowed.
        max: Duration,
    },
    /// A limit that must be at least 1 is 0.
    #[error("the {field} limit must be at least 1")]
    ZeroLimit {
        /// Which limit: `mx hosts`, `mx addresses per host` or `mx concurrent`.
        field: &'static str,
    },
    /// Reply limits no SMTP server could be read with.
    #[error(
        "reply limits are too small for any SMTP server: {limits:?} (each must be at least 1, and max_buffered at \
         least {MIN_BUFFERED} bytes)"
    )]
    ReplyLimitsTooSmall {
        /// The limits given.
        limits: ReplyLimits,
    },
    /// A mailbox whose password could go over a connection without TLS (no TLS, or opportunistic STARTTLS), without
    /// the explicit override ([`allow_plaintext_login`](crate::imap::MailboxConfigBuilder::allow_plaintext_login)).
    #[error(
        "IMAP without required TLS could send the mailbox password in the clear: use implicit TLS or required \
         STARTTLS, or allow plaintext login explicitly"
    )]
    PlaintextLogin,
    /// A mailbox with the [`Both`](crate::AddressFamily::Both) address-family policy: a mailbox is read over one
    /// connection.
    #[error(
        "a mailbox is read over one connection: the address family `both` (one probe per family) is for SMTP \
         probes; use any, ipv4_only, ipv6_only, prefer_ipv4 or prefer_ipv6"
    )]
    MailboxFamilyBoth,
    /// The junk folder to search is the inbox itself.
    #[error("the junk folder {folder:?} is the inbox: name another folder, or none")]
    JunkFolderIsInbox {
        /// The folder, as given.
        folder: String,
    },
    /// A mailbox poll interval that starts at zero, ends below its start, or grows past
    /// [`MAX_TIMEOUT`](crate::MAX_TIMEOUT).
    #[error(
        "the poll interval from {initial:?} up to {max:?} is out of range: it must start above zero, and grow to at \
         least its start and at most 24 h"
    )]
    PollIntervalOutOfRange {
        /// The first wait given.
        initial: Duration,
        /// The longest wait given.
        max: Duration,
    },
    /// IMAP response limits no IMAP server could be read with.
    #[error(
        "IMAP response limits are too small for any IMAP server: {limits:?} (line at least {MIN_IMAP_LINE}, literal \
         at least {MIN_IMAP_LITERAL}, buffer at least line + literal, untagged at least {MIN_IMAP_UNTAGGED})"
    )]
    ResponseLimitsTooSmall {
        /// The limits given.
        limits: ResponseLimits,
    },
    /// A round trip's critical delivery time below its warning one.
    #[error("the critical delivery time of {critical:?} is below the warning one of {warning:?}")]
    DeliveryThresholdsInverted {
        /// The warning threshold given.
        warning: Duration,
        /// The critical threshold given.
        critical: Duration,
    },
    /// A round trip whose submission authenticates over opportunistic STARTTLS, which goes ahead over a certificate
    /// that does not verify, without the explicit override
    /// ([`allow_plaintext_auth`](crate::ProbeConfigBuilder::allow_plaintext_auth)).
    #[error(
        "the round trip's submission authenticates: use required STARTTLS or implicit TLS (opportunistic STARTTLS \
         would send the credentials over a certificate that did not verify), or allow plaintext AUTH explicitly"
    )]
    OpportunisticSubmissionAuth,
    /// A round-trip token that is empty or longer than 64 characters.
    #[error("a round-trip token has 1 to 64 characters, not {len}")]
    TokenLength {
        /// The length given, in bytes.
        len: usize,
    },
}

/// The smallest [`ReplyLimits::max_buffered`] a configuration accepts: room for a few whole reply lines.
pub(crate) const MIN_BUFFERED: usize = 512;

/// The smallest [`ResponseLimits::max_line_len`] a mailbox configuration accepts.
pub(crate) const MIN_IMAP_LINE: usize = 512;
/// The smallest [`ResponseLimits::max_literal`] a mailbox configuration accepts: room for a small header block.
pub(crate) const MIN_IMAP_LITERAL: usize = 1024;
/// The smallest [`ResponseLimits::max_untagged`] a mailbox configuration accepts: what a SELECT answers with.
pub(crate) const MIN_IMAP_UNTAGGED: usize = 16;

/// The part of an envelope that is missing ([`ConfigError::IncompleteEnvelope`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EnvelopePart {
    /// The sender (`mail_from`).
    Sender,
    /// A recipient (`rcpt_to`).
    Recipient,
}

fn incomplete_envelope(missing: EnvelopePart, test_message: bool) -> &'static str {
    match (missing, test_message) {
        (_, true) => "a test message needs a sender (mail_from) and at least one recipient (rcpt_to)",
        (EnvelopePart::Sender, false) => "recipients need a sender (mail_from)",
        (EnvelopePart::Recipient, false) => "a sender needs at least one recipient (rcpt_to)",
    }
}

/// The caller drove the probe in a way the drive protocol does not allow. The probe is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// `handle_tls_established`/`handle_tls_failed` called when the probe had not asked for TLS.
    #[error("TLS reported while the probe was not waiting for a TLS handshake")]
    TlsNotRequested,
    /// `handle_tls_established`/`handle_tls_failed` called a second time for the same handshake.
    #[error("the outcome of this TLS handshake was already reported")]
    TlsAlreadyReported,
    /// The probe has already finished.
    #[error("the probe has finished")]
    Finished,
}
