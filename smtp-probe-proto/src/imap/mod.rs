//! The IMAP side of a round trip: the smallest correct IMAP4rev1 client subset that finds one message by its token,
//! reads its headers and deletes it — sans-IO, like the SMTP probe.
//!
//! - [`response`]: the bounded, incremental response parser (literals, quoted strings, response codes).
//! - [`command`]: command encoding (tags, quoting, modified UTF-7 folder names), credentials redacted.
//! - [`MailboxConfig`]: server, credentials, folders, cleanup policy, polling, deadlines, limits.
//! - [`MailboxProbe`]: the state machine: greeting, CAPABILITY, STARTTLS, LOGIN or AUTHENTICATE PLAIN, SELECT,
//!   polling with NOOP and UID SEARCH, UID FETCH, UID STORE and UID EXPUNGE, LOGOUT.
//! - [`MailboxSession`] (feature `rustls`): a `MailboxProbe` with TLS inside, what adapters drive.
//! - [`MailboxReport`]: what it learned.
//!
//! The order of a check: greeting → CAPABILITY → STARTTLS (and CAPABILITY again) → LOGIN or AUTHENTICATE PLAIN →
//! CAPABILITY (unless the login reply carried it) → SELECT inbox → [`MailboxOutput::Ready`] → once told the message
//! was accepted, rounds of NOOP (or SELECT) and UID SEARCH on the token header in the inbox and the junk folder,
//! with growing waits between rounds ([`PollInterval`]) → UID FETCH of the headers → UID STORE `\Deleted` and
//! UID EXPUNGE → LOGOUT. As with the SMTP probe, `handle_*` only record and `poll_output` does all the work; time
//! is always an argument.
//!
//! Credentials follow the SMTP probe's rule: they are sent only over TLS whose certificate verified (or matched a
//! pin), unless the configuration says inspect-only or allows plaintext, and the report then names the override.
//! The server's `LOGINDISABLED` is respected.

pub mod command;
mod config;
mod probe;
mod report;
pub mod response;
#[cfg(feature = "rustls")]
mod session;

pub use config::{
    Cleanup, IMAP_PORT, IMAPS_PORT, LoginMethod, MailboxConfig, MailboxConfigBuilder, MailboxTimeouts, PollInterval,
};
pub use probe::{MailboxOutput, MailboxProbe};
pub use report::{CleanupOutcome, FoundMessage, ImapStep, MAX_RECORDED, MailboxReport};
pub use response::{
    Atoms, Code, FetchItem, Response, ResponseError, ResponseLimits, ResponseParser, Status, Text, Untagged,
};
#[cfg(feature = "rustls")]
pub use session::{MailboxSession, MailboxSessionOutput};
