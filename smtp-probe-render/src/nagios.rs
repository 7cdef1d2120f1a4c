//! Nagios plugin output (<https://nagios-plugins.org/doc/guidelines.html>): one status line,
//! `SMTP OK|WARNING|CRITICAL - <what happened, in the server's words where it matters>|<perfdata>`, then long
//! output lines (findings with `verbose`, the transcript with `transcript`). A check that could not run on this
//! machine (`local_error`) is `UNKNOWN`, whatever its verdict.
//!
//! Perfdata: `'time'` is the response time the thresholds compare; every phase follows (`'connect'`,
//! `'greeting'`, `'ehlo'`, ...), then `'cert_days'`, the days left of the first certificate of the chain to expire,
//! with the certificate thresholds as ranges (`30:` alerts below 30). With several reports each label starts with
//! the target.
//!
//! A round trip's text is `roundtrip <submit> → <mailbox>` and its summary (`up: delivered to INBOX in 103 ms
//! (queued as …)`, or the cause, phase and message); its perfdata: `'delivery'`, the end-to-end latency (acceptance
//! to visible), with [`NagiosOptions::delivery_time`] as its warning and critical thresholds, when the message was
//! found; `'submit'`, the submission; `'mailbox_ready'`, the mailbox login; `'total'`, the whole run; `'searches'`.
//! With several items, each of those labels starts with `roundtrip <submit> <mailbox>`.
//!
//! MX domains share the one status line (their aggregate verdict counts, and the text names every host with its
//! preference and verdict). Each MX host's perfdata labels start with the host and the address probed
//! (`'mx1.example.com 192.0.2.1:25 time'`; the domain first when there are several domains), and each domain adds
//! `'<domain> mx_hosts_up'`: how many of its hosts can take mail, out of the maximum, its number of hosts.
//!
//! Server text is [escaped](crate::escape) and `|`, which would start the performance data, is written as `¦`
//! everywhere (status line, long output, labels). Each item's text in the status line is cut to
//! [`MAX_ITEM_CHARS`] characters and each long output line to [`MAX_LINE_CHARS`], so a server cannot push the
//! performance data past what a monitoring system keeps of a plugin's output.

use std::fmt::Write as _;
use std::time::Duration;

use smtp_probe_proto::domain::DomainReport;
use smtp_probe_proto::mx::MxReport;
use smtp_probe_proto::{Cause, Finding, OwnedReply, Report, RoundTripReport, Thresholds, Verdict};

use crate::escape::{escape, escape_bytes, truncate};
use crate::item::{Item, all_reports, domain_checks, split};

/// The longest description of one item in the status line, in characters.
pub const MAX_ITEM_CHARS: usize = 512;
/// The longest long-output line, in characters.
pub const MAX_LINE_CHARS: usize = 1024;

/// What Nagios output shows besides the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NagiosOptions {
    /// The thresholds the probes used: the perfdata's warning and critical ranges.
    pub thresholds: Thresholds,
    /// The delivery-time thresholds the round trips used (warning, critical): the `'delivery'` perfdata's ranges
    /// (see `RoundTripConfig::delivery_thresholds`).
    pub delivery_time: (Option<Duration>, Option<Duration>),
    /// Findings as long output.
    pub verbose: bool,
    /// The transcript as long output.
    pub transcript: bool,
}

/// The Nagios state of an item, from best to worst: `OK`, `WARNING` or `CRITICAL` as its verdict says, `UNKNOWN`
/// when the check could not run on this machine (`local_error`), as the command's exit status 3 says.
fn state(item: &Item<'_>) -> (u8, &'static str) {
    match (item.verdict(), item.cause()) {
        (_, Some(Cause::LocalError)) => (3, "UNKNOWN"),
        (Verdict::Up, _) => (0, "OK"),
        (Verdict::Degraded, _) => (1, "WARNING"),
        (Verdict::Down, _) => (2, "CRITICAL"),
    }
}

/// `SMTP UNKNOWN - <message>`: the status line of a check that could not run (bad arguments, an unreadable
/// file), the message escaped as everything else, and no performance data.
pub(crate) fn unknown(message: &str) -> String {
    format!("SMTP UNKNOWN - {}\n", clean(&truncate(message, MAX_ITEM_CHARS)))
}

pub(crate) fn render(items: &[Item<'_>], options: &NagiosOptions) -> String {
    let Some((_, worst)) = items.iter().map(state).max() else {
        return unknown("nothing was probed");
    };
    let kinds = split(items);
    let domains = kinds.domains;
    let mut each: Vec<String> = items
        .iter()
        .map(|item| match item {
            Item::Target(report) => describe(report),
            Item::Mx(mx) => describe_mx(mx),
            Item::Domain(domain) => describe_domain(domain),
            Item::RoundTrip(roundtrip) => describe_roundtrip(roundtrip),
        })
        .map(|text| truncate(&text, MAX_ITEM_CHARS).into_owned())
        .collect();
    let text = if each.len() == 1 {
        each.remove(0)
    } else {
        let not_up = items.iter().filter(|i| i.verdict() != Verdict::Up).count();
        let noun = if domains.is_empty() && kinds.roundtrips.is_empty() { "targets" } else { "checks" };
        format!("{not_up} of {} {noun} not up: {}", each.len(), each.join("; "))
    };
    let several = all_reports(items).count() + kinds.roundtrips.len() > 1;
    let several_domains = domains.len() > 1;
    let mut perf: Vec<String> = Vec::new();
    for (mx, report) in all_reports(items) {
        let prefix = match mx {
            None => several.then(|| report.target.clone()),
            Some(mx) => {
                let host = &mx.host.host;
                let mut label = if several_domains { format!("{} {host}", mx.domain.domain) } else { host.clone() };
                if let Some(address) = &report.address {
                    label = format!("{label} {address}");
                }
                Some(label)
            }
        };
        perf.extend(perfdata(report, &options.thresholds, prefix.as_deref()));
    }
    for mx in &domains {
        let working = mx.hosts.iter().filter(|h| h.verdict != Verdict::Down).count();
        perf.push(format!("{}={working};;;0;{}", quote(&format!("{} mx_hosts_up", mx.domain)), mx.hosts.len()));
    }
    for check in domain_checks(items) {
        let ok = check.hosts.iter().filter(|h| h.verdict != Verdict::Down).count();
        perf.push(format!("{}={ok};;;0;{}", quote(&format!("{} mx_policy_ok", check.domain)), check.hosts.len()));
        let t = &check.timings;
        perf.push(format!("{}={:.6}s;;;0;", quote(&format!("{} dns_time", check.domain)), t.dns.as_secs_f64()));
        if let Some(fetch) = t.policy_fetch {
            perf.push(format!(
                "{}={:.6}s;;;0;",
                quote(&format!("{} policy_fetch_time", check.domain)),
                fetch.as_secs_f64()
            ));
        }
        perf.push(format!("{}={:.6}s;;;0;", quote(&format!("{} check_time", check.domain)), t.total.as_secs_f64()));
    }
    for roundtrip in &kinds.roundtrips {
        let prefix = several.then(|| format!("roundtrip {} {}", roundtrip.submit_target, roundtrip.mailbox.target));
        perf.extend(roundtrip_perfdata(roundtrip, options.delivery_time, prefix.as_deref()));
    }
    let mut out = format!("SMTP {worst} - {}|{}\n", clean(&text), perf.join(" "));
    let mut long = |line: String| {
        let _ = writeln!(out, "{}", truncate(&line, MAX_LINE_CHARS));
    };
    if options.verbose {
        for check in domain_checks(items) {
            for finding in &check.findings {
                long(long_finding(&format!("domain {}", check.domain), finding));
            }
            for rf in &check.record_findings {
                long(format!("domain {} [{} {}] {}", check.domain, rf.level, rf.problem, clean(&rf.message)));
            }
        }
        for mx in &domains {
            for finding in &mx.findings {
                long(long_finding(&format!("MX {}", mx.domain), finding));
            }
        }
    }
    for (_, report) in all_reports(items) {
        if options.verbose {
            for finding in &report.findings {
                long(long_finding(&report.target, finding));
            }
        }
        if options.transcript {
            for line in &report.transcript {
                let at = crate::millis(line.at);
                long(format!("{} {at:>9.3} ms {}: {}", clean(&report.target), line.direction, clean(&line.text)));
            }
        }
    }
    for roundtrip in &kinds.roundtrips {
        let name = format!("roundtrip {} → {}", roundtrip.submit_target, roundtrip.mailbox.target);
        if options.verbose {
            for finding in &roundtrip.findings {
                long(long_finding(&name, finding));
            }
        }
        if options.transcript {
            let submit = roundtrip.submit.iter().flat_map(|s| s.transcript.iter().map(move |l| (&s.target, l)));
            let mailbox = roundtrip.mailbox.transcript.iter().map(|l| (&roundtrip.mailbox.target, l));
            for (side, line) in submit.chain(mailbox) {
                let at = crate::millis(line.at);
                long(format!("{} {at:>9.3} ms {}: {}", clean(side), line.direction, clean(&line.text)));
            }
        }
    }
    out
}

/// A round trip in a line: its servers and its summary (with the server's words behind a failure, and the queue
/// id of a message accepted but not delivered in time, to look for in the server's logs).
fn describe_roundtrip(roundtrip: &RoundTripReport) -> String {
    let summary = roundtrip.summary();
    let mut line = format!("roundtrip {} → {} {summary}", roundtrip.submit_target, roundtrip.mailbox.target);
    if let Some(text) =
        roundtrip.primary_finding().and_then(|f| f.server_text.as_deref().filter(|t| !f.message.contains(t)))
    {
        let _ = write!(line, " (server said: {text})");
    }
    let queued = roundtrip.submit.as_ref().and_then(|s| s.queue_id.as_deref()).filter(|id| !summary.contains(id));
    if let Some(id) = queued {
        let _ = write!(line, " (queued as {id})");
    }
    line
}

/// A round trip's perfdata: delivery (when found) with the delivery thresholds, submission, mailbox login, the
/// whole run, searches.
fn roundtrip_perfdata(
    roundtrip: &RoundTripReport,
    (warning, critical): (Option<Duration>, Option<Duration>),
    prefix: Option<&str>,
) -> Vec<String> {
    let label = |name: &str| match prefix {
        Some(prefix) => quote(&format!("{prefix} {name}")),
        None => quote(name),
    };
    let t = &roundtrip.timings;
    let mut out = Vec::new();
    if let Some(delivery) = t.end_to_end {
        out.push(format!(
            "{}={}s;{};{};0;",
            label("delivery"),
            seconds(delivery),
            warning.map(seconds).unwrap_or_default(),
            critical.map(seconds).unwrap_or_default(),
        ));
    }
    for (name, time) in [("submit", t.submit), ("mailbox_ready", t.mailbox_ready), ("total", Some(t.total))] {
        if let Some(time) = time {
            out.push(format!("{}={}s;;;0;", label(name), seconds(time)));
        }
    }
    out.push(format!("{}={};;;0;", label("searches"), roundtrip.mailbox.searches));
    out
}

fn long_finding(source: &str, finding: &Finding) -> String {
    let cause = finding.cause.map(|c| format!(" {c}")).unwrap_or_default();
    format!("{} [{}{cause}] {}", clean(source), finding.severity, clean(&finding.message))
}

/// An MX domain in a line: its summary, then every host with its preference and verdict.
fn describe_domain(check: &DomainReport) -> String {
    let mut line = format!("domain {} {}", check.domain, check.summary());
    let hosts: Vec<String> = check.hosts.iter().map(|h| format!("{} {} {}", h.preference, h.host, h.verdict)).collect();
    if !hosts.is_empty() {
        let _ = write!(line, " [{}]", hosts.join(", "));
    }
    line
}

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
            let _ = write!(line, ", greeting \"{} {}\"", greeting.code, reply_text(greeting));
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

/// A reply's lines joined by a space, bytes that are not UTF-8 kept as `\xNN`.
fn reply_text(reply: &OwnedReply) -> String {
    reply.lines.iter().map(|line| escape_bytes(line).into_owned()).collect::<Vec<_>>().join(" ")
}

fn perfdata(report: &Report, t: &Thresholds, prefix: Option<&str>) -> Vec<String> {
    let label = |name: &str| match prefix {
        Some(prefix) => quote(&format!("{prefix} {name}")),
        None => quote(name),
    };
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

/// A perfdata label, quoted: escaped, `'` doubled, `=` (which would end the label) replaced.
fn quote(label: &str) -> String {
    format!("'{}'", clean(label).replace('\'', "''").replace('=', "_"))
}

fn seconds(duration: Duration) -> String {
    format!("{:.6}", duration.as_secs_f64())
}

/// Server text as it may appear anywhere in plugin output: escaped, and without the `|` that starts perfdata.
fn clean(text: &str) -> String {
    escape(text).replace('|', "¦")
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use smtp_probe_proto::Phase;

    use super::*;

    fn down(target: &str, cause: Cause, message: &str) -> Report {
        Report::without_session(target, SystemTime::UNIX_EPOCH, cause, Phase::Connect, message)
    }

    #[test]
    fn a_check_that_could_not_run_is_unknown() {
        let refused = down("mx1.example.com:25", Cause::ConnectRefused, "connection refused");
        let local =
            down("mx2.example.com:25", Cause::LocalError, "could not run: this process is out of file descriptors");
        let options = NagiosOptions::default();
        assert!(render(&[Item::from(&refused)], &options).starts_with("SMTP CRITICAL - "));
        let out = render(&[Item::from(&local)], &options);
        assert!(
            out.starts_with("SMTP UNKNOWN - mx2.example.com:25 down: local_error (connect): could not run"),
            "{out}"
        );
        let out = render(&[Item::from(&refused), Item::from(&local)], &options);
        assert!(out.starts_with("SMTP UNKNOWN - 2 of 2 targets not up: "), "{out}");
    }
}
