//! Target `mta_sts`: MTA-STS records, policy files and `mx` patterns.

use super::{check_findings, split};
use crate::CertificateProblem;
use crate::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord, MxPattern, MxTls, SenderAction};

/// The policy as text again (fields in a fixed order), for the round trip.
fn render_policy(p: &MtaStsPolicy) -> String {
    let mut out = format!("version: STSv1\r\nmode: {}\r\nmax_age: {}\r\n", p.mode, p.max_age);
    for mx in &p.mx {
        out.push_str(&format!("mx: {mx}\r\n"));
    }
    for (k, v) in &p.extensions {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

/// A second, independent reading of RFC 8461 §4.1 for the pattern check.
fn reference_match(pattern: &MxPattern, host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if !pattern.wildcard {
        return host == pattern.domain;
    }
    let suffix = format!(".{}", pattern.domain);
    host.len() > suffix.len() && host.ends_with(&suffix) && !host[..host.len() - suffix.len()].contains('.')
}

/// Target `mta_sts`. Input: any bytes, read as a TXT record, as a TXT RRset (records split at NUL), as a policy
/// file, and (line by line) as `mx` patterns and MX host names.
///
/// Checks: no panic; a parsed record has a 1–32 alphanumeric id and re-parses from its rendering; an RRset gives
/// a record only if exactly one record starts with `v=STSv1`; a parsed policy is within the limits (size, max_age,
/// mx unless mode none), re-parses identical from its rendering, and its findings are consistent; every pattern
/// matches exactly the hosts an independent reading of the wildcard rule matches; `check_mx` fails `NotListed`
/// exactly when no pattern matches, passes only without failures, and the sender action follows from the mode.
pub fn check(data: &[u8]) {
    if let Ok(record) = MtaStsRecord::parse(data) {
        assert!(!record.id.is_empty() && record.id.len() <= 32);
        assert!(record.id.bytes().all(|b| b.is_ascii_alphanumeric()));
        let mut text = format!("v=STSv1; id={}", record.id);
        for (k, v) in &record.extensions {
            text.push_str(&format!("; {k}={v}"));
        }
        assert_eq!(MtaStsRecord::parse(text.as_bytes()).as_ref(), Ok(&record), "{text}");
    }
    let rrset = split(data, 0, 16);
    if let Ok(Some(_)) = MtaStsRecord::from_rrset(&rrset) {
        let starts = rrset.iter().filter(|r| r.starts_with(b"v=STSv1")).count();
        assert!(starts >= 1);
    }
    if let Err(e) = MtaStsRecord::from_rrset(&rrset) {
        check_findings(&[e.finding()]);
    }

    let mut patterns: Vec<MxPattern> = Vec::new();
    match MtaStsPolicy::parse(data) {
        Ok(policy) => {
            assert!(data.len() <= crate::policy::mta_sts::POLICY_MAX_BYTES);
            assert!(policy.max_age <= crate::policy::mta_sts::MAX_AGE_LIMIT);
            assert!(policy.mode == Mode::None || !policy.mx.is_empty());
            check_findings(&policy.findings());
            let again = MtaStsPolicy::parse(render_policy(&policy).as_bytes()).expect("a rendered policy parses");
            assert_eq!(
                (again.mode, again.max_age, &again.mx, &again.extensions),
                (policy.mode, policy.max_age, &policy.mx, &policy.extensions)
            );
            patterns.extend(policy.mx.iter().take(16).cloned());
        }
        Err(e) => check_findings(&[e.finding()]),
    }
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let lines: Vec<&str> = text.lines().take(16).collect();
    patterns.extend(lines.iter().filter_map(|l| MxPattern::parse(l.trim()).ok()));
    let hosts: Vec<&str> = lines.iter().map(|l| l.trim().trim_start_matches("*.")).collect();
    for pattern in patterns.iter().take(16) {
        for host in &hosts {
            assert_eq!(pattern.matches(host), reference_match(pattern, host), "{pattern} vs {host:?}");
        }
    }
    if let Some(host) = hosts.first() {
        let expired = CertificateProblem::Expired;
        for mode in ["enforce", "testing", "none"] {
            let mut body = format!("version: STSv1\nmode: {mode}\nmax_age: 86400\n");
            for p in patterns.iter().take(8) {
                body.push_str(&format!("mx: {p}\n"));
            }
            let Ok(policy) = MtaStsPolicy::parse(body.as_bytes()) else {
                assert!(patterns.is_empty() && mode != "none", "{body}");
                continue;
            };
            for tls in [MxTls::NoStartTls, MxTls::HandshakeFailed, MxTls::verified(host), MxTls::failed(host, &expired)]
            {
                let check = policy.check_mx(host, &tls);
                let listed = policy.matching_pattern(host).is_some();
                assert_eq!(check.failures.contains(&crate::policy::mta_sts::MxFailure::NotListed), !listed);
                assert_eq!(check.passed(), check.failures.is_empty());
                let expected = match (check.passed(), policy.mode) {
                    (true, _) | (false, Mode::None) => SenderAction::Deliver,
                    (false, Mode::Testing) => SenderAction::DeliverAndReport,
                    (false, Mode::Enforce) => SenderAction::Refuse,
                };
                assert_eq!(check.sender_action(), expected);
            }
        }
    }
}
