//! Reports as metrics of the [vocabulary](crate::metrics), in either exposition format: every probe report's
//! metrics labelled with its `target` (and `mx_domain` for an MX host), then every MX domain's aggregate, then
//! every round trip's metrics labelled with its `submit` and `mailbox` servers. Families with no sample (no TLS
//! anywhere, every target up) are left out.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smtp_probe_proto::{Finding, Report, RoundTripReport, Severity, Verdict};

use crate::exposition::{Exposition, ExpositionFormat, Family};
use crate::item::{Item, all_reports, domain_checks, split};
use crate::metrics;

/// The exposition of these items at `now` (the wall-clock time certificate lifetimes are counted from).
pub(crate) fn render<'a>(items: &'a [Item<'a>], now: SystemTime, format: ExpositionFormat) -> String {
    let mut up = Family::new(metrics::UP);
    let mut verdict = Family::new(metrics::VERDICT);
    let mut cause = Family::new(metrics::CAUSE);
    let mut duration = Family::new(metrics::DURATION);
    let mut response = Family::new(metrics::RESPONSE_DURATION);
    let mut phase = Family::new(metrics::PHASE_DURATION);
    let mut reply_code = Family::new(metrics::REPLY_CODE);
    let mut findings = Family::new(metrics::FINDINGS);
    let mut tls_version = Family::new(metrics::TLS_VERSION);
    let mut verified = Family::new(metrics::TLS_CERTIFICATE_VERIFIED);
    let mut expiry = Family::new(metrics::TLS_CERTIFICATE_EXPIRY);
    let mut remaining = Family::new(metrics::TLS_CERTIFICATE_REMAINING);
    let now = unix_seconds(now);

    // A target probed once per address family has several reports: the address tells their series apart.
    let mut reports_per_key: HashMap<(&str, Option<&str>), usize> = HashMap::new();
    for (mx, report) in all_reports(items) {
        *reports_per_key.entry((report.target.as_str(), mx.map(|m| m.domain.domain.as_str()))).or_default() += 1;
    }
    let mut written: HashSet<Vec<(&str, &str)>> = HashSet::new();

    for (mx, r) in all_reports(items) {
        let mx_domain = mx.map(|m| m.domain.domain.as_str());
        let mut base: Vec<(&str, &str)> = vec![("target", r.target.as_str())];
        base.extend(mx_domain.map(|d| ("mx_domain", d)));
        if let Some(address) = r.address.as_deref().filter(|_| reports_per_key[&(r.target.as_str(), mx_domain)] > 1) {
            base.push(("address", address));
        }
        // The same series twice would make the exposition invalid: the first report of a label set wins.
        if !written.insert(base.clone()) {
            continue;
        }
        let with = |extra: &[(&'a str, &'a str)]| labels(&base, extra);
        up.sample(&base, f64::from(u8::from(r.verdict != Verdict::Down)));
        for v in Verdict::ALL {
            verdict.sample(&with(&[("verdict", v.as_str())]), f64::from(u8::from(r.verdict == *v)));
        }
        if let Some(c) = r.cause {
            cause.sample(&with(&[("cause", c.as_str())]), 1.0);
        }
        duration.sample(&base, r.total.as_secs_f64());
        response.sample(&base, r.response_time.as_secs_f64());
        for (name, time) in r.phase_durations() {
            phase.sample(&with(&[("phase", name.as_str())]), time.as_secs_f64());
        }
        for (name, code) in last_reply_codes(r) {
            reply_code.sample(&with(&[("phase", name)]), f64::from(code));
        }
        for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
            let count = r.findings.iter().filter(|f| f.severity == severity).count();
            findings.sample(&with(&[("severity", severity.as_str())]), count as f64);
        }
        if let Some(tls) = &r.tls {
            let version = tls.version.as_deref().unwrap_or("unknown");
            let cipher = tls.cipher.as_deref().unwrap_or("unknown");
            tls_version.sample(&with(&[("version", version), ("cipher", cipher)]), 1.0);
            verified.sample(&base, f64::from(u8::from(tls.verified)));
            if let Some(cert) = tls.chain_earliest_expiry() {
                expiry.sample(&base, cert.not_after_unix as f64);
                remaining.sample(&base, cert.not_after_unix.saturating_sub(now) as f64);
            }
        }
    }

    let mut mx_up = Family::new(metrics::MX_UP);
    let mut mx_verdict = Family::new(metrics::MX_VERDICT);
    let mut mx_cause = Family::new(metrics::MX_CAUSE);
    let mut mx_hosts = Family::new(metrics::MX_HOSTS);
    let mut domains_written = HashSet::new();
    for mx in split(items).domains {
        if !domains_written.insert(mx.domain.as_str()) {
            continue;
        }
        let domain = ("domain", mx.domain.as_str());
        mx_up.sample(&[domain], f64::from(u8::from(mx.verdict != Verdict::Down)));
        for v in Verdict::ALL {
            mx_verdict.sample(&[domain, ("verdict", v.as_str())], f64::from(u8::from(mx.verdict == *v)));
        }
        if let Some(c) = mx.cause {
            mx_cause.sample(&[domain, ("cause", c.as_str())], 1.0);
        }
        mx_hosts.sample(&[domain], mx.hosts.len() as f64);
    }

    let mut d_up = Family::new(metrics::DOMAIN_UP);
    let mut d_verdict = Family::new(metrics::DOMAIN_VERDICT);
    let mut d_cause = Family::new(metrics::DOMAIN_CAUSE);
    let mut d_mode = Family::new(metrics::DOMAIN_POLICY_MODE);
    let mut d_dane = Family::new(metrics::DOMAIN_DANE_USABLE);
    let mut d_mx_ok = Family::new(metrics::DOMAIN_MX_POLICY_OK);
    let mut d_secure = Family::new(metrics::DOMAIN_DNSSEC_SECURE);
    let mut d_records = Family::new(metrics::DOMAIN_RECORD_FINDINGS);
    let mut checks_written = HashSet::new();
    for check in domain_checks(items) {
        if !checks_written.insert(check.domain.as_str()) {
            continue;
        }
        let domain = ("domain", check.domain.as_str());
        d_up.sample(&[domain], f64::from(u8::from(check.verdict != Verdict::Down)));
        for v in Verdict::ALL {
            d_verdict.sample(&[domain, ("verdict", v.as_str())], f64::from(u8::from(check.verdict == *v)));
        }
        if let Some(c) = check.cause {
            d_cause.sample(&[domain, ("cause", c.as_str())], 1.0);
        }
        if let Some(mode) = check.policy_mode() {
            for m in ["enforce", "testing", "none"] {
                d_mode.sample(&[domain, ("mode", m)], f64::from(u8::from(mode.as_str() == m)));
            }
        }
        d_dane.sample(&[domain], f64::from(u8::from(check.dane_usable())));
        for host in &check.hosts {
            d_mx_ok.sample(&[domain, ("host", host.host.as_str())], f64::from(u8::from(host.verdict != Verdict::Down)));
        }
        let names = ["mx", "mta_sts", "tlsrpt", "dmarc"];
        for (index, lookup) in check.records.iter().enumerate() {
            let record = match names.get(index) {
                Some(name) => (*name).to_owned(),
                None if lookup.rtype == smtp_probe_proto::domain::RecordType::Tlsa => format!("tlsa:{}", lookup.name),
                None => continue,
            };
            let secure = f64::from(u8::from(lookup.dnssec == smtp_probe_proto::domain::DnssecStatus::Secure));
            d_secure.sample(&[domain, ("record", record.as_str())], secure);
        }
        for level in ["advice", "warning", "error"] {
            let count = check.record_findings.iter().filter(|f| f.level.as_str() == level).count();
            d_records.sample(&[domain, ("level", level)], count as f64);
        }
    }

    let roundtrips = roundtrip_families(&split(items).roundtrips);

    let mut out = Exposition::new(format);
    for family in [
        &up,
        &verdict,
        &cause,
        &duration,
        &response,
        &phase,
        &reply_code,
        &findings,
        &tls_version,
        &verified,
        &expiry,
        &remaining,
        &mx_up,
        &mx_verdict,
        &mx_cause,
        &mx_hosts,
        &d_up,
        &d_verdict,
        &d_cause,
        &d_mode,
        &d_dane,
        &d_mx_ok,
        &d_secure,
        &d_records,
    ] {
        out.family(family);
    }
    for family in &roundtrips {
        out.family(family);
    }
    out.finish()
}

/// `Authentication-Results` methods kept as label values; others are counted as `other`. The header is the
/// servers' text: only this fixed vocabulary reaches a label.
const AUTH_METHODS: &[&str] = &["spf", "dkim", "dmarc", "arc", "iprev", "auth", "bimi", "dkim-atps", "vbr", "smime"];
/// `Authentication-Results` results kept as label values (RFC 8601 §2.7 and the registry); others are `other`.
const AUTH_RESULTS: &[&str] =
    &["pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy", "hardfail", "skipped"];

/// The round trips' families, in the order of [`metrics::ROUNDTRIP_METRICS`]; the first round trip of a
/// `submit` and `mailbox` pair wins, as for probe reports.
fn roundtrip_families<'a>(roundtrips: &[&'a RoundTripReport]) -> Vec<Family> {
    let mut families: Vec<Family> = metrics::ROUNDTRIP_METRICS.iter().map(|m| Family::new(*m)).collect();
    let mut written = HashSet::new();
    for r in roundtrips {
        let base = [("submit", r.submit_target.as_str()), ("mailbox", r.mailbox.target.as_str())];
        if !written.insert(base) {
            continue;
        }
        let with = |extra: &[(&'a str, &'a str)]| labels(&base, extra);
        let seconds = |d: Duration| d.as_secs_f64();
        let mut add = |metric: metrics::Metric, labels: &[(&str, &str)], value: f64| {
            let family = families.iter_mut().find(|f| *f.metric() == metric).expect("a round-trip metric");
            family.sample(labels, value);
        };
        let t = &r.timings;
        add(metrics::ROUNDTRIP_UP, &base, f64::from(u8::from(r.verdict != Verdict::Down)));
        for v in Verdict::ALL {
            add(metrics::ROUNDTRIP_VERDICT, &with(&[("verdict", v.as_str())]), f64::from(u8::from(r.verdict == *v)));
        }
        if let Some(c) = r.cause {
            add(metrics::ROUNDTRIP_CAUSE, &with(&[("cause", c.as_str())]), 1.0);
        }
        add(metrics::ROUNDTRIP_DURATION, &base, seconds(t.total));
        if let Some(ready) = t.mailbox_ready {
            add(metrics::ROUNDTRIP_MAILBOX_READY, &base, seconds(ready));
        }
        if let Some(submit) = t.submit {
            add(metrics::ROUNDTRIP_SUBMIT, &base, seconds(submit));
        }
        if let Some(delivery) = t.end_to_end {
            add(metrics::ROUNDTRIP_DELIVERY, &base, seconds(delivery));
        }
        if let Some(missed) = t.not_visible_after {
            add(metrics::ROUNDTRIP_NOT_VISIBLE_AFTER, &base, seconds(missed));
        }
        for (phase, time) in crate::item::roundtrip_phases(r) {
            add(metrics::ROUNDTRIP_PHASE_DURATION, &with(&[("phase", phase.as_str())]), seconds(time));
        }
        add(metrics::ROUNDTRIP_SEARCHES, &base, f64::from(r.mailbox.searches));
        if let Some(delivery) = &r.delivery {
            add(metrics::ROUNDTRIP_FOLDER, &with(&[("folder", delivery.folder.as_str())]), 1.0);
            add(metrics::ROUNDTRIP_JUNK, &base, f64::from(u8::from(delivery.junk)));
            add(metrics::ROUNDTRIP_HOPS, &base, delivery.hops.len() as f64);
            let mut counted: Vec<((&str, &str), u32)> = Vec::new();
            for result in &delivery.authentication {
                let known = |value: &str, vocabulary: &[&'static str]| {
                    vocabulary.iter().copied().find(|v| *v == value).unwrap_or("other")
                };
                let key = (known(&result.method, AUTH_METHODS), known(&result.result, AUTH_RESULTS));
                match counted.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, n)) => *n += 1,
                    None => counted.push((key, 1)),
                }
            }
            for ((method, result), n) in counted {
                add(metrics::ROUNDTRIP_AUTHENTICATION, &with(&[("method", method), ("result", result)]), f64::from(n));
            }
        }
        for severity in [Severity::Info, Severity::Warning, Severity::Critical] {
            let count = r.findings.iter().filter(|f: &&Finding| f.severity == severity).count();
            add(metrics::ROUNDTRIP_FINDINGS, &with(&[("severity", severity.as_str())]), count as f64);
        }
    }
    families
}

/// A report's labels, then a metric's own.
fn labels<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut labels = base.to_vec();
    labels.extend_from_slice(extra);
    labels
}

/// The code of the last reply of each phase, in the order the phases first replied.
fn last_reply_codes(report: &Report) -> Vec<(&'static str, u16)> {
    let mut codes: Vec<(&'static str, u16)> = Vec::new();
    for step in &report.steps {
        let Some(reply) = &step.reply else { continue };
        let name = step.phase.as_str();
        match codes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, code)) => *code = reply.code.get(),
            None => codes.push((name, reply.code.get())),
        }
    }
    codes
}

/// Seconds since the Unix epoch (negative before it).
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
