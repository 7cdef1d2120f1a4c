//! MX mode end to end, on loopback only: a tiny authoritative DNS server on 127.0.0.1
//! (`smtp_probe_testserver::dns`) answers for a few `.test` domains, and test SMTP servers listen on 127.0.0.1,
//! 127.0.0.2, 127.0.0.3 (and ::1) on one port chosen at runtime. The resolver is pointed at that DNS server only; the
//! system resolver is never asked.
#![cfg(feature = "mx")]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use smtp_probe_testserver::dns::{DnsServer, RecordType, Zone};
use smtp_probe_testserver::{CertSpec, Responder, Script, ServerBuilder, TestPki, TestServer};
use smtp_probe_tokio::hickory_resolver::TokioResolver;
use smtp_probe_tokio::{
    AddressFamily, Cause, MxReport, ProbeConfig, TlsConfig, TlsMode, Verdict, probe_mx_with_resolver,
};

/// A resolver that asks this DNS server and nothing else: no system configuration, no hosts file.
fn resolver(dns: &DnsServer) -> TokioResolver {
    smtp_probe_tokio::single_server_resolver(dns.addr())
}

// ---------------------------------------------------------------------------------------------------------
// SMTP servers on several loopback addresses, one port.

const MX1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const MX2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// Greets with 554: down (greeting_rejected).
const REJECTING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// Nothing listens here: down (connect_refused).
const REFUSING: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 4);

struct Fixture {
    dns: DnsServer,
    resolver: TokioResolver,
    port: u16,
    pki: TestPki,
    mx1: TestServer,
    mx2: TestServer,
    rejecting: TestServer,
    _v6: Option<TestServer>,
}

impl Fixture {
    fn start() -> Fixture {
        let pki = TestPki::new().unwrap();
        let cert = |name: &str| pki.issue(CertSpec::new().names([name])).unwrap();
        let responder = |name: &str| Responder::new().hostname(name).cert(&cert(name));
        // All servers share one port, so a single MX `port` reaches each of them by address.
        let (port, mx1, mx2, rejecting) = (0..50)
            .find_map(|_| {
                let mx1 = ServerBuilder::new(responder("mx1.two.test")).bind((MX1, 0).into()).start().ok()?;
                let port = mx1.port();
                let mx2 = ServerBuilder::new(responder("mx2.two.test")).bind((MX2, port).into()).start().ok()?;
                let rejecting = ServerBuilder::new(Script::new().reply("554 5.3.2 rejecting.test not accepting mail"))
                    .bind((REJECTING, port).into())
                    .start()
                    .ok()?;
                std::net::TcpListener::bind((REFUSING, port)).ok()?; // free now, so nothing listens there
                Some((port, mx1, mx2, rejecting))
            })
            .expect("a port free on 127.0.0.1-4");
        let v6 = ServerBuilder::new(responder("dual.test")).bind((Ipv6Addr::LOCALHOST, port).into()).start().ok();

        let mut zone = Zone::default();
        zone.mx("two.test", 20, "mx2.two.test.") // out of order on purpose
            .mx("two.test", 10, "mx1.two.test.")
            .a("mx1.two.test", MX1)
            .a("mx2.two.test", MX2)
            .a("rejecting.test", REJECTING)
            .a("refusing.test", REFUSING)
            .mx("backup-down.test", 10, "mx1.two.test")
            .mx("backup-down.test", 20, "rejecting.test")
            .mx("primary-down.test", 10, "refusing.test")
            .mx("primary-down.test", 20, "mx2.two.test")
            .mx("all-down.test", 5, "refusing.test")
            .mx("all-down.test", 10, "rejecting.test")
            .mx("null.test", 0, ".")
            .a("null.test", MX1) // must not be probed
            .a("implicit.test", MX1)
            .exists("bare.test") // no MX, no address
            .mx("dangling.test", 10, "missing.test")
            .mx("dual.test", 10, "dual.test")
            .a("dual.test", MX1)
            .aaaa("dual.test", Ipv6Addr::LOCALHOST);
        zone.servfail("servfail.test");
        let dns = DnsServer::start(zone).unwrap();
        let resolver = resolver(&dns);
        Fixture { dns, resolver, port, pki, mx1, mx2, rejecting, _v6: v6 }
    }

    fn config(&self) -> ProbeConfig {
        ProbeConfig::builder("unused.test")
            .tls(TlsMode::None)
            .ehlo_name("probe.test")
            .connect_timeout(Duration::from_secs(5))
            .overall_timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }

    async fn probe(&self, domain: &str, config: &ProbeConfig) -> MxReport {
        probe_mx_with_resolver(&self.resolver, domain, self.port, config).await.unwrap()
    }

    fn addr(&self, ip: Ipv4Addr) -> String {
        SocketAddr::from((ip, self.port)).to_string()
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
    assert_eq!(report.domain, "two.test");
    assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "{}", report.summary());
    assert!(!report.null_mx && !report.implicit_mx);
    assert_eq!(hosts(&report), [(10, "mx1.two.test", Verdict::Up), (20, "mx2.two.test", Verdict::Up)]);
    for (host, ip, banner) in [(&report.hosts[0], MX1, "mx1.two.test"), (&report.hosts[1], MX2, "mx2.two.test")] {
        assert_eq!(host.reports.len(), 1);
        let r = &host.reports[0];
        assert_eq!(r.target, host.host);
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
    assert_eq!(report.hosts[0].reports[0].address.as_deref(), Some(f.addr(MX1).as_str()));
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
    let config = ProbeConfig::builder("two.test")
        .tls(TlsMode::StartTlsRequired)
        .tls_config(tls)
        .ehlo_name("probe.test")
        .build()
        .unwrap();
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
    if f._v6.is_none() {
        eprintln!("skipped: cannot bind [::1]");
        return;
    }
    let config =
        ProbeConfig::builder("dual.test").tls(TlsMode::None).address_family(AddressFamily::Both).build().unwrap();
    let report = f.probe("dual.test", &config).await;
    assert_eq!(hosts(&report), [(10, "dual.test", Verdict::Up)]);
    let addresses: Vec<_> = report.hosts[0].reports.iter().map(|r| r.address.clone().unwrap()).collect();
    assert_eq!(addresses, [f.addr(MX1), format!("[::1]:{}", f.port)]);

    // A single family only asks for its records.
    let config =
        ProbeConfig::builder("dual.test").tls(TlsMode::None).address_family(AddressFamily::Ipv6Only).build().unwrap();
    let report = f.probe("dual.test", &config).await;
    assert_eq!(report.hosts[0].reports.len(), 1);
    assert_eq!(report.hosts[0].reports[0].address.as_deref(), Some(format!("[::1]:{}", f.port).as_str()));
}

#[tokio::test]
async fn a_domain_that_is_not_one_is_an_error() {
    let f = Fixture::start();
    for bad in ["", "192.0.2.1", "a b.test", "user@two.test"] {
        assert!(probe_mx_with_resolver(&f.resolver, bad, f.port, &f.config()).await.is_err(), "{bad:?}");
    }
}
