//! Nagios plugin output (<https://nagios-plugins.org/doc/guidelines.html>): one status line,
//! `SMTP OK|WARNING|CRITICAL - <what happened, in the server's words where it matters>|<perfdata>`, then long
//! output lines (findings with `-v`, the transcript with `--transcript`).
//!
//! Perfdata: `'time'` is the response time the `-w`/`-c` thresholds compare; every phase follows (`'connect'`,
//! `'greeting'`, `'ehlo'`, ...), then `'cert_days'`, the days left of the first certificate of the chain to expire,
//! with `-D`'s thresholds as ranges (`30:` alerts below 30). With several targets each label starts with the target.
//!
//! `--mx` domains share the one status line (their aggregate verdict counts, and the text names every host with
//! its preference and verdict). Each MX host's perfdata labels start with the host and the address probed
//! (`'mx1.example.com 192.0.2.1:25 time'`; the domain first when there are several `--mx`), and each domain adds
//! `'<domain> mx_hosts_up'`: how many of its hosts can take mail, out of the maximum, its number of hosts.

use std::fmt::Write as _;
use std::time::Duration;

use smtp_probe_tokio::proto::{Finding, Severity};
use smtp_probe_tokio::{MxReport, Report, Verdict};

use super::{Options, Results};
use crate::status::Status;

/// The status line and long output.
pub fn render(results: &Results, options: &Options) -> String {
    let status = results.status();
    let mut each: Vec<String> = results.targets.iter().map(describe).collect();
    each.extend(results.mx.iter().map(describe_mx));
    let text = if each.len() == 1 {
        each.remove(0)
    } else {
        let verdicts = results.targets.iter().map(|r| r.verdict).chain(results.mx.iter().map(|m| m.verdict));
        let not_up = verdicts.filter(|v| Status::from_verdict(*v) != Status::Ok).count();
        let noun = if results.mx.is_empty() { "targets" } else { "checks" };
        format!("{not_up} of {} {noun} not up: {}", each.len(), each.join("; "))
    };
    let several = results.reports().count() > 1;
    let several_domains = results.mx.len() > 1;
    let mut perf: Vec<String> = Vec::new();
    for (mx, report) in results.reports() {
        let prefix = match mx {
            None => several.then(|| report.target.clone()),
            Some((mx, host)) => {
                let host = &host.host;
                let mut label = if several_domains { format!("{} {host}", mx.domain) } else { host.clone() };
                if let Some(address) = &report.address {
                    label = format!("{label} {address}");
                }
                Some(label)
            }
        };
        perf.extend(perfdata(report, options, prefix.as_deref()));
    }
    for mx in &results.mx {
        let working = mx.hosts.iter().filter(|h| h.verdict != Verdict::Down).count();
        perf.push(format!("{}={working};;;0;{}", quote(&format!("{} mx_hosts_up", mx.domain)), mx.hosts.len()));
    }
    let mut out = format!("SMTP {} - {}|{}\n", status.label(), clean(&text), perf.join(" "));
    if options.verbose > 0 {
        for mx in &results.mx {
            for finding in &mx.findings {
                long_finding(&mut out, &format!("MX {}", mx.domain), finding);
            }
        }
    }
    for (_, report) in results.reports() {
        if options.verbose > 0 {
            for finding in &report.findings {
                long_finding(&mut out, &report.target, finding);
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

fn long_finding(out: &mut String, source: &str, finding: &Finding) {
    let severity = match finding.severity {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    };
    let cause = finding.cause.map(|c| format!(" {c}")).unwrap_or_default();
    let _ = writeln!(out, "{source} [{severity}{cause}] {}", clean(&finding.message));
}

/// An MX domain in a line: its summary, then every host with its preference and verdict.
fn describe_mx(mx: &MxReport) -> String {
    let mut line = format!("MX {} {}", mx.domain, mx.summary());
    if mx.null_mx {
        line.push_str(" [null MX]");
    } else if !mx.hosts.is_empty() {
        let hosts: Vec<String> =
            mx.hosts.iter().map(|h| format!("{} {} {}", h.preference, h.host, h.verdict)).collect();
        let implicit = if mx.implicit_mx { "implicit MX: " } else { "" };
        let _ = write!(line, " [{implicit}{}]", hosts.join(", "));
    }
    line
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

fn perfdata(report: &Report, options: &Options, prefix: Option<&str>) -> Vec<String> {
    let label = |name: &str| match prefix {
        Some(prefix) => quote(&format!("{prefix} {name}")),
        None => quote(name),
    };
    let t = &options.thresholds;
    let mut out = vec![format!(
        "{}={}s;{};{};0;",
        label("time"),
        seconds(report.response_time),
        t.response_warning.map(seconds).unwrap_or_default(),
        t.response_critical.map(seconds).unwrap_or_default(),
    )];
    for (phase, duration) in report.phase_durations() {
        out.push(format!("{}={}s;;;0;", label(phase.as_str()), seconds(duration)));
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

/// A perfdata label, quoted: `'` doubled, `=` (which would end the label) replaced.
fn quote(label: &str) -> String {
    format!("'{}'", label.replace('\'', "''").replace('=', "_"))
}

fn seconds(duration: Duration) -> String {
    format!("{:.6}", duration.as_secs_f64())
}

/// Nothing in the text part may end the line or start the perfdata.
fn clean(text: &str) -> String {
    text.replace('|', "/").replace(['\r', '\n'], " ")
}
