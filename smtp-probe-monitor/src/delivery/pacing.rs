//! How fast and how often: exponential back-off with jitter, `Retry-After`, and a per-channel token bucket.
//! Plain arithmetic with the time passed in, like every decision in this crate (a rate-limiting crate would
//! bring its own clock; here the dispatcher's clock is the only one).

use std::time::Duration;

use crate::clock::Timestamp;

/// The delay before attempt `attempt + 1`, after `attempt` failures (1 = the first failure): `initial`
/// doubled per failure, at most `max`, then "equal jitter" — half fixed, half random (`random` in `0.0..1.0`),
/// so many alerts that failed together do not come back together.
pub fn backoff(attempt: u32, initial: Duration, max: Duration, random: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(31);
    let full = initial.saturating_mul(1u32 << doublings).min(max);
    let half = full / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

/// Reads a `Retry-After` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3). A date in the past is
/// zero; anything unreadable is `None`.
pub fn retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let when = when.duration_since(std::time::UNIX_EPOCH).ok()?;
    let when = Timestamp(i64::try_from(when.as_millis()).ok()?);
    Some(when.since(now))
}

/// A token bucket: `burst` messages at once, then `per_minute` spread evenly.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    capacity: f64,
    per_ms: f64,
    tokens: f64,
    at: Timestamp,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(per_minute: u32, burst: u32, now: Timestamp) -> TokenBucket {
        let capacity = f64::from(burst.max(1));
        TokenBucket { capacity, per_ms: f64::from(per_minute.max(1)) / 60_000.0, tokens: capacity, at: now }
    }

    fn refill(&mut self, now: Timestamp) {
        if now > self.at {
            let ms = (now.0 - self.at.0) as f64;
            self.tokens = (self.tokens + ms * self.per_ms).min(self.capacity);
            self.at = now;
        }
    }

    /// Takes a token if there is one.
    pub fn try_take(&mut self, now: Timestamp) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// When the next token is there (now, if there is one).
    pub fn next_at(&mut self, now: Timestamp) -> Timestamp {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            let ms = ((1.0 - self.tokens) / self.per_ms).ceil();
            now + Duration::from_millis(ms as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_half_jitter() {
        let (i, m) = (Duration::from_secs(10), Duration::from_secs(600));
        assert_eq!(backoff(1, i, m, 0.0), Duration::from_secs(5));
        assert_eq!(backoff(1, i, m, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(2, i, m, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(4, i, m, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(30, i, m, 1.0), m, "capped");
        assert_eq!(backoff(u32::MAX, i, m, 0.0), m / 2, "no overflow");
        assert_eq!(backoff(0, i, m, 1.0), i, "attempt 0 counts as the first");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Timestamp::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO), "in the past");
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let t0 = Timestamp(1_000_000);
        let mut b = TokenBucket::new(60, 3, t0); // one a second after three at once
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert_eq!(b.next_at(t0), t0 + Duration::from_secs(1));
        assert!(!b.try_take(t0 + Duration::from_millis(999)));
        assert!(b.try_take(t0 + Duration::from_millis(1000)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| b.try_take(later)).count(), 3);
    }
}
