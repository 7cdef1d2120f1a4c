//! Prometheus text exposition (format 0.0.4): the metrics an exporter probing these targets would serve, each
//! sample labelled with its `target`. Families with no sample (no TLS anywhere, every target up) are left out.
//!
//! The reports of `--mx` hosts are labelled `target="<host>:<port>"` and `mx_domain="<domain>"`; each domain
//! adds `smtp_probe_mx_up`, `smtp_probe_mx_verdict`, `smtp_probe_mx_cause` and `smtp_probe_mx_hosts`, labelled
//! with its `domain`.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_probe_tokio::proto::Severity;
use smtp_probe_tokio::{Report, Verdict};

use super::Results;

/// One metric family: its samples as (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family { name, help, samples: Vec::new() }
    }

    /// A sample of a report: labelled with its `target`, its `mx_domain` when it came from `--mx`, then `labels`.
    fn add(&mut self, (report, mx): (&Report, Option<&str>), labels: &[(&str, &str)], value: f64) {
        let mut all = vec![("target", report.target.as_str())];
        all.extend(mx.map(|domain| ("mx_domain", domain)));
        all.extend_from_slice(labels);
        self.push(&all, value);
    }

    fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
        self.samples.push((labels.join(","), value));
    }
}

/// The exposition for every report, then every `--mx` domain.
pub fn render(results: &Results) -> String {
    let mut up = Family::new("smtp_probe_up", "Whether the server can take mail: 1 when up or degraded, 0 when down.");
    let mut verdict =
        Family::new("smtp_probe_verdict", "The probe's verdict: 1 for the current one of up, degraded and down.");
    let mut cause = Family::new("smtp_probe_cause", "The primary cause of a verdict other than up (always 1).");
    let mut duration =
        Family::new("smtp_probe_duration_seconds", "Time from starting to connect to the end of the probe.");
    let mut response = Family::new(
        "smtp_probe_response_duration_seconds",
        "Time to the last reply before QUIT: what the -w/-c thresholds compare.",
    );
    let mut phase = Family::new("smtp_probe_phase_duration_seconds", "Time spent in each phase of the probe.");
    let mut reply_code = Family::new("smtp_probe_reply_code", "The code of the last reply received in each phase.");
    let mut findings = Family::new("smtp_probe_findings", "Findings of the probe, by severity.");
    let mut tls_info = Family::new("smtp_probe_tls_version_info", "The negotiated TLS version and cipher (always 1).");
    let mut verified = Family::new(
        "smtp_probe_tls_certificate_verified",
        "Whether the certificate chain verified for the checked name.",
    );
    let mut expiry = Family::new(
        "smtp_probe_tls_certificate_expiry_timestamp_seconds",
        "The notAfter, as a Unix time, of the presented certificate that expires first.",
    );
    let mut remaining = Family::new(
        "smtp_probe_tls_certificate_remaining_seconds",
        "Time left until the presented certificate that expires first expires (negative once expired; divide by \
         86400 for days left).",
    );
    let mut mx_up = Family::new(
        "smtp_probe_mx_up",
        "Whether mail to the domain can be delivered: 1 when some MX host can take mail, 0 when none can.",
    );
    let mut mx_verdict = Family::new(
        "smtp_probe_mx_verdict",
        "The domain's aggregate MX verdict: 1 for the current one of up (every host up), degraded and down.",
    );
    let mut mx_cause =
        Family::new("smtp_probe_mx_cause", "The primary cause of an aggregate MX verdict other than up (always 1).");
    let mut mx_hosts =
        Family::new("smtp_probe_mx_hosts", "The number of MX hosts probed for the domain (0 for a null MX).");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = i64::try_from(now).unwrap_or(i64::MAX);

    for (mx, r) in results.reports() {
        let source = (r, mx.map(|(mx, _)| mx.domain.as_str()));
        up.add(source, &[], f64::from(u8::from(r.verdict != Verdict::Down)));
        for v in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
            verdict.add(source, &[("verdict", v.as_str())], f64::from(u8::from(r.verdict == v)));
        }
        if let Some(c) = r.cause {
            cause.add(source, &[("cause", c.as_str())], 1.0);
        }
        duration.add(source, &[], r.total.as_secs_f64());
        response.add(source, &[], r.response_time.as_secs_f64());
        for (name, time) in r.phase_durations() {
            phase.add(source, &[("phase", name.as_str())], time.as_secs_f64());
        }
        let mut last_codes: Vec<(&str, u16)> = Vec::new();
        for step in &r.steps {
            let Some(reply) = &step.reply else { continue };
            let name = step.phase.as_str();
            match last_codes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, code)) => *code = reply.code.get(),
                None => last_codes.push((name, reply.code.get())),
            }
        }
        for (name, code) in last_codes {
            reply_code.add(source, &[("phase", name)], f64::from(code));
        }
        for (label, severity) in
            [("info", Severity::Info), ("warning", Severity::Warning), ("critical", Severity::Critical)]
        {
            let count = r.findings.iter().filter(|f| f.severity == severity).count();
            findings.add(source, &[("severity", label)], count as f64);
        }
        if let Some(tls) = &r.tls {
            let version = tls.version.as_deref().unwrap_or("unknown");
            let cipher = tls.cipher.as_deref().unwrap_or("unknown");
            tls_info.add(source, &[("version", version), ("cipher", cipher)], 1.0);
            verified.add(source, &[], f64::from(u8::from(tls.verified)));
            if let Some(cert) = tls.chain_earliest_expiry() {
                expiry.add(source, &[], cert.not_after_unix as f64);
                remaining.add(source, &[], cert.not_after_unix.saturating_sub(now) as f64);
            }
        }
    }

    for mx in &results.mx {
        let domain = ("domain", mx.domain.as_str());
        mx_up.push(&[domain], f64::from(u8::from(mx.verdict != Verdict::Down)));
        for v in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
            mx_verdict.push(&[domain, ("verdict", v.as_str())], f64::from(u8::from(mx.verdict == v)));
        }
        if let Some(c) = mx.cause {
            mx_cause.push(&[domain, ("cause", c.as_str())], 1.0);
        }
        mx_hosts.push(&[domain], mx.hosts.len() as f64);
    }

    let mut out = String::new();
    for family in [
        up, verdict, cause, duration, response, phase, reply_code, findings, tls_info, verified, expiry, remaining,
        mx_up, mx_verdict, mx_cause, mx_hosts,
    ] {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for (labels, value) in &family.samples {
            let _ = writeln!(out, "{}{{{labels}}} {value}", family.name);
        }
    }
    out
}

/// Label values escape backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
