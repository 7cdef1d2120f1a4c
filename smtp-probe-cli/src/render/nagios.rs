//! Nagios plugin output (<https://nagios-plugins.org/doc/guidelines.html>): one status line,
//! `SMTP OK|WARNING|CRITICAL - <what happened, in the server's words where it matters>|<perfdata>`, then long
//! output lines (findings with `-v`, the transcript with `--transcript`).
//!
//! Perfdata: `'time'` is the response time the `-w`/`-c` thresholds compare; every phase follows (`'connect'`,
//! `'greeting'`, `'ehlo'`, ...), then `'cert_days'`, the days left of the first certificate of the chain to expire,
//! with `-D`'s thresholds as ranges (`30:` alerts below 30). With several targets each label starts with the target.

use std::fmt::Write as _;
use std::time::Duration;

use smtp_probe_tokio::Report;
use smtp_probe_tokio::proto::Severity;

use super::{Options, phase_durations};
use crate::status::Status;

/// The status line and long output.
pub fn render(reports: &[Report], options: &Options) -> String {
    let status = Status::worst(reports);
    let text = match reports {
        [one] => describe(one),
        many => {
            let not_up = many.iter().filter(|r| Status::from_verdict(r.verdict) != Status::Ok).count();
            let each: Vec<String> = many.iter().map(describe).collect();
            format!("{not_up} of {} targets not up: {}", many.len(), each.join("; "))
        }
    };
    let prefix = reports.len() > 1;
    let perfdata: Vec<String> = reports.iter().flat_map(|r| perfdata(r, options, prefix)).collect();
    let mut out = format!("SMTP {} - {}|{}\n", status.label(), clean(&text), perfdata.join(" "));
    for report in reports {
        if options.verbose > 0 {
            for finding in &report.findings {
                let severity = match finding.severity {
                    Severity::Info => "info",
                    Severity::Warning => "warning",
                    Severity::Critical => "critical",
                };
                let cause = finding.cause.map(|c| format!(" {c}")).unwrap_or_default();
                let _ = writeln!(out, "{} [{severity}{cause}] {}", report.target, clean(&finding.message));
            }
        }
        if options.transcript {
            for line in &report.transcript {
                let who = format!("{:?}", line.direction).to_lowercase();
                let _ =
                    writeln!(out, "{} {:>9.3} ms {who}: {}", report.target, super::millis(line.at), clean(&line.text));
            }
        }
    }
    out
}

/// What happened at one target, in a line.
fn describe(report: &Report) -> String {
    let Some(finding) = report.primary_finding() else {
        let mut line = format!("{} up, {:.3} s response time", report.target, report.response_time.as_secs_f64());
        if let Some(greeting) = &report.greeting {
            let _ = write!(line, ", greeting \"{} {}\"", greeting.code, greeting.text_lossy());
        }
        if let Some(tls) = &report.tls {
            let _ = write!(line, ", {}", tls.version.as_deref().unwrap_or("TLS"));
            if let Some(cert) = tls.chain_earliest_expiry() {
                let _ = write!(line, ", certificate valid for {} days", cert.days_left);
            }
        }
        return line;
    };
    let mut line = format!("{} {}: {}", report.target, report.verdict, finding.cause.map_or("unknown", |c| c.as_str()));
    if let Some(phase) = finding.phase {
        let _ = write!(line, " ({phase})");
    }
    let _ = write!(line, ": {}", finding.message);
    if let Some(text) = finding.server_text.as_deref().filter(|t| !finding.message.contains(t)) {
        let _ = write!(line, " (server said: {text})");
    }
    line
}

fn perfdata(report: &Report, options: &Options, prefix: bool) -> Vec<String> {
    let label = |name: &str| {
        let full = if prefix { format!("{} {name}", report.target) } else { name.to_owned() };
        format!("'{}'", full.replace('\'', "''").replace('=', "_"))
    };
    let t = &options.thresholds;
    let mut out = vec![format!(
        "{}={}s;{};{};0;",
        label("time"),
        seconds(report.response_time),
        t.response_warning.map(seconds).unwrap_or_default(),
        t.response_critical.map(seconds).unwrap_or_default(),
    )];
    for (phase, duration) in phase_durations(report) {
        out.push(format!("{}={}s;;;0;", label(phase), seconds(duration)));
    }
    if let Some(cert) = report.tls.as_ref().and_then(|tls| tls.chain_earliest_expiry()) {
        let range = |days: Option<u32>| days.map(|d| format!("{d}:")).unwrap_or_default();
        out.push(format!(
            "{}={};{};{};;",
            label("cert_days"),
            cert.days_left,
            range(t.certificate_days_warning),
            range(t.certificate_days_critical),
        ));
    }
    out
}

fn seconds(duration: Duration) -> String {
    format!("{:.6}", duration.as_secs_f64())
}

/// Nothing in the text part may end the line or start the perfdata.
fn clean(text: &str) -> String {
    text.replace('|', "/").replace(['\r', '\n'], " ")
}
