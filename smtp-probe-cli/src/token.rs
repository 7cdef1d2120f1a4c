//! What a test message needs from the outside world: a token unique to this run and a `Date:` header.
//! The core reads no clock, so both are made here, from the wall clock and the process id.

use std::time::{SystemTime, UNIX_EPOCH};

/// A token unique to this run and target: `smtp-probe-<unix seconds>-<nanoseconds>-<pid>-<index>`.
pub fn unique_token(index: usize) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("smtp-probe-{}-{:09}-{}-{index}", now.as_secs(), now.subsec_nanos(), std::process::id())
}

/// The current time as an RFC 5322 date in UTC, e.g. `Sat, 28 Nov 2026 18:56:25 +0000`.
pub fn rfc5322_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    smtp_probe_tokio::proto::date::rfc5322(i64::try_from(secs).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ() {
        let (a, b) = (unique_token(0), unique_token(1));
        assert_ne!(a, b);
        assert!(a.starts_with("smtp-probe-") && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}
