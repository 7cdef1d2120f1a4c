//! Target `dmarc`: DMARC records and RRsets.

use super::{check_findings, split};
use crate::policy::dmarc::DmarcRecord;

/// Target `dmarc`. Input: any bytes, read as a record and as an RRset (split at NUL).
///
/// Checks: no panic; a parsed record has `pct` ≤ 100, at most 32 URIs per list, a policy or a valid `rua`, and
/// consistent findings; an RRset gives a record only when one of its records parses alone.
pub fn check(data: &[u8]) {
    match DmarcRecord::parse(data) {
        Ok(record) => {
            assert!(record.pct <= 100);
            assert!(record.rua.len() <= 32 && record.ruf.len() <= 32);
            assert!(record.policy.is_some() || !record.rua.is_empty());
            check_findings(&record.findings());
        }
        Err(e) => check_findings(&[e.finding()]),
    }
    let rrset = split(data, 0, 16);
    match DmarcRecord::from_rrset(&rrset) {
        Ok(Some(record)) => assert!(rrset.iter().any(|r| DmarcRecord::parse(r).as_ref() == Ok(&record))),
        Ok(None) => assert!(rrset.iter().all(|r| DmarcRecord::parse(r).is_err())),
        Err(e) => check_findings(&[e.finding()]),
    }
}
