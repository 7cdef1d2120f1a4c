//! The one module that calls `smtp-probe-tokio`: builds its configuration from a [`CheckKind`], runs a check,
//! and turns its report into a [`CheckOutcome`]. Everything else in the crate sees only those plain types, so a
//! change in the probe library's API is absorbed here.
//!
//! [`probe_roundtrip`] is `/probe`'s module kind for round trips: one round trip run on request, rendered as
//! metrics.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use smtp_probe_tokio::domain::{DnssecResolver, DomainConfig, DomainReport, check_domain};
use smtp_probe_tokio::proto::imap::{Cleanup, MailboxConfig};
use smtp_probe_tokio::proto::{AuthMechanism, Domain, Keyword, Secret, mx::MxReport};
use smtp_probe_tokio::render::{ExpositionFormat, Item};
use smtp_probe_tokio::{
    AddressPolicy, Cause, ProbeConfig, Report, RoundTripConfig, RoundTripReport, Target, TlsConfig, Verdict,
};

use crate::check::{CheckOutcome, MAX_REPLY_CODES, MAX_SERVER_TEXT, MAX_SUMMARY, PhaseTiming, Status, clip, ms};
use crate::clock::Timestamp;
use crate::config::{CheckKind, ProbeSpec, RoundTripSpec};
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
    RoundTrip { config: RoundTripConfig },
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
            Prepared::RoundTrip { config } => {
                write!(f, "PreparedCheck(roundtrip:{}->{})", config.submit().target(), config.mailbox().target())
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
        CheckKind::RoundTrip { submit, probe, roundtrip } => {
            Prepared::RoundTrip { config: roundtrip_config(submit, probe, roundtrip)? }
        }
    };
    Ok(PreparedCheck { kind })
}

fn build(target: Target, spec: &ProbeSpec) -> Result<ProbeConfig, String> {
    builder(target, spec)?.build().map_err(|e| e.to_string())
}

/// A round trip's configuration: the submission as an SMTP check with the round trip's envelope, the mailbox
/// with the same trust (CA file, certificate thresholds), `timeout` as the deadline.
fn roundtrip_config(submit: &Target, spec: &ProbeSpec, rt: &RoundTripSpec) -> Result<RoundTripConfig, String> {
    let submit = builder(submit.clone(), spec)?
        .mail_from(rt.from.as_str())
        .rcpt_to(rt.to.as_str())
        .build()
        .map_err(|e| e.to_string())?;
    let mut mailbox = MailboxConfig::builder(rt.imap.clone(), rt.username.as_str(), Secret::new(rt.password.expose()))
        .tls(rt.imap_tls)
        .allow_plaintext_login(rt.allow_plaintext_login)
        .inbox(rt.inbox.as_str())
        .cleanup(Cleanup::Delete)
        .address_policy(addresses(spec)?)
        .transcript(false)
        .certificate_days(spec.cert_days_warning, spec.cert_days_critical);
    if let Some(junk) = &rt.junk_folder {
        mailbox = mailbox.junk_folder(junk.as_str());
    }
    if let Some(name) = &rt.imap_tls_name {
        mailbox = mailbox.tls_name(name.as_str());
    }
    if let Some(tls) = trust(spec)? {
        mailbox = mailbox.tls_config(tls);
    }
    let mailbox = mailbox.build().map_err(|e| format!("roundtrip: {e}"))?;
    RoundTripConfig::builder(submit, mailbox)
        .deadline(spec.timeout)
        .delivery_time(rt.delivery_warning, rt.delivery_critical)
        .build()
        .map_err(|e| format!("roundtrip: {e}"))
}

fn trust(spec: &ProbeSpec) -> Result<Option<TlsConfig>, String> {
    spec.ca_pem.as_ref().map(|(path, pem)| shared_tls(&path.display().to_string(), pem)).transpose()
}

fn builder(target: Target, spec: &ProbeSpec) -> Result<smtp_probe_tokio::proto::ProbeConfigBuilder, String> {
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
    if let Some(tls) = trust(spec)? {
        b = b.tls_config(tls);
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
    Ok(b.address_policy(addresses(spec)?))
}

fn addresses(spec: &ProbeSpec) -> Result<AddressPolicy, String> {
    let mut addresses = AddressPolicy::default();
    for range in &spec.allow_addresses {
        addresses = addresses.allow(range).map_err(|e| format!("allow_addresses: {e}"))?;
    }
    Ok(addresses)
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
        Prepared::RoundTrip { config } => from_roundtrip(monitor, at, &smtp_probe_tokio::roundtrip(config).await),
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
        delivery_ms: None,
        junk: None,
        published: None,
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
/// best-preference host's timings, the earliest certificate expiry over every host, and what was found published
/// (for the policy-change alerts).
pub fn from_domain(monitor: &MonitorId, at: Timestamp, report: &DomainReport) -> CheckOutcome {
    let mut outcome = from_mx(monitor, at, &report.mx);
    outcome.status = Status::from(report.verdict);
    outcome.cause = report.cause.map(|c| c.as_str().to_owned());
    outcome.summary = clip(&report.summary(), MAX_SUMMARY);
    outcome.published = Some(Box::new(crate::published::Published::from_report(report)));
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

/// A round trip in the monitor's terms: the submission's phases and reply codes, the mailbox's readiness and the
/// delivery as phases of their own (`mailbox_ready`, `delivery`), the delivery latency and folder, and the
/// earlier certificate expiry of the two servers.
pub fn from_roundtrip(monitor: &MonitorId, at: Timestamp, report: &RoundTripReport) -> CheckOutcome {
    let mut outcome = match &report.submit {
        Some(submit) => from_report(monitor, at, submit),
        None => CheckOutcome::unknown(monitor.clone(), at, ""),
    };
    if let Some(ready) = report.timings.mailbox_ready {
        outcome.phases.insert(0, PhaseTiming { phase: "mailbox_ready".to_owned(), ms: ms(ready) });
    }
    let delivered = report.delivery.as_ref().zip(report.timings.end_to_end);
    if let Some((_, latency)) = delivered {
        outcome.phases.push(PhaseTiming { phase: "delivery".to_owned(), ms: ms(latency) });
    }
    outcome.status = status(report.verdict, report.cause);
    outcome.cause = report.cause.map(|c| c.as_str().to_owned());
    outcome.delivery_ms = delivered.map(|(_, latency)| ms(latency));
    outcome.junk = delivered.map(|(d, _)| d.junk);
    let mailbox_days = report.mailbox.tls.as_ref().and_then(|t| t.leaf()).map(|c| c.days_left);
    outcome.cert_days_left = match (outcome.cert_days_left, mailbox_days) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    outcome.summary = clip(&report.summary(), MAX_SUMMARY);
    if let Some(text) = report.primary_finding().and_then(|f| f.server_text.clone()) {
        outcome.server_text = Some(clip(&text, MAX_SERVER_TEXT));
    }
    outcome
}

/// Taken off the scrape timeout a `/probe` request announces, to leave time to answer.
const SCRAPE_OFFSET: Duration = Duration::from_millis(500);

/// The shortest deadline a `/probe` round trip gets, however short the scrape timeout: a message needs a few
/// seconds to arrive.
pub const MIN_ROUNDTRIP_BUDGET: Duration = Duration::from_secs(5);

/// What a `/probe` request for a round-trip module asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundTripRequest<'a> {
    /// The `target` parameter: when given, it must name the module's submission server (`host:port`, or a URL
    /// form): a round trip's servers and credentials come from the configuration, never from the request.
    pub target: Option<&'a str>,
    /// The `X-Prometheus-Scrape-Timeout-Seconds` header: the deadline is cut to it, less half a second.
    pub scrape_timeout: Option<&'a str>,
    /// The `Accept` header: OpenMetrics when it asks for it, else the Prometheus text format.
    pub accept: Option<&'a str>,
}

/// A rendered `/probe` answer.
#[derive(Debug, Clone)]
pub struct ProbeResponse {
    /// The `Content-Type` of `body`.
    pub content_type: &'static str,
    /// The metrics: exactly what `smtp-probe roundtrip --format prometheus` (or `openmetrics`) prints.
    pub body: String,
    /// The round trip's verdict (for the service's own counters).
    pub verdict: Verdict,
}

/// Why a `/probe` round trip was refused without sending anything (an HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoundTripRequestError {
    /// The module is not a round trip.
    #[error("not a round-trip module")]
    NotARoundTrip,
    /// The `target` parameter is not a server name.
    #[error("invalid target {target:?}: {reason}")]
    InvalidTarget {
        /// As given.
        target: String,
        /// Why.
        reason: String,
    },
    /// The `target` parameter names another server than the module's.
    #[error("this module submits to {configured}, not {asked}: a round trip's servers come from its configuration")]
    OtherTarget {
        /// As given, parsed.
        asked: String,
        /// The module's submission server.
        configured: String,
    },
    /// The configuration could not be built (an unreadable CA file, a refused combination).
    #[error("{0}")]
    Config(String),
}

/// Whether a `/probe` request's `target` (absent, or naming the submission server of `check`, a
/// [`CheckKind::RoundTrip`]) may run this round trip: checked before anything is sent, and before the caller
/// spends one of its few round-trip slots on a request that would be refused.
pub fn check_roundtrip_target(check: &CheckKind, target: Option<&str>) -> Result<(), RoundTripRequestError> {
    let CheckKind::RoundTrip { submit, .. } = check else {
        return Err(RoundTripRequestError::NotARoundTrip);
    };
    if let Some(asked) = target.map(str::trim).filter(|t| !t.is_empty()) {
        let invalid = |reason: String| RoundTripRequestError::InvalidTarget { target: asked.to_owned(), reason };
        let parsed: Target = asked.parse().map_err(|e: smtp_probe_tokio::TargetError| invalid(e.to_string()))?;
        let parsed = match parsed.tls_mode() {
            Some(_) => parsed,
            None => Target::parse_with_default_port(asked, submit.port()).map_err(|e| invalid(e.to_string()))?,
        };
        if !parsed.host().eq_ignore_ascii_case(submit.host()) || parsed.port() != submit.port() {
            return Err(RoundTripRequestError::OtherTarget {
                asked: parsed.to_string(),
                configured: submit.to_string(),
            });
        }
    }
    Ok(())
}

/// `/probe` for a round-trip module, whole: checks the request, runs one round trip of `check` (a
/// [`CheckKind::RoundTrip`]) within the scrape timeout, and renders it in the format the `Accept` header asks
/// for (`smtp_probe_roundtrip_*` metrics, the renderer crate's vocabulary). Limiting how many run at once is the
/// caller's: each one sends a real message.
pub async fn probe_roundtrip(
    check: &CheckKind,
    request: RoundTripRequest<'_>,
) -> Result<ProbeResponse, RoundTripRequestError> {
    check_roundtrip_target(check, request.target)?;
    let CheckKind::RoundTrip { submit, probe, roundtrip } = check else {
        return Err(RoundTripRequestError::NotARoundTrip);
    };
    let mut spec = probe.clone();
    if let Some(limit) = request.scrape_timeout.and_then(scrape_timeout) {
        spec.timeout = spec.timeout.min(limit.saturating_sub(SCRAPE_OFFSET)).max(MIN_ROUNDTRIP_BUDGET);
    }
    let config = roundtrip_config(submit, &spec, roundtrip).map_err(RoundTripRequestError::Config)?;
    let report = smtp_probe_tokio::roundtrip(&config).await;
    let format = ExpositionFormat::negotiate(request.accept);
    let body = smtp_probe_tokio::render::exposition(&[Item::from(&report)], SystemTime::now(), format);
    Ok(ProbeResponse { content_type: format.content_type(), body, verdict: report.verdict })
}

/// Prometheus's `X-Prometheus-Scrape-Timeout-Seconds`: positive seconds, at most a day.
fn scrape_timeout(header: &str) -> Option<Duration> {
    let seconds = header.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0)?;
    Some(Duration::from_secs_f64(seconds.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use smtp_probe_tokio::proto::Phase;

    use super::*;

    #[test]
    fn scrape_timeouts() {
        assert_eq!(scrape_timeout("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(scrape_timeout("1e9"), Some(Duration::from_secs(86_400)));
        for bad in ["0", "-1", "NaN", "inf", "soon", ""] {
            assert_eq!(scrape_timeout(bad), None, "{bad:?}");
        }
    }

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
