//! Target `tlsa`: TLSA records and DANE matching of a presented chain (feature `rustls`).

use super::check_findings;
use crate::policy::tlsa::{RecordOutcome, Tlsa, TlsaSet, Usage, association};

/// A decoded `tlsa` input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsaInput {
    /// Records as rdata.
    pub records: Vec<Vec<u8>>,
    /// The presented chain, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// Reference names.
    pub names: Vec<String>,
    /// Seconds since the epoch for DANE-TA date checks.
    pub now: u64,
}

/// `[records: n, (len, rdata)×n] [chain: n, (len lo, len hi, der)×n] [now: 4 bytes LE, in days] names (text,
/// comma-separated)`. Counts are taken modulo 8; lengths are cut at the end of the input.
pub fn decode_tlsa(data: &[u8]) -> TlsaInput {
    let mut rest = data;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        head.to_vec()
    };
    let mut input = TlsaInput::default();
    let count = take(1).first().copied().unwrap_or(0) % 8;
    for _ in 0..count {
        let len = take(1).first().copied().unwrap_or(0);
        input.records.push(take(usize::from(len)));
    }
    let count = take(1).first().copied().unwrap_or(0) % 8;
    for _ in 0..count {
        let len = take(2);
        let len = u16::from_le_bytes([len.first().copied().unwrap_or(0), len.get(1).copied().unwrap_or(0)]);
        input.chain.push(take(usize::from(len)));
    }
    let days = take(4);
    let mut day_bytes = [0u8; 4];
    day_bytes[..days.len()].copy_from_slice(&days);
    input.now = u64::from(u32::from_le_bytes(day_bytes) % 40_000) * 86_400;
    let names = String::from_utf8_lossy(&take(256)).into_owned();
    input.names = names.split(',').take(4).map(str::to_owned).collect();
    input
}

/// The inverse of [`decode_tlsa`], for seeds (records ≤ 255 bytes, at most 7 of each).
pub fn encode_tlsa(input: &TlsaInput) -> Vec<u8> {
    let mut out = vec![input.records.len() as u8];
    for r in &input.records {
        out.push(r.len() as u8);
        out.extend_from_slice(r);
    }
    out.push(input.chain.len() as u8);
    for c in &input.chain {
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&((input.now / 86_400) as u32).to_le_bytes());
    out.extend_from_slice(input.names.join(",").as_bytes());
    out
}

/// Target `tlsa`. Input: see [`decode_tlsa`]; the raw input is also read as rdata and as presentation text.
///
/// Checks: no panic; a parsed record gives back its rdata and re-parses from its presentation form; a set keeps
/// at most `MAX_RECORDS` distinct records and authenticates only with a usable one; verifying the chain gives one
/// outcome per record, unusable records are `Unusable`, a DANE-EE record authenticates exactly when the leaf's
/// association data equals its data, a DANE-TA record only through an issuer certificate (index ≥ 1) whose
/// association data equals its data, and `matched` is the first authenticated record.
pub fn check(data: &[u8]) -> Vec<RecordOutcome> {
    for record in
        [Tlsa::from_rdata(data), Tlsa::from_presentation(&String::from_utf8_lossy(data))].into_iter().flatten()
    {
        assert_eq!(Tlsa::from_rdata(&record.to_rdata()).as_ref(), Ok(&record));
        assert_eq!(Tlsa::from_presentation(&record.to_string()).as_ref(), Ok(&record));
    }
    let input = decode_tlsa(data);
    let records: Vec<Tlsa> = input.records.iter().filter_map(|r| Tlsa::from_rdata(r).ok()).collect();
    let set = TlsaSet::new(records);
    assert!(set.records().len() <= crate::policy::tlsa::MAX_RECORDS);
    assert_eq!(set.authenticates(), set.usable().count() > 0);
    check_findings(&set.findings());
    let names: Vec<&str> = input.names.iter().map(String::as_str).collect();
    let v = set.verify(&input.chain, &names, input.now);
    assert_eq!(v.outcomes.len(), set.records().len());
    for (record, outcome) in set.records().iter().zip(&v.outcomes) {
        let usable = record.usability().is_ok();
        assert_eq!(matches!(outcome, RecordOutcome::Unusable(_)), !usable, "{record}: {outcome:?}");
        let association_of =
            |i: usize| input.chain.get(i).and_then(|der| association(der, record.selector(), record.matching()));
        match (record.usage(), outcome) {
            (Usage::DaneEe, _) if usable => {
                let leaf_matches = association_of(0).is_some_and(|a| a == record.data());
                assert_eq!(matches!(outcome, RecordOutcome::Authenticated { certificate: 0 }), leaf_matches);
            }
            (Usage::DaneTa, RecordOutcome::Authenticated { certificate }) => {
                assert!(*certificate >= 1);
                assert_eq!(association_of(*certificate).as_deref(), Some(record.data()));
            }
            (_, RecordOutcome::Authenticated { .. }) => panic!("{record} authenticated: {outcome:?}"),
            _ => {}
        }
    }
    let first = v.outcomes.iter().position(|o| matches!(o, RecordOutcome::Authenticated { .. }));
    assert_eq!(v.matched.map(|m| m.record), first);
    assert_eq!(v.authenticated(), first.is_some());
    v.outcomes
}
