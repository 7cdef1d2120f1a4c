//! [`RoundTripStart`]: one run of a round trip, as it starts.

use std::time::{Instant, SystemTime};

use crate::config::deadline_after;
use crate::roundtrip::{RoundTripConfig, Token};

/// When a round-trip run started, on both of the adapter's clocks, its token, and the deadlines that follow: made
/// once, before the mailbox's name is resolved, and handed through the mailbox session, the submission and the
/// report, as [`ProbeStart`](crate::connect::ProbeStart) is for a probe.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use smtp_probe_proto::imap::MailboxConfig;
/// use smtp_probe_proto::roundtrip::RoundTripStart;
/// use smtp_probe_proto::{ProbeConfig, RoundTripConfig, Secret, Target};
///
/// let submit = ProbeConfig::builder("smtps://smtp.example.org".parse()?).mail_from("a@example.org")
///     .rcpt_to("b@example.net").build()?;
/// let mailbox = MailboxConfig::builder(Target::new("imap.example.net", 993)?, "b", Secret::new("p")).build()?;
/// let config = RoundTripConfig::builder(submit, mailbox).deadline(Duration::from_secs(30)).build()?;
/// let at = Instant::now();
/// let run = RoundTripStart::new(&config, at, SystemTime::now(), 42); // 42: the adapter's random number
/// assert_eq!(run.search_deadline, at + Duration::from_secs(30));
/// assert_eq!(run.deadline, run.search_deadline + config.cleanup_time());
/// assert!(run.token.as_str().starts_with("smtp-probe-"));
/// # Ok::<(), smtp_probe_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTripStart {
    /// The run's token, in the test message and in every search.
    pub token: Token,
    /// The monotonic instant the run started.
    pub at: Instant,
    /// The wall-clock time at that instant: the report's `started_at` and the test message's `Date:`.
    pub wall: SystemTime,
    /// By when the message must be visible: `at` plus the configured deadline.
    pub search_deadline: Instant,
    /// By when the run is over, fetching, deleting and logging out included: `search_deadline` plus the cleanup
    /// time.
    pub deadline: Instant,
}

impl RoundTripStart {
    /// A run of `config` starting at `at` (monotonic) and `wall` (the same moment on the wall clock), with a token
    /// made from the wall time and `entropy`, a random number from the caller (the core has no randomness).
    pub fn new(config: &RoundTripConfig, at: Instant, wall: SystemTime, entropy: u64) -> RoundTripStart {
        let since_epoch = wall.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let search_deadline = deadline_after(at, config.deadline());
        RoundTripStart {
            token: Token::generate(since_epoch, entropy),
            at,
            wall,
            search_deadline,
            deadline: deadline_after(search_deadline, config.cleanup_time()),
        }
    }
}
