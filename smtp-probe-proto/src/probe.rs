//! The probe: the SMTP state machine, driven by bytes and time the caller feeds in.
//!
//! `handle_*` methods only record (bytes into the parser's buffer, the end of the stream, the time, a TLS
//! outcome); [`Probe::poll_output`] does all parsing and every transition (h11's rule), so the order in which a
//! caller reports events between two polls cannot change the outcome. Transitions on replies live in one place,
//! [`Probe::on_reply`], with one function per phase outcome beside it.

use std::mem;
use std::time::{Duration, Instant, SystemTime};

use crate::assess::{self, Credentials};
use crate::auth::{self, Redactions};
use crate::capabilities::Capabilities;
use crate::command::{Command, encode_data};
use crate::config::{ConfigInner, EnvelopeAction, ProbeConfig, TlsMode, deadline_after};
use crate::error::UsageError;
use crate::message;
use crate::reply::{OwnedReply, ReplyCode, ReplyError, ReplyParser};
use crate::report::{Cause, Direction, Finding, Phase, Report, Severity, Step, TlsFailure, TlsInfo, TranscriptLine};

/// Transcript lines reserved up front: a plain probe with STARTTLS and two EHLO replies of a dozen lines needs about
/// this many, so the vector does not grow (and copy) five times on the way.
const TRANSCRIPT_CAPACITY: usize = 32;

/// What the caller must do next. Drain [`Probe::poll_output`] until it returns `Timeout` or `Done`.
///
/// The set of variants is closed: a driver handles each of them, and a new one would be a breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write all these bytes to the connection, then poll again.
    Transmit(Vec<u8>),
    /// Run a TLS client handshake on the connection now (STARTTLS was accepted, or the mode is implicit TLS),
    /// then call [`Probe::handle_tls_established`] or [`Probe::handle_tls_failed`]. Until then, bytes from the
    /// connection belong to the handshake, not to the probe.
    StartTls(TlsRequest),
    /// Wait for bytes, end of stream, or this instant, whichever comes first; report it with `handle_input`,
    /// `handle_eof` or `handle_timeout`, then poll again.
    Timeout(Instant),
    /// The probe is over: close the connection, then take the report with [`Probe::into_report`] (or look at it
    /// with [`Probe::report`]). Every later poll returns `Done` again.
    Done,
}

/// Parameters for the TLS handshake the probe asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRequest {
    /// The name to send as SNI and to verify the certificate against; `None` for an address target with no name.
    pub tls_name: Option<String>,
    /// True for implicit TLS (before the greeting), false after STARTTLS.
    pub implicit: bool,
}

/// What the probe is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    AuthPlain { response_sent: bool },
    AuthLogin { step: u8 },
    MailFrom,
    RcptTo(usize),
    Data,
    Message,
    Rset,
    Quit,
}

/// A command in flight.
#[derive(Debug, Clone)]
struct Pending {
    expect: Expect,
    phase: Phase,
    command: Option<String>,
    sent: Instant,
    deadline: Instant,
}

#[derive(Debug)]
enum State {
    Await(Pending),
    Tls { requested: bool, implicit: bool, started: Instant, deadline: Instant },
    Done,
}

/// How the TLS handshake the probe asked for ended, as reported by `handle_tls_*` and applied by the next poll.
#[derive(Debug)]
enum TlsOutcome {
    Established {
        info: TlsInfo,
        /// Whether plaintext had arrived before the handshake's result: bytes injected after the STARTTLS 220.
        injected: bool,
    },
    Failed(TlsFailure),
}

/// What to do with the connection after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Say goodbye properly: the conversation is still in sync.
    Quit,
    /// Just close: the peer is gone, out of sync, or not to be trusted.
    Close,
}

/// One probe of one connection. See the [crate documentation](crate) for the drive loop.
#[derive(Debug)]
pub struct Probe {
    config: ProbeConfig,
    start: Instant,
    now: Instant,
    /// When the last bytes arrived: a reply is complete when its last byte is.
    input_at: Instant,
    overall_deadline: Instant,
    parser: ReplyParser,
    state: State,
    tx: Vec<u8>,
    eof: bool,
    tls_active: bool,
    used_helo: bool,
    bare_lf_noted: bool,
    main_sequence_end: Option<Instant>,
    /// A TLS outcome reported and not yet applied, with the time it was reported at.
    tls_outcome: Option<(Instant, TlsOutcome)>,
    /// A buffer limit a caller's layer (the `Session`'s ciphertext buffer) reported exceeded.
    overflow: Option<usize>,
    /// The credentials' wire forms, redacted from everything the server says before it reaches the report.
    redactions: Redactions,
    report: Report,
    finished: bool,
}

impl Probe {
    /// A probe of a connection established at `now`; `wall` is the wall-clock time the probe started, the
    /// report's [`started_at`](Report::started_at). The overall timeout starts at `now`.
    pub fn new(config: ProbeConfig, now: Instant, wall: SystemTime) -> Probe {
        let overall_deadline = deadline_after(now, config.inner().timeouts.overall);
        Probe::with_deadline(config, now, wall, overall_deadline)
    }

    /// A probe of a connection established at `now` that must end by `overall_deadline`: adapters start the
    /// overall clock before DNS and connect, so the configured overall timeout bounds the whole check. `wall` is
    /// the wall-clock time the probe started (for adapters, before DNS).
    pub fn with_deadline(config: ProbeConfig, now: Instant, wall: SystemTime, overall_deadline: Instant) -> Probe {
        let inner = config.inner();
        let state = if inner.tls_mode == TlsMode::Implicit {
            State::Tls {
                requested: false,
                implicit: true,
                started: now,
                deadline: overall_deadline.min(deadline_after(now, inner.timeouts.tls_handshake)),
            }
        } else {
            State::Await(Pending {
                expect: Expect::Greeting,
                phase: Phase::Greeting,
                command: None,
                sent: now,
                deadline: overall_deadline.min(deadline_after(now, inner.timeouts.greeting)),
            })
        };
        let redactions = inner
            .auth
            .as_ref()
            .map_or_else(Redactions::default, |auth| Redactions::new(&auth.username, &auth.password));
        Probe {
            parser: ReplyParser::new(inner.limits),
            report: Report::empty(
                inner.report_target.clone(),
                wall,
                if inner.transcript { TRANSCRIPT_CAPACITY } else { 0 },
            ),
            config,
            start: now,
            now,
            input_at: now,
            overall_deadline,
            state,
            tx: Vec::new(),
            eof: false,
            tls_active: false,
            used_helo: false,
            bare_lf_noted: false,
            main_sequence_end: None,
            tls_outcome: None,
            overflow: None,
            redactions,
            finished: false,
        }
    }

    fn cfg(&self) -> &ConfigInner {
        self.config.inner()
    }

    /// Bytes received from the server (plaintext: after TLS, the decrypted stream). Only buffers; bounded by
    /// the configured reply limits (excess is a protocol violation reported by the next poll). Ignored once the
    /// probe is done.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.finished || bytes.is_empty() {
            return;
        }
        self.advance(now);
        self.input_at = self.now;
        // An overflow poisons the parser; the next poll turns it into a finding.
        let _ = self.parser.feed(bytes);
    }

    /// The server closed its side of the connection (or it was reset).
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance(now);
        self.eof = true;
    }

    /// Time has passed: the caller woke at (or after) a deadline from [`Output::Timeout`]. Spurious calls are
    /// harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// The TLS handshake the probe asked for succeeded. Only recorded: the next poll goes on inside TLS (or refuses
    /// plaintext that came before this news, RFC 3207 §5). `info` is judged as the `Session`'s own handshake is:
    /// credentials are sent only if [`TlsInfo::is_verified`] (or an override allows it), and a certificate that did
    /// not verify counts where the configuration says it does.
    pub fn handle_tls_established(&mut self, now: Instant, info: TlsInfo) -> Result<(), UsageError> {
        self.expect_tls()?;
        self.advance(now);
        // Anything buffered now arrived in plaintext before the handshake's result: bytes that come after it are
        // TLS data, so take note of which is which now.
        let injected = !self.parser.buffered().is_empty();
        self.tls_outcome = Some((self.now, TlsOutcome::Established { info, injected }));
        Ok(())
    }

    /// The TLS handshake the probe asked for failed. Only recorded: the next poll ends the probe (close the
    /// connection when it says `Done`).
    pub fn handle_tls_failed(&mut self, now: Instant, failure: TlsFailure) -> Result<(), UsageError> {
        self.expect_tls()?;
        self.advance(now);
        self.tls_outcome = Some((self.now, TlsOutcome::Failed(failure)));
        Ok(())
    }

    /// Records that a layer below the probe (the `Session`'s buffer of received ciphertext) went over `limit`
    /// bytes: the next poll ends the probe as a protocol violation, as a full reply buffer does.
    #[cfg(feature = "rustls")]
    pub(crate) fn handle_overflow(&mut self, now: Instant, limit: usize) {
        self.advance(now);
        self.overflow.get_or_insert(limit);
    }

    fn expect_tls(&self) -> Result<(), UsageError> {
        match self.state {
            _ if self.finished => Err(UsageError::Finished),
            State::Tls { requested: true, .. } if self.tls_outcome.is_some() => Err(UsageError::TlsAlreadyReported),
            State::Tls { requested: true, .. } => Ok(()),
            _ => Err(UsageError::TlsNotRequested),
        }
    }

    /// The next thing to do. All parsing and every transition happen here.
    pub fn poll_output(&mut self, now: Instant) -> Output {
        self.advance(now);
        loop {
            if self.finished {
                return Output::Done;
            }
            if !self.tx.is_empty() {
                return Output::Transmit(mem::take(&mut self.tx));
            }
            if let Some(limit) = self.overflow.take() {
                self.on_parse_error(ReplyError::BufferFull { limit });
                continue;
            }
            match &mut self.state {
                State::Done => self.finish(),
                State::Tls { requested, implicit, deadline, started } => {
                    if !*requested {
                        *requested = true;
                        let request =
                            TlsRequest { tls_name: self.config.tls_name().map(str::to_owned), implicit: *implicit };
                        return Output::StartTls(request);
                    }
                    let (implicit, deadline, started) = (*implicit, *deadline, *started);
                    if let Some((at, outcome)) = self.tls_outcome.take() {
                        self.on_tls_outcome(at, outcome, started, implicit);
                        continue;
                    }
                    if self.now >= deadline {
                        self.push_tls_step(started, self.now);
                        let message = format!("TLS handshake did not complete within {}", self.phase_limit(deadline));
                        self.fail(
                            Severity::Critical,
                            Cause::TlsHandshakeFailed,
                            Phase::TlsHandshake,
                            message,
                            None,
                            Then::Close,
                        );
                        continue;
                    }
                    return Output::Timeout(deadline);
                }
                State::Await(pending) => {
                    let deadline = pending.deadline;
                    match self.parser.next_reply() {
                        Ok(Some(reply)) => {
                            let taken = (reply.to_owned(), reply.has_bare_lf());
                            self.take_reply(taken);
                            continue;
                        }
                        Ok(None) => {}
                        Err(err) => {
                            self.on_parse_error(err);
                            continue;
                        }
                    }
                    if self.eof {
                        self.on_eof();
                        continue;
                    }
                    if self.now >= deadline {
                        self.on_timeout();
                        continue;
                    }
                    return Output::Timeout(deadline);
                }
            }
        }
    }

    /// The report: final once [`poll_output`](Self::poll_output) returned [`Output::Done`], the findings so far
    /// before that.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The report, without a copy: final once [`poll_output`](Self::poll_output) returned [`Output::Done`]
    /// (see [`is_done`](Self::is_done)); before that, what the probe had found when it was given up.
    pub fn into_report(self) -> Report {
        self.report
    }

    /// Whether the probe has finished.
    pub fn is_done(&self) -> bool {
        self.finished
    }

    /// The next deadline the probe waits on, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Await(p) => Some(p.deadline),
            State::Tls { deadline, .. } => Some(*deadline),
            State::Done => None,
        }
    }

    /// Bytes of receive buffer held (for memory accounting).
    pub fn buffer_capacity(&self) -> usize {
        self.parser.buffer_capacity() + self.tx.capacity()
    }

    /// Time from the connection to `at` (never negative: the probe's clock never runs backwards).
    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards inside the probe, whatever the caller passes.
        self.now = self.now.max(now);
    }

    fn phase_limit(&self, deadline: Instant) -> String {
        if deadline >= self.overall_deadline {
            format!("the overall deadline of {:?}", self.cfg().timeouts.overall)
        } else {
            "its deadline".to_owned()
        }
    }

    // ---- sending ------------------------------------------------------------------------------------------------

    fn send(&mut self, expect: Expect, phase: Phase, command: Command) {
        command.encode(&mut self.tx);
        let shown = command.redacted();
        self.transcribe(Direction::Client, || shown.clone());
        let timeout = match expect {
            Expect::Message => self.cfg().timeouts.data,
            Expect::Quit => self.cfg().timeouts.quit,
            _ => self.cfg().timeouts.reply,
        };
        self.await_reply(expect, phase, Some(shown), timeout);
    }

    fn await_reply(&mut self, expect: Expect, phase: Phase, command: Option<String>, timeout: Duration) {
        self.await_reply_since(self.now, expect, phase, command, timeout);
    }

    /// Waits for a reply counted from `since`: the instant the command went out, or the handshake ended.
    fn await_reply_since(
        &mut self,
        since: Instant,
        expect: Expect,
        phase: Phase,
        command: Option<String>,
        timeout: Duration,
    ) {
        let deadline = self.overall_deadline.min(deadline_after(since, timeout));
        self.state = State::Await(Pending { expect, phase, command, sent: since, deadline });
    }

    fn transcribe(&mut self, direction: Direction, text: impl FnOnce() -> String) {
        if self.cfg().transcript {
            self.report.transcript.push(TranscriptLine { at: self.since_start(self.now), direction, text: text() });
        }
    }

    fn note_event(&mut self, text: &str) {
        self.transcribe(Direction::Event, || text.to_owned());
    }

    // ---- receiving ----------------------------------------------------------------------------------------------

    fn take_reply(&mut self, (mut reply, bare_lf): (OwnedReply, bool)) {
        let State::Await(pending) = mem::replace(&mut self.state, State::Done) else {
            unreachable!("take_reply is only called while awaiting a reply");
        };
        if !self.redactions.is_empty() {
            // A reply that echoes a credential (an AUTH payload, the password) shows it redacted, as the command.
            for line in &mut reply.lines {
                self.redactions.bytes(line);
            }
        }
        let at = self.input_at.max(pending.sent);
        if self.cfg().transcript {
            let last = reply.lines.len().saturating_sub(1);
            let code = reply.code.get();
            let digits = [code / 100, code / 10 % 10, code % 10].map(|d| char::from(b'0' + d as u8));
            for (i, line) in reply.lines.iter().enumerate() {
                // Built by hand, not with `format!`: this runs for every reply line of every probe.
                let mut text = String::with_capacity(line.len() + 4);
                text.extend(digits);
                text.push(if i == last { ' ' } else { '-' });
                text.push_str(&String::from_utf8_lossy(line));
                self.report.transcript.push(TranscriptLine {
                    at: self.since_start(at),
                    direction: Direction::Server,
                    text,
                });
            }
        }
        if bare_lf && !self.bare_lf_noted {
            self.bare_lf_noted = true;
            self.add_finding(
                Severity::Info,
                None,
                Some(pending.phase),
                "the server ends lines with a bare LF instead of CRLF (tolerated)".to_owned(),
                None,
            );
        }
        self.report.steps.push(Step {
            phase: pending.phase,
            command: pending.command,
            reply: Some(reply.clone()),
            duration: at.saturating_duration_since(pending.sent),
        });
        // The probe never pipelines: bytes beyond this reply arrived before the next command was sent. STARTTLS
        // has its own, more specific check (the response-injection attack), and after QUIT nothing matters.
        let starttls_ready = pending.expect == Expect::StartTls && reply.code == ReplyCode::SERVICE_READY;
        if !self.parser.buffered().is_empty() && pending.expect != Expect::Quit && !starttls_ready {
            let message = format!(
                "the server sent data nobody asked for after the {} reply: {}",
                pending.phase,
                escape_head(self.parser.buffered())
            );
            self.fail(Severity::Critical, Cause::ProtocolViolation, pending.phase, message, Some(&reply), Then::Close);
            return;
        }
        self.on_reply(pending.expect, pending.phase, reply);
    }

    /// Every transition on a reply, in one place.
    fn on_reply(&mut self, expect: Expect, phase: Phase, reply: OwnedReply) {
        let code = reply.code;
        match expect {
            Expect::Greeting => self.on_greeting(reply),
            Expect::Ehlo if code == ReplyCode::OK => {
                let caps = Capabilities::from_ehlo(&reply);
                if self.tls_active {
                    self.report.capabilities_tls = Some(caps);
                } else {
                    self.report.capabilities = Some(caps);
                }
                self.after_hello();
            }
            Expect::Ehlo if matches!(code.get(), 500 | 502) && !self.tls_active => {
                // Only "command not recognised" means "try HELO"; 421 or a close never does.
                self.used_helo = true;
                let helo = Command::Helo(self.cfg().ehlo_name.clone());
                self.send(Expect::Helo, Phase::Helo, helo);
            }
            Expect::Ehlo => self.rejected(phase, Cause::EhloRejected, &reply, "the server refused EHLO"),
            Expect::Helo if code == ReplyCode::OK => self.after_hello(),
            Expect::Helo => self.rejected(phase, Cause::EhloRejected, &reply, "the server refused HELO"),
            Expect::StartTls if code == ReplyCode::SERVICE_READY => self.on_starttls_ready(),
            Expect::StartTls => self.rejected(phase, Cause::StartTlsRejected, &reply, "the server refused STARTTLS"),
            Expect::AuthPlain { .. } | Expect::AuthLogin { .. } if code == ReplyCode::AUTH_OK => {
                self.start_envelope_or_quit();
            }
            Expect::AuthPlain { response_sent: false } if code == ReplyCode::AUTH_CHALLENGE => {
                // The server ignored the initial response and asked for it (an empty challenge).
                let auth = self.cfg().auth.as_ref().expect("AUTH is only sent with credentials");
                let response = auth::plain_response(&auth.username, &auth.password);
                self.send(Expect::AuthPlain { response_sent: true }, Phase::Auth, Command::AuthResponse(response));
            }
            Expect::AuthLogin { step } if code == ReplyCode::AUTH_CHALLENGE && step < 2 => {
                let auth = self.cfg().auth.as_ref().expect("AUTH is only sent with credentials");
                let challenge = reply.lines.first().map(Vec::as_slice).unwrap_or_default();
                let response = auth::login_response(challenge, step, &auth.username, &auth.password);
                self.send(Expect::AuthLogin { step: step + 1 }, Phase::Auth, Command::AuthResponse(response));
            }
            Expect::AuthPlain { .. } | Expect::AuthLogin { .. } => {
                let what =
                    if code.get() == 535 { "the server rejected the credentials" } else { "authentication failed" };
                self.rejected(phase, Cause::AuthFailed, &reply, what);
            }
            Expect::MailFrom if code.is_positive_completion() => self.send_rcpt(0),
            Expect::MailFrom => self.rejected(phase, Cause::SenderRejected, &reply, "the server refused the sender"),
            Expect::RcptTo(i) if matches!(code.get(), 250 | 251) => self.after_rcpt(i),
            Expect::RcptTo(_) => {
                self.rejected(phase, Cause::RecipientRejected, &reply, "the server refused the recipient")
            }
            Expect::Data if code == ReplyCode::START_DATA => self.send_message(),
            Expect::Data => self.rejected(phase, Cause::DataRejected, &reply, "the server refused DATA"),
            Expect::Message if code == ReplyCode::OK => {
                if let Some(EnvelopeAction::SendTestMessage { token, .. }) =
                    self.cfg().envelope.as_ref().map(|e| &e.action)
                {
                    self.report.message_token = Some(token.as_str().to_owned());
                    self.report.queue_id = crate::queue_id::queue_id(&reply.text_lossy());
                    self.report.message_accepted = Some(self.input_at.max(self.start) - self.start);
                }
                self.quit();
            }
            Expect::Message => self.rejected(phase, Cause::DataRejected, &reply, "the server refused the message"),
            Expect::Rset => {
                if code != ReplyCode::OK {
                    self.add_finding(
                        Severity::Info,
                        None,
                        Some(phase),
                        "RSET was not accepted".to_owned(),
                        Some(&reply),
                    );
                }
                self.quit();
            }
            Expect::Quit => {
                if code != ReplyCode::CLOSING {
                    self.add_finding(
                        Severity::Info,
                        None,
                        Some(phase),
                        format!("QUIT answered with {code}"),
                        Some(&reply),
                    );
                }
                self.finish();
            }
        }
    }

    fn on_greeting(&mut self, reply: OwnedReply) {
        self.report.greeting = Some(reply.clone());
        let code = reply.code;
        if code == ReplyCode::SERVICE_READY {
            if let Some(expected) = &self.cfg().expectations.greeting_contains {
                if !reply.text_lossy().contains(expected.as_str()) {
                    let message = format!("the greeting does not contain {expected:?}");
                    self.add_finding(
                        Severity::Critical,
                        Some(Cause::ExpectationFailed),
                        Some(Phase::Greeting),
                        message,
                        Some(&reply),
                    );
                }
            }
            let ehlo = Command::Ehlo(self.cfg().ehlo_name.clone());
            let phase = if self.tls_active { Phase::EhloTls } else { Phase::Ehlo };
            self.send(Expect::Ehlo, phase, ehlo);
        } else {
            self.rejected(
                Phase::Greeting,
                Cause::GreetingRejected,
                &reply,
                "the server refused the connection in its greeting",
            );
        }
    }

    /// After a successful EHLO or HELO: STARTTLS if wanted, expectations, then AUTH, the envelope, QUIT.
    fn after_hello(&mut self) {
        let mode = self.cfg().tls_mode;
        let wants_starttls = matches!(mode, TlsMode::StartTlsOpportunistic | TlsMode::StartTlsRequired);
        if wants_starttls && !self.tls_active {
            let offered = self.report.capabilities.as_ref().is_some_and(Capabilities::starttls);
            if offered {
                self.send(Expect::StartTls, Phase::StartTls, Command::StartTls);
                return;
            }
            let why =
                if self.used_helo { "the server only speaks HELO, so no STARTTLS" } else { "STARTTLS is not offered" };
            if mode == TlsMode::StartTlsRequired {
                self.fail(
                    Severity::Critical,
                    Cause::StartTlsUnavailable,
                    Phase::Ehlo,
                    format!("{why}, and TLS is required"),
                    None,
                    Then::Quit,
                );
                return;
            }
            self.add_finding(Severity::Info, None, Some(Phase::Ehlo), format!("{why}: continuing without TLS"), None);
        }
        self.check_capability_expectations();
        if self.cfg().auth.is_some() {
            self.start_auth();
        } else {
            self.start_envelope_or_quit();
        }
    }

    fn check_capability_expectations(&mut self) {
        let expectations = &self.cfg().expectations;
        if expectations.capabilities.is_empty() && expectations.min_size.is_none() {
            // The common case: nothing to check, and nothing to copy.
            return;
        }
        let expectations = expectations.clone();
        let caps = self.report.effective_capabilities().cloned().unwrap_or_default();
        let phase = if self.tls_active { Phase::EhloTls } else { Phase::Ehlo };
        for keyword in &expectations.capabilities {
            // STARTTLS is offered only before TLS (RFC 3207 §4.2 forbids it after): judge it on the first EHLO.
            let offered = match keyword {
                crate::Keyword::StartTls => self.report.capabilities.as_ref().is_some_and(Capabilities::starttls),
                _ => caps.has(*keyword),
            };
            if !offered {
                let message = format!("the server does not advertise {keyword}");
                self.add_finding(Severity::Critical, Some(Cause::ExpectationFailed), Some(phase), message, None);
            }
        }
        if let Some(min) = expectations.min_size {
            let message = match caps.size_limit {
                _ if !caps.size() => Some(format!("SIZE is not advertised (at least {min} bytes expected)")),
                Some(limit) if limit < min => Some(format!("SIZE limit {limit} is below the expected {min} bytes")),
                _ => None,
            };
            if let Some(message) = message {
                self.add_finding(Severity::Critical, Some(Cause::ExpectationFailed), Some(phase), message, None);
            }
        }
    }

    fn on_starttls_ready(&mut self) {
        if !self.parser.buffered().is_empty() {
            // RFC 3207 §5: bytes after the 220 and before the handshake were injected by someone; drop them all.
            let message =
                "plaintext injected after the STARTTLS 220 reply (RFC 3207 §5 response injection); not processed";
            self.fail(
                Severity::Critical,
                Cause::ProtocolViolation,
                Phase::StartTls,
                message.to_owned(),
                None,
                Then::Close,
            );
            return;
        }
        let timeout = self.cfg().timeouts.tls_handshake;
        self.note_event("TLS handshake requested");
        self.state = State::Tls {
            requested: false,
            implicit: false,
            started: self.now,
            deadline: self.overall_deadline.min(deadline_after(self.now, timeout)),
        };
    }

    /// AUTH, when the assessment allows credentials over the connection as it is (`assess::credentials`).
    fn start_auth(&mut self) {
        let auth = self.cfg().auth.clone().expect("start_auth is only called with credentials");
        let tls = if self.tls_active { self.report.tls.as_ref() } else { None };
        let overridden = match assess::credentials(self.cfg(), &auth, tls) {
            Credentials::Withhold(finding) => {
                self.record(finding);
                self.end(Phase::Auth, Then::Quit);
                return;
            }
            Credentials::Send(overridden) => overridden,
        };
        let offered = self.report.effective_capabilities().map(|c| c.auth_mechanisms.clone()).unwrap_or_default();
        let Some(mechanism) = auth.mechanisms.iter().find(|m| offered.contains(m)).cloned() else {
            let message = if offered.is_empty() {
                "the server does not offer AUTH".to_owned()
            } else {
                let offered: Vec<&str> = offered.iter().map(|m| m.as_str()).collect();
                let wanted: Vec<&str> = auth.mechanisms.iter().map(|m| m.as_str()).collect();
                format!(
                    "no common AUTH mechanism: the server offers {}, the probe uses {}",
                    offered.join(" "),
                    wanted.join(" ")
                )
            };
            self.fail(Severity::Critical, Cause::AuthUnavailable, Phase::Auth, message, None, Then::Quit);
            return;
        };
        if let Some(finding) = overridden {
            // The credentials go out only because of an explicit override: say which.
            self.record(finding);
        }
        match mechanism {
            crate::AuthMechanism::Plain => {
                let response = auth::plain_response(&auth.username, &auth.password);
                let command = Command::Auth { mechanism, initial_response: Some(response) };
                self.send(Expect::AuthPlain { response_sent: false }, Phase::Auth, command);
            }
            _ => {
                let command = Command::Auth { mechanism, initial_response: None };
                self.send(Expect::AuthLogin { step: 0 }, Phase::Auth, command);
            }
        }
    }

    fn start_envelope_or_quit(&mut self) {
        let Some(envelope) = self.cfg().envelope.clone() else {
            self.quit();
            return;
        };
        let caps = self.report.effective_capabilities();
        let size = match &envelope.action {
            EnvelopeAction::SendTestMessage { .. } if caps.is_some_and(Capabilities::size) => {
                Some(self.test_message().len() as u64)
            }
            _ => None,
        };
        let needs_utf8 =
            envelope.from.is_internationalized() || envelope.recipients.iter().any(|r| r.is_internationalized());
        let smtputf8 = needs_utf8 && caps.is_some_and(Capabilities::smtputf8);
        self.send(Expect::MailFrom, Phase::MailFrom, Command::MailFrom { from: envelope.from, size, smtputf8 });
    }

    fn send_rcpt(&mut self, index: usize) {
        let to = self.cfg().envelope.as_ref().expect("envelope checked").recipients[index].clone();
        self.send(Expect::RcptTo(index), Phase::RcptTo, Command::RcptTo(to));
    }

    fn after_rcpt(&mut self, index: usize) {
        let envelope = self.cfg().envelope.as_ref().expect("envelope checked");
        if index + 1 < envelope.recipients.len() {
            self.send_rcpt(index + 1);
        } else if envelope.action == EnvelopeAction::StopBeforeData {
            self.send(Expect::Rset, Phase::Rset, Command::Rset);
        } else {
            self.send(Expect::Data, Phase::Data, Command::Data);
        }
    }

    fn send_message(&mut self) {
        let message = self.test_message();
        encode_data(message.as_bytes(), &mut self.tx);
        self.transcribe(Direction::Client, || format!("<test message, {} bytes>", message.len()));
        let timeout = self.cfg().timeouts.data;
        self.await_reply(Expect::Message, Phase::Message, Some("<message>".to_owned()), timeout);
    }

    fn test_message(&self) -> String {
        let cfg = self.cfg();
        let envelope = cfg.envelope.as_ref().expect("a test message needs an envelope");
        match &envelope.action {
            EnvelopeAction::SendTestMessage { token, date } => {
                message::compose(envelope, token, date.as_ref(), &cfg.ehlo_name)
            }
            EnvelopeAction::StopBeforeData => String::new(),
        }
    }

    // ---- endings ------------------------------------------------------------------------------------------------

    /// The reply did not say yes: 4xx is "try later" (degraded), 5xx is this phase's cause (down), anything else
    /// is a reply that makes no sense here.
    fn rejected(&mut self, phase: Phase, cause_5xx: Cause, reply: &OwnedReply, what: &str) {
        let text = format!("{} {}", reply.code, reply.text_lossy());
        let (severity, cause, message) = if reply.code.is_transient() {
            (Severity::Warning, Cause::TemporaryFailure, format!("{what} for now: {text}"))
        } else if reply.code.is_permanent() {
            (Severity::Critical, cause_5xx, format!("{what}: {text}"))
        } else {
            (Severity::Critical, Cause::ProtocolViolation, format!("unexpected reply in {phase}: {text}"))
        };
        self.fail(severity, cause, phase, message, Some(reply), Then::Quit);
    }

    fn on_parse_error(&mut self, err: ReplyError) {
        let phase = self.current_phase();
        let cause = match err {
            ReplyError::NotSmtp { .. } => Cause::NotSmtp,
            _ => Cause::ProtocolViolation,
        };
        // The command was sent: it is a step, with no (valid) reply, as on a timeout or a close.
        self.push_unanswered_step();
        self.fail(Severity::Critical, cause, phase, err.to_string(), None, Then::Close);
    }

    fn on_eof(&mut self) {
        let State::Await(pending) = &self.state else { return };
        let (expect, phase) = (pending.expect, pending.phase);
        if expect == Expect::Quit {
            // Servers may close without answering QUIT (often right after a 5xx): not a failure, but say so, with
            // the reply it followed, rather than leave an unexplained EOF.
            let message = self.closed_after("without answering QUIT");
            self.push_unanswered_step();
            self.add_finding(Severity::Info, None, Some(phase), message, None);
            self.finish();
            return;
        }
        let partial = self.partial_note();
        let message = match self.last_reply() {
            None => format!("the server closed the connection without a greeting{partial}"),
            Some(last) => format!(
                "the server closed the connection while waiting for the {phase} reply, after \"{last}\"{partial}"
            ),
        };
        self.push_unanswered_step();
        self.fail(Severity::Critical, Cause::ConnectionClosed, phase, message, None, Then::Close);
    }

    fn on_timeout(&mut self) {
        let State::Await(pending) = &self.state else { return };
        let (expect, phase, deadline) = (pending.expect, pending.phase, pending.deadline);
        self.push_unanswered_step();
        if expect == Expect::Quit {
            self.add_finding(Severity::Info, None, Some(phase), "no reply to QUIT; closing".to_owned(), None);
            self.finish();
            return;
        }
        let limit = self.phase_limit(deadline);
        let partial = self.partial_note();
        let (cause, message) = if expect == Expect::Greeting {
            (Cause::GreetingTimeout, format!("no complete greeting within {limit}{partial}"))
        } else {
            (Cause::ReplyTimeout, format!("no complete {phase} reply within {limit}{partial}"))
        };
        self.fail(Severity::Critical, cause, phase, message, None, Then::Close);
    }

    fn partial_note(&self) -> String {
        let buffered = self.parser.buffered();
        if buffered.is_empty() {
            String::new()
        } else {
            format!(" (partial reply received: {})", escape_head(buffered))
        }
    }

    /// `the server closed the connection <what>, after "<last reply>"`, never an opaque EOF.
    fn closed_after(&self, what: &str) -> String {
        match self.last_reply() {
            Some(last) => format!("the server closed the connection {what}, after \"{last}\""),
            None => format!("the server closed the connection {what}"),
        }
    }

    /// The last reply received, as `code text`, for messages about what came after it. Every reply is kept in the
    /// report's steps, so it is formatted only when such a message is written, not for every reply.
    fn last_reply(&self) -> Option<String> {
        let reply = self.report.steps.iter().rev().find_map(|step| step.reply.as_ref())?;
        Some(format!("{} {}", reply.code, reply.text_lossy()))
    }

    fn push_unanswered_step(&mut self) {
        if let State::Await(pending) = &self.state {
            let step = Step {
                phase: pending.phase,
                command: pending.command.clone(),
                reply: None,
                duration: self.now.saturating_duration_since(pending.sent),
            };
            self.report.steps.push(step);
        }
    }

    fn current_phase(&self) -> Phase {
        match &self.state {
            State::Await(p) => p.phase,
            State::Tls { .. } => Phase::TlsHandshake,
            State::Done => Phase::Quit,
        }
    }

    fn add_finding(
        &mut self,
        severity: Severity,
        cause: Option<Cause>,
        phase: Option<Phase>,
        message: String,
        reply: Option<&OwnedReply>,
    ) {
        let server_text = reply.map(|r| format!("{} {}", r.code, r.text_lossy()));
        self.record(Finding { severity, cause, phase, message, server_text });
    }

    /// Adds a finding to the report. Every finding goes through here: messages quote the server's bytes (a
    /// partial reply, data nobody asked for), so the credentials' wire forms are redacted from them too.
    fn record(&mut self, mut finding: Finding) {
        if !self.redactions.is_empty() {
            self.redactions.text(&mut finding.message);
            if let Some(text) = &mut finding.server_text {
                self.redactions.text(text);
            }
        }
        self.report.add_finding(finding);
    }

    fn fail(
        &mut self,
        severity: Severity,
        cause: Cause,
        phase: Phase,
        message: String,
        reply: Option<&OwnedReply>,
        then: Then,
    ) {
        self.add_finding(severity, Some(cause), Some(phase), message, reply);
        self.end(phase, then);
    }

    /// Ends the probe after a failure already recorded (in `phase`): say goodbye if the conversation allows.
    fn end(&mut self, phase: Phase, then: Then) {
        match then {
            Then::Quit if !self.eof && self.now < self.overall_deadline => self.quit(),
            Then::Quit if self.eof => {
                // The peer closed right after this reply: no QUIT to send, but say so rather than drop the EOF.
                let message = self.closed_after("before QUIT could be sent");
                self.add_finding(Severity::Info, None, Some(phase), message, None);
                self.finish();
            }
            _ => self.finish(),
        }
    }

    fn quit(&mut self) {
        self.main_sequence_end = Some(self.now);
        self.send(Expect::Quit, Phase::Quit, Command::Quit);
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.state = State::Done;
        self.tx.clear();
        let end = self.main_sequence_end.unwrap_or(self.now);
        self.report.response_time = self.since_start(end);
        self.report.total = self.since_start(self.now);
        let thresholds = *self.config.thresholds();
        let rt = self.report.response_time;
        let slow = match (thresholds.response_critical, thresholds.response_warning) {
            (Some(crit), _) if rt > crit => Some((Severity::Critical, crit)),
            (_, Some(warn)) if rt > warn => Some((Severity::Warning, warn)),
            _ => None,
        };
        if let Some((severity, limit)) = slow {
            let message = format!("response time {} ms is over the {} ms threshold", rt.as_millis(), limit.as_millis());
            self.add_finding(severity, Some(Cause::SlowResponse), None, message, None);
        }
        self.finished = true;
    }

    // ---- TLS ----------------------------------------------------------------------------------------------------

    fn on_tls_outcome(&mut self, at: Instant, outcome: TlsOutcome, started: Instant, implicit: bool) {
        self.push_tls_step(started, at);
        match outcome {
            TlsOutcome::Established { info, injected: true } => {
                // Plaintext that came after the STARTTLS 220 and before the handshake: never let it pass as a reply.
                self.note_event("plaintext received during the TLS hand-off");
                self.report.tls = Some(info);
                let message =
                    "plaintext injected after the STARTTLS 220 reply (RFC 3207 §5 response injection); not processed";
                self.fail(
                    Severity::Critical,
                    Cause::ProtocolViolation,
                    Phase::TlsHandshake,
                    message.to_owned(),
                    None,
                    Then::Close,
                );
            }
            TlsOutcome::Established { info, injected: false } => {
                // What the parser holds arrived after the handshake: the first bytes inside TLS.
                self.tls_active = true;
                self.note_event(&format!(
                    "TLS established: {} {}",
                    info.version.as_deref().unwrap_or("?"),
                    info.cipher.as_deref().unwrap_or("?")
                ));
                for finding in assess::established(self.cfg(), &info) {
                    self.record(finding);
                }
                self.report.tls = Some(info);
                if implicit {
                    // The greeting is due from the end of the handshake, not from the poll that learnt of it.
                    let timeout = self.cfg().timeouts.greeting;
                    self.await_reply_since(at, Expect::Greeting, Phase::Greeting, None, timeout);
                } else {
                    let ehlo = Command::Ehlo(self.cfg().ehlo_name.clone());
                    self.send(Expect::Ehlo, Phase::EhloTls, ehlo);
                }
            }
            TlsOutcome::Failed(failure) => {
                let failed = assess::failed(self.cfg(), failure);
                if failed.tls.is_some() {
                    self.report.tls = failed.tls;
                }
                self.fail(failed.severity, failed.cause, Phase::TlsHandshake, failed.message, None, Then::Close);
            }
        }
    }

    /// The handshake as a step, from its start to `end`, whatever its outcome: its time counts either way.
    fn push_tls_step(&mut self, started: Instant, end: Instant) {
        let duration = end.saturating_duration_since(started);
        self.report.steps.push(Step { phase: Phase::TlsHandshake, command: None, reply: None, duration });
    }
}

/// The first bytes of `bytes`, quoted and escaped, for messages.
fn escape_head(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(64)];
    let more = if bytes.len() > shown.len() { "…" } else { "" };
    format!("\"{}{more}\"", shown.escape_ascii())
}
