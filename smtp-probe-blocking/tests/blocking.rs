//! What is particular to the blocking adapter: streams connected by the caller, names resolved by the OS.

use std::net::TcpStream;

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
    let reports = smtp_probe_blocking::probe_each(&config);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].verdict, Verdict::Up, "{}", reports[0].summary());
    assert_eq!(reports[0].address, Some(server.addr().to_string()));
    assert_eq!(reports[0].target, format!("localhost:{}", server.port()));
}
