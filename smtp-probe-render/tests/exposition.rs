//! The metrics of targets and MX domains, in both exposition formats, checked by the tools that read them:
//! `promtool check metrics` for the Prometheus text format, the reference OpenMetrics parser for OpenMetrics.
//! Each check is skipped, with the reason printed, when its tool is missing (and fails in CI, where it must be).

use std::time::{Duration, Instant};

use smtp_probe_proto::mx::{MxAnswer, MxPlan, MxRecord};
use smtp_probe_proto::testing::{Harness, ServerStep, expect, send};
use smtp_probe_proto::{CertificateInfo, Domain, ProbeConfig, Report, TlsInfo, TlsMode};
use smtp_probe_render::{Item, metrics};

fn tls_info() -> TlsInfo {
    let leaf = CertificateInfo {
        subject: "CN=mx.test".into(),
        issuer: "CN=Test CA".into(),
        not_after_unix: 1_767_225_600 + 30 * 86_400,
        days_left: 30,
        ..CertificateInfo::default()
    };
    TlsInfo {
        version: Some("TLSv1.3".into()),
        cipher: Some("TLS13_AES_128_GCM_SHA256".into()),
        sni: Some("mx.test".into()),
        verified_name: Some("mx.test".into()),
        verified: true,
        certificates: vec![leaf],
        ..TlsInfo::default()
    }
}

/// A probe through STARTTLS of `target`, up.
fn up(target: &str) -> Report {
    let config = ProbeConfig::builder(target.parse().unwrap())
        .tls(TlsMode::StartTlsRequired)
        .tls_name("mx.test")
        .ehlo_name("probe.test")
        .build()
        .unwrap();
    let script = vec![
        send("220 mx.test ESMTP\r\n"),
        expect("EHLO"),
        send("250-mx.test\r\n250 STARTTLS\r\n"),
        expect("STARTTLS"),
        send("220 go ahead\r\n"),
        ServerStep::TlsEstablished(tls_info()),
        expect("EHLO"),
        send("250 mx.test\r\n"),
        expect("QUIT"),
        send("221 bye\r\n"),
    ];
    Harness::new(config, Instant::now(), script).run()
}

/// A probe of `target` whose greeting is a 421.
fn busy(target: &str) -> Report {
    let config = ProbeConfig::builder(target.parse().unwrap()).tls(TlsMode::None).build().unwrap();
    Harness::new(config, Instant::now(), vec![send("421 4.3.2 busy\r\n"), ServerStep::Close]).run()
}

/// An MX domain with two hosts, the second probed over two address families (two reports, one target).
fn mx_domain() -> smtp_probe_proto::mx::MxReport {
    let domain: Domain = "example.test".parse().unwrap();
    let answer =
        MxAnswer::Records(vec![MxRecord::new(10, "mx1.example.test."), MxRecord::new(20, "mx2.example.test.")]);
    let MxPlan::Probe(plan) = MxPlan::new(&domain, answer) else { panic!("two hosts to probe") };
    let mut v4 = busy("mx2.example.test:25");
    v4.address = Some("192.0.2.2:25".into());
    let mut v6 = up("mx2.example.test:25");
    v6.address = Some("[2001:db8::2]:25".into());
    plan.finish(vec![vec![up("mx1.example.test:25")], vec![v4, v6]])
}

fn promtool(text: &str) {
    if let Some(checked) = smtp_probe_testsuite::promtool::check_metrics(text) {
        checked.unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
    }
}

fn openmetrics(test: &str, text: &str) {
    if let Some(checked) = smtp_probe_testsuite::openmetrics::check(test, text) {
        checked.unwrap_or_else(|e| panic!("OpenMetrics: {e}\n{text}"));
    }
}

#[test]
fn both_formats_pass_their_checkers() {
    let (a, b, mx) = (up("192.0.2.25:25"), busy("mx.example.test:2525"), mx_domain());
    let items = [Item::from(&a), Item::from(&b), Item::from(&mx)];
    let now = a.started_at + Duration::from_secs(86_400);

    let text = smtp_probe_render::prometheus(&items, now);
    promtool(&text);
    let open = smtp_probe_render::openmetrics(&items, now);
    openmetrics("both_formats_pass_their_checkers", &open);
    assert!(open.ends_with("# EOF\n") && !text.contains("# EOF"));

    // The same samples in both: only the metadata lines differ.
    let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(samples(&text), samples(&open));
    assert!(open.contains("# TYPE smtp_probe_duration_seconds gauge\n# UNIT smtp_probe_duration_seconds seconds\n"));
    assert!(open.contains("# TYPE smtp_probe_tls_version info\n"));
    assert!(text.contains("# TYPE smtp_probe_tls_version_info gauge\n"));

    for line in [
        "smtp_probe_up{target=\"192.0.2.25:25\"} 1",
        "smtp_probe_verdict{target=\"mx.example.test:2525\",verdict=\"degraded\"} 1",
        "smtp_probe_cause{target=\"mx.example.test:2525\",cause=\"temporary_failure\"} 1",
        "smtp_probe_tls_version_info{target=\"192.0.2.25:25\",version=\"TLSv1.3\",cipher=\"TLS13_AES_128_GCM_SHA256\"} 1",
        "smtp_probe_tls_certificate_expiry_timestamp_seconds{target=\"192.0.2.25:25\"} 1769817600",
        // Counted from `now`, a day after the probe: 29 days left.
        "smtp_probe_tls_certificate_remaining_seconds{target=\"192.0.2.25:25\"} 2505600",
        "smtp_probe_up{target=\"mx1.example.test:25\",mx_domain=\"example.test\"} 1",
        // One target, two reports: the address tells the series apart.
        "smtp_probe_up{target=\"mx2.example.test:25\",mx_domain=\"example.test\",address=\"192.0.2.2:25\"} 1",
        "smtp_probe_up{target=\"mx2.example.test:25\",mx_domain=\"example.test\",address=\"[2001:db8::2]:25\"} 1",
        "smtp_probe_mx_verdict{domain=\"example.test\",verdict=\"degraded\"} 1",
        "smtp_probe_mx_hosts{domain=\"example.test\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
}

#[test]
fn the_same_target_twice_is_one_series() {
    let (first, second) = (busy("192.0.2.25:25"), up("192.0.2.25:25"));
    let items = [Item::from(&first), Item::from(&second)];
    let text = smtp_probe_render::prometheus(&items, first.started_at);
    promtool(&text);
    assert_eq!(text.matches("smtp_probe_up{").count(), 1, "{text}");
    assert!(text.contains("smtp_probe_up{target=\"192.0.2.25:25\"} 1\n"), "the first report wins");
}

#[test]
fn every_family_written_is_in_the_vocabulary() {
    let (a, mx) = (up("192.0.2.25:25"), mx_domain());
    let text = smtp_probe_render::openmetrics(&[Item::from(&a), Item::from(&mx)], a.started_at);
    let known: Vec<&str> = metrics::REPORT_METRICS.iter().chain(metrics::MX_METRICS).map(|m| m.name).collect();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(known.contains(&name), "{name} is not in the vocabulary");
    }
}

#[test]
fn histograms_pass_both_checkers() {
    use smtp_probe_render::{Exposition, ExpositionFormat, Family};
    let mut latency = Family::new(metrics::MONITOR_RESPONSE_LATENCY);
    latency.histogram(&[("group", "eu")], &[(0.005, 1), (0.25, 3), (1.0, 3)], 0.75, 4);
    latency.histogram(&[("group", "a \"quoted\" tag")], &[(0.005, 0), (0.25, 0), (1.0, 0)], 0.0, 0);
    let mut up = Family::new(metrics::MONITOR_UP);
    up.sample(&[("monitor", "mx-1"), ("group", "eu")], 1.0);
    let write = |format| {
        let mut text = Exposition::new(format);
        text.family(&up);
        text.family(&latency);
        text.finish()
    };
    let text = write(ExpositionFormat::Prometheus);
    promtool(&text);
    assert!(text.contains("# TYPE smtp_probe_monitor_response_latency_seconds histogram\n"), "{text}");
    for line in [
        "smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\",le=\"0.005\"} 1",
        "smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\",le=\"1\"} 3",
        "smtp_probe_monitor_response_latency_seconds_bucket{group=\"eu\",le=\"+Inf\"} 4",
        "smtp_probe_monitor_response_latency_seconds_sum{group=\"eu\"} 0.75",
        "smtp_probe_monitor_response_latency_seconds_count{group=\"eu\"} 4",
        "smtp_probe_monitor_response_latency_seconds_count{group=\"a \\\"quoted\\\" tag\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    let open = write(ExpositionFormat::OpenMetrics);
    openmetrics("histograms_pass_both_checkers", &open);
    assert!(open.contains("# UNIT smtp_probe_monitor_response_latency_seconds seconds\n"), "{open}");
}
