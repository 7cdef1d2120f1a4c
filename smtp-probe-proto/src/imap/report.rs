//! What the mailbox side of a round trip learned: [`MailboxReport`].

use std::time::Duration;

use crate::imap::MailboxConfig;
use crate::imap::response::Status;
use crate::report::{Cause, Finding, Phase, Report, TlsInfo, TranscriptLine, Verdict, record_finding};

/// An IMAP command and its tagged reply, timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapStep {
    /// Which phase.
    pub phase: Phase,
    /// The command as sent, with its tag, credentials redacted; `None` for the greeting and the TLS handshake.
    pub command: Option<String>,
    /// The reply's status, when one came.
    pub status: Option<Status>,
    /// The reply's text (response code included), escaped, bounded, echoed credentials redacted.
    pub text: Option<String>,
    /// From sending the command (or connecting, for the greeting) to its reply.
    pub duration: Duration,
}

/// What became of the probe's message after it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CleanupOutcome {
    /// Flagged `\Deleted` and removed with `UID EXPUNGE`: nothing else was touched.
    Expunged,
    /// Flagged `\Deleted` and removed with a plain `EXPUNGE` (configured for a mailbox nobody else uses).
    ExpungedMailbox,
    /// Flagged `\Deleted` only: the server lacks UIDPLUS, and a plain `EXPUNGE` could remove other messages.
    FlaggedDeleted,
    /// Left in the mailbox, as configured.
    Kept,
    /// The server refused, or the connection ended first: the message may still be there.
    Failed,
}

impl CleanupOutcome {
    /// `expunged`, `expunged_mailbox`, `flagged_deleted`, `kept` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupOutcome::Expunged => "expunged",
            CleanupOutcome::ExpungedMailbox => "expunged_mailbox",
            CleanupOutcome::FlaggedDeleted => "flagged_deleted",
            CleanupOutcome::Kept => "kept",
            CleanupOutcome::Failed => "failed",
        }
    }
}

/// The probe's message, as found in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundMessage {
    /// The folder it was in.
    pub folder: String,
    /// Whether that is the configured junk folder.
    pub junk: bool,
    /// Its UIDs in that folder (more than one when it was delivered more than once).
    pub uids: Vec<u32>,
    /// The server's INTERNALDATE (when it stored the message), Unix seconds.
    pub internal_date: Option<i64>,
    /// RFC822.SIZE.
    pub size: Option<u32>,
    /// The header block, as stored (invalid UTF-8 replaced).
    pub headers: String,
    /// From the message's acceptance to the search that found it: the end-to-end latency, as the probe saw it.
    pub visible_after: Option<Duration>,
    /// From the acceptance to the last search that did not find it yet: the latency is between this and
    /// `visible_after`.
    pub not_visible_after: Option<Duration>,
}

/// Everything the mailbox check learned.
///
/// With the `serde` feature it serializes as the documented JSON object (`JSON-SCHEMA.md`, "Mailbox"), within a
/// round trip's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxReport {
    /// The IMAP server as configured.
    pub target: String,
    /// The address connected to, when an adapter knows it.
    pub address: Option<String>,
    /// The verdict of the mailbox side alone.
    pub verdict: Verdict,
    /// Its primary cause.
    pub cause: Option<Cause>,
    /// Everything observed, in order.
    pub findings: Vec<Finding>,
    /// The commands, in order (at most [`MAX_RECORDED`]).
    pub steps: Vec<ImapStep>,
    /// The greeting's text.
    pub greeting: Option<String>,
    /// The capabilities that counted last (after TLS, after login when the server says more then).
    pub capabilities: Vec<String>,
    /// TLS details, when a handshake got far enough to have any.
    pub tls: Option<TlsInfo>,
    /// The redacted transcript, when recorded (at most [`MAX_RECORDED`] lines).
    pub transcript: Vec<TranscriptLine>,
    /// How many times the folders were searched.
    pub searches: u32,
    /// The message, when found.
    pub message: Option<FoundMessage>,
    /// What became of it.
    pub cleanup: Option<CleanupOutcome>,
    /// Commands sent.
    pub commands: u32,
    /// IMAP bytes sent (before TLS).
    pub bytes_sent: u64,
    /// IMAP bytes received (after TLS).
    pub bytes_received: u64,
    /// How long the TCP connection took (adapters).
    pub connect: Option<Duration>,
    /// From the connection to logged in with the inbox selected.
    pub ready: Option<Duration>,
    /// From the connection to the end.
    pub total: Duration,
}

/// Steps and transcript lines kept per report: polling a slow delivery must not grow a report without bound.
pub const MAX_RECORDED: usize = 400;

impl MailboxReport {
    pub(crate) fn empty(target: String) -> MailboxReport {
        MailboxReport {
            target,
            address: None,
            verdict: Verdict::Up,
            cause: None,
            findings: Vec::new(),
            steps: Vec::new(),
            greeting: None,
            capabilities: Vec::new(),
            tls: None,
            transcript: Vec::new(),
            searches: 0,
            message: None,
            cleanup: None,
            commands: 0,
            bytes_sent: 0,
            bytes_received: 0,
            connect: None,
            ready: None,
            total: Duration::ZERO,
        }
    }

    /// The report for an IMAP server that was never connected to, from the connection planner's `dialed` report
    /// (see [`Dialer::mailbox`](crate::connect::Dialer::mailbox)): every finding in the `imap_connect` phase, causes
    /// that blame the server as `mailbox_unavailable`, `address_denied` and `local_error` as they are.
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    pub(crate) fn not_connected(config: &MailboxConfig, dialed: Report) -> MailboxReport {
        let mut report = MailboxReport::empty(config.inner().report_target.clone());
        for finding in dialed.findings {
            let cause = finding.cause.map(|cause| match cause {
                Cause::AddressDenied | Cause::LocalError => cause,
                _ => Cause::MailboxUnavailable,
            });
            report.add_finding(Finding { cause, phase: Some(Phase::ImapConnect), ..finding });
        }
        report.address = dialed.address;
        report.connect = dialed.connect;
        report
    }

    /// A report with no conversation, for outcomes decided before IMAP began (DNS, connect): adapters use it.
    pub fn without_session(target: impl Into<String>, cause: Cause, message: impl Into<String>) -> MailboxReport {
        let mut report = MailboxReport::empty(target.into());
        report.add_finding(Finding {
            severity: crate::report::Severity::Critical,
            cause: Some(cause),
            phase: Some(Phase::ImapConnect),
            message: message.into(),
            server_text: None,
        });
        report
    }

    /// Adds a finding; the first of the highest severity sets the verdict and cause.
    pub fn add_finding(&mut self, finding: Finding) {
        record_finding(&mut self.verdict, &mut self.cause, &mut self.findings, finding);
    }

    /// Whether the mailbox was read to the end of the search: logged in, and every search answered. Only then
    /// does "not found" mean "not delivered".
    pub fn mailbox_read(&self) -> bool {
        self.verdict != Verdict::Down && self.ready.is_some()
    }

    /// The finding that set the verdict, if not up.
    pub fn primary_finding(&self) -> Option<&Finding> {
        crate::report::primary_finding(self.verdict, &self.findings)
    }
}
