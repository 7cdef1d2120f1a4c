//! Published mail policies, without IO: the records and files a domain publishes for senders, parsed and
//! bounded, and evaluators that say what senders honouring them do.
//!
//! - [`mta_sts`] — MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, `mx` patterns, and whether
//!   an MX host and its certificate satisfy the policy.
//! - [`tlsa`] — TLSA records and DANE for SMTP (RFC 6698, 7671, 7672): usable records and (feature `rustls`)
//!   matching a presented certificate chain.
//! - [`spf`] — SPF (RFC 7208): record syntax and a sans-IO `check_host()` that expands includes and redirects
//!   through lookups its caller makes, counting against the 10-lookup and 2-void-lookup limits.
//! - [`dmarc`] — DMARC (RFC 7489) records.
//! - [`tlsrpt`] — SMTP TLS Reporting (RFC 8460) records.
//!
//! Every parser takes bytes as DNS or HTTP delivered them, refuses input over its size limit, caps what it
//! collects, and never panics. What is wrong with a record comes out as a typed error (the record counts as
//! absent for senders) or as [`RecordFinding`]s (the record works, with a problem worth reporting); neither
//! decides a verdict by itself.
//!
//! ```
//! use smtp_probe_proto::policy::{Level, Problem, dmarc::DmarcRecord, tlsrpt::TlsRptRecord};
//!
//! // What `_dmarc.example.com` and `_smtp._tls.example.com` returned.
//! let dmarc: [&[u8]; 1] = [b"v=DMARC1; p=none; rua=mailto:d@example.com"];
//! let tlsrpt: [&[u8]; 0] = [];
//!
//! let mut findings = DmarcRecord::from_rrset(&dmarc)?.map(|r| r.findings()).unwrap_or_default();
//! if TlsRptRecord::from_rrset(&tlsrpt)?.is_none() {
//!     findings.push(TlsRptRecord::missing("example.com"));
//! }
//! let problems: Vec<(Problem, Level)> = findings.iter().map(|f| (f.problem, f.level)).collect();
//! assert_eq!(problems, [(Problem::DmarcPolicyNone, Level::Warning), (Problem::TlsRptMissing, Level::Advice)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dmarc;
mod finding;
pub mod mta_sts;
pub mod spf;
pub(crate) mod text;
pub mod tlsa;
pub mod tlsrpt;
mod uri;

pub use finding::{Level, Problem, RecordFinding};
pub use text::{DomainError, normalize_domain};
pub use uri::{ReportUri, UriError};
