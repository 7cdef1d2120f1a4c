//! [`RoundTripReport`]: did the message arrive, where, how fast, and what the servers on the way said about it.

use std::time::{Duration, SystemTime};

use crate::imap::MailboxReport;
use crate::report::{Cause, Finding, Phase, Report, Severity, Verdict, primary_finding, record_finding, verdict_line};
use crate::roundtrip::headers::{self, AuthResult, Hop};
use crate::roundtrip::{RoundTripConfig, RoundTripStart, Token};

/// Where the time went, each from the start of the run unless said otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundTripTimings {
    /// Until logged in to the mailbox with the inbox selected.
    pub mailbox_ready: Option<Duration>,
    /// Until the submission began.
    pub submit_started: Option<Duration>,
    /// The submission itself, from its start (DNS included) to its end (QUIT included). Every SMTP phase is in
    /// the submit report's steps.
    pub submit: Option<Duration>,
    /// Until the submission server accepted the message (its `250` to the data).
    pub accepted: Option<Duration>,
    /// From acceptance to the search that found the message: the end-to-end latency.
    pub end_to_end: Option<Duration>,
    /// From acceptance to the last search that did not find it yet: the latency is at least this.
    pub not_visible_after: Option<Duration>,
    /// The whole run.
    pub total: Duration,
}

impl RoundTripTimings {
    /// When the message was accepted, from the run's start: `submit_started` plus the submission's time up to its
    /// acceptance, which is its measured length (`submit_elapsed`) less what the report says came after the
    /// acceptance (`total - message_accepted`, i.e. QUIT and the close). `None` when nothing was accepted.
    pub fn accepted_from(submit_started: Duration, submit_elapsed: Duration, submit: &Report) -> Option<Duration> {
        let accepted = submit.message_accepted?;
        let after = submit.total.saturating_sub(accepted);
        Some(submit_started + submit_elapsed.saturating_sub(after))
    }
}

/// The delivered message, as the mailbox showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The folder it landed in.
    pub folder: String,
    /// Whether that is the junk folder.
    pub junk: bool,
    /// The submission server's queue id (from its `250`), to find the message in its logs.
    pub queue_id: Option<String>,
    /// The server's INTERNALDATE for it, Unix seconds.
    pub stored_at: Option<i64>,
    /// The hops in its `Received` headers, oldest first, with the delay at each.
    pub hops: Vec<Hop>,
    /// Every `Authentication-Results` verdict on it.
    pub authentication: Vec<AuthResult>,
}

impl Delivery {
    /// The first result for `method` (`"spf"`, `"dkim"`, `"dmarc"`), e.g. `Some("pass")`.
    pub fn auth_result(&self, method: &str) -> Option<&str> {
        self.authentication.iter().find(|r| r.method == method).map(|r| r.result.as_str())
    }
}

/// Everything a round trip learned, with one verdict.
///
/// With the `serde` feature it serializes as the documented JSON object (the crate's `JSON-SCHEMA.md`, "Round
/// trip", validated by the `round_trip_report` definition of `schema/report.schema.json`), `summary` included.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundTripReport {
    /// The message's token.
    pub token: Token,
    /// The submission server as configured (`host:port`), whether or not anything was submitted: with the
    /// mailbox's target, what names the round trip.
    pub submit_target: String,
    /// The wall-clock time the run started (before the mailbox's name was resolved), so a kept report can be aged.
    pub started_at: SystemTime,
    /// `up`: delivered to the inbox in time; `degraded`: late, in junk, or a warning on either side; `down`: not
    /// delivered by the deadline, not sent, or the mailbox could not be read.
    pub verdict: Verdict,
    /// The primary cause.
    pub cause: Option<Cause>,
    /// What weighs on the verdict from both sides, and the round trip's own findings, in order.
    pub findings: Vec<Finding>,
    /// The submission: every SMTP phase timed, TLS, the queue id. `None` when nothing was sent (the mailbox
    /// could not be opened first).
    pub submit: Option<Report>,
    /// The mailbox side: IMAP steps, TLS, searches, cleanup.
    pub mailbox: MailboxReport,
    /// Where and how the message arrived, when it did.
    pub delivery: Option<Delivery>,
    /// Where the time went.
    pub timings: RoundTripTimings,
}

impl RoundTripReport {
    /// Puts the sides of the run `run` together and judges. Warnings and failures of either side count; on top:
    /// `not_delivered` when the message was accepted and the mailbox was read to the deadline without it,
    /// `delivered_to_junk`, and `slow_delivery` past the configured thresholds. "Delivered" is never claimed
    /// unless the mailbox was read.
    pub fn assemble(
        config: &RoundTripConfig,
        run: &RoundTripStart,
        submit: Option<Report>,
        mailbox: MailboxReport,
        mut timings: RoundTripTimings,
    ) -> RoundTripReport {
        let mut verdict = Verdict::Up;
        let mut cause = None;
        let mut findings = Vec::new();
        let mut add = |finding: Finding| record_finding(&mut verdict, &mut cause, &mut findings, finding);
        let weighs = |f: &&Finding| f.severity >= Severity::Warning;
        let accepted = submit.as_ref().is_some_and(|s| s.message_token.is_some());
        if let Some(submit) = &submit {
            submit.findings.iter().filter(weighs).cloned().for_each(&mut add);
            if !accepted && submit.verdict == Verdict::Up {
                // Cannot happen with a test message configured; never let it pass as a success.
                add(finding(Severity::Critical, Cause::DataRejected, Phase::Message, "the message was not accepted"));
            }
        }
        mailbox.findings.iter().filter(weighs).cloned().for_each(&mut add);
        let message = mailbox.message.as_ref();
        if let Some(found) = message {
            timings.end_to_end = found.visible_after;
            timings.not_visible_after = found.not_visible_after;
        }
        let mut delivery = None;
        if accepted && mailbox.mailbox_read() {
            match message {
                None => {
                    let inbox = config.mailbox().inbox();
                    let folders = match config.mailbox().junk_folder() {
                        Some(junk) => format!("{inbox} nor in {junk}"),
                        None => inbox.to_owned(),
                    };
                    let waited = timings.accepted.map(|a| timings.total.saturating_sub(a)).unwrap_or_default();
                    let message = format!(
                        "the message was accepted but is not in {folders} {} ms later ({} searches); deadline {} s",
                        waited.as_millis(),
                        mailbox.searches,
                        config.deadline().as_secs_f64()
                    );
                    add(finding(Severity::Critical, Cause::NotDelivered, Phase::Delivery, &message));
                }
                Some(found) => {
                    let latency = found.visible_after.unwrap_or_default();
                    if found.junk {
                        let message = format!(
                            "the message arrived in the junk folder {} after {} ms",
                            found.folder,
                            latency.as_millis()
                        );
                        add(finding(Severity::Warning, Cause::DeliveredToJunk, Phase::Delivery, &message));
                    }
                    let (warning, critical) = config.delivery_thresholds();
                    let late = match (critical, warning) {
                        (Some(c), _) if latency > c => Some((Severity::Critical, c)),
                        (_, Some(w)) if latency > w => Some((Severity::Warning, w)),
                        _ => None,
                    };
                    if let Some((severity, limit)) = late {
                        let message = format!(
                            "delivered after {} ms, over the {} ms threshold",
                            latency.as_millis(),
                            limit.as_millis()
                        );
                        add(finding(severity, Cause::SlowDelivery, Phase::Delivery, &message));
                    }
                    let raw = found.headers.as_bytes();
                    delivery = Some(Delivery {
                        folder: found.folder.clone(),
                        junk: found.junk,
                        queue_id: submit.as_ref().and_then(|s| s.queue_id.clone()),
                        stored_at: found.internal_date,
                        hops: headers::hops(raw),
                        authentication: headers::authentication_results(raw),
                    });
                }
            }
        }
        RoundTripReport {
            token: run.token.clone(),
            submit_target: config.submit().target().to_string(),
            started_at: run.wall,
            verdict,
            cause,
            findings,
            submit,
            mailbox,
            delivery,
            timings,
        }
    }

    /// The finding that set the verdict, if not up.
    pub fn primary_finding(&self) -> Option<&Finding> {
        primary_finding(self.verdict, &self.findings)
    }

    /// One line for people: `up: delivered to INBOX in 48 ms (queued as 4Xyz)`, or the primary finding as
    /// `down: not_delivered (delivery): …`.
    pub fn summary(&self) -> String {
        if let Some(f) = self.primary_finding() {
            return verdict_line(self.verdict, f);
        }
        match (&self.delivery, self.timings.end_to_end) {
            (Some(d), Some(latency)) => {
                let queued = d.queue_id.as_deref().map(|q| format!(" (queued as {q})")).unwrap_or_default();
                format!("{}: delivered to {} in {} ms{queued}", self.verdict, d.folder, latency.as_millis())
            }
            _ => format!("{}: round trip {}", self.verdict, self.token),
        }
    }
}

fn finding(severity: Severity, cause: Cause, phase: Phase, message: &str) -> Finding {
    Finding { severity, cause: Some(cause), phase: Some(phase), message: message.to_owned(), server_text: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    use crate::imap::{FoundMessage, MailboxConfig};
    use crate::{ProbeConfig, Secret};

    fn config() -> RoundTripConfig {
        let submit = ProbeConfig::builder("submission://smtp.example.org".parse().unwrap())
            .mail_from("a@example.org")
            .rcpt_to("b@example.net")
            .build()
            .unwrap();
        let mailbox = MailboxConfig::builder("imap.example.net:993".parse().unwrap(), "b", Secret::new("p"))
            .junk_folder("Junk")
            .build()
            .unwrap();
        RoundTripConfig::builder(submit, mailbox)
            .delivery_time(Some(Duration::from_secs(2)), Some(Duration::from_secs(5)))
            .build()
            .unwrap()
    }

    fn run() -> RoundTripStart {
        #[allow(clippy::disallowed_methods)] // a test may read the clock to find an instant to start from
        let at = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        RoundTripStart { token: Token::new("t").unwrap(), ..RoundTripStart::new(&config(), at, wall, 0) }
    }

    fn accepted() -> Report {
        let mut report = Report::empty("smtp.example.org:587".into(), SystemTime::UNIX_EPOCH, 0);
        report.message_token = Some("t".into());
        report.queue_id = Some("4Xyz".into());
        report
    }

    fn mailbox(found: Option<(&str, bool, u64)>) -> MailboxReport {
        let mut mailbox = MailboxReport::empty("imap.example.net:993".into());
        mailbox.ready = Some(Duration::from_millis(20));
        mailbox.message = found.map(|(folder, junk, ms)| FoundMessage {
            folder: folder.into(),
            junk,
            uids: vec![1],
            internal_date: None,
            size: None,
            headers: "Subject: x\r\n\r\n".into(),
            visible_after: Some(Duration::from_millis(ms)),
            not_visible_after: None,
        });
        mailbox
    }

    fn judge(submit: Option<Report>, mailbox: MailboxReport) -> RoundTripReport {
        let timings = RoundTripTimings { accepted: Some(Duration::from_millis(50)), ..Default::default() };
        RoundTripReport::assemble(&config(), &run(), submit, mailbox, timings)
    }

    #[test]
    fn verdicts() {
        let up = judge(Some(accepted()), mailbox(Some(("INBOX", false, 300))));
        assert_eq!((up.verdict, up.cause), (Verdict::Up, None));
        assert_eq!(up.summary(), "up: delivered to INBOX in 300 ms (queued as 4Xyz)");
        assert_eq!(up.timings.end_to_end, Some(Duration::from_millis(300)));

        let late = judge(Some(accepted()), mailbox(Some(("INBOX", false, 3_000))));
        assert_eq!((late.verdict, late.cause), (Verdict::Degraded, Some(Cause::SlowDelivery)));
        let very_late = judge(Some(accepted()), mailbox(Some(("INBOX", false, 6_000))));
        assert_eq!((very_late.verdict, very_late.cause), (Verdict::Down, Some(Cause::SlowDelivery)));

        let junk = judge(Some(accepted()), mailbox(Some(("Junk", true, 300))));
        assert_eq!((junk.verdict, junk.cause), (Verdict::Degraded, Some(Cause::DeliveredToJunk)));
        assert!(junk.delivery.as_ref().is_some_and(|d| d.junk));

        let lost = judge(Some(accepted()), mailbox(None));
        assert_eq!((lost.verdict, lost.cause), (Verdict::Down, Some(Cause::NotDelivered)));
        assert!(lost.summary().contains("not in INBOX nor in Junk"), "{}", lost.summary());
    }

    #[test]
    fn delivered_is_never_claimed_from_an_unread_mailbox() {
        let unreadable = MailboxReport::without_session("imap.example.net:993", Cause::MailboxUnavailable, "refused");
        let report = judge(Some(accepted()), unreadable);
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MailboxUnavailable)));
        assert!(report.delivery.is_none());
        assert!(!report.findings.iter().any(|f| f.cause == Some(Cause::NotDelivered)));
    }

    #[test]
    fn a_message_not_sent_is_judged_by_the_submission() {
        let mut greylisted = Report::empty("smtp.example.org:587".into(), SystemTime::UNIX_EPOCH, 0);
        greylisted.add_finding(Finding {
            severity: Severity::Warning,
            cause: Some(Cause::TemporaryFailure),
            phase: Some(Phase::RcptTo),
            message: "the server refused the recipient for now: 450 4.2.0 greylisted".into(),
            server_text: None,
        });
        let report = judge(Some(greylisted), mailbox(None));
        assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::TemporaryFailure)));
        assert!(report.delivery.is_none());

        let refused = Report::without_session(
            "smtp.example.org:587",
            SystemTime::UNIX_EPOCH,
            Cause::ConnectRefused,
            Phase::Connect,
            "refused",
        );
        let report = judge(Some(refused), mailbox(None));
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectRefused)));
    }

    #[test]
    fn acceptance_time_from_the_submission() {
        let mut submit = accepted();
        submit.message_accepted = Some(Duration::from_millis(30));
        submit.total = Duration::from_millis(32);
        let at = RoundTripTimings::accepted_from(Duration::from_millis(100), Duration::from_millis(35), &submit);
        assert_eq!(at, Some(Duration::from_millis(133)), "3 ms of DNS before, 2 ms of QUIT after");
        assert_eq!(
            RoundTripTimings::accepted_from(
                Duration::ZERO,
                Duration::ZERO,
                &Report::empty(String::new(), SystemTime::UNIX_EPOCH, 0)
            ),
            None
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serializes_in_the_report_style() {
        let report = judge(Some(accepted()), mailbox(Some(("INBOX", false, 300))));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["verdict"], "up");
        assert_eq!(json["token"], "t");
        assert_eq!(json["submit_target"], "smtp.example.org:587");
        assert_eq!(json["summary"], "up: delivered to INBOX in 300 ms (queued as 4Xyz)");
        assert_eq!(json["started_at"], "2026-01-01T00:00:00.000Z");
        assert_eq!(json["end_to_end_ms"], 300.0);
        assert_eq!(json["accepted_ms"], 50.0);
        assert_eq!(json["delivery"]["queue_id"], "4Xyz");
        assert_eq!(json["mailbox"]["message"]["visible_after_ms"], 300.0);
        assert_eq!(json["submit"]["queue_id"], "4Xyz");
    }
}
