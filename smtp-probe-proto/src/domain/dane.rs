//! DANE as the probe's own [`TlsPolicy`]: the probe of an MX host with secure, usable TLSA records judges its
//! handshake by them (the assessment seam of the core), so the host's report says what DANE senders do — the
//! handshake goes on whatever the roots say, a matching chain stands in for them, and a chain that matches no record
//! is critical. MTA-STS is judged on the domain report instead (its policy comes over HTTPS, and waiting for it
//! before every probe would put the fetch on the check's critical path).

use super::{DnssecStatus, RecordLookup};
use crate::assess::{PolicyMode, PolicyOutcome, TlsPolicy};
use crate::policy::tlsa::{Tlsa, TlsaSet};
use crate::report::TlsInfo;
use crate::target::Target;

/// The TLSA records of one MX host, as the probe's [`TlsPolicy`]: the probe of a host with secure, usable TLSA
/// records judges its handshake by them, as DANE senders do — the handshake goes on whatever the roots say, a chain
/// that matches a record stands in for them, and one that matches none is critical (`enforce`: DANE has no testing
/// mode).
#[derive(Debug, Clone)]
pub struct DanePolicy {
    host: String,
    set: TlsaSet,
    now_unix: u64,
}

impl DanePolicy {
    /// The policy of `host` from its TLSA lookup, when DANE applies: the answer is DNSSEC-secure and has a record
    /// SMTP uses. `now_unix` is when DANE-TA chains are checked.
    pub fn for_host(host: &str, tlsa: &RecordLookup, now_unix: u64) -> Option<DanePolicy> {
        if tlsa.dnssec != DnssecStatus::Secure {
            return None;
        }
        let set = TlsaSet::new(tlsa.records().iter().filter_map(|t| Tlsa::from_presentation(t).ok()).collect());
        set.authenticates().then(|| DanePolicy { host: host.trim_end_matches('.').to_ascii_lowercase(), set, now_unix })
    }
}

impl TlsPolicy for DanePolicy {
    fn name(&self) -> &str {
        "DANE"
    }

    fn mode(&self) -> PolicyMode {
        PolicyMode::Enforce
    }

    fn check(&self, _target: &Target, tls: &TlsInfo) -> PolicyOutcome {
        match super::report::verify(&self.set, &tls.chain_der, &self.host, self.now_unix) {
            Ok(_) => PolicyOutcome::Satisfied,
            Err(outcomes) => PolicyOutcome::Failed {
                reason: format!(
                    "no TLSA record of {} matches the presented chain ({})",
                    self.host,
                    outcomes.join("; ")
                ),
            },
        }
    }
}
