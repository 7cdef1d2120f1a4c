//! What one check produced, in the shape the monitor keeps: a [`Status`], a cause from the probe's fixed
//! vocabulary, per-phase timings, TLS version, certificate days, reply codes, a one-line summary and the server's
//! own words. Server text is bounded and stripped of control characters here, once, before it is stored, shown or
//! sent anywhere.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::MonitorId;

/// A monitor's status as a check (or the incident state machine) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Everything checked passed.
    Up,
    /// It works, but something needs attention (4xx, slow, certificate expiring).
    Degraded,
    /// It does not work as required.
    Down,
    /// Nothing can be said: the monitor's own connectivity failed (canaries down) or the check could not run.
    /// Never counted for or against uptime.
    Unknown,
}

impl Status {
    /// `"up"`, `"degraded"`, `"down"` or `"unknown"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Unknown => "unknown",
        }
    }

    /// The status stored under this name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "up" => Status::Up,
            "degraded" => Status::Degraded,
            "down" => Status::Down,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }

    /// Degraded or down.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Degraded | Status::Down)
    }
}

impl From<smtp_probe_tokio::Verdict> for Status {
    fn from(v: smtp_probe_tokio::Verdict) -> Status {
        match v {
            smtp_probe_tokio::Verdict::Up => Status::Up,
            smtp_probe_tokio::Verdict::Degraded => Status::Degraded,
            smtp_probe_tokio::Verdict::Down => Status::Down,
        }
    }
}

/// How long one phase of the SMTP conversation took.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PhaseTiming {
    /// The phase's `snake_case` name (`connect`, `greeting`, `ehlo`, `tls_handshake`, ...).
    pub phase: String,
    /// Milliseconds.
    pub ms: u32,
}

/// The most bytes of server text kept per check or incident.
pub const MAX_SERVER_TEXT: usize = 512;
/// The most bytes of a summary kept per check.
pub const MAX_SUMMARY: usize = 300;
/// The most reply codes kept per check.
pub const MAX_REPLY_CODES: usize = 32;

/// The result of one check, ready to be stored and judged.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    /// Which monitor.
    pub monitor: MonitorId,
    /// When the check started.
    pub at: Timestamp,
    /// The verdict (`Unknown` when the monitor's own connectivity was in doubt).
    pub status: Status,
    /// The probe's primary cause (`snake_case`), when not up.
    pub cause: Option<String>,
    /// Whether this was the quick re-check confirming an earlier failure.
    pub recheck: bool,
    /// From connection to the last reply before QUIT, when the server answered.
    pub response_ms: Option<u32>,
    /// The whole check, DNS and connect included.
    pub total_ms: u32,
    /// Per-phase timings, in order.
    pub phases: Vec<PhaseTiming>,
    /// The negotiated TLS version, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    /// Whole days the leaf certificate has left (the earliest expiry over all hosts for `mx:` checks).
    pub cert_days_left: Option<i64>,
    /// Reply codes in order (greeting first).
    pub reply_codes: Vec<u16>,
    /// One line for people.
    pub summary: String,
    /// The server's words behind the verdict (or its greeting when up), sanitized.
    pub server_text: Option<String>,
    /// Round trips: from the submission server's acceptance to the message visible in the mailbox, when it
    /// arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_ms: Option<u32>,
    /// Round trips: whether the message landed in the junk folder (`false`: the inbox), when it arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub junk: Option<bool>,
    /// Domain checks: what was found published (MX hosts, MTA-STS, TLSA records), for the policy-change alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<Box<crate::published::Published>>,
}

impl CheckOutcome {
    /// An outcome that says nothing about the server: the check could not run (bad runtime configuration) or was
    /// judged while the monitor's own connectivity was down.
    pub fn unknown(monitor: MonitorId, at: Timestamp, why: &str) -> CheckOutcome {
        CheckOutcome {
            monitor,
            at,
            status: Status::Unknown,
            cause: None,
            recheck: false,
            response_ms: None,
            total_ms: 0,
            phases: Vec::new(),
            tls_version: None,
            cert_days_left: None,
            reply_codes: Vec::new(),
            summary: clip(why, MAX_SUMMARY),
            server_text: None,
            delivery_ms: None,
            junk: None,
            published: None,
        }
    }
}

/// Milliseconds of a duration, saturated to `u32`.
pub(crate) fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Server-controlled text made safe to keep and show: control characters (escape sequences included) become
/// spaces, runs of whitespace one space, and it is cut to `max` bytes on a character boundary with `…`.
pub fn clip(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() { ' ' } else { c };
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if out.len() + c.len_utf8() > max.saturating_sub(3) {
            out.push('…');
            return out;
        }
        out.push(c);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_strips_controls_and_bounds() {
        assert_eq!(clip("421 4.3.2\r\n  shutting\x1b[31m down", 100), "421 4.3.2 shutting [31m down");
        let long = "x".repeat(1000);
        let clipped = clip(&long, 20);
        assert!(clipped.len() <= 20, "{}", clipped.len());
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("ünïcödé", 9).chars().last(), Some('…'));
    }

    #[test]
    fn status_names_round_trip() {
        for s in [Status::Up, Status::Degraded, Status::Down, Status::Unknown] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
    }
}
