//! SMTP TLS Reporting (RFC 8460): the `_smtp._tls.<domain>` TXT record that tells senders where to report
//! TLS failures (MTA-STS and DANE alike).
//!
//! ```
//! use smtp_probe_proto::policy::tlsrpt::TlsRptRecord;
//! use smtp_probe_proto::policy::ReportUri;
//!
//! let rrset: [&[u8]; 1] = [b"v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://r.example.com/v1"];
//! let record = TlsRptRecord::from_rrset(&rrset)?.expect("published");
//! assert_eq!(record.rua[0], ReportUri::Mailto("tlsrpt@example.com".into()));
//! assert_eq!(record.rua.len(), 2);
//! # Ok::<(), smtp_probe_proto::policy::tlsrpt::TlsRptError>(())
//! ```

use super::finding::{Problem, RecordFinding};
use super::text::{Selected, quote, select, tag_list, trim_wsp};
use super::uri::{ReportUri, UriError};

/// The longest record parsed.
pub const RECORD_MAX_BYTES: usize = 2048;
/// The most `rua` URIs accepted.
pub const MAX_URIS: usize = 32;
const MAX_FIELDS: usize = 32;

/// A TLS-RPT record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct TlsRptRecord {
    /// Where reports go, in order.
    pub rua: Vec<ReportUri>,
    /// Extension fields, in order (senders ignore them).
    pub extensions: Vec<(String, String)>,
}

/// Why a TLS-RPT record is not usable (senders then send no reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsRptError {
    /// Several records start with `v=TLSRPTv1`.
    #[error("{0} TXT records start with v=TLSRPTv1; there must be exactly one")]
    Multiple(usize),
    /// Does not start with `v=TLSRPTv1`.
    #[error("the record does not start with v=TLSRPTv1")]
    NotTlsRptV1,
    /// Longer than [`RECORD_MAX_BYTES`].
    #[error("the record is longer than {RECORD_MAX_BYTES} bytes")]
    TooLong,
    /// Not `field=value` pairs separated by `;`.
    #[error("the record is malformed: {0}")]
    Malformed(String),
    /// No `rua`, or more than one.
    #[error("the record needs exactly one rua field")]
    Rua,
    /// A `rua` URI that is not valid, or more than [`MAX_URIS`].
    #[error("rua: {0}")]
    BadUri(#[from] UriError),
    /// More than [`MAX_URIS`] URIs.
    #[error("rua lists more than {MAX_URIS} URIs")]
    TooManyUris,
    /// An extension field with a bad name or value.
    #[error("the field \"{0}\" is not valid")]
    BadField(String),
}

impl TlsRptError {
    /// The record finding this error stands for.
    pub fn finding(&self) -> RecordFinding {
        let problem = match self {
            TlsRptError::Multiple(_) => Problem::TlsRptMultiple,
            _ => Problem::TlsRptInvalid,
        };
        RecordFinding::new(problem, self.to_string())
    }
}

impl TlsRptRecord {
    /// The record of a TXT RRset: `Ok(None)` when no record starts with `v=TLSRPTv1` (then
    /// [`TlsRptRecord::missing`] is the finding to report), an error when several do or the one is invalid.
    pub fn from_rrset<R: AsRef<[u8]>>(records: &[R]) -> Result<Option<TlsRptRecord>, TlsRptError> {
        match select(records, b"v=TLSRPTv1", b"; \t") {
            Selected::None => Ok(None),
            Selected::One(record) => TlsRptRecord::parse(record).map(Some),
            Selected::Several(n) => Err(TlsRptError::Multiple(n)),
        }
    }

    /// The finding for a domain without a record.
    pub fn missing(domain: &str) -> RecordFinding {
        RecordFinding::new(Problem::TlsRptMissing, format!("no v=TLSRPTv1 record at _smtp._tls.{domain}"))
    }

    /// Parses one record: `v=TLSRPTv1; rua=uri[,uri…]` and extensions, no spaces around `=`.
    pub fn parse(record: &[u8]) -> Result<TlsRptRecord, TlsRptError> {
        if record.len() > RECORD_MAX_BYTES {
            return Err(TlsRptError::TooLong);
        }
        let text = core::str::from_utf8(record)
            .ok()
            .filter(|t| t.bytes().all(|b| (0x20..=0x7e).contains(&b) || b == b'\t'))
            .ok_or_else(|| TlsRptError::Malformed(quote(record)))?;
        let tags = tag_list(text, MAX_FIELDS).map_err(|e| TlsRptError::Malformed(e.to_string()))?;
        let (first, rest) = tags.split_first().ok_or(TlsRptError::NotTlsRptV1)?;
        if first.name != "v" || first.value != "TLSRPTv1" || first.spaced {
            return Err(TlsRptError::NotTlsRptV1);
        }
        let mut rua = None;
        let mut extensions = Vec::new();
        for tag in rest {
            if tag.spaced {
                return Err(TlsRptError::BadField(quote(tag.name.as_bytes())));
            }
            if tag.name == "rua" {
                if rua.is_some() {
                    return Err(TlsRptError::Rua);
                }
                let uris: Vec<&str> = tag.value.split(',').map(trim_wsp).collect();
                if uris.len() > MAX_URIS {
                    return Err(TlsRptError::TooManyUris);
                }
                rua = Some(uris.into_iter().map(ReportUri::parse).collect::<Result<Vec<_>, _>>()?);
            } else {
                let name_ok = tag.name.len() <= 32
                    && tag.name.as_bytes()[0].is_ascii_alphanumeric()
                    && tag.name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
                let value_ok = !tag.value.is_empty() && tag.value.bytes().all(|b| b > 0x20 && b != b'=');
                if !name_ok || !value_ok {
                    return Err(TlsRptError::BadField(quote(tag.name.as_bytes())));
                }
                extensions.push((tag.name.to_owned(), tag.value.to_owned()));
            }
        }
        Ok(TlsRptRecord { rua: rua.ok_or(TlsRptError::Rua)?, extensions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 8460 §3.1.
        let mail = TlsRptRecord::parse(b"v=TLSRPTv1;rua=mailto:reports@example.com").unwrap();
        assert_eq!(mail.rua, [ReportUri::Mailto("reports@example.com".into())]);
        let web = TlsRptRecord::parse(b"v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt").unwrap();
        assert!(matches!(web.rua[0], ReportUri::Https(_)));
        let both = TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x;").unwrap();
        assert_eq!(both.rua.len(), 2);
    }

    #[test]
    fn bad_records_say_why() {
        assert_eq!(TlsRptRecord::parse(b"v=TLSRPTv1"), Err(TlsRptError::Rua));
        assert_eq!(
            TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example"),
            Err(TlsRptError::Rua)
        );
        assert_eq!(
            TlsRptRecord::parse(b"v=TLSRPTv1; rua = mailto:a@b.example"),
            Err(TlsRptError::BadField("rua".into()))
        );
        assert_eq!(TlsRptRecord::parse(b"v=TLSRPTv2; rua=mailto:a@b.example"), Err(TlsRptError::NotTlsRptV1));
        assert!(matches!(TlsRptRecord::parse(b"v=TLSRPTv1; rua=reports@example.com"), Err(TlsRptError::BadUri(_))));
        assert!(matches!(TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@b.example,"), Err(TlsRptError::BadUri(_))));
        let many = format!("v=TLSRPTv1; rua={}", vec!["mailto:a@b.example"; 33].join(","));
        assert_eq!(TlsRptRecord::parse(many.as_bytes()), Err(TlsRptError::TooManyUris));
        assert_eq!(TlsRptRecord::parse(&[b' '; 3000]), Err(TlsRptError::TooLong));
    }

    #[test]
    fn rrsets_pick_one_record() {
        let rrset: [&[u8]; 2] = [b"v=spf1 -all", b"v=TLSRPTv1; rua=mailto:a@b.example"];
        assert!(TlsRptRecord::from_rrset(&rrset).unwrap().is_some());
        let two: [&[u8]; 2] = [b"v=TLSRPTv1; rua=mailto:a@b.example", b"v=TLSRPTv1;rua=mailto:c@d.example"];
        assert_eq!(TlsRptRecord::from_rrset(&two).unwrap_err().finding().problem, Problem::TlsRptMultiple);
        assert_eq!(TlsRptRecord::from_rrset::<&[u8]>(&[]), Ok(None));
        assert_eq!(TlsRptRecord::missing("mail.test").problem, Problem::TlsRptMissing);
    }
}
