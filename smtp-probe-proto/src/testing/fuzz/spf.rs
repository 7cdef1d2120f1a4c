//! Target `spf`: SPF records and `check_host()` over a fuzzed zone.

use core::net::IpAddr;
use std::collections::HashSet;

use super::{check_findings, split};
use crate::policy::Problem;
use crate::policy::spf::{QueryType, SpfAnswer, SpfCheck, SpfLimits, SpfPoll, SpfRecord, SpfReport, SpfResult, Via};

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
pub fn check(data: &[u8]) -> SpfReport {
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
