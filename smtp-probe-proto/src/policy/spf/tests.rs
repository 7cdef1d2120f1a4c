use core::net::IpAddr;
use std::collections::HashMap;

use super::*;

/// A zone for tests: names to answers; anything else is NXDOMAIN.
#[derive(Default)]
struct Zone(HashMap<(String, QueryType), SpfAnswer>);

impl Zone {
    fn txt(mut self, name: &str, record: &str) -> Zone {
        self.0.insert((name.to_owned(), QueryType::Txt), SpfAnswer::txt([record]));
        self
    }
    fn set(mut self, name: &str, qtype: QueryType, answer: SpfAnswer) -> Zone {
        self.0.insert((name.to_owned(), qtype), answer);
        self
    }
    fn a(self, name: &str, ip: &str) -> Zone {
        self.set(name, QueryType::A, SpfAnswer::Addresses(vec![ip.parse().unwrap()]))
    }
    fn answer(&self, q: &SpfQuery) -> SpfAnswer {
        self.0.get(&(q.name.clone(), q.qtype)).cloned().unwrap_or(SpfAnswer::NxDomain)
    }
}

fn drive(mut check: SpfCheck, zone: &Zone) -> (SpfReport, Vec<SpfQuery>) {
    let mut asked = Vec::new();
    for _ in 0..1000 {
        match check.poll() {
            SpfPoll::Lookup(q) => {
                let q = q.clone();
                let answer = zone.answer(&q);
                asked.push(q);
                check.handle_answer(answer).unwrap();
            }
            SpfPoll::Done(report) => return (report.clone(), asked),
        }
    }
    panic!("the check did not finish");
}

fn run(domain: &str, zone: &Zone) -> SpfReport {
    drive(SpfCheck::new(domain).unwrap(), zone).0
}

fn problems(report: &SpfReport) -> Vec<Problem> {
    report.findings.iter().map(|f| f.problem).collect()
}

#[test]
fn a_simple_domain_fails_foreign_senders_and_counts_its_terms() {
    let zone = Zone::default()
        .txt("example.com", "v=spf1 mx a:mail.example.com include:_spf.example.net ip4:192.0.2.0/24 -all")
        .set("example.com", QueryType::Mx, SpfAnswer::Exchanges(vec!["mx.example.com.".into()]))
        .a("mail.example.com", "192.0.2.10")
        .txt("_spf.example.net", "v=spf1 ip6:2001:db8::/32 ~all");
    let (report, asked) = drive(SpfCheck::new("Example.COM.").unwrap(), &zone);
    assert_eq!(report.domain, "example.com");
    assert_eq!(report.result, SpfResult::Fail);
    assert_eq!((report.lookups, report.void_lookups), (3, 0));
    assert_eq!(report.records.len(), 2);
    assert_eq!((report.records[0].lookups, report.records[1].lookups), (3, 0));
    assert_eq!(report.records[1].via, Via::Include);
    assert!(report.complete && report.findings.is_empty(), "{:?}", report.findings);
    // Every answer is asked for once, in evaluation order, and the count is what the caller was asked.
    let names: Vec<(&str, QueryType)> = asked.iter().map(|q| (q.name.as_str(), q.qtype)).collect();
    assert_eq!(
        names,
        [
            ("example.com", QueryType::Txt),
            ("example.com", QueryType::Mx),
            ("mail.example.com", QueryType::A),
            ("_spf.example.net", QueryType::Txt),
        ]
    );
    assert_eq!(report.queries, 4);
}

/// A domain whose includes need 11 DNS-querying terms: one more than receivers evaluate.
fn eleven_lookups() -> Zone {
    let mut zone = Zone::default()
        .txt("big.test", "v=spf1 include:a.big.test include:b.big.test include:c.big.test -all")
        .txt("a.big.test", "v=spf1 a mx ip4:192.0.2.1 ~all")
        .txt("b.big.test", "v=spf1 include:d.big.test a:x.big.test ~all")
        .txt("c.big.test", "v=spf1 a:h1.big.test a:h2.big.test a:h3.big.test ~all")
        .txt("d.big.test", "v=spf1 a:h3.big.test ~all");
    for host in ["a.big.test", "h1.big.test", "h2.big.test", "h3.big.test", "x.big.test"] {
        zone = zone.a(host, "192.0.2.99");
    }
    zone.set("a.big.test", QueryType::Mx, SpfAnswer::Exchanges(vec!["h1.big.test".into()]))
}

#[test]
fn eleven_lookups_through_includes_are_a_permerror_with_the_count() {
    let report = run("big.test", &eleven_lookups());
    assert_eq!(report.result, SpfResult::PermError);
    assert_eq!(report.lookups, 11);
    assert_eq!(report.limit_crossed_at.as_deref(), Some("c.big.test: a:h3.big.test"));
    assert_eq!(problems(&report), [Problem::SpfTooManyLookups]);
    assert!(report.reason.as_deref().unwrap().contains("more than 10"));
    assert!(report.complete);
    let per_record: Vec<(&str, u32)> = report.records.iter().map(|r| (r.domain.as_str(), r.lookups)).collect();
    assert_eq!(
        per_record,
        [("big.test", 3), ("a.big.test", 2), ("b.big.test", 2), ("d.big.test", 1), ("c.big.test", 3)]
    );
    // Ten is fine.
    let ten = eleven_lookups().txt("c.big.test", "v=spf1 a:h1.big.test a:h2.big.test ~all");
    let report = run("big.test", &ten);
    assert_eq!((report.result, report.lookups), (SpfResult::Fail, 10));
    assert!(report.findings.is_empty());
}

#[test]
fn counting_goes_on_past_the_limit_but_stops_at_the_work_bound() {
    let mut zone = Zone::default().txt("wide.test", &format!("v=spf1{} -all", " a".repeat(30)));
    zone = zone.a("wide.test", "192.0.2.1");
    let report = run("wide.test", &zone);
    assert_eq!((report.result, report.lookups), (SpfResult::PermError, 30));
    let limits = SpfLimits { max_counted: 20, ..SpfLimits::default() };
    let (report, _) = drive(SpfCheck::with_limits("wide.test", limits).unwrap(), &zone);
    assert_eq!((report.result, report.lookups, report.complete), (SpfResult::PermError, 20, false));
    assert_eq!(problems(&report), [Problem::SpfTooManyLookups, Problem::SpfWorkLimit]);
    assert!(report.reason.unwrap().contains("more than 10"));
}

#[test]
fn a_dns_failure_after_the_limit_is_still_a_permerror() {
    // Receivers stop at the 11th term; the failing lookup behind it never happens for them.
    let zone = Zone::default()
        .txt("late.test", &format!("v=spf1{} include:down.test -all", " a".repeat(11)))
        .a("late.test", "192.0.2.1")
        .set("down.test", QueryType::Txt, SpfAnswer::Failed("SERVFAIL".into()));
    let report = run("late.test", &zone);
    assert_eq!((report.result, report.lookups, report.complete), (SpfResult::PermError, 12, false));
    assert_eq!(problems(&report), [Problem::SpfTooManyLookups, Problem::SpfLookupFailed]);
}

#[test]
fn void_lookups_beyond_two_are_a_permerror() {
    let zone = Zone::default().txt("void.test", "v=spf1 a:n1.void.test mx:n2.void.test exists:n3.void.test -all");
    let report = run("void.test", &zone);
    assert_eq!((report.result, report.void_lookups), (SpfResult::PermError, 3));
    assert_eq!(problems(&report), [Problem::SpfTooManyVoidLookups]);
    let two = Zone::default().txt("void.test", "v=spf1 a:n1.void.test mx:n2.void.test -all");
    assert_eq!(run("void.test", &two).result, SpfResult::Fail);
}

#[test]
fn loops_and_missing_targets_are_permerrors() {
    let zone = Zone::default().txt("a.test", "v=spf1 include:b.test -all").txt("b.test", "v=spf1 redirect=a.test");
    let report = run("a.test", &zone);
    assert_eq!(report.result, SpfResult::PermError);
    assert_eq!(problems(&report), [Problem::SpfLoop]);
    assert!(report.reason.unwrap().contains("a.test -> b.test"));
    let zone = Zone::default().txt("a.test", "v=spf1 include:gone.test -all");
    assert_eq!(problems(&run("a.test", &zone)), [Problem::SpfIncludeNone]);
    let zone = Zone::default().txt("a.test", "v=spf1 redirect=gone.test");
    assert_eq!(problems(&run("a.test", &zone)), [Problem::SpfIncludeNone]);
    // A diamond (two includes of the same record) is no loop: counted twice, asked once.
    let zone = Zone::default()
        .txt("a.test", "v=spf1 include:b.test include:b.test -all")
        .txt("b.test", "v=spf1 ip4:192.0.2.1 ~all");
    let (report, asked) = drive(SpfCheck::new("a.test").unwrap(), &zone);
    assert_eq!((report.result, report.lookups, asked.len()), (SpfResult::Fail, 2, 2));
}

#[test]
fn none_several_records_syntax_and_dns_failures() {
    let report = run("nothing.test", &Zone::default());
    assert_eq!(report.result, SpfResult::None);
    assert_eq!(problems(&report), [Problem::SpfMissing]);
    let zone =
        Zone::default().set("two.test", QueryType::Txt, SpfAnswer::txt(["v=spf1 -all", "v=spf1 mx -all", "other"]));
    assert_eq!(problems(&run("two.test", &zone)), [Problem::SpfMultiple]);
    let zone = Zone::default().txt("bad.test", "v=spf1 ip4:300.0.0.1 -all");
    let report = run("bad.test", &zone);
    assert_eq!((report.result, problems(&report)), (SpfResult::PermError, vec![Problem::SpfInvalid]));
    let zone = Zone::default().txt("t.test", "v=spf1 include:down.test -all").set(
        "down.test",
        QueryType::Txt,
        SpfAnswer::Failed("SERVFAIL".into()),
    );
    let report = run("t.test", &zone);
    assert_eq!((report.result, problems(&report)), (SpfResult::TempError, vec![Problem::SpfLookupFailed]));
    assert!(!report.complete);
}

#[test]
fn redirect_counts_and_is_ignored_next_to_all() {
    let zone =
        Zone::default().txt("r.test", "v=spf1 redirect=_spf.r.test").txt("_spf.r.test", "v=spf1 ip4:192.0.2.0/24 ?all");
    let report = run("r.test", &zone);
    assert_eq!((report.result, report.lookups), (SpfResult::Neutral, 1));
    assert_eq!(report.records[1].via, Via::Redirect);
    let zone = Zone::default().txt("r.test", "v=spf1 -all redirect=_spf.r.test");
    assert_eq!(run("r.test", &zone).lookups, 0);
    let zone = Zone::default().txt("r.test", "v=spf1 ip4:192.0.2.1");
    assert_eq!(run("r.test", &zone).result, SpfResult::Neutral);
}

#[test]
fn pass_all_and_ptr_are_reported() {
    let zone = Zone::default().txt("open.test", "v=spf1 ptr +all");
    let report = run("open.test", &zone);
    assert_eq!(report.result, SpfResult::Pass);
    assert_eq!(problems(&report), [Problem::SpfPtrUsed, Problem::SpfPassAll]);
}

#[test]
fn a_real_sender_is_evaluated() {
    let zone = Zone::default()
        .txt("s.test", "v=spf1 ip4:198.51.100.0/24 mx/24 include:_i.s.test a:v6.s.test//64 -all")
        .set("s.test", QueryType::Mx, SpfAnswer::Exchanges(vec!["mx.s.test".into()]))
        .a("mx.s.test", "192.0.2.10")
        .txt("_i.s.test", "v=spf1 ip4:203.0.113.7 -all")
        .set("v6.s.test", QueryType::Aaaa, SpfAnswer::Addresses(vec!["2001:db8::1".parse().unwrap()]));
    let check = |ip: &str| drive(SpfCheck::new("s.test").unwrap().sender(ip.parse().unwrap(), None, None), &zone).0;
    assert_eq!(check("198.51.100.200").result, SpfResult::Pass);
    assert_eq!(check("192.0.2.200").result, SpfResult::Pass); // mx/24
    assert_eq!(check("203.0.113.7").result, SpfResult::Pass); // include passed
    assert_eq!(check("2001:db8::ffff").result, SpfResult::Pass); // a//64
    assert_eq!(check("::ffff:198.51.100.1").result, SpfResult::Pass); // mapped IPv4
    let foreign = check("192.0.3.1");
    assert_eq!((foreign.result, foreign.lookups), (SpfResult::Fail, 3));
}

#[test]
fn macros_are_expanded_when_the_sender_is_known() {
    let zone = Zone::default()
        .txt("m.test", "v=spf1 exists:%{ir}.%{v}._spf.%{d2} include:%{l}.users.m.test -all")
        .a("1.2.0.192.in-addr._spf.m.test", "127.0.0.2");
    // No sender: counted but not followed, and said so.
    let report = run("m.test", &zone);
    assert_eq!((report.result, report.lookups), (SpfResult::Fail, 2));
    assert_eq!(problems(&report), [Problem::SpfUnexpandable, Problem::SpfUnexpandable]);
    // With the sender: the exists target resolves, so it passes.
    let check = SpfCheck::new("m.test").unwrap().sender("192.0.2.1".parse().unwrap(), Some("bob@m.test"), None);
    let (report, asked) = drive(check, &zone);
    assert_eq!(report.result, SpfResult::Pass);
    assert_eq!(asked[1].name, "1.2.0.192.in-addr._spf.m.test");
    // %{l} names a domain without a record: permerror, with the expanded name.
    let check = SpfCheck::new("m.test").unwrap().sender("192.0.2.2".parse().unwrap(), Some("bob@m.test"), None);
    let report = drive(check, &zone).0;
    assert_eq!(problems(&report), [Problem::SpfIncludeNone]);
    assert!(report.reason.unwrap().contains("bob.users.m.test"));
}

#[test]
fn macro_transformers_follow_rfc_7208_section_7_4() {
    // The examples of RFC 7208 §7.4 with sender strong-bad@email.example.com from 192.0.2.3.
    let check = SpfCheck::new("email.example.com").unwrap().sender(
        "192.0.2.3".parse().unwrap(),
        Some("strong-bad@email.example.com"),
        None,
    );
    let run = Run::new(&check);
    let expand = |text: &str| {
        let spec = record::MacroString::parse_for_tests(text);
        run.expand("email.example.com", &spec).unwrap()
    };
    assert_eq!(expand("%{s}"), "strong-bad@email.example.com");
    assert_eq!(expand("%{o}"), "email.example.com");
    assert_eq!(expand("%{d}"), "email.example.com");
    assert_eq!(expand("%{d4}"), "email.example.com");
    assert_eq!(expand("%{d3}"), "email.example.com");
    assert_eq!(expand("%{d2}"), "example.com");
    assert_eq!(expand("%{d1}"), "com");
    assert_eq!(expand("%{dr}"), "com.example.email");
    assert_eq!(expand("%{d2r}"), "example.email");
    assert_eq!(expand("%{l}"), "strong-bad");
    assert_eq!(expand("%{l-}"), "strong.bad");
    assert_eq!(expand("%{lr}"), "strong-bad");
    assert_eq!(expand("%{lr-}"), "bad.strong");
    assert_eq!(expand("%{l1r-}"), "strong");
    assert_eq!(expand("%{ir}.%{v}._spf.%{d2}"), "3.2.0.192.in-addr._spf.example.com");
    assert_eq!(expand("%{lr-}.lp._spf.%{d2}"), "bad.strong.lp._spf.example.com");
    assert_eq!(expand("%{d2}.trusted-domains.example.net"), "example.com.trusted-domains.example.net");
    assert_eq!(expand("%{S}"), "strong-bad%40email.example.com");
    let v6 = SpfCheck::new("email.example.com").unwrap().sender("2001:db8::cb01".parse().unwrap(), None, None);
    let run6 = Run::new(&v6);
    let spec = record::MacroString::parse_for_tests("%{ir}.%{v}._spf.%{d2}");
    assert_eq!(
        run6.expand("email.example.com", &spec).unwrap(),
        "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    );
    // Over 253 characters: labels are dropped on the left.
    let long = format!("%{{d}}.{}", vec!["x".repeat(60); 4].join("."));
    let expanded = run.expand("email.example.com", &record::MacroString::parse_for_tests(&long)).unwrap();
    assert!(expanded.len() <= 253 && expanded.ends_with(&"x".repeat(60)), "{expanded}");
}

#[test]
fn mx_with_more_than_ten_exchanges_is_a_permerror() {
    let many: Vec<String> = (0..11).map(|i| format!("mx{i}.many.test")).collect();
    let zone =
        Zone::default().txt("many.test", "v=spf1 mx -all").set("many.test", QueryType::Mx, SpfAnswer::Exchanges(many));
    assert_eq!(problems(&run("many.test", &zone)), [Problem::SpfTooManyMxNames]);
}

#[test]
fn work_is_bounded_however_the_includes_fan_out() {
    // Every level includes the next one 200 times over: cached, but evaluated again and again without a bound.
    let mut zone = Zone::default();
    for level in 0..16 {
        let next = format!(" include:f{}.t", level + 1);
        zone = zone.txt(&format!("f{level}.t"), &format!("v=spf1{} -all", next.repeat(200)));
    }
    zone = zone.txt("f16.t", "v=spf1 -all");
    let (report, asked) = drive(SpfCheck::new("f0.t").unwrap(), &zone);
    assert_eq!(report.result, SpfResult::PermError, "{report:?}");
    assert_eq!(report.lookups, SpfLimits::default().max_counted, "{report:?}");
    assert!(asked.len() <= 17);
    // And a chain deeper than the nesting bound stops there.
    let mut deep = Zone::default();
    for level in 0..40 {
        deep = deep.txt(&format!("l{level}.deep.test"), &format!("v=spf1 include:l{}.deep.test -all", level + 1));
    }
    let (report, _) = drive(SpfCheck::new("l0.deep.test").unwrap(), &deep);
    assert_eq!(report.result, SpfResult::PermError);
    assert!(report.findings.iter().any(|f| f.problem == Problem::SpfWorkLimit));
    // The total number of queries is bounded too.
    let limits = SpfLimits { max_queries: 3, max_lookups: 100, ..SpfLimits::default() };
    let (report, asked) = drive(SpfCheck::with_limits("l0.deep.test", limits).unwrap(), &deep);
    assert_eq!((asked.len(), report.queries), (3, 3));
    assert!(!report.complete);
}

#[test]
fn the_drive_protocol_refuses_misuse() {
    let mut check = SpfCheck::new("x.test").unwrap();
    assert_eq!(check.handle_answer(SpfAnswer::NoData), Err(SpfUsageError::NoLookupPending));
    let SpfPoll::Lookup(q) = check.poll() else { panic!("a TXT lookup first") };
    assert_eq!((q.name.as_str(), q.qtype), ("x.test", QueryType::Txt));
    let wrong = SpfAnswer::Exchanges(vec!["mx.x.test".into()]);
    assert_eq!(check.handle_answer(wrong), Err(SpfUsageError::WrongAnswerType(QueryType::Txt)));
    // Still pending after a refused answer; polling again asks again.
    assert!(matches!(check.poll(), SpfPoll::Lookup(_)));
    check.handle_answer(SpfAnswer::NoData).unwrap();
    assert!(matches!(check.poll(), SpfPoll::Done(r) if r.result == SpfResult::None));
    assert!(check.report().is_some());
    assert_eq!(check.handle_answer(SpfAnswer::NoData), Err(SpfUsageError::NoLookupPending));
    assert!(SpfCheck::new("bad name.test").is_err());
    let _unused: Option<IpAddr> = None;
}

/// Found by the `spf` fuzz target: with the void limit crossed first, the lookup limit crossed later was not
/// reported (only the first limit's finding was kept).
#[test]
fn both_limits_are_reported_when_both_are_crossed() {
    let zone = Zone::default()
        .txt("both.test", &format!("v=spf1 a:n1.both.test a:n2.both.test a:n3.both.test{} -all", " a".repeat(9)))
        .a("both.test", "192.0.2.1");
    let report = run("both.test", &zone);
    assert_eq!((report.result, report.lookups, report.void_lookups), (SpfResult::PermError, 12, 3));
    assert_eq!(problems(&report), [Problem::SpfTooManyVoidLookups, Problem::SpfTooManyLookups]);
    assert!(report.reason.unwrap().contains("void"), "the first limit crossed is the reason");
    assert!(report.limit_crossed_at.is_some());
}
