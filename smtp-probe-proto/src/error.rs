//! Errors for the caller: setting a probe up ([`Error`] and the errors it gathers), and misuse of the drive API
//! ([`UsageError`]).
//!
//! What the *server* does wrong is never an error here: it is a finding in the [`Report`](crate::Report).

pub use crate::name::{DomainError, HostnameError};
pub use crate::target::TargetError;
#[cfg(feature = "rustls")]
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
    /// TLS trust settings that could not be built.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
}

/// A configuration refused when it was built. Nothing has been sent.
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
    /// Settings that contradict each other or a safety rule.
    #[error("{0}")]
    Conflict(&'static str),
}

/// The caller drove the probe in a way the drive protocol does not allow. The probe is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// `handle_tls_established`/`handle_tls_failed` called when the probe had not asked for TLS.
    #[error("TLS reported while the probe was not waiting for a TLS handshake")]
    TlsNotRequested,
    /// The probe has already finished.
    #[error("the probe has finished")]
    Finished,
}
