//! TLSA records and DANE for SMTP (RFC 6698, RFC 7671, RFC 7672): records from wire bytes or presentation
//! form, which ones SMTP senders use, and (feature `rustls`) whether a presented chain matches them.
//!
//! For SMTP only two usages count (RFC 7672 §3.1): **DANE-EE(3)**, matched against the leaf certificate alone,
//! with no name or date checks; and **DANE-TA(2)**, matched against a certificate of the chain the server
//! presented, from which the leaf must then chain (signatures and dates checked) and whose leaf must carry one
//! of the reference names (RFC 7672 §3.2). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3),
//! as are unknown selectors and matching types and digests of the wrong length. A TLSA RRset without a usable
//! record does not authenticate the server; senders then still require TLS (RFC 7672 §2.2), unauthenticated.
//!
//! ```
//! use smtp_probe_proto::policy::tlsa::{Tlsa, TlsaSet, Usage};
//!
//! let record = Tlsa::from_presentation(
//!     "3 1 1 0b2a1e7f4c1c8d53c1d0b0b8e4b7bd5a8a16d4c0b0e0f5e1a6c3d2b9e8f7a6b5",
//! )?;
//! assert_eq!(record.usage(), Usage::DaneEe);
//! assert_eq!(Tlsa::from_rdata(&record.to_rdata())?, record);
//! let set = TlsaSet::new(vec![record, Tlsa::from_presentation("1 0 1 00")?]);
//! assert_eq!(set.usable().count(), 1);
//! assert_eq!(set.findings().len(), 1); // PKIX-EE is unusable for SMTP
//! # Ok::<(), smtp_probe_proto::policy::tlsa::TlsaError>(())
//! ```

use core::fmt;

use super::finding::{Problem, RecordFinding};
use super::text::quote;

/// The longest association data accepted (a full certificate; real ones are far smaller).
pub const DATA_MAX_BYTES: usize = 16 * 1024;
/// The most records of an RRset considered.
pub const MAX_RECORDS: usize = 64;

/// Certificate usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Usage {
    /// 0, PKIX-TA: unusable for SMTP.
    PkixTa,
    /// 1, PKIX-EE: unusable for SMTP.
    PkixEe,
    /// 2, DANE-TA: a trust anchor of the chain.
    DaneTa,
    /// 3, DANE-EE: the server's own certificate or key.
    DaneEe,
    /// Anything else.
    Other(u8),
}

impl From<u8> for Usage {
    fn from(value: u8) -> Usage {
        match value {
            0 => Usage::PkixTa,
            1 => Usage::PkixEe,
            2 => Usage::DaneTa,
            3 => Usage::DaneEe,
            other => Usage::Other(other),
        }
    }
}

/// Which part of a certificate is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Selector {
    /// 0: the whole certificate (DER).
    Cert,
    /// 1: the SubjectPublicKeyInfo (DER).
    Spki,
    /// Anything else.
    Other(u8),
}

impl From<u8> for Selector {
    fn from(value: u8) -> Selector {
        match value {
            0 => Selector::Cert,
            1 => Selector::Spki,
            other => Selector::Other(other),
        }
    }
}

/// How the selected data is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Matching {
    /// 0: exact bytes.
    Full,
    /// 1: SHA-256.
    Sha256,
    /// 2: SHA-512.
    Sha512,
    /// Anything else.
    Other(u8),
}

impl From<u8> for Matching {
    fn from(value: u8) -> Matching {
        match value {
            0 => Matching::Full,
            1 => Matching::Sha256,
            2 => Matching::Sha512,
            other => Matching::Other(other),
        }
    }
}

/// One TLSA record.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Tlsa {
    usage: u8,
    selector: u8,
    matching: u8,
    data: Vec<u8>,
}

/// Why TLSA data does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsaError {
    /// Fewer than four bytes of rdata (three parameters and at least one byte of data).
    #[error("TLSA rdata of {0} bytes is too short")]
    TooShort(usize),
    /// More association data than [`DATA_MAX_BYTES`].
    #[error("TLSA association data longer than {DATA_MAX_BYTES} bytes")]
    TooLong,
    /// Presentation form that is not `usage selector matching hex`.
    #[error("not \"usage selector matching hex\": \"{0}\"")]
    Presentation(String),
}

/// Why a record is unusable for SMTP (RFC 7672 §3.1.3 and RFC 6698 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Unusable {
    /// PKIX-TA(0) or PKIX-EE(1).
    PkixUsage(u8),
    /// A usage above 3.
    UnknownUsage(u8),
    /// A selector other than 0 and 1.
    UnknownSelector(u8),
    /// A matching type other than 0, 1, 2.
    UnknownMatching(u8),
    /// A SHA-256 or SHA-512 digest of the wrong length.
    DigestLength {
        /// What the matching type needs.
        expected: usize,
        /// What the record has.
        found: usize,
    },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::PkixUsage(u) => write!(f, "usage {u} (PKIX) is not used by SMTP senders"),
            Unusable::UnknownUsage(u) => write!(f, "unknown usage {u}"),
            Unusable::UnknownSelector(s) => write!(f, "unknown selector {s}"),
            Unusable::UnknownMatching(m) => write!(f, "unknown matching type {m}"),
            Unusable::DigestLength { expected, found } => {
                write!(f, "digest of {found} bytes where the matching type needs {expected}")
            }
        }
    }
}

impl Tlsa {
    /// A record from its parts.
    pub fn new(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Result<Tlsa, TlsaError> {
        if data.is_empty() {
            return Err(TlsaError::TooShort(3));
        }
        if data.len() > DATA_MAX_BYTES {
            return Err(TlsaError::TooLong);
        }
        Ok(Tlsa { usage, selector, matching, data })
    }

    /// From the rdata on the wire (RFC 6698 §2.1): usage, selector, matching type, then the data.
    pub fn from_rdata(rdata: &[u8]) -> Result<Tlsa, TlsaError> {
        match rdata {
            [usage, selector, matching, data @ ..] if !data.is_empty() => {
                Tlsa::new(*usage, *selector, *matching, data.to_vec())
            }
            _ => Err(TlsaError::TooShort(rdata.len())),
        }
    }

    /// From presentation form (RFC 6698 §2.2): `3 1 1 ab12…`, the hex possibly split by spaces.
    pub fn from_presentation(text: &str) -> Result<Tlsa, TlsaError> {
        let bad = || TlsaError::Presentation(quote(text.as_bytes()));
        if text.len() > 2 * DATA_MAX_BYTES + 64 {
            return Err(TlsaError::TooLong);
        }
        let mut words = text.split_ascii_whitespace();
        let mut number = || words.next().and_then(|w| w.parse::<u8>().ok()).ok_or_else(bad);
        let (usage, selector, matching) = (number()?, number()?, number()?);
        let hex: String = words.collect();
        if hex.is_empty() || hex.len() % 2 != 0 {
            return Err(bad());
        }
        let data = hex
            .as_bytes()
            .chunks(2)
            .map(|pair| core::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok()))
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(bad)?;
        Tlsa::new(usage, selector, matching, data)
    }

    /// The rdata on the wire.
    pub fn to_rdata(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(3 + self.data.len());
        out.extend_from_slice(&[self.usage, self.selector, self.matching]);
        out.extend_from_slice(&self.data);
        out
    }

    /// The usage.
    pub fn usage(&self) -> Usage {
        self.usage.into()
    }

    /// The selector.
    pub fn selector(&self) -> Selector {
        self.selector.into()
    }

    /// The matching type.
    pub fn matching(&self) -> Matching {
        self.matching.into()
    }

    /// The certificate association data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether SMTP senders use this record, and why not.
    pub fn usability(&self) -> Result<(), Unusable> {
        match self.usage() {
            Usage::PkixTa | Usage::PkixEe => return Err(Unusable::PkixUsage(self.usage)),
            Usage::Other(u) => return Err(Unusable::UnknownUsage(u)),
            Usage::DaneTa | Usage::DaneEe => {}
        }
        if let Selector::Other(s) = self.selector() {
            return Err(Unusable::UnknownSelector(s));
        }
        let expected = match self.matching() {
            Matching::Full => None,
            Matching::Sha256 => Some(32),
            Matching::Sha512 => Some(64),
            Matching::Other(m) => return Err(Unusable::UnknownMatching(m)),
        };
        match expected {
            Some(expected) if expected != self.data.len() => {
                Err(Unusable::DigestLength { expected, found: self.data.len() })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {} ", self.usage, self.selector, self.matching)?;
        self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Tlsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tlsa({self})")
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Tlsa {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A TLSA RRset (secure, from a validated lookup), split into the records SMTP senders use and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsaSet {
    records: Vec<Tlsa>,
}

impl TlsaSet {
    /// The set of these records (only the first [`MAX_RECORDS`] are kept; duplicates are dropped).
    pub fn new(records: Vec<Tlsa>) -> TlsaSet {
        let mut kept: Vec<Tlsa> = Vec::with_capacity(records.len().min(MAX_RECORDS));
        for record in records {
            if kept.len() == MAX_RECORDS {
                break;
            }
            if !kept.contains(&record) {
                kept.push(record);
            }
        }
        TlsaSet { records: kept }
    }

    /// Every record, in order.
    pub fn records(&self) -> &[Tlsa] {
        &self.records
    }

    /// The usable records with their index in [`TlsaSet::records`].
    pub fn usable(&self) -> impl Iterator<Item = (usize, &Tlsa)> {
        self.records.iter().enumerate().filter(|(_, r)| r.usability().is_ok())
    }

    /// Whether DANE authenticates the server: the set has a usable record. Without one, senders still require
    /// TLS but accept any certificate (RFC 7672 §2.2); with no records at all DANE does not apply.
    pub fn authenticates(&self) -> bool {
        self.usable().next().is_some()
    }

    /// A finding for each unusable record, and one for a set with none usable.
    pub fn findings(&self) -> Vec<RecordFinding> {
        let mut findings: Vec<RecordFinding> = self
            .records
            .iter()
            .filter_map(|r| r.usability().err().map(|why| (r, why)))
            .map(|(r, why)| RecordFinding::new(Problem::TlsaUnusable, format!("{}: {why}", short(r))))
            .collect();
        if !self.records.is_empty() && !self.authenticates() {
            findings.push(RecordFinding::new(
                Problem::TlsaNoUsable,
                format!("none of the {} TLSA records is usable for SMTP", self.records.len()),
            ));
        }
        findings
    }
}

/// `3 1 1 0b2a1e7f…` with the data cut after 8 bytes.
fn short(record: &Tlsa) -> String {
    let head = format!("{} {} {} ", record.usage, record.selector, record.matching);
    let hex: String = record.data.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let more = if record.data.len() > 8 { "…" } else { "" };
    format!("{head}{hex}{more}")
}

#[cfg(feature = "rustls")]
mod dane;
#[cfg(feature = "rustls")]
pub use dane::{DaneMatch, DaneVerification, RecordOutcome, association};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_presentation_forms_agree() {
        let text = "3 1 1 E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let record = Tlsa::from_presentation(text).unwrap();
        assert_eq!(
            (record.usage(), record.selector(), record.matching()),
            (Usage::DaneEe, Selector::Spki, Matching::Sha256)
        );
        assert_eq!(record.to_string(), text.to_ascii_lowercase());
        assert_eq!(Tlsa::from_rdata(&record.to_rdata()).unwrap(), record);
        let spaced =
            Tlsa::from_presentation("2 0 1 e3b0c44298fc1c149afbf4c8996fb924\n 27ae41e4649b934ca495991b7852b855")
                .unwrap();
        assert_eq!(spaced.data(), record.data());
        assert!(record.usability().is_ok() && spaced.usability().is_ok());
    }

    #[test]
    fn malformed_data_is_an_error() {
        assert_eq!(Tlsa::from_rdata(&[3, 1, 1]), Err(TlsaError::TooShort(3)));
        assert_eq!(Tlsa::from_rdata(&[]), Err(TlsaError::TooShort(0)));
        for bad in ["3 1 1", "3 1 1 abc", "3 1 1 zz", "3 1", "300 1 1 aa", "x 1 1 aa", ""] {
            assert!(matches!(Tlsa::from_presentation(bad), Err(TlsaError::Presentation(_))), "{bad}");
        }
        let mut huge = vec![3, 0, 0];
        huge.extend(vec![0; DATA_MAX_BYTES + 1]);
        assert_eq!(Tlsa::from_rdata(&huge), Err(TlsaError::TooLong));
    }

    #[test]
    fn smtp_uses_dane_usages_with_known_parameters_only() {
        let r = |u, s, m, len| Tlsa::new(u, s, m, vec![0xab; len]).unwrap().usability();
        assert_eq!(r(3, 1, 1, 32), Ok(()));
        assert_eq!(r(2, 0, 2, 64), Ok(()));
        assert_eq!(r(3, 1, 0, 91), Ok(()));
        assert_eq!(r(0, 0, 1, 32), Err(Unusable::PkixUsage(0)));
        assert_eq!(r(1, 1, 1, 32), Err(Unusable::PkixUsage(1)));
        assert_eq!(r(4, 1, 1, 32), Err(Unusable::UnknownUsage(4)));
        assert_eq!(r(3, 2, 1, 32), Err(Unusable::UnknownSelector(2)));
        assert_eq!(r(3, 1, 3, 32), Err(Unusable::UnknownMatching(3)));
        assert_eq!(r(3, 1, 1, 31), Err(Unusable::DigestLength { expected: 32, found: 31 }));
        assert_eq!(r(3, 1, 2, 32), Err(Unusable::DigestLength { expected: 64, found: 32 }));
    }

    #[test]
    fn sets_report_unusable_records() {
        let good = Tlsa::new(3, 1, 1, vec![1; 32]).unwrap();
        let pkix = Tlsa::new(1, 1, 1, vec![2; 32]).unwrap();
        let set = TlsaSet::new(vec![good.clone(), pkix.clone(), good.clone()]);
        assert_eq!(set.records().len(), 2);
        assert!(set.authenticates());
        let findings = set.findings();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].problem, Problem::TlsaUnusable);
        assert!(findings[0].message.starts_with("1 1 1 0202"), "{}", findings[0].message);
        let only_pkix = TlsaSet::new(vec![pkix]);
        assert!(!only_pkix.authenticates());
        let problems: Vec<Problem> = only_pkix.findings().iter().map(|f| f.problem).collect();
        assert_eq!(problems, [Problem::TlsaUnusable, Problem::TlsaNoUsable]);
        assert!(TlsaSet::new(Vec::new()).findings().is_empty());
        let many: Vec<Tlsa> = (0..100u8).map(|i| Tlsa::new(3, 1, 1, vec![i; 32]).unwrap()).collect();
        assert_eq!(TlsaSet::new(many).records().len(), MAX_RECORDS);
    }
}
