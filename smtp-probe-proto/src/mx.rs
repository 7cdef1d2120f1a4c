//! MX mode, without IO: from a domain and what its MX lookup returned, which hosts to probe, and from their
//! reports one [`MxReport`] for the domain. Adapters resolve (MX, then A/AAAA of each host), probe each host
//! and hand the reports back; the meaning lives here.
//!
//! The rules:
//!
//! - **MX records**: hosts in preference order (lowest first); equal preferences keep the resolver's order
//!   (senders pick among them at random, a monitor wants a stable order). Trailing dots are trimmed, a host
//!   listed twice is probed once, at its best preference.
//! - **No MX records** (the name exists, NODATA): the implicit MX of RFC 5321 §5.1, the domain itself at
//!   preference 0, flagged [`MxReport::implicit_mx`]. If the domain has no address either, that host's report
//!   is a `dns_failure`.
//! - **Null MX** (RFC 7505, a single MX record whose exchange is `.`): nothing is probed; the report is
//!   **down** with cause `dns_failure` and [`MxReport::null_mx`] set. Someone who checks a domain in MX mode
//!   wants to know whether mail to it can be delivered, and with a null MX it cannot: every sender bounces at
//!   once (`556 5.1.10`). That is decided entirely in DNS before any server is contacted, hence `dns_failure`
//!   (the cause vocabulary is fixed); `null_mx` tells it apart from a lookup that failed, so a domain that
//!   deliberately receives no mail can be recognised (and should not be monitored in MX mode). A `.` mixed
//!   with real MX records breaks RFC 7505 §3; it is skipped (senders cannot deliver to it either) and noted.
//! - **NXDOMAIN**, or a lookup that failed (SERVFAIL, refused, no answer): down, `dns_failure`, no hosts.
//! - **Aggregate verdict** over the hosts, each host's verdict being the worst of its reports (with
//!   [`AddressFamily::Both`](crate::AddressFamily::Both) every family of a host must work, as in a single
//!   probe):
//!   - **up** when every host is up;
//!   - **degraded** when at least one host is not down (mail still flows, maybe only through a backup MX) but
//!     not every host is up;
//!   - **down** when every host is down: no MX host can take mail.
//!
//!   The cause is that of the best-preference host that is not up: the one senders try first.
//! - **Bounds** ([`MxLimits`], from the configuration): at most 10 hosts are probed, in preference order; the
//!   others are listed in [`MxReport::not_probed`] and left out of the verdict. Each host gets at most 5 addresses
//!   tried (per family with [`AddressFamily::Both`](crate::AddressFamily::Both)), at most 5 connections are open at
//!   once, and one deadline — the configured overall timeout, started before the MX lookup — bounds the whole
//!   check, lookups included.
//! - **Address policy**: MX hosts come from DNS, so the address policy's built-in denials (loopback, link-local,
//!   unspecified, cloud metadata) apply to their addresses ([`Origin::Dns`]); the
//!   configuration's allow and deny lists are kept.

use core::fmt;

use crate::config::ProbeConfig;
use crate::connect::Origin;
use crate::name::Domain;
use crate::report::{Cause, Finding, Phase, Report, Severity, Verdict};
use crate::target::TargetError;

/// The bounds of MX mode ([`ProbeConfigBuilder::mx_limits`](crate::ProbeConfigBuilder::mx_limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MxLimits {
    /// MX hosts probed, best preference first; the rest are listed as not probed. Default 10.
    pub hosts: usize,
    /// Addresses tried per host (per address family with `Both`). Default 5, as Postfix's
    /// `smtp_mx_address_limit`.
    pub addresses_per_host: usize,
    /// Connections open at once (one per host being probed). Default 5.
    pub concurrent: usize,
}

impl Default for MxLimits {
    fn default() -> MxLimits {
        MxLimits { hosts: 10, addresses_per_host: 5, concurrent: 5 }
    }
}

/// One MX record as the resolver returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxRecord {
    /// The preference: lower is tried first.
    pub preference: u16,
    /// The exchange host, with or without its trailing dot; `.` (or empty) is the null MX target.
    pub exchange: String,
}

impl MxRecord {
    /// A record from its parts.
    pub fn new(preference: u16, exchange: impl Into<String>) -> MxRecord {
        MxRecord { preference, exchange: exchange.into() }
    }
}

/// What the MX lookup of a domain said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MxAnswer {
    /// MX records, in the order the resolver returned them. An empty list counts as [`MxAnswer::NoData`].
    Records(Vec<MxRecord>),
    /// The name exists but has no MX records (NOERROR with an empty answer): the implicit MX applies.
    NoData,
    /// The name does not exist (NXDOMAIN).
    NxDomain,
    /// No usable answer: SERVFAIL, REFUSED, a timeout, no resolver configuration. The text says which.
    Failed(String),
}

/// A host to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MxHost {
    /// Its MX preference (0 for the implicit MX).
    pub preference: u16,
    /// The host name, without a trailing dot.
    pub host: String,
}

/// What to do for a domain, decided from its MX answer by [`MxPlan::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxPlan {
    /// Probe these hosts, then hand the reports to [`MxProbe::finish`].
    Probe(MxProbe),
    /// Nothing to probe (null MX, NXDOMAIN, failed lookup): this is the result.
    Done(MxReport),
}

#[cfg_attr(
    feature = "rustls",
    doc = "The hosts of a domain to probe, in preference order: run [`MxProbe::dialers`] (at most"
)]
#[cfg_attr(
    not(feature = "rustls"),
    doc = "The hosts of a domain to probe, in preference order: run `MxProbe::dialers` (feature `rustls`; at most"
)]
/// [`MxLimits::concurrent`] at once), then hand their reports to [`MxProbe::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxProbe {
    /// The domain.
    pub domain: Domain,
    /// Whether the host is the domain itself because it has no MX records.
    pub implicit_mx: bool,
    /// Every host, best preference first (those past [`MxLimits::hosts`] included). Never empty.
    pub hosts: Vec<MxHost>,
    findings: Vec<Finding>,
}

/// One MX host and every report made for it (one per address group of the address-family policy).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct MxHostReport {
    /// Its MX preference (0 for the implicit MX).
    pub preference: u16,
    /// The host name, without a trailing dot.
    pub host: String,
    /// The worst verdict of its reports (down when there are none).
    pub verdict: Verdict,
    /// The cause of the first report with that verdict.
    pub cause: Option<Cause>,
    /// The reports, as the adapter made them.
    pub reports: Vec<Report>,
}

impl MxHostReport {
    /// A host's result from its reports.
    pub fn new(host: MxHost, reports: Vec<Report>) -> MxHostReport {
        let (verdict, cause) = match reports.iter().max_by_key(|r| r.verdict) {
            // max_by_key returns the last maximum; the cause is that of the first.
            Some(worst) => (worst.verdict, reports.iter().find(|r| r.verdict == worst.verdict).and_then(|r| r.cause)),
            None => (Verdict::Down, None),
        };
        MxHostReport { preference: host.preference, host: host.host, verdict, cause, reports }
    }
}

/// The result of MX mode for a domain. With the `serde` feature it serializes as the documented JSON object (the
/// crate's `JSON-SCHEMA.md`, "MX domain"), the domain under `mx`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MxReport {
    /// The domain.
    pub domain: Domain,
    /// The aggregate verdict (see the [module documentation](self)).
    pub verdict: Verdict,
    /// The primary cause: that of the best-preference host that is not up, or `dns_failure` when nothing
    /// could be probed; `None` when up.
    pub cause: Option<Cause>,
    /// The domain publishes a null MX (RFC 7505): it accepts no mail. Nothing was probed.
    pub null_mx: bool,
    /// The domain has no MX records; its own address was probed (RFC 5321 §5.1).
    pub implicit_mx: bool,
    /// Every host probed, best preference first.
    pub hosts: Vec<MxHostReport>,
    /// The hosts past [`MxLimits::hosts`], in preference order: listed, not probed, not counted in the verdict.
    pub not_probed: Vec<MxHost>,
    /// What was decided and why, in order: DNS outcomes, skipped records, hosts that are not up. The first
    /// finding of the highest severity carries the verdict's cause, as in a [`Report`].
    pub findings: Vec<Finding>,
}

impl MxReport {
    /// The report for a domain whose MX records could not be looked up at all (no resolver configuration, a
    /// lookup that failed before any answer): down, `dns_failure`, no hosts.
    pub fn lookup_failed(domain: &Domain, why: &str) -> MxReport {
        let finding = dns_failure(format!("MX lookup for {domain} failed: {why}"));
        MxReport::new(domain.clone(), vec![finding])
    }

    fn new(domain: Domain, findings: Vec<Finding>) -> MxReport {
        let mut report = MxReport {
            domain,
            verdict: Verdict::Up,
            cause: None,
            null_mx: false,
            implicit_mx: false,
            hosts: Vec::new(),
            not_probed: Vec::new(),
            findings: Vec::new(),
        };
        for finding in findings {
            report.add_finding(finding);
        }
        report
    }

    fn add_finding(&mut self, finding: Finding) {
        crate::report::record_finding(&mut self.verdict, &mut self.cause, &mut self.findings, finding);
    }

    /// The finding that set the verdict, if the domain is not up.
    pub fn primary_finding(&self) -> Option<&Finding> {
        crate::report::primary_finding(self.verdict, &self.findings)
    }

    /// One line for people: `degraded: connect_refused (connect): mx1.example.com (preference 10) is down: ...`.
    pub fn summary(&self) -> String {
        match self.primary_finding() {
            None => format!("{}: all {} MX host(s) of {} are up", self.verdict, self.hosts.len(), self.domain),
            Some(f) => crate::report::verdict_line(self.verdict, f),
        }
    }
}

impl fmt::Display for MxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

fn trim_dot(name: &str) -> &str {
    name.trim().strip_suffix('.').unwrap_or(name.trim())
}

fn info(message: String) -> Finding {
    Finding { severity: Severity::Info, cause: None, phase: Some(Phase::Resolve), message, server_text: None }
}

fn dns_failure(message: String) -> Finding {
    Finding {
        severity: Severity::Critical,
        cause: Some(Cause::DnsFailure),
        phase: Some(Phase::Resolve),
        message,
        server_text: None,
    }
}

impl MxPlan {
    /// Decides what to probe for `domain` from its MX answer (the rules are in the [module documentation](self)).
    pub fn new(domain: &Domain, answer: MxAnswer) -> MxPlan {
        decide(domain.clone(), answer)
    }
}

fn decide(domain: Domain, answer: MxAnswer) -> MxPlan {
    let records = match answer {
        MxAnswer::NxDomain => {
            let finding = dns_failure(format!("{domain} does not exist (NXDOMAIN)"));
            return MxPlan::Done(MxReport::new(domain, vec![finding]));
        }
        MxAnswer::Failed(why) => return MxPlan::Done(MxReport::lookup_failed(&domain, &why)),
        MxAnswer::Records(records) if !records.is_empty() => records,
        MxAnswer::Records(_) | MxAnswer::NoData => {
            let finding = info(format!("{domain} has no MX records: its own address is probed (implicit MX)"));
            return MxPlan::Probe(MxProbe {
                hosts: vec![MxHost { preference: 0, host: domain.as_str().to_owned() }],
                domain,
                implicit_mx: true,
                findings: vec![finding],
            });
        }
    };

    let (null, mut real): (Vec<MxRecord>, Vec<MxRecord>) =
        records.into_iter().partition(|r| trim_dot(&r.exchange).is_empty());
    if real.is_empty() {
        // Only null MX records: the domain accepts no mail.
        let mut findings = Vec::new();
        if null.len() > 1 || null[0].preference != 0 {
            findings.push(info(format!(
                "the null MX of {domain} should be a single record with preference 0 (RFC 7505 §3)"
            )));
        }
        findings.push(dns_failure(format!(
            "{domain} publishes a null MX (RFC 7505): it accepts no mail, senders bounce it at once"
        )));
        let mut report = MxReport::new(domain, findings);
        report.null_mx = true;
        return MxPlan::Done(report);
    }

    let mut findings = Vec::new();
    if !null.is_empty() {
        findings.push(info(format!(
            "{domain} mixes a null MX ('.') with other MX records (RFC 7505 §3); the '.' record is skipped"
        )));
    }
    real.sort_by_key(|r| r.preference); // stable: ties keep the resolver's order
    let mut hosts: Vec<MxHost> = Vec::with_capacity(real.len());
    for record in real {
        let host = trim_dot(&record.exchange);
        if hosts.iter().any(|h| h.host.eq_ignore_ascii_case(host)) {
            findings.push(info(format!("{host} is listed more than once; probed once, at its best preference")));
            continue;
        }
        hosts.push(MxHost { preference: record.preference, host: host.to_owned() });
    }
    MxPlan::Probe(MxProbe { domain, implicit_mx: false, hosts, findings })
}

impl MxProbe {
    /// One [`Dialer`](crate::connect::Dialer) per host to probe: the first [`MxLimits::hosts`] of `config`, in
    /// preference order, each with `config` retargeted to it ([`host_config`]), at most
    /// [`MxLimits::addresses_per_host`] addresses, and the one deadline of `start` (taken before the MX lookup). A
    /// host name from DNS that is not a valid name gets a dialer that is already done, with a `dns_failure`.
    ///
    /// Run at most [`MxLimits::concurrent`] of them at once, and hand their reports to [`finish`](Self::finish) in
    /// this order.
    #[cfg(feature = "rustls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
    pub fn dialers(&self, config: &ProbeConfig, start: crate::connect::ProbeStart) -> Vec<crate::connect::Dialer> {
        use crate::connect::Dialer;
        let limits = config.mx_limits();
        self.hosts
            .iter()
            .take(limits.hosts)
            .map(|host| match host_config(config, host) {
                Ok(config) => Dialer::new(&config, start).with_address_limit(limits.addresses_per_host),
                Err(e) => {
                    // A name from DNS that is no host name: nothing to resolve or connect to.
                    let message = format!("{}: unusable MX host name: {e}", host.host);
                    let name = format!("{}:{}", host.host, config.target().port());
                    let report = Report::without_session(name, start.wall, Cause::DnsFailure, Phase::Resolve, message);
                    Dialer::finished(config, start, report)
                }
            })
            .collect()
    }

    /// The report for the domain from each probed host's reports, in the order of [`MxProbe::hosts`]: the hosts
    /// past the last list of reports are listed as [not probed](MxReport::not_probed).
    ///
    /// # Panics
    ///
    /// If there are more lists of reports than hosts.
    pub fn finish(self, reports: Vec<Vec<Report>>) -> MxReport {
        assert!(reports.len() <= self.hosts.len(), "at most one list of reports per MX host");
        let mut hosts = self.hosts;
        let not_probed = hosts.split_off(reports.len());
        let hosts: Vec<MxHostReport> =
            hosts.into_iter().zip(reports).map(|(host, reports)| MxHostReport::new(host, reports)).collect();
        let mut report = MxReport::new(self.domain, self.findings);
        report.implicit_mx = self.implicit_mx;
        if !not_probed.is_empty() {
            let listed: Vec<String> =
                not_probed.iter().map(|h| format!("{} (preference {})", h.host, h.preference)).collect();
            report.add_finding(info(format!(
                "{} has {} MX hosts: the first {} were probed; not probed: {}",
                report.domain,
                hosts.len() + not_probed.len(),
                hosts.len(),
                listed.join(", ")
            )));
        }
        report.not_probed = not_probed;
        let working = hosts.iter().filter(|h| h.verdict != Verdict::Down).count();
        // Failing hosts in preference order, so the first finding of the top severity is the best-preference one.
        for host in hosts.iter().filter(|h| h.verdict != Verdict::Up) {
            let what = host.reports.iter().find(|r| r.verdict == host.verdict).and_then(Report::primary_finding);
            let severity = if working > 0 { Severity::Warning } else { Severity::Critical };
            let mut message = format!("{} (preference {}) is {}", host.host, host.preference, host.verdict);
            if let Some(f) = what {
                message.push_str(&format!(": {}", f.message));
            }
            if working > 0 && host.verdict == Verdict::Down {
                message.push_str("; mail still reaches another MX host");
            }
            let phase = host
                .reports
                .iter()
                .find(|r| r.verdict == host.verdict)
                .and_then(|r| r.primary_finding().and_then(|f| f.phase));
            report.add_finding(Finding { severity, cause: host.cause, phase, message, server_text: None });
        }
        if working == 0 {
            // Make the headline say it plainly, after the per-host findings that carry the cause.
            report.findings.push(Finding {
                severity: Severity::Info,
                cause: None,
                phase: None,
                message: format!("no MX host of {} can take mail", report.domain),
                server_text: None,
            });
        }
        report.hosts = hosts;
        report
    }
}

/// The configuration for probing one MX host: `config` retargeted to the host, on the port and with the scheme of
/// `config`'s target; the host is the TLS name (SNI and certificate verification) unless `config` names one
/// explicitly. Everything else is kept. `Err` for a host name from DNS that is not a valid name.
/// Its address policy is that of a name from DNS ([`Origin::Dns`]).
pub fn host_config(config: &ProbeConfig, host: &MxHost) -> Result<ProbeConfig, TargetError> {
    Ok(config.with_target(config.target().with_host(&host.host)?).with_origin(Origin::Dns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(name: &str) -> Domain {
        name.parse().unwrap()
    }

    fn records(list: &[(u16, &str)]) -> MxAnswer {
        MxAnswer::Records(list.iter().map(|&(p, e)| MxRecord::new(p, e)).collect())
    }

    fn probe_of(plan: MxPlan) -> MxProbe {
        match plan {
            MxPlan::Probe(probe) => probe,
            MxPlan::Done(report) => panic!("expected hosts to probe, got {report:?}"),
        }
    }

    fn done(plan: MxPlan) -> MxReport {
        match plan {
            MxPlan::Done(report) => report,
            MxPlan::Probe(probe) => panic!("expected a final report, got {probe:?}"),
        }
    }

    fn hosts(probe: &MxProbe) -> Vec<(u16, &str)> {
        probe.hosts.iter().map(|h| (h.preference, h.host.as_str())).collect()
    }

    fn up(target: &str) -> Report {
        Report::empty(target.into(), std::time::SystemTime::UNIX_EPOCH, 0)
    }

    fn degraded(target: &str, cause: Cause) -> Report {
        let mut report = Report::empty(target.into(), std::time::SystemTime::UNIX_EPOCH, 0);
        report.add_finding(Finding {
            severity: Severity::Warning,
            cause: Some(cause),
            phase: Some(Phase::Greeting),
            message: "slow".into(),
            server_text: None,
        });
        report
    }

    fn down(target: &str, cause: Cause) -> Report {
        Report::without_session(target, std::time::SystemTime::UNIX_EPOCH, cause, Phase::Connect, "no")
    }

    #[test]
    fn hosts_in_preference_order_ties_keep_resolver_order_dots_trimmed() {
        let probe = probe_of(MxPlan::new(
            &dom("example.com."),
            records(&[(20, "mx3.example.com."), (10, "mx2.example.com."), (20, "mx1.example.com."), (5, "a.")]),
        ));
        assert_eq!(probe.domain.as_str(), "example.com");
        assert!(!probe.implicit_mx);
        assert_eq!(
            hosts(&probe),
            [(5, "a"), (10, "mx2.example.com"), (20, "mx3.example.com"), (20, "mx1.example.com")]
        );
        assert!(probe.findings.is_empty());
    }

    #[test]
    fn a_host_listed_twice_is_probed_once_at_its_best_preference() {
        let probe =
            probe_of(MxPlan::new(&dom("example.com"), records(&[(20, "MX.example.com."), (10, "mx.example.com")])));
        assert_eq!(hosts(&probe), [(10, "mx.example.com")]);
        assert_eq!(probe.findings.len(), 1);
        assert_eq!(probe.findings[0].severity, Severity::Info);
    }

    #[test]
    fn no_mx_records_means_the_implicit_mx() {
        for answer in [MxAnswer::NoData, MxAnswer::Records(vec![])] {
            let probe = probe_of(MxPlan::new(&dom("example.com."), answer));
            assert!(probe.implicit_mx);
            assert_eq!(hosts(&probe), [(0, "example.com")]);
            let report = probe.finish(vec![vec![up("example.com")]]);
            assert!(report.implicit_mx && !report.null_mx);
            assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
            assert!(report.findings[0].message.contains("implicit MX"));
        }
        // The domain without an address: the adapter's report for the host says so.
        let probe = probe_of(MxPlan::new(&dom("example.com"), MxAnswer::NoData));
        let report = probe.finish(vec![vec![down("example.com", Cause::DnsFailure)]]);
        assert!(report.implicit_mx);
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
    }

    #[test]
    fn null_mx_is_down_with_dns_failure_and_flagged() {
        for exchange in [".", ""] {
            let report = done(MxPlan::new(&dom("example.com"), records(&[(0, exchange)])));
            assert!(report.null_mx && !report.implicit_mx);
            assert!(report.hosts.is_empty());
            assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
            assert!(report.summary().contains("null MX"), "{}", report.summary());
            assert_eq!(report.findings.len(), 1);
        }
        // Not quite RFC 7505 (preference 10, or repeated), still no host to deliver to.
        let report = done(MxPlan::new(&dom("example.com"), records(&[(10, ".")])));
        assert!(report.null_mx);
        assert_eq!(report.verdict, Verdict::Down);
        assert_eq!(report.findings.len(), 2);
        let report = done(MxPlan::new(&dom("example.com"), records(&[(0, "."), (0, ".")])));
        assert!(report.null_mx);
    }

    #[test]
    fn a_null_mx_among_real_records_is_skipped_and_noted() {
        let probe = probe_of(MxPlan::new(&dom("example.com"), records(&[(0, "."), (10, "mx.example.com")])));
        assert_eq!(hosts(&probe), [(10, "mx.example.com")]);
        let report = probe.finish(vec![vec![up("mx.example.com")]]);
        assert!(!report.null_mx);
        assert_eq!(report.verdict, Verdict::Up);
        assert!(report.findings[0].message.contains("RFC 7505"));
    }

    #[test]
    fn nxdomain_and_failed_lookups_are_dns_failures() {
        let report = done(MxPlan::new(&dom("nope.example."), MxAnswer::NxDomain));
        assert_eq!(report.domain.as_str(), "nope.example");
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
        assert!(!report.null_mx && !report.implicit_mx && report.hosts.is_empty());
        assert!(report.summary().contains("NXDOMAIN"), "{}", report.summary());
        let report = done(MxPlan::new(&dom("example.com"), MxAnswer::Failed("SERVFAIL".into())));
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::DnsFailure)));
        assert!(report.summary().contains("SERVFAIL"));
    }

    fn two() -> MxProbe {
        probe_of(MxPlan::new(&dom("example.com"), records(&[(10, "mx1.example.com"), (20, "mx2.example.com")])))
    }

    #[test]
    fn every_host_up_is_up() {
        let report = two().finish(vec![vec![up("mx1")], vec![up("mx2")]]);
        assert_eq!((report.verdict, report.cause), (Verdict::Up, None));
        assert_eq!(report.hosts.len(), 2);
        assert_eq!((report.hosts[0].preference, report.hosts[0].host.as_str()), (10, "mx1.example.com"));
        assert!(report.summary().starts_with("up: all 2 MX host(s)"));
    }

    #[test]
    fn a_down_backup_mx_is_degraded() {
        let report = two().finish(vec![vec![up("mx1")], vec![down("mx2", Cause::ConnectRefused)]]);
        assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::ConnectRefused)));
        assert_eq!(report.hosts[1].verdict, Verdict::Down);
        assert!(report.summary().contains("mx2.example.com (preference 20) is down"), "{}", report.summary());
    }

    #[test]
    fn a_down_primary_with_a_working_backup_is_degraded_with_the_primary_cause() {
        let report =
            two().finish(vec![vec![down("mx1", Cause::ConnectTimeout)], vec![degraded("mx2", Cause::SlowResponse)]]);
        assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::ConnectTimeout)));
        let primary = report.primary_finding().unwrap();
        assert_eq!(primary.phase, Some(Phase::Connect));
        assert!(primary.message.starts_with("mx1.example.com"));
    }

    #[test]
    fn every_host_degraded_is_degraded() {
        let report = two().finish(vec![
            vec![degraded("mx1", Cause::CertificateExpiring)],
            vec![degraded("mx2", Cause::SlowResponse)],
        ]);
        assert_eq!((report.verdict, report.cause), (Verdict::Degraded, Some(Cause::CertificateExpiring)));
    }

    #[test]
    fn every_host_down_is_down_with_the_best_preference_cause() {
        let report =
            two().finish(vec![vec![down("mx1", Cause::GreetingRejected)], vec![down("mx2", Cause::ConnectRefused)]]);
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::GreetingRejected)));
        assert!(report.summary().starts_with("down: greeting_rejected (connect): mx1.example.com"));
        assert!(report.findings.last().unwrap().message.contains("no MX host"));
    }

    #[test]
    fn a_host_is_as_bad_as_its_worst_family() {
        let host = MxHost { preference: 10, host: "mx".into() };
        let both = MxHostReport::new(host.clone(), vec![up("v4"), down("v6", Cause::NetworkUnreachable)]);
        assert_eq!((both.verdict, both.cause), (Verdict::Down, Some(Cause::NetworkUnreachable)));
        let first = MxHostReport::new(
            host.clone(),
            vec![down("v4", Cause::ConnectRefused), down("v6", Cause::NetworkUnreachable)],
        );
        assert_eq!(first.cause, Some(Cause::ConnectRefused));
        let none = MxHostReport::new(host, vec![]);
        assert_eq!(none.verdict, Verdict::Down);
    }

    #[test]
    #[should_panic(expected = "at most one list of reports per MX host")]
    fn finish_wants_at_most_one_list_per_host() {
        two().finish(vec![vec![up("mx1")], vec![up("mx2")], vec![up("mx3")]]);
    }

    #[test]
    fn hosts_past_the_limit_are_listed_not_probed() {
        let names: Vec<(u16, String)> = (1..=12).map(|i| (i * 10, format!("mx{i}.example.com"))).collect();
        let names: Vec<(u16, &str)> = names.iter().map(|(p, h)| (*p, h.as_str())).collect();
        let probe = probe_of(MxPlan::new(&dom("example.com"), records(&names)));
        let config = ProbeConfig::builder("example.com".parse().unwrap()).build().unwrap();
        #[allow(clippy::disallowed_methods)] // a test may read the clock to find an instant to start from
        let now = std::time::Instant::now();
        let start = crate::connect::ProbeStart::new(&config, now, std::time::SystemTime::UNIX_EPOCH);
        let dialers = probe.dialers(&config, start);
        assert_eq!(dialers.len(), 10);
        assert_eq!(dialers[9].target().to_string(), "mx10.example.com:25");
        assert_eq!(dialers[0].config().address_policy().origin(), Origin::Dns, "MX hosts come from DNS");
        let reports = (1..=10).map(|i| vec![up(&format!("mx{i}"))]).collect();
        let report = probe.finish(reports);
        assert_eq!((report.verdict, report.cause), (Verdict::Up, None), "not probed is not down");
        assert_eq!(report.hosts.len(), 10);
        let not_probed: Vec<&str> = report.not_probed.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(not_probed, ["mx11.example.com", "mx12.example.com"]);
        assert!(report.findings[0].message.contains("has 12 MX hosts: the first 10 were probed"));
        assert!(
            report.findings[0]
                .message
                .ends_with("mx11.example.com (preference 110), mx12.example.com (preference 120)")
        );
        // Fewer hosts than the limit: none left out.
        let config = ProbeConfig::builder("example.com".parse().unwrap())
            .mx_limits(MxLimits { hosts: 1, ..MxLimits::default() })
            .build()
            .unwrap();
        assert_eq!(two().dialers(&config, start).len(), 1);
        assert!(two().finish(vec![vec![up("mx1")], vec![up("mx2")]]).not_probed.is_empty());
    }

    #[test]
    fn host_config_retargets_and_keeps_the_rest() {
        let mx = |host: &str| MxHost { preference: 10, host: host.to_owned() };
        let builder = |target: &str| ProbeConfig::builder(target.parse().unwrap());
        let config = builder("example.com:2525").ehlo_name("probe.example.org").build().unwrap();
        let host = host_config(&config, &mx("mx1.example.com")).unwrap();
        assert_eq!(host.target().to_string(), "mx1.example.com:2525");
        assert_eq!(host.tls_name(), Some("mx1.example.com"));
        assert_eq!(host.inner().ehlo_name.as_str(), "probe.example.org");
        assert_eq!(host.timeouts(), config.timeouts());
        // The scheme, and so the TLS mode it implies, is kept for every host.
        let implicit = host_config(&builder("smtps://example.com").build().unwrap(), &mx("mx1.example.com")).unwrap();
        assert_eq!((implicit.target().port(), implicit.tls_mode()), (465, crate::TlsMode::Implicit));
        // A TLS name set on purpose is kept.
        let config = builder("example.com").tls_name("mail.example.net").build().unwrap();
        assert_eq!(host_config(&config, &mx("mx1.example.com")).unwrap().tls_name(), Some("mail.example.net"));
        // An address as the old target: no TLS name was derived, the host's is.
        let config = builder("192.0.2.1").build().unwrap();
        assert_eq!(host_config(&config, &mx("mx1.example.com")).unwrap().tls_name(), Some("mx1.example.com"));
        assert!(
            host_config(
                &config,
                &mx("mx
")
            )
            .is_err()
        );
        assert!(host_config(&config, &mx("")).is_err());
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serializes() {
        let report = two().finish(vec![vec![up("mx1")], vec![down("mx2", Cause::ConnectRefused)]]);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["verdict"], "degraded");
        assert_eq!(json["cause"], "connect_refused");
        assert_eq!(json["null_mx"], false);
        assert_eq!(json["hosts"][1]["host"], "mx2.example.com");
        assert_eq!(json["hosts"][1]["reports"][0]["cause"], "connect_refused");
    }
}
