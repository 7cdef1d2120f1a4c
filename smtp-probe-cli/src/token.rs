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
    rfc5322(i64::try_from(secs).unwrap_or(0))
}

fn rfc5322(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322(1_798_484_185), "Mon, 28 Dec 2026 18:56:25 +0000");
    }

    #[test]
    fn tokens_differ() {
        let (a, b) = (unique_token(0), unique_token(1));
        assert_ne!(a, b);
        assert!(a.starts_with("smtp-probe-") && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }
}
