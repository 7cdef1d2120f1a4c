//! Target `tlsrpt`: SMTP TLS Reporting records and RRsets.

use super::{check_findings, split};
use crate::policy::ReportUri;
use crate::policy::tlsrpt::TlsRptRecord;

/// Target `tlsrpt`. Input: any bytes, read as a record and as an RRset (split at NUL).
///
/// Checks: no panic; a parsed record has 1–32 `rua` URIs, each of which re-parses identical from its text, and
/// re-parses identical from its rendering; an RRset gives a record only when exactly one record has the prefix.
pub fn check(data: &[u8]) {
    if let Ok(record) = TlsRptRecord::parse(data) {
        assert!(!record.rua.is_empty() && record.rua.len() <= 32);
        for uri in &record.rua {
            assert_eq!(ReportUri::parse(&uri.to_string()).as_ref(), Ok(uri));
        }
        let uris: Vec<String> = record.rua.iter().map(ToString::to_string).collect();
        let mut text = format!("v=TLSRPTv1; rua={}", uris.join(","));
        for (k, v) in &record.extensions {
            text.push_str(&format!("; {k}={v}"));
        }
        assert_eq!(TlsRptRecord::parse(text.as_bytes()).as_ref(), Ok(&record), "{text}");
    }
    let rrset = split(data, 0, 16);
    match TlsRptRecord::from_rrset(&rrset) {
        Ok(Some(_)) => {
            let prefixed = |r: &&&[u8]| {
                r.strip_prefix(b"v=TLSRPTv1").is_some_and(|rest| rest.first().is_none_or(|b| b"; \t".contains(b)))
            };
            assert_eq!(rrset.iter().filter(prefixed).count(), 1);
        }
        Ok(None) => {}
        Err(e) => check_findings(&[e.finding()]),
    }
}
