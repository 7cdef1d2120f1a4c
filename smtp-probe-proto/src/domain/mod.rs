//! The domain check without IO: what a domain's DNS records, its MTA-STS policy and its MX hosts' probes mean
//! together for senders that honour the published policies.
//!
//! An adapter looks the records up (each with its DNSSEC status), fetches the MTA-STS policy ([`fetch`]), probes
//! the MX hosts (MX mode), and hands it all to [`DomainReport::assemble`], which decides:
//!
//! - **DANE** (RFC 7672) applies to an MX host whose TLSA RRset at `_<port>._tcp.<host>` is DNSSEC-secure and
//!   has a usable record. The chain the probe's own handshake was presented must match one of them, or senders
//!   that honour DANE (Postfix, Exchange Online) do not deliver to that host: `down`, `dane_mismatch`. A TLSA
//!   lookup that fails validation is `dnssec_bogus`: those senders do not deliver to the host either. A TLSA
//!   lookup with no answer at all (SERVFAIL, which is also what a validating upstream makes of a bogus answer) keeps
//!   them away too (RFC 7672 §2.2): `down`, `dns_failure`, when the MX answer was secure. An insecure (unsigned)
//!   TLSA RRset does not count.
//! - **MTA-STS** (RFC 8461) applies when `_mta-sts.<domain>` has a valid record and the policy was fetched: each
//!   MX host must match an `mx` pattern and present a certificate valid for its name. Under `enforce` a host that
//!   fails is refused by senders such as Gmail and Microsoft (`down`, `mta_sts_violation`); under `testing` they
//!   deliver and report (`degraded`). A record whose policy cannot be fetched is `policy_unavailable`
//!   (`degraded`): senders with a cached policy keep it until `max_age`, others deliver without MTA-STS.
//! - **Without a policy**, the opportunistic rule of the probe stands: an unverifiable certificate is reported
//!   but does not change the verdict.
//! - Record problems (SPF over the lookup limit, DMARC missing or `p=none`, no TLS-RPT, a short `max_age`, ...)
//!   are [`RecordFinding`](crate::policy::RecordFinding)s: reported, and counted (`degraded`, `record_problem`) only with
//!   [`DomainOptions::strict`].
//!
//! The hosts' verdicts combine like MX mode's: `up` when every host takes mail from policy-honouring senders,
//! `degraded` while at least one does, `down` when none does.
//!
//! ```
//! use smtp_probe_proto::domain::{DnssecStatus, Answer, RecordLookup, RecordType};
//!
//! let lookup = RecordLookup::new("_mta-sts.example.com", RecordType::Txt, DnssecStatus::Secure,
//!     Answer::Records(vec!["v=STSv1; id=2024".into()]));
//! assert_eq!(lookup.txt(), [b"v=STSv1; id=2024".to_vec()]);
//! assert_eq!(lookup.dnssec.as_str(), "secure");
//! ```

#[cfg(feature = "rustls")]
mod dane;
pub mod fetch;
#[cfg(feature = "serde")]
mod json;
mod report;

use std::time::Duration;

#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub use dane::DanePolicy;
pub use report::{Dane, DomainOptions, DomainParts, DomainReport, DomainTimings, HostPolicy, MtaStsState};

/// The largest number of records kept from one lookup.
pub const MAX_RECORDS: usize = 64;
/// The longest record text kept (longer ones are cut).
pub const MAX_RECORD_TEXT: usize = 4096;

/// What DNSSEC validation said of an answer (RFC 4035 §4.3), validated by this tool from its own trust anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DnssecStatus {
    /// A chain of signatures from the trust anchor proves the answer (or its absence).
    Secure,
    /// Provably unsigned: a delegation without DS on the way.
    Insecure,
    /// Signed, but the signatures do not verify (tampered, expired, missing): validating resolvers refuse it.
    Bogus,
    /// No conclusion: the lookup failed, or validation could not be completed.
    Indeterminate,
}

impl DnssecStatus {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            DnssecStatus::Secure => "secure",
            DnssecStatus::Insecure => "insecure",
            DnssecStatus::Bogus => "bogus",
            DnssecStatus::Indeterminate => "indeterminate",
        }
    }
}

impl std::fmt::Display for DnssecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A record type the domain check looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
#[non_exhaustive]
pub enum RecordType {
    /// MX.
    Mx,
    /// A.
    A,
    /// AAAA.
    Aaaa,
    /// TXT.
    Txt,
    /// TLSA.
    Tlsa,
}

/// What a lookup answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "result", content = "data", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Answer {
    /// Records in presentation form (TXT: the strings joined, escaped where not printable; MX: `10 mx.example.`;
    /// TLSA: `3 1 1 <hex>`).
    Records(Vec<String>),
    /// The name exists without records of the type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// No answer: SERVFAIL, refused, a timeout, an answer that failed validation.
    Failed(String),
}

/// One lookup of the domain check, with its DNSSEC status.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct RecordLookup {
    /// The name asked for, without a trailing dot.
    pub name: String,
    /// The type.
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub rtype: RecordType,
    /// Its DNSSEC status.
    pub dnssec: DnssecStatus,
    /// The answer.
    pub answer: Answer,
    /// How long it took (adapters).
    #[cfg_attr(feature = "serde", serde(rename = "duration_ms", serialize_with = "crate::schema::millis"))]
    pub elapsed: Duration,
}

impl RecordLookup {
    /// A lookup's result; the records are bounded to [`MAX_RECORDS`] of at most [`MAX_RECORD_TEXT`] bytes.
    pub fn new(name: &str, rtype: RecordType, dnssec: DnssecStatus, answer: Answer) -> RecordLookup {
        let answer = match answer {
            Answer::Records(records) => Answer::Records(
                records
                    .into_iter()
                    .take(MAX_RECORDS)
                    .map(|mut r| {
                        if r.len() > MAX_RECORD_TEXT {
                            let mut cut = MAX_RECORD_TEXT;
                            while !r.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            r.truncate(cut);
                        }
                        r
                    })
                    .collect(),
            ),
            Answer::Failed(why) => Answer::Failed(why.chars().take(MAX_RECORD_TEXT).collect()),
            other => other,
        };
        RecordLookup {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            rtype,
            dnssec,
            answer,
            elapsed: Duration::ZERO,
        }
    }

    /// The same, with its duration.
    pub fn with_elapsed(mut self, elapsed: Duration) -> RecordLookup {
        self.elapsed = elapsed;
        self
    }

    /// The records, or none.
    pub fn records(&self) -> &[String] {
        match &self.answer {
            Answer::Records(records) => records,
            _ => &[],
        }
    }

    /// The records as bytes, as the TXT parsers take them.
    pub fn txt(&self) -> Vec<Vec<u8>> {
        self.records().iter().map(|r| r.as_bytes().to_vec()).collect()
    }

    /// Whether the lookup failed (no answer at all).
    pub fn failed(&self) -> Option<&str> {
        match &self.answer {
            Answer::Failed(why) => Some(why),
            _ => None,
        }
    }
}
