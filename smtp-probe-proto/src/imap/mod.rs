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

pub use config::{Cleanup, LoginMethod, MailboxConfig, MailboxConfigBuilder, MailboxTimeouts, PollInterval};
pub use probe::{MailboxOutput, MailboxProbe};
pub use report::{CleanupOutcome, FoundMessage, ImapStep, MAX_RECORDED, MailboxReport};
pub use response::{
    Atoms, Code, FetchItem, Response, ResponseError, ResponseLimits, ResponseParser, Status, Text, Untagged,
};
#[cfg(feature = "rustls")]
pub use session::{MailboxSession, MailboxSessionOutput};
