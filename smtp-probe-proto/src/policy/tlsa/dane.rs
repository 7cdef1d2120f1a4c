//! DANE matching of a presented certificate chain against a TLSA set (RFC 7672 §3), with x509-parser for the
//! SubjectPublicKeyInfo, ring for the digests, and rustls' WebPKI verifier for DANE-TA chains and names.

use core::time::Duration;

use rustls::RootCertStore;
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{Matching, Selector, TlsaSet, Unusable, Usage};

/// The most chain certificates looked at (servers send a handful).
const MAX_CHAIN: usize = 16;

/// The certificate association data of `cert_der` for a selector and matching type: the whole certificate or
/// its SubjectPublicKeyInfo, as is or hashed. `None` when the certificate does not parse or a parameter is
/// unknown.
pub fn association(cert_der: &[u8], selector: Selector, matching: Matching) -> Option<Vec<u8>> {
    let parsed;
    let selected: &[u8] = match selector {
        Selector::Cert => cert_der,
        Selector::Spki => {
            parsed = X509Certificate::from_der(cert_der).ok()?.1;
            parsed.public_key().raw
        }
        Selector::Other(_) => return None,
    };
    let out = match matching {
        Matching::Full => selected.to_vec(),
        Matching::Sha256 => ring::digest::digest(&ring::digest::SHA256, selected).as_ref().to_vec(),
        Matching::Sha512 => ring::digest::digest(&ring::digest::SHA512, selected).as_ref().to_vec(),
        Matching::Other(_) => return None,
    };
    Some(out)
}

/// What one record made of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum RecordOutcome {
    /// The record authenticates the server through this chain certificate (0 is the leaf).
    Authenticated {
        /// Index in the presented chain.
        certificate: usize,
    },
    /// No presented certificate has this record's association data.
    NoMatch,
    /// DANE-TA: a chain certificate matches, but the leaf does not chain to it (signature, dates, key usage), or
    /// the match is the leaf itself.
    ChainInvalid {
        /// Index of the matching certificate.
        certificate: usize,
        /// What the verifier said.
        reason: String,
    },
    /// DANE-TA: the chain is good, but the leaf is valid for none of the reference names.
    NameMismatch {
        /// Index of the matching certificate.
        certificate: usize,
    },
    /// Not used by SMTP senders.
    Unusable(Unusable),
}

/// Which record authenticated the server, and through which certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DaneMatch {
    /// Index in [`TlsaSet::records`].
    pub record: usize,
    /// Index in the presented chain (0 is the leaf).
    pub certificate: usize,
    /// The record's usage.
    pub usage: Usage,
}

/// The result of [`TlsaSet::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct DaneVerification {
    /// The first record that authenticated the server, if any.
    pub matched: Option<DaneMatch>,
    /// Every record's outcome, in the order of [`TlsaSet::records`].
    pub outcomes: Vec<RecordOutcome>,
}

impl DaneVerification {
    /// Whether a usable record authenticated the server.
    pub fn authenticated(&self) -> bool {
        self.matched.is_some()
    }
}

impl TlsaSet {
    /// Matches the chain a server presented (DER, leaf first) against every record, as an SMTP sender does
    /// (RFC 7672 §3.1):
    ///
    /// - DANE-EE(3): the leaf's association data must equal the record's. Nothing else is checked: not the
    ///   name, not the dates, not the issuer.
    /// - DANE-TA(2): an issuer certificate in the chain (index 1 or more) must match; the leaf must chain to it
    ///   (signatures, validity at `now_unix`, CA constraints, server-auth key usage, checked by rustls' WebPKI
    ///   verifier with that certificate as the only trust anchor) and be valid for one of `names` (subject
    ///   alternative names, leftmost-label wildcards; RFC 7672 §3.2.2 names the MX host and, after CNAMEs,
    ///   its final name). A record that gives only the anchor's public key (`2 1 0`) works when the anchor
    ///   certificate is in the chain; a key that appears in no presented certificate does not match.
    pub fn verify<C: AsRef<[u8]>>(&self, chain: &[C], names: &[&str], now_unix: u64) -> DaneVerification {
        let chain: Vec<&[u8]> = chain.iter().take(MAX_CHAIN).map(AsRef::as_ref).collect();
        let outcomes: Vec<RecordOutcome> = self
            .records()
            .iter()
            .map(|record| {
                if let Err(why) = record.usability() {
                    return RecordOutcome::Unusable(why);
                }
                let matches = |der: &[u8]| {
                    association(der, record.selector(), record.matching()).is_some_and(|a| a == record.data())
                };
                match record.usage() {
                    Usage::DaneEe => match chain.first().filter(|der| matches(der)) {
                        Some(_) => RecordOutcome::Authenticated { certificate: 0 },
                        None => RecordOutcome::NoMatch,
                    },
                    _ => {
                        let mut outcome = RecordOutcome::NoMatch;
                        for (index, _) in chain.iter().enumerate().filter(|(_, der)| matches(der)) {
                            outcome = chain_to(&chain, index, names, now_unix);
                            if matches!(outcome, RecordOutcome::Authenticated { .. }) {
                                break;
                            }
                        }
                        outcome
                    }
                }
            })
            .collect();
        let matched = outcomes.iter().enumerate().find_map(|(record, outcome)| match outcome {
            RecordOutcome::Authenticated { certificate } => {
                Some(DaneMatch { record, certificate: *certificate, usage: self.records()[record].usage() })
            }
            _ => None,
        });
        DaneVerification { matched, outcomes }
    }
}

/// DANE-TA: whether the leaf chains to `chain[anchor]` and carries one of `names`.
fn chain_to(chain: &[&[u8]], anchor: usize, names: &[&str], now_unix: u64) -> RecordOutcome {
    let invalid = |reason: String| RecordOutcome::ChainInvalid { certificate: anchor, reason };
    if anchor == 0 {
        return invalid("the DANE-TA record matches the leaf certificate itself, not an issuer".into());
    }
    let leaf = CertificateDer::from(chain[0]);
    let parsed = match ParsedCertificate::try_from(&leaf) {
        Ok(parsed) => parsed,
        Err(e) => return invalid(format!("leaf certificate: {e}")),
    };
    let mut roots = RootCertStore::empty();
    if let Err(e) = roots.add(CertificateDer::from(chain[anchor])) {
        return invalid(format!("trust anchor: {e}"));
    }
    let intermediates: Vec<CertificateDer<'_>> =
        chain[1..anchor].iter().map(|der| CertificateDer::from(*der)).collect();
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms.all;
    let now = UnixTime::since_unix_epoch(Duration::from_secs(now_unix));
    if let Err(e) = verify_server_cert_signed_by_trust_anchor(&parsed, &roots, &intermediates, now, algorithms) {
        return invalid(e.to_string());
    }
    let name_ok = names.iter().any(|name| {
        ServerName::try_from(name.trim_end_matches('.').to_owned())
            .is_ok_and(|server_name| verify_server_name(&parsed, &server_name).is_ok())
    });
    if name_ok {
        RecordOutcome::Authenticated { certificate: anchor }
    } else {
        RecordOutcome::NameMismatch { certificate: anchor }
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

    use super::*;
    use crate::policy::tlsa::Tlsa;

    /// 2026-06-01: inside every validity period below.
    const NOW: u64 = 1_780_272_000;

    struct Pki {
        ca: rcgen::Certificate,
        ca_key: KeyPair,
        leaf: rcgen::Certificate,
        leaf_key: KeyPair,
    }

    fn pki(names: &[&str], leaf_not_after: (i32, u8, u8)) -> Pki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "DANE test CA");
        ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2030, 1, 1);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2025, 6, 1);
        params.not_after = rcgen::date_time_ymd(leaf_not_after.0, leaf_not_after.1, leaf_not_after.2);
        let issuer = Issuer::from_params(&ca_params, &ca_key);
        let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
        Pki { ca, ca_key, leaf, leaf_key }
    }

    fn record(usage: u8, selector: u8, matching: u8, der: &[u8]) -> Tlsa {
        let data = association(der, selector.into(), matching.into()).unwrap();
        Tlsa::new(usage, selector, matching, data).unwrap()
    }

    #[test]
    fn associations_hash_the_certificate_or_its_key() {
        let p = pki(&["mx1.mail.test"], (2027, 1, 1));
        let der = p.leaf.der();
        assert_eq!(association(der, Selector::Cert, Matching::Full).unwrap(), der.to_vec());
        let spki = association(der, Selector::Spki, Matching::Full).unwrap();
        assert_eq!(spki, rcgen::PublicKeyData::subject_public_key_info(&p.leaf_key));
        let sha256 = association(der, Selector::Spki, Matching::Sha256).unwrap();
        assert_eq!(sha256, ring::digest::digest(&ring::digest::SHA256, &spki).as_ref());
        assert_eq!(association(der, Selector::Cert, Matching::Sha512).unwrap().len(), 64);
        assert_eq!(association(b"not a certificate", Selector::Spki, Matching::Sha256), None);
        assert_eq!(association(der, Selector::Other(7), Matching::Sha256), None);
    }

    #[test]
    fn dane_ee_matches_the_leaf_only_and_checks_nothing_else() {
        // Expired, wrong name, untrusted issuer: DANE-EE does not care (RFC 7672 §3.1.1).
        let p = pki(&["elsewhere.test"], (2025, 12, 31));
        let chain = [p.leaf.der().to_vec(), p.ca.der().to_vec()];
        for (s, m) in [(1, 1), (0, 1), (1, 2), (0, 0), (1, 0)] {
            let set = TlsaSet::new(vec![record(3, s, m, p.leaf.der())]);
            let v = set.verify(&chain, &["mx1.mail.test"], NOW);
            assert_eq!(v.matched, Some(DaneMatch { record: 0, certificate: 0, usage: Usage::DaneEe }), "3 {s} {m}");
        }
        // A DANE-EE record for the CA certificate does not match: only the leaf counts.
        let set = TlsaSet::new(vec![record(3, 1, 1, p.ca.der())]);
        assert_eq!(set.verify(&chain, &["mx1.mail.test"], NOW).outcomes, [RecordOutcome::NoMatch]);
    }

    #[test]
    fn a_rolled_key_no_longer_matches() {
        let old = pki(&["mx1.mail.test"], (2027, 1, 1));
        let new = pki(&["mx1.mail.test"], (2027, 1, 1));
        let set = TlsaSet::new(vec![record(3, 1, 1, old.leaf.der())]);
        let v = set.verify(&[new.leaf.der()], &["mx1.mail.test"], NOW);
        assert!(!v.authenticated());
        assert_eq!(v.outcomes, [RecordOutcome::NoMatch]);
        // Publishing both during a rollover: the second record matches.
        let both = TlsaSet::new(vec![record(3, 1, 1, old.leaf.der()), record(3, 1, 1, new.leaf.der())]);
        assert_eq!(both.verify(&[new.leaf.der()], &[], NOW).matched.map(|m| m.record), Some(1));
    }

    #[test]
    fn dane_ta_needs_the_chain_the_dates_and_the_name() {
        let p = pki(&["mx1.mail.test"], (2027, 1, 1));
        let chain = [p.leaf.der().to_vec(), p.ca.der().to_vec()];
        let set = TlsaSet::new(vec![record(2, 1, 1, p.ca.der()), record(2, 0, 1, p.ca.der())]);
        let v = set.verify(&chain, &["mx1.mail.test."], NOW);
        assert_eq!(v.matched, Some(DaneMatch { record: 0, certificate: 1, usage: Usage::DaneTa }));
        assert_eq!(v.outcomes[1], RecordOutcome::Authenticated { certificate: 1 });
        // Wildcard-free name check against the MX host.
        let v = set.verify(&chain, &["mx2.mail.test", "mail.test"], NOW);
        assert_eq!(v.outcomes[0], RecordOutcome::NameMismatch { certificate: 1 });
        // The leaf has expired by then.
        let late = 1_830_000_000; // 2027-12
        assert!(matches!(
            set.verify(&chain, &["mx1.mail.test"], late).outcomes[0],
            RecordOutcome::ChainInvalid { certificate: 1, .. }
        ));
        // The anchor must be presented: a chain of the leaf alone does not match a DANE-TA record.
        assert_eq!(set.verify(&chain[..1], &["mx1.mail.test"], NOW).outcomes[0], RecordOutcome::NoMatch);
        // A DANE-TA record for the leaf itself names no issuer.
        let self_ta = TlsaSet::new(vec![record(2, 1, 1, p.leaf.der())]);
        assert!(matches!(
            self_ta.verify(&chain, &["mx1.mail.test"], NOW).outcomes[0],
            RecordOutcome::ChainInvalid { certificate: 0, .. }
        ));
        // A leaf from another CA presented with this CA: the signature does not verify.
        let other = pki(&["mx1.mail.test"], (2027, 1, 1));
        let forged = [other.leaf.der().to_vec(), p.ca.der().to_vec()];
        assert!(matches!(set.verify(&forged, &["mx1.mail.test"], NOW).outcomes[0], RecordOutcome::ChainInvalid { .. }));
        let _ = (&p.ca_key, &other.ca_key);
    }

    #[test]
    fn wildcard_names_match_one_label() {
        let p = pki(&["*.mail.test"], (2027, 1, 1));
        let chain = [p.leaf.der().to_vec(), p.ca.der().to_vec()];
        let set = TlsaSet::new(vec![record(2, 1, 1, p.ca.der())]);
        assert!(set.verify(&chain, &["mx1.mail.test"], NOW).authenticated());
        assert!(!set.verify(&chain, &["a.mx1.mail.test"], NOW).authenticated());
    }

    #[test]
    fn unusable_records_and_garbage_chains_never_authenticate() {
        let p = pki(&["mx1.mail.test"], (2027, 1, 1));
        let pkix = record(1, 1, 1, p.leaf.der());
        let set = TlsaSet::new(vec![pkix]);
        let v = set.verify(&[p.leaf.der()], &["mx1.mail.test"], NOW);
        assert_eq!(v.outcomes, [RecordOutcome::Unusable(Unusable::PkixUsage(1))]);
        assert!(!v.authenticated());
        let good = TlsaSet::new(vec![record(3, 1, 1, p.leaf.der()), record(2, 0, 1, p.ca.der())]);
        let garbage: [&[u8]; 3] = [b"", b"\x30\x03\x02\x01\x00", &[0xff; 300]];
        let v = good.verify(&garbage, &["mx1.mail.test"], NOW);
        assert_eq!(v.outcomes, [RecordOutcome::NoMatch, RecordOutcome::NoMatch]);
        let none: [&[u8]; 0] = [];
        assert!(!good.verify(&none, &[], NOW).authenticated());
    }
}
