//! The fuzz targets' input decoders and property checks, one module per target.
//!
//! The cargo-fuzz targets (the repository's `fuzz/` crate, one line each) and this crate's stable replay test
//! (`tests/fuzz_corpus.rs`, every file of `fuzz/corpus/<target>/`) call the same `check` function, so a corpus
//! file means exactly the same thing to the fuzzer and to `cargo test`. Every input format is a small hand-decoded
//! byte format, documented on its module's `check` (or decoder), not `arbitrary`: no extra dependency, and every
//! byte string is a valid input. A `check` panics when a property does not hold, which is what the fuzzer looks
//! for.
//!
//! | target | what it drives |
//! | --- | --- |
//! | [`reply_parser`] | the reply parser, fed in pieces, against a one-piece parse |
//! | [`reply_roundtrip`] | replies encoded and parsed back |
//! | [`probe_session`] | a whole probe against a fuzzed server on a simulated clock; among its properties: no AUTH command leaves the probe unless TLS is up with a certificate the report says verified, or an override allows it |
#![cfg_attr(
    feature = "rustls",
    doc = "| [`mta_sts`], [`tlsa`] (feature `rustls`), [`spf`], [`dmarc`], [`tlsrpt`] | the published-policy parsers and evaluators |"
)]
#![cfg_attr(
    not(feature = "rustls"),
    doc = "| [`mta_sts`], `tlsa` (feature `rustls`), [`spf`], [`dmarc`], [`tlsrpt`] | the published-policy parsers and evaluators |"
)]
#![cfg_attr(
    feature = "rustls",
    doc = "| [`policy_fetch`] (feature `rustls`) | the MTA-STS policy fetch's HTTP response handling, fed in pieces, against a one-piece feed |"
)]
#![cfg_attr(
    not(feature = "rustls"),
    doc = "| `policy_fetch` (feature `rustls`) | the MTA-STS policy fetch's HTTP response handling, fed in pieces, against a one-piece feed |"
)]
//! | [`imap_parser`] | the IMAP response parser fed in pieces, against a one-piece parse |
//! | [`imap_session`] | a whole mailbox check (a round trip's receiving side) against a fuzzed IMAP server on a simulated clock; the password goes out only without TLS asked for or over TLS reported verified |
//!
//! ```
//! use smtp_probe_proto::testing::fuzz;
//!
//! // Any bytes are an input; a property that does not hold panics.
//! fuzz::reply_parser::check(b"\x00\x00\x00220 mx.example.com ESMTP\r\n");
//! let report = fuzz::probe_session::check(b"", std::time::Instant::now());
//! assert_eq!(report.verdict, smtp_probe_proto::Verdict::Down); // the script is empty: no greeting
//! ```

mod input;

pub mod dmarc;
pub mod imap_parser;
pub mod imap_session;
pub mod mta_sts;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod policy_fetch;
pub mod probe_session;
pub mod reply_parser;
pub mod reply_roundtrip;
pub mod spf;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tlsa;
pub mod tlsrpt;

use crate::policy::RecordFinding;

/// The properties every record finding has: its level and rule are its problem's, and its message is bounded and
/// free of control characters.
fn check_findings(findings: &[RecordFinding]) {
    for f in findings {
        assert_eq!(f.level, f.problem.level(), "{f}");
        assert_eq!(f.rule, f.problem.rule(), "{f}");
        assert!(f.message.len() <= 1024, "an unbounded message: {} bytes", f.message.len());
        assert!(!f.message.chars().any(char::is_control), "a control character in {:?}", f.message);
    }
}

/// `bytes` split at `sep`, at most `max` pieces (the last one keeps the rest).
fn split(bytes: &[u8], sep: u8, max: usize) -> Vec<&[u8]> {
    bytes.splitn(max, |&b| b == sep).collect()
}
