//! Errors for the caller: a configuration that cannot be built, and misuse of the drive API.
//!
//! What the *server* does wrong is never an error here: it is a finding in the [`Report`](crate::Report).

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
