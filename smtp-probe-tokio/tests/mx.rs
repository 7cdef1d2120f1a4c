//! MX mode end to end, on loopback only: a tiny authoritative DNS server on 127.0.0.1
//! (`smtp_probe_testserver::dns`) answers for a few `.test` domains, and test SMTP servers listen on 127.0.0.1-5
//! (and ::1) on one port chosen at runtime. The resolver is pointed at that DNS server only; the system resolver is
//! never asked. MX hosts come from DNS, so loopback addresses are denied unless the configuration allows them: the
//! fixture allows them, one test checks the denial.
#![cfg(feature = "mx")]

use std::time::{Duration, Instant};

use smtp_probe_testserver::dns::{LATE, MX1, MX2, MxWorld, REFUSING, REJECTING, RecordType};
use smtp_probe_tokio::hickory_resolver::TokioResolver;
use smtp_probe_tokio::proto::ProbeConfigBuilder;
use smtp_probe_tokio::{
    AddressFamily, AddressPolicy, Cause, Domain, DomainError, MxLimits, MxReport, ProbeConfig, Target, TlsConfig,
    TlsMode, Verdict, probe_mx_with_resolver,
};

// The shared loopback world: SMTP servers on 127.0.0.1-4 (one port) and the DNS zone that names them.

struct Fixture {
    world: MxWorld,
    resolver: TokioResolver,
}

impl std::ops::Deref for Fixture {
    type Target = MxWorld;
    fn deref(&self) -> &MxWorld {
        &self.world
    }
}

impl Fixture {
    fn start() -> Fixture {
        let world = MxWorld::start().unwrap();
        let resolver = smtp_probe_tokio::single_server_resolver(world.dns.addr());
        Fixture { world, resolver }
    }

    /// A configuration whose target is the domain on the test servers' port: every MX host is probed there, its
    /// loopback addresses allowed.
    fn builder(&self, domain: &str) -> ProbeConfigBuilder {
        ProbeConfig::builder(Target::new(domain, self.port).unwrap())
            .address_policy(loopback_allowed())
            .tls(TlsMode::None)
            .ehlo_name("probe.test")
            .connect_timeout(Duration::from_secs(5))
            .overall_timeout(Duration::from_secs(20))
    }

    fn config(&self) -> ProbeConfig {
        self.builder("example.test").build().unwrap()
    }

    async fn probe(&self, domain: &str, config: &ProbeConfig) -> MxReport {
        probe_mx_with_resolver(&self.resolver, &domain.parse().unwrap(), config).await
    }
}

fn loopback_allowed() -> AddressPolicy {
    AddressPolicy::default().allow("127.0.0.0/8").unwrap().allow("::1").unwrap()
}

fn hosts(report: &MxReport) -> Vec<(u16, &str, Verdict)> {
    report.hosts.iter().map(|h| (h.preference, h.host.as_str(), h.verdict)).collect()
}

// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_mx_hosts_up_in_preference_order() {
    let f = Fixture::start();
    let report = f.probe("two.test", &f.config()).await;
    assert_eq!(report.domain.as_str(), "two.test");
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
    assert!(!report.null_mx && !report.implicit_mx);
    assert_eq!(hosts(&report), [(10, "mx1.two.test", Verdict::Up), (20, "mx2.two.test", Verdict::Up)]);
    for (host, ip, banner) in [(&report.hosts[0], MX1, "mx1.two.test"), (&report.hosts[1], MX2, "mx2.two.test")] {
        assert_eq!(host.reports.len(), 1);
        let r = &host.reports[0];
        assert_eq!(r.target, format!("{}:{}", host.host, f.port), "reports name the host and port probed");
        assert_eq!(r.address.as_deref(), Some(f.addr(ip).as_str()));
        assert!(r.greeting.as_ref().unwrap().text_lossy().contains(banner));
    }
    assert_eq!((f.mx1.connections(), f.mx2.connections()), (1, 1));
    // Every name went through the test DNS server.
    assert!(f.dns.asked("two.test", RecordType::MX));
    assert!(f.dns.asked("mx1.two.test", RecordType::A));
    assert!(f.dns.asked("mx2.two.test", RecordType::AAAA));
}

#[tokio::test]
async fn a_down_backup_mx_is_degraded() {
    let f = Fixture::start();
    let report = f.probe("backup-down.test", &f.config()).await;
    assert_eq!(hosts(&report), [(10, "mx1.two.test", Verdict::Up), (20, "rejecting.test", Verdict::Down)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::GreetingRejected)));
    let backup = &report.hosts[1].reports[0];
    assert_eq!(backup.address.as_deref(), Some(f.addr(REJECTING).as_str()));
    assert_eq!(backup.cause, Some(Cause::GreetingRejected));
    assert!(report.summary().contains("rejecting.test (preference 20) is down"), "{}", report.summary());
    assert_eq!(f.rejecting.connections(), 1);
}

#[tokio::test]
async fn a_down_primary_mx_with_a_working_backup_is_degraded_with_the_primary_cause() {
    let f = Fixture::start();
    let report = f.probe("primary-down.test", &f.config()).await;
    assert_eq!(hosts(&report), [(10, "refusing.test", Verdict::Down), (20, "mx2.two.test", Verdict::Up)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::ConnectRefused)));
    assert_eq!(report.hosts[0].reports[0].address.as_deref(), Some(f.addr(REFUSING).as_str()));
}

#[tokio::test]
async fn every_mx_down_is_down_with_the_best_preference_cause() {
    let f = Fixture::start();
    let report = f.probe("all-down.test", &f.config()).await;
    assert_eq!(hosts(&report), [(5, "refusing.test", Verdict::Down), (10, "rejecting.test", Verdict::Down)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectRefused)));
    assert_eq!(report.hosts[1].cause, Some(Cause::GreetingRejected));
}

#[tokio::test]
async fn null_mx_probes_nothing_and_is_down() {
    let f = Fixture::start();
    let report = f.probe("null.test.", &f.config()).await;
    assert!(report.null_mx && !report.implicit_mx);
    assert!(report.hosts.is_empty());
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
    assert!(report.summary().contains("null MX"), "{}", report.summary());
    assert!(!f.dns.asked("null.test", RecordType::A));
    assert_eq!(f.mx1.connections(), 0);
}

#[tokio::test]
async fn no_mx_records_probe_the_domain_itself() {
    let f = Fixture::start();
    let report = f.probe("implicit.test", &f.config()).await;
    assert!(report.implicit_mx && !report.null_mx);
    assert_eq!(hosts(&report), [(0, "implicit.test", Verdict::Up)]);
    assert_eq!(report.hosts[0].reports[0].address.as_deref(), Some(f.addr(MX2).as_str()));
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None));

    // No MX and no address either.
    let report = f.probe("bare.test", &f.config()).await;
    assert!(report.implicit_mx);
    assert_eq!(hosts(&report), [(0, "bare.test", Verdict::Down)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
}

#[tokio::test]
async fn nxdomain_servfail_and_dangling_mx_are_dns_failures() {
    let f = Fixture::start();
    let report = f.probe("nxdomain.test", &f.config()).await;
    assert!(!report.null_mx && !report.implicit_mx && report.hosts.is_empty());
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
    assert!(report.summary().contains("NXDOMAIN"), "{}", report.summary());

    // SERVFAIL is not "no MX records": no implicit MX.
    let report = f.probe("servfail.test", &f.config()).await;
    assert!(!report.implicit_mx && report.hosts.is_empty());
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));

    // The MX host does not exist.
    let report = f.probe("dangling.test", &f.config()).await;
    assert_eq!(hosts(&report), [(10, "missing.test", Verdict::Down)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
    let host = &report.hosts[0].reports[0];
    assert!(host.summary().contains("missing.test"), "{}", host.summary());
}

#[tokio::test]
async fn each_mx_host_is_verified_against_its_own_name() {
    let f = Fixture::start();
    let tls = TlsConfig::builder().add_ca_pem("test CA", f.pki.ca_pem().as_bytes()).unwrap().build().unwrap();
    let config = f.builder("two.test").tls(TlsMode::StartTlsRequired).tls_config(tls).build().unwrap();
    let report = f.probe("two.test", &config).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
    for host in &report.hosts {
        let tls = host.reports[0].tls.as_ref().expect("TLS was negotiated");
        assert_eq!(tls.verified_name.as_deref(), Some(host.host.as_str()));
        assert!(tls.verified);
    }
}

#[tokio::test]
async fn both_families_give_one_report_each() {
    let f = Fixture::start();
    if f.v6.is_none() {
        eprintln!("skipped: cannot bind [::1]");
        return;
    }
    let config = f.builder("dual.test").address_family(AddressFamily::Both).build().unwrap();
    let report = f.probe("dual.test", &config).await;
    assert_eq!(hosts(&report), [(10, "dual.test", Verdict::Up)]);
    let addresses: Vec<_> = report.hosts[0].reports.iter().map(|r| r.address.clone().unwrap()).collect();
    assert_eq!(addresses, [f.addr(MX1), format!("[::1]:{}", f.port)]);

    // A single family only asks for its records.
    let config = f.builder("dual.test").address_family(AddressFamily::Ipv6Only).build().unwrap();
    let report = f.probe("dual.test", &config).await;
    assert_eq!(report.hosts[0].reports.len(), 1);
    assert_eq!(report.hosts[0].reports[0].address.as_deref(), Some(format!("[::1]:{}", f.port).as_str()));
}

#[test]
fn a_domain_that_is_not_one_cannot_be_probed() {
    // MX mode takes a `Domain`, so these are refused before any lookup.
    assert_eq!("".parse::<Domain>(), Err(DomainError::Empty));
    assert!(matches!("192.0.2.1".parse::<Domain>(), Err(DomainError::IpAddress { .. })));
    assert!(matches!("a b.test".parse::<Domain>(), Err(DomainError::ForbiddenByte { byte: b' ' })));
    assert!(matches!("user@two.test".parse::<Domain>(), Err(DomainError::InvalidName { .. })));
}

// The bounds and the address policy.

#[tokio::test]
async fn mx_hosts_on_loopback_are_denied_unless_allowed() {
    let f = Fixture::start();
    let config = f.builder("two.test").address_policy(AddressPolicy::default()).build().unwrap();
    let report = f.probe("two.test", &config).await;
    assert_eq!(hosts(&report), [(10, "mx1.two.test", Verdict::Down), (20, "mx2.two.test", Verdict::Down)]);
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::AddressDenied)), "{}", report.summary());
    let host = &report.hosts[0].reports[0];
    assert_eq!(
        host.summary(),
        "down: address_denied (connect): address 127.0.0.1 of mx1.two.test is denied by the address policy (loopback)"
    );
    assert_eq!(host.address, None);
    assert_eq!((f.mx1.connections(), f.mx2.connections()), (0, 0), "nothing was contacted");
    // Allowing one address allows that one only.
    let config = f.builder("two.test").address_policy(AddressPolicy::default().allow("127.0.0.2").unwrap()).build();
    let report = f.probe("two.test", &config.unwrap()).await;
    assert_eq!(hosts(&report), [(10, "mx1.two.test", Verdict::Down), (20, "mx2.two.test", Verdict::Up)]);
    assert_eq!((f.mx1.connections(), f.mx2.connections()), (0, 1));
}

#[tokio::test]
async fn twelve_mx_hosts_ten_probed_two_listed() {
    let f = Fixture::start();
    let report = f.probe("twelve.test", &f.config()).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
    assert_eq!(report.hosts.len(), 10);
    assert_eq!(report.hosts[9].host, "h10.twelve.test");
    let listed: Vec<(u16, &str)> = report.not_probed.iter().map(|h| (h.preference, h.host.as_str())).collect();
    assert_eq!(listed, [(110, "h11.twelve.test"), (120, "h12.twelve.test")]);
    assert!(report.findings.iter().any(|f| f.message.contains("has 12 MX hosts: the first 10 were probed")));
    assert_eq!(f.mx2.connections(), 10, "ten probes, no more");
    assert!(!f.dns.asked("h11.twelve.test", RecordType::A), "a host not probed is not even resolved");
    // The limit is the configuration's.
    let limits = MxLimits { hosts: 3, ..MxLimits::default() };
    let report = f.probe("twelve.test", &f.builder("twelve.test").mx_limits(limits).build().unwrap()).await;
    assert_eq!((report.hosts.len(), report.not_probed.len()), (3, 9));
}

#[tokio::test]
async fn addresses_per_host_are_capped() {
    let f = Fixture::start();
    let limits = MxLimits { addresses_per_host: 3, ..MxLimits::default() };
    let report = f.probe("eight.test", &f.builder("eight.test").mx_limits(limits).build().unwrap()).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectRefused)), "{}", report.summary());
    let host = &report.hosts[0].reports[0];
    let tried = host.findings[0].message.matches("Connection refused").count();
    assert_eq!(tried, 3, "{}", host.findings[0].message);
    assert!(
        host.findings
            .iter()
            .any(|f| f.message == "eight.test has 8 addresses: only the first 3 are tried (the limit per host)")
    );
    // By default five.
    let report = f.probe("eight.test", &f.config()).await;
    assert_eq!(report.hosts[0].reports[0].findings[0].message.matches("Connection refused").count(), 5);
}

/// A check of `domain` with a `deadline` overall timeout, and how long it took.
async fn timed(f: &Fixture, domain: &str, deadline: Duration, limits: MxLimits) -> (MxReport, Duration) {
    let config = f.builder(domain).overall_timeout(deadline).connect_timeout(deadline).mx_limits(limits).build();
    let started = Instant::now();
    let report = f.probe(domain, &config.unwrap()).await;
    (report, started.elapsed())
}

const DEADLINE: Duration = Duration::from_millis(1500);
const SLACK: Duration = Duration::from_millis(250);

#[tokio::test]
async fn one_deadline_bounds_the_mx_lookup() {
    let f = Fixture::start();
    let (report, took) = timed(&f, "hung.test", DEADLINE, MxLimits::default()).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)), "{}", report.summary());
    assert!(report.summary().contains("no answer before the deadline"), "{}", report.summary());
    assert!(took >= DEADLINE && took <= DEADLINE + SLACK, "took {took:?}");
}

#[tokio::test]
async fn one_deadline_for_the_lookup_and_the_hosts() {
    // The MX answer comes 600 ms late and the host never greets: the whole check still ends at the deadline.
    let f = Fixture::start();
    let (report, took) = timed(&f, "late.test", DEADLINE, MxLimits::default()).await;
    assert_eq!(hosts(&report), [(10, "hanging.test", Verdict::Down)]);
    assert_eq!(report.cause, Some(Cause::GreetingTimeout), "{}", report.summary());
    assert!(took >= DEADLINE && took <= DEADLINE + SLACK, "took {took:?}, the MX answer took {LATE:?}");
    assert_eq!(f.hanging.connections(), 1);
}

#[tokio::test]
async fn connections_at_once_are_capped() {
    // Six silent hosts, two connections at a time: the first two hold their slots until the deadline, so the others
    // never get a turn, and say so.
    let f = Fixture::start();
    let limits = MxLimits { concurrent: 2, ..MxLimits::default() };
    let (report, took) = timed(&f, "crowd.test", DEADLINE, limits).await;
    assert!(took <= DEADLINE + SLACK, "took {took:?}");
    assert_eq!(report.hosts.len(), 6);
    let causes: Vec<Option<Cause>> = report.hosts.iter().map(|h| h.cause).collect();
    assert_eq!(causes[..2], [Some(Cause::GreetingTimeout); 2]);
    assert_eq!(causes[2..], [Some(Cause::DnsFailure); 4], "{:#?}", report.hosts[2].reports);
    assert!(report.hosts[5].reports[0].summary().contains("no time left to resolve it before the overall deadline"));
    assert_eq!(f.hanging.connections(), 2, "never more than two at once, and none after the deadline");
    // Without the cap, all six at once.
    let (report, _) = timed(&f, "crowd.test", DEADLINE, MxLimits::default()).await;
    assert_eq!(f.hanging.connections(), 2 + 5, "five at once by default");
    assert_eq!(report.hosts[5].cause, Some(Cause::DnsFailure));
}
