//! [`MailboxProbe`]: the IMAP state machine that finds the round trip's message, driven by bytes and time the
//! caller feeds in.
//!
//! As with the SMTP [`Probe`](crate::Probe), `handle_*` only record and [`MailboxProbe::poll_output`] does all
//! parsing and every transition; tagged replies are handled in one place, [`MailboxProbe::on_tagged`]. The
//! polling schedule lives here too, so adapters only pump bytes and sleep until the instant they are given.
//!
//! The order of a check: greeting → CAPABILITY → STARTTLS (and CAPABILITY again) → LOGIN or AUTHENTICATE PLAIN →
//! CAPABILITY (unless the login reply carried it) → SELECT inbox → [`MailboxOutput::Ready`] → once told the message
//! was accepted, rounds of NOOP (or SELECT) and UID SEARCH on the token header in the inbox and the junk folder,
//! with growing waits between rounds → UID FETCH of the headers → UID STORE `\Deleted` and UID EXPUNGE → LOGOUT.

use std::mem;
use std::time::{Duration, Instant};

use crate::assess::describe_certificate_problem;
use crate::config::deadline_after;
use crate::error::UsageError;
use crate::imap::command::{ImapCommand, plain_response};
use crate::imap::config::{Cleanup, LoginMethod, MailboxConfig, MailboxInner};
use crate::imap::report::{CleanupOutcome, FoundMessage, ImapStep, MAX_RECORDED, MailboxReport};
use crate::imap::response::{Code, FetchItem, Response, ResponseError, ResponseParser, Status, Text, Untagged};
use crate::probe::TlsRequest;
use crate::report::{
    Cause, CertificateProblem, Direction, Finding, Phase, Severity, TlsFailure, TlsInfo, TranscriptLine,
};
use crate::roundtrip::{TOKEN_HEADER, Token};

/// What the caller must do next. Drain [`MailboxProbe::poll_output`] until it returns `Timeout`, `Ready` or `Done`.
///
/// The set of variants is closed: a driver handles each of them, and a new one would be a breaking change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxOutput {
    /// Write these bytes to the connection, then poll again.
    Transmit(Vec<u8>),
    /// Run a TLS client handshake now (STARTTLS was accepted, or the mode is implicit TLS), then call
    /// [`MailboxProbe::handle_tls_established`] or [`MailboxProbe::handle_tls_failed`]. Until then, bytes from the
    /// connection belong to the handshake.
    StartTls(TlsRequest),
    /// Wait for bytes, end of stream, or this instant; report it, then poll again.
    Timeout(Instant),
    /// Logged in, inbox selected, and not yet told that the message was accepted: submit it now (keeping this
    /// connection open), then call [`MailboxProbe::handle_accepted`] (or [`MailboxProbe::handle_abandon`] when the
    /// submission failed). Returned once; later polls wait with `Timeout` as usual.
    Ready,
    /// The check is over: close the connection, then take the report with [`MailboxProbe::into_report`] (or look
    /// at it with [`MailboxProbe::report`]). Every later poll returns `Done` again.
    Done,
}

/// What a command in flight waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Capability,
    StartTls,
    Login,
    AuthPlain { response_sent: bool },
    Select(Folder),
    Noop(Folder),
    Search(Folder),
    Fetch,
    Store,
    Expunge { uid: bool },
    Logout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Folder {
    Inbox,
    Junk,
}

#[derive(Debug, Clone)]
struct Pending {
    expect: Expect,
    phase: Phase,
    tag: Option<String>,
    command: Option<String>,
    sent: Instant,
    deadline: Instant,
}

#[derive(Debug)]
enum State {
    Await(Pending),
    Tls {
        requested: bool,
        implicit: bool,
        started: Instant,
        deadline: Instant,
    },
    /// Logged in with the inbox selected, waiting to hear that the message was accepted.
    Ready {
        announced: bool,
    },
    /// Between two search rounds.
    Sleep {
        until: Instant,
    },
    Done,
}

/// How the TLS handshake the check asked for ended, as reported by `handle_tls_*` and applied by the next poll.
#[derive(Debug)]
enum TlsOutcome {
    Established {
        info: TlsInfo,
        /// Whether plaintext had arrived before the handshake's result: bytes injected after the STARTTLS OK.
        injected: bool,
    },
    Failed(TlsFailure),
}

/// What to do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    Logout,
    Close,
}

/// A message fetched: what its FETCH response said.
#[derive(Debug, Default, Clone)]
struct Fetched {
    uid: Option<u32>,
    internal_date: Option<i64>,
    size: Option<u32>,
    headers: Option<Vec<u8>>,
}

/// One mailbox check on one connection. See the [`imap`](crate::imap) module for the order of a check, and
#[cfg_attr(feature = "rustls", doc = "[`MailboxSession`](crate::imap::MailboxSession) for the same with TLS inside.")]
#[cfg_attr(not(feature = "rustls"), doc = "`MailboxSession` (feature `rustls`) for the same with TLS inside.")]
#[derive(Debug)]
pub struct MailboxProbe {
    config: MailboxConfig,
    token: Token,
    /// Credentials as they could be echoed back: redacted from every server text kept.
    secrets: Vec<String>,
    start: Instant,
    now: Instant,
    input_at: Instant,
    search_deadline: Instant,
    overall_deadline: Instant,
    parser: ResponseParser,
    state: State,
    tx: Vec<u8>,
    eof: bool,
    tls_active: bool,
    authenticated: bool,
    next_tag: u32,
    capabilities: Vec<String>,
    caps_known: bool,
    /// Counts capability announcements, to tell whether the login reply (or data during it) brought new ones.
    caps_seen: u32,
    caps_seen_at_login: u32,
    selected: Option<Folder>,
    junk_usable: bool,
    accepted_at: Option<Instant>,
    abandoned: bool,
    rounds: u32,
    round_started: Option<Instant>,
    last_miss: Option<Instant>,
    search_hits: Vec<u32>,
    fetched: Vec<Fetched>,
    found: Option<(Folder, Vec<u32>, Instant)>,
    ours: Vec<u32>,
    bye: Option<String>,
    recorded_overflow: bool,
    /// A TLS outcome reported and not yet applied, with the time it was reported at.
    tls_outcome: Option<(Instant, TlsOutcome)>,
    /// A buffer limit a caller's layer (the `MailboxSession`'s ciphertext buffer) reported exceeded.
    overflow: Option<usize>,
    report: MailboxReport,
    finished: bool,
}

impl MailboxProbe {
    /// A check of a connection established at `now`, looking for the message carrying `token`. The message must
    /// show up by `search_deadline`; fetching, cleaning up and logging out may run on to `overall_deadline`.
    pub fn new(
        config: MailboxConfig,
        token: Token,
        now: Instant,
        search_deadline: Instant,
        overall_deadline: Instant,
    ) -> MailboxProbe {
        let inner = config.inner();
        let search_deadline = search_deadline.min(overall_deadline);
        let mut secrets = vec![inner.password.expose().to_owned()];
        secrets.push(plain_response(&inner.user, &inner.password).expose().to_owned());
        secrets.retain(|s| !s.is_empty());
        let state = if inner.tls_mode == crate::TlsMode::Implicit {
            State::Tls {
                requested: false,
                implicit: true,
                started: now,
                deadline: search_deadline.min(deadline_after(now, inner.timeouts.tls_handshake)),
            }
        } else {
            State::Await(Pending {
                expect: Expect::Greeting,
                phase: Phase::ImapGreeting,
                tag: None,
                command: None,
                sent: now,
                deadline: search_deadline.min(deadline_after(now, inner.timeouts.greeting)),
            })
        };
        MailboxProbe {
            parser: ResponseParser::new(inner.limits),
            report: MailboxReport::empty(inner.report_target.clone()),
            junk_usable: inner.junk.is_some(),
            config,
            token,
            secrets,
            start: now,
            now,
            input_at: now,
            search_deadline,
            overall_deadline,
            state,
            tx: Vec::new(),
            eof: false,
            tls_active: false,
            authenticated: false,
            next_tag: 1,
            capabilities: Vec::new(),
            caps_known: false,
            caps_seen: 0,
            caps_seen_at_login: 0,
            selected: None,
            accepted_at: None,
            abandoned: false,
            rounds: 0,
            round_started: None,
            last_miss: None,
            search_hits: Vec::new(),
            fetched: Vec::new(),
            found: None,
            ours: Vec::new(),
            bye: None,
            recorded_overflow: false,
            tls_outcome: None,
            overflow: None,
            finished: false,
        }
    }

    fn cfg(&self) -> &MailboxInner {
        self.config.inner()
    }

    /// Bytes from the server (after TLS, the decrypted stream). Only buffers; bounded by the response limits (excess
    /// ends the check as a protocol violation, reported by the next poll). Ignored once the check is done.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.finished || bytes.is_empty() {
            return;
        }
        self.advance(now);
        self.input_at = self.now;
        self.report.bytes_received += bytes.len() as u64;
        // An overflow poisons the parser; the next poll turns it into a finding.
        let _ = self.parser.feed(bytes);
    }

    /// The server closed the connection (or it was reset). Only recorded.
    pub fn handle_eof(&mut self, now: Instant) {
        self.advance(now);
        self.eof = true;
    }

    /// A deadline passed (spurious calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    /// The message was accepted by the submission server at `accepted_at`: the next poll starts looking for it (at
    /// once when logged in, else right after).
    pub fn handle_accepted(&mut self, now: Instant, accepted_at: Instant) {
        self.advance(now);
        if self.accepted_at.is_none() && !self.abandoned {
            self.accepted_at = Some(accepted_at);
        }
    }

    /// The message was not sent (the submission failed): the next poll logs out without searching.
    pub fn handle_abandon(&mut self, now: Instant) {
        self.advance(now);
        if self.accepted_at.is_none() {
            self.abandoned = true;
        }
    }

    /// The TLS handshake the check asked for succeeded. Only recorded: the next poll goes on inside TLS (or refuses
    /// plaintext that came before this news, RFC 3501 §11.1).
    pub fn handle_tls_established(&mut self, now: Instant, info: TlsInfo) -> Result<(), UsageError> {
        self.expect_tls()?;
        self.advance(now);
        // Anything buffered now arrived in plaintext before the handshake's result; what comes after is TLS data.
        let injected = !self.parser.buffered().is_empty();
        self.tls_outcome = Some((self.now, TlsOutcome::Established { info, injected }));
        Ok(())
    }

    /// The TLS handshake the check asked for failed. Only recorded: the next poll ends the check (close the
    /// connection when it says `Done`).
    pub fn handle_tls_failed(&mut self, now: Instant, failure: TlsFailure) -> Result<(), UsageError> {
        self.expect_tls()?;
        self.advance(now);
        self.tls_outcome = Some((self.now, TlsOutcome::Failed(failure)));
        Ok(())
    }

    /// Records that a layer below the check (the `MailboxSession`'s buffer of received ciphertext) went over
    /// `limit` bytes: the next poll ends the check as a full response buffer does.
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
    pub fn poll_output(&mut self, now: Instant) -> MailboxOutput {
        self.advance(now);
        loop {
            if self.finished {
                return MailboxOutput::Done;
            }
            if !self.tx.is_empty() {
                return MailboxOutput::Transmit(mem::take(&mut self.tx));
            }
            if let Some(limit) = self.overflow.take() {
                self.on_parse_error(ResponseError::BufferFull { limit });
                continue;
            }
            match &mut self.state {
                State::Done => self.finish(),
                State::Tls { requested, implicit, deadline, started } => {
                    if !*requested {
                        *requested = true;
                        let tls_name = self.config.tls_name().map(str::to_owned);
                        return MailboxOutput::StartTls(TlsRequest { tls_name, implicit: *implicit });
                    }
                    let (implicit, deadline, started) = (*implicit, *deadline, *started);
                    if let Some((at, outcome)) = self.tls_outcome.take() {
                        self.on_tls_outcome(at, outcome, started, implicit);
                        continue;
                    }
                    if self.now >= deadline {
                        self.push_step(Phase::ImapTlsHandshake, None, None, None, self.now - started);
                        let message = "the TLS handshake with the IMAP server did not complete in time".to_owned();
                        self.fail(Cause::MailboxUnavailable, Phase::ImapTlsHandshake, message, None, Then::Close);
                        continue;
                    }
                    return MailboxOutput::Timeout(deadline);
                }
                State::Await(pending) => {
                    let deadline = pending.deadline;
                    if self.take_responses() {
                        continue;
                    }
                    if self.eof {
                        self.on_eof();
                        continue;
                    }
                    if self.now >= deadline {
                        self.on_timeout();
                        continue;
                    }
                    return MailboxOutput::Timeout(deadline);
                }
                State::Ready { announced } => {
                    let announced = mem::replace(announced, true);
                    if self.take_responses() {
                        continue;
                    }
                    if self.eof {
                        self.on_eof();
                    } else if self.abandoned {
                        self.note_event("the message was not sent: not searching");
                        self.logout();
                    } else if self.accepted_at.is_some() {
                        self.start_round();
                    } else if self.now >= self.search_deadline {
                        let message = "no message was submitted before the deadline; not searching".to_owned();
                        self.add_finding(Severity::Info, None, Some(Phase::Delivery), message, None);
                        self.logout();
                    } else if !announced {
                        return MailboxOutput::Ready;
                    } else {
                        return MailboxOutput::Timeout(self.search_deadline);
                    }
                }
                State::Sleep { until } => {
                    let until = *until;
                    if self.take_responses() {
                        continue;
                    }
                    if self.eof {
                        self.on_eof();
                    } else if self.now >= self.search_deadline {
                        self.search_over();
                    } else if self.now >= until {
                        self.start_round();
                    } else {
                        return MailboxOutput::Timeout(until.min(self.search_deadline));
                    }
                }
            }
        }
    }

    /// The report: final once [`poll_output`](Self::poll_output) returned [`MailboxOutput::Done`], the findings so
    /// far before that.
    pub fn report(&self) -> &MailboxReport {
        &self.report
    }

    /// The report, without a copy: final once [`poll_output`](Self::poll_output) returned
    /// [`MailboxOutput::Done`].
    pub fn into_report(self) -> MailboxReport {
        self.report
    }

    /// Whether the check has finished.
    pub fn is_done(&self) -> bool {
        self.finished
    }

    /// The next deadline the check waits on, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        match &self.state {
            State::Await(p) => Some(p.deadline),
            State::Tls { deadline, .. } => Some(*deadline),
            State::Ready { .. } => Some(self.search_deadline),
            State::Sleep { until } => Some((*until).min(self.search_deadline)),
            State::Done => None,
        }
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    // ---- receiving ----------------------------------------------------------------------------------------------

    /// Takes every complete response; true when the state may have changed.
    fn take_responses(&mut self) -> bool {
        loop {
            let waiting = matches!(self.state, State::Await(_));
            let framed = match self.parser.next_framed() {
                Ok(Some((response, raw))) => {
                    let line = display(first_line(raw), 200, &self.secrets);
                    Some((owned(response, &self.secrets), line))
                }
                Ok(None) => None,
                Err(err) => {
                    self.on_parse_error(err);
                    return true;
                }
            };
            let Some((response, line)) = framed else { return false };
            self.transcribe(Direction::Server, || line);
            match response {
                Owned::Untagged(untagged) => {
                    if self.on_untagged(untagged) {
                        return true;
                    }
                }
                Owned::Continuation if waiting => {
                    if self.on_continuation() {
                        return true;
                    }
                }
                Owned::Tagged { tag, status, code, text } if waiting => {
                    self.on_tagged_response(tag, status, code, text);
                    return true;
                }
                Owned::Continuation | Owned::Tagged { .. } => {
                    let message = "the IMAP server sent a reply while no command was pending".to_owned();
                    self.fail(Cause::MailboxUnavailable, self.current_phase(), message, None, Then::Close);
                    return true;
                }
            }
        }
    }

    /// An untagged response; true when it ended the wait.
    fn on_untagged(&mut self, untagged: OwnedUntagged) -> bool {
        let expect = match &self.state {
            State::Await(p) => Some(p.expect),
            _ => None,
        };
        match untagged {
            OwnedUntagged::Status { status, code, text } if expect == Some(Expect::Greeting) => {
                self.on_greeting(status, code, text);
                true
            }
            OwnedUntagged::Status { status: Status::Bye, text, .. } => {
                // The server is closing: the EOF that follows (or LOGOUT's tagged OK) ends the wait.
                self.bye = Some(text);
                false
            }
            OwnedUntagged::Status { code: Some(OwnedCode::Capability(caps)), .. } | OwnedUntagged::Capability(caps) => {
                self.set_capabilities(caps);
                false
            }
            OwnedUntagged::Search(uids) => {
                if matches!(expect, Some(Expect::Search(_))) {
                    self.search_hits.extend(uids);
                }
                false
            }
            OwnedUntagged::Fetch(fetched) => {
                if expect == Some(Expect::Fetch) && self.fetched.len() < 16 {
                    self.fetched.push(fetched);
                }
                false
            }
            _ => false,
        }
    }

    fn on_continuation(&mut self) -> bool {
        let State::Await(pending) = &self.state else { return false };
        if pending.expect != (Expect::AuthPlain { response_sent: false }) {
            let message = "the IMAP server asked for a continuation nobody needed".to_owned();
            self.fail(Cause::MailboxUnavailable, pending.phase, message, None, Then::Close);
            return true;
        }
        let response = plain_response(&self.cfg().user, &self.cfg().password);
        let mut line = Vec::new();
        let _ = ImapCommand::AuthResponse(response).encode("", &mut line);
        self.count_sent(&line);
        self.tx.extend_from_slice(&line);
        self.transcribe(Direction::Client, || "<redacted>".to_owned());
        if let State::Await(pending) = &mut self.state {
            pending.expect = Expect::AuthPlain { response_sent: true };
        }
        false
    }

    fn on_tagged_response(&mut self, tag: Vec<u8>, status: Status, code: Option<OwnedCode>, text: String) {
        let State::Await(pending) = mem::replace(&mut self.state, State::Done) else {
            unreachable!("tagged replies are only taken while awaiting one");
        };
        if pending.tag.as_deref().map(str::as_bytes) != Some(tag.as_slice()) {
            self.state = State::Await(pending.clone());
            let message = format!(
                "the IMAP server answered tag {} while {} was pending",
                display(&tag, 40, &[]),
                pending.tag.as_deref().unwrap_or("no command")
            );
            self.fail(Cause::MailboxUnavailable, pending.phase, message, None, Then::Close);
            return;
        }
        let at = self.input_at.max(pending.sent);
        let shown = match &code {
            Some(code) => format!("[{}] {text}", code.name()),
            None => text.clone(),
        };
        self.push_step(pending.phase, pending.command.clone(), Some(status), Some(shown.clone()), at - pending.sent);
        if let Some(OwnedCode::Capability(caps)) = &code {
            self.set_capabilities(caps.clone());
        }
        // The check never pipelines: more bytes now are replies to nothing, except untagged data.
        self.on_tagged(pending, status, code, format!("{} {shown}", status.as_str()));
    }

    /// Every transition on a tagged reply, in one place.
    fn on_tagged(&mut self, pending: Pending, status: Status, code: Option<OwnedCode>, shown: String) {
        let phase = pending.phase;
        let ok = status == Status::Ok;
        match pending.expect {
            Expect::Greeting => unreachable!("the greeting is untagged"),
            Expect::Capability if ok => self.after_capabilities(),
            Expect::StartTls if ok => self.on_starttls_ok(),
            Expect::Login | Expect::AuthPlain { .. } if ok => self.after_login(),
            Expect::Login | Expect::AuthPlain { .. } => self.login_refused(status, code, shown),
            Expect::Select(folder) if ok => {
                self.selected = Some(folder);
                if self.report.ready.is_none() {
                    self.report.ready = Some(self.now - self.start);
                    self.state = State::Ready { announced: false };
                } else {
                    self.send_search(folder);
                }
            }
            Expect::Select(Folder::Junk) => {
                let name = self.cfg().junk.clone().unwrap_or_default();
                let message = format!("the junk folder {name:?} cannot be selected; searching the inbox only");
                self.add_finding(Severity::Info, None, Some(phase), message, Some(shown));
                self.junk_usable = false;
                self.selected = None;
                self.end_round();
            }
            Expect::Noop(folder) if ok => self.send_search(folder),
            Expect::Search(folder) if ok => self.after_search(folder),
            Expect::Fetch if ok => self.after_fetch(),
            Expect::Store if ok => self.after_store(),
            Expect::Expunge { uid } if ok => {
                self.report.cleanup =
                    Some(if uid { CleanupOutcome::Expunged } else { CleanupOutcome::ExpungedMailbox });
                self.logout();
            }
            Expect::Store | Expect::Expunge { .. } => {
                self.report.cleanup = Some(CleanupOutcome::Failed);
                let message = "the server refused to delete the probe's message; it may still be in the mailbox";
                self.add_finding(Severity::Info, None, Some(phase), message.to_owned(), Some(shown));
                self.logout();
            }
            Expect::Logout => self.finish(),
            _ => {
                let what = match pending.expect {
                    Expect::Select(_) => "the inbox cannot be selected",
                    Expect::Capability => "the IMAP server refused CAPABILITY",
                    Expect::StartTls => "the IMAP server refused STARTTLS",
                    Expect::Noop(_) => "the IMAP server refused NOOP",
                    Expect::Search(_) => "the IMAP server refused to search the mailbox",
                    _ => "the IMAP server refused to fetch the message",
                };
                let then = if pending.expect == Expect::StartTls { Then::Close } else { Then::Logout };
                self.fail(Cause::MailboxUnavailable, phase, format!("{what}: {shown}"), Some(shown), then);
            }
        }
    }

    fn on_greeting(&mut self, status: Status, code: Option<OwnedCode>, text: String) {
        let State::Await(pending) = mem::replace(&mut self.state, State::Done) else { return };
        let at = self.input_at.max(pending.sent);
        self.push_step(Phase::ImapGreeting, None, Some(status), Some(text.clone()), at - pending.sent);
        self.report.greeting = Some(text.clone());
        if let Some(OwnedCode::Capability(caps)) = code {
            self.set_capabilities(caps);
        }
        match status {
            Status::Ok => self.after_capabilities_or_ask(),
            Status::PreAuth => {
                self.authenticated = true;
                self.note_event("pre-authenticated by the server: no credentials sent");
                if self.tls_required() && !self.tls_active {
                    let message = "the server pre-authenticated the connection without TLS, and TLS is required";
                    self.fail(Cause::MailboxUnavailable, Phase::ImapGreeting, message.to_owned(), None, Then::Logout);
                    return;
                }
                self.after_login();
            }
            _ => {
                let message = format!("the IMAP server refused the connection in its greeting: {status} {text}");
                self.fail(Cause::MailboxUnavailable, Phase::ImapGreeting, message, Some(text), Then::Close);
            }
        }
    }

    fn set_capabilities(&mut self, caps: Vec<String>) {
        self.capabilities = caps;
        self.caps_known = true;
        self.caps_seen += 1;
        self.report.capabilities = self.capabilities.clone();
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities.iter().any(|c| c.eq_ignore_ascii_case(name))
    }

    fn tls_required(&self) -> bool {
        matches!(self.cfg().tls_mode, crate::TlsMode::Implicit | crate::TlsMode::StartTlsRequired)
    }

    fn after_capabilities_or_ask(&mut self) {
        if self.caps_known {
            self.after_capabilities();
        } else {
            self.send(Expect::Capability, Phase::ImapCapability, ImapCommand::Capability);
        }
    }

    /// After CAPABILITY: STARTTLS if wanted, then log in; once logged in, select the inbox.
    fn after_capabilities(&mut self) {
        if self.authenticated {
            self.select(Folder::Inbox);
            return;
        }
        let mode = self.cfg().tls_mode;
        let wants_starttls = matches!(mode, crate::TlsMode::StartTlsRequired | crate::TlsMode::StartTlsOpportunistic);
        if wants_starttls && !self.tls_active {
            if self.has_capability("STARTTLS") {
                self.send(Expect::StartTls, Phase::ImapStartTls, ImapCommand::StartTls);
                return;
            }
            if mode == crate::TlsMode::StartTlsRequired {
                let message = "the IMAP server does not offer STARTTLS, and TLS is required".to_owned();
                self.fail(Cause::MailboxUnavailable, Phase::ImapStartTls, message, None, Then::Logout);
                return;
            }
            let message = "the IMAP server does not offer STARTTLS: continuing without TLS".to_owned();
            self.add_finding(Severity::Info, None, Some(Phase::ImapStartTls), message, None);
        }
        self.login();
    }

    fn on_starttls_ok(&mut self) {
        if !self.parser.buffered().is_empty() {
            let message =
                "plaintext injected after the STARTTLS OK (response injection, RFC 3501 §11.1); not processed";
            self.fail(Cause::MailboxUnavailable, Phase::ImapStartTls, message.to_owned(), None, Then::Close);
            return;
        }
        self.note_event("TLS handshake requested");
        let deadline = self.search_deadline.min(deadline_after(self.now, self.cfg().timeouts.tls_handshake));
        self.state = State::Tls { requested: false, implicit: false, started: self.now, deadline };
    }

    /// Sends the credentials, if it is safe to: only over TLS whose certificate verified (or a pin matched), or
    /// through an override the configuration states and the report names.
    fn login(&mut self) {
        let verified = self.report.tls.as_ref().is_some_and(TlsInfo::is_verified);
        if self.tls_active && !verified {
            let inspect_only = self.inspect_only();
            if !inspect_only {
                let message = "the IMAP certificate did not verify: the password was not sent".to_owned();
                self.fail(Cause::CertificateInvalid, Phase::ImapLogin, message, None, Then::Logout);
                return;
            }
            let message = "inspect-only: the password was sent over TLS whose certificate did not verify".to_owned();
            self.add_finding(Severity::Info, None, Some(Phase::ImapLogin), message, None);
        } else if !self.tls_active {
            if !self.cfg().allow_plaintext {
                let message = "the password was not sent: the connection is not encrypted".to_owned();
                self.fail(Cause::MailboxUnavailable, Phase::ImapLogin, message, None, Then::Logout);
                return;
            }
            let message = "allow-plaintext: the password was sent without TLS".to_owned();
            self.add_finding(Severity::Info, None, Some(Phase::ImapLogin), message, None);
        }
        let plain_offered = self.has_capability("AUTH=PLAIN");
        let login_allowed = !self.has_capability("LOGINDISABLED");
        let use_plain = match self.cfg().login_method {
            LoginMethod::Auto => plain_offered || !login_allowed,
            LoginMethod::Plain => true,
            LoginMethod::Login => false,
        };
        if use_plain && !plain_offered && self.cfg().login_method == LoginMethod::Plain {
            // Some servers accept PLAIN without advertising it; try, the tagged reply will tell.
            self.note_event("AUTH=PLAIN is not advertised; trying AUTHENTICATE PLAIN as configured");
        }
        if !use_plain && !login_allowed {
            let message = "the IMAP server says LOGINDISABLED, and AUTHENTICATE PLAIN is not to be used".to_owned();
            self.fail(Cause::MailboxUnavailable, Phase::ImapLogin, message, None, Then::Logout);
            return;
        }
        if use_plain && !plain_offered && self.cfg().login_method == LoginMethod::Auto {
            let message = "the IMAP server says LOGINDISABLED and offers no AUTH=PLAIN: no way to log in".to_owned();
            self.fail(Cause::MailboxUnavailable, Phase::ImapLogin, message, None, Then::Logout);
            return;
        }
        let command = if use_plain {
            let ir = self.has_capability("SASL-IR").then(|| plain_response(&self.cfg().user, &self.cfg().password));
            ImapCommand::AuthenticatePlain { initial_response: ir }
        } else {
            ImapCommand::Login {
                user: self.cfg().user.clone(),
                password: self.cfg().password.clone(),
                literal_plus: self.has_capability("LITERAL+"),
            }
        };
        let expect = if use_plain { Expect::AuthPlain { response_sent: false } } else { Expect::Login };
        self.caps_seen_at_login = self.caps_seen;
        self.send(expect, Phase::ImapLogin, command);
    }

    fn inspect_only(&self) -> bool {
        #[cfg(feature = "rustls")]
        {
            self.cfg().tls_config.as_ref().is_some_and(crate::tls::TlsConfig::inspect_only)
        }
        #[cfg(not(feature = "rustls"))]
        {
            false
        }
    }

    fn login_refused(&mut self, status: Status, code: Option<OwnedCode>, shown: String) {
        let (cause, what) = match (&code, status) {
            (Some(OwnedCode::Unavailable), _) => {
                (Cause::MailboxUnavailable, "the IMAP server cannot log the user in now (UNAVAILABLE)")
            }
            (_, Status::Bad) => (Cause::MailboxUnavailable, "the IMAP server did not accept the login command"),
            (Some(OwnedCode::AuthorizationFailed), _) => {
                (Cause::MailboxAuthFailed, "the IMAP server accepted the credentials but denies access")
            }
            _ => (Cause::MailboxAuthFailed, "the IMAP server rejected the credentials"),
        };
        self.fail(cause, Phase::ImapLogin, format!("{what}: {shown}"), Some(shown), Then::Logout);
    }

    fn after_login(&mut self) {
        self.authenticated = true;
        // Servers often say more after login (UIDPLUS, for one); ask unless the login reply said it.
        if self.caps_seen > self.caps_seen_at_login {
            self.select(Folder::Inbox);
        } else {
            self.caps_known = false;
            self.send(Expect::Capability, Phase::ImapCapability, ImapCommand::Capability);
        }
    }

    // ---- searching ----------------------------------------------------------------------------------------------

    fn folder_name(&self, folder: Folder) -> String {
        match folder {
            Folder::Inbox => self.cfg().inbox.clone(),
            Folder::Junk => self.cfg().junk.clone().unwrap_or_default(),
        }
    }

    fn select(&mut self, folder: Folder) {
        let name = self.folder_name(folder);
        self.send(Expect::Select(folder), Phase::ImapSelect, ImapCommand::Select(name));
    }

    fn start_round(&mut self) {
        self.rounds += 1;
        self.report.searches = self.rounds;
        self.round_started = Some(self.now);
        self.search_folder(Folder::Inbox);
    }

    /// NOOP lets the server report new mail in the selected folder; another folder is selected instead.
    fn search_folder(&mut self, folder: Folder) {
        if self.selected == Some(folder) {
            self.send(Expect::Noop(folder), Phase::ImapSearch, ImapCommand::Noop);
        } else {
            self.select(folder);
        }
    }

    fn send_search(&mut self, folder: Folder) {
        self.search_hits.clear();
        let command = ImapCommand::UidSearchHeader { name: TOKEN_HEADER, value: self.token.as_str().to_owned() };
        self.send(Expect::Search(folder), Phase::ImapSearch, command);
    }

    fn after_search(&mut self, folder: Folder) {
        let mut hits = mem::take(&mut self.search_hits);
        hits.sort_unstable();
        hits.dedup();
        hits.truncate(16);
        if !hits.is_empty() {
            self.found = Some((folder, hits.clone(), self.input_at));
            self.fetched.clear();
            self.send(Expect::Fetch, Phase::ImapFetch, ImapCommand::UidFetchHeaders(hits));
            return;
        }
        if folder == Folder::Inbox && self.junk_usable {
            self.search_folder(Folder::Junk);
        } else {
            self.end_round();
        }
    }

    fn end_round(&mut self) {
        self.last_miss = Some(self.input_at);
        let started = self.round_started.unwrap_or(self.now);
        let until = deadline_after(started, self.cfg().poll.after(self.rounds));
        if self.now >= self.search_deadline {
            self.search_over();
        } else {
            self.state = State::Sleep { until };
        }
    }

    /// The deadline passed without the message: the caller decides what that means (not delivered), as long as
    /// the mailbox was read all along.
    fn search_over(&mut self) {
        let waited = self.accepted_at.map(|a| self.now.saturating_duration_since(a)).unwrap_or_default();
        self.note_event(&format!("not found after {} searches in {} ms", self.rounds, waited.as_millis()));
        self.logout();
    }

    fn after_fetch(&mut self) {
        let Some((folder, uids, seen_at)) = self.found.clone() else { return };
        let fetched = mem::take(&mut self.fetched);
        // Never delete what is not the probe's: the header must carry the token exactly, whatever the search said.
        let ours: Vec<&Fetched> = fetched
            .iter()
            .filter(|f| f.uid.is_some_and(|u| uids.contains(&u)))
            .filter(|f| f.headers.as_deref().is_some_and(|h| carries_token(h, self.token.as_str())))
            .collect();
        if ours.is_empty() {
            let message = format!(
                "the server's search found UIDs {uids:?}, but no message fetched carries the token: nothing deleted"
            );
            self.fail(Cause::MailboxUnavailable, Phase::ImapFetch, message, None, Then::Logout);
            return;
        }
        let first = ours[0];
        let accepted = self.accepted_at.unwrap_or(seen_at);
        self.ours = ours.iter().filter_map(|f| f.uid).collect();
        self.report.message = Some(FoundMessage {
            folder: self.folder_name(folder),
            junk: folder == Folder::Junk,
            uids: self.ours.clone(),
            internal_date: first.internal_date,
            size: first.size,
            headers: String::from_utf8_lossy(first.headers.as_deref().unwrap_or_default()).into_owned(),
            visible_after: Some(seen_at.saturating_duration_since(accepted)),
            not_visible_after: self.last_miss.map(|m| m.saturating_duration_since(accepted)),
        });
        if self.ours.len() > 1 {
            let message = format!("the message was delivered {} times", self.ours.len());
            self.add_finding(Severity::Info, None, Some(Phase::ImapFetch), message, None);
        }
        match self.cfg().cleanup {
            Cleanup::Keep => {
                self.report.cleanup = Some(CleanupOutcome::Kept);
                self.logout();
            }
            _ => {
                let uids = self.ours.clone();
                self.send(Expect::Store, Phase::ImapCleanup, ImapCommand::UidStoreDeleted(uids));
            }
        }
    }

    fn after_store(&mut self) {
        if self.has_capability("UIDPLUS") {
            let uids = self.ours.clone();
            self.send(Expect::Expunge { uid: true }, Phase::ImapCleanup, ImapCommand::UidExpunge(uids));
        } else if self.cfg().cleanup == Cleanup::DeleteExpungingMailbox {
            self.send(Expect::Expunge { uid: false }, Phase::ImapCleanup, ImapCommand::Expunge);
        } else {
            self.report.cleanup = Some(CleanupOutcome::FlaggedDeleted);
            let message = "the server lacks UIDPLUS: the message is flagged \\Deleted but not expunged, since a plain \
                           EXPUNGE would also remove other messages flagged \\Deleted";
            self.add_finding(Severity::Info, None, Some(Phase::ImapCleanup), message.to_owned(), None);
            self.logout();
        }
    }

    // ---- sending ------------------------------------------------------------------------------------------------

    fn send(&mut self, expect: Expect, phase: Phase, command: ImapCommand) {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        let mut line = Vec::new();
        if let Err(err) = command.encode(&tag, &mut line) {
            self.fail(Cause::MailboxUnavailable, phase, err.to_string(), None, Then::Logout);
            return;
        }
        self.count_sent(&line);
        self.report.commands += 1;
        self.tx.extend_from_slice(&line);
        let shown = command.redacted(&tag);
        self.transcribe(Direction::Client, || shown.clone());
        let timeout = if expect == Expect::Logout { self.cfg().timeouts.logout } else { self.cfg().timeouts.reply };
        // Logging in must fit before the search deadline. Once the inbox is open, a command may run on to the overall
        // deadline: a search begun before the search deadline is answered (not cut into a false "unavailable"),
        // and fetching, deleting and logging out have the cleanup time.
        let limit = if self.report.ready.is_some() { self.overall_deadline } else { self.search_deadline };
        let deadline = limit.min(deadline_after(self.now, timeout));
        self.state =
            State::Await(Pending { expect, phase, tag: Some(tag), command: Some(shown), sent: self.now, deadline });
    }

    /// Waits for an untagged response due `timeout` after `since`.
    fn await_untagged(&mut self, since: Instant, expect: Expect, phase: Phase, timeout: Duration) {
        let deadline = self.search_deadline.min(deadline_after(since, timeout));
        self.state = State::Await(Pending { expect, phase, tag: None, command: None, sent: since, deadline });
    }

    fn count_sent(&mut self, bytes: &[u8]) {
        self.report.bytes_sent += bytes.len() as u64;
    }

    fn logout(&mut self) {
        if self.eof || self.now >= self.overall_deadline {
            self.finish();
            return;
        }
        self.send(Expect::Logout, Phase::ImapLogout, ImapCommand::Logout);
    }

    // ---- endings ------------------------------------------------------------------------------------------------

    fn on_parse_error(&mut self, err: ResponseError) {
        let phase = self.current_phase();
        self.push_unanswered_step();
        let message = format!("the IMAP server broke the protocol: {err}");
        self.fail(Cause::MailboxUnavailable, phase, message, None, Then::Close);
    }

    fn on_eof(&mut self) {
        let (expect, phase) = match &self.state {
            State::Await(p) => (Some(p.expect), p.phase),
            _ => (None, self.current_phase()),
        };
        if expect == Some(Expect::Logout) {
            self.push_unanswered_step();
            self.finish();
            return;
        }
        if matches!(expect, Some(Expect::Store | Expect::Expunge { .. })) {
            self.report.cleanup = Some(CleanupOutcome::Failed);
        }
        self.push_unanswered_step();
        let why = match &self.bye {
            Some(text) => format!(" (* BYE {text})"),
            None => String::new(),
        };
        let message = format!("the IMAP server closed the connection{why}");
        self.fail(Cause::MailboxUnavailable, phase, message, self.bye.clone(), Then::Close);
    }

    fn on_timeout(&mut self) {
        let State::Await(pending) = &self.state else { return };
        let (expect, phase) = (pending.expect, pending.phase);
        let waited = (pending.deadline - pending.sent).as_millis();
        self.push_unanswered_step();
        match expect {
            Expect::Logout => {
                self.add_finding(Severity::Info, None, Some(phase), "no reply to LOGOUT; closing".to_owned(), None);
                self.finish();
            }
            Expect::Store | Expect::Expunge { .. } | Expect::Fetch
                if self.report.message.is_some() || expect == Expect::Fetch =>
            {
                if expect != Expect::Fetch {
                    self.report.cleanup = Some(CleanupOutcome::Failed);
                }
                let message =
                    format!("no reply in {phase} before the deadline: the message may still be in the mailbox");
                self.fail(Cause::MailboxUnavailable, phase, message, None, Then::Close);
            }
            _ => {
                let message = if expect == Expect::Greeting {
                    format!("no IMAP greeting within {waited} ms")
                } else {
                    format!("no reply in {phase} within {waited} ms")
                };
                self.fail(Cause::MailboxUnavailable, phase, message, None, Then::Close);
            }
        }
    }

    fn current_phase(&self) -> Phase {
        match &self.state {
            State::Await(p) => p.phase,
            State::Tls { .. } => Phase::ImapTlsHandshake,
            State::Ready { .. } | State::Sleep { .. } => Phase::ImapSearch,
            State::Done => Phase::ImapLogout,
        }
    }

    fn push_unanswered_step(&mut self) {
        if let State::Await(p) = &self.state {
            let (phase, command, duration) = (p.phase, p.command.clone(), self.now - p.sent);
            self.push_step(phase, command, None, None, duration);
        }
    }

    fn push_step(
        &mut self,
        phase: Phase,
        command: Option<String>,
        status: Option<Status>,
        text: Option<String>,
        duration: Duration,
    ) {
        if self.report.steps.len() < MAX_RECORDED {
            self.report.steps.push(ImapStep { phase, command, status, text, duration });
        } else {
            self.note_overflow();
        }
    }

    fn transcribe(&mut self, direction: Direction, text: impl FnOnce() -> String) {
        if !self.cfg().transcript {
            return;
        }
        if self.report.transcript.len() < MAX_RECORDED {
            self.report.transcript.push(TranscriptLine { at: self.now - self.start, direction, text: text() });
        } else {
            self.note_overflow();
        }
    }

    fn note_overflow(&mut self) {
        if !mem::replace(&mut self.recorded_overflow, true) {
            let message = format!("more than {MAX_RECORDED} steps or transcript lines: later ones are not recorded");
            self.add_finding(Severity::Info, None, None, message, None);
        }
    }

    fn note_event(&mut self, text: &str) {
        self.transcribe(Direction::Event, || text.to_owned());
    }

    fn add_finding(
        &mut self,
        severity: Severity,
        cause: Option<Cause>,
        phase: Option<Phase>,
        message: String,
        server_text: Option<String>,
    ) {
        self.report.add_finding(Finding { severity, cause, phase, message, server_text });
    }

    fn fail(&mut self, cause: Cause, phase: Phase, message: String, server_text: Option<String>, then: Then) {
        self.add_finding(Severity::Critical, Some(cause), Some(phase), message, server_text);
        match then {
            Then::Logout if !self.eof && self.now < self.overall_deadline => self.logout(),
            _ => self.finish(),
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.state = State::Done;
        self.tx.clear();
        if self.report.message.is_some() && self.report.cleanup.is_none() {
            self.report.cleanup = Some(CleanupOutcome::Failed);
        }
        redact_report(&mut self.report, &self.secrets);
        self.report.total = self.now - self.start;
        self.finished = true;
    }

    // ---- TLS ----------------------------------------------------------------------------------------------------

    /// Applies a TLS outcome recorded at `at`. The handshake is a step whatever its outcome: its time counts either
    /// way.
    fn on_tls_outcome(&mut self, at: Instant, outcome: TlsOutcome, started: Instant, implicit: bool) {
        self.push_step(Phase::ImapTlsHandshake, None, None, None, at.saturating_duration_since(started));
        match outcome {
            TlsOutcome::Established { info, injected: true } => {
                // Plaintext that came after the STARTTLS OK and before the handshake: never let it pass as a response.
                self.note_event("plaintext received during the TLS hand-off");
                self.report.tls = Some(info);
                let message =
                    "plaintext injected after the STARTTLS OK (response injection, RFC 3501 §11.1); not processed";
                self.fail(Cause::MailboxUnavailable, Phase::ImapTlsHandshake, message.to_owned(), None, Then::Close);
            }
            TlsOutcome::Established { info, injected: false } => {
                // What the parser holds arrived after the handshake: the first bytes inside TLS.
                self.tls_active = true;
                self.note_event(&format!(
                    "TLS established: {} {}",
                    info.version.as_deref().unwrap_or("?"),
                    info.cipher.as_deref().unwrap_or("?")
                ));
                self.assess_certificate(&info);
                self.report.tls = Some(info);
                // RFC 3501 §6.2.1: forget what was learned before TLS.
                self.capabilities.clear();
                self.caps_known = false;
                if implicit {
                    // The greeting is due from the end of the handshake, not from the poll that learnt of it.
                    let timeout = self.cfg().timeouts.greeting;
                    self.await_untagged(at, Expect::Greeting, Phase::ImapGreeting, timeout);
                } else {
                    self.send(Expect::Capability, Phase::ImapCapability, ImapCommand::Capability);
                }
            }
            TlsOutcome::Failed(failure) => {
                let (cause, message) = match failure {
                    TlsFailure::Certificate { problem, info } => {
                        let described = describe_certificate_problem(&problem, &info);
                        self.report.tls = Some(*info);
                        (Cause::CertificateInvalid, format!("IMAP server {described}; the password was not sent"))
                    }
                    TlsFailure::Handshake { reason } => {
                        (Cause::MailboxUnavailable, format!("TLS handshake with the IMAP server failed: {reason}"))
                    }
                    TlsFailure::Closed => (
                        Cause::MailboxUnavailable,
                        "the IMAP server closed the connection during the TLS handshake".to_owned(),
                    ),
                };
                self.fail(cause, Phase::ImapTlsHandshake, message, None, Then::Close);
            }
        }
    }

    fn assess_certificate(&mut self, info: &TlsInfo) {
        if let Some(problem) = &info.verify_error {
            let message = format!(
                "IMAP server {} (inspect-only mode: the check carried on)",
                describe_certificate_problem(problem, info)
            );
            let finding = Finding {
                severity: Severity::Warning,
                cause: Some(Cause::CertificateInvalid),
                phase: Some(Phase::ImapTlsHandshake),
                message,
                server_text: None,
            };
            self.report.add_finding(finding);
        }
        let (warn, crit) = self.cfg().certificate_days;
        let Some(earliest) = info.chain_earliest_expiry() else { return };
        if info.verify_error == Some(CertificateProblem::Expired) {
            return;
        }
        let days = earliest.days_left;
        let severity = match (crit, warn) {
            (Some(c), _) if days < i64::from(c) => Severity::Critical,
            (_, Some(w)) if days < i64::from(w) => Severity::Warning,
            _ => return,
        };
        let message = format!("IMAP certificate {} expires in {days} days ({})", earliest.subject, earliest.not_after);
        self.add_finding(severity, Some(Cause::CertificateExpiring), Some(Phase::ImapTlsHandshake), message, None);
    }
}

/// Whether a header block has `X-Smtp-Probe-Token: <token>` (name case-insensitive, value exact, unfolded).
pub(crate) fn carries_token(headers: &[u8], token: &str) -> bool {
    let text = String::from_utf8_lossy(headers);
    let mut fields: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        match (line.starts_with([' ', '\t']), fields.last_mut()) {
            (true, Some(last)) => last.push_str(line),
            _ => fields.push(line.to_owned()),
        }
    }
    fields.iter().any(|field| {
        field
            .split_once(':')
            .is_some_and(|(name, value)| name.trim().eq_ignore_ascii_case(TOKEN_HEADER) && value.trim() == token)
    })
}

// ---- owned copies of what the state machine keeps from a response --------------------------------------------

enum Owned {
    Tagged { tag: Vec<u8>, status: Status, code: Option<OwnedCode>, text: String },
    Untagged(OwnedUntagged),
    Continuation,
}

enum OwnedUntagged {
    Status { status: Status, code: Option<OwnedCode>, text: String },
    Capability(Vec<String>),
    Search(Vec<u32>),
    Fetch(Fetched),
    Other,
}

#[derive(Debug, Clone)]
enum OwnedCode {
    Capability(Vec<String>),
    Unavailable,
    AuthorizationFailed,
    Named(String),
}

impl OwnedCode {
    fn name(&self) -> String {
        match self {
            OwnedCode::Capability(caps) => format!("CAPABILITY {}", caps.join(" ")),
            OwnedCode::Unavailable => "UNAVAILABLE".to_owned(),
            OwnedCode::AuthorizationFailed => "AUTHORIZATIONFAILED".to_owned(),
            OwnedCode::Named(name) => name.clone(),
        }
    }
}

fn owned(response: Response<'_>, secrets: &[String]) -> Owned {
    match response {
        Response::Tagged { tag, status, text } => {
            let (code, text) = owned_text(text, secrets);
            Owned::Tagged { tag: tag.to_vec(), status, code, text }
        }
        Response::Continuation(_) => Owned::Continuation,
        Response::Untagged(untagged) => Owned::Untagged(match untagged {
            Untagged::Status { status, text } => {
                let (code, text) = owned_text(text, secrets);
                OwnedUntagged::Status { status, code, text }
            }
            Untagged::Capability(atoms) => OwnedUntagged::Capability(atoms_vec(atoms)),
            Untagged::Search(uids) => OwnedUntagged::Search(uids),
            Untagged::Fetch { items, .. } => {
                let mut fetched = Fetched::default();
                for item in items {
                    match item {
                        FetchItem::Uid(uid) => fetched.uid = Some(uid),
                        FetchItem::InternalDate(date) => fetched.internal_date = internal_date(date),
                        FetchItem::Size(size) => fetched.size = Some(size),
                        FetchItem::Body { section, data } if section.eq_ignore_ascii_case(b"HEADER") => {
                            fetched.headers = data.map(<[u8]>::to_vec);
                        }
                        _ => {}
                    }
                }
                OwnedUntagged::Fetch(fetched)
            }
            _ => OwnedUntagged::Other,
        }),
    }
}

fn atoms_vec(atoms: crate::imap::Atoms<'_>) -> Vec<String> {
    atoms.iter().take(128).map(|a| display(a, 64, &[])).collect()
}

fn owned_text(text: Text<'_>, secrets: &[String]) -> (Option<OwnedCode>, String) {
    let code = text.code.map(|code| match code {
        Code::Capability(atoms) => OwnedCode::Capability(atoms_vec(atoms)),
        Code::Unavailable => OwnedCode::Unavailable,
        Code::AuthorizationFailed => OwnedCode::AuthorizationFailed,
        Code::AuthenticationFailed => OwnedCode::Named("AUTHENTICATIONFAILED".to_owned()),
        Code::Other { name, .. } => OwnedCode::Named(display(name, 40, &[])),
        other => OwnedCode::Named(format!("{other:?}").to_ascii_uppercase()),
    });
    (code, display(text.text, 300, secrets))
}

/// Server text as data: invalid UTF-8 replaced, control characters escaped, at most `max` characters, echoed
/// credentials redacted.
pub(crate) fn display(bytes: &[u8], max: usize, secrets: &[String]) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "<redacted>");
        }
    }
    let mut out = String::with_capacity(text.len().min(max + 8));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The last line of defence for credentials: whatever a server echoed, and wherever it ended up in the report
/// (a parse error's preview of a garbled line included), the password and the PLAIN response are replaced, raw or
/// escaped; a preview cut short in the middle of one loses that start too.
fn redact_report(report: &mut MailboxReport, secrets: &[String]) {
    let variants: Vec<String> = secrets
        .iter()
        .flat_map(|s| [s.clone(), s.as_bytes().escape_ascii().to_string(), s.escape_default().to_string()])
        .filter(|s| !s.is_empty())
        .collect();
    let fix = |text: &mut String| {
        for variant in &variants {
            if text.contains(variant.as_str()) {
                *text = text.replace(variant.as_str(), "<redacted>");
            }
        }
        if let Some(cut) = text.strip_suffix('…') {
            let partial = variants.iter().find_map(|v| {
                (3..v.len()).rev().find(|&k| v.is_char_boundary(k) && cut.ends_with(&v[..k])).map(|k| cut.len() - k)
            });
            if let Some(at) = partial {
                *text = format!("{}<redacted>…", &cut[..at]);
            }
        }
    };
    for finding in &mut report.findings {
        fix(&mut finding.message);
        finding.server_text.as_mut().map(&fix);
    }
    for step in &mut report.steps {
        step.command.as_mut().map(&fix);
        step.text.as_mut().map(&fix);
    }
    report.transcript.iter_mut().for_each(|line| fix(&mut line.text));
    report.greeting.as_mut().map(&fix);
    report.capabilities.iter_mut().for_each(&fix);
    if let Some(message) = &mut report.message {
        fix(&mut message.headers);
    }
}

fn first_line(raw: &[u8]) -> &[u8] {
    let line = &raw[..memchr::memchr(b'\n', raw).unwrap_or(raw.len())];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `17-Jul-1996 02:44:25 -0700` (RFC 3501 date-time; the day may be space-padded) as Unix seconds.
pub(crate) fn internal_date(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let mut parts = text.split_whitespace();
    let (date, time, zone) = (parts.next()?, parts.next()?, parts.next()?);
    let mut d = date.split('-');
    let day: i64 = d.next()?.parse().ok()?;
    let month_name = d.next()?;
    let year: i64 = d.next()?.parse().ok()?;
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|m| m.eq_ignore_ascii_case(month_name))? as i64
        + 1;
    let mut t = time.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zone: i64 = zone.get(1..5)?.parse().ok()?;
    let valid = (1..=31).contains(&day) && (0..24).contains(&h) && (0..60).contains(&m) && (0..=60).contains(&s);
    if !valid || !(1970..=9999).contains(&year) {
        return None;
    }
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    Some(crate::date::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates() {
        assert_eq!(internal_date(b"17-Jul-1996 02:44:25 -0700"), Some(837_596_665));
        assert_eq!(internal_date(b" 1-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(internal_date(b"01-Jan-1970 01:00:00 +0100"), Some(0));
        assert_eq!(internal_date(b"1-Foo-1970 00:00:00 +0000"), None);
        assert_eq!(internal_date(b"garbage"), None);
    }

    #[test]
    fn token_must_match_exactly() {
        let headers = b"Subject: x\r\nX-Smtp-Probe-Token: smtp-probe-abc\r\nTo: y\r\n\r\n";
        assert!(carries_token(headers, "smtp-probe-abc"));
        assert!(!carries_token(headers, "smtp-probe-ab"));
        assert!(carries_token(b"x-smtp-probe-token:\r\n  smtp-probe-abc\r\n\r\n", "smtp-probe-abc"));
        assert!(!carries_token(b"\r\nX-Smtp-Probe-Token: smtp-probe-abc\r\n", "smtp-probe-abc"), "body, not header");
    }

    #[test]
    fn credentials_are_redacted_from_the_whole_report() {
        // Found by the imap_session fuzz target: a garbled greeting holding the password reached the report
        // through the parse error's preview.
        let secrets = vec!["fuzz-secret".to_owned()];
        let mut report = MailboxReport::empty("imap".into());
        report.add_finding(Finding {
            severity: Severity::Critical,
            cause: Some(Cause::MailboxUnavailable),
            phase: None,
            message: "not an IMAP response: \"O\\x15* [CAP fuzz-secret\\xb3\"".into(),
            server_text: None,
        });
        report.greeting = Some("cut short: fuzz-sec…".into());
        report.capabilities = vec!["AUTH=fuzz-secret".into()];
        redact_report(&mut report, &secrets);
        let shown = format!("{report:?}");
        assert!(!shown.contains("fuzz-sec"), "{shown}");
        assert_eq!(report.greeting.as_deref(), Some("cut short: <redacted>…"));
    }

    #[test]
    fn server_text_is_bounded_escaped_and_redacted() {
        let secrets = vec!["hunter2".to_owned()];
        assert_eq!(display(b"NO bad password hunter2\x1b[31m", 100, &secrets), "NO bad password <redacted>\\u{1b}[31m");
        assert_eq!(display(&[b'a'; 10], 4, &[]), "aaaa…");
    }
}
