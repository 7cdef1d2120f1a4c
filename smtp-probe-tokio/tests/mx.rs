//! MX mode end to end, on loopback only: a tiny authoritative DNS server on 127.0.0.1
//! (`smtp_probe_testserver::dns`) answers for a few `.test` domains, and test SMTP servers listen on 127.0.0.1,
//! 127.0.0.2, 127.0.0.3 (and ::1) on one port chosen at runtime. The resolver is pointed at that DNS server only; the
//! system resolver is never asked.
#![cfg(feature = "mx")]

use std::time::Duration;

use smtp_probe_testserver::dns::{MX1, MX2, MxWorld, REFUSING, REJECTING, RecordType};
use smtp_probe_tokio::hickory_resolver::TokioResolver;
use smtp_probe_tokio::proto::ProbeConfigBuilder;
use smtp_probe_tokio::{
    AddressFamily, Cause, Domain, DomainError, MxReport, ProbeConfig, Target, TlsConfig, TlsMode, Verdict,
    probe_mx_with_resolver,
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

    /// A configuration whose target is the domain on the test servers' port: every MX host is probed there.
    fn builder(&self, domain: &str) -> ProbeConfigBuilder {
        ProbeConfig::builder(Target::new(domain, self.port).unwrap())
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
