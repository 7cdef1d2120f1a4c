//! Target `policy_fetch`: the HTTP side of the MTA-STS policy fetch (what a policy host sends once TLS is up).

use std::time::Instant;

use crate::domain::fetch::{FetchError, PolicyFetch, PolicyFetchReport};
use crate::policy::mta_sts::POLICY_MAX_BYTES;

/// Target `policy_fetch`, at `now` (the fetch reads no clock). Input: the first byte is a piece size (0 is 1), the rest the response as the server sends
/// it, fed in pieces of that size and then as one piece, each followed by the end of the connection.
///
/// Checks: no panic; both feeds end with the same outcome, status and body size; never more than
/// [`POLICY_MAX_BYTES`] of body kept (plus the byte that proves it was exceeded); a policy only with status 200 and
/// a `text/plain` media type; a redirect is never a policy.
pub fn check(data: &[u8], now: Instant) -> PolicyFetchReport {
    let (size, response) = match data.split_first() {
        Some((&size, rest)) => (usize::from(size).max(1), rest),
        None => (1, &[][..]),
    };
    let pieced = feed(response.chunks(size), now);
    let whole = feed(std::iter::once(response), now);
    assert_eq!(pieced.outcome, whole.outcome, "pieces of {size} and one piece differ");
    assert_eq!((pieced.status, pieced.body_bytes), (whole.status, whole.body_bytes));
    assert!(pieced.body_bytes <= POLICY_MAX_BYTES + 1, "{} bytes kept", pieced.body_bytes);
    if pieced.outcome.is_ok() {
        assert_eq!(pieced.status, Some(200));
        let media = pieced.content_type.as_deref().unwrap_or("").split(';').next().unwrap_or("").trim().to_owned();
        assert!(media.eq_ignore_ascii_case("text/plain"), "{:?}", pieced.content_type);
    }
    if let Err(FetchError::Redirect { status, .. }) = &pieced.outcome {
        assert!((300..400).contains(status));
    }
    pieced
}

fn feed<'a>(pieces: impl Iterator<Item = &'a [u8]>, now: Instant) -> PolicyFetchReport {
    let mut fetch = PolicyFetch::plaintext(now);
    for piece in pieces {
        if fetch.is_done() {
            break;
        }
        fetch.handle_plaintext(piece, now);
    }
    fetch.handle_eof(now);
    fetch.into_report(now)
}
