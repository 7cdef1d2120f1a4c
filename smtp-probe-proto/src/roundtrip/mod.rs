//! Round trips: submit a message carrying a unique token, watch it arrive over IMAP, and judge what happened.
//!
//! The pieces, all without IO:
//! - [`Token`]: the unique value in the message's `X-Smtp-Probe-Token` header and subject.
//! - [`RoundTripConfig`]: where to submit (a [`ProbeConfig`](crate::ProbeConfig) with its target), which mailbox to
//!   read (a [`MailboxConfig`](crate::imap::MailboxConfig) with its own), the deadline and thresholds. The two sides
//!   are independent, so the message may leave through one provider and be read at another.
//! - [`RoundTripStart`]: one run's token, start and deadlines.
//! - [`RoundTripReport`]: the verdict (`up`, `degraded` late or in junk, `down` not delivered or not sent or the
//!   mailbox unreadable), submit timings for every SMTP phase, the end-to-end latency, per-hop delays from the
//!   `Received` headers and the `Authentication-Results` verdicts.
//!
//! Adapters run it: log in to the mailbox first (so a wrong IMAP password never leaves a message behind), submit
//! with the SMTP probe ([`RoundTripConfig::submit_config`]), then let the
#![cfg_attr(feature = "rustls", doc = "[`MailboxSession`](crate::imap::MailboxSession)")]
#![cfg_attr(not(feature = "rustls"), doc = "`MailboxSession` (feature `rustls`)")]
//! poll until the message shows up or the deadline passes, and put the pieces together with
//! [`RoundTripReport::assemble`].

mod config;
mod headers;
mod report;
mod start;

pub use config::{RoundTripConfig, RoundTripConfigBuilder};
pub use headers::{AuthResult, Hop, MAX_ITEMS, authentication_results, hops};
pub use report::{Delivery, RoundTripReport, RoundTripTimings};
pub use start::RoundTripStart;

use std::fmt;
use std::time::Duration;

use crate::error::ConfigError;

/// The header that carries the token (the SMTP probe's test message writes it).
pub const TOKEN_HEADER: &str = "X-Smtp-Probe-Token";

/// A round trip's unique token: 1 to 64 characters from `A-Z a-z 0-9 . _ -`, so it is safe in a header, a
/// subject, an IMAP search and a log line.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Token(String);

impl Token {
    /// Checks a caller-made token.
    pub fn new(value: impl Into<String>) -> Result<Token, ConfigError> {
        let value = value.into();
        if value.is_empty() || value.len() > 64 {
            return Err(ConfigError::TokenLength { len: value.len() });
        }
        if let Some(bad) = value.bytes().find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))) {
            return Err(ConfigError::ForbiddenByte { field: "round-trip token", byte: bad });
        }
        Ok(Token(value))
    }

    /// A fresh token, `smtp-probe-` and 22 base-32 digits, from the wall time and caller entropy (the core has no
    /// clock and no randomness: adapters pass the time and a random `u64`).
    pub fn generate(since_epoch: Duration, entropy: u64) -> Token {
        const DIGITS: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
        let millis = since_epoch.as_millis() as u64 & ((1 << 46) - 1);
        let mut value = (u128::from(millis) << 64) | u128::from(entropy);
        let mut out = *b"smtp-probe-0000000000000000000000";
        for slot in out[11..].iter_mut().rev() {
            *slot = DIGITS[(value & 31) as usize];
            value >>= 5;
        }
        Token(String::from_utf8(out.to_vec()).expect("ASCII"))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_safe_and_distinct() {
        let a = Token::generate(Duration::from_secs(1_700_000_000), 1);
        let b = Token::generate(Duration::from_secs(1_700_000_000), 2);
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 33);
        assert!(Token::new(a.as_str()).is_ok());
        assert_eq!(Token::new("a b"), Err(ConfigError::ForbiddenByte { field: "round-trip token", byte: b' ' }));
        assert!(Token::new("a\"b").is_err());
        assert_eq!(Token::new(""), Err(ConfigError::TokenLength { len: 0 }));
        assert_eq!(Token::new("x".repeat(65)), Err(ConfigError::TokenLength { len: 65 }));
        assert!(Token::new("x".repeat(64)).is_ok());
    }
}
