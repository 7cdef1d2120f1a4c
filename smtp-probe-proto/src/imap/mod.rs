//! The IMAP side of a round trip: the smallest correct IMAP4rev1 client subset that finds one message by its token,
//! reads its headers and deletes it — sans-IO, like the SMTP probe.
//!
//! - [`response`]: the bounded, incremental response parser (literals, quoted strings, response codes).
//! - [`command`]: command encoding (tags, quoting, modified UTF-7 folder names), credentials redacted.
//! - [`MailboxConfig`]: the IMAP server (a [`Target`](crate::Target)), credentials, folders, cleanup policy, polling,
//!   deadlines, limits.
//! - [`MailboxProbe`]: the state machine: greeting, CAPABILITY, STARTTLS, LOGIN or AUTHENTICATE PLAIN, SELECT,
//!   polling with NOOP and UID SEARCH, UID FETCH, UID STORE and UID EXPUNGE, LOGOUT.
#![cfg_attr(
    feature = "rustls",
    doc = "- [`MailboxSession`] (feature `rustls`): a `MailboxProbe` with TLS inside, what adapters drive."
)]
#![cfg_attr(
    not(feature = "rustls"),
    doc = "- `MailboxSession` (feature `rustls`): a `MailboxProbe` with TLS inside, what adapters drive."
)]
//! - [`MailboxReport`]: what it learned.
//!
//! The order of a check: greeting → CAPABILITY → STARTTLS (and CAPABILITY again) → LOGIN or AUTHENTICATE PLAIN →
//! CAPABILITY (unless the login reply carried it) → SELECT inbox → [`MailboxOutput::Ready`] → once told the message
//! was accepted, rounds of NOOP (or SELECT) and UID SEARCH on the token header in the inbox and the junk folder,
//! with growing waits between rounds ([`PollInterval`]) → UID FETCH of the headers → UID STORE `\Deleted` and
//! UID EXPUNGE → LOGOUT. As with the SMTP probe, `handle_*` only record and `poll_output` does all the work; time
//! is always an argument.
//!
//! The mailbox password is sent only over TLS whose certificate verified (or matched a pin), unless the configuration
//! says inspect-only or allows plaintext login, and the report then names the override. The server's
//! `LOGINDISABLED` is respected.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use smtp_probe_proto::imap::{MailboxConfig, MailboxOutput, MailboxProbe};
//! use smtp_probe_proto::{Cause, Secret, Target, TlsMode, Token};
//!
//! let config = MailboxConfig::builder(Target::new("imap.example.net", 143)?, "rt@example.net", Secret::new("pw"))
//!     .tls(TlsMode::None)
//!     .allow_plaintext_login(true) // this example has no TLS; the report names the override
//!     .build()?;
//! let now = Instant::now();
//! let token = Token::new("smtp-probe-example")?;
//! let mut probe = MailboxProbe::new(config, token, now, now + Duration::from_secs(30), now + Duration::from_secs(35));
//! probe.handle_input(now, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR] ready\r\n");
//! let report = loop {
//!     match probe.poll_output(now) {
//!         MailboxOutput::Transmit(line) => {
//!             // A real adapter writes the line; this server refuses the login, then says goodbye.
//!             let reply: &[u8] = if line.starts_with(b"a1 AUTHENTICATE") {
//!                 b"a1 NO [AUTHENTICATIONFAILED] no\r\n"
//!             } else {
//!                 b"a2 OK bye\r\n"
//!             };
//!             probe.handle_input(now, reply);
//!         }
//!         MailboxOutput::Timeout(deadline) => probe.handle_timeout(deadline),
//!         MailboxOutput::StartTls(_) | MailboxOutput::Ready => unreachable!("no TLS, and never logged in"),
//!         MailboxOutput::Done => break probe.into_report(),
//!     }
//! };
//! assert_eq!(report.cause, Some(Cause::MailboxAuthFailed));
//! # Ok::<(), smtp_probe_proto::Error>(())
//! ```

pub mod command;
mod config;
mod probe;
mod report;
pub mod response;
#[cfg(feature = "rustls")]
mod session;

pub use config::{
    Cleanup, IMAP_PORT, IMAPS_PORT, LoginMethod, MailboxConfig, MailboxConfigBuilder, MailboxTimeouts, PollInterval,
    parse_target,
};
pub use probe::{MailboxOutput, MailboxProbe};
pub use report::{CleanupOutcome, FoundMessage, ImapStep, MAX_RECORDED, MailboxReport};
pub use response::{
    Atoms, Code, FetchItem, Response, ResponseError, ResponseLimits, ResponseParser, Status, Text, Untagged,
};
#[cfg(feature = "rustls")]
pub use session::{MailboxSession, MailboxSessionOutput};
