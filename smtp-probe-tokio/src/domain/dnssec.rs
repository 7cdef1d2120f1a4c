//! DNSSEC-validating lookups: hickory-resolver validates every answer itself, from a trust anchor this tool is
//! configured with, whatever the upstream server says.
//!
//! **What is validated**: each answer's RRSIGs, up the chain of DS and DNSKEY records to the configured anchor
//! (by default the root key hickory ships; for private trees such as a test zone, that zone's DNSKEY), and the
//! NSEC/NSEC3 proofs of negative answers. **What is trusted**: only the anchor. The upstream's AD bit is never
//! read. An upstream that validates itself and refuses bogus data (SERVFAIL) hides the data from us: such a
//! lookup is `indeterminate` with the upstream's error, never "no record". To see `bogus` as such, point the
//! check at a non-validating recursive resolver or at the authoritative servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType as HickoryType};
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{ResolveError, TokioResolver};
use smtp_probe_proto::domain::{Answer, DnssecStatus, RecordLookup, RecordType};

/// Why a validating resolver could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolverError {
    /// The trust anchor text is not a DNSKEY record in presentation form.
    #[error("invalid trust anchor: {0}")]
    TrustAnchor(String),
    /// The system resolver configuration could not be read.
    #[error("the system resolver configuration is unusable: {0}")]
    System(String),
}

/// A resolver that validates DNSSEC itself (see the [module documentation](self)).
#[derive(Clone)]
pub struct DnssecResolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for DnssecResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnssecResolver").finish_non_exhaustive()
    }
}

impl DnssecResolver {
    /// Asks `upstreams` (UDP, then TCP for truncated answers), validating from the root anchor hickory ships.
    pub fn new(upstreams: &[SocketAddr]) -> DnssecResolver {
        DnssecResolver::build(upstreams, TrustAnchors::default(), Duration::from_secs(3))
    }

    /// Asks `upstreams`, validating from `anchor`: DNSKEY records in presentation form, one a line
    /// (`example. 300 IN DNSKEY 257 3 13 …`).
    pub fn with_anchor(upstreams: &[SocketAddr], anchor: &str) -> Result<DnssecResolver, ResolverError> {
        let anchors: TrustAnchors = anchor.parse().map_err(|e| ResolverError::TrustAnchor(format!("{e}")))?;
        Ok(DnssecResolver::build(upstreams, anchors, Duration::from_secs(3)))
    }

    /// The system's name servers (`/etc/resolv.conf`), validating from the root anchor hickory ships.
    pub fn system() -> Result<DnssecResolver, ResolverError> {
        let (config, _) =
            hickory_resolver::system_conf::read_system_conf().map_err(|e| ResolverError::System(e.to_string()))?;
        let servers: Vec<SocketAddr> = config.name_servers().iter().map(|ns| ns.socket_addr).collect();
        Ok(DnssecResolver::new(&servers))
    }

    fn build(upstreams: &[SocketAddr], anchors: TrustAnchors, timeout: Duration) -> DnssecResolver {
        let mut config = ResolverConfig::new();
        for &server in upstreams {
            config.add_name_server(NameServerConfig::new(server, Protocol::Udp));
            config.add_name_server(NameServerConfig::new(server, Protocol::Tcp));
        }
        let mut builder = TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
            .with_trust_anchor(Arc::new(anchors));
        let options = builder.options_mut();
        options.validate = true;
        options.use_hosts_file = ResolveHosts::Never;
        options.timeout = timeout;
        options.attempts = 1;
        DnssecResolver { inner: builder.build() }
    }

    /// The underlying hickory resolver (validating).
    pub fn hickory(&self) -> &TokioResolver {
        &self.inner
    }

    /// Looks `name` up, validated: the records in presentation form and their DNSSEC status.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> RecordLookup {
        let started = Instant::now();
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let wanted = hickory_type(rtype);
        let (status, answer) = match self.inner.lookup(fqdn, wanted).await {
            Ok(lookup) => {
                let records: Vec<_> = lookup.records().iter().filter(|r| r.record_type() == wanted).collect();
                let status = combine(records.iter().map(|r| r.proof()));
                let texts = records.iter().filter_map(|r| present(r.data())).collect::<Vec<_>>();
                if texts.is_empty() { (status, Answer::NoData) } else { (status, Answer::Records(texts)) }
            }
            Err(e) => negative(&e),
        };
        RecordLookup::new(name, rtype, status, answer).with_elapsed(started.elapsed())
    }
}

fn hickory_type(rtype: RecordType) -> HickoryType {
    match rtype {
        RecordType::Mx => HickoryType::MX,
        RecordType::A => HickoryType::A,
        RecordType::Aaaa => HickoryType::AAAA,
        RecordType::Txt => HickoryType::TXT,
        RecordType::Tlsa => HickoryType::TLSA,
        _ => HickoryType::NULL,
    }
}

/// The status of an RRset from its records' proofs: the weakest one.
fn combine(proofs: impl Iterator<Item = Proof>) -> DnssecStatus {
    let mut status: Option<DnssecStatus> = None;
    for proof in proofs {
        let this = status_of(proof);
        status = Some(match status {
            // One bad signature spoils the RRset.
            Some(DnssecStatus::Bogus) => DnssecStatus::Bogus,
            _ if this == DnssecStatus::Bogus => DnssecStatus::Bogus,
            None => this,
            Some(previous) => previous.max(this),
        });
    }
    status.unwrap_or(DnssecStatus::Indeterminate)
}

fn status_of(proof: Proof) -> DnssecStatus {
    match proof {
        Proof::Secure => DnssecStatus::Secure,
        Proof::Insecure => DnssecStatus::Insecure,
        Proof::Bogus => DnssecStatus::Bogus,
        _ => DnssecStatus::Indeterminate,
    }
}

/// A failed lookup: a validated negative answer (secure), an unproven or bogus one, or no answer.
fn negative(error: &ResolveError) -> (DnssecStatus, Answer) {
    match error.proto().map(|p| p.kind()) {
        // The validator let it through: its NSEC/NSEC3 proof verified.
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NoError => (DnssecStatus::Secure, Answer::NoData),
            ResponseCode::NXDomain => (DnssecStatus::Secure, Answer::NxDomain),
            code => (DnssecStatus::Indeterminate, Answer::Failed(format!("the DNS server answered {code}"))),
        },
        // A negative answer whose proof did not verify as secure.
        Some(ProtoErrorKind::Nsec { proof, .. }) => match status_of(*proof) {
            DnssecStatus::Bogus => (DnssecStatus::Bogus, Answer::Failed("the denial of existence is bogus".into())),
            status => (status, Answer::NoData),
        },
        _ => {
            let text = error.to_string();
            let status = if text.to_ascii_lowercase().contains("bogus") {
                DnssecStatus::Bogus
            } else {
                DnssecStatus::Indeterminate
            };
            (status, Answer::Failed(text))
        }
    }
}

/// A record's data in presentation form; TXT strings joined (as SPF, DMARC and the others read them).
fn present(data: &RData) -> Option<String> {
    Some(match data {
        RData::TXT(txt) => {
            let joined: Vec<u8> = txt.txt_data().concat();
            String::from_utf8_lossy(&joined).into_owned()
        }
        RData::MX(mx) => format!("{} {}", mx.preference(), mx.exchange().to_ascii()),
        RData::TLSA(t) => {
            let hex: String = t.cert_data().iter().map(|b| format!("{b:02x}")).collect();
            format!("{} {} {} {hex}", u8::from(t.cert_usage()), u8::from(t.selector()), u8::from(t.matching()))
        }
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weakest_proof_decides() {
        use Proof::*;
        assert_eq!(combine([Secure, Secure].into_iter()), DnssecStatus::Secure);
        assert_eq!(combine([Secure, Insecure].into_iter()), DnssecStatus::Insecure);
        assert_eq!(combine([Secure, Bogus, Insecure].into_iter()), DnssecStatus::Bogus);
        assert_eq!(combine([Insecure, Indeterminate].into_iter()), DnssecStatus::Indeterminate);
        assert_eq!(combine(std::iter::empty()), DnssecStatus::Indeterminate);
    }
}
