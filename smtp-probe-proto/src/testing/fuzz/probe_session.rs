//! Target `probe_session`: a whole probe against a fuzzed server script, on a simulated clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::input::Input;
use crate::{
    AuthMechanism, Cause, CertificateInfo, CertificateProblem, Keyword, Output, Phase, PolicyMode, PolicyOutcome,
    Probe, ProbeConfig, ReplyLimits, Report, Secret, Severity, Timeouts, TlsFailure, TlsInfo, TlsMode, TlsPolicy,
    UsageError, Verdict,
};

/// The password of every fuzzed session: it must never show in a report.
pub const PASSWORD: &str = "Pa55-fuzz-secret";
/// The user name of every fuzzed session.
pub const USERNAME: &str = "fuzz-user";
/// Polls after which an unfinished probe is a bug.
pub const MAX_POLLS: usize = 10_000;
/// Bytes of header before the action list.
pub const SESSION_HEADER: usize = 11;

/// Replies a fuzzed server can send by number (action tags 1 and 6), so short inputs reach every phase.
pub const CANNED: &[&str] = &[
    "220 mx.fuzz.test ESMTP Postfix (Debian/GNU)\r\n",
    "250-mx.fuzz.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n\
     250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
    "250 2.0.0 Ok\r\n",
    "220 2.0.0 Ready to start TLS\r\n",
    "334 \r\n",
    "334 VXNlcm5hbWU6\r\n",
    "334 UGFzc3dvcmQ6\r\n",
    "235 2.7.0 Authentication successful\r\n",
    "354 End data with <CR><LF>.<CR><LF>\r\n",
    "221 2.0.0 Bye\r\n",
    "421 4.3.2 Service not available, closing transmission channel\r\n",
    "550 5.1.1 <postmaster@fuzz.test>: Recipient address rejected: User unknown\r\n",
    "502 5.5.2 Error: command not recognized\r\n",
    "535 5.7.8 Error: authentication failed: authentication failure\r\n",
    "250-mx.fuzz.test Hello\r\n250-SIZE 52428800\r\n250-AUTH LOGIN PLAIN\r\n250 HELP\r\n",
    "554 5.7.1 Service unavailable; client host blocked\r\n",
    "251 2.1.5 User not local; will forward\r\n",
    "250 mx.fuzz.test\r\n",
    "451 4.7.1 Please try again later\r\n",
    "250-mx.fuzz.test\r\n250-STARTTLS\r\n250 SIZE 100\r\n",
    "220-mx.fuzz.test ESMTP Exim 4.96\r\n220-We do not authorize the use of this system\r\n220 to transport unsolicited mail\r\n",
    "250 2.1.0 Sender <probe@fuzz.test> OK\r\n",
];

/// One thing the fuzzed server (or the network, or time) does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Tag 0, then a length byte and that many bytes: the server sends them.
    Send(Vec<u8>),
    /// Tag 1, then an index into [`CANNED`] (modulo its length).
    Canned(u8),
    /// Tag 6: as `Canned`, with bare LF line endings.
    CannedBareLf(u8),
    /// Tag 2: the server closes the connection.
    Eof,
    /// Tag 3 with two bytes (little-endian, modulo 5001) or tag 7 with one: this many milliseconds pass. The
    /// driver wakes at the probe's deadline at the latest, unless the session allows late wake-ups.
    Advance(u16),
    /// Tag 4, then a byte describing the certificates: the TLS handshake succeeds.
    TlsOk(u8),
    /// Tag 5, then a byte choosing the failure: the TLS handshake fails.
    TlsFail(u8),
}

/// A decoded `probe_session` input.
#[derive(Debug, Clone)]
pub struct Session {
    /// The header bytes as read (zero past the end of the input).
    pub header: [u8; SESSION_HEADER],
    /// The configuration they describe.
    pub config: ProbeConfig,
    /// Whether the driver may wake after a deadline (a slow caller).
    pub late_wakeups: bool,
    /// Whether AUTH without TLS is allowed (an override: it allows AUTH over unverified TLS too).
    pub allow_plaintext_auth: bool,
    /// Whether the inspect-only override is on (feature `rustls`; off without it).
    pub inspect_only: bool,
    /// The reply limits in force.
    pub limits: ReplyLimits,
    /// The server's script.
    pub actions: Vec<Action>,
}

/// Decodes a `probe_session` input: an [`SESSION_HEADER`]-byte header, then actions (see [`Action`]).
///
/// Header: `h0` bits 0–1 TLS mode (none, opportunistic STARTTLS, required STARTTLS, implicit), bit 2 AUTH, bit 3
/// an envelope, bit 4 a test message instead of RSET, bit 5 no transcript, bit 6 allow plaintext AUTH (forced
/// on with AUTH and no TLS), bit 7 late wake-ups. `h1` bits 0–1 mechanisms (PLAIN LOGIN, LOGIN PLAIN, PLAIN,
/// LOGIN), bits 2–3 recipients (1–3), bit 4 expect "ESMTP" in the greeting, bit 5 require PIPELINING and a
/// 1 MB SIZE, bit 6 response-time thresholds 200 ms / 1 s, bit 7 certificate thresholds 30 / 7 days. `h2` the
/// overall timeout, (h2+1)×40 ms; `h3`–`h6` greeting, reply, TLS and DATA timeouts, (h+1)×20 ms; `h7` the QUIT
/// timeout, h7×10 ms but at least 1 ms (the shortest a configuration accepts). `h8`/`h9` reply limits: h8 = 0 defaults, 255 unbounded, else line h8×8, lines
/// (h9 & 31)+1, buffer 512+(h9>>5)×512. `h10` bit 0 an IP-address target, bit 1 an internationalized
/// recipient, bit 2 an explicit TLS name, bit 3 the inspect-only override (feature `rustls`), bits 4–5 a
/// published TLS policy ([`FixedPolicy`]: none, satisfied, failed under `enforce`, failed under `testing`).
pub fn decode_session(data: &[u8]) -> Session {
    let mut input = Input(data);
    let mut header = [0u8; SESSION_HEADER];
    for b in &mut header {
        *b = input.byte();
    }
    let [h0, h1, h2, h3, h4, h5, h6, h7, h8, h9, h10] = header;
    let mode = [TlsMode::None, TlsMode::StartTlsOpportunistic, TlsMode::StartTlsRequired, TlsMode::Implicit]
        [usize::from(h0 & 3)];
    let auth = h0 & 4 != 0;
    let allow_plaintext_auth = h0 & 0x40 != 0 || (auth && mode == TlsMode::None);
    let target = if h10 & 1 != 0 { "192.0.2.25" } else { "mx.fuzz.test" };
    let mut builder = ProbeConfig::builder(target.parse().expect("a valid target"))
        .tls(mode)
        .ehlo_name("probe.fuzz.test")
        .transcript(h0 & 0x20 == 0)
        .allow_plaintext_auth(allow_plaintext_auth);
    if h10 & 4 != 0 {
        builder = builder.tls_name("mx.fuzz.test");
    }
    #[cfg(feature = "rustls")]
    let inspect_only = h10 & 8 != 0;
    #[cfg(not(feature = "rustls"))]
    let inspect_only = false;
    #[cfg(feature = "rustls")]
    if inspect_only {
        builder = builder.tls_config(inspect_only_trust());
    }
    let policy = match (h10 >> 4) & 3 {
        0 => None,
        1 => Some(FixedPolicy { mode: PolicyMode::Enforce, satisfied: true }),
        2 => Some(FixedPolicy { mode: PolicyMode::Enforce, satisfied: false }),
        _ => Some(FixedPolicy { mode: PolicyMode::Testing, satisfied: false }),
    };
    if let Some(policy) = policy {
        builder = builder.tls_policy(std::sync::Arc::new(policy));
    }
    if auth {
        let mechanisms = match h1 & 3 {
            0 => vec![AuthMechanism::Plain, AuthMechanism::Login],
            1 => vec![AuthMechanism::Login, AuthMechanism::Plain],
            2 => vec![AuthMechanism::Plain],
            _ => vec![AuthMechanism::Login],
        };
        builder = builder.auth(USERNAME, Secret::new(PASSWORD)).auth_mechanisms(mechanisms);
    }
    if h0 & 8 != 0 {
        builder = builder.mail_from("probe@fuzz.test");
        let recipients = 1 + usize::from((h1 >> 2) & 3).min(2);
        for i in 0..recipients {
            builder = builder.rcpt_to(if i == 0 && h10 & 2 != 0 {
                "postmästare@fuzz.test".to_owned()
            } else {
                format!("rcpt{i}@fuzz.test")
            });
        }
        if h0 & 0x10 != 0 {
            builder = builder.send_test_message("fuzz-token-0001").test_message_date("Mon, 1 Jan 2024 00:00:00 +0000");
        }
    }
    if h1 & 0x10 != 0 {
        builder = builder.expect_greeting("ESMTP");
    }
    if h1 & 0x20 != 0 {
        builder = builder.require_capability(Keyword::Pipelining).min_size(1_000_000);
    }
    if h1 & 0x40 != 0 {
        builder = builder.response_time(Some(Duration::from_millis(200)), Some(Duration::from_secs(1)));
    }
    if h1 & 0x80 != 0 {
        builder = builder.certificate_days(Some(30), Some(7));
    }
    let step = |b: u8, unit: u64| Duration::from_millis((u64::from(b) + 1) * unit);
    builder = builder.timeouts(Timeouts {
        overall: step(h2, 40),
        greeting: step(h3, 20),
        reply: step(h4, 20),
        tls_handshake: step(h5, 20),
        data: step(h6, 20),
        quit: Duration::from_millis((u64::from(h7) * 10).max(1)),
        ..Timeouts::default()
    });
    let limits = match h8 {
        0 => ReplyLimits::default(),
        255 => ReplyLimits { max_line_len: usize::MAX, max_lines: usize::MAX, max_buffered: usize::MAX },
        _ => ReplyLimits {
            max_line_len: usize::from(h8) * 8,
            max_lines: usize::from(h9 & 31) + 1,
            max_buffered: 512 + usize::from(h9 >> 5) * 512,
        },
    };
    builder = builder.reply_limits(limits);
    let config = builder.build().expect("every decoded configuration is valid");

    let mut actions = Vec::new();
    while !input.is_empty() {
        let action = match input.byte() % 8 {
            0 => {
                let len = usize::from(input.byte());
                Action::Send(input.take(len).to_vec())
            }
            1 => Action::Canned(input.byte()),
            2 => Action::Eof,
            3 => Action::Advance(input.u16() % 5001),
            4 => Action::TlsOk(input.byte()),
            5 => Action::TlsFail(input.byte()),
            6 => Action::CannedBareLf(input.byte()),
            _ => Action::Advance(u16::from(input.byte())),
        };
        actions.push(action);
    }
    Session { header, config, late_wakeups: h0 & 0x80 != 0, allow_plaintext_auth, inspect_only, limits, actions }
}

/// Trust settings with the inspect-only override, built once (the webpki roots are not free to load).
#[cfg(feature = "rustls")]
fn inspect_only_trust() -> crate::TlsConfig {
    static TRUST: std::sync::OnceLock<crate::TlsConfig> = std::sync::OnceLock::new();
    TRUST.get_or_init(|| crate::TlsConfig::builder().inspect_only(true).build().expect("the webpki roots")).clone()
}

/// The published policy of a fuzzed session: it says the same of every handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPolicy {
    /// How senders apply it.
    pub mode: PolicyMode,
    /// Whether every handshake satisfies it.
    pub satisfied: bool,
}

impl TlsPolicy for FixedPolicy {
    fn name(&self) -> &str {
        "fuzz policy"
    }

    fn mode(&self) -> PolicyMode {
        self.mode
    }

    fn check(&self, _target: &crate::Target, tls: &TlsInfo) -> PolicyOutcome {
        // It sees the presented chain, as DANE would.
        assert_eq!(tls.chain_der.len(), tls.certificates.len() + tls.unparsed.len());
        if self.satisfied {
            PolicyOutcome::Satisfied
        } else {
            PolicyOutcome::Failed { reason: "the fuzzed server does not satisfy it".to_owned() }
        }
    }
}

/// Encodes a header and actions as a `probe_session` input (for making seeds): the inverse of
/// [`decode_session`].
pub fn encode_session(header: [u8; SESSION_HEADER], actions: &[Action]) -> Vec<u8> {
    let mut out = header.to_vec();
    for action in actions {
        match action {
            Action::Send(bytes) => {
                for chunk in bytes.chunks(255) {
                    out.push(0);
                    out.push(chunk.len() as u8);
                    out.extend_from_slice(chunk);
                }
            }
            Action::Canned(i) => out.extend_from_slice(&[1, *i]),
            Action::CannedBareLf(i) => out.extend_from_slice(&[6, *i]),
            Action::Eof => out.push(2),
            Action::Advance(ms) if *ms <= 255 => out.extend_from_slice(&[7, *ms as u8]),
            Action::Advance(ms) => {
                out.push(3);
                out.extend_from_slice(&ms.to_le_bytes());
            }
            Action::TlsOk(b) => out.extend_from_slice(&[4, *b]),
            Action::TlsFail(b) => out.extend_from_slice(&[5, *b]),
        }
    }
    out
}

fn canned(i: u8, bare_lf: bool) -> Vec<u8> {
    let text = CANNED[usize::from(i) % CANNED.len()];
    if bare_lf { text.replace("\r\n", "\n").into_bytes() } else { text.as_bytes().to_vec() }
}

/// TLS details from one byte: bit 0 a certificate that did not verify (an untrusted issuer), bits 1–2 how many
/// certificates, bits 3–7 the leaf's days left (−8 to 23). The chain's DER is made up (the checks only count it).
#[allow(clippy::field_reassign_with_default)] // on purpose: robust to new fields in the report types
pub fn tls_info(b: u8) -> TlsInfo {
    let days = i64::from(b >> 3) - 8;
    // Field by field from the defaults, so fields added to the report types do not break the fuzzers.
    let certificates: Vec<CertificateInfo> = (0..(b >> 1) & 3)
        .map(|i| {
            let mut cert = CertificateInfo::default();
            cert.position = usize::from(i);
            cert.subject = format!("CN=mx{i}.fuzz.test");
            cert.issuer = "CN=Fuzz CA".to_owned();
            cert.sans = vec!["mx.fuzz.test".to_owned()];
            cert.serial = "01".to_owned();
            cert.not_before = "2024-01-01T00:00:00Z".to_owned();
            cert.not_before_unix = 1_704_067_200;
            cert.not_after = "2025-01-01T00:00:00Z".to_owned();
            cert.not_after_unix = 1_735_689_600 + i64::from(i) * 86_400;
            cert.days_left = days + i64::from(i);
            cert.seconds_left = cert.days_left * 86_400 + 3_600;
            cert.key_algorithm = "EC P-256".to_owned();
            cert.signature_algorithm = "ecdsa-with-SHA256".to_owned();
            cert.sha256 = "00".repeat(32);
            cert
        })
        .collect();
    let mut info = TlsInfo::default();
    info.version = Some("TLSv1.3".to_owned());
    info.cipher = Some("TLS13_AES_128_GCM_SHA256".to_owned());
    info.sni = Some("mx.fuzz.test".to_owned());
    info.verified_name = Some("mx.fuzz.test".to_owned());
    info.verified = b & 1 == 0;
    info.verify_error = (b & 1 == 1).then_some(CertificateProblem::UnknownIssuer);
    info.handshake = Duration::from_millis(3);
    info.chain_der = certificates.iter().map(|c| vec![0x30, c.position as u8]).collect();
    info.certificates = certificates;
    info
}

/// A handshake failure from one byte.
pub fn tls_failure(b: u8) -> TlsFailure {
    match b % 3 {
        0 => {
            let problem = match (b >> 2) % 6 {
                0 => CertificateProblem::Expired,
                1 => CertificateProblem::NotYetValid,
                2 => CertificateProblem::NameMismatch,
                3 => CertificateProblem::UnknownIssuer,
                4 => CertificateProblem::PinMismatch,
                _ => CertificateProblem::Other("bad signature".to_owned()),
            };
            TlsFailure::Certificate { problem, info: Box::new(tls_info(b >> 4)) }
        }
        1 => TlsFailure::Handshake { reason: "received fatal alert: HandshakeFailure".to_owned() },
        _ => TlsFailure::Closed,
    }
}

/// Standard base64 with padding (the credentials as they go on the wire).
pub fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The credential in every form the probe may put on the wire: plain, LOGIN's base64, PLAIN's base64.
pub fn secret_forms() -> [String; 3] {
    let plain = format!("\0{USERNAME}\0{PASSWORD}");
    [PASSWORD.to_owned(), base64(PASSWORD.as_bytes()), base64(plain.as_bytes())]
}

/// The simulated connection: the probe, the clock, and what each side said.
struct Driver {
    probe: Probe,
    start: Instant,
    now: Instant,
    overall_deadline: Instant,
    late: bool,
    script: VecDeque<Action>,
    server_bytes: Vec<u8>,
    client_bytes: Vec<u8>,
    /// How many times the probe sent something (one command, or the message).
    transmits: usize,
    eof: bool,
    /// `handle_tls_established` succeeded and the probe carried on.
    tls_up: bool,
    tls_requests: usize,
    /// Feed server bytes one at a time, polling after each (plain sessions only).
    bytewise: bool,
    mode: TlsMode,
    allow_plaintext_auth: bool,
    inspect_only: bool,
    secrets: [String; 3],
    /// Whether an AUTH command went out.
    auth_sent: bool,
}

impl Driver {
    fn input(&mut self, bytes: &[u8]) {
        // A closed connection says nothing more.
        if self.eof {
            return;
        }
        self.server_bytes.extend_from_slice(bytes);
        if !self.bytewise {
            self.probe.handle_input(self.now, bytes);
            return;
        }
        for byte in bytes.chunks(1) {
            self.probe.handle_input(self.now, byte);
            // Let the probe look at every prefix, as between two reads.
            match self.probe.poll_output(self.now) {
                Output::Transmit(sent) => self.transmitted(&sent),
                Output::Timeout(deadline) => assert!(deadline > self.now),
                Output::Done => return,
                other @ Output::StartTls(_) => panic!("{other:?} in a plain session"),
            }
        }
    }

    /// Checks and records what the probe sends.
    fn transmitted(&mut self, bytes: &[u8]) {
        assert!(!bytes.is_empty() && bytes.ends_with(b"\r\n"), "transmit {:?}", bytes.escape_ascii().to_string());
        assert!(!self.probe.is_done());
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(PASSWORD), "the raw password went on the wire");
        // No AUTH bytes leave the probe unless the TLS the report holds verified, or an explicit override is set.
        let auth = text.get(..5).is_some_and(|verb| verb.eq_ignore_ascii_case("AUTH "));
        if auth || self.secrets.iter().any(|s| text.contains(s.as_str())) {
            self.auth_sent = true;
            let verified = self.tls_up && self.probe.report().tls.as_ref().is_some_and(TlsInfo::is_verified);
            let tls_overridden = self.tls_up && self.inspect_only;
            assert!(
                verified || tls_overridden || self.allow_plaintext_auth,
                "AUTH sent over {} without an override: {text:?}",
                if self.tls_up { "TLS whose certificate did not verify" } else { "plaintext" }
            );
        }
        let mode = self.mode;
        if matches!(mode, TlsMode::StartTlsRequired | TlsMode::Implicit) && !self.tls_up {
            let verb = text.split([' ', '\r']).next().unwrap_or_default().to_ascii_uppercase();
            assert!(
                mode != TlsMode::Implicit && matches!(verb.as_str(), "EHLO" | "HELO" | "STARTTLS" | "QUIT"),
                "{text:?} sent before TLS in {mode:?} mode"
            );
        }
        self.client_bytes.extend_from_slice(bytes);
        self.transmits += 1;
    }

    /// Lets `ms` pass, waking at `deadline` at the latest unless wake-ups may be late.
    fn advance(&mut self, ms: u16, deadline: Instant) {
        let mut to = self.now + Duration::from_millis(u64::from(ms));
        if !self.late {
            to = to.min(deadline);
        }
        self.now = self.now.max(to);
        self.probe.handle_timeout(self.now);
    }

    /// The adapter runs the handshake the probe asked for: the script says how it goes. Plaintext sent meanwhile
    /// reaches the probe (which must not let it pass as TLS); running out of script is a close.
    fn handshake(&mut self) {
        let deadline = self.probe.next_deadline().expect("a TLS request has a deadline");
        loop {
            if self.now >= deadline {
                // The adapter gives up at the deadline; the next poll reports the timeout.
                self.probe.handle_timeout(self.now);
                return;
            }
            match self.script.pop_front() {
                Some(Action::Advance(ms)) => self.advance(ms, deadline),
                Some(Action::Send(bytes)) => self.input(&bytes),
                Some(Action::Canned(i)) => self.input(&canned(i, false)),
                Some(Action::CannedBareLf(i)) => self.input(&canned(i, true)),
                Some(Action::TlsOk(b)) => {
                    let result = self.probe.handle_tls_established(self.now, tls_info(b));
                    assert_eq!(result, Ok(()), "the probe asked for TLS");
                    // Recorded; the next poll goes on inside TLS (or refuses plaintext injected before this).
                    self.tls_up = true;
                    return;
                }
                Some(Action::TlsFail(b)) => {
                    assert_eq!(
                        self.probe.handle_tls_failed(self.now, tls_failure(b)),
                        Ok(()),
                        "the probe asked for TLS"
                    );
                    return;
                }
                Some(Action::Eof) | None => {
                    self.eof = true;
                    let result = self.probe.handle_tls_failed(self.now, TlsFailure::Closed);
                    assert_eq!(result, Ok(()), "the probe asked for TLS");
                    return;
                }
            }
        }
    }

    /// The probe waits until `deadline`: the next scripted event happens, or time runs to the deadline.
    fn wait(&mut self, deadline: Instant) {
        match self.script.pop_front() {
            None => {
                self.now = deadline;
                self.probe.handle_timeout(self.now);
            }
            Some(Action::Advance(ms)) => self.advance(ms, deadline),
            Some(Action::Send(bytes)) => self.input(&bytes),
            Some(Action::Canned(i)) => self.input(&canned(i, false)),
            Some(Action::CannedBareLf(i)) => self.input(&canned(i, true)),
            Some(Action::Eof) => {
                self.eof = true;
                self.probe.handle_eof(self.now);
            }
            // A handshake result when none was asked for is refused, and changes nothing.
            Some(Action::TlsOk(b)) => {
                let result = self.probe.handle_tls_established(self.now, tls_info(b));
                assert_eq!(result, Err(UsageError::TlsNotRequested));
            }
            Some(Action::TlsFail(b)) => {
                let result = self.probe.handle_tls_failed(self.now, tls_failure(b));
                assert_eq!(result, Err(UsageError::TlsNotRequested));
            }
        }
    }
}

/// Target `probe_session`. Input: see [`decode_session`] and [`Action`]; `start` is the simulated connection
/// instant.
///
/// Drives a probe against the scripted server with a simulated clock and checks: no panic; `Done` within
/// [`MAX_POLLS`] polls; the receive buffer stays within twice the configured limit (plus 4 KiB for the command
/// being sent); every `Timeout` lies in the future and no later than the overall deadline, so the probe never
/// waits past it; with punctual wake-ups the report's `total` never exceeds the overall timeout; a requested
/// handshake can always be reported, and an unrequested one is refused; commands are whole lines; credentials
/// never cross an unencrypted connection unless allowed, and with required or implicit TLS nothing but
/// EHLO/HELO/STARTTLS/QUIT does; the report is consistent (verdict and cause from the findings, durations within
/// the total, an `up` verdict only when every configured step succeeded); the credential never appears in the
/// report, its transcript, or the probe's `Debug`; the finished probe stays finished; and, without TLS, the
/// same session read one byte at a time (polling after each) gives the same report.
pub fn check(data: &[u8], start: Instant) -> Report {
    let session = decode_session(data);
    let report = run_session(&session, start, false);
    // Without TLS, how the server's bytes were cut into reads changes nothing, unless the buffer limit (which
    // bounds each read's worth of unconsumed bytes) could be reached, or the one-piece run found a protocol
    // violation: the probe never pipelines, so bytes beyond a reply in the same read are a violation by design,
    // while the same bytes read one at a time arrive after the next command.
    let server_bytes: usize = session
        .actions
        .iter()
        .map(|a| match a {
            Action::Send(bytes) => bytes.len(),
            Action::Canned(i) | Action::CannedBareLf(i) => canned(*i, false).len(),
            _ => 0,
        })
        .sum();
    let violation = report.findings.iter().any(|f| f.cause == Some(Cause::ProtocolViolation));
    if session.config.tls_mode() == TlsMode::None && server_bytes <= session.limits.max_buffered && !violation {
        let bytewise = run_session(&session, start, true);
        assert_same_report(&report, &bytewise);
    }
    report
}

/// The same conversation, outcome and timing. Finding messages may quote a rejected line only as far as it had
/// arrived, so they are compared for protocol errors by severity, cause and phase only.
fn assert_same_report(whole: &Report, bytewise: &Report) {
    let quoting = |c: Option<Cause>| matches!(c, Some(Cause::NotSmtp | Cause::ProtocolViolation));
    type Key = (Severity, Option<Cause>, Option<Phase>, Option<String>);
    let findings = |r: &Report| -> Vec<Key> {
        r.findings
            .iter()
            .map(|f| (f.severity, f.cause, f.phase, (!quoting(f.cause)).then(|| f.message.clone())))
            .collect()
    };
    assert_eq!((whole.verdict, whole.cause), (bytewise.verdict, bytewise.cause), "read sizes changed the verdict");
    assert_eq!(findings(whole), findings(bytewise), "read sizes changed the findings");
    assert_eq!(whole.steps, bytewise.steps, "read sizes changed the steps");
    assert_eq!(whole.greeting, bytewise.greeting);
    assert_eq!(whole.capabilities, bytewise.capabilities);
    assert_eq!((whole.total, whole.response_time), (bytewise.total, bytewise.response_time));
    assert_eq!(whole.message_token, bytewise.message_token);
    assert_eq!(whole.transcript, bytewise.transcript, "read sizes changed the transcript");
}

fn run_session(session: &Session, start: Instant, bytewise: bool) -> Report {
    let mode = session.config.tls_mode();
    let overall = session.config.timeouts().overall;
    let capacity_bound = session.limits.max_buffered.saturating_add(4096);
    let mut d = Driver {
        probe: Probe::new(session.config.clone(), start, std::time::SystemTime::UNIX_EPOCH),
        start,
        now: start,
        overall_deadline: start + overall,
        late: session.late_wakeups,
        script: session.actions.iter().cloned().collect(),
        server_bytes: Vec::new(),
        client_bytes: Vec::new(),
        transmits: 0,
        eof: false,
        tls_up: false,
        tls_requests: 0,
        bytewise,
        mode,
        allow_plaintext_auth: session.allow_plaintext_auth,
        inspect_only: session.inspect_only,
        secrets: secret_forms(),
        auth_sent: false,
    };
    for _ in 0..MAX_POLLS {
        let capacity = d.probe.buffer_capacity();
        assert!(capacity <= capacity_bound, "buffer capacity {capacity} > {capacity_bound}");
        match d.probe.poll_output(d.now) {
            Output::Transmit(bytes) => d.transmitted(&bytes),
            Output::StartTls(request) => {
                d.tls_requests += 1;
                assert_eq!(d.tls_requests, 1, "TLS requested twice");
                assert_ne!(mode, TlsMode::None, "TLS requested in plain mode");
                assert_eq!(request.implicit, mode == TlsMode::Implicit);
                assert_eq!(request.tls_name.as_deref(), session.config.tls_name());
                assert!(d.now < d.overall_deadline, "a TLS handshake requested after the overall deadline");
                d.handshake();
            }
            Output::Timeout(deadline) => {
                assert!(deadline > d.now, "Timeout({:?}) not in the future", deadline - d.start);
                assert!(deadline <= d.overall_deadline, "Timeout past the overall deadline");
                assert_eq!(d.probe.next_deadline(), Some(deadline));
                d.wait(deadline);
            }
            Output::Done => {
                let report = d.probe.report().clone();
                check_report(session, &mut d, &report);
                return d.probe.into_report();
            }
        }
    }
    panic!("the probe did not finish within {MAX_POLLS} polls");
}

fn check_report(session: &Session, d: &mut Driver, report: &Report) {
    let config = &session.config;
    let overall = config.timeouts().overall;
    // Time.
    assert_eq!(report.total, d.now - d.start, "total is not the time of the end");
    if !d.late {
        assert!(report.total <= overall, "total {:?} > overall {overall:?}", report.total);
    }
    assert!(report.response_time <= report.total);
    for step in &report.steps {
        assert!(step.duration <= report.total, "step {step:?} longer than the probe");
    }
    let mut last = Duration::ZERO;
    for line in &report.transcript {
        assert!(line.at >= last && line.at <= report.total, "transcript time {:?} out of order", line.at);
        last = line.at;
    }
    // Every command sent is a step, answered or not.
    let commands = report.steps.iter().filter(|s| s.command.is_some()).count();
    assert_eq!(commands, d.transmits, "{} commands sent, {commands} steps with a command", d.transmits);
    // Verdict and cause follow from the findings.
    let worst = report.findings.iter().map(|f| f.severity).max();
    let verdict = match worst {
        Some(Severity::Critical) => Verdict::Down,
        Some(Severity::Warning) => Verdict::Degraded,
        _ => Verdict::Up,
    };
    assert_eq!(report.verdict, verdict);
    assert_eq!(report.cause, report.primary_finding().and_then(|f| f.cause));
    for finding in &report.findings {
        assert_eq!(finding.cause.is_some(), finding.severity != Severity::Info, "{finding:?}");
    }
    assert_eq!(report.cause.is_some(), report.verdict != Verdict::Up);
    let _ = report.summary();
    // Up means every configured step happened.
    if report.verdict == Verdict::Up {
        let replied = |phase: Phase, ok: &dyn Fn(u16) -> bool| {
            report.steps.iter().any(|s| s.phase == phase && s.reply.as_ref().is_some_and(|r| ok(r.code.get())))
        };
        assert!(replied(Phase::Greeting, &|c| c == 220), "up without a greeting");
        if matches!(config.tls_mode(), TlsMode::StartTlsRequired | TlsMode::Implicit) {
            assert!(d.tls_up && report.tls.is_some(), "up without the required TLS");
        }
        if d.tls_up {
            assert!(report.capabilities_tls.is_some(), "up after TLS without EHLO inside TLS");
        }
        if session.header[0] & 4 != 0 {
            assert!(replied(Phase::Auth, &|c| c == 235), "up without authenticating");
        }
        if session.header[0] & 8 != 0 {
            assert!(replied(Phase::MailFrom, &|c| c / 100 == 2), "up without MAIL FROM");
            assert!(replied(Phase::RcptTo, &|c| c == 250 || c == 251), "up without RCPT TO");
            if session.header[0] & 0x10 != 0 {
                assert!(replied(Phase::Message, &|c| c == 250), "up without the message accepted");
                assert_eq!(report.message_token.as_deref(), Some("fuzz-token-0001"));
            }
        }
    }
    if report.message_token.is_some() {
        assert!(report.steps.iter().any(|s| s.phase == Phase::Message && s.reply.is_some()));
    }
    // With credentials configured, they show nowhere in the report, whatever the server sent: a reply that echoes
    // them is redacted like the command was. (Without credentials the same text is no secret of the probe's, and
    // the probe's own Debug shows the parser's buffer raw: there only what the server itself sent may appear.)
    let auth_configured = session.header[0] & 4 != 0;
    let debug = format!("{report:?}");
    let probe_debug = format!("{:?}", d.probe);
    let replies = report.steps.iter().filter_map(|s| s.reply.as_ref()).chain(report.greeting.as_ref());
    let mut texts: Vec<String> =
        replies.flat_map(|r| r.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned())).collect();
    texts.extend(report.transcript.iter().map(|l| l.text.clone()));
    texts.extend(report.findings.iter().flat_map(|f| [Some(f.message.clone()), f.server_text.clone()]).flatten());
    for caps in [&report.capabilities, &report.capabilities_tls].into_iter().flatten() {
        texts.push(caps.domain.clone());
        texts.extend(caps.raw_lines.iter().cloned());
        texts.extend(caps.unknown.iter().flat_map(|u| u.params.iter().cloned()));
    }
    for secret in &d.secrets {
        let server_sent = d.server_bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        if auth_configured || !server_sent {
            assert!(!debug.contains(secret.as_str()), "the credential {secret:?} is in the report");
            for text in &texts {
                assert!(!text.contains(secret.as_str()), "the credential {secret:?} is in the report: {text:?}");
            }
        }
        if !server_sent {
            assert!(!probe_debug.contains(secret.as_str()), "the credential {secret:?} is in the probe's Debug");
        }
    }
    // Credentials withheld are said to be: configured, TLS up but not verified, no override, and no AUTH sent.
    let unverified_tls = d.tls_up && report.tls.as_ref().is_some_and(|t| !t.is_verified());
    if auth_configured && unverified_tls && !d.inspect_only && !d.allow_plaintext_auth {
        assert!(!d.auth_sent);
        assert_ne!(report.verdict, Verdict::Up, "credentials withheld, yet up");
    }
    assert_eq!(report.target, config.target().to_string());
    // Finished stays finished: later events change nothing.
    let later = d.now + Duration::from_secs(60);
    d.probe.handle_input(later, b"250 late\r\n");
    d.probe.handle_eof(later);
    d.probe.handle_timeout(later);
    assert_eq!(d.probe.handle_tls_established(later, TlsInfo::default()), Err(UsageError::Finished));
    assert_eq!(d.probe.handle_tls_failed(later, TlsFailure::Closed), Err(UsageError::Finished));
    assert!(d.probe.is_done());
    assert_eq!(d.probe.next_deadline(), None);
    assert_eq!(d.probe.report(), report);
    assert_eq!(d.probe.poll_output(later), Output::Done);
}
