//! The result of a probe: a [`Verdict`] with one primary [`Cause`], the findings behind it, every step with its
//! reply and timing, the capabilities before and after TLS, TLS details, and a redacted transcript.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::capabilities::Capabilities;
use crate::reply::OwnedReply;
use crate::vocabulary::names;

/// The overall answer: can this server take mail right now? Named `up`, `degraded`, `down` in every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Everything checked passed.
    Up,
    /// It works, but something needs attention: a temporary failure (4xx), a slow reply, a certificate close to
    /// expiry.
    Degraded,
    /// It does not work as required.
    Down,
}

names!(Verdict, "verdict", { Up => "up", Degraded => "degraded", Down => "down" });

macro_rules! causes {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Why a probe is not up: a fixed vocabulary, `snake_case` in every serialized form.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Cause {
            $(#[doc = $doc] $variant,)*
        }

        names!(Cause, "cause", { $($variant => $name),* });
    };
}

causes! {
    DnsFailure => "dns_failure", "The name did not resolve (filled in by adapters).";
    ConnectRefused => "connect_refused", "The TCP connection was refused (filled in by adapters).";
    ConnectTimeout => "connect_timeout", "The TCP connection did not complete in time (filled in by adapters).";
    NetworkUnreachable => "network_unreachable", "No route to the address (filled in by adapters).";
    AddressDenied => "address_denied", "Every address of the target is denied by the address policy: nothing was contacted (filled in by adapters).";
    LocalError => "local_error", "The probe could not run on this machine: out of file descriptors or buffer space, a connection refused by a local firewall or routing policy, no DNS lookup could start. Not the server's fault (the CLI exits 3, \"unknown\").";
    GreetingTimeout => "greeting_timeout", "Connected, but no complete greeting in time.";
    GreetingRejected => "greeting_rejected", "The server greeted with a permanent refusal (554 and the like).";
    NotSmtp => "not_smtp", "The peer does not speak SMTP.";
    ProtocolViolation => "protocol_violation", "The server broke SMTP (malformed or oversized reply, mixed codes, data injected after STARTTLS).";
    ReplyTimeout => "reply_timeout", "A command got no complete reply in time.";
    ConnectionClosed => "connection_closed", "The server closed or reset the connection before the probe finished.";
    EhloRejected => "ehlo_rejected", "EHLO (and HELO, where tried) was refused.";
    StartTlsUnavailable => "starttls_unavailable", "STARTTLS was required but not offered.";
    StartTlsRejected => "starttls_rejected", "The server refused the STARTTLS command.";
    TlsHandshakeFailed => "tls_handshake_failed", "The TLS handshake failed for a reason other than the certificate.";
    CertificateInvalid => "certificate_invalid", "The certificate did not verify (expired, wrong name, untrusted, ...) where that counts: required TLS, certificate-days thresholds, credentials (withheld), a published policy.";
    CertificateExpiring => "certificate_expiring", "The certificate expires within the configured number of days.";
    AuthUnavailable => "auth_unavailable", "Authentication was configured but cannot be done (not offered, no common mechanism, no TLS).";
    AuthFailed => "auth_failed", "The server rejected the credentials.";
    SenderRejected => "sender_rejected", "MAIL FROM was refused.";
    RecipientRejected => "recipient_rejected", "RCPT TO was refused.";
    DataRejected => "data_rejected", "DATA or the message was refused.";
    TemporaryFailure => "temporary_failure", "A 4xx reply: the server says try again later.";
    SlowResponse => "slow_response", "The probe took longer than the response-time threshold.";
    ExpectationFailed => "expectation_failed", "An expectation (greeting text, capability, SIZE) was not met.";
    NotDelivered => "not_delivered", "Round trip: the message was accepted but did not reach the mailbox by the deadline.";
    DeliveredToJunk => "delivered_to_junk", "Round trip: the message arrived, but in the junk folder.";
    SlowDelivery => "slow_delivery", "Round trip: the message arrived later than the delivery-time threshold.";
    MailboxAuthFailed => "mailbox_auth_failed", "Round trip: the IMAP server rejected the mailbox credentials.";
    MailboxUnavailable => "mailbox_unavailable", "Round trip: the mailbox could not be read (unreachable, refused, broken IMAP, no usable login).";
    MtaStsViolation => "mta_sts_violation", "Domain check: an MX host fails the domain's MTA-STS policy (enforce: senders honouring it do not deliver; testing: they deliver and report).";
    DaneMismatch => "dane_mismatch", "Domain check: no usable TLSA record matches the chain an MX host presented (or it offered no TLS): senders honouring DANE do not deliver.";
    DnssecBogus => "dnssec_bogus", "Domain check: an answer the check depends on fails DNSSEC validation: validating senders treat it as an error.";
    PolicyUnavailable => "policy_unavailable", "Domain check: the domain publishes an MTA-STS record but its policy could not be fetched or is invalid.";
    RecordProblem => "record_problem", "Domain check (strict): a published record (SPF, DMARC, TLS-RPT, MTA-STS, TLSA) has a problem.";
}

/// A step of the SMTP conversation, or (`imap_*`, `delivery`) of a round trip's mailbox side (`snake_case`
/// names in every output: `tls_handshake`, `rcpt_to`, `imap_login`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// DNS resolution (adapters).
    Resolve,
    /// The TCP connection (adapters).
    Connect,
    /// Waiting for the server's greeting.
    Greeting,
    /// EHLO before TLS (or the only EHLO).
    Ehlo,
    /// HELO, after EHLO was not recognised.
    Helo,
    /// The STARTTLS command.
    StartTls,
    /// The TLS handshake.
    TlsHandshake,
    /// EHLO again, inside TLS.
    EhloTls,
    /// Authentication.
    Auth,
    /// MAIL FROM.
    MailFrom,
    /// RCPT TO.
    RcptTo,
    /// The DATA command.
    Data,
    /// The message body and its final reply.
    Message,
    /// RSET, ending the envelope check without sending mail.
    Rset,
    /// QUIT.
    Quit,
    /// Round trip: DNS and the TCP connection to the IMAP server.
    ImapConnect,
    /// Round trip: the IMAP greeting.
    ImapGreeting,
    /// Round trip: IMAP CAPABILITY.
    ImapCapability,
    /// Round trip: the IMAP STARTTLS command.
    ImapStartTls,
    /// Round trip: the TLS handshake with the IMAP server.
    ImapTlsHandshake,
    /// Round trip: IMAP LOGIN or AUTHENTICATE.
    ImapLogin,
    /// Round trip: SELECT of a folder.
    ImapSelect,
    /// Round trip: looking for the message (NOOP and UID SEARCH, repeated).
    ImapSearch,
    /// Round trip: UID FETCH of the message's headers.
    ImapFetch,
    /// Round trip: deleting the probe's own message (UID STORE, UID EXPUNGE).
    ImapCleanup,
    /// Round trip: IMAP LOGOUT.
    ImapLogout,
    /// Round trip: the wait between acceptance and the message showing up.
    Delivery,
}

names!(Phase, "phase", {
    Resolve => "resolve",
    Connect => "connect",
    Greeting => "greeting",
    Ehlo => "ehlo",
    Helo => "helo",
    StartTls => "starttls",
    TlsHandshake => "tls_handshake",
    EhloTls => "ehlo_tls",
    Auth => "auth",
    MailFrom => "mail_from",
    RcptTo => "rcpt_to",
    Data => "data",
    Message => "message",
    Rset => "rset",
    Quit => "quit",
    ImapConnect => "imap_connect",
    ImapGreeting => "imap_greeting",
    ImapCapability => "imap_capability",
    ImapStartTls => "imap_starttls",
    ImapTlsHandshake => "imap_tls_handshake",
    ImapLogin => "imap_login",
    ImapSelect => "imap_select",
    ImapSearch => "imap_search",
    ImapFetch => "imap_fetch",
    ImapCleanup => "imap_cleanup",
    ImapLogout => "imap_logout",
    Delivery => "delivery",
});

/// How much a finding weighs on the verdict (`info`, `warning`, `critical`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; no effect on the verdict (a bare LF, QUIT unanswered, no STARTTLS where optional).
    Info,
    /// Makes the verdict at least degraded.
    Warning,
    /// Makes the verdict down.
    Critical,
}

names!(Severity, "severity", { Info => "info", Warning => "warning", Critical => "critical" });

impl Severity {
    /// The verdict this severity leads to on its own.
    pub fn verdict(self) -> Verdict {
        match self {
            Severity::Info => Verdict::Up,
            Severity::Warning => Verdict::Degraded,
            Severity::Critical => Verdict::Down,
        }
    }
}

/// The one rule for verdicts, shared by every report kind: the first finding of the highest severity sets the
/// verdict and the primary cause.
pub(crate) fn record_finding(
    verdict: &mut Verdict,
    cause: &mut Option<Cause>,
    findings: &mut Vec<Finding>,
    finding: Finding,
) {
    if finding.severity.verdict() > *verdict {
        *verdict = finding.severity.verdict();
        *cause = finding.cause;
    }
    findings.push(finding);
}

/// `verdict: cause (phase): message`, the one-line form of a primary finding.
pub(crate) fn verdict_line(verdict: Verdict, f: &Finding) -> String {
    let cause = f.cause.map_or("unknown", Cause::as_str);
    match f.phase {
        Some(phase) => format!("{verdict}: {cause} ({phase}): {}", f.message),
        None => format!("{verdict}: {cause}: {}", f.message),
    }
}

/// The finding that set `verdict` (the first of its severity), if not up.
pub(crate) fn primary_finding(verdict: Verdict, findings: &[Finding]) -> Option<&Finding> {
    findings.iter().find(|f| f.severity.verdict() == verdict && verdict != Verdict::Up)
}

/// One thing the probe observed, in the server's own words where there are any.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Finding {
    /// Its weight.
    pub severity: Severity,
    /// The cause it stands for, if it affects the verdict.
    pub cause: Option<Cause>,
    /// The phase it happened in.
    pub phase: Option<Phase>,
    /// What happened, for people.
    pub message: String,
    /// The server's reply text, when a reply was involved.
    pub server_text: Option<String>,
}

/// A command and its reply, timed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Step {
    /// Which phase.
    pub phase: Phase,
    /// The command as sent, credentials redacted; `None` for the greeting and the TLS handshake.
    pub command: Option<String>,
    /// The reply, when one came.
    pub reply: Option<OwnedReply>,
    /// From sending the command (or connecting, for the greeting) to the complete reply.
    #[cfg_attr(feature = "serde", serde(rename = "duration_ms", serialize_with = "crate::schema::millis"))]
    pub duration: Duration,
}

/// Who said a transcript line (`client`, `server`, `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The probe.
    Client,
    /// The server.
    Server,
    /// An event that is not a line on the wire (the TLS handshake, a close).
    Event,
}

names!(Direction, "direction", { Client => "client", Server => "server", Event => "event" });

/// One line of the conversation. Credentials are never here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TranscriptLine {
    /// Time since the connection was established.
    #[cfg_attr(feature = "serde", serde(rename = "at_ms", serialize_with = "crate::schema::millis"))]
    pub at: Duration,
    /// Who.
    pub direction: Direction,
    /// The line, without its line ending; invalid UTF-8 replaced.
    pub text: String,
}

/// Why a certificate did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// Past its notAfter.
    Expired,
    /// Before its notBefore.
    NotYetValid,
    /// Not valid for the name (or address) checked.
    NameMismatch,
    /// Not issued by a trusted authority (self-signed, private CA not configured).
    UnknownIssuer,
    /// Did not match the configured SHA-256 pin.
    PinMismatch,
    /// Anything else, as the verifier said it.
    Other(String),
}

impl CertificateProblem {
    /// The stable name: `expired`, `not_yet_valid`, `name_mismatch`, `unknown_issuer`, `pin_mismatch` or `other`.
    pub fn code(&self) -> &'static str {
        match self {
            CertificateProblem::Expired => "expired",
            CertificateProblem::NotYetValid => "not_yet_valid",
            CertificateProblem::NameMismatch => "name_mismatch",
            CertificateProblem::UnknownIssuer => "unknown_issuer",
            CertificateProblem::PinMismatch => "pin_mismatch",
            CertificateProblem::Other(_) => "other",
        }
    }
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateProblem::Expired => f.write_str("certificate expired"),
            CertificateProblem::NotYetValid => f.write_str("certificate not yet valid"),
            CertificateProblem::NameMismatch => f.write_str("certificate not valid for the name"),
            CertificateProblem::UnknownIssuer => f.write_str("certificate issuer not trusted"),
            CertificateProblem::PinMismatch => f.write_str("certificate does not match the pinned fingerprint"),
            CertificateProblem::Other(why) => write!(f, "certificate invalid: {why}"),
        }
    }
}

/// One presented certificate, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CertificateInfo {
    /// Where it was in the presented chain: 0 for the leaf (the server's own certificate), then each certificate
    /// in the order the server sent it. A certificate that could not be parsed is not described, so positions
    /// may skip one (see [`TlsInfo::unparsed`]).
    pub position: usize,
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names (DNS names and addresses), at most [`MAX_SANS`] of them.
    pub sans: Vec<String>,
    /// How many more names the certificate lists beyond [`MAX_SANS`].
    #[cfg_attr(feature = "serde", serde(skip))]
    pub sans_omitted: usize,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 3339 UTC.
    pub not_before: String,
    /// notBefore as Unix seconds.
    pub not_before_unix: i64,
    /// notAfter, RFC 3339 UTC.
    pub not_after: String,
    /// notAfter as Unix seconds.
    pub not_after_unix: i64,
    /// Whole days from the probe's wall time to notAfter, rounded down (negative once expired).
    pub days_left: i64,
    /// Seconds from the probe's wall time to notAfter (negative once expired).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub seconds_left: i64,
    /// Public key algorithm, e.g. `"EC P-256"` or `"RSA 2048"`.
    pub key_algorithm: String,
    /// Signature algorithm, e.g. `"ecdsa-with-SHA256"`.
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
}

/// The most subject alternative names kept per certificate: real certificates list a few, shared ones a hundred
/// or so; a hostile one could list thousands, and every name is a string in the report.
pub const MAX_SANS: usize = 256;

/// The most certificates of a presented chain described in a report (every one is kept as DER, in
/// [`TlsInfo::chain_der`]). Real chains have two to four.
pub const MAX_DESCRIBED_CERTIFICATES: usize = 16;

impl CertificateInfo {
    /// Whether it was past its notAfter at the probe's wall time.
    pub fn is_expired(&self) -> bool {
        self.seconds_left < 0
    }

    /// Whether it was before its notBefore at the probe's wall time (the probe's wall time is notAfter less the
    /// seconds left).
    pub fn is_not_yet_valid(&self) -> bool {
        self.not_before_unix > self.not_after_unix.saturating_sub(self.seconds_left)
    }

    /// `certificate` for the leaf, `intermediate certificate` for any other: how messages name it.
    pub fn role(&self) -> &'static str {
        if self.position == 0 { "certificate" } else { "intermediate certificate" }
    }
}

/// A presented certificate that could not be parsed: it is skipped (no dates are made up for it) and reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnparsedCertificate {
    /// Where it was in the presented chain (0 for the leaf).
    pub position: usize,
    /// Its size, in bytes.
    pub len: usize,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// What the parser said.
    pub error: String,
}

/// TLS as negotiated, handed to the probe by whoever ran the handshake (the crate's `Session`, or the caller).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsInfo {
    /// Protocol version, e.g. `"TLSv1.3"`.
    pub version: Option<String>,
    /// Cipher suite, e.g. `"TLS13_AES_256_GCM_SHA384"`.
    pub cipher: Option<String>,
    /// The SNI sent, if any.
    pub sni: Option<String>,
    /// The name (or address) the certificate was verified against.
    pub verified_name: Option<String>,
    /// Whether the certificate verified: the chain for that name, or a configured pin (see
    /// [`is_verified`](Self::is_verified), what credentials wait for).
    pub verified: bool,
    /// Why it did not, when it did not.
    pub verify_error: Option<CertificateProblem>,
    /// Handshake duration.
    pub handshake: Duration,
    /// Every presented certificate that could be parsed (up to [`MAX_DESCRIBED_CERTIFICATES`]), leaf first.
    pub certificates: Vec<CertificateInfo>,
    /// Presented certificates that could not be parsed, by position: skipped in `certificates`, reported as a
    /// finding.
    pub unparsed: Vec<UnparsedCertificate>,
    /// The presented chain as it came off the wire (DER, leaf first), for checks that work on the certificates
    /// themselves (DANE's TLSA matching). Not serialized. Bounded by TLS itself: a Certificate message is at most
    /// 64 KiB.
    pub chain_der: Vec<Vec<u8>>,
}

impl TlsInfo {
    /// The leaf certificate (the server's own), when it was presented and could be parsed.
    pub fn leaf(&self) -> Option<&CertificateInfo> {
        self.certificates.first().filter(|c| c.position == 0)
    }

    /// Whether the certificate verified: the chain and the name, or a configured pin. What decides whether
    /// credentials may be sent.
    pub fn is_verified(&self) -> bool {
        self.verified && self.verify_error.is_none()
    }

    /// The presented certificate that expires first.
    pub fn chain_earliest_expiry(&self) -> Option<&CertificateInfo> {
        self.certificates.iter().min_by_key(|c| c.not_after_unix)
    }
}

/// How a TLS handshake failed, handed to the probe by whoever ran it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The certificate did not verify. The details presented are in `info`.
    Certificate {
        /// Why.
        problem: CertificateProblem,
        /// What was presented and negotiated so far.
        info: Box<TlsInfo>,
    },
    /// The handshake itself failed: no common version or cipher, an alert, garbage instead of TLS.
    Handshake {
        /// What the TLS library said.
        reason: String,
    },
    /// The peer closed the connection during the handshake.
    Closed,
}

/// Everything a probe learned. Made by the probe; adapters add where they connected and how long DNS and the
/// connection took.
///
/// With the `serde` feature, a report serializes as the documented JSON object (the crate's `JSON-SCHEMA.md`,
/// validated by `schema/report.schema.json`), computed fields such as `summary` and `phases` included.
///
/// # Size
///
/// A report's size is bounded whatever the server sends. It keeps each reply a few times (in its step, in the
/// transcript when one is recorded, in the capabilities' raw lines for an EHLO reply, as `greeting`, quoted by a
/// finding), and a probe reads at most 11 + recipients replies (greeting, EHLO, STARTTLS, EHLO again, three for
/// AUTH LOGIN, MAIL FROM, one per recipient, DATA, the message, QUIT); typed views are capped (see
/// [`Capabilities`], [`MAX_SANS`], [`MAX_DESCRIBED_CERTIFICATES`]). So with [`ReplyLimits`](crate::ReplyLimits)
/// `max_buffered` = *b* and `max_lines` = *l*, a report holds at most (11 + recipients) × (4*b* + 160*l*) bytes of
/// what the server said, plus the TLS details (the chain's DER, at most 64 KiB — TLS's limit on a certificate
/// message — and its description, well under 512 KiB). With the default limits and one recipient that is 3.4 MB; a
/// server that fills every reply to the limits gets 1.9 MB, one with 12,000 AUTH mechanisms in a 64 KiB EHLO 200 KB
/// (BENCHMARKS.md); a real probe's report is a few KiB.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The target, `host:port` (`[v6]:port`).
    pub target: String,
    /// The address connected to, when an adapter knows it.
    pub address: Option<String>,
    /// The wall-clock time the probe started (adapters: before resolving the name), so a kept report can be aged.
    pub started_at: SystemTime,
    /// The verdict.
    pub verdict: Verdict,
    /// The primary cause: that of the first finding with the highest severity; `None` when up.
    pub cause: Option<Cause>,
    /// Everything observed, in order.
    pub findings: Vec<Finding>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The greeting.
    pub greeting: Option<OwnedReply>,
    /// Capabilities from EHLO before TLS (or without TLS).
    pub capabilities: Option<Capabilities>,
    /// Capabilities from EHLO inside TLS.
    pub capabilities_tls: Option<Capabilities>,
    /// TLS details, when a handshake got far enough to have any.
    pub tls: Option<TlsInfo>,
    /// The redacted transcript, when recorded.
    pub transcript: Vec<TranscriptLine>,
    /// How long resolving the target's name took (adapters); `None` for an address, or when nothing was resolved.
    pub resolve: Option<Duration>,
    /// How long the TCP connection took (adapters).
    pub connect: Option<Duration>,
    /// From starting to connect (adapters; the connection, for a bare `Probe`) to the last reply before QUIT: what
    /// response-time thresholds compare. DNS is not included: see [`resolve`](Self::resolve).
    pub response_time: Duration,
    /// From starting to connect to the end of the probe, QUIT included (DNS not included).
    pub total: Duration,
    /// The test message token, when a test message was accepted.
    pub message_token: Option<String>,
    /// The queue id the server named when it accepted the test message (`queued as …`, `id=…`), if it did.
    pub queue_id: Option<String>,
    /// From the start of the probe (as `total`: the connection, once an adapter adds it) to the reply that accepted
    /// the test message: when the message left the sender's hands.
    pub message_accepted: Option<Duration>,
}

impl Report {
    /// A report with no conversation, for outcomes decided before SMTP began (DNS failure, connection refused):
    /// adapters use it.
    pub fn without_session(
        target: impl Into<String>,
        started_at: SystemTime,
        cause: Cause,
        phase: Phase,
        message: impl Into<String>,
    ) -> Report {
        let mut report = Report::empty(target.into(), started_at, 0);
        report.add_finding(Finding {
            severity: Severity::Critical,
            cause: Some(cause),
            phase: Some(phase),
            message: message.into(),
            server_text: None,
        });
        report
    }

    pub(crate) fn empty(target: String, started_at: SystemTime, transcript_capacity: usize) -> Report {
        Report {
            target,
            address: None,
            started_at,
            verdict: Verdict::Up,
            cause: None,
            findings: Vec::new(),
            steps: Vec::new(),
            greeting: None,
            capabilities: None,
            capabilities_tls: None,
            tls: None,
            transcript: Vec::with_capacity(transcript_capacity),
            resolve: None,
            connect: None,
            response_time: Duration::ZERO,
            total: Duration::ZERO,
            message_token: None,
            queue_id: None,
            message_accepted: None,
        }
    }

    /// Adds a finding and updates the verdict and primary cause: the first finding of the highest severity wins.
    pub fn add_finding(&mut self, finding: Finding) {
        record_finding(&mut self.verdict, &mut self.cause, &mut self.findings, finding);
    }

    /// The capabilities that count: those inside TLS when TLS was established, else the plaintext ones.
    pub fn effective_capabilities(&self) -> Option<&Capabilities> {
        self.capabilities_tls.as_ref().or(self.capabilities.as_ref())
    }

    /// The finding that set the verdict, if the probe is not up.
    pub fn primary_finding(&self) -> Option<&Finding> {
        primary_finding(self.verdict, &self.findings)
    }

    /// Time spent in each phase, in the order the probe went through them: DNS resolution and the connection
    /// (when an adapter measured them), then each step of the conversation, the TLS handshake included whether
    /// it succeeded or not. A phase that happened more than once (one RCPT TO per recipient, the AUTH exchange)
    /// appears once, with its times added up.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use smtp_probe_proto::{Cause, Phase, Report};
    ///
    /// let mut report = Report::without_session("mx.example.com:25", SystemTime::now(), Cause::ConnectRefused,
    ///     Phase::Connect, "connection refused");
    /// report.resolve = Some(Duration::from_millis(12));
    /// report.connect = Some(Duration::from_millis(3));
    /// let phases = report.phase_durations();
    /// assert_eq!(phases, [(Phase::Resolve, Duration::from_millis(12)), (Phase::Connect, Duration::from_millis(3))]);
    /// ```
    pub fn phase_durations(&self) -> Vec<(Phase, Duration)> {
        let mut phases: Vec<(Phase, Duration)> = Vec::with_capacity(self.steps.len() + 2);
        let mut add = |phase: Phase, duration: Duration| match phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, total)) => *total = total.saturating_add(duration),
            None => phases.push((phase, duration)),
        };
        // The adapters' measurements, unless a step stands for them already.
        let stepped = |phase: Phase| self.steps.iter().any(|s| s.phase == phase);
        if let Some(resolve) = self.resolve.filter(|_| !stepped(Phase::Resolve)) {
            add(Phase::Resolve, resolve);
        }
        if let Some(connect) = self.connect.filter(|_| !stepped(Phase::Connect)) {
            add(Phase::Connect, connect);
        }
        for step in &self.steps {
            add(step.phase, step.duration);
        }
        phases
    }

    /// How old the report is at `now` (wall clock): from when the probe started. Zero if `now` is earlier.
    pub fn age(&self, now: SystemTime) -> Duration {
        now.duration_since(self.started_at).unwrap_or(Duration::ZERO)
    }

    /// One line for people: `down: recipient_rejected (rcpt_to): 550 5.1.1 <x@y>: User unknown`.
    pub fn summary(&self) -> String {
        match self.primary_finding() {
            None => format!("{}: {} answered in {} ms", self.verdict, self.target, self.response_time.as_millis()),
            Some(f) => verdict_line(self.verdict, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: Severity, cause: Cause) -> Finding {
        Finding { severity, cause: Some(cause), phase: None, message: String::new(), server_text: None }
    }

    #[test]
    fn first_most_severe_finding_sets_verdict_and_cause() {
        let mut r = Report::empty("mx".into(), SystemTime::UNIX_EPOCH, 0);
        r.add_finding(Finding {
            severity: Severity::Info,
            cause: None,
            phase: None,
            message: "bare LF".into(),
            server_text: None,
        });
        assert_eq!((r.verdict, r.cause), (Verdict::Up, None));
        r.add_finding(finding(Severity::Warning, Cause::CertificateExpiring));
        r.add_finding(finding(Severity::Warning, Cause::SlowResponse));
        assert_eq!((r.verdict, r.cause), (Verdict::Degraded, Some(Cause::CertificateExpiring)));
        r.add_finding(finding(Severity::Critical, Cause::RecipientRejected));
        r.add_finding(finding(Severity::Warning, Cause::TemporaryFailure));
        assert_eq!((r.verdict, r.cause), (Verdict::Down, Some(Cause::RecipientRejected)));
    }

    #[test]
    fn names_read_back_and_pad() {
        for verdict in Verdict::ALL {
            assert_eq!(verdict.as_str().parse::<Verdict>(), Ok(*verdict));
        }
        for cause in Cause::ALL {
            assert_eq!(cause.to_string().parse::<Cause>(), Ok(*cause));
        }
        for phase in Phase::ALL {
            assert_eq!(phase.to_string().parse::<Phase>(), Ok(*phase));
        }
        assert_eq!(format!("[{:<10}]", Verdict::Up), "[up        ]");
        assert_eq!(format!("[{:>10}]", Phase::Rset), "[      rset]");
        assert_eq!(format!("[{:^9}]", Severity::Info), "[  info   ]");
        assert_eq!(format!("{:.3}", Cause::DnsFailure), "dns", "precision truncates, as for strings");
        let err = "Up".parse::<Verdict>().unwrap_err();
        assert_eq!(err.to_string(), "unknown verdict \"Up\": expected one of up, degraded, down");
        assert!("reply-timeout".parse::<Cause>().is_err());
    }

    #[test]
    fn cause_names_are_the_fixed_vocabulary() {
        let names: Vec<&str> = Cause::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), 36);
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        assert_eq!(Cause::StartTlsUnavailable.as_str(), "starttls_unavailable");
    }
}
