//! Input decoders and property checks for the fuzz targets of the published-policy parsers
//! (`smtp_probe_proto::policy`): `mta_sts`, `tlsa`, `spf`, `dmarc`, `tlsrpt`.
//!
//! Like `checks.rs`, this file is shared by the cargo-fuzz targets and by the stable replay test
//! `smtp-probe-proto/tests/fuzz_corpus.rs` (through `#[path]`), depends on `smtp-probe-proto` (feature `rustls`)
//! and `std` only, and every decoder accepts every byte string.

use std::collections::HashSet;
use std::net::IpAddr;

use smtp_probe_proto::CertificateProblem;
use smtp_probe_proto::policy::dmarc::DmarcRecord;
use smtp_probe_proto::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord, MxPattern, MxTls, SenderAction};
use smtp_probe_proto::policy::spf::{
    QueryType, SpfAnswer, SpfCheck, SpfLimits, SpfPoll, SpfRecord, SpfReport, SpfResult, Via,
};
use smtp_probe_proto::policy::tlsa::{RecordOutcome, Tlsa, TlsaSet, Usage, association};
use smtp_probe_proto::policy::tlsrpt::TlsRptRecord;
use smtp_probe_proto::policy::{Problem, RecordFinding, ReportUri};

fn check_findings(findings: &[RecordFinding]) {
    for f in findings {
        assert_eq!(f.level, f.problem.level(), "{f}");
        assert_eq!(f.rule, f.problem.rule(), "{f}");
        assert!(f.message.len() <= 1024, "an unbounded message: {} bytes", f.message.len());
        assert!(!f.message.chars().any(char::is_control), "a control character in {:?}", f.message);
    }
}

/// `bytes` split at `sep`, at most `max` pieces (the last one keeps the rest).
fn split(bytes: &[u8], sep: u8, max: usize) -> Vec<&[u8]> {
    bytes.splitn(max, |&b| b == sep).collect()
}

// ---- MTA-STS --------------------------------------------------------------------------------------------------

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
pub fn check_mta_sts(data: &[u8]) {
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
            assert!(data.len() <= smtp_probe_proto::policy::mta_sts::POLICY_MAX_BYTES);
            assert!(policy.max_age <= smtp_probe_proto::policy::mta_sts::MAX_AGE_LIMIT);
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
                assert_eq!(check.failures.contains(&smtp_probe_proto::policy::mta_sts::MxFailure::NotListed), !listed);
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

// ---- TLSA / DANE ----------------------------------------------------------------------------------------------

/// A decoded `tlsa` input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TlsaInput {
    /// Records as rdata.
    pub records: Vec<Vec<u8>>,
    /// The presented chain, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// Reference names.
    pub names: Vec<String>,
    /// Seconds since the epoch for DANE-TA date checks.
    pub now: u64,
}

/// `[records: n, (len, rdata)×n] [chain: n, (len lo, len hi, der)×n] [now: 4 bytes LE, in days] names (text,
/// comma-separated)`. Counts are taken modulo 8; lengths are cut at the end of the input.
pub fn decode_tlsa(data: &[u8]) -> TlsaInput {
    let mut rest = data;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        head.to_vec()
    };
    let mut input = TlsaInput::default();
    let count = take(1).first().copied().unwrap_or(0) % 8;
    for _ in 0..count {
        let len = take(1).first().copied().unwrap_or(0);
        input.records.push(take(usize::from(len)));
    }
    let count = take(1).first().copied().unwrap_or(0) % 8;
    for _ in 0..count {
        let len = take(2);
        let len = u16::from_le_bytes([len.first().copied().unwrap_or(0), len.get(1).copied().unwrap_or(0)]);
        input.chain.push(take(usize::from(len)));
    }
    let days = take(4);
    let mut day_bytes = [0u8; 4];
    day_bytes[..days.len()].copy_from_slice(&days);
    input.now = u64::from(u32::from_le_bytes(day_bytes) % 40_000) * 86_400;
    let names = String::from_utf8_lossy(&take(256)).into_owned();
    input.names = names.split(',').take(4).map(str::to_owned).collect();
    input
}

/// The inverse of [`decode_tlsa`], for seeds (records ≤ 255 bytes, at most 7 of each).
pub fn encode_tlsa(input: &TlsaInput) -> Vec<u8> {
    let mut out = vec![input.records.len() as u8];
    for r in &input.records {
        out.push(r.len() as u8);
        out.extend_from_slice(r);
    }
    out.push(input.chain.len() as u8);
    for c in &input.chain {
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&((input.now / 86_400) as u32).to_le_bytes());
    out.extend_from_slice(input.names.join(",").as_bytes());
    out
}

/// Target `tlsa`. Input: see [`decode_tlsa`]; the raw input is also read as rdata and as presentation text.
///
/// Checks: no panic; a parsed record gives back its rdata and re-parses from its presentation form; a set keeps
/// at most `MAX_RECORDS` distinct records and authenticates only with a usable one; verifying the chain gives one
/// outcome per record, unusable records are `Unusable`, a DANE-EE record authenticates exactly when the leaf's
/// association data equals its data, a DANE-TA record only through an issuer certificate (index ≥ 1) whose
/// association data equals its data, and `matched` is the first authenticated record.
pub fn check_tlsa(data: &[u8]) -> Vec<RecordOutcome> {
    for record in
        [Tlsa::from_rdata(data), Tlsa::from_presentation(&String::from_utf8_lossy(data))].into_iter().flatten()
    {
        assert_eq!(Tlsa::from_rdata(&record.to_rdata()).as_ref(), Ok(&record));
        assert_eq!(Tlsa::from_presentation(&record.to_string()).as_ref(), Ok(&record));
    }
    let input = decode_tlsa(data);
    let records: Vec<Tlsa> = input.records.iter().filter_map(|r| Tlsa::from_rdata(r).ok()).collect();
    let set = TlsaSet::new(records);
    assert!(set.records().len() <= smtp_probe_proto::policy::tlsa::MAX_RECORDS);
    assert_eq!(set.authenticates(), set.usable().count() > 0);
    check_findings(&set.findings());
    let names: Vec<&str> = input.names.iter().map(String::as_str).collect();
    let v = set.verify(&input.chain, &names, input.now);
    assert_eq!(v.outcomes.len(), set.records().len());
    for (record, outcome) in set.records().iter().zip(&v.outcomes) {
        let usable = record.usability().is_ok();
        assert_eq!(matches!(outcome, RecordOutcome::Unusable(_)), !usable, "{record}: {outcome:?}");
        let association_of =
            |i: usize| input.chain.get(i).and_then(|der| association(der, record.selector(), record.matching()));
        match (record.usage(), outcome) {
            (Usage::DaneEe, _) if usable => {
                let leaf_matches = association_of(0).is_some_and(|a| a == record.data());
                assert_eq!(matches!(outcome, RecordOutcome::Authenticated { certificate: 0 }), leaf_matches);
            }
            (Usage::DaneTa, RecordOutcome::Authenticated { certificate }) => {
                assert!(*certificate >= 1);
                assert_eq!(association_of(*certificate).as_deref(), Some(record.data()));
            }
            (_, RecordOutcome::Authenticated { .. }) => panic!("{record} authenticated: {outcome:?}"),
            _ => {}
        }
    }
    let first = v.outcomes.iter().position(|o| matches!(o, RecordOutcome::Authenticated { .. }));
    assert_eq!(v.matched.map(|m| m.record), first);
    assert_eq!(v.authenticated(), first.is_some());
    v.outcomes
}

// ---- SPF ------------------------------------------------------------------------------------------------------

/// The fuzzed DNS of the `spf` target: TXT of `n<k>.t` is record k; A/AAAA/MX follow from k.
struct FuzzZone<'a> {
    records: Vec<&'a [u8]>,
}

impl FuzzZone<'_> {
    fn answer(&self, name: &str, qtype: QueryType) -> SpfAnswer {
        let Some(k) = name.strip_prefix('n').and_then(|n| n.strip_suffix(".t")).and_then(|k| k.parse::<usize>().ok())
        else {
            return SpfAnswer::NxDomain;
        };
        match qtype {
            QueryType::Txt => match self.records.get(k) {
                None => SpfAnswer::NxDomain,
                Some(r) if r.starts_with(b"#fail") => SpfAnswer::Failed("SERVFAIL".into()),
                Some(r) if r.starts_with(b"#nodata") => SpfAnswer::NoData,
                Some(r) if r.starts_with(b"#2 ") => SpfAnswer::txt([&r[3..], &r[3..]]),
                Some(r) => SpfAnswer::txt([r, b"unrelated text".as_slice()]),
            },
            QueryType::A if k % 2 == 0 => SpfAnswer::Addresses(vec![IpAddr::from([192, 0, 2, k as u8])]),
            QueryType::Aaaa if k % 3 == 0 => {
                SpfAnswer::Addresses(vec![IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, k as u16])])
            }
            QueryType::Mx => match k % 4 {
                0 => SpfAnswer::NoData,
                3 => SpfAnswer::Exchanges((0..12).map(|i| format!("n{i}.t")).collect()),
                n => SpfAnswer::Exchanges((0..n).map(|i| format!("n{}.t", k + i + 1)).collect()),
            },
            QueryType::A | QueryType::Aaaa => {
                if k % 5 == 0 {
                    SpfAnswer::Failed("timeout".into())
                } else {
                    SpfAnswer::NoData
                }
            }
        }
    }
}

/// Runs one check over the fuzzed zone, checking the drive protocol: every query is new, none is left
/// unanswered, and the check ends within its query bound.
fn run_spf(check: SpfCheck, zone: &FuzzZone<'_>, limits: SpfLimits) -> (SpfReport, usize) {
    let mut check = check;
    let mut asked = HashSet::new();
    for _ in 0..=limits.max_queries + 1 {
        match check.poll() {
            SpfPoll::Lookup(q) => {
                let q = q.clone();
                let answer = zone.answer(&q.name, q.qtype);
                assert!(asked.insert(q.clone()), "asked twice: {q:?}");
                check.handle_answer(answer).expect("the answer fits the query");
            }
            SpfPoll::Done(report) => return (report.clone(), asked.len()),
        }
    }
    panic!("the check asked for more than max_queries lookups");
}

/// Target `spf`. Input: `[flags, record 0 \n record 1 \n … record 7]`. The checked domain is `n0.t`; the TXT
/// answer of `n<k>.t` is record k (`#fail…` SERVFAIL, `#nodata…` NODATA, `#2 …` two copies); A exists for even k,
/// AAAA for k divisible by 3 (others NODATA, or a timeout when k is divisible by 5), MX of `n<k>.t` lists
/// `k % 4` following names (12 names when `k % 4 == 3`, none when 0). Flags: bits 0–1 the sender (none,
/// 192.0.2.2, 2001:db8::6, ::ffff:192.0.2.4), bits 2–3 the limits (defaults, 4 queries, 12 counted terms,
/// depth 2).
///
/// Checks: no panic; each query asked once, answered, within `max_queries`; `queries` is that count; the walk is
/// deterministic; the records' own counts add up to `lookups`, which stays within `max_counted`; over the lookup
/// or void limit the result is `permerror` with the matching finding and crossing point; `none` exactly with the
/// `spf_missing` finding; the first record is `n0.t` at depth 0, depths within `max_depth`; findings consistent;
/// every record that parses re-parses identical from its rendering.
pub fn check_spf(data: &[u8]) -> SpfReport {
    let (flags, rest) = data.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
    let records = split(rest, b'\n', 8);
    for record in &records {
        if let Ok(parsed) = SpfRecord::parse(record) {
            let text: Vec<String> = parsed.terms.iter().map(ToString::to_string).collect();
            let rendered = format!("v=spf1 {}", text.join(" "));
            assert_eq!(SpfRecord::parse(rendered.as_bytes()).as_ref(), Ok(&parsed), "{rendered}");
            assert!(parsed.dns_terms() <= parsed.terms.len());
        }
    }
    let limits = match (flags >> 2) & 3 {
        0 => SpfLimits::default(),
        1 => SpfLimits { max_queries: 4, ..SpfLimits::default() },
        2 => SpfLimits { max_counted: 12, ..SpfLimits::default() },
        _ => SpfLimits { max_depth: 2, ..SpfLimits::default() },
    };
    let sender: Option<IpAddr> = match flags & 3 {
        0 => None,
        1 => Some([192, 0, 2, 2].into()),
        2 => Some([0x2001, 0xdb8, 0, 0, 0, 0, 0, 6].into()),
        _ => Some("::ffff:192.0.2.4".parse().expect("an address")),
    };
    let zone = FuzzZone { records };
    let new_check = || {
        let check = SpfCheck::with_limits("n0.t", limits).expect("a valid domain");
        match sender {
            Some(ip) => check.sender(ip, Some("fuzz@n0.t"), Some("helo.n0.t")),
            None => check,
        }
    };
    let (report, asked) = run_spf(new_check(), &zone, limits);
    assert_eq!(report.queries as usize, asked);
    assert!(asked <= limits.max_queries as usize);
    assert_eq!(run_spf(new_check(), &zone, limits).0, report, "not deterministic");
    check_findings(&report.findings);
    let has = |p: Problem| report.findings.iter().any(|f| f.problem == p);
    assert!(report.lookups <= limits.max_counted);
    assert_eq!(report.records.iter().map(|r| r.lookups).sum::<u32>(), report.lookups);
    if report.lookups > limits.max_lookups {
        assert_eq!(report.result, SpfResult::PermError);
        assert!(has(Problem::SpfTooManyLookups) && report.limit_crossed_at.is_some());
    } else {
        assert!(report.limit_crossed_at.is_none() && !has(Problem::SpfTooManyLookups));
    }
    if report.void_lookups > limits.max_void_lookups {
        assert_eq!(report.result, SpfResult::PermError);
        assert!(has(Problem::SpfTooManyVoidLookups));
    }
    assert_eq!(report.result == SpfResult::None, has(Problem::SpfMissing));
    assert!(report.reason.is_some() == matches!(report.result, SpfResult::PermError | SpfResult::TempError));
    let first = report.records.first().expect("the domain itself is looked at");
    assert_eq!((first.domain.as_str(), first.depth, first.via), ("n0.t", 0, Via::Top));
    assert!(report.records.iter().all(|r| r.depth <= limits.max_depth));
    assert!(report.records.iter().skip(1).all(|r| r.depth >= 1 && r.via != Via::Top));
    report
}

// ---- DMARC and TLS-RPT ----------------------------------------------------------------------------------------

/// Target `dmarc`. Input: any bytes, read as a record and as an RRset (split at NUL).
///
/// Checks: no panic; a parsed record has `pct` ≤ 100, at most 32 URIs per list, a policy or a valid `rua`, and
/// consistent findings; an RRset gives a record only when one of its records parses alone.
pub fn check_dmarc(data: &[u8]) {
    match DmarcRecord::parse(data) {
        Ok(record) => {
            assert!(record.pct <= 100);
            assert!(record.rua.len() <= 32 && record.ruf.len() <= 32);
            assert!(record.policy.is_some() || !record.rua.is_empty());
            check_findings(&record.findings());
        }
        Err(e) => check_findings(&[e.finding()]),
    }
    let rrset = split(data, 0, 16);
    match DmarcRecord::from_rrset(&rrset) {
        Ok(Some(record)) => assert!(rrset.iter().any(|r| DmarcRecord::parse(r).as_ref() == Ok(&record))),
        Ok(None) => assert!(rrset.iter().all(|r| DmarcRecord::parse(r).is_err())),
        Err(e) => check_findings(&[e.finding()]),
    }
}

/// Target `tlsrpt`. Input: any bytes, read as a record and as an RRset (split at NUL).
///
/// Checks: no panic; a parsed record has 1–32 `rua` URIs, each of which re-parses identical from its text, and
/// re-parses identical from its rendering; an RRset gives a record only when exactly one record has the prefix.
pub fn check_tlsrpt(data: &[u8]) {
    if let Ok(record) = TlsRptRecord::parse(data) {
        assert!(!record.rua.is_empty() && record.rua.len() <= 32);
        for uri in &record.rua {
            assert_eq!(ReportUri::parse(&uri.to_string()).as_ref(), Ok(uri));
        }
        let uris: Vec<String> = record.rua.iter().map(ToString::to_string).collect();
        let mut text = format!("v=TLSRPTv1; rua={}", uris.join(","));
        for (k, v) in &record.extensions {
            text.push_str(&format!("; {k}={v}"));
        }
        assert_eq!(TlsRptRecord::parse(text.as_bytes()).as_ref(), Ok(&record), "{text}");
    }
    let rrset = split(data, 0, 16);
    match TlsRptRecord::from_rrset(&rrset) {
        Ok(Some(_)) => {
            let prefixed = |r: &&&[u8]| {
                r.strip_prefix(b"v=TLSRPTv1").is_some_and(|rest| rest.first().is_none_or(|b| b"; \t".contains(b)))
            };
            assert_eq!(rrset.iter().filter(prefixed).count(), 1);
        }
        Ok(None) => {}
        Err(e) => check_findings(&[e.finding()]),
    }
}
