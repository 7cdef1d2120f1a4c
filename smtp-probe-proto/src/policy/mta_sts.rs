//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, `mx` patterns, and whether an MX host
//! satisfies a policy the way a sender such as Gmail or Microsoft checks it.
//!
//! ```
//! use smtp_probe_proto::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord, MxTls, SenderAction};
//!
//! let record = MtaStsRecord::from_rrset(&[b"v=STSv1; id=20240101T000000".as_slice()])?.expect("a record");
//! assert_eq!(record.id, "20240101T000000");
//!
//! let policy = MtaStsPolicy::parse(b"version: STSv1\r\nmode: enforce\r\nmx: *.mail.example.com\r\nmax_age: 604800\r\n")?;
//! assert_eq!(policy.mode, Mode::Enforce);
//!
//! // mx1.mail.example.com presented a certificate that verified for its own name: delivered.
//! let ok = policy.check_mx("mx1.mail.example.com", &MxTls::verified("mx1.mail.example.com"));
//! assert_eq!(ok.sender_action(), SenderAction::Deliver);
//! // A host the policy does not list is refused under `enforce`, whatever its certificate.
//! let other = policy.check_mx("backup.example.net", &MxTls::verified("backup.example.net"));
//! assert_eq!(other.sender_action(), SenderAction::Refuse);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use super::finding::{Problem, RecordFinding};
use super::text::{Selected, normalize_domain, quote, same_domain, select, tag_list, trim_wsp};
use crate::report::{CertificateProblem, Phase, Report};

/// The largest policy file senders read: 64 KiB (RFC 8461 §3.3).
pub const POLICY_MAX_BYTES: usize = 64 * 1024;
/// The largest `max_age`, one year of seconds (RFC 8461 §3.2).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;
/// Below this `max_age` (one day) a policy gets a [`Problem::MtaStsMaxAgeShort`] warning: a policy that lapses
/// within a day leaves senders unprotected whenever an attacker can block one refresh.
pub const MAX_AGE_SHORT: u32 = 86_400;
/// Below this `max_age` (one week) a policy gets [`Problem::MtaStsMaxAgeBelowWeeks`] advice: RFC 8461 §3.2
/// expects "weeks or greater".
pub const MAX_AGE_WEEK: u32 = 604_800;
/// The longest TXT record parsed (a DNS TXT string is at most 255 bytes; a record of several strings more).
pub const RECORD_MAX_BYTES: usize = 1024;
/// The most fields a TXT record may have.
const RECORD_MAX_FIELDS: usize = 32;

// ---- the TXT record ------------------------------------------------------------------------------------------

/// The `_mta-sts.<domain>` TXT record (RFC 8461 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MtaStsRecord {
    /// The policy id (1–32 letters and digits): a change tells senders to fetch the policy again.
    pub id: String,
    /// Extension fields, in order (senders ignore them).
    pub extensions: Vec<(String, String)>,
}

/// Why the `_mta-sts` TXT record gives no policy (senders then act as if the domain had none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MtaStsRecordError {
    /// Several records start with `v=STSv1` (RFC 8461 §3.1: the number must be one).
    #[error("{0} TXT records start with v=STSv1; there must be exactly one")]
    Multiple(usize),
    /// The record does not start with `v=STSv1`.
    #[error("the record does not start with v=STSv1")]
    NotStsV1,
    /// Longer than [`RECORD_MAX_BYTES`].
    #[error("the record is longer than {RECORD_MAX_BYTES} bytes")]
    TooLong,
    /// Not `field=value` pairs separated by `;`, or a character outside printable ASCII.
    #[error("the record is malformed: {0}")]
    Malformed(String),
    /// No `id` field.
    #[error("the record has no id field")]
    MissingId,
    /// The `id` is not 1–32 letters and digits, or appears twice.
    #[error("the id \"{0}\" is not 1-32 letters and digits")]
    BadId(String),
    /// An extension field with a bad name or value.
    #[error("the field \"{0}\" is not valid")]
    BadField(String),
}

impl MtaStsRecordError {
    /// The record finding this error stands for.
    pub fn finding(&self) -> RecordFinding {
        let problem = match self {
            MtaStsRecordError::Multiple(_) => Problem::MtaStsRecordMultiple,
            _ => Problem::MtaStsRecordInvalid,
        };
        RecordFinding::new(problem, self.to_string())
    }
}

impl MtaStsRecord {
    /// The record of a TXT RRset (each element one TXT record, its strings joined): `Ok(None)` when no record
    /// starts with `v=STSv1` (the domain has no MTA-STS), an error when several do or the one is invalid.
    pub fn from_rrset<R: AsRef<[u8]>>(records: &[R]) -> Result<Option<MtaStsRecord>, MtaStsRecordError> {
        match select(records, b"v=STSv1", b"; \t") {
            Selected::None => Ok(None),
            Selected::One(record) => MtaStsRecord::parse(record).map(Some),
            Selected::Several(n) => Err(MtaStsRecordError::Multiple(n)),
        }
    }

    /// Parses one record: `v=STSv1; id=…` and optional extensions, no spaces around `=`.
    pub fn parse(record: &[u8]) -> Result<MtaStsRecord, MtaStsRecordError> {
        if record.len() > RECORD_MAX_BYTES {
            return Err(MtaStsRecordError::TooLong);
        }
        let text = printable_ascii(record).ok_or_else(|| MtaStsRecordError::Malformed(quote(record)))?;
        let tags = tag_list(text, RECORD_MAX_FIELDS).map_err(|e| MtaStsRecordError::Malformed(e.to_string()))?;
        let (first, rest) = tags.split_first().ok_or(MtaStsRecordError::NotStsV1)?;
        if first.name != "v" || first.value != "STSv1" || first.spaced {
            return Err(MtaStsRecordError::NotStsV1);
        }
        let mut id = None;
        let mut extensions = Vec::new();
        for tag in rest {
            if tag.spaced || !is_ext_name(tag.name) {
                return Err(MtaStsRecordError::BadField(quote(tag.name.as_bytes())));
            }
            if tag.name == "id" {
                let good = !tag.value.is_empty()
                    && tag.value.len() <= 32
                    && tag.value.bytes().all(|b| b.is_ascii_alphanumeric());
                if !good || id.is_some() {
                    return Err(MtaStsRecordError::BadId(quote(tag.value.as_bytes())));
                }
                id = Some(tag.value.to_owned());
            } else if !is_ext_value(tag.value) {
                return Err(MtaStsRecordError::BadField(quote(tag.name.as_bytes())));
            } else {
                extensions.push((tag.name.to_owned(), tag.value.to_owned()));
            }
        }
        Ok(MtaStsRecord { id: id.ok_or(MtaStsRecordError::MissingId)?, extensions })
    }
}

/// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`, the extension name of RFC 8461.
fn is_ext_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'))
}

/// `1*(%x21-3A / %x3C / %x3E-7E)`: printable, no space, `;` or `=`.
fn is_ext_value(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b';' && b != b'=')
}

/// The bytes as text if they are printable ASCII or WSP.
fn printable_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.iter().all(|&b| (0x20..=0x7e).contains(&b) || b == b'\t') {
        core::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

// ---- the policy file -----------------------------------------------------------------------------------------

/// Sets a single-valued field at its first appearance and notes any later one (RFC 8461 §3.2 allows only `mx`
/// to repeat).
fn keep_first<'a>(slot: &mut Option<&'a str>, value: &'a str, key: &str, repeated: &mut Vec<String>) {
    match slot {
        Some(_) => repeated.push(key.to_owned()),
        None => *slot = Some(value),
    }
}

/// What senders do with a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Mode {
    /// Refuse to deliver to an MX that fails the policy.
    Enforce,
    /// Deliver anyway, and report the failure through TLS-RPT.
    Testing,
    /// No policy: the domain switched MTA-STS off.
    None,
}

impl Mode {
    /// `"enforce"`, `"testing"` or `"none"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `mx:` line: a host name, or `*.` and a domain for any host exactly one label below it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MxPattern {
    /// Whether it starts with `*.`.
    pub wildcard: bool,
    /// The domain after `*.` (or the whole host), lower case, without a trailing dot.
    pub domain: String,
}

impl MxPattern {
    /// Parses `mx.example.com` or `*.example.com`.
    pub fn parse(text: &str) -> Result<MxPattern, MtaStsPolicyError> {
        let (wildcard, domain) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let domain = normalize_domain(domain).map_err(|_| MtaStsPolicyError::BadMx(quote(text.as_bytes())))?;
        Ok(MxPattern { wildcard, domain })
    }

    /// Whether `host` matches (RFC 8461 §4.1): the same name, or for `*.d` a name of exactly one more label
    /// than `d` ending in `.d`. ASCII case and a trailing dot do not matter.
    pub fn matches(&self, host: &str) -> bool {
        // One trailing dot (the root) at most; the pattern's domain has none.
        let host = host.strip_suffix('.').unwrap_or(host);
        if !self.wildcard {
            return host.eq_ignore_ascii_case(&self.domain);
        }
        match host.split_once('.') {
            Some((label, parent)) => !label.is_empty() && parent.eq_ignore_ascii_case(&self.domain),
            None => false,
        }
    }
}

impl fmt::Display for MxPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.domain)
    }
}

/// A parsed policy file (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MtaStsPolicy {
    /// `mode`.
    pub mode: Mode,
    /// `max_age`, seconds senders may cache the policy.
    pub max_age: u32,
    /// The `mx` patterns, in order (empty only with mode `none`).
    pub mx: Vec<MxPattern>,
    /// Unknown fields, in order (senders ignore them).
    pub extensions: Vec<(String, String)>,
    /// Fields other than `mx` given more than once (the first counts).
    pub repeated: Vec<String>,
}

/// Why a policy file is no policy (senders then act as if the domain had none).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MtaStsPolicyError {
    /// Bigger than [`POLICY_MAX_BYTES`].
    #[error("the policy is larger than {POLICY_MAX_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("the policy is not UTF-8 text")]
    NotUtf8,
    /// A line that is not `key: value`, with its 1-based number.
    #[error("line {line} is not \"key: value\": \"{text}\"")]
    BadLine {
        /// Line number, from 1.
        line: usize,
        /// The line, escaped and cut.
        text: String,
    },
    /// `version` missing or not `STSv1`.
    #[error("version is missing or not STSv1")]
    BadVersion,
    /// `mode` missing, or not `enforce`, `testing` or `none`.
    #[error("mode is missing or not enforce, testing or none")]
    BadMode,
    /// `max_age` missing or not 1–10 digits.
    #[error("max_age is missing or not a number")]
    BadMaxAge,
    /// `max_age` above [`MAX_AGE_LIMIT`].
    #[error("max_age {0} is above the maximum of {MAX_AGE_LIMIT}")]
    MaxAgeTooLarge(u64),
    /// No `mx` line with mode `enforce` or `testing`.
    #[error("no mx pattern (required unless the mode is none)")]
    NoMx,
    /// An `mx` value that is not a host name or `*.` and a domain.
    #[error("mx \"{0}\" is not a host name or *.domain")]
    BadMx(String),
}

impl MtaStsPolicyError {
    /// The record finding this error stands for.
    pub fn finding(&self) -> RecordFinding {
        RecordFinding::new(Problem::MtaStsPolicyInvalid, self.to_string())
    }
}

impl MtaStsPolicy {
    /// Parses a policy body: `key: value` lines ending in CRLF or LF; unknown keys ignored; fields other than
    /// `mx` used at their first appearance; blank lines skipped.
    pub fn parse(body: &[u8]) -> Result<MtaStsPolicy, MtaStsPolicyError> {
        if body.len() > POLICY_MAX_BYTES {
            return Err(MtaStsPolicyError::TooLarge);
        }
        let text = core::str::from_utf8(body).map_err(|_| MtaStsPolicyError::NotUtf8)?;
        let (mut version, mut mode, mut max_age) = (None, None, None);
        let mut mx = Vec::new();
        let mut extensions = Vec::new();
        let mut repeated = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.is_empty() {
                continue;
            }
            let bad = || MtaStsPolicyError::BadLine { line: index + 1, text: quote(line.as_bytes()) };
            let (key, value) = line.split_once(':').ok_or_else(bad)?;
            // Trailing WSP is not part of a value; control characters never are.
            let value = trim_wsp(value);
            if !is_ext_name(key) || value.is_empty() || value.chars().any(char::is_control) {
                return Err(bad());
            }
            match key {
                "version" => keep_first(&mut version, value, key, &mut repeated),
                "mode" => keep_first(&mut mode, value, key, &mut repeated),
                "max_age" => keep_first(&mut max_age, value, key, &mut repeated),
                "mx" => mx.push(MxPattern::parse(value)?),
                _ => extensions.push((key.to_owned(), value.to_owned())),
            }
        }
        if version != Some("STSv1") {
            return Err(MtaStsPolicyError::BadVersion);
        }
        let mode = match mode {
            Some("enforce") => Mode::Enforce,
            Some("testing") => Mode::Testing,
            Some("none") => Mode::None,
            _ => return Err(MtaStsPolicyError::BadMode),
        };
        let max_age = max_age.ok_or(MtaStsPolicyError::BadMaxAge)?;
        if max_age.is_empty() || max_age.len() > 10 || !max_age.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MtaStsPolicyError::BadMaxAge);
        }
        let max_age: u64 = max_age.parse().map_err(|_| MtaStsPolicyError::BadMaxAge)?;
        let max_age = u32::try_from(max_age)
            .ok()
            .filter(|&age| age <= MAX_AGE_LIMIT)
            .ok_or(MtaStsPolicyError::MaxAgeTooLarge(max_age))?;
        if mx.is_empty() && mode != Mode::None {
            return Err(MtaStsPolicyError::NoMx);
        }
        Ok(MtaStsPolicy { mode, max_age, mx, extensions, repeated })
    }

    /// What a valid policy still deserves a word about: its mode when not `enforce`, a short `max_age`,
    /// repeated fields.
    pub fn findings(&self) -> Vec<RecordFinding> {
        let mut findings = Vec::new();
        match self.mode {
            Mode::Enforce => {}
            Mode::Testing => findings.push(RecordFinding::new(
                Problem::MtaStsModeTesting,
                "mode: testing; senders report failures but still deliver",
            )),
            Mode::None => findings.push(RecordFinding::new(Problem::MtaStsModeNone, "mode: none")),
        }
        if self.max_age < MAX_AGE_SHORT {
            findings.push(RecordFinding::new(
                Problem::MtaStsMaxAgeShort,
                format!("max_age {} s is below one day ({MAX_AGE_SHORT} s)", self.max_age),
            ));
        } else if self.max_age < MAX_AGE_WEEK {
            findings.push(RecordFinding::new(
                Problem::MtaStsMaxAgeBelowWeeks,
                format!("max_age {} s is below one week ({MAX_AGE_WEEK} s)", self.max_age),
            ));
        }
        for key in &self.repeated {
            findings.push(RecordFinding::new(
                Problem::MtaStsFieldRepeated,
                format!("\"{}\" appears more than once; the first is used", quote(key.as_bytes())),
            ));
        }
        findings
    }

    /// The first `mx` pattern `host` matches.
    pub fn matching_pattern(&self, host: &str) -> Option<&MxPattern> {
        self.mx.iter().find(|p| p.matches(host))
    }

    /// Whether the MX host `host` satisfies this policy, given how its TLS went (RFC 8461 §4): it must match an
    /// `mx` pattern, offer STARTTLS, and present a certificate that chains to a trusted root, has not expired
    /// and is valid for `host` itself.
    pub fn check_mx(&self, host: &str, tls: &MxTls<'_>) -> MxCheck {
        let pattern = self.matching_pattern(host).cloned();
        let mut failures = Vec::new();
        if pattern.is_none() {
            failures.push(MxFailure::NotListed);
        }
        match tls {
            MxTls::NoStartTls => failures.push(MxFailure::NoStartTls),
            MxTls::HandshakeFailed => failures.push(MxFailure::HandshakeFailed),
            MxTls::Established { verified_name, verified, problem } => {
                if !verified {
                    let problem = problem.cloned().unwrap_or(CertificateProblem::Other("not verified".into()));
                    failures.push(MxFailure::Certificate(problem));
                } else if !verified_name.is_some_and(|name| same_domain(name, host)) {
                    failures.push(MxFailure::NameNotChecked(verified_name.map(str::to_owned)));
                }
            }
        }
        MxCheck {
            host: host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase(),
            mode: self.mode,
            pattern,
            failures,
        }
    }
}

/// How the TLS of an MX host went, as [`MtaStsPolicy::check_mx`] needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxTls<'a> {
    /// STARTTLS was not offered, or the server refused it.
    NoStartTls,
    /// The handshake failed for a reason other than the certificate.
    HandshakeFailed,
    /// The handshake completed; the certificate was checked against the WebPKI roots for `verified_name`.
    Established {
        /// The name the certificate was checked against.
        verified_name: Option<&'a str>,
        /// Whether it verified (trusted root, in its validity period, valid for that name).
        verified: bool,
        /// Why not, when it did not.
        problem: Option<&'a CertificateProblem>,
    },
}

impl<'a> MxTls<'a> {
    /// A certificate that verified for `name`.
    pub fn verified(name: &'a str) -> MxTls<'a> {
        MxTls::Established { verified_name: Some(name), verified: true, problem: None }
    }

    /// A certificate that was checked for `name` and failed for `problem`.
    pub fn failed(name: &'a str, problem: &'a CertificateProblem) -> MxTls<'a> {
        MxTls::Established { verified_name: Some(name), verified: false, problem: Some(problem) }
    }

    /// How the TLS of a probe went, from its report: the certificate check when a handshake got as far as a
    /// certificate, a failed handshake when the report has a finding in the handshake phase, and otherwise no
    /// STARTTLS. (A probe that ended before STARTTLS reads as no STARTTLS; its own verdict says why.) The probe
    /// must have checked the certificate against the MX host name (its TLS name) for the name check to pass.
    pub fn from_report(report: &'a Report) -> MxTls<'a> {
        match &report.tls {
            Some(tls) => MxTls::Established {
                verified_name: tls.verified_name.as_deref(),
                verified: tls.verified,
                problem: tls.verify_error.as_ref(),
            },
            None if report.findings.iter().any(|f| f.phase == Some(Phase::TlsHandshake)) => MxTls::HandshakeFailed,
            None => MxTls::NoStartTls,
        }
    }
}

/// Why an MX host fails a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum MxFailure {
    /// The host matches no `mx` pattern (RFC 8461 §4.1).
    NotListed,
    /// No STARTTLS (RFC 8461 §4.2: TLS is required).
    NoStartTls,
    /// The TLS handshake failed.
    HandshakeFailed,
    /// The certificate did not verify (RFC 8461 §4.2).
    Certificate(CertificateProblem),
    /// The certificate verified, but for another name than the MX host (or no name): senders check the host.
    NameNotChecked(Option<String>),
}

impl fmt::Display for MxFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MxFailure::NotListed => f.write_str("not listed in the policy's mx patterns"),
            MxFailure::NoStartTls => f.write_str("no STARTTLS"),
            MxFailure::HandshakeFailed => f.write_str("TLS handshake failed"),
            MxFailure::Certificate(problem) => write!(f, "{problem}"),
            MxFailure::NameNotChecked(Some(name)) => write!(f, "certificate checked for {name}, not the MX host"),
            MxFailure::NameNotChecked(None) => f.write_str("certificate not checked against the MX host name"),
        }
    }
}

/// What a sender honouring MTA-STS does with an MX host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SenderAction {
    /// Delivers: the host passes, or the mode is `none`.
    Deliver,
    /// Delivers although the host fails, and reports it (mode `testing`).
    DeliverAndReport,
    /// Does not deliver to this host (mode `enforce`).
    Refuse,
}

/// The result of [`MtaStsPolicy::check_mx`] for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MxCheck {
    /// The host, lower case, without a trailing dot.
    pub host: String,
    /// The policy's mode.
    pub mode: Mode,
    /// The pattern it matched.
    pub pattern: Option<MxPattern>,
    /// Every rule it fails; empty when it passes.
    pub failures: Vec<MxFailure>,
}

impl MxCheck {
    /// Whether the host satisfies the policy.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// What a sender does, from the failures and the mode.
    pub fn sender_action(&self) -> SenderAction {
        match (self.passed(), self.mode) {
            (true, _) | (false, Mode::None) => SenderAction::Deliver,
            (false, Mode::Testing) => SenderAction::DeliverAndReport,
            (false, Mode::Enforce) => SenderAction::Refuse,
        }
    }
}

/// What changed between two sightings of a domain's MTA-STS (the `id` and the policy fetched with it), when
/// senders with a cached copy would be misled: the policy changed but the `id` did not (they keep the old
/// policy until `max_age`), or the `id` changed but the policy did not (an update that was not deployed).
pub fn compare_sightings(
    previous: (&MtaStsRecord, &MtaStsPolicy),
    current: (&MtaStsRecord, &MtaStsPolicy),
) -> Option<RecordFinding> {
    let same_id = previous.0.id == current.0.id;
    let same_policy =
        previous.1.mode == current.1.mode && previous.1.max_age == current.1.max_age && previous.1.mx == current.1.mx;
    match (same_id, same_policy) {
        (true, false) => Some(RecordFinding::new(
            Problem::MtaStsPolicyChangedIdUnchanged,
            format!("the policy changed but the id is still {}", current.0.id),
        )),
        (false, true) => Some(RecordFinding::new(
            Problem::MtaStsIdChangedPolicyUnchanged,
            format!("the id changed from {} to {} but the policy is the same", previous.0.id, current.0.id),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> MtaStsPolicy {
        MtaStsPolicy::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 8461 §3.1 and §3.2.
        let record = MtaStsRecord::parse(b"v=STSv1; id=20160831085700Z;").unwrap();
        assert_eq!(record.id, "20160831085700Z");
        let p = policy(
            "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n",
        );
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.mx.len(), 3);
        assert_eq!(p.mx[1].to_string(), "*.example.net");
        assert!(p.findings().is_empty());
    }

    #[test]
    fn txt_records_follow_the_grammar() {
        assert_eq!(MtaStsRecord::parse(b"v=STSv1;id=1").unwrap().id, "1");
        let ext = MtaStsRecord::parse(b"v=STSv1; id=abc; foo.bar=x:y").unwrap();
        assert_eq!(ext.extensions, [("foo.bar".to_owned(), "x:y".to_owned())]);
        for (bad, want) in [
            (&b"v=STSv1"[..], MtaStsRecordError::MissingId),
            (b"v=STSv1; id=", MtaStsRecordError::BadId(String::new())),
            (b"v=STSv1; id=abc-def", MtaStsRecordError::BadId("abc-def".into())),
            (b"v=STSv1; id=a; id=b", MtaStsRecordError::BadId("b".into())),
            (b"v=STSv1; id = 1", MtaStsRecordError::BadField("id".into())),
            (b"v=STSv1; id=1; x=a=b", MtaStsRecordError::BadField("x".into())),
            (b"v=STSv2; id=1", MtaStsRecordError::NotStsV1),
            (b"id=1; v=STSv1", MtaStsRecordError::NotStsV1),
        ] {
            assert_eq!(MtaStsRecord::parse(bad), Err(want), "{}", quote(bad));
        }
        let id33 = format!("v=STSv1; id={}", "a".repeat(33));
        assert!(matches!(MtaStsRecord::parse(id33.as_bytes()), Err(MtaStsRecordError::BadId(_))));
        assert!(matches!(MtaStsRecord::parse(b"v=STSv1; id=1\x00"), Err(MtaStsRecordError::Malformed(_))));
        assert_eq!(MtaStsRecord::parse(&[b'a'; 2000]), Err(MtaStsRecordError::TooLong));
    }

    #[test]
    fn rrsets_with_several_sts_records_are_no_policy() {
        let none: [&[u8]; 2] = [b"v=spf1 -all", b"v=STSv10; id=1"];
        assert_eq!(MtaStsRecord::from_rrset(&none), Ok(None));
        let one: [&[u8]; 2] = [b"google-site-verification=x", b"v=STSv1; id=7"];
        assert_eq!(MtaStsRecord::from_rrset(&one).unwrap().unwrap().id, "7");
        let two: [&[u8]; 2] = [b"v=STSv1; id=7", b"v=STSv1; id=8"];
        assert_eq!(MtaStsRecord::from_rrset(&two), Err(MtaStsRecordError::Multiple(2)));
        assert_eq!(MtaStsRecordError::Multiple(2).finding().problem, Problem::MtaStsRecordMultiple);
    }

    #[test]
    fn policies_take_crlf_lf_unknown_keys_and_trailing_space() {
        let p =
            policy("version: STSv1\r\nmode: testing  \r\nmx: MX.Example.COM.\r\nfoo: bar baz\r\nmax_age:86400\r\n\r\n");
        assert_eq!(p.mode, Mode::Testing);
        assert_eq!(p.mx[0].domain, "mx.example.com");
        assert_eq!(p.extensions, [("foo".to_owned(), "bar baz".to_owned())]);
        let problems: Vec<Problem> = p.findings().iter().map(|f| f.problem).collect();
        assert_eq!(problems, [Problem::MtaStsModeTesting, Problem::MtaStsMaxAgeBelowWeeks]);
        let none = policy("version: STSv1\nmode: none\nmax_age: 86399");
        assert!(none.mx.is_empty());
        let problems: Vec<Problem> = none.findings().iter().map(|f| f.problem).collect();
        assert_eq!(problems, [Problem::MtaStsModeNone, Problem::MtaStsMaxAgeShort]);
        let repeated = policy("version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 31557600");
        assert_eq!((repeated.mode, repeated.max_age), (Mode::Enforce, MAX_AGE_LIMIT));
        assert_eq!(repeated.repeated, ["mode"]);
    }

    #[test]
    fn invalid_policies_say_why() {
        let parse = |s: &str| MtaStsPolicy::parse(s.as_bytes());
        let base = "version: STSv1\nmode: enforce\nmx: a.example\n";
        assert_eq!(parse(&format!("{base}max_age: 31557601")), Err(MtaStsPolicyError::MaxAgeTooLarge(31_557_601)));
        assert_eq!(parse(&format!("{base}max_age: 99999999999")), Err(MtaStsPolicyError::BadMaxAge));
        assert_eq!(parse(&format!("{base}max_age: -1")), Err(MtaStsPolicyError::BadMaxAge));
        assert_eq!(parse(base), Err(MtaStsPolicyError::BadMaxAge));
        assert_eq!(parse("version: STSv1\nmode: enforce\nmax_age: 1"), Err(MtaStsPolicyError::NoMx));
        assert_eq!(parse("version: STSv1\nmode: Enforce\nmx: a\nmax_age: 1"), Err(MtaStsPolicyError::BadMode));
        assert_eq!(parse("mode: enforce\nmx: a\nmax_age: 1"), Err(MtaStsPolicyError::BadVersion));
        assert_eq!(
            parse("version: STSv1\nmode : enforce\n"),
            Err(MtaStsPolicyError::BadLine { line: 2, text: "mode : enforce".into() })
        );
        assert_eq!(parse("version: STSv1\nmx: a b\n"), Err(MtaStsPolicyError::BadMx("a b".into())));
        assert_eq!(parse("version: STSv1\nmx: *\n"), Err(MtaStsPolicyError::BadMx("*".into())));
        assert_eq!(MtaStsPolicy::parse(b"version: STSv1\n\xff"), Err(MtaStsPolicyError::NotUtf8));
        assert_eq!(MtaStsPolicy::parse(&vec![b'#'; POLICY_MAX_BYTES + 1]), Err(MtaStsPolicyError::TooLarge));
        // An HTML error page served as the policy.
        assert!(matches!(
            parse("<html><body>Not Found</body></html>"),
            Err(MtaStsPolicyError::BadLine { line: 1, .. })
        ));
    }

    #[test]
    fn wildcards_match_exactly_one_leftmost_label() {
        let wild = MxPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("mx.example.com"));
        assert!(wild.matches("MX.EXAMPLE.COM."));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("a.b.example.com"));
        assert!(!wild.matches(".example.com"));
        assert!(!wild.matches("mx.example.com.evil"));
        // Found by the mta_sts fuzz target: a second trailing dot was stripped too, so "a.example.com.."
        // (not a valid name) matched.
        assert!(!wild.matches("mx.example.com.."));
        let exact = MxPattern::parse("mx.example.com").unwrap();
        assert!(exact.matches("mx.example.com."));
        assert!(!exact.matches("a.mx.example.com"));
        assert!(!exact.matches("mx.example.com.."));
    }

    #[test]
    fn check_mx_follows_the_mode() {
        let enforce = policy("version: STSv1\nmode: enforce\nmx: *.mail.test\nmax_age: 604800");
        let ok = enforce.check_mx("mx1.mail.test", &MxTls::verified("MX1.mail.test."));
        assert!(ok.passed());
        assert_eq!(ok.pattern.as_ref().map(ToString::to_string).as_deref(), Some("*.mail.test"));
        let expired = CertificateProblem::Expired;
        let bad = enforce.check_mx("mx1.mail.test", &MxTls::failed("mx1.mail.test", &expired));
        assert_eq!(bad.failures, [MxFailure::Certificate(CertificateProblem::Expired)]);
        assert_eq!(bad.sender_action(), SenderAction::Refuse);
        let other_name = enforce.check_mx("mx1.mail.test", &MxTls::verified("mail.test"));
        assert_eq!(other_name.failures, [MxFailure::NameNotChecked(Some("mail.test".into()))]);
        let plain = enforce.check_mx("elsewhere.test", &MxTls::NoStartTls);
        assert_eq!(plain.failures, [MxFailure::NotListed, MxFailure::NoStartTls]);

        let testing = policy("version: STSv1\nmode: testing\nmx: *.mail.test\nmax_age: 604800");
        assert_eq!(
            testing.check_mx("mx1.mail.test", &MxTls::HandshakeFailed).sender_action(),
            SenderAction::DeliverAndReport
        );
        let none = policy("version: STSv1\nmode: none\nmax_age: 604800");
        assert_eq!(none.check_mx("mx1.mail.test", &MxTls::NoStartTls).sender_action(), SenderAction::Deliver);
    }

    #[test]
    fn tls_outcomes_are_read_from_reports() {
        use crate::report::{Cause, Finding, Severity, TlsInfo};
        let mut report = Report::empty("mx1.mail.test:25".into(), std::time::SystemTime::UNIX_EPOCH, 0);
        assert_eq!(MxTls::from_report(&report), MxTls::NoStartTls);
        report.add_finding(Finding {
            severity: Severity::Critical,
            cause: Some(Cause::TlsHandshakeFailed),
            phase: Some(Phase::TlsHandshake),
            message: "TLS handshake failed: no common cipher".into(),
            server_text: None,
        });
        assert_eq!(MxTls::from_report(&report), MxTls::HandshakeFailed);
        report.tls = Some(TlsInfo {
            verified_name: Some("mx1.mail.test".into()),
            verified: false,
            verify_error: Some(CertificateProblem::Expired),
            ..TlsInfo::default()
        });
        let expired = CertificateProblem::Expired;
        assert_eq!(MxTls::from_report(&report), MxTls::failed("mx1.mail.test", &expired));
    }

    #[test]
    fn sightings_flag_an_id_or_a_policy_changing_alone() {
        let r1 = MtaStsRecord::parse(b"v=STSv1; id=1").unwrap();
        let r2 = MtaStsRecord::parse(b"v=STSv1; id=2").unwrap();
        let p1 = policy("version: STSv1\nmode: testing\nmx: a.test\nmax_age: 604800");
        let p2 = policy("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 604800");
        assert_eq!(compare_sightings((&r1, &p1), (&r1, &p1)), None);
        assert_eq!(compare_sightings((&r1, &p1), (&r2, &p2)), None);
        let stale = compare_sightings((&r1, &p1), (&r1, &p2)).unwrap();
        assert_eq!(stale.problem, Problem::MtaStsPolicyChangedIdUnchanged);
        let undeployed = compare_sightings((&r1, &p1), (&r2, &p1)).unwrap();
        assert_eq!(undeployed.problem, Problem::MtaStsIdChangedPolicyUnchanged);
    }
}
