//! What is particular to the blocking adapter: streams connected by the caller, names resolved by the OS.

use std::net::TcpStream;

use smtp_probe_blocking::proto::Phase;
use smtp_probe_blocking::{AddressFamily, ProbeConfig, Target, TlsMode, Verdict};
use smtp_probe_testserver::Responder;

fn plain(target: Target) -> ProbeConfig {
    ProbeConfig::builder(target).tls(TlsMode::None).build().unwrap()
}

#[test]
fn probe_stream_names_the_peer() {
    let server = Responder::new().start().unwrap();
    let stream = TcpStream::connect(server.addr()).unwrap();
    let report = smtp_probe_blocking::probe_stream(stream, &plain(Target::new("127.0.0.1", server.port()).unwrap()));
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
    assert_eq!(server.transcripts()[0].last().map(String::as_str), Some("QUIT"));
}

#[test]
fn names_resolve_through_the_os() {
    // "localhost" comes from /etc/hosts: no DNS server involved.
    let server = Responder::new().start().unwrap();
    let config = ProbeConfig::builder(Target::new("localhost", server.port()).unwrap())
        .tls(TlsMode::None)
        .address_family(AddressFamily::Ipv4Only)
        .build()
        .unwrap();
    let before = std::time::SystemTime::now();
    let reports = smtp_probe_blocking::probe_each(&config);
    assert_eq!(reports.len(), 1);
    let report = &reports[0];
    assert_eq!(report.verdict, Verdict::Up, "{}", report.summary());
    assert_eq!(report.address, Some(server.addr().to_string()));
    assert_eq!(report.target, format!("localhost:{}", server.port()));
    // The lookup is timed, and the report says when the probe started (before the lookup).
    let phases: Vec<Phase> = report.phase_durations().into_iter().map(|(phase, _)| phase).collect();
    assert_eq!(phases, [Phase::Resolve, Phase::Connect, Phase::Greeting, Phase::Ehlo, Phase::Quit]);
    assert!(
        report.resolve.is_some() && report.started_at >= before && report.started_at <= std::time::SystemTime::now()
    );
    // An address needs no lookup.
    let stream_config = plain(Target::new("127.0.0.1", server.port()).unwrap());
    assert_eq!(smtp_probe_blocking::probe(&stream_config).resolve, None);
}
