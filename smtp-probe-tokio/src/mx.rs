//! MX mode (feature `mx`): probe the MX hosts of a domain, each address per the address-family policy, and sum
//! them up in an [`MxReport`]. The rules (implicit MX, null MX, the aggregate verdict, the bounds: hosts, addresses
//! per host, connections at once, one deadline) are in [`smtp_probe_proto::mx`]; this module only resolves and
//! runs the probes.
//!
//! Every name, the MX hosts' addresses included, is resolved through the one hickory resolver given (or the
//! system's, read from `/etc/resolv.conf`), never through the OS's `getaddrinfo`, so a caller pointing the
//! resolver at a DNS server of their choice gets exactly that server's view.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use futures_util::StreamExt;
pub use hickory_resolver;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{ResolveError, TokioResolver};
use smtp_probe_proto::connect::{ProbeStart, ResolveFailure};
use smtp_probe_proto::mx::{MxAnswer, MxPlan, MxRecord, MxReport};
use smtp_probe_proto::{AddressFamily, Domain, ProbeConfig, Target};
use tokio::time::timeout_at;

/// A resolver from the system configuration (`/etc/resolv.conf` on Unix, the registry on Windows).
pub fn system_resolver() -> Result<TokioResolver, ResolveError> {
    Ok(TokioResolver::builder_tokio()?.build())
}

/// A resolver that asks this one DNS server (UDP) and nothing else: no system configuration, no hosts file, no
/// cache, one attempt of at most 2 s. For tests on loopback and for private DNS views.
pub fn single_server_resolver(addr: SocketAddr) -> TokioResolver {
    use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    use hickory_resolver::proto::xfer::Protocol;

    let mut server = NameServerConfig::new(addr, Protocol::Udp);
    server.trust_negative_responses = true;
    let mut config = ResolverConfig::new();
    config.add_name_server(server);
    let mut builder = TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
    let options = builder.options_mut();
    options.use_hosts_file = ResolveHosts::Never;
    options.timeout = std::time::Duration::from_secs(2);
    options.attempts = 1;
    options.cache_size = 0;
    builder.build()
}

/// Probes every MX host of `domain` with the system resolver, all hosts at once.
///
/// `config` is the template for each host: its target is replaced by the host on the same port and with the same
/// scheme (port 25 for mail exchangers: [`Domain::mx_target`]), and the host becomes the TLS name unless `config`
/// sets one explicitly (see [`host_config`](smtp_probe_proto::mx::host_config)). Its overall timeout bounds the
/// whole check, from the MX lookup to the last host's QUIT; its [`MxLimits`](crate::MxLimits) how many hosts are
/// probed, how many addresses each, how many connections are open at once. Addresses of MX hosts come from DNS:
/// the address policy's built-in denials (loopback, link-local, ...) apply to them. A system resolver
/// configuration that cannot be read is reported as a `dns_failure`.
///
/// To probe many domains, build one resolver and use [`probe_mx_with_resolver`]: it keeps its cache.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use smtp_probe_tokio::{probe_mx, Domain, ProbeConfig, Verdict};
/// let domain: Domain = "example.com".parse()?;
/// let config = ProbeConfig::builder(domain.mx_target()).ehlo_name("monitor.example.org").build()?;
/// let report = probe_mx(&domain, &config).await;
/// for host in &report.hosts {
///     println!("{} {}: {}", host.preference, host.host, host.verdict);
/// }
/// if report.verdict != Verdict::Up {
///     eprintln!("{}", report.summary());
/// }
/// # Ok(()) }
/// ```
pub async fn probe_mx(domain: &Domain, config: &ProbeConfig) -> MxReport {
    match system_resolver() {
        Ok(resolver) => probe_mx_with_resolver(&resolver, domain, config).await,
        Err(e) => MxReport::lookup_failed(domain, &format!("the system resolver configuration is unusable: {e}")),
    }
}

/// Probes the MX hosts of `domain`, resolving the MX records and then each host's A/AAAA records with
/// `resolver`. The hosts are probed concurrently (up to the limit), each on the port of `config`'s target (see
/// [`probe_mx`]), each host's addresses as [`crate::probe_each`] does (one report, or one per family with
/// [`AddressFamily::Both`]).
pub async fn probe_mx_with_resolver(resolver: &TokioResolver, domain: &Domain, config: &ProbeConfig) -> MxReport {
    let start = ProbeStart::new(config, Instant::now(), SystemTime::now());
    let answer = match timeout_at(start.deadline.into(), resolver.mx_lookup(fqdn(domain.as_str()))).await {
        Ok(Ok(lookup)) => MxAnswer::Records(
            lookup.iter().map(|mx| MxRecord::new(mx.preference(), mx.exchange().to_ascii())).collect(),
        ),
        Ok(Err(e)) => match classify(&e) {
            Negative::NoData => MxAnswer::NoData,
            Negative::NxDomain => MxAnswer::NxDomain,
            Negative::Failed(why) => MxAnswer::Failed(why),
        },
        Err(_) => MxAnswer::Failed("no answer before the deadline".into()),
    };
    let plan = match MxPlan::new(domain, answer) {
        MxPlan::Done(report) => return report,
        MxPlan::Probe(plan) => plan,
    };
    let hickory = Hickory(resolver);
    let hosts = futures_util::stream::iter(plan.dialers(config, start)).map(|mut dialer| {
        let hickory = &hickory;
        async move {
            crate::run(&mut dialer, hickory).await;
            dialer.into_reports()
        }
    });
    let reports = hosts.buffered(config.mx_limits().concurrent).collect().await;
    plan.finish(reports)
}

/// MX hosts' addresses, through the same resolver as the MX records.
struct Hickory<'a>(&'a TokioResolver);

impl crate::Resolve for Hickory<'_> {
    async fn resolve(
        &self,
        target: &Target,
        family: AddressFamily,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, ResolveFailure> {
        let lookup = addresses(self.0, target.host(), family);
        match timeout_at(deadline.into(), lookup).await {
            Ok(Ok(addrs)) => Ok(addrs),
            Ok(Err(why)) => Err(ResolveFailure::Failed(why)),
            Err(_) => Err(ResolveFailure::TimedOut),
        }
    }
}

/// The addresses of `host` the policy can use: A and AAAA looked up side by side (IPv4 first, which is the
/// order [`AddressFamily::Any`] tries them in), only one of them for the single-family policies. Empty when
/// the name exists without such addresses; `Err` when the name does not exist or no lookup got an answer.
async fn addresses(resolver: &TokioResolver, host: &str, family: AddressFamily) -> Result<Vec<IpAddr>, String> {
    let name = fqdn(host);
    let want_v4 = family != AddressFamily::Ipv6Only;
    let want_v6 = family != AddressFamily::Ipv4Only;
    let v4 = async {
        if !want_v4 {
            return Ok(Vec::new());
        }
        resolver.ipv4_lookup(name.as_str()).await.map(|l| l.iter().map(|a| IpAddr::V4(a.0)).collect::<Vec<_>>())
    };
    let v6 = async {
        if !want_v6 {
            return Ok(Vec::new());
        }
        resolver.ipv6_lookup(name.as_str()).await.map(|l| l.iter().map(|a| IpAddr::V6(a.0)).collect::<Vec<_>>())
    };
    let (v4, v6) = tokio::join!(v4, v6);
    let mut addrs = Vec::new();
    let mut failure = None;
    for result in [v4, v6] {
        match result {
            Ok(found) => addrs.extend(found),
            Err(e) => match classify(&e) {
                Negative::NoData => {}
                Negative::NxDomain => return Err("no such host (NXDOMAIN)".into()),
                Negative::Failed(why) => failure = failure.or(Some(why)),
            },
        }
    }
    match failure {
        // One family failed but the other answered: probe what there is (the failure is logged).
        Some(why) if !addrs.is_empty() => {
            tracing::debug!(host, %why, "one address lookup failed; probing the addresses found");
            Ok(addrs)
        }
        Some(why) => Err(why),
        None => Ok(addrs),
    }
}

/// A name as a fully qualified one, so the resolver's search list is never applied.
fn fqdn(name: &str) -> String {
    format!("{}.", name.strip_suffix('.').unwrap_or(name))
}

enum Negative {
    NoData,
    NxDomain,
    Failed(String),
}

/// What a failed lookup means. hickory reports SERVFAIL and REFUSED as "no records found" too, with their
/// response code: only NOERROR is an empty answer (NODATA).
fn classify(error: &ResolveError) -> Negative {
    match error.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NoError => Negative::NoData,
            ResponseCode::NXDomain => Negative::NxDomain,
            code => Negative::Failed(format!("the DNS server answered {code}")),
        },
        _ => Negative::Failed(error.to_string()),
    }
}
