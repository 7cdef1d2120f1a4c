//! Prometheus text exposition (format 0.0.4): the metrics an exporter probing these targets would serve, each
//! sample labelled with its `target`. Families with no sample (no TLS anywhere, every target up) are left out.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_probe_tokio::proto::Severity;
use smtp_probe_tokio::{Report, Verdict};

use super::phase_durations;

/// One metric family: its samples as (labels after `target`, value).
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, String, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family { name, help, samples: Vec::new() }
    }

    fn add(&mut self, report: &Report, labels: &[(&str, &str)], value: f64) {
        let extra: String = labels.iter().map(|(k, v)| format!(",{k}=\"{}\"", escape(v))).collect();
        self.samples.push((escape(&report.target), extra, value));
    }
}

/// The exposition for every report.
pub fn render(reports: &[Report]) -> String {
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
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = i64::try_from(now).unwrap_or(i64::MAX);

    for report in reports {
        up.add(report, &[], f64::from(u8::from(report.verdict != Verdict::Down)));
        for v in [Verdict::Up, Verdict::Degraded, Verdict::Down] {
            verdict.add(report, &[("verdict", v.as_str())], f64::from(u8::from(report.verdict == v)));
        }
        if let Some(c) = report.cause {
            cause.add(report, &[("cause", c.as_str())], 1.0);
        }
        duration.add(report, &[], report.total.as_secs_f64());
        response.add(report, &[], report.response_time.as_secs_f64());
        for (name, time) in phase_durations(report) {
            phase.add(report, &[("phase", name)], time.as_secs_f64());
        }
        let mut last_codes: Vec<(&str, u16)> = Vec::new();
        for step in &report.steps {
            let Some(reply) = &step.reply else { continue };
            let name = step.phase.as_str();
            match last_codes.iter_mut().find(|(n, _)| *n == name) {
                Some((_, code)) => *code = reply.code.get(),
                None => last_codes.push((name, reply.code.get())),
            }
        }
        for (name, code) in last_codes {
            reply_code.add(report, &[("phase", name)], f64::from(code));
        }
        for (label, severity) in
            [("info", Severity::Info), ("warning", Severity::Warning), ("critical", Severity::Critical)]
        {
            let count = report.findings.iter().filter(|f| f.severity == severity).count();
            findings.add(report, &[("severity", label)], count as f64);
        }
        if let Some(tls) = &report.tls {
            let version = tls.version.as_deref().unwrap_or("unknown");
            let cipher = tls.cipher.as_deref().unwrap_or("unknown");
            tls_info.add(report, &[("version", version), ("cipher", cipher)], 1.0);
            verified.add(report, &[], f64::from(u8::from(tls.verified)));
            if let Some(cert) = tls.chain_earliest_expiry() {
                expiry.add(report, &[], cert.not_after_unix as f64);
                remaining.add(report, &[], cert.not_after_unix.saturating_sub(now) as f64);
            }
        }
    }

    let mut out = String::new();
    for family in
        [up, verdict, cause, duration, response, phase, reply_code, findings, tls_info, verified, expiry, remaining]
    {
        if family.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for (target, labels, value) in &family.samples {
            let _ = writeln!(out, "{}{{target=\"{target}\"{labels}}} {value}", family.name);
        }
    }
    out
}

/// Label values escape backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
