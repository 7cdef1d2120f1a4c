//! `--mx DOMAIN`: the resolver MX mode uses, and probing one domain with it. The rules (implicit MX, null MX,
//! the aggregate verdict) are the core's (`smtp_probe_tokio::proto::mx`); the lookups and probes are the tokio
//! adapter's (`probe_mx_with_resolver`).
//!
//! Names are resolved through the system's DNS configuration (`/etc/resolv.conf`), or, **for testing only**,
//! through the single DNS server named by the `SMTP_PROBE_DNS_SERVER` environment variable (`IP` or
//! `IP:PORT`, UDP): then no system configuration and no hosts file are read, so a test can serve its own zone
//! on loopback and nothing is asked of the real DNS.

use std::net::{IpAddr, SocketAddr};

use smtp_probe_tokio::hickory_resolver::TokioResolver;
use smtp_probe_tokio::{MxReport, probe_mx_with_resolver, system_resolver};

use crate::Failure;
use crate::plan::MxCheck;

/// The environment variable naming the one DNS server `--mx` asks instead of the system's: for testing.
pub const DNS_SERVER_ENV: &str = "SMTP_PROBE_DNS_SERVER";

/// The DNS server from [`DNS_SERVER_ENV`], if set (port 53 when not given); a value that is not an address is a
/// usage error.
pub fn dns_server_from_env() -> Result<Option<SocketAddr>, Failure> {
    let Some(value) = std::env::var_os(DNS_SERVER_ENV) else { return Ok(None) };
    let text = value.to_string_lossy();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map(Some)
        .map_err(|_| Failure::new(format!("{DNS_SERVER_ENV}={text:?} is not an IP address or IP:PORT")))
}

/// The resolver for MX mode: the test DNS server alone when one is named, else the system's. `Err` carries why
/// the system configuration is unusable (each domain then reports a `dns_failure`).
pub fn resolver(dns_server: Option<SocketAddr>) -> Result<TokioResolver, String> {
    let Some(addr) = dns_server else {
        return system_resolver().map_err(|e| format!("the system resolver configuration is unusable: {e}"));
    };
    Ok(smtp_probe_tokio::single_server_resolver(addr))
}

/// Probes every MX host of one domain. Each host's reports are named `host:port`, as targets' are.
pub async fn probe_domain(resolver: Result<TokioResolver, String>, check: MxCheck) -> MxReport {
    match resolver {
        Ok(resolver) => probe_mx_with_resolver(&resolver, &check.domain, &check.config).await,
        Err(why) => MxReport::lookup_failed(&check.domain, &why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_resolver_failure_is_a_dns_failure_per_domain() {
        let domain: smtp_probe_tokio::Domain = "example.test".parse().unwrap();
        let config = smtp_probe_tokio::ProbeConfig::builder(domain.mx_target()).build().unwrap();
        let check = MxCheck { domain, config };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let report = runtime.block_on(probe_domain(Err("no resolv.conf".into()), check));
        assert_eq!(report.verdict, smtp_probe_tokio::Verdict::Down);
        assert_eq!(report.cause, Some(smtp_probe_tokio::Cause::DnsFailure));
        assert!(report.summary().contains("no resolv.conf"), "{}", report.summary());
    }
}
