//! The domain check (feature `domain`): a domain's mail records, validated with DNSSEC, its MTA-STS policy fetched
//! over HTTPS, every MX host probed, and a verdict that follows what senders honouring MTA-STS and DANE do. The
//! rules are in [`smtp_probe_proto::domain`]; this module looks up, fetches and probes, all at once and inside
//! the probe configuration's one overall deadline.
//!
//! Lookups go through a [`DnssecResolver`]: hickory validates every answer from the configured trust anchor (see
//! [`dnssec`] for exactly what is validated and what is trusted).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use smtp_probe_tokio::domain::{check_domain, DnssecResolver, DomainConfig};
//! use smtp_probe_tokio::{Domain, ProbeConfig, Verdict};
//!
//! let domain: Domain = "example.com".parse()?;
//! let probe = ProbeConfig::builder(domain.mx_target()).ehlo_name("monitor.example.org").build()?;
//! let config = DomainConfig::new(probe, DnssecResolver::system()?);
//! let report = check_domain(&domain, &config).await;
//! println!("{}", report.summary());
//! for host in &report.hosts {
//!     println!("{} {}: {}", host.preference, host.host, host.verdict);
//! }
//! # Ok(()) }
//! ```

pub mod dnssec;
mod fetch;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

pub use dnssec::{DnssecResolver, ResolverError};
use futures_util::StreamExt;
use smtp_probe_proto::connect::{Dialer, ProbeStart, ResolveFailure};
use smtp_probe_proto::domain::fetch::{PolicyFetchReport, policy_host};
pub use smtp_probe_proto::domain::{
    Answer, Dane, DanePolicy, DnssecStatus, DomainOptions, DomainParts, DomainReport, DomainTimings, HostPolicy,
    RecordLookup, RecordType,
};
use smtp_probe_proto::mx::{self, MxAnswer, MxHost, MxPlan, MxRecord, MxReport};
use smtp_probe_proto::policy::mta_sts::MtaStsRecord;
use smtp_probe_proto::policy::spf::{QueryType, SpfAnswer, SpfCheck, SpfPoll, SpfReport};
use smtp_probe_proto::{AddressFamily, Cause, Domain, Phase, ProbeConfig, Report, Target, TlsConfig};
use tokio::time::timeout_at;

/// How to check a domain: the probe template for its MX hosts, the validating resolver, the trust settings of
/// the policy fetch, and overrides of where hosts are reached.
#[derive(Debug, Clone)]
pub struct DomainConfig {
    probe: ProbeConfig,
    resolver: DnssecResolver,
    policy_tls: TlsConfig,
    policy_port: u16,
    overrides: HashMap<String, SocketAddr>,
    options: DomainOptions,
}

impl DomainConfig {
    /// Checks with `probe` as the template of every MX host's probe (its port is the MX port, 25 for
    /// [`Domain::mx_target`]; its overall timeout bounds the whole check) and `resolver` for every lookup. The
    /// policy fetch trusts what `probe` trusts.
    pub fn new(probe: ProbeConfig, resolver: DnssecResolver) -> DomainConfig {
        let policy_tls = probe.tls_config();
        DomainConfig {
            probe,
            resolver,
            policy_tls,
            policy_port: 443,
            overrides: HashMap::new(),
            options: DomainOptions::default(),
        }
    }

    /// The trust settings of the MTA-STS policy fetch (default: those of the probe).
    pub fn policy_tls(mut self, tls: TlsConfig) -> DomainConfig {
        self.policy_tls = tls;
        self
    }

    /// The HTTPS port of policy hosts (443; another for test beds).
    pub fn policy_port(mut self, port: u16) -> DomainConfig {
        self.policy_port = port;
        self
    }

    /// Reach `host` (an MX host, or a policy host `mta-sts.<domain>`) at `addr` instead of its DNS addresses and
    /// the configured port. The name is still the one verified in certificates and matched against policies.
    pub fn override_host(mut self, host: &str, addr: SocketAddr) -> DomainConfig {
        self.overrides.insert(host.trim_end_matches('.').to_ascii_lowercase(), addr);
        self
    }

    /// How the results are judged.
    pub fn options(mut self, options: DomainOptions) -> DomainConfig {
        self.options = options;
        self
    }

    /// The probe template.
    pub fn probe_config(&self) -> &ProbeConfig {
        &self.probe
    }

    fn override_for(&self, host: &str) -> Option<SocketAddr> {
        self.overrides.get(&host.trim_end_matches('.').to_ascii_lowercase()).copied()
    }
}

/// Fetches `domain`'s MTA-STS policy from `addr` (instead of `mta-sts.<domain>` on port 443), the certificate
/// checked for `mta-sts.<domain>` with `tls`, within `timeout`: the fetch [`check_domain`] makes, on its own.
pub async fn fetch_policy(domain: &Domain, addr: SocketAddr, tls: &TlsConfig, timeout: Duration) -> PolicyFetchReport {
    fetch::fetch_policy(domain, Ok(vec![addr.ip()]), addr.port(), tls, timeout).await
}

/// Checks `domain` (see the [module documentation](self)).
pub async fn check_domain(domain: &Domain, config: &DomainConfig) -> DomainReport {
    let started = Instant::now();
    let wall = SystemTime::now();
    let start = ProbeStart::new(&config.probe, started, wall);
    let deadline = start.deadline;
    let name = domain.as_str();
    let resolver = &config.resolver;
    let lookups = Lookups { resolver, deadline, started, dns_done: std::sync::Mutex::new(Duration::ZERO) };
    let mx_part = async {
        let mx_lookup = lookups.lookup(name.to_owned(), RecordType::Mx).await;
        let (mx, tlsa) = probe_hosts(domain, &mx_lookup, config, start, &lookups).await;
        (mx_lookup, mx, tlsa, started.elapsed())
    };
    let mta_sts_part = async {
        let record = lookups.lookup(format!("_mta-sts.{name}"), RecordType::Txt).await;
        let valid = matches!(MtaStsRecord::from_rrset(&record.txt()), Ok(Some(_)));
        let fetch = if valid {
            let fetch_started = Instant::now();
            let host = policy_host(name);
            let (addresses, port) = match config.override_for(&host) {
                Some(addr) => (Ok(vec![addr.ip()]), addr.port()),
                None => (addresses(&lookups, &host).await, config.policy_port),
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let mut report = fetch::fetch_policy(domain, addresses, port, &config.policy_tls, left).await;
            report.elapsed = fetch_started.elapsed();
            Some(report)
        } else {
            None
        };
        (record, fetch)
    };
    let spf_part = async {
        let check = SpfCheck::new(name).ok()?;
        Some(run_spf(check, &lookups).await)
    };
    let ((mx_lookup, mx, tlsa, mx_done), (mta_sts_record, policy_fetch), tls_rpt, dmarc, spf) = tokio::join!(
        mx_part,
        mta_sts_part,
        lookups.lookup(format!("_smtp._tls.{name}"), RecordType::Txt),
        lookups.lookup(format!("_dmarc.{name}"), RecordType::Txt),
        spf_part,
    );
    let now_unix = wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut parts = DomainParts::new(domain.clone(), wall, mx_lookup, mx, mta_sts_record, tls_rpt, dmarc, now_unix);
    parts.timings = DomainTimings {
        dns: *lookups.dns_done.lock().unwrap_or_else(|p| p.into_inner()),
        policy_fetch: policy_fetch.as_ref().map(|f: &PolicyFetchReport| f.elapsed),
        mx_probes: mx_done,
        total: started.elapsed(),
    };
    parts.policy_fetch = policy_fetch;
    parts.spf = spf;
    parts.tlsa = tlsa;
    DomainReport::assemble(parts, config.options)
}

/// Every lookup of one check: validated, bounded by the check's deadline, and timed (the DNS part of the check
/// ends with the last answer).
struct Lookups<'a> {
    resolver: &'a DnssecResolver,
    deadline: Instant,
    started: Instant,
    dns_done: std::sync::Mutex<Duration>,
}

impl Lookups<'_> {
    async fn lookup(&self, qname: String, rtype: RecordType) -> RecordLookup {
        let result = match timeout_at(self.deadline.into(), self.resolver.lookup(&qname, rtype)).await {
            Ok(result) => result,
            Err(_) => RecordLookup::new(
                &qname,
                rtype,
                DnssecStatus::Indeterminate,
                Answer::Failed("no answer before the deadline".into()),
            ),
        };
        let mut done = self.dns_done.lock().unwrap_or_else(|p| p.into_inner());
        *done = (*done).max(self.started.elapsed());
        result
    }
}

/// The MX plan from the validated MX lookup, every host probed (at most [`MxLimits`](crate::MxLimits) of them,
/// so many at once) with its TLSA lookup beside it.
async fn probe_hosts(
    domain: &Domain,
    mx_lookup: &RecordLookup,
    config: &DomainConfig,
    start: ProbeStart,
    lookups: &Lookups<'_>,
) -> (MxReport, Vec<RecordLookup>) {
    let answer = match &mx_lookup.answer {
        Answer::Records(records) => MxAnswer::Records(
            records
                .iter()
                .filter_map(|r| {
                    let (preference, exchange) = r.split_once(' ')?;
                    Some(MxRecord::new(preference.parse().ok()?, exchange))
                })
                .collect(),
        ),
        Answer::NoData => MxAnswer::NoData,
        Answer::NxDomain => MxAnswer::NxDomain,
        Answer::Failed(why) => MxAnswer::Failed(why.clone()),
        _ => MxAnswer::Failed("unexpected answer".into()),
    };
    let plan = match MxPlan::new(domain, answer) {
        MxPlan::Done(report) => return (report, Vec::new()),
        MxPlan::Probe(plan) => plan,
    };
    let limits = config.probe.mx_limits();
    let port = config.probe.target().port();
    let hosts: Vec<_> =
        plan.hosts.iter().take(limits.hosts).map(|host| probe_with_tlsa(host, port, config, start, lookups)).collect();
    let results: Vec<(Vec<Report>, RecordLookup)> =
        futures_util::stream::iter(hosts).buffered(limits.concurrent.max(1)).collect().await;
    let (reports, tlsa): (Vec<_>, Vec<_>) = results.into_iter().unzip();
    (plan.finish(reports), tlsa)
}

/// One MX host, as MX mode probes it ([`mx::host_config`]: the host is the TLS name, its addresses come from DNS
/// and the address policy treats them so), its addresses from the validating resolver (or the override), and its
/// TLSA records (`_<port>._tcp.<host>`), looked up side by side before the probe starts.
async fn probe_with_tlsa(
    host: &MxHost,
    port: u16,
    config: &DomainConfig,
    start: ProbeStart,
    lookups: &Lookups<'_>,
) -> (Vec<Report>, RecordLookup) {
    let tlsa_name = format!("_{port}._tcp.{}", host.host);
    let override_addr = config.override_for(&host.host);
    let host_config = mx::host_config(&config.probe, host).and_then(|c| match override_addr {
        Some(addr) => Ok(c.with_target(c.target().with_port(addr.port())?)),
        None => Ok(c),
    });
    let host_config = match host_config {
        Ok(c) => c,
        Err(e) => {
            // A name from DNS that is no host name: nothing to resolve or connect to.
            let message = format!("{}: unusable MX host name: {e}", host.host);
            let name = format!("{}:{port}", host.host);
            let report = Report::without_session(name, start.wall, Cause::DnsFailure, Phase::Resolve, message);
            return (vec![report], lookups.lookup(tlsa_name, RecordType::Tlsa).await);
        }
    };
    let limit = config.probe.mx_limits().addresses_per_host;
    let addresses = async {
        match override_addr {
            Some(addr) => Ok(vec![addr.ip()]),
            None => host_addresses(lookups, &host.host, host_config.address_family(), limit).await,
        }
    };
    let (tlsa, addresses) = tokio::join!(lookups.lookup(tlsa_name, RecordType::Tlsa), addresses);
    // Secure, usable TLSA records: the probe judges its own handshake by them, as DANE senders do.
    let now_unix = start.wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let host_config = match DanePolicy::for_host(&host.host, &tlsa, now_unix) {
        Some(policy) => host_config.with_tls_policy(std::sync::Arc::new(policy)),
        None => host_config,
    };
    let resolve = Prefetched(std::sync::Mutex::new(Some(addresses)));
    let mut dialer = Dialer::new(&host_config, start);
    crate::run(&mut dialer, &resolve).await;
    (dialer.into_reports(), tlsa)
}

/// The addresses of an MX host, looked up before its [`Dialer`] asks (it asks once).
struct Prefetched(std::sync::Mutex<Option<Result<Vec<IpAddr>, ResolveFailure>>>);

impl crate::Resolve for Prefetched {
    fn resolve(
        &self,
        _: &Target,
        _: AddressFamily,
        _: Instant,
    ) -> impl std::future::Future<Output = Result<Vec<IpAddr>, ResolveFailure>> + Send {
        let taken = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        std::future::ready(
            taken.unwrap_or_else(|| Err(ResolveFailure::Failed("the addresses were already used".into()))),
        )
    }
}

/// Validated A/AAAA lookups of an MX host (the families the policy asks for), at most `limit` addresses. Empty
/// when the name exists without addresses.
async fn host_addresses(
    lookups: &Lookups<'_>,
    host: &str,
    family: AddressFamily,
    limit: usize,
) -> Result<Vec<IpAddr>, ResolveFailure> {
    let want_v4 = family != AddressFamily::Ipv6Only;
    let want_v6 = family != AddressFamily::Ipv4Only;
    let v4 = async { if want_v4 { Some(lookups.lookup(host.to_owned(), RecordType::A).await) } else { None } };
    let v6 = async { if want_v6 { Some(lookups.lookup(host.to_owned(), RecordType::Aaaa).await) } else { None } };
    let (v4, v6) = tokio::join!(v4, v6);
    let answers: Vec<RecordLookup> = [v4, v6].into_iter().flatten().collect();
    let mut ips: Vec<IpAddr> = answers.iter().flat_map(|a| a.records()).filter_map(|r| r.parse().ok()).collect();
    ips.truncate(limit.max(1));
    if !ips.is_empty() {
        return Ok(ips);
    }
    if answers.iter().any(|a| a.answer == Answer::NxDomain) {
        return Err(ResolveFailure::Failed("no such host (NXDOMAIN)".into()));
    }
    match answers.iter().find_map(|a| a.failed().map(str::to_owned)) {
        Some(why) if why.contains("deadline") => Err(ResolveFailure::TimedOut),
        Some(why) => Err(ResolveFailure::Failed(why)),
        None => Ok(Vec::new()),
    }
}

/// The addresses of `host` from validated A and AAAA lookups.
async fn addresses(lookups: &Lookups<'_>, host: &str) -> Result<Vec<IpAddr>, String> {
    let (a, aaaa) =
        tokio::join!(lookups.lookup(host.to_owned(), RecordType::A), lookups.lookup(host.to_owned(), RecordType::Aaaa));
    let ips: Vec<IpAddr> = a.records().iter().chain(aaaa.records()).filter_map(|r| r.parse().ok()).collect();
    if !ips.is_empty() {
        return Ok(ips);
    }
    match (a.failed(), &a.answer) {
        (Some(why), _) => Err(why.to_owned()),
        (None, Answer::NxDomain) => Err("no such host (NXDOMAIN)".into()),
        _ => Err("the host has no address".into()),
    }
}

/// Drives the sans-IO SPF check through the validating resolver, each query once (the check bounds its own
/// queries: [`SpfLimits`](smtp_probe_proto::policy::spf::SpfLimits)).
async fn run_spf(mut check: SpfCheck, lookups: &Lookups<'_>) -> SpfReport {
    loop {
        let query = match check.poll() {
            SpfPoll::Done(report) => return report.clone(),
            SpfPoll::Lookup(query) => query.clone(),
        };
        let rtype = match query.qtype {
            QueryType::Txt => RecordType::Txt,
            QueryType::A => RecordType::A,
            QueryType::Aaaa => RecordType::Aaaa,
            QueryType::Mx => RecordType::Mx,
        };
        let result = lookups.lookup(query.name.clone(), rtype).await;
        let answer = match &result.answer {
            Answer::Records(records) => match query.qtype {
                QueryType::Txt => SpfAnswer::txt(records),
                QueryType::A | QueryType::Aaaa => {
                    SpfAnswer::Addresses(records.iter().filter_map(|r| r.parse().ok()).collect())
                }
                QueryType::Mx => SpfAnswer::Exchanges(
                    records.iter().filter_map(|r| r.split_once(' ').map(|(_, e)| e.to_owned())).collect(),
                ),
            },
            Answer::NxDomain => SpfAnswer::NxDomain,
            Answer::Failed(why) => SpfAnswer::Failed(why.clone()),
            _ => SpfAnswer::NoData,
        };
        // The answer is of the query's type by construction.
        let _ = check.handle_answer(answer);
    }
}
