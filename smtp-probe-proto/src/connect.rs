//! The decisions every adapter makes around a connection, without doing any IO: which addresses to try in
//! which order, how long a connect may take, and what a failed DNS lookup or connect means as a [`Report`].
//! Adapters only resolve, connect and pump bytes; the meaning lives here, once.

use core::net::SocketAddr;
use std::io;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{AddressFamily, ProbeConfig};
use crate::report::{Cause, Finding, Phase, Report, Severity, Verdict};
use crate::target::Target;

/// Addresses to try one after another until one connects; each group yields one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressGroup {
    /// `"IPv4"` or `"IPv6"` when the policy probes each family on its own, else `None`.
    pub family: Option<&'static str>,
    /// The addresses, in the order to try.
    pub addrs: Vec<SocketAddr>,
}

/// The target as an address, when it is an IP literal (no DNS needed).
pub fn literal_address(target: &Target) -> Option<SocketAddr> {
    target.ip().map(|ip| SocketAddr::new(ip, target.port()))
}

/// Orders resolved addresses by the address-family policy. An empty result means no address of the wanted
/// family: report it with [`no_address`].
pub fn plan(addrs: &[SocketAddr], family: AddressFamily) -> Vec<AddressGroup> {
    let v4: Vec<SocketAddr> = addrs.iter().copied().filter(SocketAddr::is_ipv4).collect();
    let v6: Vec<SocketAddr> = addrs.iter().copied().filter(SocketAddr::is_ipv6).collect();
    let one =
        |addrs: Vec<SocketAddr>| if addrs.is_empty() { vec![] } else { vec![AddressGroup { family: None, addrs }] };
    match family {
        AddressFamily::Ipv4Only => one(v4),
        AddressFamily::Ipv6Only => one(v6),
        AddressFamily::PreferIpv4 => one(v4.into_iter().chain(v6).collect()),
        AddressFamily::PreferIpv6 => one(v6.into_iter().chain(v4).collect()),
        AddressFamily::Both => [("IPv4", v4), ("IPv6", v6)]
            .into_iter()
            .filter(|(_, a)| !a.is_empty())
            .map(|(f, addrs)| AddressGroup { family: Some(f), addrs })
            .collect(),
        _ => one(addrs.to_vec()),
    }
}

/// How long the next connect attempt may take: the configured connect timeout, cut to the overall deadline.
pub fn connect_budget(config: &ProbeConfig, now: Instant, overall_deadline: Instant) -> Duration {
    config.timeouts().connect.min(overall_deadline.saturating_duration_since(now))
}

/// The overall deadline for a probe starting now (before DNS and connect).
pub fn overall_deadline(config: &ProbeConfig, start: Instant) -> Instant {
    crate::config::deadline_after(start, config.timeouts().overall)
}

/// When a probe started, on both of the adapter's clocks, and the overall deadline that follows: handed through
/// resolving, connecting and the session, so that every report of the probe carries the same start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeStart {
    /// The monotonic instant, before DNS.
    pub at: Instant,
    /// The wall-clock time at that instant: the reports' `started_at`.
    pub wall: SystemTime,
    /// `at` plus the configured overall timeout.
    pub deadline: Instant,
}

impl ProbeStart {
    /// A probe of `config` starting at `at` (monotonic) and `wall` (the same moment on the wall clock).
    pub fn new(config: &ProbeConfig, at: Instant, wall: SystemTime) -> ProbeStart {
        ProbeStart { at, wall, deadline: overall_deadline(config, at) }
    }
}

/// Records in each report how long resolving the target's name took.
pub fn record_resolve(reports: &mut [Report], resolve: Duration) {
    for report in reports {
        report.resolve = Some(resolve);
    }
}

/// A connect attempt that failed.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The OS said no.
    Io(io::Error),
    /// No answer within the budget.
    TimedOut(Duration),
}

/// The report for a name that did not resolve, for a probe that started at `started_at`.
pub fn dns_failed(config: &ProbeConfig, started_at: SystemTime, why: &str) -> Report {
    let message = format!("{}: {why}", config.target().host());
    Report::without_session(config.target().to_string(), started_at, Cause::DnsFailure, Phase::Resolve, message)
}

/// The report for a name with no address of the wanted family.
pub fn no_address(config: &ProbeConfig, started_at: SystemTime) -> Report {
    let message = format!("{} has no address for the policy {:?}", config.target().host(), config.address_family());
    Report::without_session(config.target().to_string(), started_at, Cause::DnsFailure, Phase::Resolve, message)
}

/// The report for a group of addresses none of which connected: the cause of the last attempt, every attempt
/// in the message.
pub fn connect_failed(
    config: &ProbeConfig,
    started_at: SystemTime,
    failures: &[(SocketAddr, ConnectFailure)],
    elapsed: Duration,
) -> Report {
    let cause = failures.last().map_or(Cause::ConnectTimeout, |(_, f)| connect_cause(f));
    let tried: Vec<String> = failures.iter().map(|(addr, f)| format!("{addr}: {}", describe(f))).collect();
    let mut message = format!("could not connect ({})", tried.join("; "));
    if cause == Cause::ConnectTimeout && failures.iter().any(|(a, _)| a.port() == 25) {
        message.push_str(". A timeout on port 25 often means outbound port 25 is blocked by the network or provider");
    }
    let mut report = Report::without_session(config.target().to_string(), started_at, cause, Phase::Connect, message);
    report.address = failures.last().map(|(a, _)| a.to_string());
    report.connect = Some(elapsed);
    report.total = elapsed;
    report.response_time = elapsed;
    report
}

fn connect_cause(failure: &ConnectFailure) -> Cause {
    match failure {
        ConnectFailure::TimedOut(_) => Cause::ConnectTimeout,
        ConnectFailure::Io(e) => match e.kind() {
            io::ErrorKind::ConnectionRefused => Cause::ConnectRefused,
            io::ErrorKind::TimedOut => Cause::ConnectTimeout,
            io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable | io::ErrorKind::AddrNotAvailable => {
                Cause::NetworkUnreachable
            }
            _ => Cause::ConnectRefused,
        },
    }
}

pub(crate) fn describe(failure: &ConnectFailure) -> String {
    match failure {
        ConnectFailure::Io(e) => e.to_string(),
        ConnectFailure::TimedOut(d) => format!("no answer within {} ms", d.as_millis()),
    }
}

/// Completes a session's report with what only the adapter knows.
pub fn finish_report(report: &mut Report, addr: SocketAddr, connect: Duration, family: Option<&'static str>) {
    report.address = Some(addr.to_string());
    report.connect = Some(connect);
    report.total = report.total.saturating_add(connect);
    report.response_time = report.response_time.saturating_add(connect);
    if let Some(accepted) = &mut report.message_accepted {
        *accepted = accepted.saturating_add(connect);
    }
    if let Some(family) = family {
        report.findings.push(Finding {
            severity: Severity::Info,
            cause: None,
            phase: Some(Phase::Connect),
            message: format!("{family} probed separately ({addr})"),
            server_text: None,
        });
    }
}

/// One report standing for several (the per-family reports of [`AddressFamily::Both`]): the worst, with the
/// others' verdicts noted.
pub fn worst(mut reports: Vec<Report>) -> Option<Report> {
    let index = (0..reports.len()).max_by_key(|&i| (reports[i].verdict, std::cmp::Reverse(i)))?;
    let mut chosen = reports.swap_remove(index);
    for other in &reports {
        let message = format!(
            "{} was {}{}",
            other.address.as_deref().unwrap_or("another address"),
            other.verdict,
            other.cause.map(|c| format!(" ({c})")).unwrap_or_default()
        );
        let severity = if other.verdict == Verdict::Up { Severity::Info } else { Severity::Warning };
        chosen.add_finding(Finding {
            severity,
            cause: other.cause,
            phase: Some(Phase::Connect),
            message,
            server_text: None,
        });
    }
    Some(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        vec!["[::1]:25".parse().unwrap(), "127.0.0.1:25".parse().unwrap(), "127.0.0.2:25".parse().unwrap()]
    }

    #[test]
    fn policies() {
        assert_eq!(plan(&addrs(), AddressFamily::Any)[0].addrs, addrs());
        assert_eq!(plan(&addrs(), AddressFamily::Ipv4Only)[0].addrs.len(), 2);
        assert_eq!(plan(&addrs(), AddressFamily::PreferIpv4)[0].addrs[2], addrs()[0]);
        let both = plan(&addrs(), AddressFamily::Both);
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].family, Some("IPv6"));
        assert!(plan(&addrs()[1..], AddressFamily::Ipv6Only).is_empty());
    }

    #[test]
    fn connect_errors_become_causes() {
        let config = ProbeConfig::builder("mx".parse().unwrap()).build().unwrap();
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let at = SystemTime::UNIX_EPOCH;
        let report =
            connect_failed(&config, at, &[(addrs()[1], ConnectFailure::Io(refused))], Duration::from_millis(1));
        assert_eq!((report.verdict, report.cause), (Verdict::Down, Some(Cause::ConnectRefused)));
        let report = connect_failed(
            &config,
            at,
            &[(addrs()[1], ConnectFailure::TimedOut(Duration::from_secs(1)))],
            Duration::from_secs(1),
        );
        assert_eq!(report.cause, Some(Cause::ConnectTimeout));
        assert!(report.findings[0].message.contains("port 25"));
        let unreachable = io::Error::from(io::ErrorKind::NetworkUnreachable);
        let report = connect_failed(&config, at, &[(addrs()[0], ConnectFailure::Io(unreachable))], Duration::ZERO);
        assert_eq!(report.cause, Some(Cause::NetworkUnreachable));
    }

    #[test]
    fn worst_of_several() {
        let config = ProbeConfig::builder("mx".parse().unwrap()).build().unwrap();
        let up = Report::empty("mx:25".into(), SystemTime::UNIX_EPOCH, 0);
        let down = dns_failed(&config, SystemTime::UNIX_EPOCH, "nope");
        assert_eq!(down.target, "mx:25");
        let chosen = worst(vec![up, down]).unwrap();
        assert_eq!(chosen.verdict, Verdict::Down);
        assert_eq!(chosen.findings.len(), 2);
    }
}
