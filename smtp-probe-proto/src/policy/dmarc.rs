//! DMARC (RFC 7489): the `_dmarc.<domain>` TXT record — policy, subdomain policy, `pct`, report URIs with their
//! size limits, alignment modes, failure-report options and interval.
//!
//! Parsing follows what receivers do (RFC 7489 §6.3, §6.6.3): `v=DMARC1` first, tags in any order, unknown
//! tags ignored, a tag with an invalid value ignored in favour of its default (and reported), a record without
//! a valid `p` read as `p=none` when it has a valid `rua` and as no record otherwise. The DMARCbis tags `np`,
//! `psd` and `t` are read when present and otherwise treated like any unknown tag would be.
//!
//! ```
//! use smtp_probe_proto::policy::dmarc::{DmarcRecord, Disposition};
//! use smtp_probe_proto::policy::Problem;
//!
//! let record = DmarcRecord::parse(b"v=DMARC1; p=none; rua=mailto:dmarc@example.com!10m; pct=100")?;
//! assert_eq!(record.policy, Some(Disposition::None));
//! assert_eq!(record.rua[0].max_size, Some(10 * 1024 * 1024));
//! let problems: Vec<Problem> = record.findings().iter().map(|f| f.problem).collect();
//! assert_eq!(problems, [Problem::DmarcPolicyNone]);
//! # Ok::<(), smtp_probe_proto::policy::dmarc::DmarcError>(())
//! ```

use core::fmt;

use super::finding::{Problem, RecordFinding};
use super::text::{quote, tag_list, trim_wsp};
use super::uri::ReportUri;

/// The longest record parsed.
pub const RECORD_MAX_BYTES: usize = 2048;
/// The most URIs kept per `rua`/`ruf`.
pub const MAX_URIS: usize = 32;
const MAX_TAGS: usize = 32;

/// What receivers do with mail that fails DMARC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Disposition {
    /// Nothing: monitor only.
    None,
    /// Treat as suspicious (spam folder).
    Quarantine,
    /// Reject during the SMTP transaction.
    Reject,
}

impl Disposition {
    fn parse(value: &str) -> Option<Disposition> {
        match value.to_ascii_lowercase().as_str() {
            "none" => Some(Disposition::None),
            "quarantine" => Some(Disposition::Quarantine),
            "reject" => Some(Disposition::Reject),
            _ => None,
        }
    }

    /// `"none"`, `"quarantine"` or `"reject"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::None => "none",
            Disposition::Quarantine => "quarantine",
            Disposition::Reject => "reject",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifier alignment mode (`adkim`, `aspf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Alignment {
    /// `r`: organizational domains must match (the default).
    Relaxed,
    /// `s`: exact domains must match.
    Strict,
}

/// A failure-reporting option (`fo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FailureOption {
    /// `0`: report when all mechanisms fail to align (the default).
    AllFail,
    /// `1`: report when any mechanism fails to align.
    AnyFail,
    /// `d`: report DKIM signature failures.
    Dkim,
    /// `s`: report SPF failures.
    Spf,
}

/// A `rua`/`ruf` destination with its optional size limit (`!10m`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DmarcUri {
    /// The URI.
    pub uri: ReportUri,
    /// The largest report it takes, in bytes (`k`, `m`, `g`, `t` are powers of 2^10).
    pub max_size: Option<u64>,
}

/// A DMARC record as receivers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DmarcRecord {
    /// `p`; `None` when missing or invalid (receivers then act as if `p=none`, the record having a valid
    /// `rua`).
    pub policy: Option<Disposition>,
    /// `sp`, the policy for subdomains (defaults to `p`).
    pub subdomain_policy: Option<Disposition>,
    /// `np` (DMARCbis), the policy for non-existent subdomains.
    pub nonexistent_policy: Option<Disposition>,
    /// `pct`, 0–100 (default 100).
    pub pct: u8,
    /// `rua`, aggregate report destinations (invalid ones left out and noted in `ignored`).
    pub rua: Vec<DmarcUri>,
    /// `ruf`, failure report destinations.
    pub ruf: Vec<DmarcUri>,
    /// `adkim` (default relaxed).
    pub adkim: Alignment,
    /// `aspf` (default relaxed).
    pub aspf: Alignment,
    /// `fo` (default `0`).
    pub fo: Vec<FailureOption>,
    /// `rf`, failure report formats (default `afrf`).
    pub rf: Vec<String>,
    /// `ri`, seconds between aggregate reports (default 86400).
    pub ri: u32,
    /// Tags this parser does not know, in order.
    pub extensions: Vec<(String, String)>,
    /// Tags (or URIs) whose value was invalid and is ignored, with the reason.
    pub ignored: Vec<String>,
}

/// Why a DMARC record gives no policy (receivers then apply no DMARC).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DmarcError {
    /// Several records start with `v=DMARC1`.
    #[error("{0} TXT records start with v=DMARC1; there must be exactly one")]
    Multiple(usize),
    /// Does not start with `v=DMARC1`.
    #[error("the record does not start with v=DMARC1")]
    NotDmarc1,
    /// Longer than [`RECORD_MAX_BYTES`].
    #[error("the record is longer than {RECORD_MAX_BYTES} bytes")]
    TooLong,
    /// Not `tag=value` pairs separated by `;`, or not printable ASCII.
    #[error("the record is malformed: {0}")]
    Malformed(String),
    /// A tag given twice (the DKIM tag-list rule DMARC builds on, RFC 6376 §3.2).
    #[error("the tag \"{0}\" appears twice")]
    Duplicate(String),
    /// No valid `p` and no valid `rua` (RFC 7489 §6.6.3).
    #[error("no valid p tag and no valid rua tag")]
    NoPolicy,
}

impl DmarcError {
    /// The record finding this error stands for.
    pub fn finding(&self) -> RecordFinding {
        let problem = match self {
            DmarcError::Multiple(_) => Problem::DmarcMultiple,
            _ => Problem::DmarcInvalid,
        };
        RecordFinding::new(problem, self.to_string())
    }
}

/// Whether a TXT record starts with the `v=DMARC1` tag (spaces around `=` allowed).
fn is_dmarc1(record: &[u8]) -> bool {
    let Some(rest) = record.strip_prefix(b"v") else { return false };
    let rest = rest.trim_ascii_start();
    let Some(rest) = rest.strip_prefix(b"=") else { return false };
    let Some(rest) = rest.trim_ascii_start().strip_prefix(b"DMARC1") else { return false };
    rest.first().is_none_or(|&b| b == b';' || b == b' ' || b == b'\t')
}

impl DmarcRecord {
    /// The record of a TXT RRset: `Ok(None)` when no record starts with `v=DMARC1` (then
    /// [`DmarcRecord::missing`] is the finding), an error when several do or the one gives no policy.
    pub fn from_rrset<R: AsRef<[u8]>>(records: &[R]) -> Result<Option<DmarcRecord>, DmarcError> {
        let mut matching = records.iter().map(AsRef::as_ref).filter(|r| is_dmarc1(r));
        let Some(first) = matching.next() else { return Ok(None) };
        match matching.count() {
            0 => DmarcRecord::parse(first).map(Some),
            more => Err(DmarcError::Multiple(more.saturating_add(1))),
        }
    }

    /// The finding for a domain without a record.
    pub fn missing(domain: &str) -> RecordFinding {
        RecordFinding::new(Problem::DmarcMissing, format!("no v=DMARC1 record at _dmarc.{domain}"))
    }

    /// Parses one record.
    pub fn parse(record: &[u8]) -> Result<DmarcRecord, DmarcError> {
        if record.len() > RECORD_MAX_BYTES {
            return Err(DmarcError::TooLong);
        }
        if !is_dmarc1(record) {
            return Err(DmarcError::NotDmarc1);
        }
        let text = core::str::from_utf8(record)
            .ok()
            .filter(|t| t.bytes().all(|b| (0x20..=0x7e).contains(&b) || b == b'\t'))
            .ok_or_else(|| DmarcError::Malformed(quote(record)))?;
        let tags = tag_list(text, MAX_TAGS).map_err(|e| DmarcError::Malformed(e.to_string()))?;
        let mut seen: Vec<String> = Vec::with_capacity(tags.len());
        let mut r = DmarcRecord {
            policy: None,
            subdomain_policy: None,
            nonexistent_policy: None,
            pct: 100,
            rua: Vec::new(),
            ruf: Vec::new(),
            adkim: Alignment::Relaxed,
            aspf: Alignment::Relaxed,
            fo: vec![FailureOption::AllFail],
            rf: vec!["afrf".to_owned()],
            ri: 86_400,
            extensions: Vec::new(),
            ignored: Vec::new(),
        };
        for tag in &tags[1..] {
            let name = tag.name.to_ascii_lowercase();
            if seen.contains(&name) {
                return Err(DmarcError::Duplicate(quote(tag.name.as_bytes())));
            }
            seen.push(name.clone());
            let value = tag.value;
            let ignore = |why: &str| ignored_note(&name, value, why);
            match name.as_str() {
                "p" => {
                    r.policy = Disposition::parse(value);
                    if r.policy.is_none() {
                        r.ignored.push(ignore("not none, quarantine or reject"));
                    }
                }
                "sp" | "np" => match Disposition::parse(value) {
                    Some(d) if name == "sp" => r.subdomain_policy = Some(d),
                    Some(d) => r.nonexistent_policy = Some(d),
                    None => r.ignored.push(ignore("not none, quarantine or reject")),
                },
                "pct" => match value.parse::<u8>() {
                    Ok(pct) if pct <= 100 && value.len() <= 3 && value.bytes().all(|b| b.is_ascii_digit()) => {
                        r.pct = pct
                    }
                    _ => r.ignored.push(ignore("not a number from 0 to 100")),
                },
                "adkim" | "aspf" => {
                    let mode = match value.to_ascii_lowercase().as_str() {
                        "r" => Some(Alignment::Relaxed),
                        "s" => Some(Alignment::Strict),
                        _ => None,
                    };
                    match mode {
                        Some(mode) if name == "adkim" => r.adkim = mode,
                        Some(mode) => r.aspf = mode,
                        None => r.ignored.push(ignore("not r or s")),
                    }
                }
                "rua" | "ruf" => {
                    let (uris, bad) = parse_uris(value);
                    r.ignored.extend(bad.into_iter().map(|why| ignored_note(&name, value, &why)));
                    if name == "rua" {
                        r.rua = uris;
                    } else {
                        r.ruf = uris;
                    }
                }
                "fo" => {
                    let options: Option<Vec<FailureOption>> = value
                        .split(':')
                        .map(|o| match trim_wsp(o) {
                            "0" => Some(FailureOption::AllFail),
                            "1" => Some(FailureOption::AnyFail),
                            "d" | "D" => Some(FailureOption::Dkim),
                            "s" | "S" => Some(FailureOption::Spf),
                            _ => None,
                        })
                        .collect();
                    match options {
                        Some(options) => r.fo = options,
                        None => r.ignored.push(ignore("options are 0, 1, d, s separated by ':'")),
                    }
                }
                "rf" => {
                    let formats: Vec<String> = value.split(':').map(|f| trim_wsp(f).to_ascii_lowercase()).collect();
                    let keywords = formats.iter().all(|f| {
                        !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                    if keywords {
                        r.rf = formats;
                    } else {
                        r.ignored.push(ignore("formats are keywords separated by ':'"));
                    }
                }
                "ri" => match value.parse::<u32>() {
                    Ok(ri) if value.bytes().all(|b| b.is_ascii_digit()) => r.ri = ri,
                    _ => r.ignored.push(ignore("not a number of seconds")),
                },
                _ => r.extensions.push((tag.name.to_owned(), value.to_owned())),
            }
        }
        if r.policy.is_none() && r.rua.is_empty() {
            return Err(DmarcError::NoPolicy);
        }
        Ok(r)
    }

    /// The policy receivers apply to the domain itself: `p`, or `none` when `p` is missing or invalid.
    pub fn effective_policy(&self) -> Disposition {
        self.policy.unwrap_or(Disposition::None)
    }

    /// What deserves a word: no valid `p`, `p=none`, `pct` below 100, ignored tags.
    pub fn findings(&self) -> Vec<RecordFinding> {
        let mut findings = Vec::new();
        match self.policy {
            None => findings.push(RecordFinding::new(
                Problem::DmarcPolicyMissing,
                "no valid p tag; receivers act as if p=none because rua is valid",
            )),
            Some(Disposition::None) => findings.push(RecordFinding::new(
                Problem::DmarcPolicyNone,
                "p=none: receivers deliver mail that fails DMARC (monitoring only)",
            )),
            Some(_) => {}
        }
        if self.pct < 100 && self.effective_policy() != Disposition::None {
            findings.push(RecordFinding::new(
                Problem::DmarcPartialPct,
                format!("pct={}: p={} applies to {}% of failing mail", self.pct, self.effective_policy(), self.pct),
            ));
        }
        for why in &self.ignored {
            // An invalid `p` is already the policy finding above.
            if !why.starts_with("p: ") {
                findings.push(RecordFinding::new(Problem::DmarcTagIgnored, why.clone()));
            }
        }
        findings
    }
}

fn ignored_note(name: &str, value: &str, why: &str) -> String {
    format!("{name}: \"{}\" ignored: {why}", quote(value.as_bytes()))
}

/// The valid URIs of a `rua`/`ruf` value, and a reason for each invalid one.
fn parse_uris(value: &str) -> (Vec<DmarcUri>, Vec<String>) {
    let mut uris = Vec::new();
    let mut bad = Vec::new();
    for (i, item) in value.split(',').map(trim_wsp).enumerate() {
        if i == MAX_URIS {
            bad.push(format!("more than {MAX_URIS} URIs; the rest are ignored"));
            break;
        }
        let (text, max_size) = split_size(item);
        match ReportUri::parse(text) {
            Ok(uri) => uris.push(DmarcUri { uri, max_size }),
            Err(e) => bad.push(e.to_string()),
        }
    }
    (uris, bad)
}

/// `uri!10m` → (`uri`, 10 MiB); a `!` not followed by digits and an optional unit is part of the URI.
fn split_size(item: &str) -> (&str, Option<u64>) {
    let Some((uri, size)) = item.rsplit_once('!') else { return (item, None) };
    let (digits, shift) = match size.as_bytes().last() {
        Some(b'k' | b'K') => (&size[..size.len() - 1], 10),
        Some(b'm' | b'M') => (&size[..size.len() - 1], 20),
        Some(b'g' | b'G') => (&size[..size.len() - 1], 30),
        Some(b't' | b'T') => (&size[..size.len() - 1], 40),
        _ => (size, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (item, None);
    }
    // Too large to count in bytes: as good as unlimited.
    let bytes = digits.parse::<u64>().ok().and_then(|n| n.checked_mul(1u64 << shift)).unwrap_or(u64::MAX);
    (uri, Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> DmarcRecord {
        DmarcRecord::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 7489 §B.2.
        let r = parse("v=DMARC1; p=none; rua=mailto:dmarc-feedback@example.com");
        assert_eq!(r.policy, Some(Disposition::None));
        assert_eq!(r.rua[0].uri, ReportUri::Mailto("dmarc-feedback@example.com".into()));
        let r = parse(
            "v=DMARC1; p=quarantine; rua=mailto:dmarc-feedback@example.com,mailto:tld-test@thirdparty.example.net!10m; pct=25",
        );
        assert_eq!((r.policy, r.pct), (Some(Disposition::Quarantine), 25));
        assert_eq!(r.rua[1].max_size, Some(10 << 20));
        let problems: Vec<Problem> = r.findings().iter().map(|f| f.problem).collect();
        assert_eq!(problems, [Problem::DmarcPartialPct]);
        let r = parse(
            "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=s; fo=1:d; ri=3600; rf=afrf; ruf=mailto:f@example.com!500k",
        );
        assert_eq!(r.subdomain_policy, Some(Disposition::Quarantine));
        assert_eq!((r.adkim, r.aspf, r.ri), (Alignment::Strict, Alignment::Strict, 3600));
        assert_eq!(r.fo, [FailureOption::AnyFail, FailureOption::Dkim]);
        assert_eq!(r.ruf[0].max_size, Some(500 << 10));
        assert!(r.findings().is_empty());
    }

    #[test]
    fn receivers_leniency_is_kept() {
        // Spaces around '=', tags in any order, upper case values, unknown tags.
        let r = parse("v = DMARC1 ; rua=mailto:a@example.com; P=REJECT; np=reject; psd=n; future=1");
        assert_eq!((r.policy, r.nonexistent_policy), (Some(Disposition::Reject), Some(Disposition::Reject)));
        assert_eq!(r.extensions, [("psd".to_owned(), "n".to_owned()), ("future".to_owned(), "1".to_owned())]);
        // Invalid values: defaults, noted.
        let r = parse("v=DMARC1; p=reject; pct=150; adkim=x; rua=mailto:ok@example.com,nope");
        assert_eq!((r.pct, r.adkim, r.rua.len()), (100, Alignment::Relaxed, 1));
        let problems: Vec<Problem> = r.findings().iter().map(|f| f.problem).collect();
        assert_eq!(problems, [Problem::DmarcTagIgnored; 3]);
        // No valid p but a valid rua: p=none (RFC 7489 §6.6.3).
        let r = parse("v=DMARC1; p=block; rua=mailto:a@example.com");
        assert_eq!((r.policy, r.effective_policy()), (None, Disposition::None));
        assert_eq!(r.findings()[0].problem, Problem::DmarcPolicyMissing);
        let r = parse("v=DMARC1; rua=mailto:a@example.com");
        assert_eq!(r.findings()[0].problem, Problem::DmarcPolicyMissing);
    }

    #[test]
    fn records_without_a_policy_are_errors() {
        assert_eq!(DmarcRecord::parse(b"v=DMARC1; p=block"), Err(DmarcError::NoPolicy));
        assert_eq!(DmarcRecord::parse(b"v=DMARC1"), Err(DmarcError::NoPolicy));
        assert_eq!(DmarcRecord::parse(b"v=DMARC2; p=none"), Err(DmarcError::NotDmarc1));
        assert_eq!(DmarcRecord::parse(b"v=dmarc1; p=none"), Err(DmarcError::NotDmarc1));
        assert_eq!(DmarcRecord::parse(b"v=DMARC1; p=none; p=reject"), Err(DmarcError::Duplicate("p".into())));
        assert!(matches!(DmarcRecord::parse(b"v=DMARC1; p"), Err(DmarcError::Malformed(_))));
        assert_eq!(DmarcRecord::parse(&[b'v'; 4096]), Err(DmarcError::TooLong));
    }

    #[test]
    fn rrsets_pick_one_record() {
        let rrset: [&[u8]; 2] = [b"v=DMARC1; p=reject", b"something else"];
        assert!(DmarcRecord::from_rrset(&rrset).unwrap().is_some());
        let two: [&[u8]; 2] = [b"v=DMARC1; p=reject", b"v=DMARC1;p=none"];
        assert_eq!(DmarcRecord::from_rrset(&two), Err(DmarcError::Multiple(2)));
        assert_eq!(DmarcError::Multiple(2).finding().problem, Problem::DmarcMultiple);
        assert_eq!(DmarcRecord::from_rrset::<&[u8]>(&[b"v=DMARC10"]), Ok(None));
        assert_eq!(DmarcRecord::missing("mail.test").problem, Problem::DmarcMissing);
    }

    #[test]
    fn size_suffixes() {
        assert_eq!(split_size("mailto:a@b!1t"), ("mailto:a@b", Some(1 << 40)));
        assert_eq!(split_size("mailto:a@b!20"), ("mailto:a@b", Some(20)));
        assert_eq!(split_size("mailto:a!b@c"), ("mailto:a!b@c", None));
        assert_eq!(split_size("mailto:a@b!99999999999999999999g"), ("mailto:a@b", Some(u64::MAX)));
    }
}
