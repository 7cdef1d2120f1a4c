//! JSON output: one object per target and per `--mx` domain, an array when there are several. The objects are
//! built here, field by field, from the reports, so their shape is this crate's contract (JSON-SCHEMA.md,
//! schema/report.schema.json) and does not follow the core's types as they change.

use serde::Serialize;
use smtp_probe_tokio::proto::{
    Capabilities, CertificateInfo, CertificateProblem, Direction, Finding, OwnedReply, Phase, Severity, TlsInfo,
};
use smtp_probe_tokio::{MxReport, Report};

use super::{Options, Results, millis};

/// Renders the results: an object for one target or MX domain, an array for several (the targets first, then
/// the MX domains, each in command-line order).
pub fn render(results: &Results, options: &Options) -> String {
    let targets = results.targets.iter().map(|r| JsonItem::Target(Box::new(JsonReport::new(r, options.transcript))));
    let domains = results.mx.iter().map(|m| JsonItem::Mx(JsonMx::new(m, options.transcript)));
    let items: Vec<JsonItem<'_>> = targets.chain(domains).collect();
    let mut out = match items.as_slice() {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(many),
    }
    .expect("these types always serialize");
    out.push('\n');
    out
}

/// A target's report or an MX domain's.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum JsonItem<'a> {
    Target(Box<JsonReport<'a>>),
    Mx(JsonMx<'a>),
}

/// One `--mx` domain: the aggregate, then every host with its reports.
#[derive(Debug, Serialize)]
pub struct JsonMx<'a> {
    mx: &'a str,
    verdict: &'static str,
    cause: Option<&'static str>,
    summary: String,
    null_mx: bool,
    implicit_mx: bool,
    findings: Vec<JsonFinding<'a>>,
    hosts: Vec<JsonMxHost<'a>>,
}

impl<'a> JsonMx<'a> {
    /// Maps an MX report; the hosts' transcripts are included only when asked for.
    pub fn new(report: &'a MxReport, transcript: bool) -> Self {
        JsonMx {
            mx: report.domain.as_str(),
            verdict: report.verdict.as_str(),
            cause: report.cause.map(|c| c.as_str()),
            summary: report.summary(),
            null_mx: report.null_mx,
            implicit_mx: report.implicit_mx,
            findings: report.findings.iter().map(JsonFinding::new).collect(),
            hosts: report
                .hosts
                .iter()
                .map(|host| JsonMxHost {
                    preference: host.preference,
                    host: &host.host,
                    verdict: host.verdict.as_str(),
                    cause: host.cause.map(|c| c.as_str()),
                    reports: host.reports.iter().map(|r| JsonReport::new(r, transcript)).collect(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonMxHost<'a> {
    preference: u16,
    host: &'a str,
    verdict: &'static str,
    cause: Option<&'static str>,
    reports: Vec<JsonReport<'a>>,
}

/// One target's result.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    target: &'a str,
    address: Option<&'a str>,
    verdict: &'static str,
    cause: Option<&'static str>,
    summary: String,
    findings: Vec<JsonFinding<'a>>,
    phases: Vec<JsonPhase<'a>>,
    connect_ms: Option<f64>,
    response_ms: f64,
    total_ms: f64,
    greeting: Option<JsonReply>,
    capabilities: JsonCapabilityPair<'a>,
    tls: Option<JsonTls<'a>>,
    message_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transcript: Option<Vec<JsonLine<'a>>>,
}

impl<'a> JsonReport<'a> {
    /// Maps a report; the transcript is included only when asked for.
    pub fn new(report: &'a Report, transcript: bool) -> Self {
        let connect_step = report.steps.iter().any(|s| s.phase == Phase::Connect);
        let connect = report.connect.filter(|_| !connect_step).map(|d| JsonPhase {
            phase: Phase::Connect.as_str(),
            command: None,
            duration_ms: millis(d),
            reply: None,
        });
        let steps = report.steps.iter().map(|step| JsonPhase {
            phase: step.phase.as_str(),
            command: step.command.as_deref(),
            duration_ms: millis(step.duration),
            reply: step.reply.as_ref().map(JsonReply::new),
        });
        JsonReport {
            target: &report.target,
            address: report.address.as_deref(),
            verdict: report.verdict.as_str(),
            cause: report.cause.map(|c| c.as_str()),
            summary: report.summary(),
            findings: report.findings.iter().map(JsonFinding::new).collect(),
            phases: connect.into_iter().chain(steps).collect(),
            connect_ms: report.connect.map(millis),
            response_ms: millis(report.response_time),
            total_ms: millis(report.total),
            greeting: report.greeting.as_ref().map(JsonReply::new),
            capabilities: JsonCapabilityPair {
                plain: report.capabilities.as_ref().map(JsonCapabilities::new),
                tls: report.capabilities_tls.as_ref().map(JsonCapabilities::new),
            },
            tls: report.tls.as_ref().map(JsonTls::new),
            message_token: report.message_token.as_deref(),
            transcript: transcript.then(|| report.transcript.iter().map(JsonLine::new).collect()),
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    severity: &'static str,
    cause: Option<&'static str>,
    phase: Option<&'static str>,
    message: &'a str,
    server_text: Option<&'a str>,
}

impl<'a> JsonFinding<'a> {
    fn new(finding: &'a Finding) -> Self {
        JsonFinding {
            severity: match finding.severity {
                Severity::Info => "info",
                Severity::Warning => "warning",
                Severity::Critical => "critical",
            },
            cause: finding.cause.map(|c| c.as_str()),
            phase: finding.phase.map(|p| p.as_str()),
            message: &finding.message,
            server_text: finding.server_text.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonPhase<'a> {
    phase: &'static str,
    command: Option<&'a str>,
    duration_ms: f64,
    reply: Option<JsonReply>,
}

#[derive(Debug, Serialize)]
struct JsonReply {
    code: u16,
    enhanced: Option<String>,
    lines: Vec<String>,
}

impl JsonReply {
    fn new(reply: &OwnedReply) -> Self {
        JsonReply {
            code: reply.code.get(),
            enhanced: reply.enhanced.map(|e| e.to_string()),
            lines: reply.lines.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonCapabilityPair<'a> {
    plain: Option<JsonCapabilities<'a>>,
    tls: Option<JsonCapabilities<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonCapabilities<'a> {
    domain: &'a str,
    keywords: Vec<&'a str>,
    auth: Vec<&'a str>,
    size: Option<u64>,
    lines: &'a [String],
}

impl<'a> JsonCapabilities<'a> {
    fn new(caps: &'a Capabilities) -> Self {
        JsonCapabilities {
            domain: &caps.domain,
            keywords: caps
                .keywords()
                .map(|k| k.as_str())
                .chain(caps.unknown.iter().map(|u| u.keyword.as_str()))
                .collect(),
            auth: caps.auth_mechanisms.iter().map(|m| m.as_str()).collect(),
            size: caps.size_limit,
            lines: &caps.raw_lines,
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonTls<'a> {
    version: Option<&'a str>,
    cipher: Option<&'a str>,
    sni: Option<&'a str>,
    verified_name: Option<&'a str>,
    verified: bool,
    verify_error: Option<&'static str>,
    verify_error_message: Option<String>,
    handshake_ms: f64,
    leaf: Option<JsonCertificate<'a>>,
    chain: Vec<JsonCertificate<'a>>,
    chain_earliest_not_after: Option<&'a str>,
    chain_earliest_days_left: Option<i64>,
}

impl<'a> JsonTls<'a> {
    fn new(tls: &'a TlsInfo) -> Self {
        let earliest = tls.chain_earliest_expiry();
        JsonTls {
            version: tls.version.as_deref(),
            cipher: tls.cipher.as_deref(),
            sni: tls.sni.as_deref(),
            verified_name: tls.verified_name.as_deref(),
            verified: tls.verified,
            verify_error: tls.verify_error.as_ref().map(problem_code),
            verify_error_message: tls.verify_error.as_ref().map(ToString::to_string),
            handshake_ms: millis(tls.handshake),
            leaf: tls.leaf().map(JsonCertificate::new),
            chain: tls.certificates.iter().map(JsonCertificate::new).collect(),
            chain_earliest_not_after: earliest.map(|c| c.not_after.as_str()),
            chain_earliest_days_left: earliest.map(|c| c.days_left),
        }
    }
}

/// The stable name of a certificate problem.
fn problem_code(problem: &CertificateProblem) -> &'static str {
    match problem {
        CertificateProblem::Expired => "expired",
        CertificateProblem::NotYetValid => "not_yet_valid",
        CertificateProblem::NameMismatch => "name_mismatch",
        CertificateProblem::UnknownIssuer => "unknown_issuer",
        CertificateProblem::PinMismatch => "pin_mismatch",
        _ => "other",
    }
}

#[derive(Debug, Serialize)]
struct JsonCertificate<'a> {
    subject: &'a str,
    issuer: &'a str,
    sans: &'a [String],
    serial: &'a str,
    not_before: &'a str,
    not_after: &'a str,
    not_after_unix: i64,
    days_left: i64,
    key_algorithm: &'a str,
    signature_algorithm: &'a str,
    sha256: &'a str,
}

impl<'a> JsonCertificate<'a> {
    fn new(cert: &'a CertificateInfo) -> Self {
        JsonCertificate {
            subject: &cert.subject,
            issuer: &cert.issuer,
            sans: &cert.sans,
            serial: &cert.serial,
            not_before: &cert.not_before,
            not_after: &cert.not_after,
            not_after_unix: cert.not_after_unix,
            days_left: cert.days_left,
            key_algorithm: &cert.key_algorithm,
            signature_algorithm: &cert.signature_algorithm,
            sha256: &cert.sha256,
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonLine<'a> {
    at_ms: f64,
    direction: &'static str,
    text: &'a str,
}

impl<'a> JsonLine<'a> {
    fn new(line: &'a smtp_probe_tokio::proto::TranscriptLine) -> Self {
        JsonLine {
            at_ms: millis(line.at),
            direction: match line.direction {
                Direction::Client => "client",
                Direction::Server => "server",
                Direction::Event => "event",
            },
            text: &line.text,
        }
    }
}
