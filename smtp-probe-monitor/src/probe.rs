//! The one module that calls `smtp-probe-tokio`: builds its configuration from a [`CheckKind`], runs a check,
//! and turns its report into a [`CheckOutcome`]. Everything else in the crate sees only those plain types, so a
//! change in the probe library's API is absorbed here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_probe_tokio::domain::{DnssecResolver, DomainConfig, DomainReport, check_domain};
use smtp_probe_tokio::proto::{AuthMechanism, Domain, Keyword, Secret, mx::MxReport};
use smtp_probe_tokio::{AddressPolicy, Cause, ProbeConfig, Report, Target, TlsConfig};

use crate::check::{CheckOutcome, MAX_REPLY_CODES, MAX_SERVER_TEXT, MAX_SUMMARY, PhaseTiming, Status, clip, ms};
use crate::clock::Timestamp;
use crate::config::{CheckKind, ProbeSpec};
use crate::id::MonitorId;

/// A DNS resolver for `mx:` checks, shared by all of them (it keeps its cache).
pub type Resolver = Arc<smtp_probe_tokio::hickory_resolver::TokioResolver>;

/// A check ready to run: the probe library's configuration, built and validated once.
#[derive(Clone)]
pub struct PreparedCheck {
    kind: Prepared,
}

#[derive(Clone)]
enum Prepared {
    Smtp { config: ProbeConfig },
    Mx { domain: Domain, config: ProbeConfig, resolver: Option<Resolver> },
    Domain { domain: Domain, config: Box<DomainConfig> },
}

impl std::fmt::Debug for PreparedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Prepared::Smtp { config } => write!(f, "PreparedCheck({})", config.target()),
            Prepared::Mx { domain, config, .. } => {
                write!(f, "PreparedCheck(mx:{}:{})", domain.as_str(), config.target().port())
            }
            Prepared::Domain { domain, config } => {
                write!(f, "PreparedCheck(domain:{}:{})", domain.as_str(), config.probe_config().target().port())
            }
        }
    }
}

/// Builds the probe configuration. `Err` holds a message for people (the configuration names the field).
pub fn prepare(check: &CheckKind, resolver: Option<Resolver>) -> Result<PreparedCheck, String> {
    let kind = match check {
        CheckKind::Smtp { target, probe } => Prepared::Smtp { config: build(target.clone(), probe)? },
        CheckKind::Mx { domain, port, probe } => {
            // Each MX host is probed on the port of the configuration's target.
            let target = domain.mx_target().with_port(*port).map_err(|e| e.to_string())?;
            Prepared::Mx { domain: domain.clone(), config: build(target, probe)?, resolver }
        }
        CheckKind::Domain { domain, port, probe, dns_server, trust_anchor, connect_to } => {
            let target = domain.mx_target().with_port(*port).map_err(|e| e.to_string())?;
            let upstreams: Vec<std::net::SocketAddr> = dns_server.iter().copied().collect();
            let resolver = match (trust_anchor, upstreams.is_empty()) {
                (None, true) => DnssecResolver::system().map_err(|e| e.to_string())?,
                (None, false) => DnssecResolver::new(&upstreams),
                (Some(anchor), false) => DnssecResolver::with_anchor(&upstreams, anchor).map_err(|e| e.to_string())?,
                (Some(_), true) => return Err("trust_anchor_file needs service.dns_server".into()),
            };
            let mut config = DomainConfig::new(build(target, probe)?, resolver);
            for (host, addr) in connect_to {
                config = config.override_host(host, *addr);
            }
            Prepared::Domain { domain: domain.clone(), config: Box::new(config) }
        }
    };
    Ok(PreparedCheck { kind })
}

fn build(target: Target, spec: &ProbeSpec) -> Result<ProbeConfig, String> {
    let mut b = ProbeConfig::builder(target)
        .tls(spec.tls)
        .ehlo_name(spec.ehlo_name.as_str())
        .transcript(false)
        .overall_timeout(spec.timeout)
        .connect_timeout(spec.timeout.min(Duration::from_secs(10)))
        .response_time(spec.response_warning, spec.response_critical)
        .certificate_days(spec.cert_days_warning, spec.cert_days_critical);
    if let Some(name) = &spec.tls_name {
        b = b.tls_name(name.as_str());
    }
    if let Some((path, pem)) = &spec.ca_pem {
        b = b.tls_config(shared_tls(&path.display().to_string(), pem)?);
    }
    if let Some(auth) = &spec.auth {
        b = b
            .auth(auth.username.as_str(), Secret::new(auth.password.expose()))
            .auth_mechanisms(auth.mechanisms.iter().map(|m| AuthMechanism::parse(m)))
            .allow_plaintext_auth(auth.allow_plaintext);
    }
    if let Some(env) = &spec.envelope {
        b = b.mail_from(env.from.as_str());
        for to in &env.to {
            b = b.rcpt_to(to.as_str());
        }
    }
    if let Some(g) = &spec.expect_greeting {
        b = b.expect_greeting(g.as_str());
    }
    for cap in &spec.expect_capabilities {
        let k = Keyword::parse(cap).ok_or_else(|| format!("expect.capabilities: unknown EHLO keyword {cap:?}"))?;
        b = b.require_capability(k);
    }
    if let Some(size) = spec.expect_min_size {
        b = b.min_size(size);
    }
    let mut addresses = AddressPolicy::default();
    for range in &spec.allow_addresses {
        addresses = addresses.allow(range).map_err(|e| format!("allow_addresses: {e}"))?;
    }
    b.address_policy(addresses).build().map_err(|e| e.to_string())
}

/// Distinct CA files kept built at most; past it the cache starts over.
const TLS_CACHE_MAX: usize = 256;

/// The trust settings for a CA file, shared by every monitor that names the same file with the same content: each
/// holds a verifier with its own root store (tens of kilobytes), so 5,000 monitors building their own took
/// hundreds of megabytes. Bounded by [`TLS_CACHE_MAX`], so reloads with ever new files cannot grow it.
fn shared_tls(origin: &str, pem: &[u8]) -> Result<TlsConfig, String> {
    type Cache = std::collections::HashMap<(String, Vec<u8>), TlsConfig>;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<Cache>> = std::sync::LazyLock::new(Default::default);
    let key = (origin.to_owned(), pem.to_vec());
    if let Some(tls) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(tls.clone());
    }
    let tls =
        TlsConfig::builder().add_ca_pem(origin, pem).and_then(|b| b.build()).map_err(|e| format!("ca_file: {e}"))?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= TLS_CACHE_MAX {
        cache.clear();
    }
    cache.insert(key, tls.clone());
    Ok(tls)
}

/// Runs one check. Never fails: what the network and the server did is in the outcome.
pub async fn run(check: &PreparedCheck, monitor: &MonitorId, at: Timestamp) -> CheckOutcome {
    let started = Instant::now();
    let mut outcome = match &check.kind {
        Prepared::Smtp { config } => from_report(monitor, at, &smtp_probe_tokio::probe(config).await),
        Prepared::Mx { domain, config, resolver } => {
            let report = match resolver {
                Some(r) => smtp_probe_tokio::probe_mx_with_resolver(r, domain, config).await,
                None => smtp_probe_tokio::probe_mx(domain, config).await,
            };
            from_mx(monitor, at, &report)
        }
        Prepared::Domain { domain, config } => from_domain(monitor, at, &check_domain(domain, config).await),
    };
    outcome.total_ms = ms(started.elapsed());
    outcome
}

/// Slack added to a probe's own deadlines before [`run_report`] gives up on it: the library already bounds a probe
/// by its overall timeout plus a short wait for the reply to QUIT, so this only catches the unexpected.
const SAFETY_MARGIN: Duration = Duration::from_secs(3);

/// Probes once for `/probe` and returns the library's report, never for (much) longer than the configuration's
/// overall timeout: if the hard bound ever fires, the socket is closed and the report says `reply_timeout`.
pub async fn run_report(config: &ProbeConfig) -> Report {
    let bound = config.timeouts().overall + config.timeouts().quit + SAFETY_MARGIN;
    let started_at = std::time::SystemTime::now();
    match tokio::time::timeout(bound, smtp_probe_tokio::probe(config)).await {
        Ok(report) => report,
        Err(_) => Report::without_session(
            config.target().to_string(),
            started_at,
            smtp_probe_tokio::Cause::ReplyTimeout,
            smtp_probe_tokio::proto::Phase::Connect,
            format!("the probe did not finish within {} s", bound.as_secs_f64()),
        ),
    }
}

/// A report in the monitor's terms.
pub fn from_report(monitor: &MonitorId, at: Timestamp, report: &Report) -> CheckOutcome {
    let mut phases: Vec<PhaseTiming> = Vec::new();
    let mut add = |phase: &str, d: Duration| match phases.iter_mut().find(|p| p.phase == phase) {
        Some(p) => p.ms = p.ms.saturating_add(ms(d)),
        None => phases.push(PhaseTiming { phase: phase.to_owned(), ms: ms(d) }),
    };
    if let Some(c) = report.connect {
        add("connect", c);
    }
    for step in &report.steps {
        add(step.phase.as_str(), step.duration);
    }
    if let Some(tls) = &report.tls
        && !report.steps.iter().any(|s| s.phase.as_str() == "tls_handshake")
    {
        add("tls_handshake", tls.handshake);
    }
    // The greeting is the first step, so the codes are in conversation order.
    let mut reply_codes: Vec<u16> =
        report.steps.iter().filter_map(|s| s.reply.as_ref()).map(|r| r.code.get()).collect();
    reply_codes.truncate(MAX_REPLY_CODES);
    let server_text = report
        .primary_finding()
        .and_then(|f| f.server_text.clone())
        .or_else(|| report.greeting.as_ref().map(reply_text));
    CheckOutcome {
        monitor: monitor.clone(),
        at,
        status: status(report.verdict, report.cause),
        cause: report.cause.map(|c| c.as_str().to_owned()),
        recheck: false,
        response_ms: report.greeting.is_some().then(|| ms(report.response_time)),
        total_ms: ms(report.connect.unwrap_or_default() + report.total),
        phases,
        tls_version: report.tls.as_ref().and_then(|t| t.version.clone()),
        cert_days_left: report.tls.as_ref().and_then(|t| t.leaf()).map(|c| c.days_left),
        reply_codes,
        summary: clip(&report.summary(), MAX_SUMMARY),
        server_text: server_text.map(|t| clip(&t, MAX_SERVER_TEXT)),
    }
}

/// The status of a verdict: a check that could not run on this machine (`local_error`: no file descriptor left, a
/// local firewall) says nothing about the server, so it is unknown, as the command's exit status 3 is.
fn status(verdict: smtp_probe_tokio::Verdict, cause: Option<Cause>) -> Status {
    match cause {
        Some(Cause::LocalError) => Status::Unknown,
        _ => Status::from(verdict),
    }
}

fn reply_text(r: &smtp_probe_tokio::proto::OwnedReply) -> String {
    let lines: Vec<String> = r.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    lines.join(" ")
}

/// A domain check in the monitor's terms: its verdict and cause (`mta_sts_violation`, `dane_mismatch`, ...), the
/// best-preference host's timings, the earliest certificate expiry over every host.
pub fn from_domain(monitor: &MonitorId, at: Timestamp, report: &DomainReport) -> CheckOutcome {
    let mut outcome = from_mx(monitor, at, &report.mx);
    outcome.status = Status::from(report.verdict);
    outcome.cause = report.cause.map(|c| c.as_str().to_owned());
    outcome.summary = clip(&report.summary(), MAX_SUMMARY);
    outcome
}

/// An MX report in the monitor's terms: the aggregate verdict, the best-preference host's timings, the earliest
/// certificate expiry over every host.
pub fn from_mx(monitor: &MonitorId, at: Timestamp, report: &MxReport) -> CheckOutcome {
    let first = report.hosts.first().and_then(|h| h.reports.first());
    let mut outcome = match first {
        Some(r) => from_report(monitor, at, r),
        None => CheckOutcome::unknown(monitor.clone(), at, ""),
    };
    outcome.status = status(report.verdict, report.cause);
    outcome.cause = report.cause.map(|c| c.as_str().to_owned());
    outcome.cert_days_left = report
        .hosts
        .iter()
        .flat_map(|h| &h.reports)
        .filter_map(|r| r.tls.as_ref().and_then(|t| t.leaf()).map(|c| c.days_left))
        .min();
    outcome.summary = clip(&report.summary(), MAX_SUMMARY);
    if let Some(text) = report.primary_finding().and_then(|f| f.server_text.clone()) {
        outcome.server_text = Some(clip(&text, MAX_SERVER_TEXT));
    }
    outcome
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use smtp_probe_tokio::proto::Phase;

    use super::*;

    #[test]
    fn a_check_that_could_not_run_is_unknown() {
        let monitor = MonitorId::parse("m").unwrap();
        let report =
            |cause| Report::without_session("mx.example:25", SystemTime::UNIX_EPOCH, cause, Phase::Connect, "x");
        let outcome = from_report(&monitor, Timestamp(0), &report(Cause::LocalError));
        assert_eq!((outcome.status, outcome.cause.as_deref()), (Status::Unknown, Some("local_error")));
        let outcome = from_report(&monitor, Timestamp(0), &report(Cause::ConnectRefused));
        assert_eq!(outcome.status, Status::Down);
    }
}
