//! The loopback world of the domain check, as tests see it: the DNSSEC bed of `.ci/dns.sh` (Knot signing the
//! `mail.test` zones, Unbound validating them) and the Exim of `.ci/exim.sh` (STARTTLS with an expired
//! certificate), beside the Postfix of `.ci/postfix.sh` (its settings: `smtp_probe_testsuite::postfix`).
//!
//! [`dns_env()`] and [`exim_env()`] read the `SMTP_PROBE_DNS_*` and `SMTP_PROBE_EXIM_*` variables, or, when
//! those are unset, the env file the script wrote (`$SMTP_PROBE_DNS_DIR/env`, default
//! `/var/tmp/smtp-probe-dns/env`; `$SMTP_PROBE_EXIM_DIR/env`, default `/var/tmp/smtp-probe-exim/env`). The
//! `*_or_skip` forms print `skipped: …` and return `None` when the bed is not there, unless
//! `SMTP_PROBE_REQUIRE_SERVICES=1` is set (CI sets it): then a missing bed panics, so the test fails.
//!
//! ```
//! use smtp_probe_testserver::domain_bed::{self, Scenario};
//!
//! if let Some(dns) = domain_bed::dns_env_or_skip("doc example") {
//!     assert!(dns.resolver.ip().is_loopback() && dns.authoritative.ip().is_loopback());
//!     assert_eq!(dns.zone(Scenario::Good), "good.mail.test");
//!     assert!(dns.trust_anchor.contains(" IN DNSKEY 257 "));
//! }
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::services;

/// The default state directory of `.ci/dns.sh`.
pub const DEFAULT_DNS_DIR: &str = "/var/tmp/smtp-probe-dns";
/// The default state directory of `.ci/exim.sh`.
pub const DEFAULT_EXIM_DIR: &str = "/var/tmp/smtp-probe-exim";

/// The scenario zones of the bed (`<label>.mail.test`), each one thing a domain check must tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scenario {
    /// Two MX hosts (both Postfix), MTA-STS enforce, TLSA 3 1 1 records matching the Postfix key, SPF, DMARC
    /// reject, TLS-RPT: up.
    Good,
    /// MTA-STS testing; the MX is Exim with its expired certificate: degraded.
    Testing,
    /// MTA-STS enforce; the MX is Exim with its expired certificate: down.
    ExpiredCert,
    /// A secure TLSA record that matches no key of the MX (Postfix): down, `dane_mismatch`.
    TlsaMismatch,
    /// A delegated zone whose TLSA signature does not verify (data changed after signing): bogus.
    Bogus,
    /// A delegated zone whose signatures expired in 2025: bogus.
    ExpiredSignatures,
    /// A delegated, unsigned zone (no DS): insecure, so its TLSA record does not count.
    Insecure,
    /// SPF that needs 11 DNS-querying terms through includes.
    Spf11,
    /// DMARC `p=none`.
    DmarcNone,
    /// No TLS-RPT record.
    NoTlsRpt,
    /// An MTA-STS record whose policy is not there (the HTTPS server answers 404).
    Policy404,
    /// An MTA-STS record whose policy host presents a certificate that does not verify.
    PolicyWrongCert,
    /// An MTA-STS record whose policy file is larger than 64 KiB.
    PolicyHuge,
    /// Like [`Scenario::Good`] with one MX host; its MX, TLSA and `_mta-sts` records have a TTL of 1 s because
    /// the policy-change tests replace them at runtime ([`DnsEnv::replace_records`]) and put them back. Up until
    /// a test changes it; no other test may depend on it.
    Rollover,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: &'static [Scenario] = &[
        Scenario::Good,
        Scenario::Testing,
        Scenario::ExpiredCert,
        Scenario::TlsaMismatch,
        Scenario::Bogus,
        Scenario::ExpiredSignatures,
        Scenario::Insecure,
        Scenario::Spf11,
        Scenario::DmarcNone,
        Scenario::NoTlsRpt,
        Scenario::Policy404,
        Scenario::PolicyWrongCert,
        Scenario::PolicyHuge,
        Scenario::Rollover,
    ];

    /// The suffix of its `SMTP_PROBE_DNS_ZONE_*` variable.
    fn var(self) -> &'static str {
        match self {
            Scenario::Good => "GOOD",
            Scenario::Testing => "TESTING",
            Scenario::ExpiredCert => "EXPIRED_CERT",
            Scenario::TlsaMismatch => "TLSA_MISMATCH",
            Scenario::Bogus => "BOGUS",
            Scenario::ExpiredSignatures => "EXPIRED_SIGS",
            Scenario::Insecure => "INSECURE",
            Scenario::Spf11 => "SPF11",
            Scenario::DmarcNone => "DMARC_NONE",
            Scenario::NoTlsRpt => "NO_TLSRPT",
            Scenario::Policy404 => "POLICY_404",
            Scenario::PolicyWrongCert => "POLICY_WRONG_CERT",
            Scenario::PolicyHuge => "POLICY_HUGE",
            Scenario::Rollover => "ROLLOVER",
        }
    }
}

/// Which loopback server answers for an MX host of the bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MxServer {
    /// The Postfix of `.ci/postfix.sh` (port 2525, a valid certificate for every name of the bed).
    Postfix,
    /// The Exim of `.ci/exim.sh` (port 2526, an expired certificate).
    Exim,
}

/// What `.ci/dns.sh` wrote to its env file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsEnv {
    /// The state directory.
    pub dir: PathBuf,
    /// Knot, authoritative and signing (127.0.0.1:5354).
    pub authoritative: SocketAddr,
    /// Knot over IPv6, when the machine has ::1.
    pub authoritative6: Option<SocketAddr>,
    /// Unbound, validating (127.0.0.1:5353).
    pub resolver: SocketAddr,
    /// Unbound over IPv6.
    pub resolver6: Option<SocketAddr>,
    /// The signed parent zone, `mail.test`.
    pub domain: String,
    /// The trust anchor: the zone's DNSKEY 257 record in presentation form with its class
    /// (`mail.test. 300 IN DNSKEY 257 3 13 …`), as hickory's `TrustAnchors` reads it.
    pub trust_anchor: String,
    /// A file holding that record.
    pub trust_anchor_file: PathBuf,
    /// The DS of the anchor (`mail.test. DS <tag> 13 2 <hex>`).
    pub ds: String,
    /// The TLSA record (presentation form) that matches the Postfix server key.
    pub tlsa_postfix: String,
    /// A TLSA record that matches no server's key.
    pub tlsa_wrong: String,
    /// The `id` of every `_mta-sts` record.
    pub mta_sts_id: String,
    /// Policy files, `<dir>/<domain>/.well-known/mta-sts.txt`, for an HTTPS server to serve.
    pub mta_sts_dir: PathBuf,
    /// MX hosts answered by Postfix.
    pub postfix_hosts: Vec<String>,
    /// MX hosts answered by Exim.
    pub exim_hosts: Vec<String>,
    /// Knot's configuration, for `knotc` ([`DnsEnv::replace_records`]).
    pub knot_conf: PathBuf,
    zones: HashMap<&'static str, String>,
}

impl DnsEnv {
    /// The domain of a scenario, e.g. `good.mail.test`.
    pub fn zone(&self, scenario: Scenario) -> &str {
        self.zones.get(scenario.var()).map_or("", String::as_str)
    }

    /// The loopback server behind an MX host of the bed, if it is one.
    pub fn server_for(&self, host: &str) -> Option<MxServer> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.postfix_hosts.contains(&host) {
            Some(MxServer::Postfix)
        } else if self.exim_hosts.contains(&host) {
            Some(MxServer::Exim)
        } else {
            None
        }
    }

    /// Replaces the `rtype` records of `owner` (a name in the signed parent zone, e.g.
    /// `_25._tcp.mx1.rollover.mail.test`) with `data` (presentation form, TXT strings quoted), with this TTL, in one
    /// `knotc` transaction; Knot signs the change. Meant for [`Scenario::Rollover`] only: other tests read the
    /// other zones while this runs.
    pub fn replace_records(&self, owner: &str, ttl: u32, rtype: &str, data: &[&str]) -> std::io::Result<()> {
        let zone = format!("{}.", self.domain.trim_end_matches('.'));
        let owner = format!("{}.", owner.trim_end_matches('.'));
        let knotc = |args: &[&str]| -> std::io::Result<()> {
            let out = std::process::Command::new("knotc").arg("-c").arg(&self.knot_conf).args(args).output()?;
            if out.status.success() {
                Ok(())
            } else {
                let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
                Err(std::io::Error::other(format!("knotc {}: {}", args.join(" "), said.trim())))
            }
        };
        knotc(&["zone-begin", &zone])?;
        let ttl = ttl.to_string();
        let edit = || -> std::io::Result<()> {
            // Unsetting what is not there fails; the set that follows is what counts.
            let _ = knotc(&["zone-unset", &zone, &owner, rtype]);
            for record in data {
                knotc(&["zone-set", &zone, &owner, &ttl, rtype, record])?;
            }
            knotc(&["zone-commit", &zone])
        };
        edit().inspect_err(|_| {
            let _ = knotc(&["zone-abort", &zone]);
        })
    }

    /// The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`, if the bed has one.
    pub fn mta_sts_policy(&self, domain: &str) -> Option<Vec<u8>> {
        std::fs::read(self.mta_sts_dir.join(domain).join(".well-known/mta-sts.txt")).ok()
    }
}

/// What `.ci/exim.sh` wrote to its env file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EximEnv {
    /// The state directory.
    pub dir: PathBuf,
    /// The IPv4 loopback address Exim listens on.
    pub host: String,
    /// The IPv6 loopback address, when the machine has one.
    pub host6: Option<String>,
    /// Plain SMTP with STARTTLS (2526).
    pub port: u16,
    /// The test CA (the Postfix one), PEM.
    pub ca_pem: String,
    /// Exim's certificate, PEM: issued by the test CA, expired.
    pub cert_pem: String,
    /// When it expired, RFC 3339.
    pub cert_not_after: String,
    /// A recipient Exim accepts (and discards).
    pub good_rcpt: String,
    /// Exim's main log.
    pub log: PathBuf,
}

/// The DNSSEC bed, from the environment or its env file; `None` when neither is there or the values are
/// unusable (a non-loopback address, for one).
pub fn dns_env() -> Option<DnsEnv> {
    let vars = load("SMTP_PROBE_DNS_", "SMTP_PROBE_DNS_RESOLVER", DEFAULT_DNS_DIR)?;
    let get = |name: &str| vars.get(&format!("SMTP_PROBE_DNS_{name}")).filter(|v| !v.is_empty()).cloned();
    let addr = |name: &str| get(name)?.parse::<SocketAddr>().ok().filter(|a| a.ip().is_loopback());
    let hosts = |name: &str| get(name).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
    let dir = PathBuf::from(get("DIR").unwrap_or_else(|| DEFAULT_DNS_DIR.to_owned()));
    let mut zones = HashMap::new();
    for scenario in Scenario::ALL {
        zones.insert(scenario.var(), get(&format!("ZONE_{}", scenario.var()))?);
    }
    Some(DnsEnv {
        authoritative: addr("AUTH")?,
        authoritative6: addr("AUTH6"),
        resolver: addr("RESOLVER")?,
        resolver6: addr("RESOLVER6"),
        domain: get("DOMAIN")?,
        trust_anchor: get("TRUST_ANCHOR")?,
        trust_anchor_file: get("TRUST_ANCHOR_FILE").map_or_else(|| dir.join("trust-anchor.dnskey"), PathBuf::from),
        ds: get("DS")?,
        tlsa_postfix: get("TLSA_POSTFIX")?,
        tlsa_wrong: get("TLSA_WRONG")?,
        mta_sts_id: get("MTA_STS_ID")?,
        mta_sts_dir: get("MTA_STS_DIR").map_or_else(|| dir.join("mta-sts"), PathBuf::from),
        postfix_hosts: hosts("POSTFIX_HOSTS"),
        exim_hosts: hosts("EXIM_HOSTS"),
        knot_conf: get("KNOT_CONF").map_or_else(|| dir.join("knot.conf"), PathBuf::from),
        zones,
        dir,
    })
}

/// The loopback Exim, from the environment or its env file.
pub fn exim_env() -> Option<EximEnv> {
    let vars = load("SMTP_PROBE_EXIM_", "SMTP_PROBE_EXIM_HOST", DEFAULT_EXIM_DIR)?;
    let get = |name: &str| vars.get(&format!("SMTP_PROBE_EXIM_{name}")).filter(|v| !v.is_empty()).cloned();
    let loopback = |host: &str| host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let dir = PathBuf::from(get("DIR").unwrap_or_else(|| DEFAULT_EXIM_DIR.to_owned()));
    Some(EximEnv {
        host: get("HOST").filter(|h| loopback(h))?,
        host6: get("HOST6").filter(|h| loopback(h)),
        port: get("PORT")?.parse().ok()?,
        ca_pem: std::fs::read_to_string(get("CA")?).ok()?,
        cert_pem: std::fs::read_to_string(get("CERT").map_or_else(|| dir.join("server.pem"), PathBuf::from)).ok()?,
        cert_not_after: get("CERT_NOT_AFTER")?,
        good_rcpt: get("GOOD_RCPT")?,
        log: get("LOG").map_or_else(|| dir.join("log/mainlog"), PathBuf::from),
        dir,
    })
}

/// [`dns_env()`], or `None` after printing `skipped: no DNSSEC bed (run .ci/dns.sh)`; panics instead when
/// `SMTP_PROBE_REQUIRE_SERVICES=1`.
pub fn dns_env_or_skip(test: &str) -> Option<DnsEnv> {
    or_skip(dns_env(), test, "DNSSEC bed", "run .ci/dns.sh")
}

/// [`exim_env()`], or `None` after printing `skipped: no loopback Exim (run .ci/exim.sh)`; panics instead when
/// `SMTP_PROBE_REQUIRE_SERVICES=1`.
pub fn exim_env_or_skip(test: &str) -> Option<EximEnv> {
    or_skip(exim_env(), test, "loopback Exim", "run .ci/exim.sh")
}

fn or_skip<T>(env: Option<T>, test: &str, service: &str, how: &str) -> Option<T> {
    env.or_else(|| services::skip(test, service, how))
}

/// The variables with `prefix` from the environment when `marker` is set there, else from `<dir>/env`.
fn load(prefix: &str, marker: &str, default_dir: &str) -> Option<HashMap<String, String>> {
    let dir = std::env::var(format!("{prefix}DIR")).unwrap_or_else(|_| default_dir.to_owned());
    let marker = marker.strip_prefix(prefix).unwrap_or(marker);
    services::vars(prefix, marker, Path::new(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_variables_are_distinct() {
        let mut names: Vec<&str> = Scenario::ALL.iter().map(|s| s.var()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Scenario::ALL.len());
    }
}
