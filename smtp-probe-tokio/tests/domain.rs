//! The domain check against the real bed: Knot signing the `mail.test` zones (hickory validating from the bed's
//! anchor), the loopback Postfix (valid certificate) and Exim (expired certificate) as MX hosts, and the policy
//! server of the test server crate serving the bed's MTA-STS files over HTTPS. Each test prints `skipped: …`
//! without the bed, and fails with `SMTP_PROBE_REQUIRE_SERVICES=1`.
#![cfg(feature = "domain")]

use std::net::SocketAddr;
use std::time::Duration;

use smtp_probe_proto::domain::fetch::FetchError;
use smtp_probe_proto::policy::Problem;
use smtp_probe_proto::policy::mta_sts::Mode;
use smtp_probe_testserver::domain_bed::{self, DnsEnv, MxServer, Scenario};
use smtp_probe_testserver::policy_server::{self, PolicyServer};
use smtp_probe_testsuite::postfix::{self, PostfixEnv};
use smtp_probe_tokio::domain::{
    Dane, DnssecResolver, DnssecStatus, DomainConfig, DomainOptions, DomainReport, check_domain,
};
use smtp_probe_tokio::proto::connect::{AddressPolicy, Origin};
use smtp_probe_tokio::{Cause, Domain, ProbeConfig, TlsConfig, Verdict};

struct Bed {
    dns: DnsEnv,
    postfix: PostfixEnv,
    exim_port: u16,
    policies: PolicyServer,
}

async fn bed(test: &str) -> Option<Bed> {
    let dns = domain_bed::dns_env_or_skip(test)?;
    let postfix = postfix::env_or_skip(test)?;
    let exim = domain_bed::exim_env_or_skip(test)?;
    let policies = policy_server::start_for_bed(&dns, &postfix.dir).await.expect("the policy server starts");
    Some(Bed { dns, postfix, exim_port: exim.port, policies })
}

impl Bed {
    /// The check of a scenario's domain: validated against Knot from the bed's anchor, MX hosts and the policy
    /// host reached on loopback, the test CA trusted.
    fn config(&self, scenario: Scenario) -> (Domain, DomainConfig) {
        self.config_via(scenario, self.dns.authoritative)
    }

    /// The same, asking `upstream` (Knot, or the validating Unbound) for every answer.
    fn config_via(&self, scenario: Scenario, upstream: SocketAddr) -> (Domain, DomainConfig) {
        let domain: Domain = self.dns.zone(scenario).parse().unwrap();
        let tls = TlsConfig::builder().add_ca_pem("test CA", self.postfix.ca_pem.as_bytes()).unwrap().build().unwrap();
        // MX hosts come from DNS, where loopback addresses are denied: the bed lifts that.
        let loopback = AddressPolicy::new(Origin::Typed).allow("127.0.0.0/8").unwrap().allow("::1").unwrap();
        let probe = ProbeConfig::builder(domain.mx_target())
            .address_policy(loopback)
            .tls_config(tls)
            .ehlo_name("probe.mail.test")
            .overall_timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let resolver = DnssecResolver::with_anchor(&[upstream], &self.dns.trust_anchor).unwrap();
        let mut config =
            DomainConfig::new(probe, resolver).override_host(&format!("mta-sts.{domain}"), self.policies.addr());
        for host in self.dns.postfix_hosts.iter().chain(&self.dns.exim_hosts) {
            let port = match self.dns.server_for(host) {
                Some(MxServer::Exim) => self.exim_port,
                _ => self.postfix.plain_port,
            };
            config = config.override_host(host, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        (domain, config)
    }

    async fn check(&self, scenario: Scenario) -> DomainReport {
        let (domain, config) = self.config(scenario);
        check_domain(&domain, &config).await
    }
}

fn problems(report: &DomainReport) -> Vec<Problem> {
    report.record_findings.iter().map(|f| f.problem).collect()
}

#[tokio::test]
async fn enforce_and_matching_tlsa_is_up() {
    let Some(bed) = bed("enforce_and_matching_tlsa_is_up").await else { return };
    let report = bed.check(Scenario::Good).await;
    assert_eq!(report.verdict, Verdict::Up, "{}\n{:#?}", report.summary(), report.findings);
    assert_eq!(report.policy_mode(), Some(Mode::Enforce));
    assert_eq!(report.records[0].dnssec, DnssecStatus::Secure, "{:?}", report.records[0]);
    // Every MX host of the domain (two in the bed's good zone), each judged.
    assert!(!report.hosts.is_empty() && report.hosts.len() == report.mx.hosts.len(), "{:?}", report.hosts);
    for host in &report.hosts {
        assert!(host.mta_sts.as_ref().is_some_and(|c| c.passed()), "{host:?}");
        assert!(matches!(host.dane, Dane::Authenticated { record: 0, certificate: 0 }), "{:?}", host.dane);
    }
    assert!(report.dane_usable());
    assert!(problems(&report).is_empty(), "{:?}", report.record_findings);
}

#[tokio::test]
async fn enforce_with_an_expired_certificate_is_down() {
    let Some(bed) = bed("enforce_with_an_expired_certificate_is_down").await else { return };
    let report = bed.check(Scenario::ExpiredCert).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::MtaStsViolation)), "{}", report.summary());
    // Without the policy the same host would be up: opportunistic TLS does not judge the certificate.
    assert_eq!(report.mx.verdict, Verdict::Up, "{}", report.mx.summary());
    assert!(report.summary().contains("expired"), "{}", report.summary());
}

#[tokio::test]
async fn testing_mode_is_degraded() {
    let Some(bed) = bed("testing_mode_is_degraded").await else { return };
    let report = bed.check(Scenario::Testing).await;
    assert_eq!(
        (report.verdict, report.cause),
        (Verdict::Degraded, Some(Cause::MtaStsViolation)),
        "{}",
        report.summary()
    );
    assert_eq!(report.policy_mode(), Some(Mode::Testing));
}

#[tokio::test]
async fn a_tlsa_mismatch_is_down() {
    let Some(bed) = bed("a_tlsa_mismatch_is_down").await else { return };
    let report = bed.check(Scenario::TlsaMismatch).await;
    assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DaneMismatch)), "{}", report.summary());
    assert!(matches!(report.hosts[0].dane, Dane::Mismatch { .. }), "{:?}", report.hosts[0].dane);
    // The probe itself judged its handshake by the TLSA records (the core's assessment seam).
    let probe = &report.mx.hosts[0].reports[0];
    assert!(
        probe.findings.iter().any(|f| f.message.contains("DANE (enforce) is not satisfied")),
        "{:#?}",
        probe.findings
    );
}

#[tokio::test]
async fn bogus_signatures_are_down() {
    let Some(bed) = bed("bogus_signatures_are_down").await else { return };
    for scenario in [Scenario::Bogus, Scenario::ExpiredSignatures] {
        let report = bed.check(scenario).await;
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnssecBogus)), "{}", report.summary());
        assert_eq!(report.hosts[0].dane, Dane::Bogus);
    }
}

/// Through a validating resolver (Unbound): secure answers validate here as well, and a bogus TLSA answer arrives as
/// SERVFAIL, which keeps DANE senders away all the same.
#[tokio::test]
async fn a_validating_upstream_gives_the_same_verdicts() {
    let Some(bed) = bed("a_validating_upstream_gives_the_same_verdicts").await else { return };
    let (domain, config) = bed.config_via(Scenario::Good, bed.dns.resolver);
    let good = check_domain(&domain, &config).await;
    assert_eq!(good.verdict, Verdict::Up, "{}", good.summary());
    assert!(good.records.iter().all(|r| r.dnssec == DnssecStatus::Secure), "{:?}", good.records);
    let (domain, config) = bed.config_via(Scenario::Bogus, bed.dns.resolver);
    let bogus = check_domain(&domain, &config).await;
    assert_eq!((bogus.verdict, bogus.cause), (Verdict::Down, Some(Cause::DnsFailure)), "{}", bogus.summary());
    assert!(matches!(bogus.hosts[0].dane, Dane::LookupFailed { .. }), "{:?}", bogus.hosts[0].dane);
}

#[tokio::test]
async fn unsigned_tlsa_records_do_not_count() {
    let Some(bed) = bed("unsigned_tlsa_records_do_not_count").await else { return };
    let report = bed.check(Scenario::Insecure).await;
    assert_eq!(report.hosts[0].dane, Dane::Insecure, "{:?}", report.hosts[0]);
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
}

#[tokio::test]
async fn failing_policy_fetches_are_reported_precisely() {
    let Some(bed) = bed("failing_policy_fetches_are_reported_precisely").await else { return };
    for (scenario, kind) in [
        (Scenario::Policy404, "http_status"),
        (Scenario::PolicyWrongCert, "certificate"),
        (Scenario::PolicyHuge, "too_large"),
    ] {
        let report = bed.check(scenario).await;
        assert_eq!(
            (report.verdict, report.cause),
            (Verdict::Degraded, Some(Cause::PolicyUnavailable)),
            "{scenario:?}: {}",
            report.summary()
        );
        let fetch = report.mta_sts.fetch.as_ref().expect("a fetch");
        let error = fetch.outcome.as_ref().expect_err("no policy");
        assert_eq!(error.kind(), kind, "{scenario:?}: {error}");
        match scenario {
            Scenario::Policy404 => assert_eq!(error, &FetchError::Status(404)),
            Scenario::PolicyWrongCert => {
                let tls = fetch.tls.as_ref().expect("the certificate is reported");
                assert!(!tls.verified && !tls.certificates.is_empty());
            }
            _ => assert!(fetch.body_bytes <= 64 * 1024, "stopped reading: {}", fetch.body_bytes),
        }
    }
}

#[tokio::test]
async fn spf_over_the_lookup_limit_is_reported_not_counted() {
    let Some(bed) = bed("spf_over_the_lookup_limit_is_reported_not_counted").await else { return };
    let report = bed.check(Scenario::Spf11).await;
    let spf = report.spf.as_ref().expect("an SPF check");
    assert_eq!(spf.lookups, 11, "{spf:?}");
    assert!(problems(&report).contains(&Problem::SpfTooManyLookups), "{:?}", report.record_findings);
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    // Strict counts it.
    let (domain, config) = bed.config(Scenario::Spf11);
    let strict = check_domain(&domain, &config.options(DomainOptions::default().strict(true))).await;
    assert_eq!((strict.verdict, strict.cause), (Verdict::Degraded, Some(Cause::RecordProblem)), "{}", strict.summary());
}

#[tokio::test]
async fn dmarc_none_and_missing_tls_rpt_are_findings() {
    let Some(bed) = bed("dmarc_none_and_missing_tls_rpt_are_findings").await else { return };
    let none = bed.check(Scenario::DmarcNone).await;
    assert!(problems(&none).contains(&Problem::DmarcPolicyNone), "{:?}", none.record_findings);
    let no_rpt = bed.check(Scenario::NoTlsRpt).await;
    assert!(problems(&no_rpt).contains(&Problem::TlsRptMissing), "{:?}", no_rpt.record_findings);
    assert_eq!((none.verdict, no_rpt.verdict), (Verdict::Up, Verdict::Up));
}

/// The policy fetch on its own, against the policy server's failing cases (no bed needed: certificates from the
/// test server crate's PKI): what senders refuse is refused, and every framing of a good body is read.
#[tokio::test]
async fn policy_fetches_follow_the_senders_rules() {
    use smtp_probe_testserver::certs::{CertSpec, TestPki};
    use smtp_probe_testserver::policy_server::Behaviour;
    use smtp_probe_tokio::domain::fetch_policy;

    let labels = ["plain", "redirect", "html", "chunked", "close", "teapot", "hugechunked", "hugelength"];
    let dir = std::env::temp_dir().join(format!("smtp-probe-policies-{}", std::process::id()));
    for label in labels {
        let mut body = format!("version: STSv1\r\nmode: enforce\r\nmx: *.{label}.test\r\nmax_age: 604800\r\n");
        if label.starts_with("huge") {
            body.push_str(&format!("x_padding: {}\r\n", "x".repeat(70_000)));
        }
        let path = dir.join(format!("{label}.test/.well-known"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("mta-sts.txt"), body).unwrap();
    }
    let pki = TestPki::new().unwrap();
    let cert = pki.issue(CertSpec::new().names(labels.iter().map(|l| format!("mta-sts.{l}.test")))).unwrap();
    let server = PolicyServer::builder(dir.clone(), cert.cert_chain(), cert.private_key())
        .behaviour("redirect.test", Behaviour::Redirect("https://elsewhere.example/".into()))
        .behaviour("html.test", Behaviour::ContentType("text/html".into()))
        .behaviour("chunked.test", Behaviour::Chunked)
        .behaviour("close.test", Behaviour::UntilClose)
        .behaviour("teapot.test", Behaviour::Status(418))
        .behaviour("hugechunked.test", Behaviour::Chunked)
        .start()
        .await
        .unwrap();
    let tls = TlsConfig::builder().add_ca_pem("test CA", pki.ca_pem().as_bytes()).unwrap().build().unwrap();
    let fetch = |label: &str| {
        let domain: Domain = format!("{label}.test").parse().unwrap();
        let tls = tls.clone();
        let addr = server.addr();
        async move { fetch_policy(&domain, addr, &tls, Duration::from_secs(5)).await }
    };
    for label in ["plain", "chunked", "close"] {
        let report = fetch(label).await;
        let policy = report.policy().unwrap_or_else(|| panic!("{label}: {:?}", report.outcome));
        assert_eq!(policy.mode, Mode::Enforce, "{label}");
        assert!(report.tls.as_ref().is_some_and(|t| t.verified), "{label}: the policy host's certificate is reported");
        assert_eq!(report.status, Some(200));
    }
    let redirect = fetch("redirect").await;
    assert!(
        matches!(&redirect.outcome, Err(FetchError::Redirect { status: 301, location }) if location.contains("elsewhere")),
        "{:?}",
        redirect.outcome
    );
    let html = fetch("html").await;
    assert!(matches!(&html.outcome, Err(FetchError::ContentType(ct)) if ct == "text/html"), "{:?}", html.outcome);
    assert_eq!(fetch("teapot").await.outcome, Err(FetchError::Status(418)));
    for label in ["hugechunked", "hugelength"] {
        let huge = fetch(label).await;
        assert_eq!(huge.outcome, Err(FetchError::TooLarge), "{label}");
        assert!(huge.body_bytes <= 64 * 1024 + 1, "{label}: reading stopped at {}", huge.body_bytes);
    }
    // A certificate from a CA the fetch does not trust: refused, and reported.
    let untrusting =
        TlsConfig::builder().add_ca_pem("other", pki.untrusted_ca_pem().as_bytes()).unwrap().build().unwrap();
    let domain: Domain = "plain.test".parse().unwrap();
    let wrong = fetch_policy(&domain, server.addr(), &untrusting, Duration::from_secs(5)).await;
    assert!(matches!(wrong.outcome, Err(FetchError::Certificate(_))), "{:?}", wrong.outcome);
    assert!(wrong.tls.as_ref().is_some_and(|t| !t.verified && !t.certificates.is_empty()));
    // Nothing listening: a connection failure, not a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let refused = fetch_policy(&domain, closed, &tls, Duration::from_secs(2)).await;
    assert!(matches!(refused.outcome, Err(FetchError::Connect(_))), "{:?}", refused.outcome);
    let _ = std::fs::remove_dir_all(dir);
}
