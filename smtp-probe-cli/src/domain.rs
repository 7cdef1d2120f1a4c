//! `--domain DOMAIN`: the domain check of the tokio adapter (`smtp_probe_tokio::domain`), with the validating
//! resolver and the overrides the command line names.
//!
//! Lookups go to `--dns-server`, else to the DNS server of the `SMTP_PROBE_DNS_SERVER` environment variable (as
//! `--mx` uses it), else to the system's resolvers; whichever it is, every answer is validated here from the
//! trust anchor (`--trust-anchor`, else the DNS root key).

use std::net::{IpAddr, SocketAddr};

use smtp_probe_tokio::Domain;
use smtp_probe_tokio::domain::{DnssecResolver, DomainConfig, DomainOptions, DomainReport, check_domain};

use crate::Failure;
use crate::plan::DomainCheck;

/// How every `--domain` is checked (shared by all of them).
#[derive(Debug, Clone, Default)]
pub struct DomainSettings {
    /// The trust anchor's text (DNSKEY records), when not the root's.
    pub trust_anchor: Option<String>,
    /// The DNS server asked, when not the system's.
    pub dns_server: Option<SocketAddr>,
    /// `--connect-to` overrides.
    pub connect_to: Vec<(String, SocketAddr)>,
    /// `--strict-records`.
    pub strict: bool,
}

impl DomainSettings {
    /// Reads the options; `dns_server` is the `--dns-server` text, if any.
    pub fn new(
        trust_anchor: Option<&std::path::Path>,
        dns_server: Option<&str>,
        connect_to: &[String],
        strict: bool,
    ) -> Result<DomainSettings, Failure> {
        let trust_anchor = trust_anchor
            .map(|path| {
                std::fs::read_to_string(path)
                    .map_err(|e| Failure::new(format!("cannot read the trust anchor {}: {e}", path.display())))
            })
            .transpose()?;
        let dns_server = match dns_server {
            Some(text) => Some(
                parse_addr(text, 53)
                    .ok_or_else(|| Failure::new(format!("--dns-server {text:?} is not an IP address or IP:PORT")))?,
            ),
            None => crate::mx::dns_server_from_env()?,
        };
        let connect_to = connect_to
            .iter()
            .map(|text| {
                let bad = || Failure::new(format!("--connect-to {text:?}: expected HOST=IP:PORT"));
                let (host, addr) = text.split_once('=').ok_or_else(bad)?;
                let host: Domain = host.parse().map_err(|_| bad())?;
                let addr: SocketAddr = addr.trim().parse().map_err(|_| bad())?;
                Ok((host.as_str().to_owned(), addr))
            })
            .collect::<Result<_, Failure>>()?;
        Ok(DomainSettings { trust_anchor, dns_server, connect_to, strict })
    }

    /// The validating resolver.
    pub fn resolver(&self) -> Result<DnssecResolver, String> {
        let upstreams: Vec<SocketAddr> = self.dns_server.into_iter().collect();
        match (&self.trust_anchor, upstreams.is_empty()) {
            (Some(anchor), false) => DnssecResolver::with_anchor(&upstreams, anchor).map_err(|e| e.to_string()),
            (None, false) => Ok(DnssecResolver::new(&upstreams)),
            (anchor, true) => {
                let system = DnssecResolver::system().map_err(|e| e.to_string())?;
                match anchor {
                    None => Ok(system),
                    Some(anchor) => {
                        let servers = system_servers()?;
                        DnssecResolver::with_anchor(&servers, anchor).map_err(|e| e.to_string())
                    }
                }
            }
        }
    }
}

fn system_servers() -> Result<Vec<SocketAddr>, String> {
    let (config, _) = smtp_probe_tokio::hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| format!("the system resolver configuration is unusable: {e}"))?;
    Ok(config.name_servers().iter().map(|ns| ns.socket_addr).collect())
}

fn parse_addr(text: &str, default_port: u16) -> Option<SocketAddr> {
    let text = text.trim();
    text.parse::<SocketAddr>().ok().or_else(|| text.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, default_port)))
}

/// Checks one domain. A resolver that cannot be made is the check's failure (a usage error).
pub async fn check(resolver: DnssecResolver, settings: &DomainSettings, check: DomainCheck) -> DomainReport {
    let mut config =
        DomainConfig::new(check.config, resolver).options(DomainOptions::default().strict(settings.strict));
    for (host, addr) in &settings.connect_to {
        config = config.override_host(host, *addr);
    }
    check_domain(&check.domain, &config).await
}
