//! The IMAP side of a round trip: the smallest correct IMAP4rev1 client subset that finds one message by its token,
//! reads its headers and deletes it — sans-IO, like the SMTP probe.
//!
//! - [`response`]: the bounded, incremental response parser (literals, quoted strings, response codes).
//! - [`command`]: command encoding (tags, quoting, modified UTF-7 folder names), credentials redacted.
//! - [`MailboxProbe`]: the state machine: greeting, CAPABILITY, STARTTLS, LOGIN or AUTHENTICATE PLAIN, SELECT,
//!   polling with NOOP and UID SEARCH, UID FETCH, UID STORE and UID EXPUNGE, LOGOUT.
//! - `MailboxSession` (feature `rustls`): a `MailboxProbe` with TLS inside, what adapters drive.

pub mod command;
pub mod response;

pub use response::{
    Atoms, Code, FetchItem, Response, ResponseError, ResponseLimits, ResponseParser, Status, Text, Untagged,
};
