//! Properties of the published-policy parsers (`smtp_probe_proto::policy`): any input is parsed or refused
//! without panicking and within its bounds, what parses renders back to the same value, wildcards match exactly
//! one label, and the SPF check ends within its query bound on any graph of includes.

use std::collections::HashMap;

use proptest::collection::vec;
use proptest::prelude::*;
use smtp_probe_proto::policy::dmarc::{Disposition, DmarcRecord};
use smtp_probe_proto::policy::mta_sts::{Mode, MtaStsPolicy, MtaStsRecord, MxPattern, POLICY_MAX_BYTES};
use smtp_probe_proto::policy::spf::{QueryType, SpfAnswer, SpfCheck, SpfLimits, SpfPoll, SpfRecord, SpfResult};
use smtp_probe_proto::policy::tlsa::{Tlsa, TlsaSet};
use smtp_probe_proto::policy::tlsrpt::TlsRptRecord;

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    vec(label(), 1..4).prop_map(|labels| format!("{}.example", labels.join(".")))
}

/// Bytes that look like records: mostly printable, with the separators the grammars care about.
fn record_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(prop_oneof![4 => 0x20u8..0x7f, 1 => Just(b';'), 1 => Just(b'='), 1 => Just(b'\n'), 1 => any::<u8>()], 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_parser_takes_any_bytes(bytes in record_bytes()) {
        let _ = MtaStsRecord::parse(&bytes);
        if let Ok(policy) = MtaStsPolicy::parse(&bytes) {
            prop_assert!(policy.mode == Mode::None || !policy.mx.is_empty());
            let _ = policy.findings();
        }
        if let Ok(record) = DmarcRecord::parse(&bytes) {
            prop_assert!(record.pct <= 100 && record.rua.len() <= 32 && record.ruf.len() <= 32);
        }
        if let Ok(record) = TlsRptRecord::parse(&bytes) {
            prop_assert!(!record.rua.is_empty() && record.rua.len() <= 32);
        }
        if let Ok(record) = SpfRecord::parse(&bytes) {
            prop_assert!(record.terms.len() <= 256);
        }
        if let Ok(record) = Tlsa::from_rdata(&bytes) {
            prop_assert_eq!(record.to_rdata(), bytes.clone());
        }
        let _ = Tlsa::from_presentation(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn oversized_input_is_refused_whole(fill in any::<u8>(), extra in 1usize..64) {
        let big = vec![fill; POLICY_MAX_BYTES + extra];
        prop_assert!(MtaStsPolicy::parse(&big).is_err());
        prop_assert!(MtaStsRecord::parse(&big).is_err());
        prop_assert!(DmarcRecord::parse(&big).is_err());
        prop_assert!(TlsRptRecord::parse(&big).is_err());
        prop_assert!(SpfRecord::parse(&big).is_err());
    }

    #[test]
    fn policies_render_back_to_themselves(
        mode in prop_oneof![Just("enforce"), Just("testing"), Just("none")],
        max_age in 0u32..=31_557_600,
        mx in vec((any::<bool>(), domain()), 1..6),
        crlf in any::<bool>(),
        trailing_space in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let pad = if trailing_space { " \t" } else { "" };
        let mut body = format!("version: STSv1{eol}mode: {mode}{pad}{eol}max_age: {max_age}{eol}");
        for (wild, d) in &mx {
            body.push_str(&format!("mx: {}{d}{pad}{eol}", if *wild { "*." } else { "" }));
        }
        let policy = MtaStsPolicy::parse(body.as_bytes()).unwrap();
        prop_assert_eq!(policy.mode.as_str(), mode);
        prop_assert_eq!(policy.max_age, max_age);
        let rendered: Vec<String> = policy.mx.iter().map(ToString::to_string).collect();
        let expected: Vec<String> = mx.iter().map(|(w, d)| format!("{}{d}", if *w { "*." } else { "" })).collect();
        prop_assert_eq!(rendered, expected);
    }

    #[test]
    fn wildcards_match_exactly_one_more_label(base in domain(), left in label(), extra in label()) {
        let wild = MxPattern::parse(&format!("*.{base}")).unwrap();
        let host = format!("{left}.{base}");
        prop_assert!(wild.matches(&host));
        prop_assert!(wild.matches(&host.to_ascii_uppercase()));
        let dotted = format!("{host}.");
        let deeper = format!("{extra}.{host}");
        prop_assert!(wild.matches(&dotted));
        prop_assert!(!wild.matches(&base));
        prop_assert!(!wild.matches(&deeper));
        let exact = MxPattern::parse(&host).unwrap();
        prop_assert!(exact.matches(&host) && !exact.matches(&deeper) && !exact.matches(&base));
    }

    #[test]
    fn dmarc_tags_are_read_in_any_order(
        p in prop_oneof![Just(Disposition::None), Just(Disposition::Quarantine), Just(Disposition::Reject)],
        pct in 0u8..=100,
        order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
        spaced in any::<bool>(),
    ) {
        let eq = if spaced { " = " } else { "=" };
        let tags = [
            format!("p{eq}{p}"),
            format!("pct{eq}{pct}"),
            format!("rua{eq}mailto:agg@example.com!10m"),
            format!("adkim{eq}s"),
        ];
        let body: Vec<&str> = order.iter().map(|&i| tags[i].as_str()).collect();
        let text = format!("v=DMARC1; {}", body.join("; "));
        let record = DmarcRecord::parse(text.as_bytes()).unwrap();
        prop_assert_eq!((record.policy, record.pct, record.rua.len()), (Some(p), pct, 1));
        prop_assert_eq!(record.rua[0].max_size, Some(10 << 20));
    }

    #[test]
    fn tlsa_forms_round_trip(usage in any::<u8>(), selector in any::<u8>(), matching in any::<u8>(), data in vec(any::<u8>(), 1..100)) {
        let record = Tlsa::new(usage, selector, matching, data).unwrap();
        prop_assert_eq!(Tlsa::from_rdata(&record.to_rdata()).unwrap(), record.clone());
        prop_assert_eq!(Tlsa::from_presentation(&record.to_string()).unwrap(), record.clone());
        let set = TlsaSet::new(vec![record.clone(), record]);
        prop_assert_eq!(set.records().len(), 1);
        prop_assert_eq!(set.authenticates(), set.records()[0].usability().is_ok());
    }

    #[test]
    fn spf_records_render_back_to_themselves(terms in vec(spf_term(), 0..12), exp in proptest::option::of(domain())) {
        // `exp` (like `redirect`) may appear once.
        let exp = exp.map(|d| format!(" exp=explain.{d}")).unwrap_or_default();
        let text = format!("v=spf1 {}{exp}", terms.join(" "));
        let record = SpfRecord::parse(text.as_bytes()).unwrap();
        let rendered: Vec<String> = record.terms.iter().map(ToString::to_string).collect();
        let again = SpfRecord::parse(format!("v=spf1 {}", rendered.join(" ")).as_bytes()).unwrap();
        prop_assert_eq!(again, record);
    }

    /// Any graph of includes and redirects among eight names: the check ends, asks each query once, stays
    /// within its query bound, and its counts add up.
    #[test]
    fn spf_checks_end_on_any_include_graph(
        edges in vec(vec((0usize..8, any::<bool>()), 0..6), 8),
        redirect in vec(proptest::option::of(0usize..8), 8),
        max_queries in 1u32..40,
    ) {
        let mut zone: HashMap<String, String> = HashMap::new();
        for (i, (includes, target)) in edges.iter().zip(&redirect).enumerate() {
            let mut record = String::from("v=spf1");
            for (to, via_a) in includes {
                record.push_str(&if *via_a { format!(" a:h{to}.t") } else { format!(" include:n{to}.t") });
            }
            match target {
                Some(to) => record.push_str(&format!(" redirect=n{to}.t")),
                None => record.push_str(" -all"),
            }
            zone.insert(format!("n{i}.t"), record);
        }
        let limits = SpfLimits { max_queries, ..SpfLimits::default() };
        let mut check = SpfCheck::with_limits("n0.t", limits).unwrap();
        let mut asked = std::collections::HashSet::new();
        let report = loop {
            match check.poll() {
                SpfPoll::Lookup(q) => {
                    let q = q.clone();
                    prop_assert!(asked.insert(q.clone()), "asked twice: {:?}", q);
                    prop_assert!(asked.len() <= max_queries as usize);
                    let answer = match (q.qtype, zone.get(&q.name)) {
                        (QueryType::Txt, Some(record)) => SpfAnswer::txt([record]),
                        (QueryType::A, None) if q.name.starts_with('h') => SpfAnswer::Addresses(vec![[192, 0, 2, 1].into()]),
                        _ => SpfAnswer::NxDomain,
                    };
                    check.handle_answer(answer).unwrap();
                }
                SpfPoll::Done(report) => break report.clone(),
            }
        };
        prop_assert_eq!(report.queries as usize, asked.len());
        prop_assert_eq!(report.records.iter().map(|r| r.lookups).sum::<u32>(), report.lookups);
        prop_assert!(report.lookups <= limits.max_counted);
        if report.lookups > 10 {
            prop_assert_eq!(report.result, SpfResult::PermError);
        }
    }
}

/// A valid SPF term.
fn spf_term() -> impl Strategy<Value = String> {
    let q = prop_oneof![Just(""), Just("+"), Just("-"), Just("~"), Just("?")];
    let mechanism = prop_oneof![
        Just("all".to_owned()),
        domain().prop_map(|d| format!("include:{d}")),
        (proptest::option::of(domain()), proptest::option::of(0u8..=32), proptest::option::of(0u8..=128)).prop_map(
            |(d, v4, v6)| {
                let mut t = String::from("a");
                if let Some(d) = d {
                    t.push_str(&format!(":{d}"));
                }
                if let Some(v4) = v4 {
                    t.push_str(&format!("/{v4}"));
                }
                if let Some(v6) = v6 {
                    t.push_str(&format!("//{v6}"));
                }
                t
            }
        ),
        domain().prop_map(|d| format!("mx:{d}/24")),
        any::<[u8; 4]>().prop_map(|a| format!("ip4:{}.{}.{}.{}/{}", a[0], a[1], a[2], a[3], a[3] % 33)),
        any::<[u16; 8]>().prop_map(|a| format!("ip6:{}", std::net::Ipv6Addr::from(a))),
        domain().prop_map(|d| format!("exists:%{{ir}}.%{{l1r+-}}.{d}")),
        Just("ptr".to_owned()),
    ];
    prop_oneof![
        4 => (q, mechanism).prop_map(|(q, m)| format!("{q}{m}")),
        1 => (label(), domain()).prop_map(|(n, v)| format!("x{n}={v}")),
    ]
}
